"""The corpus view's statistics: each against a direct computation, storage, incremental runs."""

from __future__ import annotations

import math
import unicodedata

import numpy as np
import pytest

from pipeline.corpus import read_corpus
from pipeline.errors import StaleStatsError, StoreError
from pipeline.extract.encode import remap_arcs
from pipeline.stats.compute import update_stats
from pipeline.stats.definitions import OFFSETS, batch_stats, list_statistics, sentence_stats
from pipeline.store import AtlasStore
from pipeline.testing import synthetic_sentence, write_store

# --- each statistic against a direct, loop-by-loop computation ------------------------


def direct(W: np.ndarray, words: list[str]) -> dict[str, float]:
    """One head's statistics written out with loops, from the definitions in the issue."""
    n = len(words)
    s = [max(0.0, 1.0 - sum(W[i])) for i in range(n)]

    def xlogx(x):
        return x * math.log(x) if x > 0 else 0.0

    total = sum(W[i][j] for i in range(n) for j in range(n))
    punct = [j for j, w in enumerate(words) if all(not c.isalnum() and not c.isspace() for c in w)]
    return {
        "entropy": sum(-sum(xlogx(W[i][j]) for j in range(n)) - xlogx(s[i]) for i in range(n)) / n,
        "distance": (sum(W[i][j] * abs(i - j) for i in range(n) for j in range(n)) / total
                     if total > 0 else math.nan),
        "self": sum(W[i][i] for i in range(n)) / n,
        "prev": sum(W[i][i - 1] for i in range(1, n)) / (n - 1) if n >= 2 else math.nan,
        "next": sum(W[i][i + 1] for i in range(n - 1)) / (n - 1) if n >= 2 else math.nan,
        "special": sum(s) / n,
        "punct": sum(sum(W[i][j] for j in punct) for i in range(n)) / n,
        "confidence": sum(max(W[i]) for i in range(n)) / n,
        **direct_repeats(W, words),
    }


def direct_repeats(W, words: list[str]) -> dict[str, float]:
    """`first`, `duplicate` and `induction` of one head, with loops, as issue 21 defines them:
    punctuation words are made only of Unicode punctuation (P*), forms compare case-folded."""
    n = len(words)
    forms = [w.casefold() for w in words]
    punct = [bool(w) and all(unicodedata.category(c).startswith("P") for c in w) for w in words]
    dup, ind = [], []
    for i in range(n):
        if punct[i]:
            continue
        earlier = [j for j in range(i) if forms[j] == forms[i]]
        if earlier:
            dup.append(sum(W[i][j] for j in earlier))
        before = [j for j in earlier if j < i - 1]
        if before:
            ind.append(sum(W[i][j + 1] for j in before))
    return {
        "first": sum(W[i][0] for i in range(1, n)) / (n - 1) if n >= 2 else math.nan,
        "duplicate": sum(dup) / len(dup) if dup else math.nan,
        "induction": sum(ind) / len(ind) if ind else math.nan,
    }


def maps_with_special(rng, L, H, n, causal=False, zero_head=None):
    """Word maps (L, H, n, n) whose rows sum to at most 1 (the rest is the special share)."""
    full = rng.dirichlet(np.full(n + 1, 0.4), size=(L, H, n))
    if causal:
        full[..., :-1] = np.tril(full[..., :-1])
        full /= full.sum(-1, keepdims=True)
    W = full[..., :-1].astype(np.float32)
    if zero_head is not None:  # a head that pays every word's attention to special tokens
        W[zero_head] = 0.0
    return W


@pytest.mark.parametrize("words,causal", [
    (["the", "dog", ",", "barked", "!"], False),
    (["the", "dog", ",", "barked", "!"], True),  # a causal model's triangular maps
    (["hello"], False),  # one word: prev and next are undefined
    (["a", "b"], False),
    (["no", "punctuation", "here"], False),
    (["«", "quoted", "»", "...", "x"], True),
    (["<CHI>", "painted", "a", "horse", "<chi>", "my", "Horse", ",", "a", ","], True),  # repeats
    (["The", "cat", "the", "CAT", "the", "—", "—", "cat"], False),
])
def test_every_statistic_matches_a_direct_computation(words, causal):
    rng = np.random.default_rng(len(words) + causal)
    W = maps_with_special(rng, 2, 3, len(words), causal, zero_head=(1, 2))
    got = sentence_stats(W, words, (), ())
    assert got.values.shape == (len(list_statistics()), 2, 3)
    for k, name in enumerate(list_statistics()):
        for layer in range(2):
            for head in range(3):
                want = direct(W[layer, head].astype(np.float64).tolist(), words)[name]
                value = got.values[k, layer, head]
                if math.isnan(want):
                    assert math.isnan(value), (name, layer, head)
                else:
                    assert value == pytest.approx(want, abs=1e-5), (name, layer, head)
    # the all-special head: distance undefined, special share 1, entropy 0
    k = list_statistics().index
    assert math.isnan(got.values[k("distance"), 1, 2])
    assert got.values[k("special"), 1, 2] == pytest.approx(1.0)
    assert got.values[k("entropy"), 1, 2] == pytest.approx(0.0)


def test_a_previous_word_head_scores_one_on_prev():
    n = 6
    W = np.zeros((1, 2, n, n), np.float32)
    W[0, 0, 0, 0] = 1.0
    for i in range(1, n):
        W[0, 0, i, i - 1] = 1.0
    W[0, 1] = np.eye(n)
    got = dict(zip(list_statistics(), sentence_stats(W, list("abcdef"), (), ()).values, strict=True))
    assert got["prev"][0, 0] == pytest.approx(1.0) and got["self"][0, 0] == pytest.approx(1 / n)
    assert got["self"][0, 1] == pytest.approx(1.0) and got["prev"][0, 1] == 0.0
    assert got["confidence"][0, 0] == pytest.approx(1.0) and got["entropy"][0, 0] == pytest.approx(0)
    assert got["distance"][0, 0] == pytest.approx((n - 1) / n)


def test_span_mass_against_a_direct_computation_and_absent_labels():
    rng = np.random.default_rng(3)
    words = ["<MOT>", "who", "is", "that", "<CHI>", "me"]
    spans = [("MOT", 0, 4), ("CHI", 4, 6)]
    W = maps_with_special(rng, 2, 2, len(words))
    got = sentence_stats(W, words, spans, ()).span_mass
    assert set(got) == {("MOT", "MOT"), ("MOT", "CHI"), ("CHI", "MOT"), ("CHI", "CHI")}
    for (a, b), value in got.items():
        rows = [i for label, f, la in spans if label == a for i in range(f, la)]
        cols = [j for label, f, la in spans if label == b for j in range(f, la)]
        want = np.mean([[sum(W[l_, h, i, j] for j in cols) for i in rows]
                        for l_ in range(2) for h in range(2)], axis=1).reshape(2, 2)
        np.testing.assert_allclose(value, want, atol=1e-6)
    assert sentence_stats(W, words, (), ()).span_mass == {}  # no spans, no pairs


# --- dependency accuracy ---------------------------------------------------------------

CONLLU = """\
# sent_id = dep-1
# text = The dog didn't bark.
# speaker_role = Target_Child
1\tThe\tthe\tDET\t_\t_\t2\tdet\t_\t_
2\tdog\tdog\tNOUN\t_\t_\t4\tnsubj\t_\t_
3-4\tdidn't\t_\t_\t_\t_\t_\t_\t_\t_
3\tdid\tdo\tAUX\t_\t_\t5\taux\t_\t_
4\tn't\tnot\tPART\t_\t_\t5\tadvmod\t_\t_
4.1\tELIDED\t_\t_\t_\t_\t_\t_\t_\t_
5\tbark\tbark\tVERB\t_\t_\t0\troot\t_\tSpaceAfter=No
6\t.\t.\tPUNCT\t_\t_\t5\tpunct\t_\t_

"""


def test_conllu_keeps_heads_and_relations_skipping_ranges_and_empty_nodes(tmp_path):
    path = tmp_path / "dep.conllu"
    path.write_text(CONLLU, encoding="utf-8")
    (sentence,) = read_corpus(path).sentences
    assert sentence.words == ["The", "dog", "did", "n't", "bark", "."]
    assert sentence.arcs == ((0, 1, "det"), (1, 3, "nsubj"), (2, 4, "aux"), (3, 4, "advmod"),
                             (4, -1, "root"), (5, 4, "punct"))


def test_a_head_outside_the_sentence_is_an_error_naming_the_line(tmp_path):
    path = tmp_path / "bad.conllu"
    good = CONLLU.replace("dep-1", "dep-2")
    path.write_text(good + CONLLU.replace("4\tnsubj", "9\tnsubj"), encoding="utf-8")
    report = read_corpus(path, on_error="skip")
    assert [s.id for s in report.sentences] == ["dep-2"]
    (skip,) = report.skipped
    assert skip.source == (str(path), 17) and "HEAD '9'" in skip.detail


def test_arcs_follow_merged_and_truncated_words():
    # words 0..4; word 2 merged into word 1; words from 4 cut by truncation
    new_of_old = [0, 1, 1, 2]
    arcs = ((0, 1, "det"), (2, 1, "flat"), (3, 2, "obj"), (1, -1, "root"), (4, 3, "punct"))
    assert remap_arcs(arcs, new_of_old) == ((0, 1, "det"), (2, 1, "obj"), (1, -1, "root"))


def gold_maps(n_words: int, arcs, L=1, H=2) -> np.ndarray:
    """Token maps where head 0 attends exactly from each word to its gold head (else to itself),
    head 1 to the next word; one token per word between [CLS] and [SEP]."""
    T = n_words + 2
    maps = np.zeros((L, H, T, T), np.float32)
    maps[..., 0, 0] = maps[..., T - 1, T - 1] = 1.0
    heads = {d: g for d, g, _ in arcs}
    for i in range(n_words):
        g = heads.get(i, -1)
        maps[:, 0, i + 1, (g if g >= 0 else i) + 1] = 1.0
        maps[:, 1, i + 1, min(i + 1, n_words - 1) + 1] = 1.0
    return maps


def test_dependency_accuracy_of_a_head_attending_to_the_gold_heads_is_one(tmp_path):
    path = tmp_path / "dep.conllu"
    path.write_text(CONLLU, encoding="utf-8")
    (sentence,) = read_corpus(path).sentences
    stored = synthetic_sentence(sentence.id, sentence.words, arcs=sentence.arcs)
    store_path = write_store(tmp_path / "s.zarr", [(stored, gold_maps(6, sentence.arcs))], 1, 2)
    update_stats(store_path)
    dep = AtlasStore.open(store_path).head_stats().dependency
    assert set(dep) == {"det", "nsubj", "aux", "advmod", "punct"}  # the root arc is not counted
    for rel, d in dep.items():
        assert d.arcs == 1 and d.accuracy[0, 0] == 1.0, rel
    # head 1 attends to the next word: right exactly where the gold head is the next word
    assert dep["det"].accuracy[0, 1] == 1.0 and dep["aux"].accuracy[0, 1] == 0.0
    assert dep["advmod"].accuracy[0, 1] == 1.0 and dep["punct"].accuracy[0, 1] == 0.0
    # the fixed-offset baseline: det's head is one word on (+1); punct's one word back (-1)
    assert (dep["det"].baseline_offset, dep["det"].baseline_accuracy) == (1, 1.0)
    assert (dep["punct"].baseline_offset, dep["punct"].baseline_accuracy) == (-1, 1.0)
    assert (dep["aux"].baseline_offset, dep["aux"].baseline_accuracy) == (2, 1.0)


def test_argmax_ties_take_the_lowest_word_and_skip_the_dependent_itself():
    W = np.zeros((1, 1, 4, 4), np.float32)
    W[0, 0, 2] = [0.3, 0.3, 0.4, 0.0]  # word 2 attends most to itself: excluded; tie 0/1 -> 0
    got = sentence_stats(W, list("abcd"), (), ((2, 0, "x"), (2, 1, "y")))
    assert got.dep_correct["x"][0, 0] == 1 and got.dep_correct["y"][0, 0] == 0
    assert got.dep_arcs == {"x": 1, "y": 1}
    assert list(got.dep_offset["x"]) == [int(k == -2) for k in OFFSETS]


# --- the store: incremental runs, removed sentences, the read API ---------------------


def corpus_rows(n: int, seed: int, start: int = 0):
    """Synthetic sentences with spans and arcs, and their token maps (2 layers x 3 heads)."""
    rng = np.random.default_rng(seed)
    for k in range(start, start + n):
        n_words = 1 + k % 7
        words = [f"w{k}_{i}" if i % 3 != 2 else "," for i in range(n_words)]  # unique texts
        spans = [("A", 0, max(1, n_words // 2))] + ([("B", n_words // 2, n_words)]
                                                    if n_words > 1 and k % 2 else [])
        arcs = [(i, i - 1, "left") for i in range(1, n_words)] + [(0, -1, "root")]
        T = n_words + 2
        maps = rng.dirichlet(np.full(T, 0.3), size=(2, 3, T)).astype(np.float32)
        yield synthetic_sentence(f"s{k}", words, spans, arcs, {"n": k}), maps


def test_incremental_update_equals_a_full_recomputation(tmp_path):
    first = list(corpus_rows(40, seed=1))
    path = write_store(tmp_path / "inc.zarr", first, 2, 3)
    summary = update_stats(path)
    assert (summary.computed, summary.reused) == (40, 0)
    # the next corpus: 10 sentences removed, 15 added; only the 15 are computed
    second = first[10:] + list(corpus_rows(15, seed=2, start=40))
    write_store(path, second, 2, 3)
    summary = update_stats(path)
    assert (summary.computed, summary.reused) == (15, 30)
    incremental = AtlasStore.open(path).head_stats()
    fresh = write_store(tmp_path / "fresh.zarr", second, 2, 3)
    update_stats(fresh)
    full = AtlasStore.open(fresh).head_stats()
    assert AtlasStore.open(path).ids == AtlasStore.open(fresh).ids
    for name in full.names:
        np.testing.assert_array_equal(incremental.per_sentence(name), full.per_sentence(name))
        np.testing.assert_allclose(incremental[name], full[name], rtol=1e-12, equal_nan=True)
    assert incremental.span_pairs == full.span_pairs
    for a, b in full.span_pairs:
        np.testing.assert_allclose(incremental.span_mass(a, b), full.span_mass(a, b), rtol=1e-12)
    assert incremental.dependency.keys() == full.dependency.keys()
    np.testing.assert_array_equal(incremental.dependency["left"].accuracy,
                                  full.dependency["left"].accuracy)
    # the means are the means of the current corpus's sentences, NaN-aware
    np.testing.assert_allclose(full["prev"], np.nanmean(full.per_sentence("prev"), axis=0),
                               rtol=1e-6)


def test_per_sentence_is_in_catalog_order_and_matches_each_record(tmp_path):
    rows = list(corpus_rows(12, seed=5))
    path = write_store(tmp_path / "s.zarr", rows, 2, 3)
    update_stats(path)
    store = AtlasStore.open(path)
    stats = store.head_stats()
    per = stats.per_sentence("entropy")
    assert per.shape == (12, 2, 3) and per.dtype == np.float32
    k = list_statistics().index("entropy")
    for i, rec in enumerate(store):
        want = sentence_stats(rec.word_attention(), rec.words, rec.spans, rec.sentence.arcs)
        np.testing.assert_array_equal(per[i], want.values[k])
    one_word = [i for i, rec in enumerate(store) if len(rec.words) == 1]
    assert one_word and np.isnan(stats.per_sentence("prev")[one_word]).all()
    assert (stats.defined("prev") == 12 - len(one_word)).all()
    assert stats.span_labels == ["A", "B"]
    with pytest.raises(KeyError, match="no span pair 'A' -> 'C'.*span labels: A, B"):
        stats.span_mass("A", "C")
    with pytest.raises(KeyError, match="no statistic 'bogus'; the statistics are: entropy"):
        stats["bogus"]


def test_statistics_of_an_earlier_corpus_are_refused(tmp_path):
    rows = list(corpus_rows(6, seed=7))
    path = write_store(tmp_path / "s.zarr", rows, 2, 3)
    with pytest.raises(StoreError, match="no statistics for measure 'attention'.*attention-atlas stats") as none:
        AtlasStore.open(path).head_stats()
    update_stats(path)
    with pytest.raises(StoreError, match="holds no measure 'grad'") as unknown:
        AtlasStore.open(path).head_stats("grad")
    assert not isinstance(none.value, StaleStatsError) and not isinstance(unknown.value, StaleStatsError)
    write_store(path, rows[:3], 2, 3)
    with pytest.raises(StaleStatsError, match="computed for an earlier corpus"):  # the site says so
        AtlasStore.open(path).head_stats()


def test_a_batch_of_mixed_lengths_gives_each_sentence_its_own_statistics():
    rng = np.random.default_rng(11)
    sentences = [(["a", ",", "b"], [("X", 0, 2)], [(0, 2, "r")]), (["solo"], [], []),
                 (["c", "d", "!"], [("X", 0, 1), ("Y", 1, 3)], [(1, 0, "q"), (2, 1, "r")]),
                 (["e", "f", "g", "."], [], [(3, 0, "punct")])]
    maps = [maps_with_special(rng, 2, 3, len(w), causal=bool(k % 2))
            for k, (w, _, _) in enumerate(sentences)]
    batch = batch_stats(maps, [w for w, _, _ in sentences], [s for _, s, _ in sentences],
                        [a for _, _, a in sentences])
    for got, W, (words, spans, arcs) in zip(batch, maps, sentences, strict=True):
        want = sentence_stats(W, words, spans, arcs)
        np.testing.assert_allclose(got.values, want.values, rtol=1e-6, equal_nan=True)
        assert got.span_mass.keys() == want.span_mass.keys()
        assert got.dep_arcs == want.dep_arcs
        for rel in want.dep_correct:
            np.testing.assert_array_equal(got.dep_correct[rel], want.dep_correct[rel])


def test_the_plain_zarr_recipe_of_docs_store_md_reads_the_same_values(tmp_path):
    import zarr

    path = write_store(tmp_path / "s.zarr", list(corpus_rows(9, seed=9)), 2, 3)
    update_stats(path)
    stats = AtlasStore.open(path).head_stats()
    g = zarr.open_group(str(path), mode="r")
    commit = g.attrs["atlas"]["commit"]
    rows = g[commit["catalog_array"]][: commit["catalog"]]
    s = g["stats/attention"]
    state = s.attrs["stats"]
    assert state["commit"]["catalog_array"] == commit["catalog_array"]
    per_sentence = s["per_sentence/prev"][...]  # (S, L, H) in catalog order
    np.testing.assert_array_equal(per_sentence, stats.per_sentence("prev"))
    k = state["statistics"].index("prev")
    np.testing.assert_array_equal(s["sentence"][:, k][rows], per_sentence)  # the per-row cache
    np.testing.assert_allclose(s["mean"][k], np.nanmean(per_sentence, axis=0), rtol=1e-6)
    p = [tuple(x) for x in state["span_pairs"]].index(("A", "B"))
    np.testing.assert_array_equal(s["per_sentence/span_mass"][:, p],
                                  stats.span_mass_per_sentence("A", "B"))


def test_catalog_order_arrays_follow_a_reordered_corpus_across_row_chunks(tmp_path, monkeypatch):
    """The (S, L, H) arrays are rewritten in the new catalog order when sentences move, are
    removed or added, gathering rows from several row chunks (small chunks, to cross them)."""
    import pipeline.stats.catalog as catalog_module
    import pipeline.stats.compute as stats_module

    monkeypatch.setattr(stats_module, "ROW_CHUNK", 4)
    monkeypatch.setattr(catalog_module, "POSITIONS", 5)
    first = list(corpus_rows(20, seed=11))
    path = write_store(tmp_path / "o.zarr", first, 2, 3)
    update_stats(path)
    rng = np.random.default_rng(1)
    second = [first[i] for i in rng.permutation(20)[:14]] + list(corpus_rows(3, seed=12, start=20))
    write_store(path, second, 2, 3)
    assert update_stats(path).computed == 3
    store = AtlasStore.open(path)
    assert store.ids == [sentence.id for sentence, _ in second]
    stats = store.head_stats()
    for name in ("entropy", "prev", "confidence"):
        per = stats.per_sentence(name)
        assert per.shape == (17, 2, 3)
        k = list_statistics().index(name)
        for i, rec in enumerate(store):
            want = sentence_stats(rec.word_attention(), rec.words, rec.spans, rec.sentence.arcs)
            np.testing.assert_array_equal(per[i], want.values[k])


def test_extremes_are_the_largest_and_smallest_values_with_ties_by_position():
    from pipeline.site.corpus_view import _extremes_all, ranks

    def extremes(column: np.ndarray, k: int) -> tuple[list[int], list[int]]:
        """The positions of the k largest and the k smallest values of one head's (S,) column,
        NaN left out: largest first, then smallest first; ties by position (deterministic)."""
        valid = np.flatnonzero(~np.isnan(column))
        if not len(valid):
            return [], []
        values = column[valid]
        top = valid[np.lexsort((valid, -values))[:k]]
        bottom = valid[np.lexsort((valid, values))[:k]]
        return top.tolist(), bottom.tolist()

    rng = np.random.default_rng(0)
    per = rng.integers(0, 5, size=(60, 2, 3)).astype(np.float32)
    per[rng.random(per.shape) < 0.2] = np.nan
    top, bottom = _extremes_all(per, 10)
    for layer in range(2):
        for head in range(3):
            col = per[:, layer, head]
            assert (top[layer, head], bottom[layer, head]) == extremes(col, 10)
            valid = [p for p in range(60) if not np.isnan(col[p])]
            by_value = sorted(valid, key=lambda p: (-col[p], p))
            assert top[layer, head] == by_value[:10]
            assert bottom[layer, head] == sorted(valid, key=lambda p: (col[p], p))[:10]
    np.testing.assert_array_equal(ranks(np.array([[0.5, np.nan, 0.9], [0.5, 0.1, 0.2]])),
                                  [[2, 0, 1], [2, 5, 4]])


def test_statistics_computed_by_worker_processes_equal_those_computed_in_process(tmp_path,
                                                                                  monkeypatch):
    """A large run reads and computes in a pool of processes (each reading its blocks from the
    store); forced here on a small store, in small blocks, it gives the same values."""
    import pipeline.stats.compute as stats_module

    rows = list(corpus_rows(30, seed=21))
    inline = write_store(tmp_path / "inline.zarr", rows, 2, 3)
    update_stats(inline)
    pooled = write_store(tmp_path / "pooled.zarr", rows, 2, 3)
    monkeypatch.setattr(stats_module, "PARALLEL_ROWS", 0)
    monkeypatch.setattr(stats_module, "COMPUTE_WORKERS", 2)
    monkeypatch.setattr(stats_module, "BLOCK", 4)
    used = []
    real_submit = stats_module.ProcessPoolExecutor.submit  # the pool starts when first needed
    monkeypatch.setattr(stats_module.ProcessPoolExecutor, "submit",
                        lambda self, *a: used.append(a[-1]) or real_submit(self, *a))
    assert update_stats(pooled).computed == 30
    assert sorted(r for block in used for r in block) == list(range(30)) and len(used) == 8
    a, b = AtlasStore.open(inline).head_stats(), AtlasStore.open(pooled).head_stats()
    for name in a.names:
        np.testing.assert_array_equal(a.per_sentence(name), b.per_sentence(name))
        np.testing.assert_array_equal(a[name], b[name])
    np.testing.assert_array_equal(a.dependency["left"].accuracy, b.dependency["left"].accuracy)
    np.testing.assert_array_equal(a.span_mass_per_sentence("A", "B"),
                                  b.span_mass_per_sentence("A", "B"))
    # a nightly run of a few new sentences computes them here: no processes started
    monkeypatch.setattr(stats_module, "PARALLEL_ROWS", 10)
    write_store(pooled, rows + list(corpus_rows(3, seed=22, start=30)), 2, 3)
    used.clear()
    assert update_stats(pooled).computed == 3 and used == []


# --- first, duplicate, induction (issue 21): natural repeats of word forms -----------------

VOCABULARY = ["the", "The", "THE", "dog", "Dog", "a", "ball", "<CHI>", "<chi>", "ß", "SS", ",",
              ".", "!?", "«", "»", "—", "ǅ", "ǆ"]


def random_sentences(rng, count: int, lengths=(1, 2, 3, 5, 8, 13)) -> list[list[str]]:
    """Sentences drawn from a small vocabulary: repeats, case differences, punctuation; some of
    every length, and for each length one sentence without any repeat."""
    out = [["only"], ["one", "two"], ["no", "repeat", "in", "this", "one"]]
    for k in range(count):
        n = lengths[k % len(lengths)]
        out.append([VOCABULARY[v] for v in rng.integers(0, len(VOCABULARY), n)])
    return out


def test_first_duplicate_and_induction_match_plain_loops_over_random_sentences():
    rng = np.random.default_rng(21)
    sentences = random_sentences(rng, 60)
    maps = [maps_with_special(rng, 2, 3, len(w), causal=bool(k % 2)) for k, w in enumerate(sentences)]
    got = batch_stats(maps, sentences, [()] * len(maps), [()] * len(maps))
    k = {name: list_statistics().index(name) for name in ("first", "duplicate", "induction")}
    defined = dict.fromkeys(k, 0)
    for words, W, res in zip(sentences, maps, got, strict=True):
        for layer in range(2):
            for head in range(3):
                want = direct_repeats(W[layer, head].astype(np.float64).tolist(), words)
                for name, index in k.items():
                    value = float(res.values[index, layer, head])
                    if math.isnan(want[name]):
                        assert math.isnan(value), (name, words)
                    else:
                        defined[name] += 1
                        assert value == pytest.approx(want[name], abs=1e-6), (name, words)
    assert min(defined.values()) > 50  # the draw has repeats of every kind, and sentences without


@pytest.mark.parametrize("words,first,duplicate,induction", [
    (["solo"], False, False, False),  # one word: nothing is defined
    (["no", "repeat", "here"], True, False, False),
    ([",", "a", ","], True, False, False),  # only punctuation repeats
    (["a", "A"], True, True, False),  # the repeat is right after: j = i - 1 has no j + 1 < i
    (["a", "b", "A"], True, True, True),
])
def test_where_each_is_defined(words, first, duplicate, induction):
    W = maps_with_special(np.random.default_rng(1), 1, 2, len(words))
    values = dict(zip(list_statistics(), sentence_stats(W, words, (), ()).values, strict=True))
    for name, defined in (("first", first), ("duplicate", duplicate), ("induction", induction)):
        assert (~np.isnan(values[name])).all() == defined and np.isnan(values[name]).all() != defined


def test_an_induction_head_scores_one_and_a_duplicate_head_too():
    """<CHI> painted a horse <CHI> my: the second <CHI> looks at `painted` (induction) or at the
    first <CHI> (duplicate); every other word at the first word (the sink)."""
    words = ["<CHI>", "painted", "a", "horse", "<chi>", "my"]
    W = np.zeros((1, 2, 6, 6), np.float32)
    W[0, :, :, 0] = 1.0
    W[0, 0, 4] = 0.0
    W[0, 0, 4, 1] = 1.0  # head 1: induction
    values = dict(zip(list_statistics(), sentence_stats(W, words, (), ()).values, strict=True))
    assert values["induction"][0].tolist() == [1.0, 0.0]
    assert values["duplicate"][0].tolist() == [0.0, 1.0]
    assert values["first"][0].tolist() == pytest.approx([4 / 5, 1.0])


def test_a_sentence_gets_the_same_values_in_any_batch():
    """Computed alone, or among other sentences of its length with and without repeats, or in
    another order: bit for bit the same (the values must not depend on the batch)."""
    rng = np.random.default_rng(5)
    sentences = [w for w in random_sentences(rng, 40, lengths=(8,)) if len(w) == 8]
    sentences.append([f"w{i}" for i in range(8)])  # no repeat
    maps = [maps_with_special(rng, 2, 3, 8, causal=True) for _ in sentences]
    together = batch_stats(maps, sentences, [()] * len(maps), [()] * len(maps))
    order = rng.permutation(len(maps))
    shuffled = batch_stats([maps[i] for i in order], [sentences[i] for i in order],
                           [()] * len(maps), [()] * len(maps))
    for i, words in enumerate(sentences):
        alone = sentence_stats(maps[i], words, (), ()).values
        np.testing.assert_array_equal(together[i].values, alone)
        np.testing.assert_array_equal(shuffled[int(np.flatnonzero(order == i)[0])].values, alone)
