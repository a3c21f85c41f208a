"""Per-head statistics: what each head does in one sentence, as one number per (layer, head).

The registry beside the measures (pipeline/measures.py). Every statistic is a
function of one sentence's word maps for one measure (`rec.word_maps(measure)`):
W[l, h, i, j], rows = the attending word i, and the special share
s[l, h, i] = max(0, 1 - sum_j W[l, h, i, j]), the attention row i paid to tokens
that belong to no word ([CLS], [SEP], ...). Each returns an (L, H) array, NaN
where the statistic is not defined for the sentence. Sources: Clark et al.
(2019) "What Does BERT Look At?" (special, punct, dependency accuracy and its
fixed-offset baseline), Vig & Belinkov (2019) (distance), Voita et al. (2019)
(confidence). docs/store.md lists the definitions; pipeline.store.stats keeps
the results in the store and reads them back.
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

OFFSETS = (-3, -2, -1, 1, 2, 3)  # the fixed-offset baselines of dependency accuracy (d + k == g)


def is_punct(word: str) -> bool:
    """A word made only of Unicode punctuation (general categories P*)."""
    return bool(word) and all(unicodedata.category(c).startswith("P") for c in word)


class WordMaps:
    """Word maps of one or more sentences of n words, (..., n, n), with what statistics share.

    The leading axes are (layer, head) for one sentence, (sentence, layer, head) for a
    batch of sentences of one length: every statistic reduces the last two axes.
    """

    def __init__(self, words: np.ndarray, punct: np.ndarray) -> None:
        self.W = np.asarray(words, dtype=np.float32)  # (..., n, n)
        self.n = self.W.shape[-1]
        self.punct = np.asarray(punct, dtype=bool)  # (n,), or (B, n) for a batch

    def sum_rows(self, x: np.ndarray) -> np.ndarray:
        """sum_j x[..., i, j], (..., n): a matrix product, several times numpy's sum over a short
        last axis."""
        return x @ np.ones(self.n, dtype=np.float32)

    @functools.cached_property
    def row_sum(self) -> np.ndarray:
        """sum_j W[..., i, j], (..., n)."""
        return self.sum_rows(self.W)

    @functools.cached_property
    def row_max(self) -> np.ndarray:
        """max_j W[..., i, j], (..., n): column by column, several times numpy's max over a
        short last axis."""
        out = self.W[..., 0].copy()
        for j in range(1, self.n):
            np.maximum(out, self.W[..., j], out=out)
        return out

    @functools.cached_property
    def special_share(self) -> np.ndarray:
        """s[..., i] = max(0, 1 - sum_j W[..., i, j]), (..., n)."""
        return np.maximum(0.0, 1.0 - self.row_sum)

    def row_mean(self, x: np.ndarray) -> np.ndarray:
        """Mean over the last axis (the n rows), without numpy's per-call overhead of mean()."""
        return x.sum(axis=-1) * np.float32(1.0 / x.shape[-1])

    def nan(self) -> np.ndarray:
        """An array of NaN: the statistic is not defined for these sentences."""
        return np.full(self.W.shape[:-2], np.nan, dtype=np.float32)


def _xlogx(x: np.ndarray) -> np.ndarray:
    """x ln x with 0 ln 0 = 0 (x >= 0)."""
    return x * np.log(np.maximum(x, np.float32(1e-30)))


@functools.lru_cache(maxsize=256)
def _distances(n: int) -> np.ndarray:
    """|i - j| for n words, flattened (n * n,), float32."""
    idx = np.arange(n)
    return np.abs(idx[:, None] - idx[None, :]).astype(np.float32).reshape(-1)


def entropy(m: WordMaps) -> np.ndarray:
    """Mean over rows of the entropy of (W[i, :], s_i), in nats."""
    return m.row_mean(-m.sum_rows(_xlogx(m.W)) - _xlogx(m.special_share))


def distance(m: WordMaps) -> np.ndarray:
    """Attention-weighted mean distance |i - j| in words; NaN where the head pays words nothing."""
    flat = m.W.reshape(*m.W.shape[:-2], m.n * m.n)
    total = m.row_sum.sum(axis=-1)
    weighted = flat @ _distances(m.n)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, weighted / total, np.float32(np.nan))


def self_(m: WordMaps) -> np.ndarray:
    """Mean over rows of the attention a word pays itself, W[i, i]."""
    return m.row_mean(np.diagonal(m.W, axis1=-2, axis2=-1))


def prev(m: WordMaps) -> np.ndarray:
    """Mean over i = 1..n-1 of W[i, i-1]; needs two words."""
    if m.n < 2:
        return m.nan()
    return m.row_mean(np.diagonal(m.W, offset=-1, axis1=-2, axis2=-1))


def next_(m: WordMaps) -> np.ndarray:
    """Mean over i = 0..n-2 of W[i, i+1]; needs two words."""
    if m.n < 2:
        return m.nan()
    return m.row_mean(np.diagonal(m.W, offset=1, axis1=-2, axis2=-1))


def special(m: WordMaps) -> np.ndarray:
    """Mean over rows of the special share s_i (Clark et al.'s attention to [CLS]/[SEP])."""
    return m.row_mean(m.special_share)


def punct(m: WordMaps) -> np.ndarray:
    """Mean over rows of the attention paid to punctuation words (0 when there are none)."""
    if m.punct.ndim == 1:
        return m.row_mean(m.W @ m.punct.astype(np.float32))
    # a batch: each sentence its own punctuation, (B, n) -> (B, 1, 1, n, 1)
    mask = m.punct.astype(np.float32).reshape(len(m.punct), *([1] * (m.W.ndim - 3)), m.n, 1)
    return m.row_mean((m.W @ mask)[..., 0])


def confidence(m: WordMaps) -> np.ndarray:
    """Mean over rows of the largest attention a word pays (Voita et al.)."""
    return m.row_mean(m.row_max)


@dataclass(frozen=True)
class Statistic:
    """One per-head statistic: its name, what it says, how it is computed and read."""

    name: str
    description: str
    compute: Callable[[WordMaps], np.ndarray]  # -> (L, H), NaN where undefined
    unit: str = ""


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


def span_masks(spans, n: int) -> tuple[list[str], np.ndarray]:
    """The span labels, in order of appearance, and (n, labels) float32: the words inside any
    span of each label."""
    labels: list[str] = []
    for label, _, _ in spans:
        if label not in labels:
            labels.append(label)
    masks = np.zeros((n, len(labels)), dtype=np.float32)
    for label, first, last in spans:
        masks[first:last, labels.index(label)] = 1.0
    return labels, masks


def span_mass(W: np.ndarray, spans) -> dict[tuple[str, str], np.ndarray]:
    """(a, b) -> mean over words i in spans labelled a of sum_{j in spans labelled b} W[i, j],
    for one sentence's word maps W (L, H, n, n); every pair of the sentence's labels."""
    return span_mass_batch(np.asarray(W)[None], [spans])[0]


def span_mass_batch(W: np.ndarray, spans: list) -> list[dict[tuple[str, str], np.ndarray]]:
    """`span_mass` of B sentences of one length at once: W (B, L, H, n, n), spans per sentence."""
    B, n = W.shape[0], W.shape[-1]
    labels = [span_masks(s, n) for s in spans]
    width = max((len(lab) for lab, _ in labels), default=0)
    if width == 0:
        return [{} for _ in spans]
    masks = np.zeros((B, n, width), dtype=np.float32)  # each sentence's labels, zero-padded
    for b, (lab, m) in enumerate(labels):
        masks[b, :, :len(lab)] = m
    sizes = np.maximum(masks.sum(axis=1), 1.0)  # (B, labels): words per label
    shape = (B, *([1] * (W.ndim - 3)))
    to_label = W @ masks.reshape(*shape, n, width)  # (B, L, H, n, labels)
    from_label = (masks.transpose(0, 2, 1) / sizes[:, :, None]).reshape(*shape, width, n)
    mass = from_label @ to_label  # (B, L, H, labels a, labels b)
    return [{(a, c): mass[b, ..., i, j] for i, a in enumerate(lab) for j, c in enumerate(lab)}
            for b, (lab, _) in enumerate(labels)]


Counts = tuple[dict[str, np.ndarray], dict[str, int], dict[str, np.ndarray]]


def dependency(W: np.ndarray, arcs) -> Counts:
    """Per relation: arcs where argmax_{j != d} W[d, j] == g (lowest j on ties), arcs, offset hits,
    for one sentence's word maps W (L, H, n, n). Arcs to the root (head -1) are not counted."""
    return dependency_batch(np.asarray(W)[None], [arcs])[0]


def _argmax_not_self(W: np.ndarray) -> np.ndarray:
    """argmax_{j != i} W[..., i, j] for every row i (the lowest j on ties), (..., n).

    One argmax over the maps as they are; only the rows whose largest value is their own
    diagonal are searched again with it left out (no copy of the whole maps).
    """
    n = W.shape[-1]
    best = W.argmax(axis=-1)
    own = best == np.arange(n)
    if own.any():
        rows = W[own]  # (k, n): the rows that chose themselves
        i = np.nonzero(own)[-1]
        rows[np.arange(len(i)), i] = -np.inf
        best[own] = rows.argmax(axis=-1)
    return best


def dependency_batch(W: np.ndarray, arcs: list) -> list[Counts]:
    """`dependency` of B sentences of one length at once: W (B, L, H, n, n), arcs per sentence."""
    n = W.shape[-1]
    out: list[Counts] = [({}, {}, {}) for _ in arcs]
    sentence, dep, head, key = [], [], [], []
    keys: dict[tuple[int, str], int] = {}  # (sentence, relation) -> its column
    for b, arcs_b in enumerate(arcs):
        for d, g, r in arcs_b:
            if 0 <= g < n and d < n:
                sentence.append(b)
                dep.append(d)
                head.append(g)
                key.append(keys.setdefault((b, r), len(keys)))
    if not dep:
        return out
    sentence, dep, head = np.array(sentence), np.array(dep), np.array(head)
    key = np.array(key)
    best = _argmax_not_self(W)  # (B, L, H, n): every word's choice; the lowest j on ties
    hit = best[sentence, :, :, dep] == head[:, None, None]  # (A, L, H)
    offsets = (head - dep)[:, None] == np.array(OFFSETS)[None, :]  # (A, 6)
    # sums per (sentence, relation): the arcs sorted by it, then added up between boundaries
    order = np.argsort(key, kind="stable")
    counts = np.bincount(key, minlength=len(keys))  # every key has at least one arc
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    correct = np.add.reduceat(hit[order].astype(np.int64), starts, axis=0)  # (pairs, L, H)
    per_key = np.add.reduceat(offsets[order].astype(np.int64), starts, axis=0)  # (pairs, 6)
    for (b, r), i in keys.items():
        out[b][0][r], out[b][1][r], out[b][2][r] = correct[i], int(counts[i]), per_key[i]
    return out


def head_statistics(m: WordMaps) -> np.ndarray:
    """Every registered statistic, stacked: (K, ...) float32 for maps (..., n, n)."""
    return np.stack([s.compute(m) for s in STATISTICS.values()]).astype(np.float32)


def sentence_stats(words: np.ndarray, word_strings: list[str], spans, arcs) -> SentenceStats:
    """Every statistic of one sentence: `words` its word maps (L, H, n, n) for one measure."""
    W = np.asarray(words, dtype=np.float32)
    m = WordMaps(W, np.array([is_punct(w) for w in word_strings], dtype=bool))
    return sentence_extras(head_statistics(m), span_mass(W, spans), dependency(W, arcs))


def sentence_extras(values: np.ndarray, mass: dict, deps: Counts) -> SentenceStats:
    """A sentence's statistics (K, L, H) completed with its span mass and dependency counts."""
    return SentenceStats(values, mass, *deps)


def batch_stats(maps: list[np.ndarray], word_strings: list[list[str]], spans: list,
                arcs: list) -> list[SentenceStats]:
    """`sentence_stats` of many sentences, the registered statistics computed once per group of
    sentences of one length (numpy's per-call cost is most of a short sentence's)."""
    out: list[SentenceStats | None] = [None] * len(maps)
    by_length: dict[int, list[int]] = {}
    for i, W in enumerate(maps):
        by_length.setdefault(W.shape[-1], []).append(i)
    for n, members in by_length.items():
        # at most ~16 MB of maps at a time, whatever the sentences' length
        step = max(1, (16 << 20) // max(1, maps[members[0]].size * 4))
        for lo in range(0, len(members), step):
            group = members[lo:lo + step]
            punct_mask = np.array([[is_punct(w) for w in word_strings[i]] for i in group],
                                  dtype=bool).reshape(len(group), n)
            stacked = np.stack([maps[i] for i in group]).astype(np.float32)
            values = head_statistics(WordMaps(stacked, punct_mask))  # (K, B, L, H)
            deps = dependency_batch(stacked, [arcs[i] for i in group])
            masses = span_mass_batch(stacked, [spans[i] for i in group])
            for b, i in enumerate(group):
                out[i] = sentence_extras(values[:, b], masses[b], deps[b])
    return out  # type: ignore[return-value]
