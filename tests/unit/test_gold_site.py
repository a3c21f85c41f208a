"""Gold trees on the site (a corpus with dependency arcs, as .conllu gives them): the sentence
pages' arcs, the corpus view's baselines, the head pages' relations; and nothing of them on the
site of a corpus without arcs."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from pipeline.site.build import build_site
from pipeline.site.pages import FRAME_SLOT
from pipeline.store import AtlasStore
from pipeline.testing import (
    build_gold_site,
    read_js_global,
    read_page,
    synthetic_store,
)

GOLD_ASSETS = ["gold-corpus.js", "gold-detail.js", "gold-head.js", "gold-sentence.js", "gold-style.css"]


def page_json(path, element="atlas-sentence"):
    return json.loads(re.search(rf'id="{element}">(.*?)</script>', path.read_text(), re.S).group(1))


@pytest.fixture(scope="module")
def gold_site(tmp_path_factory):
    """30 synthetic sentences with gold trees (g03 without), 2 layers x 3 heads; a site."""
    root = tmp_path_factory.mktemp("gold")
    store = build_gold_site(root)
    return AtlasStore.open(store), root / "site"


def sentence_page(site, sid):
    return next((site / "sentences").glob(f"{sid}-*.html"))


def test_a_sentence_page_carries_its_arcs_and_one_without_carries_nothing(gold_site):
    store, site = gold_site
    rec = store["g05"]
    page = sentence_page(site, "g05")
    payload = page_json(page)
    assert payload["arcs"] == [list(a) for a in rec.arcs] == [
        [0, 1, "det"], [1, 2, "nsubj"], [2, 3, "det"], [3, 5, "nsubj"], [4, 5, "det"], [5, -1, "root"]]
    assert 'id="gold-relation"' in read_page(page)  # the figure as the browser ends up with it
    # gold-sentence.js runs from the site's one script file, its hooks before sentence.js's
    bundle = (site / "assets" / "sentence-page.js").read_text(encoding="utf-8")
    assert bundle.index("// --- assets/gold-sentence.js") < bundle.index("// --- assets/sentence.js")
    bare = sentence_page(site, "g03")  # no arcs: no key, no selector (its figure its own)
    assert "arcs" not in page_json(bare) and "gold" not in read_page(bare).replace(
        "gold-style.css", "")
    assert FRAME_SLOT in page.read_text() and FRAME_SLOT not in bare.read_text()
    # the gold layers are drawn on the detail's canvas (assets/detail-draw.js): no page names
    # vega.js, which a figure download loads
    assert "assets/vega.js" not in page.read_text() and "assets/vega.js" not in bare.read_text()


def test_the_corpus_view_marks_the_heads_above_each_relations_baseline(gold_site):
    store, site = gold_site
    deps = store.head_stats().dependency
    data = read_js_global(site / "data" / "_corpus.js", "atlasCorpus")
    entries = {s["key"]: s for s in data["measures"][0]["stats"]}
    for rel in ("det", "nsubj"):
        dep, entry = deps[rel], entries[f"dep:{rel}"]
        want = [[int(l_) + 1, int(h) + 1] for l_, h in zip(*np.nonzero(dep.accuracy > dep.baseline_accuracy),
                                                        strict=True)]
        assert entry["baseline"] == {"value": pytest.approx(dep.baseline_accuracy, rel=1e-3),
                                     "offset": dep.baseline_offset, "arcs": dep.arcs, "above": want}
    # det is always the next word: offset +1 gets every arc, and layer 1, head 2 only ties it
    assert entries["dep:det"]["baseline"]["value"] == 1.0 and entries["dep:det"]["baseline"]["offset"] == 1
    assert [1, 2] not in entries["dep:det"]["baseline"]["above"]
    assert [1, 2] in entries["dep:nsubj"]["baseline"]["above"]  # every nsubj head found
    assert entries["dep:nsubj"]["baseline"]["value"] < 1
    assert all("baseline" not in s for s in entries.values() if not s["key"].startswith("dep:"))
    html = (site / "index.html").read_text()
    assert html.index("gold-corpus.js") < html.index("assets/corpus.js")


def test_a_head_page_draws_each_relation_against_its_baseline(gold_site):
    store, site = gold_site
    deps = store.head_stats().dependency
    page = site / "heads" / "attention" / "l1h2.html"
    payload = page_json(page, "atlas-head")
    got = {d["relation"]: d for d in payload["dependency"]}
    assert sorted(got) == ["det", "nsubj"]
    for rel, d in got.items():
        assert d["key"] == f"dep:{rel}" and d["arcs"] == deps[rel].arcs
        assert d["accuracy"] == pytest.approx(deps[rel].accuracy[0, 1], rel=1e-3) == 1.0
        assert d["baseline"] == pytest.approx(deps[rel].baseline_accuracy, rel=1e-3)
        assert d["offset"] == deps[rel].baseline_offset and d["rank"] == 1
    assert got["nsubj"]["above"] and not got["det"]["above"]  # a tie is not above
    html = page.read_text()
    assert 'id="dependency-chart"' in html and "assets/gold-head.js" in html
    specs = read_js_global(site / "assets" / "specs.js", "atlasSpecs")
    assert specs["dependency"]["data"] == {"name": "relations"}
    assert sorted(p.name for p in (site / "assets").glob("gold-*")) == GOLD_ASSETS


def test_a_site_without_arcs_has_none_of_it(tmp_path):
    store = synthetic_store(tmp_path / "atlas.zarr", 6, 2, 3, seed=1)
    build_site(store, tmp_path / "site", progress=False)
    site = tmp_path / "site"
    assert not list((site / "assets").glob("gold-*"))
    assert "dependency" not in read_js_global(site / "assets" / "specs.js", "atlasSpecs")
    for page in [*site.glob("*.html"), *(site / "sentences").glob("*.html"),
                 *(site / "heads").rglob("*.html")]:
        text = page.read_text()
        assert "gold" not in text and '"arcs"' not in text and '"dependency"' not in text, page
