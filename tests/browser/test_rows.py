"""Several words at once on a sentence page (assets/sentence-rows.js): rows chosen by their words
(click, shift-click, shift-click on a cell) or by a span's label, their mean row under the map,
the words it draws on most, and the span x span table of the head on show; one page load."""

from __future__ import annotations

import numpy as np
import pytest
from test_pages import open_sentence

from pipeline.store import quantize

pytestmark = pytest.mark.browser

# JS: the detail's plot in page coordinates, and its row / column step
PLOT = """() => {
  const view = window.atlas.detail;
  const box = document.querySelector("#detail canvas").getBoundingClientRect();
  const [ox, oy] = view.origin();
  const { left, top } = view.padding();
  return { x0: box.left + left + ox, y0: box.top + top + oy, width: view.width(), height: view.height(),
    step: view.scale("y").step() };
}"""
ROWS = "() => [[...window.atlas.rows.rows].sort((a, b) => a - b), window.atlas.rows.label]"


def test_several_rows_and_a_span_give_their_mean_row_and_the_span_table(watched, atlas_store, artifacts):
    page = open_sentence(watched, 1, "#l2h3")  # pair-2: ENV (words 0-6), LAN (7-12)
    rec = atlas_store[1]
    maps = quantize(rec.word_maps()[0]).astype(np.float64)  # the page's 8-bit codes (L, H, W, W)
    p = page.evaluate(PLOT)
    word = lambda i: (p["x0"] - 30, p["y0"] + (i + 0.5) * p["step"])  # noqa: E731 - its label
    page.mouse.click(*word(3))
    assert page.evaluate(ROWS) == [[3], None]
    page.keyboard.down("Shift")
    page.mouse.click(*word(5))
    page.mouse.click(*word(6))
    page.keyboard.up("Shift")
    assert page.evaluate(ROWS) == [[3, 5, 6], None]
    assert page.locator("#rows-marks .rows-mark").count() == 2  # word 3; words 5-6
    mean = maps[1, 2, [3, 5, 6]].mean(axis=0) / 255  # the mean of the three rows
    top = sorted(range(len(mean)), key=lambda t: (-mean[t], t))[:5]
    note = page.locator("#rows-note").inner_text()
    assert note.startswith("3 words (picture a horse): their mean attention in layer 2, head 3 goes most to ")
    place = lambda t: f" (word {t + 1})" if rec.words.count(rec.words[t]) > 1 else ""  # noqa: E731
    named = [f"{rec.words[t]}{place(t)} {mean[t]:.3f}" for t in top]
    assert ", ".join(named) in note
    strip = page.locator("#rows-map").bounding_box()  # under the map's columns, as wide
    assert abs(strip["x"] - p["x0"]) < 1.5 and abs(strip["width"] - p["width"]) < 1.5
    page.keyboard.down("Shift")
    page.mouse.click(p["x0"] + 5, word(6)[1])  # a cell of row 6: that row again, off
    page.keyboard.up("Shift")
    assert page.evaluate(ROWS) == [[3, 5], None]
    # a span label (the LAN bracket on the left): its words, the address, the table
    page.mouse.click(p["x0"] - 15, word(9)[1])
    assert page.evaluate(ROWS) == [list(range(7, 13)), "LAN"]
    assert "span=LAN" in page.evaluate("location.hash") and "span=LAN" in page.get_attribute("#next", "href")
    page.locator("#span-table").scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts / "rows.png"), full_page=True)
    spans = {"ENV": range(0, 7), "LAN": range(7, 13)}

    def table():
        return [[float(c) for c in row.split("\t")[1:]] for row in
                page.locator("#span-table tbody").inner_text().splitlines()]

    def mass(layer, head, codes=True):
        m = maps if codes else rec.word_maps()[0]
        scale = 255 if codes else 1
        return [[m[layer, head][np.ix_(spans[a], spans[b])].sum(axis=1).mean() / scale for b in spans]
                for a in spans]

    assert np.allclose(table(), mass(1, 2), atol=5e-4)  # the page's codes, to 3 decimals
    assert np.allclose(table(), mass(1, 2, codes=False), atol=0.01)  # the store's span mass
    assert page.locator("#span-table tr[aria-current=true] th").inner_text() == "LAN"
    assert page.locator("#rows-note").inner_text().startswith("LAN's 6 words: their mean attention")
    page.keyboard.press("ArrowRight")  # another head: the same rows, its numbers
    page.wait_for_function("window.atlas.head === 4")
    assert np.allclose(table(), mass(1, 3), atol=5e-4)
    assert "layer 2, head 4" in page.locator("#rows-note").inner_text()
    page.mouse.click(p["x0"] + 30, p["y0"] + p["height"] + 15)  # the ENV bracket under the map
    assert page.evaluate(ROWS) == [list(range(0, 7)), "ENV"]
    page.keyboard.press("Escape")
    assert page.evaluate(ROWS) == [[], None] and "span" not in page.evaluate("location.hash")
    assert page.locator("#rows-marks .rows-mark").count() == 0 and not page.locator("#rows-map").is_visible()
    watched.assert_clean()
