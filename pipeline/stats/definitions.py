"""Per-head statistics: what each head does in one sentence, as one number per (layer, head).

The registry beside the measures (pipeline/measures.py). Every statistic is a
function of one sentence's word maps for one measure (`rec.word_maps(measure)`):
W[l, h, i, j], rows = the attending word i, and the special share
s[l, h, i] = max(0, 1 - sum_j W[l, h, i, j]), the attention row i paid to tokens
that belong to no word ([CLS], [SEP], ...). Each returns an (L, H) array, NaN
where the statistic is not defined for the sentence. Sources: Clark et al.
(2019) "What Does BERT Look At?" (special, punct, dependency accuracy and its
fixed-offset baseline), Vig & Belinkov (2019) (distance), Voita et al. (2019)
(confidence), and from the training-dynamics literature (Olsson et al. 2022; Xiao
et al. 2024 for the sink on the first word) `first`, `duplicate` and `induction`,
which compare word forms (case-folded). docs/store.md lists the definitions;
pipeline.stats.compute keeps the results in the store and reads them back.
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

OFFSETS = (-3, -2, -1, 1, 2, 3)  # the fixed-offset baselines of dependency accuracy (d + k == g)
GROUP_BYTES = 1 << 22  # word maps computed together: small enough for each pass to stay in cache


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
    """Word maps of one or more sentences of n words, with what statistics share.

    Given as W (..., n, n), rows = the attending word: the leading axes are (layer,
    head) for one sentence, (sentence, layer, head) for a batch of sentences of one
    length. Kept word axes first, C[j, i, m] = W[m, i, j] with m the flattened
    leading axes, so that every reduction (over j, over i) adds or compares whole
    contiguous blocks: numpy reduces a short last axis (n ~ 12) an order of magnitude
    slower, and a matrix product may round a row differently by where it lies in a
    batch (a sentence's values must not depend on the sentences computed with it).
    """

    def __init__(self, words: np.ndarray | None, punct: np.ndarray, forms: np.ndarray, *,
                 columns: np.ndarray | None = None, lead: tuple[int, ...] = ()) -> None:
        if columns is None:
            W = np.asarray(words, dtype=np.float32)
            lead, n = W.shape[:-2], W.shape[-1]
            columns = np.ascontiguousarray(W.reshape(-1, n, n).transpose(2, 1, 0))
        self.C = columns  # (n, n, M) float32: C[j, i, m] = W[m, i, j]
        self.n = self.C.shape[0]
        self.lead = tuple(lead)  # the leading axes of W; M = their product
        punct = np.asarray(punct, dtype=bool)  # (n,) for one sentence, (B, n) for a batch
        self.heads = self.lead if punct.ndim == 1 else self.lead[1:]  # one sentence's (L, H)
        self.punct = np.atleast_2d(punct)  # (B, n)
        self.forms = np.atleast_2d(np.asarray(forms)).reshape(self.punct.shape)  # (B, n): form_ids

    @classmethod
    def stack(cls, maps: list[np.ndarray], punct: np.ndarray, forms: np.ndarray) -> WordMaps:
        """B sentences' word maps (L, H, n, n) of one length; punct and forms (B, n)."""
        n, inner = maps[0].shape[-1], maps[0].shape[:-2]
        columns = np.empty((n, n, len(maps), int(np.prod(inner))), dtype=np.float32)
        for b, W in enumerate(maps):  # one copy, straight into place
            columns[:, :, b] = W.reshape(-1, n, n).transpose(2, 1, 0)
        return cls(None, punct, forms, columns=columns.reshape(n, n, -1),
                   lead=(len(maps), *inner))

    def per_head(self, x: np.ndarray) -> np.ndarray:
        """(M,) -> the leading axes of W."""
        return x.reshape(self.lead)

    def row_mean(self, x: np.ndarray) -> np.ndarray:
        """Mean over the rows i of x (n, M) -> (M,)."""
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
        """sum_j W[m, i, j], (n, M)."""
        return self.C.sum(axis=0)

    @functools.cached_property
    def row_max(self) -> np.ndarray:
        """max_j W[m, i, j], (n, M)."""
        return self.C.max(axis=0)

    @functools.cached_property
    def special_share(self) -> np.ndarray:
        """s[m, i] = max(0, 1 - sum_j W[m, i, j]), (n, M)."""
        return np.maximum(np.float32(0.0), np.float32(1.0) - self.row_sum)

    def diagonal(self, offset: int = 0) -> np.ndarray:
        """W[m, i, i + offset] for every valid i, (n - |offset|, M)."""
        i = np.arange(max(0, -offset), self.n - max(0, offset))
        return self.C[i + offset, i]

    def nan(self) -> np.ndarray:
        """An array of NaN: the statistic is not defined for these sentences."""
        return np.full(self.lead, np.nan, dtype=np.float32)

    @functools.cached_property
    def earlier(self) -> np.ndarray:
        """E[j, i, b]: word j < i has the form of word i, which is no punctuation, (n, n, B)."""
        same = self.forms[:, None, :] == self.forms[:, :, None]  # (B, i, j)
        same &= np.tri(self.n, k=-1, dtype=bool)  # j < i
        same &= ~self.punct[:, :, None]
        return np.ascontiguousarray(same.transpose(2, 1, 0))

    def pick(self, cells: np.ndarray) -> np.ndarray:
        """Over the rows i where some j has cells[j, i, b] (bool (n, n, B)), the mean of
        sum_j cells[j, i] W[i, j]; NaN for a sentence without such a row. Only the cells are
        read (few: words repeat rarely); each row's terms are added in order of j, then the
        rows in order of i (np.add.at and a sum over the leading axis add in order), so a
        sentence's value does not depend on the sentences computed with it."""
        j, i, b = np.nonzero(cells)  # in order of j, then i, then b
        if not len(j):
            return self.nan()
        B = len(self.punct)
        rows = np.zeros((self.n, B, self.C.shape[-1] // B), dtype=np.float32)  # (i, B, heads)
        np.add.at(rows, (i, b), self.sentences(self.C)[j, i, b])
        count = cells.any(axis=0).sum(axis=0)  # (B,): the rows each sentence counts
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = rows.sum(axis=0) / count[:, None].astype(np.float32)
        mean[count == 0] = np.nan
        return mean.reshape(self.lead)


LN2 = np.float32(np.log(2.0))
TINY = np.float32(1e-30)


def _xlog2x(x: np.ndarray) -> np.ndarray:
    """x log2 x with 0 log2 0 = 0 (x >= 0): log2 is twice as fast as numpy's natural log; the
    caller multiplies what it reduces to by ln 2."""
    out = np.maximum(x, TINY)
    np.log2(out, out=out)
    out *= x
    return out


@functools.lru_cache(maxsize=256)
def _distances(n: int) -> np.ndarray:
    """|i - j| for n words as (j, i, 1), float32."""
    idx = np.arange(n)
    return np.abs(idx[:, None] - idx[None, :]).astype(np.float32)[:, :, None]


def entropy(m: WordMaps) -> np.ndarray:
    """Mean over rows of the entropy of (W[i, :], s_i), in nats."""
    return m.per_head(-LN2 * m.row_mean(_xlog2x(m.C).sum(axis=0) + _xlog2x(m.special_share)))


def distance(m: WordMaps) -> np.ndarray:
    """Attention-weighted mean distance |i - j| in words; NaN where the head pays words nothing."""
    total = m.row_sum.sum(axis=0)
    weighted = (m.C * _distances(m.n)).reshape(m.n * m.n, -1).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return m.per_head(np.where(total > 0, weighted / total, np.float32(np.nan)))


def self_(m: WordMaps) -> np.ndarray:
    """Mean over rows of the attention a word pays itself, W[i, i]."""
    return m.per_head(m.row_mean(m.diagonal()))


def prev(m: WordMaps) -> np.ndarray:
    """Mean over i = 1..n-1 of W[i, i-1]; needs two words."""
    if m.n < 2:
        return m.nan()
    return m.per_head(m.row_mean(m.diagonal(-1)))


def next_(m: WordMaps) -> np.ndarray:
    """Mean over i = 0..n-2 of W[i, i+1]; needs two words."""
    if m.n < 2:
        return m.nan()
    return m.per_head(m.row_mean(m.diagonal(1)))


def special(m: WordMaps) -> np.ndarray:
    """Mean over rows of the special share s_i (Clark et al.'s attention to [CLS]/[SEP])."""
    return m.per_head(m.row_mean(m.special_share))


def punct(m: WordMaps) -> np.ndarray:
    """Mean over rows of the attention paid to punctuation words (0 when there are none)."""
    paid = np.zeros(m.C.shape[1:], dtype=np.float32)  # (n, M): sum over j in P of W[m, i, j]
    mask = m.sentence_mask(m.punct.astype(np.float32))  # (n, M): is word j punctuation
    for j in np.flatnonzero(m.punct.any(axis=0)):  # a punctuation word j in some sentence
        paid += m.C[j] * mask[j]
    return m.per_head(m.row_mean(paid))


def confidence(m: WordMaps) -> np.ndarray:
    """Mean over rows of the largest attention a word pays (Voita et al.)."""
    return m.per_head(m.row_mean(m.row_max))


def first(m: WordMaps) -> np.ndarray:
    """Mean over i = 1..n-1 of W[i, 0]: the attention sink on the first word; needs two words."""
    if m.n < 2:
        return m.nan()
    return m.per_head(m.row_mean(m.C[0, 1:]))


def duplicate(m: WordMaps) -> np.ndarray:
    """Over the words i (no punctuation) whose form occurs earlier, the mean of the attention
    paid to those earlier occurrences, sum_{j < i, form j == form i} W[i, j]."""
    return m.pick(m.earlier)


def induction(m: WordMaps) -> np.ndarray:
    """Over the words i (no punctuation) with an earlier occurrence j < i - 1 of their form,
    the mean of sum_j W[i, j + 1]: attention to the word that followed the earlier occurrence
    (prefix matching, Olsson et al. 2022)."""
    shifted = np.zeros_like(m.earlier)  # shifted[j + 1, i] = earlier[j, i] for j < i - 1
    shifted[1:] = m.earlier[:-1] & ~np.eye(m.n, k=1, dtype=bool)[:-1, :, None]  # i != j + 1
    return m.pick(shifted)


@dataclass(frozen=True)
class Statistic:
    """One per-head statistic: its name, what it says, how it is computed and read."""

    name: str
    description: str
    compute: Callable[[WordMaps], np.ndarray]  # -> (L, H), NaN where undefined
    unit: str = ""
    floor: float = 0.0  # its natural floor: the corpus view's colour scale starts here


STATISTICS: dict[str, Statistic] = {s.name: s for s in (
    Statistic("entropy", "entropy of a word's attention over the words and the special tokens, "
              "mean over words", entropy, "nats"),
    Statistic("distance", "attention-weighted distance between words (Vig & Belinkov 2019)",
              distance, "words"),
    Statistic("self", "attention a word pays itself, mean over words", self_),
    Statistic("prev", "attention a word pays the previous word, mean over words", prev),
    Statistic("next", "attention a word pays the next word, mean over words", next_),
    Statistic("special", "attention paid to special tokens ([CLS], [SEP], ...), mean over words "
              "(Clark et al. 2019)", special),
    Statistic("punct", "attention paid to punctuation words, mean over words", punct),
    Statistic("confidence", "largest attention a word pays, mean over words (Voita et al. 2019)",
              confidence),
    Statistic("first", "attention a word pays the sentence's first word (the attention sink), "
              "mean over the words after it", first),
    Statistic("duplicate", "attention a repeated word pays its earlier occurrences, mean over "
              "the repeated words (case-folded forms, punctuation left out)", duplicate),
    Statistic("induction", "attention a repeated word pays the word after an earlier occurrence "
              "of it (prefix matching, Olsson et al. 2022), mean over the repeated words",
              induction),
)}


def list_statistics() -> list[str]:
    """The statistics' names, in the registry's order."""
    return list(STATISTICS)


@dataclass
class SentenceStats:
    """Everything the corpus view keeps of one sentence, for one measure."""

    values: np.ndarray  # (K, L, H) float32, K = len(STATISTICS), NaN where undefined
    span_mass: dict[tuple[str, str], np.ndarray]  # (a, b) -> (L, H), for labels the sentence has
    dep_correct: dict[str, np.ndarray]  # relation -> (L, H) arcs whose head the head's argmax hits
    dep_arcs: dict[str, int]  # relation -> arcs
    dep_offset: dict[str, np.ndarray]  # relation -> (len(OFFSETS),) arcs with d + k == g


def span_mass_batch(m: WordMaps, spans: list) -> list[dict[tuple[str, str], np.ndarray]]:
    """Span mass of the B sentences of a batch's `WordMaps`, spans per sentence: (a, b) -> mean
    over words i in spans labelled a of sum_{j in spans labelled b} W[i, j], (L, H), for every
    pair of a sentence's labels; sums over each span's slice of its maps (spans are ranges)."""
    C = m.sentences(m.C)  # (j, i, b, head)
    out = []
    for b, spans_b in enumerate(spans):
        by_label: dict[str, list[tuple[int, int]]] = {}
        for label, first, last in spans_b:
            by_label.setdefault(label, []).append((first, last))
        mass = {}
        for a, rows in by_label.items():  # the mean over the words i labelled a ...
            from_a = sum(C[:, f:la, b].sum(axis=1) for f, la in rows)  # (j, head)
            from_a = from_a * np.float32(1.0 / max(1, sum(la - f for f, la in rows)))
            for c, cols in by_label.items():  # ... of the sum over the words j labelled c
                mass[(a, c)] = sum(from_a[f:la].sum(axis=0) for f, la in cols).reshape(m.heads)
        out.append(mass)
    return out


Counts = tuple[dict[str, np.ndarray], dict[str, int], dict[str, np.ndarray]]


def argmax_not_self(m: WordMaps) -> np.ndarray:
    """argmax_{j != i} W[m, i, j] for every row (the lowest j on ties), (n, M) int16: row i.

    The diagonal is set below every value for the search and put back afterwards;
    the maximum over j, then a descending pass that keeps the lowest j reaching it.
    """
    n, C = m.n, m.C
    i = np.arange(n)
    own = C[i, i].copy()
    C[i, i] = -1.0  # attention is >= 0
    try:
        best_value = C.max(axis=0)
        best = np.full(best_value.shape, n - 1, dtype=np.int16)
        for j in range(n - 2, -1, -1):
            hit = (C[j] == best_value).view(np.int8)
            best -= (best - np.int16(j)) * hit
    finally:
        C[i, i] = own
    return best


def dependency_batch(m: WordMaps, arcs: list) -> list[Counts]:
    """Dependency counts of the B sentences of a batch's `WordMaps`, arcs per sentence: per
    relation, the arcs where argmax_{j != d} W[d, j] == g (lowest j on ties), the arcs, and the
    arcs with d + k == g for each fixed offset k. Arcs to the root (head -1) are not counted."""
    n = m.n
    out: list[Counts] = [({}, {}, {}) for _ in arcs]
    counted = [(b, d, g, r) for b, arcs_b in enumerate(arcs) for d, g, r in arcs_b
               if 0 <= g < n and d < n]
    if not counted:
        return out
    keys: dict[tuple[int, str], int] = {}  # (sentence, relation) -> its column
    key = np.array([keys.setdefault((b, r), len(keys)) for b, _, _, r in counted])
    sentence, dep, head = (np.array(x) for x in list(zip(*counted, strict=True))[:3])
    best = m.sentences(argmax_not_self(m))  # (n, B, heads): every word's choice
    hit = best[dep, sentence] == head[:, None]  # (A, heads)
    offsets = (head - dep)[:, None] == np.array(OFFSETS)[None, :]  # (A, 6)
    # sums per (sentence, relation): the arcs sorted by it, then added up between boundaries
    order = np.argsort(key, kind="stable")
    counts = np.bincount(key, minlength=len(keys))  # every key has at least one arc
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    correct = np.add.reduceat(hit[order].astype(np.int64), starts, axis=0)  # (pairs, heads)
    per_key = np.add.reduceat(offsets[order].astype(np.int64), starts, axis=0)  # (pairs, 6)
    for (b, r), i in keys.items():
        out[b][0][r] = correct[i].reshape(m.heads)
        out[b][1][r], out[b][2][r] = int(counts[i]), per_key[i]
    return out


def head_statistics(m: WordMaps) -> np.ndarray:
    """Every registered statistic, stacked: (K, ...) float32 for maps (..., n, n)."""
    return np.stack([s.compute(m) for s in STATISTICS.values()]).astype(np.float32, copy=False)


def sentence_stats(words: np.ndarray, word_strings: list[str], spans, arcs) -> SentenceStats:
    """Every statistic of one sentence: `words` its word maps (L, H, n, n) for one measure."""
    return batch_stats([np.asarray(words, dtype=np.float32)], [word_strings], [spans], [arcs])[0]


def batch_stats(maps: list[np.ndarray], word_strings: list[list[str]], spans: list,
                arcs: list) -> list[SentenceStats]:
    """`sentence_stats` of many sentences, computed together per group of sentences of one
    length (numpy's per-call cost is most of a short sentence's)."""
    out: list[SentenceStats | None] = [None] * len(maps)
    by_length: dict[int, list[int]] = {}
    for i, W in enumerate(maps):
        by_length.setdefault(W.shape[-1], []).append(i)
    for n, members in by_length.items():
        step = max(1, GROUP_BYTES // max(1, maps[members[0]].size * 4))
        for lo in range(0, len(members), step):
            group = members[lo:lo + step]
            punct_mask = np.array([[is_punct(w) for w in word_strings[i]] for i in group],
                                  dtype=bool).reshape(len(group), n)
            forms = np.array([form_ids(word_strings[i]) for i in group],
                             dtype=np.int32).reshape(len(group), n)
            m = WordMaps.stack([maps[i] for i in group], punct_mask, forms)
            values = head_statistics(m)  # (K, B, L, H)
            masses = span_mass_batch(m, [spans[i] for i in group])
            deps = dependency_batch(m, [arcs[i] for i in group])
            for b, i in enumerate(group):
                out[i] = SentenceStats(values[:, b], masses[b], *deps[b])
    return out  # type: ignore[return-value]
