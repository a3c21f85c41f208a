"""The corpus view on the site: the index's data, the head pages, their extremes and sizes."""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pytest

from pipeline.site.build import build_site
from pipeline.site.corpus_view import MIN_ARCS, TOP, selectables
from pipeline.stats.compute import update_stats
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


def test_the_index_carries_every_selectable_statistic_of_every_head(stats_site):
    store_path, site = stats_site
    stats = AtlasStore.open(store_path).head_stats()
    data = read_js_global(site / "data" / "_corpus.js", "atlasCorpus")
    (view,) = data["measures"]
    keys = [s["key"] for s in view["stats"]]
    assert keys[:8] == stats.names
    assert {"span:MOT>CHI", "span:CHI>MOT", "span:MOT>MOT", "span:CHI>CHI"} <= set(keys)
    # "left" has 40 * (3 + 5.5 - 1) arcs >= MIN_ARCS: offered; the others none
    assert stats.dependency["left"].arcs >= MIN_ARCS and "dep:left" in keys
    prev = next(s for s in view["stats"] if s["key"] == "prev")
    np.testing.assert_allclose(np.array(prev["values"], dtype=float), stats["prev"], rtol=1e-3)
    assert prev["range"] == pytest.approx([np.nanmin(stats["prev"]), np.nanmax(stats["prev"])],
                                          rel=1e-3)
    html = (site / "index.html").read_text()
    assert 'id="corpus-grid"' in html and "assets/corpus.js" in html


def test_a_head_page_lists_the_ten_largest_and_smallest_sentences(stats_site):
    store_path, site = stats_site
    store = AtlasStore.open(store_path)
    stats = store.head_stats()
    for layer, head in [(1, 1), (2, 3)]:
        page = head_payload(site / "heads" / "attention" / f"l{layer}h{head}.html")
        assert (page["layer"], page["head"]) == (layer, head)
        for entry, sel in zip(page["stats"], selectables(stats), strict=True):
            column = sel.per_sentence()[:, layer - 1, head - 1]
            valid = [p for p in range(len(store)) if not np.isnan(column[p])]
            want_top = sorted(valid, key=lambda p: (-column[p], p))[:TOP]
            want_bottom = sorted(valid, key=lambda p: (column[p], p))[:TOP]
            assert [p for p, _ in entry["top"]] == want_top, entry["key"]
            assert [p for p, _ in entry["bottom"]] == want_bottom, entry["key"]
            assert [v for _, v in entry["top"]] == pytest.approx(column[want_top], rel=1e-3)
            assert sum(entry["hist"]) == len(valid)  # every sentence where it is defined
            ranks = (-np.nan_to_num(sel.values, nan=-np.inf)).argsort(axis=None)
            if entry["rank"] == 1:
                assert np.unravel_index(ranks[0], sel.values.shape) == (layer - 1, head - 1) or \
                    sel.values[layer - 1, head - 1] == np.nanmax(sel.values)
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


def test_sentence_pages_link_the_head_pages_only_where_they_exist(stats_site, minilm_store,
                                                                  tmp_path):
    _, site = stats_site
    page = next((site / "sentences").glob("*.html")).read_text()
    payload = json.loads(re.search(r'id="atlas-sentence">(.*?)</script>', page, re.S).group(1))
    assert payload["measures"][0]["headPage"] == "../heads/attention/l{layer}h{head}.html"
    build_site(minilm_store, tmp_path / "site", progress=False)  # no statistics: no link
    page = next((tmp_path / "site" / "sentences").glob("*.html")).read_text()
    payload = json.loads(re.search(r'id="atlas-sentence">(.*?)</script>', page, re.S).group(1))
    assert payload["measures"][0]["headPage"] is None


def test_a_store_without_statistics_says_how_to_make_them(minilm_store, tmp_path):
    build_site(minilm_store, tmp_path / "site", progress=False)
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
