"""Colour scales, histograms, exemplars and metadata in a browser (issue 23), on one small
synthetic site: the sentence page's clamped colour bar and its fixed / fitted scale (`s=fit`),
the corpus view's floor-based scale and its stretch, a head page's fitted histogram and
labelled exemplar maps, and the metadata's 4 significant digits. One page load per test."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.site.build import build_site
from pipeline.site.colours import colour_labels
from pipeline.stats.compute import update_stats
from pipeline.testing import synthetic_sentence, write_store

pytestmark = pytest.mark.browser

AGE = 55.55966241606604  # metadata as stored: the page shows 55.56, its title the whole


def token_maps(word_maps: np.ndarray, special: float = 0.05) -> np.ndarray:
    """(L, H, W, W) word maps, each row summing to 1 - special -> (L, H, W + 2, W + 2) token maps
    of [CLS] w1 ... wW [SEP] (one token a word), the special share on [CLS]."""
    L, H, W, _ = word_maps.shape
    out = np.zeros((L, H, W + 2, W + 2), np.float32)
    out[:, :, 1:-1, 1:-1] = word_maps
    out[:, :, 1:-1, 0] = special
    out[:, :, 0, 0] = out[:, :, -1, -1] = 1.0
    return out


def sentence_maps(rng: np.random.Generator, W: int, k: int) -> np.ndarray:
    """2 x 3 word maps: l1h1 uniform (1/W, within 0.3), l1h2 one word's row at 0.99 and
    another's at 0.47 (clamped at 0.3) in sentence 0, the others peaked at random."""
    maps = rng.dirichlet(np.full(W, 0.5), size=(2, 3, W)) * 0.95
    maps[0, 0] = 0.95 / W
    if k == 0:
        maps[0, 1, 0] = [0.99 if j == 1 else 0.0 for j in range(W)]
        maps[0, 1, 2] = [0.47 if j == 3 else 0.48 / (W - 1) for j in range(W)]
    return maps.astype(np.float32)


@pytest.fixture(scope="module")
def scales_site(tmp_path_factory):
    """8 sentences of 6 to 9 words through a synthetic 2 x 3 model, with statistics, as a site."""
    root = tmp_path_factory.mktemp("scales")
    rng = np.random.default_rng(23)
    rows = []
    for k in range(8):
        W = 6 + k % 4
        words = [f"w{k}{chr(97 + i)}" for i in range(W)]
        meta = {"adult_speaker_age": AGE, "speaker_role": "Mother", "n": k}
        rows.append((synthetic_sentence(f"s{k}", words, [("MOT", 0, 2)], (), meta),
                     token_maps(sentence_maps(rng, W, k))))
    write_store(root / "atlas.zarr", rows, 2, 3)
    update_stats(root / "atlas.zarr")
    build_site(root / "atlas.zarr", root / "site", progress=False)
    return (root / "site").resolve()


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


def sentence_page(site) -> str:
    return next(p for p in (site / "sentences").glob("s0-*.html"))


# JS: a detail cell's centre in page pixels, from the view's own scales (row, column: word index)
CELL = """([row, col]) => {
  const view = window.atlas.detail;
  const box = view.container().querySelector("canvas").getBoundingClientRect();
  const [ox, oy] = view.origin();
  const { left, top } = view.padding();
  const [x, y] = [view.scale("x"), view.scale("y")];
  return [box.left + left + ox + x(col) + x.bandwidth() / 2, box.top + top + oy + y(row) + y.bandwidth() / 2];
}"""

# JS: the grid's thumbnail of head k (0-based), its pixel (0, 0) as [r, g, b]
THUMB_PIXEL = """async (k) => {
  const image = new Image();
  image.src = window.atlas.grid.data("cells")[k].url;
  await image.decode();
  const canvas = Object.assign(document.createElement("canvas"), { width: image.width, height: image.height });
  const ctx = canvas.getContext("2d");
  ctx.drawImage(image, 0, 0);
  return Array.from(ctx.getImageData(0, 0, 1, 1).data.slice(0, 3));
}"""


def test_the_sentence_pages_colour_bar_marks_what_it_clamps_and_fits_to_the_head(
        watched, scales_site, artifacts):
    page = watched.page
    page.goto(f"file://{sentence_page(scales_site)}#l1h2")
    watched.wait_ready()
    detail = "window.atlas.detail"
    # fixed (the default): 0.99 and 0.47 are above 0.3; the colour bar's top says so
    assert legend_labels(page, detail) == ["0.0", "0.1", "0.2", "\u2265 0.3"]
    assert page.input_value("#scale") == "fixed" and "s=" not in page.evaluate("location.hash")
    note = page.inner_text("#scale-note")
    assert "above 0.3 (up to 0.9882)" in note  # 0.99 as its code, 252 / 255
    x, y = page.evaluate(CELL, [0, 1])  # w0a -> w0b: 0.99, drawn in the top colour
    page.mouse.move(x, y)
    tooltip = page.locator("#vg-tooltip-element")
    tooltip.wait_for(state="visible")
    assert "0.9882" in tooltip.inner_text()  # the exact value, not the clamped one
    page.screenshot(path=str(artifacts / "scales-fixed.png"))
    # a head within the domain: no mark
    page.evaluate("window.atlas.select(1, 1)")
    page.wait_for_function("location.hash.startsWith('#l1h1')")
    assert legend_labels(page, detail)[-1] == "0.3" and page.inner_text("#scale-note") == ""
    # fitted: 0 to the head's largest value, in the address, kept by head changes and links
    page.select_option("#scale", "fit")
    page.wait_for_function("location.hash === '#l1h1&s=fit'")
    page.wait_for_function(f"{detail}.scale('color').domain()[1] < 0.2")
    assert page.evaluate(f"{detail}.scale('color').domain()") == pytest.approx([0, 40 / 255])
    assert legend_labels(page, detail)[-1] == "0.157"  # 0.95 / 6 words, as its code 40 / 255
    assert page.evaluate(THUMB_PIXEL, 0) == [253, 231, 37]  # uniform: all its own top colour
    page.keyboard.press("ArrowRight")
    page.wait_for_function("location.hash === '#l1h2&s=fit'")
    assert page.evaluate(f"{detail}.scale('color').domain()") == pytest.approx([0, 252 / 255])
    assert legend_labels(page, detail)[-1] == "0.988" and "\u2265" not in "".join(
        legend_labels(page, detail))
    assert "largest value, 0.9882" in page.inner_text("#scale-note")
    assert page.get_attribute("#next", "href").endswith("#l1h2&s=fit")
    page.screenshot(path=str(artifacts / "scales-fit.png"))
    # the download draws what the page shows
    figure = page.evaluate("window.atlasFigure.view().then(v => { const s = v.toSVG(); return s; })")
    assert ">0.988<" in figure
    # the metadata: numbers to 4 significant digits, the whole value in the title, keys as given
    age = page.locator("dl.meta dt:text-is('adult_speaker_age') + dd")
    assert age.inner_text() == "55.56" and age.get_attribute("title") == repr(AGE)
    role = page.locator("dl.meta dt:text-is('speaker_role') + dd")
    assert role.inner_text() == "Mother" and role.get_attribute("title") is None
    # back to the fixed domain: the address forgets it
    page.select_option("#scale", "fixed")
    page.wait_for_function("location.hash === '#l1h2'")
    page.wait_for_function(f"{detail}.scale('color').domain()[1] === 0.3")
    assert legend_labels(page, detail)[-1] == "\u2265 0.3"
    watched.assert_clean_file()


# JS: the corpus view's cells as drawn: [layer, head, value, fill]
CELLS = """() => {
  const out = [];
  const walk = (node) => {
    if (node.marktype === "rect" && node.role === "mark") {
      for (const item of node.items) out.push([item.datum.layer, item.datum.head, item.datum.value, item.fill]);
    }
    for (const item of node.items || []) walk(item);
  };
  walk(window.atlasCorpusView.view.scenegraph().root);
  return out;
}"""

# JS: the corpus data's `prev` made near-equal (a random model's heads: 0.2148 to 0.2163), redrawn
NEAR_EQUAL = """async () => {
  const s = window.atlasCorpus.measures[0].stats.find((x) => x.key === "prev");
  s.values = [[0.2148, 0.2151, 0.2155], [0.2157, 0.216, 0.2163]];
  s.range = [0.2148, 0.2163];
  await window.atlasCorpusView.show("attention", "prev");
}"""


def rgb(fill: str) -> np.ndarray:
    """'rgb(r, g, b)' or '#rrggbb' -> [r, g, b]."""
    if fill.startswith("#"):
        return np.array([int(fill[i:i + 2], 16) for i in (1, 3, 5)])
    return np.array([int(v) for v in fill[fill.index("(") + 1:-1].split(",")[:3]])


def test_the_corpus_view_starts_at_the_floor_and_draws_near_equal_heads_near_equal(
        watched, scales_site, artifacts):
    page = watched.page
    page.goto(f"file://{scales_site}/index.html")
    page.wait_for_function("window.atlasCorpusView && window.atlasCorpusView.view", timeout=15_000)
    view = "window.atlasCorpusView.view"
    prev = page.evaluate("window.atlasCorpus.measures[0].stats.find(s => s.key === 'prev')")
    assert prev["floor"] == 0.0
    assert page.evaluate(f"{view}.scale('color').domain()") == [0.0, prev["range"][1]]
    labels = legend_labels(page, view)  # both ends' values
    assert labels[0] == colour_labels((0.0, prev["range"][1]), 4)[1][0] and labels[-1] == str(prev["range"][1])
    page.evaluate(NEAR_EQUAL)
    fills = np.array([rgb(c[3]) for c in page.evaluate(CELLS)])
    assert len(fills) == 6 and np.abs(fills.max(axis=0) - fills.min(axis=0)).max() <= 4  # near-equal
    assert legend_labels(page, view)[-1] == "0.2163" and "0 to the largest" not in page.inner_text(
        "#corpus-description") and "from 0, the statistic's floor" in page.inner_text("#corpus-description")
    page.locator(".corpus-view").screenshot(path=str(artifacts / "scales-corpus-floor.png"))
    page.check("#corpus-stretch")  # stretched: the same heads span the palette
    page.wait_for_function(f"{view}.scale('color').domain()[0] > 0.2")
    fills = {(c[0], c[1]): rgb(c[3]) for c in page.evaluate(CELLS)}
    assert list(fills[(1, 1)]) == [68, 1, 84] and list(fills[(2, 3)]) == [253, 231, 37]
    assert legend_labels(page, view)[0] == "0.2148" and legend_labels(page, view)[-1] == "0.2163"
    assert "stretched" in page.inner_text("#corpus-description")
    page.locator(".corpus-view").screenshot(path=str(artifacts / "scales-corpus-stretch.png"))
    # the browser's ticks are the Python's (pipeline/site/colours.py)
    domains = [(0.0, 0.3), (0.0, 0.4706), (0.0, 0.0118), (0.2148, 0.2163), (0.0, 2.871), (0.1, 0.7)]
    for digits in (3, 4):
        got = page.evaluate(f"(ds) => ds.map(d => window.atlasScales.ticks(d, {digits}))", domains)
        for domain, ticks in zip(domains, got, strict=True):
            values, labels = colour_labels(domain, digits)
            assert ticks["labels"] == labels and ticks["values"] == pytest.approx(values), domain
    watched.assert_clean_file()


def test_a_head_pages_histogram_fits_its_values_and_its_maps_carry_their_words(
        watched, scales_site, artifacts):
    page = watched.page
    page.goto(f"file://{scales_site}/heads/attention/l1h2.html#s=prev")
    watched.wait_ready()
    entry = page.evaluate("JSON.parse(document.getElementById('atlas-head').textContent)"
                          ".stats.find(s => s.key === 'prev')")
    values = [v for _, v in entry["top"]]
    lo, hi = page.evaluate("window.atlasHead.view.scale('x').domain()")
    assert (lo, hi) == (entry["edges"][0], entry["edges"][-1])  # the axis: this head's range
    assert lo == pytest.approx(min(values), abs=1e-4) and hi == pytest.approx(max(values), abs=1e-4)
    page.wait_for_function("[...document.querySelectorAll('#top canvas')].every(c => c.width > 0)")
    maps = page.eval_on_selector_all("#top canvas", "cs => cs.map(c => [c.dataset.cell, c.dataset.margin, "
                                     "c.getBoundingClientRect().width, c.closest('a').getAttribute('href')])")
    assert len(maps) == 8
    for cell, margin, width, href in maps:
        assert int(cell) >= 7 and int(margin) > 20 and width >= 100  # cells that carry words
        assert href.startswith("../../sentences/") and href.endswith(".html#l1h2")  # at this head
    canvas = page.locator("#top canvas").first
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    cell, margin = (int(v) for v in maps[0][:2])
    page.mouse.move(box["x"] + margin + 1.5 * cell, box["y"] + margin + 0.5 * cell)  # row 1, column 2
    top = page.locator("#top .exemplar-text").first.inner_text().split()
    assert canvas.get_attribute("title").startswith(f"{top[0]} \u2192 {top[1]}: ")
    page.screenshot(path=str(artifacts / "scales-head.png"), full_page=True)
    watched.assert_clean_file()
