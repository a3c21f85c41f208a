"""A store in a notebook without a model (pipeline/site/notebook.py, pipeline/site/inline.py): a
record's figure and displays, its page and the corpus view inlined into one document each, the
statistics as a DataFrame; on a synthetic store written by the real writer."""

from __future__ import annotations

import re

import pytest

from pipeline.errors import ConfigError
from pipeline.site.figure import FigureError
from pipeline.site.notebook import scoped_svg, store_view
from pipeline.store import AtlasStore
from pipeline.testing import FakeStore, synthetic_store


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> AtlasStore:
    """Eight synthetic sentences through a 2 x 3 model, statistics computed."""
    return AtlasStore.open(synthetic_store(tmp_path_factory.mktemp("nb") / "atlas.zarr", 8, 2, 3, seed=5))


def ids_and_refs(svg: str) -> tuple[set[str], set[str]]:
    """The ids an SVG defines and those it refers to (url(#...), href="#...")."""
    return set(re.findall(r'id="([^"]+)"', svg)), set(re.findall(r'(?:url\(#|href="#)([^")]+)', svg))


def test_a_record_shows_its_figure_with_ids_of_its_own(store):
    rec = store[2]
    bundle = rec._repr_mimebundle_()
    assert set(bundle) == {"image/svg+xml", "text/html"}
    svg = bundle["image/svg+xml"]
    assert svg == rec._repr_svg_() and svg in rec._repr_html_() and "layer 1, head 1" in svg
    other = rec.show(layer=2, head=3, domain="fit")
    assert "layer 2, head 3" in other.svg and repr(other).startswith(f"Figure('{rec.id}: layer 2, head 3")
    defined, used = ids_and_refs(svg)
    assert used and used <= defined  # every reference finds its own figure's element
    assert not defined & ids_and_refs(other.svg)[0]  # two figures in one notebook: no shared id
    small = '<svg><clipPath id="clip0"/><g clip-path="url(#clip0)"/><use href="#clip0"/></svg>'
    scoped = scoped_svg(small)
    assert scoped == scoped_svg(small) and len(set(re.findall(r"a[0-9a-f]{8}-clip0", scoped))) == 1
    assert scoped.count("-clip0") == 3 and ids_and_refs(scoped)[1] <= ids_and_refs(scoped)[0]
    with pytest.raises(FigureError, match="layer 3 is out of range: the model has 2 layers"):
        rec.show(layer=3)
    with pytest.raises(ConfigError, match="show\\(\\): .*colour"):
        rec.show(colour="red")


def test_a_records_view_is_one_document_of_the_sites_page(store, tmp_path):
    rec = store[1]
    view = rec.view(layer=2, head=2)
    page = view.html
    assert 'data-fragment="l2h2"' in page and rec.id in page
    assert not re.search(r'src="\.\./', page)  # nothing left to fetch from a site
    assert {u.rsplit(".", 1)[1] for u in re.findall(r'href="(\.\./[^"]+)"', page)} == {"html"}  # links
    assert page.count("<script") == page.count("</script>")  # no script ends early
    sources = re.findall(r'<script src="([^"]+)"', page)
    assert len(sources) == 1 and sources[0].startswith("data:text/javascript;base64,")
    assert sources[0] in page.split('id="atlas-sentence"')[1]  # the page names its data by it
    scripts = re.findall(r"<script(?: [^>]*)?>\n(.{0,60})", page)
    assert scripts[0].startswith("// A page of the site inside a notebook")  # notebook.js first
    assert scripts[1].startswith("(() => {")  # then the Vega bundle
    assert "script-src 'unsafe-inline' 'unsafe-eval' data:" in page and "'self'" not in page
    shown = [view._repr_html_(), view._repr_html_()]
    assert shown[0] != shown[1] and all('<iframe title="' in s for s in shown)  # ids apart
    assert view.save(tmp_path / "page.html").read_text(encoding="utf-8") == page


def test_the_corpus_view_and_the_statistics(store):
    view = store.view()
    page = view.html
    assert "Heads across the corpus" in page and 'id="corpus-stat"' in page
    assert 'href="data:text/csv;base64,' in page  # the statistics' CSV, in the page
    assert ".sentences, #n-pages" in page  # no list: a notebook has no sentence pages
    frame = store.stats_frame()
    assert list(frame.columns) == ["measure", "statistic", "layer", "head", "value", "rank"]
    prev = store.stats_frame(stat="prev")
    assert len(prev) == 2 * 3 and prev["rank"].min() == 1
    assert float(prev.set_index(["layer", "head"]).loc[(1, 2), "value"]) == pytest.approx(
        float(store.head_stats()["prev"][0, 1]))


def test_a_store_without_statistics_says_how_to_make_them():
    with pytest.raises(ConfigError, match="no statistics of attention .*attention-atlas stats"):
        from pipeline.site.notebook import stats_frame

        stats_frame(FakeStore([("a", "b c", [])]))
    assert "No corpus view" in store_view(FakeStore([("a", "b c", [])])).html
