"""Corpus readers: a file -> raw items (or item-level problems), one reader per extension.

A reader only finds items and their line numbers; `pipeline.corpus.validate` turns
them into `Sentence`s. Problems with the whole file (unreadable, invalid UTF-8) raise
`CorpusError`; a bad item is yielded as a `Problem` so that reading can go on.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.errors import CorpusError
from pipeline.words import locate_words

ABSENT: Any = object()  # a key the item does not have (an absent id is derived from the text)
_BOM = b"\xef\xbb\xbf"
_CONLLU_RANGE = re.compile(r"[0-9]+-[0-9]+")
_CONLLU_EMPTY = re.compile(r"[0-9]+\.[0-9]+")
_CONLLU_WORD = re.compile(r"[0-9]+")


class Problem(Exception):
    """One item that cannot be read: where, a short reason (the skip category), particulars."""

    def __init__(self, line: int, reason: str, detail: str, id: str | None = None) -> None:
        super().__init__(f"{reason}: {detail}")
        self.line, self.reason, self.detail, self.id = line, reason, detail, id


@dataclass
class RawItem:
    """One item as a reader found it, before validation; `words` None means `split_words`."""

    line: int
    text: Any
    id: Any = ABSENT
    words: tuple[tuple[int, int], ...] | None = None
    spans: Any = ()
    meta: Any = field(default_factory=dict)
    arcs: tuple[tuple[int, int, str], ...] = ()  # (dependent, head or -1, relation), word indices
    target: Any = ABSENT  # a pair's target (.jsonl "target"); ABSENT: none given
    target_spans: Any = ABSENT  # spans over the target's characters (.jsonl "target_spans")


def json_kind(value: Any) -> str:
    """The JSON name of a value's type, for messages."""
    names = {bool: "boolean", int: "integer", float: "number", str: "string"}
    names |= {list: "array", dict: "object", type(None): "null"}
    return names.get(type(value), type(value).__name__)


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


def _read_txt(path: Path) -> Iterator[RawItem | Problem]:
    """One sentence per line; blank lines skipped; words by `split_words`."""
    for line, text in _lines(path):
        if text.strip():
            yield RawItem(line, text)


def _read_jsonl(path: Path) -> Iterator[RawItem | Problem]:
    """One JSON object per line: id, text, spans (character offsets), meta, and for a source ->
    target pair target and target_spans (character offsets into the target); blank lines
    skipped."""
    for line, text in _lines(path):
        if not text.strip():
            continue
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as e:
            yield Problem(line, "bad json", f"{e.msg} at column {e.colno}")
            continue
        except (ValueError, RecursionError) as e:  # e.g. an integer with too many digits
            yield Problem(line, "bad json", str(e) or type(e).__name__)
            continue
        if not isinstance(obj, dict):
            yield Problem(line, "not an object", f"the line is a JSON {json_kind(obj)}, not an object")
            continue
        yield RawItem(
            line,
            obj.get("text", ABSENT),
            id=obj.get("id", ABSENT),
            spans=obj.get("spans", ()),
            meta=obj.get("meta", {}),
            target=obj.get("target", ABSENT),
            target_spans=obj.get("target_spans", ABSENT),
        )


def _read_conllu(path: Path) -> Iterator[RawItem | Problem]:
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


def _conllu_sentence(block: list[tuple[int, str]]) -> RawItem | Problem:
    """One CoNLL-U block as an item: `# sent_id`, `# text`, FORMs located in the text, meta."""
    comments: dict[str, str] = {}
    words: list[tuple[int, int, str, bool]] = []  # (line, word number, FORM, SpaceAfter=No)
    heads: list[tuple[int, str, str]] = []  # (line, HEAD, DEPREL) of each word
    glued: set[int] = set()  # words followed by no space: inside a multiword token or its end
    for line, text in block:
        if text.startswith("#"):
            key, eq, value = text[1:].partition("=")
            if eq:
                comments[key.strip()] = value.strip()
            continue
        cols = text.split("\t")
        if len(cols) != 10:
            return Problem(
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
                return Problem(line, "bad word line", f"word {ident} has an empty FORM")
            words.append((line, int(ident), form, no_space))
            heads.append((line, cols[6], cols[7]))
        elif not _CONLLU_EMPTY.fullmatch(ident):
            return Problem(
                line, "bad word line", f"ID {ident!r} is not a word, range or empty node"
            )
    start = block[0][0]
    sid = comments.pop("sent_id", ABSENT)
    meta = {k: v for k, v in comments.items() if k != "text"}
    if not words:
        return Problem(start, "no words", "the sentence block has no word lines")
    forms = [form for _, _, form, _ in words]
    text = comments.get("text")
    if text is None:  # rebuild the surface text from the words, honouring SpaceAfter=No
        gaps = ["" if no_space or n in glued else " " for _, n, _, no_space in words[:-1]]
        text = "".join(f + g for f, g in zip(forms, [*gaps, ""], strict=True))
    elif not text.strip():
        return Problem(start, "empty text", "`# text =` is empty")
    located = locate_words(text, forms)
    if located is None:
        for k in range(1, len(forms) + 1):
            if locate_words(text, forms[:k]) is None:
                line, n, form, _ = words[k - 1]
                return Problem(
                    line, "form not in text", f"word {n} {form!r} not found in {text!r}"
                )
    arcs = _conllu_arcs(words, heads)
    if isinstance(arcs, Problem):
        return arcs
    return RawItem(start, text, id=sid, words=located, meta=meta, arcs=arcs)


def _conllu_arcs(words: list[tuple[int, int, str, bool]],
                 heads: list[tuple[int, str, str]]) -> tuple[tuple[int, int, str], ...] | Problem:
    """The basic dependency arcs (HEAD, DEPREL) over word indices; () when HEAD is unannotated.

    Multiword-token ranges and empty nodes are not words, so they have no arc
    (enhanced dependencies, DEPS, are not read). A HEAD of 0 is the root (-1).
    """
    if all(head == "_" for _, head, _ in heads):
        return ()
    index = {number: i for i, (_, number, _, _) in enumerate(words)}
    arcs = []
    for i, (line, head, deprel) in enumerate(heads):
        if not head.isdigit() or (head != "0" and int(head) not in index):
            return Problem(line, "bad word line",
                           f"word {words[i][1]} has HEAD {head!r}, which is no word of the sentence")
        arcs.append((i, index[int(head)] if head != "0" else -1, deprel))
    return tuple(arcs)


Reader = Callable[[Path], Iterator[RawItem | Problem]]
READERS: dict[str, Reader] = {".txt": _read_txt, ".jsonl": _read_jsonl, ".conllu": _read_conllu}


def list_readers() -> list[str]:
    """The corpus file extensions `read_corpus` understands, sorted."""
    return sorted(READERS)


def reader_for(path: Path) -> Reader:
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
