"""An encoder-decoder's head pages in a browser (needs the sentence pages' data scripts per part,
s2s-page): a cross head page draws each listed pair's map with the target's words as rows and
the source's as columns, and links its sentence page at that head and part, whose head-page
link comes back to it. One head page and one sentence page."""

from __future__ import annotations

import pytest

from pipeline.store import AtlasStore

pytestmark = pytest.mark.browser

MAPS = "() => [...document.querySelectorAll('#top canvas')].map((c) => [Number(c.dataset.rows), " \
       "Number(c.dataset.words), c.dataset.labelled, c.closest('a').getAttribute('href')])"


@pytest.fixture(scope="module")
def pair_pages(pair_site):
    """The encoder-decoder's site (tests/browser/conftest.py) and its store."""
    return pair_site, AtlasStore.open(pair_site.parent / "atlas.zarr")


def test_a_cross_head_page_draws_target_rows_and_source_columns(watched, pair_pages, artifacts):
    site, store = pair_pages
    page = watched.page
    page.goto(f"file://{site}/heads/attention.cross/l3h2.html#s=diagonal")
    watched.wait_ready()
    page.wait_for_function("[...document.querySelectorAll('#top canvas')].every((c) => c.width > 0)")
    maps = page.evaluate(MAPS)
    texts = page.eval_on_selector_all("#top .exemplar-text", "ts => ts.map((t) => t.textContent)")
    by_text = {rec.text: rec for rec in (store[i] for i in range(len(store)))}
    assert len(maps) == len(store)
    for (rows, columns, labelled, href), text in zip(maps, texts, strict=True):
        source, _, target = text.partition(" \u2192 ")  # the pair: source → target
        rec = by_text[source]
        assert target == rec.target and labelled == "1"
        assert (rows, columns) == (len(rec.target_words), len(rec.words))  # target rows, source columns
        assert href.endswith("#l3h2&p=cross")
    page.locator("#top").screenshot(path=str(artifacts / "pair-head-cross.png"))
    # its sentence page at that head and part links back to this head page
    page.click("#top a >> nth=0")
    page.wait_for_url("**/sentences/*#l3h2&p=cross")
    page.wait_for_function("document.getElementById('head-page') && !document.getElementById('head-page').hidden")
    assert page.get_attribute("#head-page", "href").endswith("heads/attention.cross/l3h2.html")
    watched.assert_clean_file()
