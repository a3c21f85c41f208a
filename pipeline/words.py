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


def _overlap(a: tuple[int, int], b: tuple[int, int]) -> int:
    """Characters shared by two ranges."""
    return max(0, min(a[1], b[1]) - max(a[0], b[0]))


def align_tokens(words: tuple[tuple[int, int], ...], offsets: list[tuple[int, int]],
                 special: list[bool]) -> tuple[list[int], list[int]]:
    """Map each model token to a word index (-1 for special tokens).

    A token goes to the word it overlaps most (the first on a tie); a token
    that overlaps no word (e.g. GPT-2's lone-space token) goes to the next word,
    or the last word when none follows. Returns (word_index per token, and the
    words that received no token at all).
    """
    index: list[int] = []
    w = 0
    for (start, end), is_special in zip(offsets, special, strict=True):
        if is_special or not words:
            index.append(-1)
            continue
        # advance past words that end before this token starts: tokens come in text order
        while w < len(words) - 1 and words[w][1] <= start:
            w += 1
        best, best_overlap = w, _overlap(words[w], (start, end))
        k = w + 1
        while k < len(words) and words[k][0] < end:
            ov = _overlap(words[k], (start, end))
            if ov > best_overlap:
                best, best_overlap = k, ov
            k += 1
        if best_overlap == 0 and words[best][1] <= start:
            best = len(words) - 1  # a token past the last word's end
        index.append(best)
    used = set(index)
    return index, [i for i in range(len(words)) if i not in used]


def merge_tokenless(words: tuple[tuple[int, int], ...], tokenless: list[int]) -> tuple[
        tuple[tuple[int, int], ...], list[int]]:
    """Merge each word that got no token into its left neighbour (the right one for the first).

    Returns the merged words and, for every old word, its new index, so that
    every remaining word owns at least one token.
    """
    if not tokenless:
        return words, list(range(len(words)))
    drop = set(tokenless)
    if len(drop) == len(words):
        raise ValueError("no word received a token")
    merged: list[tuple[int, int]] = []
    new_of_old: list[int] = []
    lead_start = None  # tokenless words before the first kept word join it
    for i, (a, b) in enumerate(words):
        if i in drop and merged:
            merged[-1] = (merged[-1][0], b)
        elif i in drop:
            lead_start = a if lead_start is None else lead_start
        else:
            merged.append((a if lead_start is None else lead_start, b))
            lead_start = None
        new_of_old.append(max(len(merged) - 1, 0))
    return tuple(merged), new_of_old


def _membership(n_tok: int, word_index, n_words: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One-hot token -> word membership (T, W) float32 (special tokens have no word), the tokens
    per word (W,), and which tokens belong to a word (T,)."""
    word_index = np.asarray(word_index)
    real = word_index >= 0
    member = np.zeros((n_tok, n_words), dtype=np.float32)
    member[np.flatnonzero(real), word_index[real]] = 1.0
    return member, member.sum(axis=0), real


def word_attention(attention: np.ndarray, word_index: np.ndarray, n_words: int,
                   scale: float = 1.0, *, column_index: np.ndarray | None = None,
                   n_column_words: int | None = None) -> np.ndarray:
    """The word-level maps of `word_maps` alone, float32 (L, H, W, W_c), times `scale`: given
    the store's uint8 codes and scale = 1 / 255, the maps without a dequantized copy."""
    rows, counts, real = _membership(attention.shape[-2], word_index, n_words)
    columns = _columns(attention, (rows, real), column_index, n_column_words)[0]
    to_words = attention @ columns  # (L, H, T, W_c); uint8 codes are converted once, here
    return ((rows.T * (np.float32(scale) / counts)[:, None]) @ to_words).astype(np.float32,
                                                                                  copy=False)


def word_maps(attention: np.ndarray, word_index: np.ndarray, n_words: int, *,
              column_index: np.ndarray | None = None, n_column_words: int | None = None
              ) -> tuple[np.ndarray, np.ndarray]:
    """Token-level attention (L, H, T, T) -> word-level (L, H, W, W) and special share (L, H, W).

    Clark et al. (2019): columns (attended, "to") are summed over a word's
    tokens, rows (attending, "from") averaged over them. Attention paid to
    special tokens is not a word's: it is returned as each from-word's share,
    so that a word row plus its special share sums to the token rows' sum, 1.
    A rectangular map (cross-attention, (L, H, T_rows, T_columns)) has its columns' own
    words: `column_index` maps each column token to one of `n_column_words` words (-1 for
    special tokens); the result is then (L, H, W, W_c).
    """
    rows, counts, real = _membership(attention.shape[-2], word_index, n_words)
    columns, real = _columns(attention, (rows, real), column_index, n_column_words)
    to_words = attention @ columns  # (L, H, T, W_c): sum over the attended word's tokens
    words = (rows.T / counts[:, None]) @ to_words  # (W, T) @ (L, H, T, W_c) -> mean over rows
    special_to = attention @ (~real).astype(np.float32)  # (L, H, T): paid to special tokens
    special = (special_to @ rows) / counts  # (L, H, W): mean over the from-word's tokens
    return words.astype(np.float32), special.astype(np.float32)


def _columns(attention: np.ndarray, rows: tuple[np.ndarray, np.ndarray], column_index,
             n_column_words: int | None) -> tuple[np.ndarray, np.ndarray]:
    """The columns' token -> word membership (T_c, W_c) and which column tokens are words':
    the rows' own (`rows`: membership and real), unless the columns have their own words."""
    if column_index is None:
        return rows
    if n_column_words is None:
        raise ValueError("column_index needs n_column_words")
    member, _, real = _membership(attention.shape[-1], column_index, n_column_words)
    return member, real
