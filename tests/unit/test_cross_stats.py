"""Cross-attention statistics (target rows x source columns) on plain arrays: each against a
direct, loop-by-loop computation of its definition (docs/store.md), which statistics each
part has, and a sentence's values apart from the sentences computed with it."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pipeline.stats.cross import aligned_columns
from pipeline.stats.definitions import (
    STATISTICS,
    batch_stats,
    list_statistics,
    sentence_stats,
)

SELF_STATISTICS = ["entropy", "distance", "self", "prev", "next", "special", "punct", "confidence",
                   "first", "duplicate", "induction"]
CROSS_STATISTICS = ["entropy", "special", "punct", "confidence", "align_entropy", "diagonal", "copy",
                    "copy_next"]


def cross_maps(rng, L, H, n_t, n_s, sink_head=None):
    """Cross word maps (L, H, n_t, n_s) whose rows sum to at most 1 (the rest: the source's
    special tokens); `sink_head` pays every target word's attention to them."""
    W = rng.dirichlet(np.full(n_s + 1, 0.4), size=(L, H, n_t))[..., :-1].astype(np.float32)
    if sink_head is not None:
        W[sink_head] = 0.0
    return W


def direct(W, source: list[str], target: list[str]) -> dict[str, float]:
    """One head's cross statistics with loops, from their definitions."""
    n_t, n_s = len(target), len(source)

    def punct(w):
        return all(not c.isalnum() and not c.isspace() for c in w)

    def xlogx(x, base=math.e):
        return x * math.log(x, base) if x > 0 else 0.0

    s = [max(0.0, 1.0 - sum(W[i])) for i in range(n_t)]
    bits = []
    for i in range(n_t):
        a = sum(W[i])
        if a > 0:
            bits.append(-sum(xlogx(W[i][j] / a, 2) for j in range(n_s)))
    copies, nexts = [], []
    for i in range(n_t):
        same = [j for j in range(n_s) if source[j].casefold() == target[i].casefold()]
        if same and not punct(target[i]):
            copies.append(sum(W[i][j] for j in same))
        if [j for j in same if j + 1 < n_s] and not punct(target[i]):
            nexts.append(sum(W[i][j + 1] for j in same if j + 1 < n_s))

    def around(i):  # the source words within one of word i's relative position
        at = math.floor(i * (n_s - 1) / (n_t - 1) + 0.5)
        return [j for j in (at - 1, at, at + 1) if 0 <= j < n_s]
    return {
        "entropy": sum(-sum(xlogx(W[i][j]) for j in range(n_s)) - xlogx(s[i])
                       for i in range(n_t)) / n_t,
        "special": sum(s) / n_t,
        "punct": sum(sum(W[i][j] for j in range(n_s) if punct(source[j]))
                     for i in range(n_t)) / n_t,
        "confidence": sum(max(W[i]) for i in range(n_t)) / n_t,
        "align_entropy": sum(bits) / len(bits) if bits else math.nan,
        "diagonal": (sum(sum(W[i][j] for j in around(i)) for i in range(n_t)) / n_t
                     if n_t >= 2 else math.nan),
        "copy": sum(copies) / len(copies) if copies else math.nan,
        "copy_next": sum(nexts) / len(nexts) if nexts else math.nan,
    }


def test_each_part_has_its_statistics():
    assert list_statistics() == list_statistics("self") == SELF_STATISTICS  # self stores unchanged
    assert list_statistics("encoder") == list_statistics("decoder") == SELF_STATISTICS
    assert list_statistics("cross") == CROSS_STATISTICS
    assert STATISTICS["special"].describe("cross") != STATISTICS["special"].describe("encoder")
    assert "source" in STATISTICS["special"].describe("cross")
    assert STATISTICS["align_entropy"].unit == "bits"


@pytest.mark.parametrize("source,target", [
    (["Der", "Hund", "bellte", "."], ["The", "dog", "barked", "loudly", "."]),  # n_t > n_s
    (["Paris", "ist", "schön", ",", "sagt", "Anna", "!"], ["Anna", ":", "paris", "!"]),  # copies
    (["a", "b", "a", "c"], ["A", "b", "d", "c", "x", "y", "z"]),  # a copy at the source's end
    (["ein", "Wort"], ["one"]),  # one target word: no relative position
    (["x"], ["a", "b", "c"]),  # one source word
    (["a", "b", "c"], ["d", "e", "f"]),  # no copies
])
def test_every_cross_statistic_matches_a_direct_computation(source, target):
    rng = np.random.default_rng(len(source) * 10 + len(target))
    W = cross_maps(rng, 2, 3, len(target), len(source), sink_head=(1, 2))
    got = sentence_stats(W, source, (), (), part="cross", row_words=target, row_spans=())
    assert got.values.shape == (len(CROSS_STATISTICS), 2, 3)
    assert got.dep_arcs == {}
    for k, name in enumerate(CROSS_STATISTICS):
        for layer in range(2):
            for head in range(3):
                want = direct(W[layer, head].astype(np.float64).tolist(), source, target)[name]
                value = got.values[k, layer, head]
                if math.isnan(want):
                    assert math.isnan(value), (name, layer, head)
                else:
                    assert value == pytest.approx(want, abs=2e-5), (name, layer, head)
    values = dict(zip(CROSS_STATISTICS, got.values, strict=True))
    # the sink head: everything on the source's special tokens, no alignment to speak of
    assert values["special"][1, 2] == pytest.approx(1.0)
    assert math.isnan(values["align_entropy"][1, 2])


def test_aligned_columns_run_first_to_first_and_last_to_last():
    assert aligned_columns(3, 5).tolist() == [0, 2, 4]
    assert aligned_columns(4, 2).tolist() == [0, 0, 1, 1]  # 1/3 -> 0, 2/3 -> 1
    assert aligned_columns(3, 2).tolist() == [0, 1, 1]  # a half rounds up
    assert aligned_columns(5, 5).tolist() == [0, 1, 2, 3, 4]
    assert aligned_columns(2, 1).tolist() == [0, 0]


def test_a_monotone_aligning_head_against_a_uniform_one():
    """A head on the diagonal: diagonal 1, alignment entropy 0, confidence 1; a uniform head:
    the band's share (about 3 / n_s) and log2 n_s bits, the baselines the definitions name."""
    n_t, n_s = 5, 9
    W = np.zeros((1, 2, n_t, n_s), np.float32)
    W[0, 0, np.arange(n_t), aligned_columns(n_t, n_s)] = 1.0
    W[0, 1] = 1.0 / n_s
    got = dict(zip(CROSS_STATISTICS, sentence_stats(
        W, list("abcdefghi"), (), (), part="cross", row_words=list("vwxyz"), row_spans=()).values,
        strict=True))
    band = (2 + 3 + 3 + 3 + 2) / n_t / n_s  # j(i) = 0, 2, 4, 6, 8: the ends have one neighbour
    assert got["diagonal"][0].tolist() == pytest.approx([1.0, band])
    assert got["align_entropy"][0].tolist() == pytest.approx([0.0, math.log2(n_s)], abs=1e-5)
    assert got["confidence"][0, 0] == 1.0 and got["special"][0].tolist() == pytest.approx([0, 0])
    assert math.isnan(got["copy"][0, 0])  # no target word occurs in the source


def test_a_copying_head_points_at_the_next_word_to_copy():
    """A summary copying its source: the decoder, having read word i (a copy of source word i),
    attends to source word i + 1, the next to copy: copy_next 1, copy 0."""
    source, target = ["the", "cat", "sat", "on", "mats"], ["the", "cat", "sat"]
    W = np.zeros((1, 1, 3, 5), np.float32)
    W[0, 0, np.arange(3), np.arange(1, 4)] = 1.0
    got = dict(zip(CROSS_STATISTICS, sentence_stats(
        W, source, (), (), part="cross", row_words=target, row_spans=()).values, strict=True))
    assert got["copy_next"][0, 0] == 1.0 and got["copy"][0, 0] == 0.0


def test_cross_span_mass_runs_from_target_labels_to_source_labels():
    rng = np.random.default_rng(5)
    source, target = ["Anna", "sah", "Bob", "."], ["Anna", "saw", "Bob", "."]
    spans, row_spans = [("PER", 0, 1), ("PER", 2, 3)], [("NAME", 0, 1), ("NAME", 2, 3)]
    W = cross_maps(rng, 1, 2, 4, 4)
    got = sentence_stats(W, source, spans, (), part="cross", row_words=target,
                         row_spans=row_spans)
    assert set(got.span_mass) == {("NAME", "PER")}
    want = (W[0, :, 0, [0, 2]].sum(axis=0) + W[0, :, 2, [0, 2]].sum(axis=0)) / 2
    np.testing.assert_allclose(got.span_mass[("NAME", "PER")][0], want, rtol=1e-6)


def test_a_batch_of_shapes_gives_each_pair_its_own_values_and_arcs_are_not_counted():
    rng = np.random.default_rng(9)
    pairs = [(list("abcd"), list("xyz")), (list("ab"), list("bcd")), (list("abcd"), list("xaz"))]
    maps = [cross_maps(rng, 2, 2, len(t), len(s)) for s, t in pairs]
    arcs = [[(0, 1, "nsubj")]] * 3  # the source's gold arcs: nothing to say of the target's rows
    together = batch_stats(maps, [s for s, _ in pairs], [()] * 3, arcs, part="cross",
                           row_words=[t for _, t in pairs], row_spans=[()] * 3)
    for (s, t), W, got in zip(pairs, maps, together, strict=True):
        alone = sentence_stats(W, s, (), (), part="cross", row_words=t, row_spans=())
        np.testing.assert_array_equal(got.values, alone.values)
        assert got.dep_arcs == {}
    with pytest.raises(ValueError, match="target's words"):
        batch_stats(maps[:1], [pairs[0][0]], [()], [()], part="cross")
