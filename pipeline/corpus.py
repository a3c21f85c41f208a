"""Corpus: read .txt / .jsonl / .conllu files into validated `Sentence` records.

Strict by default: the first bad item raises `CorpusError` naming the file, its
1-based line and the cause. With `on_error="skip"` a bad item becomes a `Skip`
and reading goes on; problems with the whole file (missing, unknown format,
invalid UTF-8, no sentences at all) always raise.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import unicodedata
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any, Literal

import pipeline
from pipeline.errors import CorpusError
from pipeline.records import CorpusReport, Sentence, Skip, Span
from pipeline.words import locate_words, split_words

log = logging.getLogger(__name__)

_ABSENT: Any = object()  # a key the item does not have (an absent id is derived from the text)
_BOM = b"\xef\xbb\xbf"
_CONLLU_RANGE = re.compile(r"[0-9]+-[0-9]+")
_CONLLU_EMPTY = re.compile(r"[0-9]+\.[0-9]+")
_CONLLU_WORD = re.compile(r"[0-9]+")
_LINE_BREAKS = "\u2028\u2029"  # category Zl/Zp: line breaks that are not control characters


class _Problem(Exception):
    """One item that cannot be read: where, a short reason (the skip category), particulars."""

    def __init__(self, line: int, reason: str, detail: str, id: str | None = None) -> None:
        super().__init__(f"{reason}: {detail}")
        self.line, self.reason, self.detail, self.id = line, reason, detail, id


@dataclass
class _Raw:
    """One item as a reader found it, before validation; `words` None means `split_words`."""

    line: int
    text: Any
    id: Any = _ABSENT
    words: tuple[tuple[int, int], ...] | None = None
    spans: Any = ()
    meta: Any = field(default_factory=dict)


@dataclass
class _Ids:
    """Ids seen so far (id -> line) and how often each derived id's text has appeared."""

    seen: dict[str, int] = field(default_factory=dict)
    repeats: dict[str, int] = field(default_factory=dict)

    def derive(self, text: str) -> str:
        """A content id: `s-` + 12 hex digits of SHA-256, `-2`, `-3`... for repeats in order."""
        base = "s-" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]
        n = self.repeats[base] = self.repeats.get(base, 0) + 1
        return base if n == 1 else f"{base}-{n}"


# --- reading lines ---------------------------------------------------------


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """(1-based line number, text without its line end), streamed; BOM and CRLF accepted."""
    try:
        with path.open("rb") as f:
            for number, raw in enumerate(f, start=1):
                if number == 1 and raw.startswith(_BOM):
                    raw = raw[len(_BOM) :]
                raw = raw.removesuffix(b"\n").removesuffix(b"\r")
                try:
                    yield number, raw.decode("utf-8")
                except UnicodeDecodeError as e:
                    bad = raw[e.start]
                    cause = f"invalid UTF-8: byte 0x{bad:02x} at byte {e.start + 1} of the line"
                    raise CorpusError(path, number, cause) from None
    except OSError as e:
        raise CorpusError(path, None, f"cannot read the file: {e.strerror or e}") from None


# --- the readers: path -> items (or item-level problems) -------------------


def _read_txt(path: Path) -> Iterator[_Raw | _Problem]:
    """One sentence per line; blank lines skipped; words by `split_words`."""
    for line, text in _lines(path):
        if text.strip():
            yield _Raw(line, text)


def _read_jsonl(path: Path) -> Iterator[_Raw | _Problem]:
    """One JSON object per line: id, text, spans (character offsets), meta; blank lines skipped."""
    for line, text in _lines(path):
        if not text.strip():
            continue
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as e:
            yield _Problem(line, "bad json", f"{e.msg} at column {e.colno}")
            continue
        except (ValueError, RecursionError) as e:  # e.g. an integer with too many digits
            yield _Problem(line, "bad json", str(e) or type(e).__name__)
            continue
        if not isinstance(obj, dict):
            yield _Problem(line, "not an object", f"the line is a JSON {_kind(obj)}, not an object")
            continue
        yield _Raw(
            line,
            obj.get("text", _ABSENT),
            id=obj.get("id", _ABSENT),
            spans=obj.get("spans", ()),
            meta=obj.get("meta", {}),
        )


def _read_conllu(path: Path) -> Iterator[_Raw | _Problem]:
    """Blank-line separated sentence blocks; words are the FORMs of the integer-ID lines."""
    block: list[tuple[int, str]] = []
    for line, text in _lines(path):
        if text.strip():
            block.append((line, text))
        elif block:
            yield _conllu_sentence(block)
            block = []
    if block:
        yield _conllu_sentence(block)


def _conllu_sentence(block: list[tuple[int, str]]) -> _Raw | _Problem:
    """One CoNLL-U block as an item: `# sent_id`, `# text`, FORMs located in the text, meta."""
    comments: dict[str, str] = {}
    words: list[tuple[int, int, str, bool]] = []  # (line, word number, FORM, SpaceAfter=No)
    glued: set[int] = set()  # words followed by no space: inside a multiword token or its end
    for line, text in block:
        if text.startswith("#"):
            key, eq, value = text[1:].partition("=")
            if eq:
                comments[key.strip()] = value.strip()
            continue
        cols = text.split("\t")
        if len(cols) != 10:
            return _Problem(
                line, "bad word line", f"{len(cols)} tab-separated columns, expected 10"
            )
        ident, form, no_space = cols[0], cols[1], "SpaceAfter=No" in cols[9].split("|")
        if _CONLLU_RANGE.fullmatch(ident):
            first, last = (int(n) for n in ident.split("-"))
            glued.update(range(first, last))
            if no_space:
                glued.add(last)
        elif _CONLLU_WORD.fullmatch(ident):
            if not form:
                return _Problem(line, "bad word line", f"word {ident} has an empty FORM")
            words.append((line, int(ident), form, no_space))
        elif not _CONLLU_EMPTY.fullmatch(ident):
            return _Problem(
                line, "bad word line", f"ID {ident!r} is not a word, range or empty node"
            )
    start = block[0][0]
    sid = comments.pop("sent_id", _ABSENT)
    meta = {k: v for k, v in comments.items() if k != "text"}
    if not words:
        return _Problem(start, "no words", "the sentence block has no word lines")
    forms = [form for _, _, form, _ in words]
    text = comments.get("text")
    if text is None:  # rebuild the surface text from the words, honouring SpaceAfter=No
        gaps = ["" if no_space or n in glued else " " for _, n, _, no_space in words[:-1]]
        text = "".join(f + g for f, g in zip(forms, [*gaps, ""], strict=True))
    elif not text.strip():
        return _Problem(start, "empty text", "`# text =` is empty")
    located = locate_words(text, forms)
    if located is None:
        for k in range(1, len(forms) + 1):
            if locate_words(text, forms[:k]) is None:
                line, n, form, _ = words[k - 1]
                return _Problem(
                    line, "form not in text", f"word {n} {form!r} not found in {text!r}"
                )
    return _Raw(start, text, id=sid, words=located, meta=meta)


Reader = Callable[[Path], Iterator[_Raw | _Problem]]
READERS: dict[str, Reader] = {".txt": _read_txt, ".jsonl": _read_jsonl, ".conllu": _read_conllu}


def list_readers() -> list[str]:
    """The corpus file extensions `read_corpus` understands, sorted."""
    return sorted(READERS)


# --- validation: raw item -> Sentence ---------------------------------------


def _kind(value: Any) -> str:
    """The JSON name of a value's type, for messages."""
    names = {bool: "boolean", int: "integer", float: "number", str: "string"}
    names |= {list: "array", dict: "object", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def _is_unicode(text: str) -> bool:
    """False when `text` holds a lone surrogate (possible through JSON `\\ud800` escapes)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _check_id(raw: _Raw) -> Any:
    """The given id, validated (or `_ABSENT`): a non-empty string with no control characters."""
    sid = raw.id
    if sid is _ABSENT:
        return sid
    if not isinstance(sid, str):
        raise _Problem(raw.line, "bad id", f"the id is a {_kind(sid)}, not a string")
    if not sid.strip():
        raise _Problem(raw.line, "bad id", f"the id {sid!r} is empty")
    if any(unicodedata.category(c) == "Cc" or c in _LINE_BREAKS for c in sid):
        raise _Problem(
            raw.line, "bad id", f"the id {sid!r} contains a control character or line break"
        )
    if not _is_unicode(sid):
        raise _Problem(raw.line, "bad id", f"the id {sid!r} contains a lone surrogate")
    return sid


def _check_text(raw: _Raw, sid: str | None) -> str:
    """The text, validated: present, a string, not blank, valid Unicode."""
    text = raw.text
    if text is _ABSENT:
        raise _Problem(raw.line, "missing text", 'the item has no "text"', sid)
    if not isinstance(text, str):
        raise _Problem(raw.line, "bad text", f"the text is a {_kind(text)}, not a string", sid)
    if not text.strip():
        raise _Problem(
            raw.line, "empty text", f"the text {text!r} is empty or only whitespace", sid
        )
    if not _is_unicode(text):
        raise _Problem(raw.line, "bad text", "the text contains a lone surrogate", sid)
    return text


def _check_span(
    raw: _Raw, k: int, span: Any, text: str, starts: list[int], ends: list[int]
) -> Span:
    """Span k (1-based) of an item: character offsets [start, end) -> the words they overlap."""

    def bad(detail: str) -> _Problem:
        return _Problem(raw.line, "bad span", f"span {k}: {detail}")

    if not isinstance(span, dict):
        raise bad(f"a {_kind(span)}, not an object")
    label = span.get("label", _ABSENT)
    if label is _ABSENT:
        raise bad('no "label"')
    if not isinstance(label, str):
        raise bad(f"the label is a {_kind(label)}, not a string")
    if not label.strip() or not _is_unicode(label):
        raise bad(f"the label {label!r} is empty or not valid Unicode")
    start, end = span.get("start", _ABSENT), span.get("end", _ABSENT)
    for name, value in (("start", start), ("end", end)):
        if value is _ABSENT:
            raise bad(f'no "{name}"')
        if type(value) is not int:  # bool is an int subclass, and not an offset
            raise bad(f"{name} {value!r} is a {_kind(value)}, not an integer")
    if start > end:
        raise bad(f"inverted: start {start} > end {end}")
    if start == end:
        raise bad(f"empty: start == end == {start}")
    if start < 0 or end > len(text):
        raise bad(f"[{start}, {end}) is out of range for a text of {len(text)} characters")
    first, last = bisect_right(ends, start), bisect_left(starts, end)  # words overlapping it
    if first >= last:
        raise bad(f"[{start}, {end}) covers no word")
    return Span(label, first, last)


def _check_spans(raw: _Raw, text: str, words: tuple[tuple[int, int], ...]) -> tuple[Span, ...]:
    """All spans of an item as word spans, in the given order; none may overlap another."""
    if not isinstance(raw.spans, list | tuple):
        raise _Problem(raw.line, "bad span", f'"spans" is a {_kind(raw.spans)}, not an array')
    starts, ends = [a for a, _ in words], [b for _, b in words]
    spans = [_check_span(raw, k, s, text, starts, ends) for k, s in enumerate(raw.spans, 1)]
    # Sorted by start, any overlap shows up between neighbours: in characters or in words.
    order = sorted(range(len(spans)), key=lambda i: (raw.spans[i]["start"], raw.spans[i]["end"]))
    for i, j in pairwise(order):
        if raw.spans[j]["start"] < raw.spans[i]["end"] or spans[j].first < spans[i].last:
            detail = (
                f"span {i + 1} ({spans[i].label!r}) and span {j + 1} ({spans[j].label!r}) overlap"
            )
            raise _Problem(raw.line, "overlapping spans", detail)
    return tuple(spans)


def _check_meta(raw: _Raw) -> dict[str, Any]:
    """The meta, validated: an object that can be written back as UTF-8 JSON."""
    if not isinstance(raw.meta, dict):
        raise _Problem(raw.line, "bad meta", f'"meta" is a {_kind(raw.meta)}, not an object')
    if not _is_unicode(json.dumps(raw.meta, ensure_ascii=False)):
        raise _Problem(raw.line, "bad meta", '"meta" contains a lone surrogate')
    return dict(raw.meta)


def _build(raw: _Raw, path: Path, ids: _Ids) -> Sentence:
    """One validated `Sentence` from a raw item, or `_Problem`."""
    given = _check_id(raw)
    text = _check_text(raw, None if given is _ABSENT else given)
    sid = ids.derive(text) if given is _ABSENT else given
    words = raw.words if raw.words is not None else split_words(text)
    if not words:
        raise _Problem(raw.line, "no words", f"the text {text[:80]!r} has no words", sid)
    if sid in ids.seen:
        raise _Problem(
            raw.line, "duplicate id", f"{sid!r} was first seen on line {ids.seen[sid]}", sid
        )
    try:
        spans, meta = _check_spans(raw, text, words), _check_meta(raw)
    except _Problem as problem:
        problem.id = sid
        raise
    ids.seen[sid] = raw.line
    return Sentence(sid, text, tuple(words), spans, meta, (str(path), raw.line))


# --- the entry points -------------------------------------------------------


def _reader_for(path: Path) -> Reader:
    """The reader for a path's extension; the path must be an existing file."""
    if not path.exists():
        raise CorpusError(path, None, "no such file")
    if path.is_dir():
        raise CorpusError(path, None, "is a directory, not a corpus file")
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        valid = ", ".join(list_readers())
        raise CorpusError(path, None, f"unknown corpus format {path.suffix!r}; valid: {valid}")
    return reader


def read_corpus(path: str | Path, *, on_error: Literal["raise", "skip"] = "raise") -> CorpusReport:
    """Read and validate a corpus file into sentences (in file order) and skipped items."""
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', not {on_error!r}")
    path = Path(path)
    reader = _reader_for(path)
    ids, sentences, skipped = _Ids(), [], []
    for item in reader(path):
        try:
            if isinstance(item, _Problem):
                raise item
            sentences.append(_build(item, path, ids))
        except _Problem as problem:
            named = problem.id is None or problem.id in problem.detail
            where = "" if named else f" (sentence {problem.id!r})"
            if on_error == "raise":
                raise CorpusError(path, problem.line, f"{problem}{where}") from None
            log.warning("%s:%d: skipped: %s", path, problem.line, problem)
            skipped.append(
                Skip((str(path), problem.line), problem.reason, problem.detail, problem.id)
            )
    if not sentences:
        raise CorpusError(path, None, _why_empty(path, skipped))
    log.info("read %d sentences from %s; %s", len(sentences), path, _skip_summary(skipped))
    return CorpusReport(sentences, skipped)


def _skip_summary(skipped: list[Skip]) -> str:
    """`N skipped (reason: n, ...)`, for the closing log line and error messages."""
    counts = CorpusReport([], skipped).skip_counts()
    reasons = ", ".join(f"{reason}: {n}" for reason, n in counts.items())
    return f"{len(skipped)} skipped" + (f" ({reasons})" if reasons else "")


def _why_empty(path: Path, skipped: list[Skip]) -> str:
    """The cause for a file that gave no sentences."""
    if skipped:
        return f"no sentences: all items were skipped, {_skip_summary(skipped)}"
    if path.stat().st_size == 0:
        return "no sentences: the file is empty"
    return "no sentences: the file has only blank lines"


def bundled_corpus_path() -> Path:
    """The bundled example corpus: inside the installed package, else the repository's data/."""
    packaged = Path(pipeline.__file__).parent / "data" / "sarah_pairs.jsonl"
    if packaged.exists():
        return packaged
    return Path(pipeline.__file__).resolve().parent.parent / "data" / "sarah_pairs.jsonl"
