"""Colour scales, histograms and exemplars in a browser (issue 23), on the sites the other browser
tests build (the tiny corpus through the embedded model; with statistics for the corpus view):
the sentence page's clamped colour bar and its fixed / fitted scale (`s=fit`), the corpus view's
floor-based scale and its stretch, and a head page's fitted histogram and labelled maps. One page
load a test."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.site.colours import colour_labels
from pipeline.site.contexts import get_page_names

pytestmark = pytest.mark.browser


def legend_labels(page, view: str) -> list[str]:
    """The colour bar's labels of a Vega view (a JS expression), bottom to top."""
    return page.evaluate(f"""() => {{
      const out = [];
      const walk = (node) => {{
        if (node.marktype === "text" && node.role === "legend-label") for (const item of node.items) out.push(item.text);
        for (const item of node.items || []) walk(item);
      }};
      walk(({view}).scenegraph().root);
      return out;
    }}""")


# JS: a detail cell's centre in page pixels, from the view's own scales ([row, column]: word index)
CELL = """([row, col]) => {
  const view = window.atlas.detail;
  const box = view.container().querySelector("canvas").getBoundingClientRect();
  const [ox, oy] = view.origin();
  const { left, top } = view.padding();
  const [x, y] = [view.scale("x"), view.scale("y")];
  return [box.left + left + ox + x(col) + x.bandwidth() / 2, box.top + top + oy + y(row) + y.bandwidth() / 2];
}"""

# JS: the grid's thumbnail of head k (0-based), its pixel (x, y) as [r, g, b]
THUMB_PIXEL = """async ([k, x, y]) => {
  const image = new Image();
  image.src = window.atlas.grid.data("cells")[k].url;
  await image.decode();
  const canvas = Object.assign(document.createElement("canvas"), { width: image.width, height: image.height });
  const ctx = canvas.getContext("2d");
  ctx.drawImage(image, 0, 0);
  return Array.from(ctx.getImageData(x, y, 1, 1).data.slice(0, 3));
}"""
YELLOW = [253, 231, 37]  # viridis' top


def test_the_sentence_pages_colour_bar_marks_what_it_clamps_and_fits_to_the_head(
        watched, atlas_store, artifacts):
    codes = np.round(atlas_store[1].word_maps()[0] * 255).astype(int)  # pair-2, as drawn
    top = codes[1, 2].max() / 255  # layer 2, head 3
    above = int((codes[1, 2] > 0.3 * 255).sum())
    assert above > 0  # this head has values above attention's 0.3
    page = watched.page
    page.goto(f"{watched.origin}/atlas/sentences/{get_page_names(atlas_store.ids)[1]}.html#l2h3")
    watched.wait_ready()
    detail = "window.atlas.detail"
    # fixed (the default): the colour bar's top says it clamps; a note counts the cells
    assert legend_labels(page, detail) == ["0.0", "0.1", "0.2", "\u2265 0.3"]
    assert page.input_value("#scale") == "fixed" and page.evaluate("location.hash") == "#l2h3"
    cells = "cell" if above == 1 else "cells"
    assert f"has {above} {cells} above 0.3 (up to {top:.4f})" in page.inner_text("#scale-note")
    row, col = np.unravel_index(codes[1, 2].argmax(), codes[1, 2].shape)
    x, y = page.evaluate(CELL, [int(row), int(col)])
    page.mouse.move(x, y)
    tooltip = page.locator("#vg-tooltip-element")
    tooltip.wait_for(state="visible")
    assert f"{top:.4f}" in tooltip.inner_text()  # the exact value, not the clamped one
    page.screenshot(path=str(artifacts / "scales-fixed.png"))
    # fitted: 0 to the head's largest value, in the address, kept by head changes and links
    page.select_option("#scale", "fit")
    page.wait_for_function("location.hash === '#l2h3&s=fit'")
    page.wait_for_function(f"{detail}.scale('color').domain()[1] !== 0.3")
    assert page.evaluate(f"{detail}.scale('color').domain()") == pytest.approx([0, top])
    assert legend_labels(page, detail)[-1] == colour_labels((0.0, top))[1][-1]
    assert f"largest value, {top:.4f}" in page.inner_text("#scale-note")
    # each thumbnail from 0 to its own largest value: its largest cell in the top colour
    r, c = np.unravel_index(codes[0, 0].argmax(), codes[0, 0].shape)
    assert page.evaluate(THUMB_PIXEL, [0, int(c), int(r)]) == YELLOW
    page.screenshot(path=str(artifacts / "scales-fit.png"))
    figure = page.evaluate("window.atlasFigure.view().then((v) => v.toSVG())")  # the download
    assert f">{colour_labels((0.0, top))[1][-1]}<" in figure and "\u2265" not in figure
    page.keyboard.press("ArrowRight")
    page.wait_for_function("location.hash === '#l2h4&s=fit'")
    assert page.evaluate(f"{detail}.scale('color').domain()") == pytest.approx(
        [0, max(1, codes[1, 3].max()) / 255])
    assert page.get_attribute("#next", "href").endswith("#l2h4&s=fit")
    # back to the fixed domain: the address forgets it
    page.select_option("#scale", "fixed")
    page.wait_for_function("location.hash === '#l2h4'")
    page.wait_for_function(f"{detail}.scale('color').domain()[1] === 0.3")
    watched.assert_clean()



# JS: `prev` made near-equal in every head (a random model's heads: 0.2148 to 0.2163), redrawn
NEAR_EQUAL = """async () => {
  const s = window.atlasCorpus.measures[0].stats.find((x) => x.key === "prev");
  s.values = s.values.map((row, l) => row.map((v, h) => Number((0.2148 + (l * row.length + h) * 0.0015 / 71).toFixed(4))));
  s.range = [0.2148, 0.2163];
  await window.atlasCorpusView.show("attention", "prev");
}"""


def rgb(fill: str) -> np.ndarray:
    """'rgb(r, g, b)' or '#rrggbb' -> [r, g, b]."""
    if fill.startswith("#"):
        return np.array([int(fill[i:i + 2], 16) for i in (1, 3, 5)])
    return np.array([int(v) for v in fill[fill.index("(") + 1:-1].split(",")[:3]])


def test_the_corpus_view_starts_at_the_floor_and_draws_near_equal_heads_near_equal(
        watched, stats_site, artifacts, corpus_cells):
    page = watched.page
    page.goto(f"file://{stats_site}/index.html")
    page.wait_for_function("window.atlasCorpusView && window.atlasCorpusView.view", timeout=15_000)
    view = "window.atlasCorpusView.view"
    prev = page.evaluate("window.atlasCorpus.measures[0].stats.find(s => s.key === 'prev')")
    assert prev["floor"] == 0.0 and prev["range"][0] > 0
    assert page.evaluate(f"{view}.scale('color').domain()") == [0.0, prev["range"][1]]
    ticks, labels = colour_labels((0.0, prev["range"][1]), 4)
    assert legend_labels(page, view) == labels and labels[-1] == f"{prev['range'][1]:.4g}"  # both ends
    page.evaluate(NEAR_EQUAL)
    fills = np.array([rgb(c[3]) for c in corpus_cells(page)])
    assert len(fills) == 72 and np.abs(fills.max(axis=0) - fills.min(axis=0)).max() <= 4  # near-equal
    assert legend_labels(page, view)[-1] == "0.2163"
    assert "run from 0, the statistic's floor" in page.inner_text("#corpus-description")
    page.locator(".corpus-view").screenshot(path=str(artifacts / "scales-corpus-floor.png"))
    page.check("#corpus-stretch")  # stretched: the same heads span the palette
    page.wait_for_function(f"{view}.scale('color').domain()[0] > 0.2")
    fills = {(c[0], c[1]): list(rgb(c[3])) for c in corpus_cells(page)}
    assert fills[(1, 1)] == [68, 1, 84] and fills[(6, 12)] == YELLOW
    assert [legend_labels(page, view)[i] for i in (0, -1)] == ["0.2148", "0.2163"]
    assert "stretched" in page.inner_text("#corpus-description")
    page.locator(".corpus-view").screenshot(path=str(artifacts / "scales-corpus-stretch.png"))
    # the browser's ticks are the Python's (pipeline/site/colours.py)
    domains = [(0.0, 0.3), (0.0, 0.4706), (0.0, 0.0118), (0.2148, 0.2163), (0.0, 2.871), (0.1, 0.7)]
    for digits in (3, 4):
        got = page.evaluate(f"(ds) => ds.map((d) => window.atlasScales.ticks(d, {digits}))", domains)
        for domain, want in zip(domains, got, strict=True):
            values, labels = colour_labels(domain, digits)
            assert want["labels"] == labels and want["values"] == pytest.approx(values), domain
    watched.assert_clean_file()


def test_a_head_pages_histogram_fits_its_values_and_its_maps_carry_their_words(
        watched, stats_site, artifacts):
    page = watched.page
    page.goto(f"file://{stats_site}/heads/attention/l1h3.html#s=prev")
    watched.wait_ready()
    entry = page.evaluate("JSON.parse(document.getElementById('atlas-head').textContent)"
                          ".stats.find(s => s.key === 'prev')")
    values = [v for _, v in entry["top"]]  # the whole tiny corpus: every sentence's value
    lo, hi = page.evaluate("window.atlasHead.view.scale('x').domain()")
    assert (lo, hi) == (entry["edges"][0], entry["edges"][-1])  # the axis: this head's range
    assert lo == pytest.approx(min(values), abs=1e-4) and hi == pytest.approx(max(values), abs=1e-4)
    page.wait_for_function("[...document.querySelectorAll('#top canvas')].every(c => c.width > 0)")
    maps = page.eval_on_selector_all("#top canvas", "cs => cs.map(c => [c.dataset.labelled, "
                                     "Number(c.dataset.cell), c.closest('a').getAttribute('href')])")
    assert len(maps) == 6
    for labelled, cell, href in maps:  # every sentence's words split as the store's (emoji too)
        assert labelled == "1" and cell >= 9
        assert href.startswith("../../sentences/") and href.endswith(".html#l1h3")  # at this head
    canvas = page.locator("#top canvas").first
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    cell, margin = page.evaluate("[...['cell', 'margin']].map((k) => Number(document.querySelector('#top canvas').dataset[k]))")
    page.mouse.move(box["x"] + margin + 1.5 * cell, box["y"] + margin + 0.5 * cell)  # row 1, column 2
    words = page.locator("#top .exemplar-text").first.inner_text().split()
    assert canvas.get_attribute("title").startswith(f"{words[0]} \u2192 {words[1]}: ")
    page.screenshot(path=str(artifacts / "scales-head.png"), full_page=True)
    watched.assert_clean_file()
