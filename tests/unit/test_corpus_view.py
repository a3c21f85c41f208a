"""The corpus view on the site: the index's data, the head pages, their extremes and sizes."""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pytest

from pipeline.site.build import build_site
from pipeline.site.corpus_view import (
    MIN_ARCS,
    TOP,
    CorpusView,
    _extremes_all,
    exemplar_order,
    exemplars,
    selectables,
    sentence_cases,
)
from pipeline.stats.compute import update_stats
from pipeline.stats.definitions import list_statistics
from pipeline.store import AtlasStore
from pipeline.testing import read_js_global, synthetic_sentence, write_store


def head_payload(path):
    return json.loads(re.search(r'id="atlas-head">(.*?)</script>', path.read_text(), re.S).group(1))


@pytest.fixture(scope="module")
def stats_site(tmp_path_factory):
    """40 synthetic sentences (2 layers x 3 heads) with spans and arcs; statistics; a site."""
    root = tmp_path_factory.mktemp("corpus-view")
    rng = np.random.default_rng(4)
    rows = []
    for k in range(40):
        n = 3 + k % 6
        words = [f"w{k}x{i}" for i in range(n)]
        arcs = [(i, i - 1, "left") for i in range(1, n)]
        T = n + 2
        maps = rng.dirichlet(np.full(T, 0.3), size=(2, 3, T)).astype(np.float32)
        rows.append((synthetic_sentence(f"s{k}", words, [("MOT", 0, 1), ("CHI", 1, n)], arcs,
                                        {"speaker_role": "Mother" if k % 2 else "Target_Child"}),
                     maps))
    store = write_store(root / "atlas.zarr", rows, 2, 3)
    update_stats(store)
    build_site(store, root / "site", progress=False)
    return store, root / "site"


@pytest.fixture(scope="module")
def plain_store(tmp_path_factory, stats_site):
    """The same sentences and maps, without statistics."""
    rows = [(rec.sentence, rec.attention()) for rec in AtlasStore.open(stats_site[0])]
    return write_store(tmp_path_factory.mktemp("plain") / "atlas.zarr", rows, 2, 3)


def test_the_index_carries_every_selectable_statistic_of_every_head(stats_site):
    store_path, site = stats_site
    stats = AtlasStore.open(store_path).head_stats()
    data = read_js_global(site / "data" / "_corpus.js", "atlasCorpus")
    (view,) = data["measures"]
    keys = [s["key"] for s in view["stats"]]
    assert keys[:len(stats.names)] == stats.names == list_statistics()  # the registry first
    assert {"span:MOT>CHI", "span:CHI>MOT", "span:MOT>MOT", "span:CHI>CHI"} <= set(keys)
    # "left" has 40 * (3 + 5.5 - 1) arcs >= MIN_ARCS: offered; the others none
    assert stats.dependency["left"].arcs >= MIN_ARCS and "dep:left" in keys
    prev = next(s for s in view["stats"] if s["key"] == "prev")
    np.testing.assert_allclose(np.array(prev["values"], dtype=float), stats["prev"], rtol=1e-3)
    assert prev["range"] == pytest.approx([np.nanmin(stats["prev"]), np.nanmax(stats["prev"])],
                                          rel=1e-3)
    # every statistic's colour scale starts at its natural floor: 0 (shares, distances, entropies)
    assert {s["floor"] for s in view["stats"]} == {0.0} and prev["range"][0] > 0
    html = (site / "index.html").read_text()
    assert 'id="corpus-grid"' in html and "assets/corpus.js" in html


def store_cases(store):
    """The cases behind each sentence's values, as the site gathers them."""
    return sentence_cases([len(rec.words) for rec in store], [rec.spans for rec in store])


def test_a_head_page_lists_the_ten_largest_and_smallest_sentences(stats_site):
    store_path, site = stats_site
    store = AtlasStore.open(store_path)
    stats = store.head_stats()
    tied = 0  # ties at the lists' ends that the cases decided
    for layer, head in [(1, 1), (2, 3)]:
        page = head_payload(site / "heads" / "attention" / f"l{layer}h{head}.html")
        assert (page["layer"], page["head"]) == (layer, head)
        for entry, sel in zip(page["stats"], selectables(stats, store_cases(store)), strict=True):
            column = sel.per_sentence()[:, layer - 1, head - 1]
            cases = sel.cases()
            valid = [p for p in range(len(store)) if not np.isnan(column[p])]
            # ties: more cases first (arcs, words), then corpus position
            want_top = sorted(valid, key=lambda p: (-column[p], -cases[p], p))[:TOP]
            want_bottom = sorted(valid, key=lambda p: (column[p], -cases[p], p))[:TOP]
            tied += want_top != sorted(valid, key=lambda p: (-column[p], p))[:TOP]
            tied += want_bottom != sorted(valid, key=lambda p: (column[p], p))[:TOP]
            assert [p for p, _ in entry["top"]] == want_top, entry["key"]
            assert [p for p, _ in entry["bottom"]] == want_bottom, entry["key"]
            assert [v for _, v in entry["top"]] == pytest.approx(column[want_top], rel=1e-3)
            assert sum(entry["hist"]) == len(valid)  # every sentence where it is defined
            if len(set(column[valid])) > 1:  # the histogram's edges: this head's own range
                edges = entry["edges"]
                assert len(edges) == 21 and edges == sorted(edges)
                assert (edges[0], edges[-1]) == pytest.approx(
                    (column[valid].min(), column[valid].max()), abs=(edges[1] - edges[0]) / 100)
            ranks = (-np.nan_to_num(sel.values, nan=-np.inf)).argsort(axis=None)
            if entry["rank"] == 1:
                assert np.unravel_index(ranks[0], sel.values.shape) == (layer - 1, head - 1) or \
                    sel.values[layer - 1, head - 1] == np.nanmax(sel.values)
    assert tied  # dependency accuracy ties (a share of 2 to 7 arcs): the cases decided some
    text = (site / "heads" / "attention" / "l1h1.html").read_text()
    assert "attention a word pays the previous word" in text  # the static table, without script
    assert '<a href="#s=prev">prev</a>' in text


def test_the_sentence_links_of_a_head_page_open_at_that_head(stats_site):
    _, site = stats_site
    page = head_payload(site / "heads" / "attention" / "l2h3.html")
    assert page["sentence"] == "../../sentences/{page}.html#l2h3"
    assert page["data"] == "../../data/{page}.js"
    index = read_js_global(site / "data" / "_index.js", "atlasIndexData")
    pages = [row[index["columns"].index("page")] for row in index["rows"]]
    for position, _ in page["stats"][0]["top"]:
        assert (site / "sentences" / f"{pages[position]}.html").is_file()
        assert (site / "data" / f"{pages[position]}.js").is_file()


def test_sentence_pages_link_the_head_pages_only_where_they_exist(stats_site, plain_store,
                                                                  tmp_path):
    _, site = stats_site
    page = next((site / "sentences").glob("*.html")).read_text()
    payload = json.loads(re.search(r'id="atlas-sentence">(.*?)</script>', page, re.S).group(1))
    assert payload["measures"][0]["headPage"] == "../heads/attention/l{layer}h{head}.html"
    build_site(plain_store, tmp_path / "site", progress=False)  # no statistics: no link
    page = next((tmp_path / "site" / "sentences").glob("*.html")).read_text()
    payload = json.loads(re.search(r'id="atlas-sentence">(.*?)</script>', page, re.S).group(1))
    assert payload["measures"][0]["headPage"] is None


def test_a_store_without_statistics_says_how_to_make_them(plain_store, tmp_path):
    build_site(plain_store, tmp_path / "site", progress=False)
    html = (tmp_path / "site" / "index.html").read_text()
    assert "No corpus view" in html and "attention-atlas stats" in html
    assert not (tmp_path / "site" / "heads").exists()


def test_statistics_of_an_earlier_corpus_are_not_shown(stats_site, tmp_path):
    store_path, _ = stats_site
    store = tmp_path / "atlas.zarr"
    shutil.copytree(store_path, store)
    rows = [(rec.sentence, rec.attention()) for rec in AtlasStore.open(store)][:10]
    write_store(store, rows, 2, 3)  # the next run: 10 sentences left
    build_site(store, tmp_path / "site", progress=False)
    html = (tmp_path / "site" / "index.html").read_text()
    assert "computed for an earlier corpus" in html and str(tmp_path) not in html


def test_ties_are_ordered_by_their_cases_then_by_position():
    """A per-sentence value that ties (a dependency accuracy of 1 from 1 arc or from 9) lists
    the sentence with more cases first, at both ends; equal cases keep corpus order."""
    values = np.array([1, 0, 1, 0.5, 1, 0, 0, 1, np.nan, 0], dtype=np.float32)
    cases = np.array([1, 2, 9, 4, 3, 5, 2, 3, 7, 1])
    top, bottom = _extremes_all(values.reshape(-1, 1, 1), 4, cases)
    assert top[0, 0] == [2, 4, 7, 0]  # the 1s: 9 arcs, 3, 3 (by position), 1
    assert bottom[0, 0] == [5, 1, 6, 9]  # the 0s: 5 arcs, 2, 2 (by position), 1
    plain = _extremes_all(values.reshape(-1, 1, 1), 4)  # without cases: by position
    assert plain[0][0, 0] == [0, 2, 4, 7] and plain[1][0, 0] == [1, 5, 6, 9]


def test_cases_are_the_words_the_words_in_spans_and_the_arcs(stats_site):
    store_path, _ = stats_site
    store = AtlasStore.open(store_path)
    by_key = {sel.key: sel for sel in selectables(store.head_stats(), store_cases(store))}
    words = [len(rec.words) for rec in store]
    assert by_key["prev"].cases().tolist() == words
    # MOT spans word 0, CHI words 1..n-1: span mass from MOT rests on 1 word, from CHI on n - 1
    assert by_key["span:MOT>CHI"].cases().tolist() == [1] * len(store)
    assert by_key["span:CHI>MOT"].cases().tolist() == [n - 1 for n in words]
    assert by_key["dep:left"].cases().tolist() == [n - 1 for n in words]  # an arc per word but the first


def view_of(heads: dict) -> CorpusView:
    """A corpus view with only what exemplar_order reads: each head's lists by statistic."""
    return CorpusView("m", "m", (1, 2), {}, [], {
        key: {"stats": [{"top": [[p, 0.0] for p in top], "bottom": [[p, 0.0] for p in bottom]}
                        for top, bottom in lists]}
        for key, lists in heads.items()})


def test_exemplars_get_pages_rank_by_rank_across_measures_statistics_and_heads():
    # two heads (listed out of order: the order is by layer and head), two statistics, lists
    # of up to 3; a second measure with one head and statistic
    first = view_of({(1, 2): [([20, 21, 22], [23, 24]), ([25, 26, 27], [28])],
                     (1, 1): [([10, 11, 12], [13, 14, 15]), ([16, 17], [18, 10])]})
    second = view_of({(1, 1): [([30, 31, 32], [33, 34, 35])]})
    order = exemplar_order([first, second])
    assert order == [
        # rank 1: measure 1, statistic 1 (head 1 top, bottom; head 2 top, bottom), statistic 2
        # (head 1, head 2), then measure 2
        10, 13, 20, 23, 16, 18, 25, 28, 30, 33,
        # rank 2: 10 was named already (head 1's second-lowest of statistic 2)
        11, 14, 21, 24, 17, 26, 31, 34,
        # rank 3: the lists long enough
        12, 15, 22, 27, 32, 35]
    assert set(order) == exemplars(first) | exemplars(second)
    assert exemplar_order([]) == []


def test_a_finished_run_of_no_sentences_builds_an_empty_corpus_view(tmp_path):
    """Every sentence dropped (or skipped) leaves a finished run of none: the head pages name
    nothing, and the build does not fail on an empty reduction."""
    assert _extremes_all(np.zeros((0, 2, 3)), 10)[0].shape == (2, 3)
    assert all(v == [] for v in _extremes_all(np.zeros((0, 2, 3)), 10)[1].ravel())
    store = write_store(tmp_path / "atlas.zarr", [], 2, 3)
    update_stats(store)
    build_site(store, tmp_path / "site", progress=False)
    payload = head_payload(tmp_path / "site" / "heads" / "attention" / "l1h1.html")
    assert payload and (tmp_path / "site" / "index.html").exists()
