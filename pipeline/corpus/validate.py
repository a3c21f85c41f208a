"""Corpus validation: a raw item -> a `Sentence` (id, text, words, spans, meta, and a pair's
target with its words and spans), or a `Problem`."""

from __future__ import annotations

import hashlib
import json
import unicodedata
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

from pipeline.corpus.readers import ABSENT, Problem, RawItem, json_kind
from pipeline.records import Sentence, Span
from pipeline.words import split_words

_LINE_BREAKS = "\u2028\u2029"  # category Zl/Zp: line breaks that are not control characters


@dataclass
class Ids:
    """Ids seen so far (id -> line) and how often each derived id's text has appeared."""

    seen: dict[str, int] = field(default_factory=dict)
    repeats: dict[str, int] = field(default_factory=dict)

    def derive(self, text: str) -> str:
        """A content id: `s-` + 12 hex digits of SHA-256, `-2`, `-3`... for repeats in order."""
        base = "s-" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]
        n = self.repeats[base] = self.repeats.get(base, 0) + 1
        return base if n == 1 else f"{base}-{n}"


def _is_unicode(text: str) -> bool:
    """False when `text` holds a lone surrogate (possible through JSON `\\ud800` escapes)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _check_id(raw: RawItem) -> Any:
    """The given id, validated (or `ABSENT`): a non-empty string with no control characters."""
    sid = raw.id
    if sid is ABSENT:
        return sid
    if not isinstance(sid, str):
        raise Problem(raw.line, "bad id", f"the id is a {json_kind(sid)}, not a string")
    if not sid.strip():
        raise Problem(raw.line, "bad id", f"the id {sid!r} is empty")
    if any(unicodedata.category(c) == "Cc" or c in _LINE_BREAKS for c in sid):
        raise Problem(
            raw.line, "bad id", f"the id {sid!r} contains a control character or line break"
        )
    if not _is_unicode(sid):
        raise Problem(raw.line, "bad id", f"the id {sid!r} contains a lone surrogate")
    return sid


def _check_text(raw: RawItem, sid: str | None) -> str:
    """The text, validated: present, a string, not blank, valid Unicode."""
    text = raw.text
    if text is ABSENT:
        raise Problem(raw.line, "missing text", 'the item has no "text"', sid)
    if not isinstance(text, str):
        raise Problem(raw.line, "bad text", f"the text is a {json_kind(text)}, not a string", sid)
    if not text.strip():
        raise Problem(
            raw.line, "empty text", f"the text {text!r} is empty or only whitespace", sid
        )
    if not _is_unicode(text):
        raise Problem(raw.line, "bad text", "the text contains a lone surrogate", sid)
    return text


def _check_span(
    raw: RawItem, k: int, span: Any, text: str, starts: list[int], ends: list[int],
    side: str = "",
) -> Span:
    """Span k (1-based) of an item: character offsets [start, end) -> the words they overlap.
    `side`: "target " for a target span (its offsets are into the target)."""

    def bad(detail: str) -> Problem:
        return Problem(raw.line, f"bad {side}span", f"{side}span {k}: {detail}")

    if not isinstance(span, dict):
        raise bad(f"a {json_kind(span)}, not an object")
    label = span.get("label", ABSENT)
    if label is ABSENT:
        raise bad('no "label"')
    if not isinstance(label, str):
        raise bad(f"the label is a {json_kind(label)}, not a string")
    if not label.strip() or not _is_unicode(label):
        raise bad(f"the label {label!r} is empty or not valid Unicode")
    start, end = span.get("start", ABSENT), span.get("end", ABSENT)
    for name, value in (("start", start), ("end", end)):
        if value is ABSENT:
            raise bad(f'no "{name}"')
        if type(value) is not int:  # bool is an int subclass, and not an offset
            raise bad(f"{name} {value!r} is a {json_kind(value)}, not an integer")
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


def _check_spans(raw: RawItem, text: str, words: tuple[tuple[int, int], ...],
                 given: Any = ABSENT, side: str = "") -> tuple[Span, ...]:
    """All spans of an item as word spans, in the given order; none may overlap another.
    `given`: the spans (default: the item's); `side`: "target " for the target's."""
    given = raw.spans if given is ABSENT else given
    key = f'"{side.strip()}_spans"' if side else '"spans"'
    if not isinstance(given, list | tuple):
        raise Problem(raw.line, f"bad {side}span", f"{key} is a {json_kind(given)}, not an array")
    starts, ends = [a for a, _ in words], [b for _, b in words]
    spans = [_check_span(raw, k, s, text, starts, ends, side) for k, s in enumerate(given, 1)]
    # Sorted by start, any overlap shows up between neighbours: in characters or in words.
    order = sorted(range(len(spans)), key=lambda i: (given[i]["start"], given[i]["end"]))
    for i, j in pairwise(order):
        if given[j]["start"] < given[i]["end"] or spans[j].first < spans[i].last:
            detail = (f"{side}span {i + 1} ({spans[i].label!r}) and {side}span {j + 1} "
                      f"({spans[j].label!r}) overlap")
            raise Problem(raw.line, f"overlapping {side}spans", detail)
    return tuple(spans)


def _check_target(raw: RawItem) -> tuple[str | None, tuple[tuple[int, int], ...], tuple[Span, ...]]:
    """A pair's target, its words (the default word rule) and its spans over them, validated
    as the text and spans are; (None, (), ()) when the item gives no target."""
    target = raw.target
    if target is ABSENT:
        if raw.target_spans is not ABSENT:
            raise Problem(raw.line, "bad target span", '"target_spans" without a "target"')
        return None, (), ()
    if not isinstance(target, str):
        raise Problem(raw.line, "bad target", f"the target is a {json_kind(target)}, not a string")
    if not target.strip():
        raise Problem(raw.line, "bad target", f"the target {target!r} is empty or only whitespace")
    if not _is_unicode(target):
        raise Problem(raw.line, "bad target", "the target contains a lone surrogate")
    words = split_words(target)
    if not words:
        raise Problem(raw.line, "bad target", f"the target {target[:80]!r} has no words")
    given = () if raw.target_spans is ABSENT else raw.target_spans
    return target, words, _check_spans(raw, target, words, given, "target ")


def _check_meta(raw: RawItem) -> dict[str, Any]:
    """The meta, validated: an object that can be written back as UTF-8 JSON."""
    if not isinstance(raw.meta, dict):
        raise Problem(raw.line, "bad meta", f'"meta" is a {json_kind(raw.meta)}, not an object')
    if not _is_unicode(json.dumps(raw.meta, ensure_ascii=False)):
        raise Problem(raw.line, "bad meta", '"meta" contains a lone surrogate')
    return dict(raw.meta)


def build_sentence(raw: RawItem, path: Path, ids: Ids) -> Sentence:
    """One validated `Sentence` from a raw item, or `Problem`."""
    given = _check_id(raw)
    text = _check_text(raw, None if given is ABSENT else given)
    sid = ids.derive(text) if given is ABSENT else given
    words = raw.words if raw.words is not None else split_words(text)
    if not words:
        raise Problem(raw.line, "no words", f"the text {text[:80]!r} has no words", sid)
    if sid in ids.seen:
        raise Problem(
            raw.line, "duplicate id", f"{sid!r} was first seen on line {ids.seen[sid]}", sid
        )
    try:
        spans, meta = _check_spans(raw, text, words), _check_meta(raw)
        target, target_words, target_spans = _check_target(raw)
    except Problem as problem:
        problem.id = sid
        raise
    ids.seen[sid] = raw.line
    return Sentence(sid, text, tuple(words), spans, meta, (str(path), raw.line), tuple(raw.arcs),
                    target, target_words, target_spans)
