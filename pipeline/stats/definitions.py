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
which compare word forms (case-folded). An encoder-decoder's maps come in parts
(`Statistic.parts`): encoder and decoder have these, cross-attention (target rows x source
columns) those that mean something across two sentences and its own (pipeline.stats.cross:
alignment entropy after Ghader & Monz 2017, the diagonal, copies after See et al. 2017).
docs/store.md lists the definitions; pipeline.stats.compute keeps the results in the store and
reads them back.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from pipeline.measures import PARTS
from pipeline.stats.cross import align_entropy, copy, copy_next, diagonal
from pipeline.stats.word_maps import LN2, WordMaps, form_ids, is_punct, xlog2x

__all__ = ["WordMaps", "form_ids", "is_punct"]  # defined in pipeline.stats.word_maps, read here too

OFFSETS = (-3, -2, -1, 1, 2, 3)  # the fixed-offset baselines of dependency accuracy (d + k == g)
GROUP_BYTES = 1 << 22  # word maps computed together: small enough for each pass to stay in cache


@functools.lru_cache(maxsize=256)
def _distances(n: int) -> np.ndarray:
    """|i - j| for n words as (j, i, 1), float32."""
    idx = np.arange(n)
    return np.abs(idx[:, None] - idx[None, :]).astype(np.float32)[:, :, None]


def entropy(m: WordMaps) -> np.ndarray:
    """Mean over rows of the entropy of (W[i, :], s_i), in nats."""
    return m.per_head(-LN2 * m.row_mean(xlog2x(m.C).sum(axis=0) + xlog2x(m.special_share)))


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


CROSS = "cross"  # the part whose rows are the target's words and columns the source's
SQUARE = tuple(p for p in PARTS if p != CROSS)  # self, encoder, decoder: a stack's own words, n x n


@dataclass(frozen=True)
class Statistic:
    """One per-head statistic: its name, what it says, how it is computed and read, and the
    parts (kinds of attention map) it is defined for."""

    name: str
    description: str
    compute: Callable[[WordMaps], np.ndarray]  # -> (L, H), NaN where undefined
    unit: str = ""
    floor: float = 0.0  # its natural floor: the corpus view's colour scale starts here
    parts: tuple[str, ...] = SQUARE  # where it means something (docs/store.md says why)
    cross: str = ""  # what it says of cross-attention, where that reads otherwise

    def describe(self, part: str = "self") -> str:
        """What it says of one part."""
        return self.cross if part == CROSS and self.cross else self.description


# Cross-attention (target rows x source columns) keeps what compares a word with the source
# as a whole (entropy, special, punct, confidence) and leaves out what reads a position or a
# word form within one sentence: distance |i - j|, self (W[i, i]), prev, next, first (the
# words after the first) and the repeats (earlier occurrences) compare indices of two
# different sentences there. Its own: align_entropy, diagonal, copy, copy_next
# (pipeline.stats.cross).
STATISTICS: dict[str, Statistic] = {s.name: s for s in (
    Statistic("entropy", "entropy of a word's attention over the words and the special tokens, "
              "mean over words", entropy, "nats", parts=PARTS,
              cross="entropy of a target word's attention over the source's words and special "
                    "tokens, mean over target words"),
    Statistic("distance", "attention-weighted distance between words (Vig & Belinkov 2019)",
              distance, "words"),
    Statistic("self", "attention a word pays itself, mean over words", self_),
    Statistic("prev", "attention a word pays the previous word, mean over words", prev),
    Statistic("next", "attention a word pays the next word, mean over words", next_),
    Statistic("special", "attention paid to special tokens ([CLS], [SEP], ...), mean over words "
              "(Clark et al. 2019)", special, parts=PARTS,
              cross="attention a target word pays the source's special tokens (its end-of-"
                    "sentence token, and BART's <s>: the known sink), mean over target words"),
    Statistic("punct", "attention paid to punctuation words, mean over words", punct, parts=PARTS,
              cross="attention a target word pays the source's punctuation words, mean over "
                    "target words"),
    Statistic("confidence", "largest attention a word pays, mean over words (Voita et al. 2019)",
              confidence, parts=PARTS,
              cross="largest attention a target word pays a source word, mean over target words "
                    "(Voita et al. 2019)"),
    Statistic("first", "attention a word pays the sentence's first word (the attention sink), "
              "mean over the words after it", first),
    Statistic("duplicate", "attention a repeated word pays its earlier occurrences, mean over "
              "the repeated words (case-folded forms, punctuation left out)", duplicate),
    Statistic("induction", "attention a repeated word pays the word after an earlier occurrence "
              "of it (prefix matching, Olsson et al. 2022), mean over the repeated words",
              induction),
    Statistic("align_entropy", "entropy of a target word's attention over the source words "
              "alone (renormalised; 0 = one source word, a uniform head log2 of the source's "
              "words), mean over target words (after Ghader & Monz 2017)", align_entropy, "bits",
              parts=(CROSS,)),
    Statistic("diagonal", "attention a target word pays the source words around its relative "
              "position (word i of n_t: words round(i (n_s - 1) / (n_t - 1)) ± 1), mean over "
              "target words; a uniform head gets about 3 / n_s", diagonal, parts=(CROSS,)),
    Statistic("copy", "attention a target word pays its copies in the source (case-folded forms, "
              "punctuation left out), mean over the target words that occur in the source",
              copy, parts=(CROSS,)),
    Statistic("copy_next", "attention a target word pays the source word after a copy of it (the "
              "next word to copy: prefix matching across the pair, as induction within one "
              "sentence), mean over the target words with such a copy", copy_next,
              parts=(CROSS,)),
)}


def list_statistics(part: str = "self") -> list[str]:
    """The names of the statistics defined for a part, in the registry's order."""
    return [name for name, s in STATISTICS.items() if part in s.parts]


@dataclass
class SentenceStats:
    """Everything the corpus view keeps of one sentence, for one measure."""

    values: np.ndarray  # (K, L, H) float32, K = len(STATISTICS), NaN where undefined
    span_mass: dict[tuple[str, str], np.ndarray]  # (a, b) -> (L, H), for labels the sentence has
    dep_correct: dict[str, np.ndarray]  # relation -> (L, H) arcs whose head the head's argmax hits
    dep_arcs: dict[str, int]  # relation -> arcs
    dep_offset: dict[str, np.ndarray]  # relation -> (len(OFFSETS),) arcs with d + k == g


def span_mass_batch(m: WordMaps, spans: list, row_spans: list | None = None
                    ) -> list[dict[tuple[str, str], np.ndarray]]:
    """Span mass of the B sentences of a batch's `WordMaps`, spans per sentence: (a, b) -> mean
    over words i in spans labelled a of sum_{j in spans labelled b} W[i, j], (L, H), for every
    pair of a sentence's labels; sums over each span's slice of its maps (spans are ranges).
    `row_spans`: the rows' spans where the rows are other words (cross-attention: a the
    target's labels, b the source's)."""
    C = m.sentences(m.C)  # (j, i, b, head)
    out = []
    for b, spans_b in enumerate(spans):
        by_label = _by_label(spans_b)
        by_row_label = by_label if row_spans is None else _by_label(row_spans[b])
        mass = {}
        for a, rows in by_row_label.items():  # the mean over the words i labelled a ...
            from_a = sum(C[:, f:la, b].sum(axis=1) for f, la in rows)  # (j, head)
            from_a = from_a * np.float32(1.0 / max(1, sum(la - f for f, la in rows)))
            for c, cols in by_label.items():  # ... of the sum over the words j labelled c
                mass[(a, c)] = sum(from_a[f:la].sum(axis=0) for f, la in cols).reshape(m.heads)
        out.append(mass)
    return out


def _by_label(spans) -> dict[str, list[tuple[int, int]]]:
    """A sentence's spans (label, first, last exclusive) as label -> [(first, last)]."""
    by_label: dict[str, list[tuple[int, int]]] = {}
    for label, first, last in spans:
        by_label.setdefault(label, []).append((first, last))
    return by_label


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


def head_statistics(m: WordMaps, part: str = "self") -> np.ndarray:
    """Every statistic registered for a part, stacked: (K, ...) float32 for maps (..., r, c)."""
    return np.stack([STATISTICS[name].compute(m) for name in list_statistics(part)]
                    ).astype(np.float32, copy=False)


def sentence_stats(words: np.ndarray, word_strings: list[str], spans, arcs, *, part: str = "self",
                   row_words: list[str] | None = None, row_spans=None) -> SentenceStats:
    """Every statistic of one sentence: `words` its word maps (L, H, r, c) for one measure and
    part (`batch_stats`)."""
    return batch_stats([np.asarray(words, dtype=np.float32)], [word_strings], [spans], [arcs],
                       part=part, row_words=None if row_words is None else [row_words],
                       row_spans=None if row_spans is None else [row_spans])[0]


def batch_stats(maps: list[np.ndarray], word_strings: list[list[str]], spans: list,
                arcs: list, *, part: str = "self", row_words: list[list[str]] | None = None,
                row_spans: list | None = None) -> list[SentenceStats]:
    """`sentence_stats` of many sentences, computed together per group of sentences of one
    shape (numpy's per-call cost is most of a short sentence's). `word_strings`, `spans` and
    `arcs`: the columns' words, spans and gold arcs; for cross-attention (`part="cross"`)
    `row_words` and `row_spans` are the rows' (the target's), and no arcs are counted (gold
    trees are the source's: they say nothing of attention from the target)."""
    cross = part == CROSS
    if cross and (row_words is None or row_spans is None):
        raise ValueError("cross-attention statistics need the target's words and spans")
    out: list[SentenceStats | None] = [None] * len(maps)
    by_shape: dict[tuple[int, int], list[int]] = {}
    for i, W in enumerate(maps):
        by_shape.setdefault(W.shape[-2:], []).append(i)
    for (r, n), members in by_shape.items():
        step = max(1, GROUP_BYTES // max(1, maps[members[0]].size * 4))
        for lo in range(0, len(members), step):
            group = members[lo:lo + step]
            punct_mask = np.array([[is_punct(w) for w in word_strings[i]] for i in group],
                                  dtype=bool).reshape(len(group), n)
            if cross:  # forms numbered over both sides: equal ids are equal forms
                both = np.array([form_ids(word_strings[i] + row_words[i]) for i in group],
                                dtype=np.int32).reshape(len(group), n + r)
                m = WordMaps.stack([maps[i] for i in group], punct_mask, both[:, :n],
                                   row_punct=np.array([[is_punct(w) for w in row_words[i]]
                                                       for i in group], dtype=bool),
                                   row_forms=both[:, n:])
            else:
                forms = np.array([form_ids(word_strings[i]) for i in group],
                                 dtype=np.int32).reshape(len(group), n)
                m = WordMaps.stack([maps[i] for i in group], punct_mask, forms)
            values = head_statistics(m, part)  # (K, B, L, H)
            masses = span_mass_batch(m, [spans[i] for i in group],
                                     [row_spans[i] for i in group] if cross else None)
            deps = dependency_batch(m, [() if cross else arcs[i] for i in group])
            for b, i in enumerate(group):
                out[i] = SentenceStats(values[:, b], masses[b], *deps[b])
    return out  # type: ignore[return-value]
