"""The sentence page of a series in a real browser: the checkpoint selector, the difference view
(this checkpoint minus another, on a diverging scale) and the address that names them."""

from __future__ import annotations

import numpy as np
import pytest
from test_pages import CELL_CENTRE, THUMBNAIL_VS_DETAIL

from pipeline.site.build import build_site
from pipeline.site.contexts import get_page_names
from pipeline.site.series_view import CheckpointView, SeriesView
from pipeline.site.serve import start
from pipeline.store import AtlasStore
from pipeline.testing.series import checkpoint_stores

pytestmark = pytest.mark.browser

STEPS = (100, 1000, 2000)
LABELS = tuple(f"step-{s}" for s in STEPS)
SHAPE = (3, 4)


@pytest.fixture(scope="module")
def stores(tmp_path_factory) -> dict[str, AtlasStore]:
    """Three checkpoints of one corpus (their maps drift from near uniform to peaked), with
    attention and norm, by label."""
    root = tmp_path_factory.mktemp("series-stores")
    paths = checkpoint_stores(root, STEPS, 8, *SHAPE, measures=("attention", "norm"))
    return {label: AtlasStore.open(p) for label, p in zip(LABELS, paths, strict=True)}


@pytest.fixture(scope="module")
def server(stores, tmp_path_factory) -> str:
    """The series' site (its reference the last checkpoint) under /series/: this module's
    `watched` and `phone` pages open it."""
    root = tmp_path_factory.mktemp("series-site")
    view = SeriesView(tuple(CheckpointView(label, step, stores[label], SHAPE, True)
                            for label, step in zip(LABELS, STEPS, strict=True)),
                      reference=len(LABELS) - 1, same_tokenizer=True)
    build_site(stores[LABELS[-1]], root / "site", series=view, progress=False)
    running = start({"/series/": (root / "site").resolve()})
    yield running.origin
    running.stop()


def page_url(origin: str, stores, n: int, fragment: str = "") -> str:
    names = get_page_names(list(stores[LABELS[-1]].ids))
    return f"{origin}/series/sentences/{names[n]}.html{fragment}"


def open_page(w, stores, n: int = 2, fragment: str = ""):
    w.page.goto(page_url(w.origin, stores, n, fragment))
    w.wait_ready()
    return w.page


def wait_shown(page, checkpoint: str, minus: str | None = None, measure: str = "attention") -> None:
    """Wait until both charts show a checkpoint's maps (minus another's) of a measure."""
    page.wait_for_function("""([c, d, m]) => window.atlas.maps.checkpoint === c && window.atlas.maps.minus === d
        && window.atlas.measure === m && document.getElementById("figure").dataset.checkpoint === c""",
                           arg=[checkpoint, minus, measure])
    page.wait_for_timeout(100)  # the grid's thumbnails follow the detail


def drawn(page) -> tuple[np.ndarray, str, list[float]]:
    """The selected head's map as the detail draws it (from the Vega view's dataset), the
    colour bar's title, and its domain."""
    rows = page.evaluate("""() => window.atlas.detail.data("pairs").map((r) => [r.from, r.to, r.value])""")
    w = max(r[0] for r in rows) + 1
    values = np.zeros((w, w))
    for f, t, v in rows:
        values[int(f), int(t)] = v
    title = page.evaluate("""() => {
      const texts = [];
      const walk = (node) => { if (node.marktype === "text" && node.role === "legend-title")
        for (const item of node.items) texts.push([].concat(item.text).join(" "));
        (node.items || []).forEach(walk); };
      walk(window.atlas.detail.scenegraph().root);
      return texts.join(" | ");
    }""")
    return values, title, page.evaluate("() => window.atlas.detail.scale('color').domain()")


def stored(stores, label: str, n: int, layer: int, head: int, measure: str = "attention") -> np.ndarray:
    return stores[label][n].word_maps(measure)[0][layer - 1, head - 1].astype(np.float64)


def thumbnails(page) -> list[str]:
    return page.evaluate("() => window.atlas.grid.data('cells').map((c) => c.url)")


def test_the_checkpoint_selector_switches_both_charts_and_the_address(watched, stores, artifacts):
    page = open_page(watched, stores, fragment="#l2h3")
    wait_shown(page, "step-2000")
    assert page.evaluate("[...document.querySelectorAll('#checkpoint option')].map((o) => o.value)") == list(LABELS)
    values, title, _ = drawn(page)
    assert np.abs(values - stored(stores, "step-2000", 2, 2, 3)).max() <= 1 / 510 + 1e-9
    before = thumbnails(page)
    page.select_option("#checkpoint", "step-100")
    wait_shown(page, "step-100")
    assert page.evaluate("location.hash") == "#l2h3&c=step-100"
    values, _, _ = drawn(page)
    assert np.abs(values - stored(stores, "step-100", 2, 2, 3)).max() <= 1 / 510 + 1e-9
    assert np.abs(values - stored(stores, "step-2000", 2, 2, 3)).max() > 0.05  # another map
    after = thumbnails(page)
    assert len(after) == 12 and all(a != b for a, b in zip(before, after, strict=True))
    assert page.locator("#detail-title").inner_text() == "layer 2, head 3 \u00b7 step-100"
    # a head change (a key) keeps the checkpoint, in the charts and the address
    page.keyboard.press("ArrowDown")
    page.wait_for_function("window.atlas.layer === 3")
    assert page.evaluate("location.hash") == "#l3h3&c=step-100"
    values, _, _ = drawn(page)
    assert np.abs(values - stored(stores, "step-100", 2, 3, 3)).max() <= 1 / 510 + 1e-9
    # so do previous and next
    assert page.locator("#next").get_attribute("href").endswith("#l3h3&c=step-100")
    page.locator("#next").click()
    watched.wait_ready()
    wait_shown(page, "step-100")
    assert page.evaluate("location.hash") == "#l3h3&c=step-100"
    assert page.evaluate("document.getElementById('checkpoint').value") == "step-100"
    values, _, _ = drawn(page)
    assert np.abs(values - stored(stores, "step-100", 3, 3, 3)).max() <= 1 / 510 + 1e-9
    page.keyboard.press("[")
    watched.wait_ready()
    wait_shown(page, "step-100")
    assert page.url.endswith("#l3h3&c=step-100")
    page.screenshot(path=str(artifacts / "series-sentence-checkpoint.png"), full_page=True)
    # the reference: `c` leaves the address
    page.select_option("#checkpoint", "step-2000")
    wait_shown(page, "step-2000")
    assert page.evaluate("location.hash") == "#l3h3"
    watched.assert_clean()


def test_the_address_names_the_checkpoint_and_a_wrong_one_is_corrected(watched, stores):
    page = open_page(watched, stores, fragment="#l1h2&c=step-1000&m=norm")
    wait_shown(page, "step-1000", measure="norm")
    values, _, _ = drawn(page)
    assert np.abs(values - stored(stores, "step-1000", 2, 1, 2, "norm")).max() <= 1 / 510 + 1e-9
    # the measure selector keeps the checkpoint
    page.select_option("#measure", "attention")
    wait_shown(page, "step-1000")
    assert page.evaluate("location.hash") == "#l1h2&c=step-1000"
    # the address changed by hand
    page.evaluate("location.hash = '#l1h2&c=step-100&d=step-2000'")
    wait_shown(page, "step-100", "step-2000")
    # unknown labels, and a difference with itself, leave the address
    page.evaluate("location.hash = '#l1h2&c=nope&d=step-2000'")
    wait_shown(page, "step-2000")
    page.wait_for_function("location.hash === '#l1h2'")
    page = open_page(watched, stores, n=3, fragment="#c=step-100&d=bogus")
    wait_shown(page, "step-100")
    assert page.evaluate("location.hash") == "#l1h1&c=step-100"
    watched.assert_clean()


def test_the_difference_view_draws_the_two_maps_difference(watched, stores, artifacts):
    page = open_page(watched, stores, n=5, fragment="#l2h1")
    page.select_option("#checkpoint", "step-1000")
    wait_shown(page, "step-1000")
    page.select_option("#minus", "step-100")
    wait_shown(page, "step-1000", "step-100")
    assert page.evaluate("location.hash") == "#l2h1&c=step-1000&d=step-100"
    want = {(a, h): stored(stores, "step-1000", 5, a, h) - stored(stores, "step-100", 5, a, h)
            for a in range(1, 4) for h in range(1, 5)}
    values, title, domain = drawn(page)
    # each checkpoint's codes within 1/510 of its stored values: their difference within 2/510
    assert np.abs(values - want[2, 1]).max() <= 2 / 510 + 1e-9
    assert (values < -0.01).any() and (values > 0.01).any()  # both signs: a real difference
    # the colour bar: symmetric around 0, to the largest difference of the sentence's heads
    most = max(np.abs(d).max() for d in want.values())
    assert domain[0] == -domain[1] and abs(domain[1] - most) <= 2 / 510 + 1e-9
    assert "attention: step-1000 \u2212 step-100" in title, title
    assert "largest |difference|" in title
    assert page.locator("#detail-title").inner_text() == "layer 2, head 1 \u00b7 step-1000 \u2212 step-100"
    assert "minus step-100" in page.locator("#special-note").inner_text()
    # every head, and the thumbnails in the detail's colours
    for layer, head in [(1, 1), (3, 4), (1, 3)]:
        page.evaluate("([l, h]) => window.atlas.select(l, h)", [layer, head])
        values, _, _ = drawn(page)
        assert np.abs(values - want[layer, head]).max() <= 2 / 510 + 1e-9, (layer, head)
        pairs = np.array(page.evaluate(THUMBNAIL_VS_DETAIL))
        assert np.abs(pairs[:, 0] - pairs[:, 1]).max() <= 1, (layer, head)
        assert np.abs(pairs[:, 0] - pairs[:, 2]).max() <= 1, (layer, head)  # the detail canvas's pixels
        assert len({tuple(c) for c in pairs[:, 1]}) > 3
    assert page.evaluate("location.hash") == "#l1h3&c=step-1000&d=step-100"
    page.screenshot(path=str(artifacts / "series-sentence-difference.png"), full_page=True)
    # another measure keeps the difference
    page.select_option("#measure", "norm")
    wait_shown(page, "step-1000", "step-100", "norm")
    assert page.evaluate("location.hash") == "#l1h3&m=norm&c=step-1000&d=step-100"
    values, title, _ = drawn(page)
    norm = stored(stores, "step-1000", 5, 1, 3, "norm") - stored(stores, "step-100", 5, 1, 3, "norm")
    assert np.abs(values - norm).max() <= 2 / 510 + 1e-9
    assert "norm: step-1000 \u2212 step-100" in title
    # the figure download draws the difference too: its colour bar and file name
    svg = page.evaluate("async () => { const v = await window.atlasFigure.view(); const s = await v.toSVG(); v.finalize(); return s; }")
    assert "step-1000 \u2212 step-100" in svg
    assert page.evaluate("window.atlas.figure") == "figure-norm-diff"
    assert page.evaluate("window.atlas.figureTag") == "-step-1000-minus-step-100"
    # "minus" nothing: the checkpoint's own maps, on viridis
    page.select_option("#minus", "")
    wait_shown(page, "step-1000", None, "norm")
    assert page.evaluate("location.hash") == "#l1h3&m=norm&c=step-1000"
    assert page.evaluate("window.atlas.detail.scale('color').domain()")[0] == 0
    watched.assert_clean()


# JS: Vega's colour for each difference of codes (-255..255) on a chart with `scheme:
# blueorange` over `domain`, clamped, next to the colour the canvases paint (paint.js's
# differenceColours, from maps.js's BLUE_ORANGE table): [[vega rgb, painted rgb], ...]
VEGA_VS_DIVERGING = """async (domain) => {
  const spec = { data: { values: [{ v: 0 }] }, mark: "rect",
    encoding: { color: { field: "v", type: "quantitative",
                         scale: { scheme: "blueorange", domain, clamp: true } } } };
  const element = document.createElement("div");
  await window.atlasVega(); // loaded on demand (assets/embed.js): the page draws on canvases
  const view = (await window.vegaEmbed(element, spec, { mode: "vega-lite", actions: false })).view;
  const scale = view.scale("color");
  const painted = new Uint8Array(window.atlasPaint.differenceColours(domain).buffer);
  const out = [];
  for (let code = -255; code <= 255; code++) {
    const vega = scale(window.atlasMaps.toValue(code)).match(/\\d+/g).slice(0, 3).map(Number);
    out.push([vega, Array.from(painted.subarray(4 * (code + 255), 4 * (code + 255) + 3))]);
  }
  view.finalize();
  return out;
}"""


def test_the_diverging_table_matches_vega(watched, stores):
    """maps.js's BLUE_ORANGE, which the difference's thumbnails paint with, is Vega's `scheme:
    blueorange`, which the detail draws: every difference of codes on several symmetric bars."""
    page = open_page(watched, stores)
    for m in (1.0, 0.3, 0.05, 1 / 255):
        pairs = np.array(page.evaluate(VEGA_VS_DIVERGING, [-m, m]))
        assert pairs.shape == (511, 2, 3)
        assert np.abs(pairs[:, 0] - pairs[:, 1]).max() <= 1, m
        assert len({tuple(c) for c in pairs[:, 0]}) > (8 if m > 0.01 else 2), m
    table = np.array(page.evaluate("() => [0, 0.5, 1].map((t) => window.atlasMaps.blueOrange(t))"))
    assert table.tolist() == [[19, 75, 133], [242, 240, 235], [153, 74, 7]]  # blue, white, orange
    assert page.evaluate("window.atlasSpecs['detail-diff'].layer[0].encoding.color.scale.scheme") == "blueorange"
    watched.assert_clean()


def test_a_tap_on_a_phone_selects_a_head_of_the_difference(phone, stores, artifacts):
    page = open_page(phone, stores, n=1, fragment="#l1h1&c=step-1000&d=step-100")
    wait_shown(page, "step-1000", "step-100")
    x, y = page.evaluate(CELL_CENTRE, [3, 2])
    page.touchscreen.tap(x, y)
    page.wait_for_function("window.atlas.layer === 3 && window.atlas.head === 2")
    assert page.evaluate("location.hash") == "#l3h2&c=step-1000&d=step-100"
    values, _, _ = drawn(page)
    want = stored(stores, "step-1000", 1, 3, 2) - stored(stores, "step-100", 1, 3, 2)
    assert np.abs(values - want).max() <= 2 / 510 + 1e-9
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390  # no sideways scrolling, the selectors and the colour bar included
    for chart in ("#grid canvas", "#detail canvas", "#checkpoint", "#minus"):
        box = page.locator(chart).bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390, (chart, box)
    page.locator("#checkpoint").tap()  # a phone's select opens its own list: choose as one would
    page.select_option("#checkpoint", "step-100")
    wait_shown(page, "step-100", None)  # minus itself: no difference
    assert page.evaluate("location.hash") == "#l3h2&c=step-100"
    page.select_option("#minus", "step-2000")
    wait_shown(page, "step-100", "step-2000")
    page.screenshot(path=str(artifacts / "phone-series-sentence.png"), full_page=True)
    phone.assert_clean()
