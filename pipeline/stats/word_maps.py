"""Word maps as the statistics read them (pipeline.stats.definitions): `WordMaps`, one or more
sentences' word maps of one shape with what the statistics share, and the word tests they use
(punctuation, case-folded forms).

A map is W[i, j], rows = the attending words i, columns = the attended words j: square (n, n)
for a stack's self-attention (parts `self`, `encoder`, `decoder`), rectangular (n_t, n_s) for
cross-attention (rows: the target's words, columns: the source's).
"""

from __future__ import annotations

import functools
import unicodedata

import numpy as np


@functools.lru_cache(maxsize=1 << 16)
def is_punct(word: str) -> bool:
    """A word made only of Unicode punctuation (general categories P*)."""
    if not word or word[0].isalnum():  # a letter or digit is no punctuation: most words stop here
        return False
    return all(unicodedata.category(c).startswith("P") for c in word)


def form_ids(words: list[str]) -> np.ndarray:
    """Each word's form, case-folded, as the position of its first occurrence in the sentence:
    int32 (n,). Two words have one form when their ids are equal."""
    first: dict[str, int] = {}
    return np.array([first.setdefault(w.casefold(), i) for i, w in enumerate(words)],
                    dtype=np.int32)


class WordMaps:
    """Word maps of one or more sentences of one shape, with what statistics share.

    Given as W (..., r, c), rows = the attending word: the leading axes are (layer,
    head) for one sentence, (sentence, layer, head) for a batch of sentences of one
    shape; r == c == n for a stack's own words, r = n_t target words and c = n_s
    source words for cross-attention. Kept word axes first, C[j, i, m] = W[m, i, j]
    with m the flattened leading axes, so that every reduction (over j, over i) adds
    or compares whole contiguous blocks: numpy reduces a short last axis (n ~ 12) an
    order of magnitude slower, and a matrix product may round a row differently by
    where it lies in a batch (a sentence's values must not depend on the sentences
    computed with it). `punct` and `forms` describe the columns' words; `row_punct` and
    `row_forms` the rows' where they are other words (cross-attention), forms numbered
    over both sides so that equal ids are equal forms.
    """

    def __init__(self, words: np.ndarray | None, punct: np.ndarray, forms: np.ndarray, *,
                 columns: np.ndarray | None = None, lead: tuple[int, ...] = (),
                 row_punct: np.ndarray | None = None, row_forms: np.ndarray | None = None) -> None:
        if columns is None:
            W = np.asarray(words, dtype=np.float32)
            lead, r, c = W.shape[:-2], W.shape[-2], W.shape[-1]
            columns = np.ascontiguousarray(W.reshape(-1, r, c).transpose(2, 1, 0))
        self.C = columns  # (c, r, M) float32: C[j, i, m] = W[m, i, j]
        self.n = self.C.shape[0]  # the columns: the attended words
        self.n_rows = self.C.shape[1]  # the rows: the attending words (n for a square map)
        self.lead = tuple(lead)  # the leading axes of W; M = their product
        punct = np.asarray(punct, dtype=bool)  # (c,) for one sentence, (B, c) for a batch
        self.heads = self.lead if punct.ndim == 1 else self.lead[1:]  # one sentence's (L, H)
        self.punct = np.atleast_2d(punct)  # (B, c)
        self.forms = np.atleast_2d(np.asarray(forms)).reshape(self.punct.shape)  # (B, c): form_ids
        B = len(self.punct)
        self.row_punct = self.punct if row_punct is None else (  # (B, r)
            np.asarray(row_punct, dtype=bool).reshape(B, self.n_rows))
        self.row_forms = self.forms if row_forms is None else (  # (B, r)
            np.asarray(row_forms).reshape(B, self.n_rows))

    @classmethod
    def stack(cls, maps: list[np.ndarray], punct: np.ndarray, forms: np.ndarray,
              row_punct: np.ndarray | None = None, row_forms: np.ndarray | None = None
              ) -> WordMaps:
        """B sentences' word maps (L, H, r, c) of one shape; punct and forms (B, c), row_punct
        and row_forms (B, r) where the rows are other words."""
        (r, c), inner = maps[0].shape[-2:], maps[0].shape[:-2]
        columns = np.empty((c, r, len(maps), int(np.prod(inner))), dtype=np.float32)
        for b, W in enumerate(maps):  # one copy, straight into place
            columns[:, :, b] = W.reshape(-1, r, c).transpose(2, 1, 0)
        return cls(None, punct, forms, columns=columns.reshape(c, r, -1),
                   lead=(len(maps), *inner), row_punct=row_punct, row_forms=row_forms)

    def per_head(self, x: np.ndarray) -> np.ndarray:
        """(M,) -> the leading axes of W."""
        return x.reshape(self.lead)

    def row_mean(self, x: np.ndarray) -> np.ndarray:
        """Mean over the rows i of x (r, M) -> (M,)."""
        return x.sum(axis=0) * np.float32(1.0 / len(x))

    def sentences(self, x: np.ndarray) -> np.ndarray:
        """(..., M) -> (..., B, heads): a batch's sentences apart."""
        return x.reshape(*x.shape[:-1], len(self.punct), -1)

    def sentence_mask(self, mask: np.ndarray) -> np.ndarray:
        """Per-sentence values (B, ...) -> (..., M): each sentence's value for its heads."""
        heads = self.C.shape[-1] // len(mask)
        return np.repeat(np.moveaxis(mask, 0, -1), heads, axis=-1)

    @functools.cached_property
    def row_sum(self) -> np.ndarray:
        """sum_j W[m, i, j], (r, M)."""
        return self.C.sum(axis=0)

    @functools.cached_property
    def row_max(self) -> np.ndarray:
        """max_j W[m, i, j], (r, M)."""
        return self.C.max(axis=0)

    @functools.cached_property
    def special_share(self) -> np.ndarray:
        """s[m, i] = max(0, 1 - sum_j W[m, i, j]), (r, M)."""
        return np.maximum(np.float32(0.0), np.float32(1.0) - self.row_sum)

    def diagonal(self, offset: int = 0) -> np.ndarray:
        """W[m, i, i + offset] for every valid i, (n - |offset|, M), of a square map."""
        i = np.arange(max(0, -offset), self.n - max(0, offset))
        return self.C[i + offset, i]

    def nan(self) -> np.ndarray:
        """An array of NaN: the statistic is not defined for these sentences."""
        return np.full(self.lead, np.nan, dtype=np.float32)

    @functools.cached_property
    def earlier(self) -> np.ndarray:
        """E[j, i, b]: word j < i has the form of word i, which is no punctuation, (n, n, B), of
        a square map."""
        same = self.forms[:, None, :] == self.forms[:, :, None]  # (B, i, j)
        same &= np.tri(self.n, k=-1, dtype=bool)  # j < i
        same &= ~self.punct[:, :, None]
        return np.ascontiguousarray(same.transpose(2, 1, 0))

    @functools.cached_property
    def same_form(self) -> np.ndarray:
        """S[j, i, b]: column word j has the form of row word i, which is no punctuation,
        (c, r, B): in cross-attention, a target word's copies in the source."""
        same = self.row_forms[:, :, None] == self.forms[:, None, :]  # (B, i, j)
        same &= ~self.row_punct[:, :, None]
        return np.ascontiguousarray(same.transpose(2, 1, 0))

    def pick(self, cells: np.ndarray) -> np.ndarray:
        """Over the rows i where some j has cells[j, i, b] (bool (c, r, B)), the mean of
        sum_j cells[j, i] W[i, j]; NaN for a sentence without such a row. Only the cells are
        read (few: words repeat rarely); each row's terms are added in order of j, then the
        rows in order of i (np.add.at and a sum over the leading axis add in order), so a
        sentence's value does not depend on the sentences computed with it."""
        j, i, b = np.nonzero(cells)  # in order of j, then i, then b
        if not len(j):
            return self.nan()
        B = len(self.punct)
        rows = np.zeros((self.n_rows, B, self.C.shape[-1] // B), dtype=np.float32)  # (i, B, heads)
        np.add.at(rows, (i, b), self.sentences(self.C)[j, i, b])
        count = cells.any(axis=0).sum(axis=0)  # (B,): the rows each sentence counts
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = rows.sum(axis=0) / count[:, None].astype(np.float32)
        mean[count == 0] = np.nan
        return mean.reshape(self.lead)


LN2 = np.float32(np.log(2.0))
TINY = np.float32(1e-30)


def xlog2x(x: np.ndarray) -> np.ndarray:
    """x log2 x with 0 log2 0 = 0 (x >= 0): log2 is twice as fast as numpy's natural log; the
    caller multiplies what it reduces to by ln 2."""
    out = np.maximum(x, TINY)
    np.log2(out, out=out)
    out *= x
    return out

