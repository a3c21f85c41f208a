"""Words: splitting text into words, aligning model tokens to them, word-level maps.

Word-level attention follows Clark et al. (2019), "What Does BERT Look At?",
https://arxiv.org/abs/1906.04341 section 4.1: attention *to* a word is the sum
over its tokens, attention *from* a word is the mean over its tokens, so a
from-row keeps the token rows' total (1, less what went to special tokens).
"""

from __future__ import annotations

import numpy as np
import regex

# A word is an angle-bracket tag kept whole (`<CHI>`), a run of letters, marks,
# digits and underscores with inner apostrophes (`who's`), or any other single
# grapheme (punctuation, symbols, an emoji with its modifiers). Whitespace,
# control and format characters (zero-width space, direction marks) separate
# words and belong to none.
_WORD = regex.compile(
    r"<[^\s<>\p{Cc}\p{Cf}]+>"
    r"|[\p{L}\p{M}\p{N}_]+(?:['’][\p{L}\p{M}\p{N}_]+)*"
    r"|(?:(?![\s\p{Cc}\p{Cf}])\X)"
)
_SEPARATOR = regex.compile(r"[\s\p{Cc}\p{Cf}]")


def split_words(text: str) -> tuple[tuple[int, int], ...]:
    """The default word rule: character ranges (start, end) of the words of `text`, in order."""
    return tuple(m.span() for m in _WORD.finditer(text))


def is_separator(char: str) -> bool:
    """True for characters that belong to no word (whitespace, control, format)."""
    return _SEPARATOR.fullmatch(char) is not None


def locate_words(text: str, forms: list[str]) -> tuple[tuple[int, int], ...] | None:
    """Character ranges of given word forms (e.g. CoNLL-U FORMs) found in order in `text`.

    Returns None when a form cannot be found after the previous one.
    """
    spans, pos = [], 0
    for form in forms:
        start = text.find(form, pos)
        if start < 0 or form == "":
            return None
        spans.append((start, start + len(form)))
        pos = start + len(form)
    return tuple(spans)
