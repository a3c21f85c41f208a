"""The built site in a real browser, served under a sub-path to prove every link is relative."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pipeline.site.data_format import encode_script

pytestmark = pytest.mark.browser

# JS: the centre of grid cell (layer, head) in page coordinates, from the view's own scales
# (the plot's origin lies inside the view's padding). DETAIL_CENTRE: the detail's cell (from, to).
CELL_CENTRE = """([l, h, which = "grid"]) => {
  const view = window.atlas[which];
  const box = view.container().querySelector("canvas").getBoundingClientRect();
  const [ox, oy] = view.origin();
  const { left, top } = view.padding();
  const x = view.scale("x"), y = view.scale("y");
  return [box.left + left + ox + x(h) + x.bandwidth() / 2, box.top + top + oy + y(l) + y.bandwidth() / 2];
}"""
DETAIL_CENTRE = CELL_CENTRE.replace('which = "grid"', 'which = "detail"')
# JS: how many thumbnails the grid's canvas drew the last time (assets/grid-draw.js)
GRID_THUMBS = "window.atlas.grid.drawn"
# JS: the grid canvas's colour at the middle of cell (layer, head)'s top edge, where the selected
# head's outline runs: [r, g, b]
OUTLINE_AT = """([l, h]) => {
  const view = window.atlas.grid, canvas = view.container().querySelector("canvas");
  const ratio = canvas.width / canvas.getBoundingClientRect().width;
  const [ox, oy] = view.origin(), { left, top } = view.padding();
  const x = left + ox + view.scale("x")(h) + view.scale("x").bandwidth() / 2, y = top + oy + view.scale("y")(l);
  return Array.from(canvas.getContext("2d").getImageData(Math.floor(x * ratio), Math.floor(y * ratio), 1, 1).data.slice(0, 3));
}"""
# JS: how many data items a view draws with marks of a type (walks the scenegraph).
COUNT_ITEMS = """([which, type]) => {
  const count = (node) => (node.marktype === type && node.role === "mark" ? node.items.length : 0) +
    (node.items || []).reduce((n, item) => n + count(item), 0);
  return count(window.atlas[which].scenegraph().root);
}"""


# JS: the detail canvas's colours (assets/detail-draw.js) where its scenegraph puts the colour bar's
# gradient (2 px inside its top and bottom ends, mid-thickness) and each span bracket's middle
# (its line, between the 2nd and 3rd corners): {bar: [[r, g, b] top, bottom], brackets: [[r, g, b], ...]}
DETAIL_INKS = """() => {
  const view = window.atlas.detail;
  const canvas = view.container().querySelector("canvas");
  const ratio = canvas.width / canvas.getBoundingClientRect().width;
  const [ox, oy] = view.origin(), { left, top } = view.padding();
  const ink = (x, y) => Array.from(canvas.getContext("2d").getImageData(
    Math.floor((left + ox + x) * ratio), Math.floor((top + oy + y) * ratio), 1, 1).data.slice(0, 3));
  const nodes = [];
  const walk = (node) => { nodes.push(node); for (const item of node.items || []) if (item.items) walk(item); };
  walk(view.scenegraph().root);
  const bar = nodes.find((n) => n.role === "legend-gradient").items[0];
  const lines = nodes.find((n) => n.marktype === "line").items;
  return { bar: [ink(bar.x + bar.width / 2, bar.y + 2), ink(bar.x + bar.width / 2, bar.y + bar.height - 2)],
    brackets: lines.map(({ points: [, [x1, y1], [x2, y2]] }) => ink((x1 + x2) / 2, (y1 + y2) / 2)) };
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


def test_index_lists_and_filters(watched, atlas_store, artifacts):
    page = watched.page
    page.goto(f"{watched.origin}/atlas/index.html")
    watched.wait_ready()
    page.screenshot(path=str(artifacts / "index.png"))
    rows = page.locator("#sentence-table tbody tr")
    assert rows.count() == len(atlas_store)
    assert page.locator("#sentence-table tbody a").first.get_attribute("href").startswith("sentences/")
    page.fill("#search", "horse")
    assert rows.count() == 1
    page.fill("#search", "LAN")  # a span label
    assert rows.count() == 1
    page.fill("#search", "xss")  # ids
    assert rows.count() == 2
    page.fill("#search", "<script>")  # markup in the text, searched and shown as text
    assert rows.count() == 1 and "<script>alert(1)</script>" in rows.first.inner_text()
    page.fill("#search", "")
    page.click("th[data-key=words] button")
    words = [int(t) for t in page.locator("#sentence-table tbody td:nth-child(4)").all_inner_texts()]
    assert words == sorted(words) and len(words) == len(atlas_store)
    card = page.inner_text(".model-card")
    assert atlas_store.model["name"] in card and "6 × 12" in card
    page.click("#sentence-table tbody a >> nth=0")
    watched.wait_ready()
    assert page.url.startswith(f"{watched.origin}/atlas/sentences/")
    watched.assert_clean()


def test_sentence_page_draws_grid_and_detail(watched, atlas_store, artifacts):
    rec = atlas_store["pair-2"]  # the reference figure's sentence
    page = open_sentence(watched, n=atlas_store.ids.index("pair-2"))
    assert page.evaluate(GRID_THUMBS) == 6 * 12
    assert page.evaluate(COUNT_ITEMS, ["detail", "rect"]) == len(rec.words) ** 2
    assert selected(page) == [1, 1, "", "layer 1, head 1"]
    assert page.inner_text("#sentence-text") == rec.text  # `<CHI>` literally
    svg = page.evaluate("window.atlas.detail.toSVG()")
    assert svg.count(">&lt;CHI&gt;<") == 4  # two tags, on both axes, as text
    assert svg.count(">ENV<") == 2 and svg.count(">LAN<") == 2  # the span brackets' labels
    assert ">attention<" in svg  # the colour bar: the measure's title
    inks = page.evaluate(DETAIL_INKS)  # drawn where the view says: viridis' ends, the brackets' ink
    assert np.abs(np.array(inks["bar"]) - [[253, 231, 37], [68, 1, 84]]).max() <= 12
    assert len(inks["brackets"]) == 4 and np.array(inks["brackets"]).max() <= 128  # #333 on white, antialiased
    page.evaluate("window.atlas.select(2, 3)")
    page.wait_for_function("window.atlas.head === 3")
    page.screenshot(path=str(artifacts / "sentence.png"), full_page=False)
    watched.assert_clean()


def test_click_keys_and_fragment(watched):
    page = open_sentence(watched)
    x, y = page.evaluate(CELL_CENTRE, [4, 7])
    page.mouse.move(x, y)  # the grid's canvas names the head under the pointer, with the hand
    assert page.evaluate("(c) => [c.title, c.style.cursor]", page.query_selector("#grid canvas")) == [
        "layer 4, head 7", "pointer"]
    page.mouse.click(x, y)
    page.wait_for_function("window.atlas.head === 7")
    assert selected(page) == [4, 7, "#l4h7", "layer 4, head 7"]
    # the outline moved: drawn round the new head, gone from the old one (its cells repainted)
    assert page.evaluate(OUTLINE_AT, [4, 7]) == [255, 212, 0]
    assert page.evaluate(OUTLINE_AT, [1, 1]) != [255, 212, 0]
    assert page.evaluate("window.atlas.detail.data('pairs')[0].head") == 7
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowUp")
    page.wait_for_function("window.atlas.layer === 3 && window.atlas.head === 8")
    assert selected(page)[2] == "#l3h8"
    for _ in range(6):
        page.keyboard.press("ArrowRight")  # stops at the last head
    page.wait_for_function("window.atlas.head === 12")
    assert selected(page)[2] == "#l3h12"
    watched.assert_clean()


def test_fragment_restores_selection(watched):
    page = open_sentence(watched, fragment="#l2h3")
    assert selected(page) == [2, 3, "#l2h3", "layer 2, head 3"]
    assert page.evaluate("[window.atlas.grid.signal('selLayer'), window.atlas.grid.signal('selHead')]") == [2, 3]
    page.evaluate("location.hash = '#l5h1'")  # editing the address selects too
    page.wait_for_function("window.atlas.layer === 5 && window.atlas.head === 1")
    watched.assert_clean()


@pytest.mark.parametrize("sid", ["xss/script", "xss onerror"])
def test_markup_in_corpus_runs_nothing(watched, atlas_store, sid):
    page = open_sentence(watched, n=atlas_store.ids.index(sid))
    assert page.inner_text("#sentence-text") == atlas_store[sid].text
    assert page.locator("main img").count() == 0
    page.hover("#detail canvas")
    page.keyboard.press("ArrowDown")
    page.wait_for_function("window.atlas.layer === 2")
    watched.assert_clean()


def test_tooltip_shows_words_literally(watched, atlas_store):
    page = open_sentence(watched, n=atlas_store.ids.index("pair-2"))
    box = page.locator("#detail canvas").bounding_box()
    origin = page.evaluate("window.atlas.detail.origin()")
    page.mouse.move(box["x"] + origin[0] + 5, box["y"] + origin[1] + 5)  # cell (from 0, to 0)
    tip = page.locator("#vg-tooltip-element")
    tip.wait_for(state="visible")
    text = tip.inner_text()
    assert text.count("<CHI>") == 2 and "layer" in text and "attention" in text
    watched.assert_clean()


def test_maps_js_decodes_the_golden_file(watched):
    """assets/maps.js, as the site ships it, reads tests/golden/sentence.js and sentence-plain.js
    (sentence.bin and sentence-plain.bin as data scripts: each layout of the maps and of the
    shares) to the same codes as pipeline.site.data_format (tests/unit/test_site_format.py)."""
    page = open_sentence(watched)
    for name in ("sentence", "sentence-plain"):
        golden = json.loads((Path(__file__).parents[1] / "golden" / f"{name}.json").read_text())
        got = page.evaluate("""async ([origin, name]) => {
          const maps = window.atlasMaps;
          const parsed = maps.parseMaps(await maps.fetchBytes(`${origin}/golden/${name}.js`));
          return { L: parsed.L, H: parsed.H, W: parsed.W, codes: Array.from(parsed.codes),
                   special: Array.from(parsed.special), top: maps.toValue(255) };
        }""", [watched.origin, name])
        assert [got["L"], got["H"], got["W"]] == [golden["layers"], golden["heads"], golden["words"]]
        assert got["codes"] == np.ravel(golden["codes"]["maps"]).tolist(), name
        assert got["special"] == np.ravel(golden["codes"]["special"]).tolist(), name
        assert got["top"] == 1.0
    broken = page.evaluate("""async (origin) => {
      const { parseMaps } = window.atlasMaps;
      try { parseMaps(new Uint8Array([65, 84, 76, 83, 2, 0, 1, 0, 1, 0, 1, 0, 2, 0, 0, 0])); } catch (e) { return e.message; }
    }""", watched.origin)
    assert "not in the expected format" in broken
    # every 16-bit value once, the escaped ones (quote, line breaks, surrogates...) included
    blob = np.arange(65536, dtype=">u2").tobytes() + b"\x07"
    text = encode_script(blob)[2:].decode("utf-16-le")
    units = text[len('atlasData("'):text.rindex('",')]
    same = page.evaluate("""([units, size]) => {
      const bytes = window.atlasMaps.unpack(units, size);
      for (let i = 0; i < 65536; i++) if (bytes[2 * i] !== i >> 8 || bytes[2 * i + 1] !== (i & 255)) return i;
      return bytes.length === size && bytes[size - 1] === 7;
    }""", [units, len(blob)])
    assert same is True
    watched.assert_clean()


# JS: Vega's colour for each of the 256 codes on a chart with `scheme: viridis` over `domain`,
# clamped (as pipeline.site.charts.colour_scale), next to the colours every canvas of the site paints
# (assets/paint.js's codeColours, from maps.js's one table): [[vega rgb, painted rgb], ...]
VEGA_VS_TABLE = """async (domain) => {
  const spec = { data: { values: [{ v: 0 }] }, mark: "rect",
    encoding: { color: { field: "v", type: "quantitative",
                         scale: { scheme: "viridis", domain, clamp: true } } } };
  const element = document.createElement("div");
  await window.atlasVega(); // loaded on demand (assets/embed.js): the page's detail is a canvas
  const view = (await window.vegaEmbed(element, spec, { mode: "vega-lite", actions: false })).view;
  const scale = view.scale("color");
  const painted = new Uint8Array(window.atlasPaint.codeColours(domain).buffer);
  const out = [];
  for (let code = 0; code < 256; code++) {
    const vega = scale(window.atlasMaps.toValue(code)).match(/\\d+/g).slice(0, 3).map(Number);
    out.push([vega, Array.from(painted.subarray(4 * code, 4 * code + 3))]);
  }
  view.finalize();
  return out;
}"""


def test_the_one_viridis_table_matches_vega(watched):
    """maps.js's viridis, which every canvas paints with, is Vega's `scheme: viridis`: every code
    on colour bars of several domains, and the table itself at t in [0, 1]."""
    page = open_sentence(watched)
    for domain in ([0.0, 0.3], [0.0, 1.0], [0.1, 0.7], [0.25, 0.5]):
        pairs = np.array(page.evaluate(VEGA_VS_TABLE, domain))
        assert pairs.shape == (256, 2, 3)
        assert np.abs(pairs[:, 0] - pairs[:, 1]).max() <= 1, domain
        assert len({tuple(c) for c in pairs[:, 0]}) > 8, domain  # not one colour: a real bar
    vega = np.array([c[0] for c in page.evaluate(VEGA_VS_TABLE, [0.0, 1.0])])
    table = np.array(page.evaluate("() => Array.from({ length: 256 }, (_, i) => window.atlasMaps.viridis(i / 255))"))
    assert np.abs(vega - table).max() <= 1
    assert table[0].tolist() == [68, 1, 84] and table[-1].tolist() == [253, 231, 37]
    watched.assert_clean()


# JS: the grid's thumbnail of the selected head, pixel by pixel, next to the colour the detail's
# own scale gives each of those word pairs and the colour its canvas shows at the cell's centre
# (assets/detail-draw.js): [[thumbnail rgb, detail scale's rgb, detail canvas's rgb], ...]
THUMBNAIL_VS_DETAIL = """async () => {
  const atlas = window.atlas;
  const { H, W, codes } = atlas.maps;
  const k = (atlas.layer - 1) * H + (atlas.head - 1);
  const cell = atlas.cells.find((c) => c.layer === atlas.layer && c.head === atlas.head);
  const image = new Image();
  image.src = cell.url;
  await image.decode();
  const ctx = Object.assign(document.createElement("canvas"), { width: W, height: W }).getContext("2d");
  ctx.drawImage(image, 0, 0);
  const pixels = ctx.getImageData(0, 0, W, W).data;
  const view = atlas.detail;
  const scale = view.scale("color");
  const canvas = view.container().querySelector("canvas");
  const ratio = canvas.width / canvas.getBoundingClientRect().width;
  const drawn = canvas.getContext("2d");
  const [ox, oy] = view.origin(), { left, top } = view.padding(), [x, y] = [view.scale("x"), view.scale("y")];
  const out = [];
  for (let i = 0; i < W * W; i++) {
    const detail = scale(window.atlasMaps.toValue(codes[k * W * W + i])).match(/\\d+/g).slice(0, 3).map(Number);
    const [cx, cy] = [left + ox + x(i % W) + x.bandwidth() / 2, top + oy + y(Math.floor(i / W)) + y.bandwidth() / 2];
    const shown = Array.from(drawn.getImageData(Math.floor(cx * ratio), Math.floor(cy * ratio), 1, 1).data.slice(0, 3));
    out.push([Array.from(pixels.subarray(4 * i, 4 * i + 3)), detail, shown]);
  }
  return out;
}"""


# JS: the grid's canvas (assets/grid-draw.js) where it shows the selected head's thumbnail, at
# each word pair's centre (away from the outline's 3 px), next to the thumbnail's own pixel:
# [[grid rgb, thumbnail rgb], ...]
GRID_VS_THUMBNAIL = """() => {
  const atlas = window.atlas, view = atlas.grid, { W } = atlas.maps;
  const cell = atlas.cells.find((c) => c.layer === atlas.layer && c.head === atlas.head);
  const thumb = cell.canvas.getContext("2d").getImageData(0, 0, W, W).data;
  const canvas = view.container().querySelector("canvas");
  const ratio = canvas.width / canvas.getBoundingClientRect().width;
  const grid = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height);
  const [ox, oy] = view.origin(), { left, top } = view.padding();
  const x0 = left + ox + view.scale("x")(atlas.head), y0 = top + oy + view.scale("y")(atlas.layer);
  const side = view.scale("x").bandwidth() - 4, out = [];
  for (let r = 0; r < W; r++) {
    for (let c = 0; c < W; c++) {
      const [u, v] = [(c + 0.5) * side / W, (r + 0.5) * side / W];
      if (Math.min(u, v) < 3) continue;
      const at = 4 * (Math.floor((y0 + v) * ratio) * canvas.width + Math.floor((x0 + u) * ratio));
      out.push([Array.from(grid.data.slice(at, at + 3)), Array.from(thumb.slice(4 * (r * W + c), 4 * (r * W + c) + 3))]);
    }
  }
  return out;
}"""


# JS: a sheet of 2 x 3 rectangular maps (2 rows x 5 columns each, as a cross-attention part's
# target x source; head k's codes all k * 40) painted and drawn as a grid in a box of its own:
# [sheet width, height, thumbnails drawn, [grid rgb, expected rgb] at each head's centre]
RECTANGULAR_GRID = """() => {
  const [L, H, rows, cols] = [2, 3, 2, 5];
  const codes = new Uint8Array(L * H * rows * cols).map((_, i) => Math.floor(i / (rows * cols)) * 40);
  const colours = window.atlasPaint.codeColours([0, 1]);
  const sheet = document.createElement("canvas");
  window.atlasPaint.paintSheet(sheet, { L, H, W: 0, rows, cols, codes }, () => colours);
  const box = document.body.appendChild(document.createElement("div"));
  const view = window.atlasGrid.draw(box, sheet, { layers: L, heads: H, step: 30, scrolls: false,
    spec: window.atlasSpecs.grid, selected: [1, 1] });
  const canvas = box.querySelector("canvas"), ratio = canvas.width / canvas.getBoundingClientRect().width;
  const image = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  const [ox, oy] = view.origin(), { left, top } = view.padding(), out = [];
  for (let k = 0; k < L * H; k++) {
    const x = left + ox + view.scale("x")(k % H + 1) + 13, y = top + oy + view.scale("y")(Math.floor(k / H) + 1) + 13;
    const at = 4 * (Math.floor(y * ratio) * canvas.width + Math.floor(x * ratio));
    const want = new Uint8Array(new Uint32Array([colours[k * 40]]).buffer);
    out.push([Array.from(image.slice(at, at + 3)), Array.from(want.slice(0, 3))]);
  }
  box.remove();
  return [sheet.width, sheet.height, view.drawn, out];
}"""


def test_grid_thumbnails_are_painted_in_the_details_colours(watched):
    """The canvas-painted thumbnails do not drift from the detail (its scale and the pixels of
    its canvas at each cell's centre), for any measure, and the grid's canvas shows them where
    its scales put the head."""
    page = open_sentence(watched, n=1, fragment="#l2h3", mount="/measures/")
    for measure in ("attention", "grad", "rollout"):
        page.evaluate("(m) => window.atlas.showMeasure(m)", measure)
        pairs = np.array(page.evaluate(THUMBNAIL_VS_DETAIL))
        assert pairs.ndim == 3 and len(pairs) > 4, measure
        assert np.abs(pairs[:, 0] - pairs[:, 1]).max() <= 1, measure
        assert np.abs(pairs[:, 0] - pairs[:, 2]).max() <= 1, measure  # the detail's own pixels
        assert len({tuple(c) for c in pairs[:, 1]}) > 1, measure  # a map, not one colour
        shown = np.array(page.evaluate(GRID_VS_THUMBNAIL))
        assert len(shown) > 4 and np.abs(shown[:, 0] - shown[:, 1]).max() <= 1, measure
    width, height, drawn, centres = page.evaluate(RECTANGULAR_GRID)  # maps need not be square
    assert [width, height, drawn] == [3 * 5, 2 * 2, 6]
    assert np.abs(np.diff(np.array(centres), axis=1)).max() <= 1
    watched.assert_clean()


def test_causal_site(watched, artifacts):
    page = open_sentence(watched, mount="/causal/", fragment="#l2h4")
    page.screenshot(path=str(artifacts / "causal.png"))
    assert page.evaluate(GRID_THUMBS) == 2 * 4
    upper = page.evaluate("window.atlas.detail.data('pairs').filter(d => d.to > d.from && d.value > 0).length")
    assert upper == 0  # lower-triangular, shown as it is
    assert page.locator(".note.causal").count() == 1
    watched.assert_clean()


# --- measures: the selector, the permalink, per-layer grids ------------------------------------

MEASURE_STATE = """() => [window.atlas.measure, window.atlas.maps.H, location.hash,
    document.getElementById("detail-title").textContent, document.getElementById("measure").value,
    [...document.querySelectorAll("#measure option")].map((o) => o.value)]"""


def test_only_stored_measures_are_offered(watched):
    page = open_sentence(watched)  # the /atlas/ store holds attention only
    state = page.evaluate(MEASURE_STATE)
    assert state[5] == ["attention"] and page.locator("#measure").is_disabled()
    watched.assert_clean()


def test_the_measure_selector_switches_grid_and_detail_together(watched, gpt2_all_measures_store,
                                                                artifacts):
    from pipeline.store import AtlasStore

    store = AtlasStore.open(gpt2_all_measures_store)
    n = store.ids.index("pair-2")
    page = open_sentence(watched, n=n, mount="/measures/", fragment="#l2h3")
    state = page.evaluate(MEASURE_STATE)
    assert state[:5] == ["attention", 4, "#l2h3", "layer 2, head 3", "attention"]
    assert state[5] == ["attention", "rollout", "norm", "grad"]
    assert page.evaluate(GRID_THUMBS) == 2 * 4

    page.select_option("#measure", "grad")
    page.wait_for_function("window.atlas.measure === 'grad' && window.atlas.detail")
    page.wait_for_function("document.getElementById('detail-title').textContent.includes('grad')")
    assert page.evaluate(MEASURE_STATE)[:5] == ["grad", 4, "#l2h3&m=grad", "layer 2, head 3 (grad)",
                                                "grad"]
    assert ">saliency<" in page.evaluate("window.atlas.detail.toSVG()")  # grad's colour bar
    # the detail shows grad's word map: the values of the store's grad, word level, to a step
    words = len(store["pair-2"].words)
    expected = store["pair-2"].word_attention(measure="grad")[1, 2].ravel()
    shown = page.evaluate("window.atlas.detail.data('pairs').map((d) => d.value)")
    assert len(shown) == words * words and np.abs(np.array(shown) - expected).max() <= 1 / 255
    page.screenshot(path=str(artifacts / "sentence-grad.png"), full_page=False)

    page.select_option("#measure", "rollout")  # per layer: one column, the head folds to 1
    page.wait_for_function("window.atlas.measure === 'rollout' && window.atlas.maps.H === 1")
    page.wait_for_function("document.getElementById('detail-title').textContent.includes('all heads')")
    assert page.evaluate(MEASURE_STATE)[:4] == ["rollout", 1, "#l2h1&m=rollout",
                                                "layer 2, all heads (rollout)"]
    assert page.evaluate(GRID_THUMBS) == 2  # one thumbnail per layer
    assert ">rollout<" in page.evaluate("window.atlas.detail.toSVG()")
    page.click("#sentence-text")  # off the selector, whose own arrow keys change the measure
    page.keyboard.press("ArrowUp")
    page.wait_for_function("window.atlas.layer === 1")
    assert page.evaluate("location.hash") == "#l1h1&m=rollout"
    # every detail drawn (each measure's, on a canvas: assets/detail-draw.js; the grids are
    # canvases too) is a shared spec bound only where embed.js binds one to its Vega compiled at
    # build time, as the browser's own Vega-Lite compiles the page's spec (the figure draws it)
    assert page.evaluate(SAME_AS_VEGA_LITE) == {
        key: True for key in ("detail", "detail-grad", "detail-rollout")}
    watched.assert_clean()


# JS: for each shared spec the page drew, whether it drew its compiled Vega and that Vega is what
# the bundled Vega-Lite compiles the page's bound spec to (vega-embed's patch hook sees it)
SAME_AS_VEGA_LITE = """async () => {
  const canon = (v) => Array.isArray(v) ? v.map(canon) : v && typeof v === "object"
    ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, canon(v[k])])) : v;
  const out = {};
  await window.atlasVega(); // loaded on demand (assets/embed.js)
  for (const [key, { spec, compiled }] of Object.entries(window.atlasEmbed.drawn)) {
    let own = null;
    const plain = () => JSON.parse(JSON.stringify(spec));
    const patch = (vega) => { own = JSON.parse(JSON.stringify(vega)); return vega; };
    const result = await window.vegaEmbed(document.createElement("div"), plain(),
      { mode: "vega-lite", actions: false, patch });
    result.view.finalize();
    delete own.$schema;
    const ours = window.atlasEmbed.compiled(key, plain());
    out[key] = compiled && JSON.stringify(canon(own)) === JSON.stringify(canon(ours));
  }
  return out;
}"""


def test_a_measure_permalink_opens_that_measure(watched, gpt2_all_measures_store):
    page = open_sentence(watched, mount="/measures/", fragment="#l2h4&m=norm")
    assert page.evaluate(MEASURE_STATE)[:5] == ["norm", 4, "#l2h4&m=norm", "layer 2, head 4 (norm)",
                                                "norm"]
    page.evaluate("location.hash = '#l1h2'")  # no m: the default measure
    page.wait_for_function("window.atlas.measure === 'attention' && window.atlas.head === 2")
    page.evaluate("location.hash = '#l1h2&m=nosuch'")  # a measure the page lacks: the default
    page.wait_for_timeout(100)
    assert page.evaluate("window.atlas.measure") == "attention"
    watched.assert_clean()
