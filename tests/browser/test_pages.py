"""The built site in a real browser, served under a sub-path to prove every link is relative."""

from __future__ import annotations

import os
import shutil

import pytest

pytestmark = pytest.mark.browser

# JS: the centre of grid cell (layer, head) in page coordinates, from the view's own scales.
CELL_CENTRE = """([l, h]) => {
  const view = window.atlas.grid;
  const box = view.container().querySelector("canvas").getBoundingClientRect();
  const [ox, oy] = view.origin();
  const x = view.scale("x"), y = view.scale("y");
  return [box.left + ox + x(h) + x.bandwidth() / 2, box.top + oy + y(l) + y.bandwidth() / 2];
}"""
# JS: how many data items a view draws with marks of a type (walks the scenegraph).
COUNT_ITEMS = """([which, type]) => {
  const count = (node) => (node.marktype === type && node.role === "mark" ? node.items.length : 0) +
    (node.items || []).reduce((n, item) => n + count(item), 0);
  return count(window.atlas[which].scenegraph().root);
}"""


def sentence_url(page, origin: str, mount: str = "/atlas/", n: int = 0, fragment: str = "") -> str:
    """The URL of the n-th sentence page, read from the index's data."""
    page.goto(f"{origin}{mount}index.html")
    page.wait_for_function("document.documentElement.dataset.ready")
    href = page.evaluate(f"window.atlasIndex.rows[{n}].page")
    return f"{origin}{mount}sentences/{href}.html{fragment}"


def open_sentence(watched, n: int = 0, fragment: str = "", mount: str = "/atlas/"):
    """Open a sentence page and wait until grid and detail are drawn."""
    page = watched.page
    page.goto(sentence_url(page, watched.origin, mount, n, fragment))
    watched.wait_ready()
    return page


def selected(page) -> tuple[int, int, str, str]:
    """(layer, head, fragment, detail title) as the page shows them."""
    return page.evaluate("""() => [window.atlas.layer, window.atlas.head, location.hash,
        document.getElementById("detail-title").textContent]""")


def test_index_lists_and_filters(watched, corpus):
    page = watched.page
    page.goto(f"{watched.origin}/atlas/index.html")
    watched.wait_ready()
    rows = page.locator("#sentence-table tbody tr")
    assert rows.count() == len(corpus)
    assert page.locator("#sentence-table tbody a").first.get_attribute("href").startswith("sentences/")
    page.fill("#search", "horse")
    assert rows.count() == 2
    page.fill("#search", "LAN")  # a span label
    assert rows.count() == 1
    page.fill("#search", "xss/<script>")  # an id, markup and all, shown as text
    assert rows.count() == 1 and rows.first.locator("a").inner_text() == "xss/<script>"
    page.fill("#search", "")
    page.click("th[data-key=words] button")
    words = [int(t) for t in page.locator("#sentence-table tbody td:nth-child(4)").all_inner_texts()]
    assert words == sorted(words)
    assert "test/random-bert" in page.inner_text(".model-card") and "6 × 12" in page.inner_text(".model-card")
    page.click("#sentence-table tbody a >> nth=0")
    watched.wait_ready()
    assert page.url.startswith(f"{watched.origin}/atlas/sentences/")
    watched.assert_clean()


def test_sentence_page_draws_grid_and_detail(watched, corpus, artifacts):
    page = open_sentence(watched)
    assert page.evaluate(COUNT_ITEMS, ["grid", "image"]) == 6 * 12
    words = corpus[0][1].split(" ")
    assert page.evaluate(COUNT_ITEMS, ["detail", "rect"]) == len(words) ** 2
    assert selected(page) == [1, 1, "", "layer 1, head 1"]
    assert page.inner_text("#sentence-text") == corpus[0][1]  # `<CHI>` literally
    svg = page.evaluate("window.atlas.detail.toSVG()")
    assert svg.count("&lt;CHI&gt;") >= 4  # both axes label both tags, as text
    assert ">ENV<" in svg and ">LAN<" in svg  # the span brackets' labels
    page.evaluate("window.atlas.select(3, 5)")
    page.screenshot(path=str(artifacts / "sentence.png"), full_page=False)
    if os.environ.get("ATLAS_UPDATE_SCREENSHOT"):
        shutil.copyfile(artifacts / "sentence.png", artifacts.parents[1] / "docs" / "screenshot.png")
    watched.assert_clean()


def test_click_keys_and_fragment(watched):
    page = open_sentence(watched)
    x, y = page.evaluate(CELL_CENTRE, [4, 7])
    page.mouse.click(x, y)
    page.wait_for_function("window.atlas.head === 7")
    assert selected(page) == [4, 7, "#l4h7", "layer 4, head 7"]
    head_shown = page.evaluate("window.atlas.detail.data('pairs')[0].head")
    assert head_shown == 7
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowUp")
    page.wait_for_function("window.atlas.layer === 3 && window.atlas.head === 8")
    assert selected(page)[2] == "#l3h8"
    for _ in range(20):
        page.keyboard.press("ArrowRight")  # stops at the last head
    page.wait_for_function("window.atlas.head === 12")
    watched.assert_clean()


def test_fragment_restores_selection(watched):
    page = open_sentence(watched, fragment="#l2h3")
    assert selected(page) == [2, 3, "#l2h3", "layer 2, head 3"]
    assert page.evaluate("window.atlas.grid.signal('selHead')") == 3
    watched.assert_clean()


@pytest.mark.parametrize("n", [1, 2], ids=["script-tag", "img-onerror"])
def test_markup_in_corpus_runs_nothing(watched, corpus, n):
    page = open_sentence(watched, n=n)
    assert page.inner_text("#sentence-text") == corpus[n][1]
    assert page.locator("main img").count() == 0
    page.hover("#detail canvas")
    watched.assert_clean()


def test_tooltip_shows_words_literally(watched):
    page = open_sentence(watched)
    box = page.locator("#detail canvas").bounding_box()
    origin = page.evaluate("window.atlas.detail.origin()")
    page.mouse.move(box["x"] + origin[0] + 5, box["y"] + origin[1] + 5)  # cell (from 0, to 0)
    tip = page.locator("#vg-tooltip-element")
    tip.wait_for(state="visible")
    text = tip.inner_text()
    assert "<CHI>" in text and "layer" in text and "saliency" in text
    watched.assert_clean()


def test_causal_site(watched):
    page = open_sentence(watched, mount="/causal/", fragment="#l2h4")
    assert page.evaluate(COUNT_ITEMS, ["grid", "image"]) == 2 * 4
    upper = page.evaluate("window.atlas.detail.data('pairs').filter(d => d.to > d.from && d.value > 0).length")
    assert upper == 0  # lower-triangular, shown as it is
    assert page.locator(".note.causal").count() == 1
    watched.assert_clean()
