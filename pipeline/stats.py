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
    """One sentence's word maps for one measure, with what several statistics share."""

    def __init__(self, words: np.ndarray, punct: np.ndarray) -> None:
        self.W = np.asarray(words, dtype=np.float64)  # (L, H, n, n)
        self.n = self.W.shape[-1]
        self.punct = np.asarray(punct, dtype=bool)  # (n,)

    @functools.cached_property
    def special_share(self) -> np.ndarray:
        """s[l, h, i] = max(0, 1 - sum_j W[l, h, i, j]), (L, H, n)."""
        return np.maximum(0.0, 1.0 - self.W.sum(axis=-1))

    def nan(self) -> np.ndarray:
        """An (L, H) array of NaN: the statistic is not defined for this sentence."""
        return np.full(self.W.shape[:2], np.nan)


def _xlogx(x: np.ndarray) -> np.ndarray:
    """x ln x with 0 ln 0 = 0."""
    return x * np.log(np.where(x > 0, x, 1.0))


def entropy(m: WordMaps) -> np.ndarray:
    """Mean over rows of the entropy of (W[i, :], s_i), in nats."""
    return (-_xlogx(m.W).sum(axis=-1) - _xlogx(m.special_share)).mean(axis=-1)


def distance(m: WordMaps) -> np.ndarray:
    """Attention-weighted mean distance |i - j| in words; NaN where the head pays words nothing."""
    idx = np.arange(m.n)
    total = m.W.sum(axis=(-1, -2))
    weighted = (m.W * np.abs(idx[:, None] - idx[None, :])).sum(axis=(-1, -2))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, weighted / np.where(total > 0, total, 1.0), np.nan)


def self_(m: WordMaps) -> np.ndarray:
    """Mean over rows of the attention a word pays itself, W[i, i]."""
    return np.diagonal(m.W, axis1=-2, axis2=-1).mean(axis=-1)


def prev(m: WordMaps) -> np.ndarray:
    """Mean over i = 1..n-1 of W[i, i-1]; needs two words."""
    if m.n < 2:
        return m.nan()
    return np.diagonal(m.W, offset=-1, axis1=-2, axis2=-1).mean(axis=-1)


def next_(m: WordMaps) -> np.ndarray:
    """Mean over i = 0..n-2 of W[i, i+1]; needs two words."""
    if m.n < 2:
        return m.nan()
    return np.diagonal(m.W, offset=1, axis1=-2, axis2=-1).mean(axis=-1)


def special(m: WordMaps) -> np.ndarray:
    """Mean over rows of the special share s_i (Clark et al.'s attention to [CLS]/[SEP])."""
    return m.special_share.mean(axis=-1)


def punct(m: WordMaps) -> np.ndarray:
    """Mean over rows of the attention paid to punctuation words (0 when there are none)."""
    return m.W[..., m.punct].sum(axis=-1).mean(axis=-1)


def confidence(m: WordMaps) -> np.ndarray:
    """Mean over rows of the largest attention a word pays (Voita et al.)."""
    return m.W.max(axis=-1).mean(axis=-1)


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


def span_masks(spans, n: int) -> dict[str, np.ndarray]:
    """label -> (n,) bool, the words inside any span of that label."""
    masks: dict[str, np.ndarray] = {}
    for label, first, last in spans:
        mask = masks.setdefault(label, np.zeros(n, dtype=bool))
        mask[first:last] = True
    return masks


def span_mass(m: WordMaps, masks: dict[str, np.ndarray]) -> dict[tuple[str, str], np.ndarray]:
    """(a, b) -> mean over words i in spans labelled a of sum_{j in spans labelled b} W[i, j]."""
    to_label = {b: m.W[..., mb].sum(axis=-1) for b, mb in masks.items()}  # (L, H, n) each
    return {(a, b): to_label[b][..., ma].mean(axis=-1)
            for a, ma in masks.items() for b in masks}


def dependency(m: WordMaps, arcs) -> tuple[dict[str, np.ndarray], dict[str, int],
                                           dict[str, np.ndarray]]:
    """Per relation: arcs where argmax_{j != d} W[d, j] == g (lowest j on ties), arcs, offset hits.

    Arcs to the root (head -1) are not counted.
    """
    arcs = [(d, g, r) for d, g, r in arcs if g >= 0 and d < m.n and g < m.n]
    correct: dict[str, np.ndarray] = {}
    count: dict[str, int] = {}
    offset: dict[str, np.ndarray] = {}
    if not arcs:
        return correct, count, offset
    dep = np.array([d for d, _, _ in arcs])
    head = np.array([g for _, g, _ in arcs])
    rows = m.W[..., dep, :].copy()  # (L, H, A, n): each arc's dependent row
    rows[..., np.arange(len(arcs)), dep] = -np.inf  # j != d
    hit = rows.argmax(axis=-1) == head  # (L, H, A); argmax takes the lowest j on ties
    offsets = (head - dep)[:, None] == np.array(OFFSETS)[None, :]  # (A, 6)
    for a, (_, _, rel) in enumerate(arcs):
        if rel not in count:
            correct[rel] = np.zeros(m.W.shape[:2], dtype=np.int64)
            count[rel] = 0
            offset[rel] = np.zeros(len(OFFSETS), dtype=np.int64)
        correct[rel] += hit[..., a]
        count[rel] += 1
        offset[rel] += offsets[a]
    return correct, count, offset


def sentence_stats(words: np.ndarray, word_strings: list[str], spans, arcs) -> SentenceStats:
    """Every statistic of one sentence: `words` its word maps (L, H, n, n) for one measure."""
    m = WordMaps(words, np.array([is_punct(w) for w in word_strings], dtype=bool))
    values = np.stack([s.compute(m) for s in STATISTICS.values()]).astype(np.float32)
    correct, count, offset = dependency(m, arcs)
    return SentenceStats(values, span_mass(m, span_masks(spans, m.n)), correct, count, offset)
