"""Big grids and phones (issues 22.4 and 23.6): a 24 x 16 and a 32 x 32 model's sentence page,
corpus view and head page on a 1280 px screen and a 390 px phone (one browser context each), and a
.conllu corpus of a 2 x 12 model on the phone. Cells are at least 24 px (a tap target; thumbnails
of 24 px at 1280 px); a grid that cannot fit scrolls sideways in its own box, says so, and keeps
the layer numbers in view; no page scrolls sideways. Synthetic maps (no model) throughout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipeline.site.build import build_site
from pipeline.testing import synthetic_store, write_store

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
SHAPES = {"24x16": (24, 16), "32x32": (32, 32)}
DESKTOP = {"viewport": {"width": 1280, "height": 900}}
PHONE = {"viewport": {"width": 390, "height": 844}, "has_touch": True, "is_mobile": True,
         "device_scale_factor": 2}

# JS: the sentence page's grid as laid out: its cell, scrolling, thumbnails, boxes, the rail's
# numbers against the rows' centres, the note, and the page's own width
SENTENCE_GRID = """() => {
  const a = window.atlas, view = a.grid, box = document.getElementById("grid");
  const canvas = box.querySelector("canvas").getBoundingClientRect();
  const top = canvas.top + view.padding().top + view.origin()[1];
  const y = view.scale("y");
  const rail = [...box.querySelectorAll(".layer-rail span:not(.rail-title)")].map((s) => {
    const r = s.getBoundingClientRect();
    return [Number(s.textContent), r.top + r.height / 2 - (top + y(Number(s.textContent)) + y.bandwidth() / 2)];
  });
  const images = view.drawn; // thumbnails drawn on the grid's canvas (assets/grid-draw.js)
  const r = (e) => { const b = e.getBoundingClientRect(); return [b.left, b.right]; };
  return { step: a.step, scrolls: box.classList.contains("scrolls"), images, rail,
    box: r(box), detail: r(document.querySelector("#detail canvas")),
    hint: box.previousElementSibling.classList.contains("scroll-hint") ? box.previousElementSibling.textContent : null,
    page: [document.documentElement.scrollWidth, window.innerWidth] };
}"""
# JS: the centre of grid cell (layer, head) in page coordinates, and whether it shows (inside
# the grid's box, right of the rail)
CELL = """([l, h]) => {
  const view = window.atlas.grid, box = document.getElementById("grid");
  const canvas = box.querySelector("canvas").getBoundingClientRect();
  const [ox, oy] = view.origin(), { left, top } = view.padding(), x = view.scale("x"), y = view.scale("y");
  const cx = canvas.left + left + ox + x(h) + x.bandwidth() / 2, cy = canvas.top + top + oy + y(l) + y.bandwidth() / 2;
  const b = box.getBoundingClientRect(), rail = box.querySelector(".layer-rail");
  const from = rail ? rail.getBoundingClientRect().right : b.left;
  return [cx, cy, cx - x.bandwidth() / 2 >= from - 1 && cx + x.bandwidth() / 2 <= b.right + 1];
}"""
# JS: the corpus view as laid out: its cell, scrolling, note, the box of its legends (the colour
# bar; a .conllu corpus's baseline), page width
CORPUS_GRID = """() => {
  const view = window.atlasCorpusView.view, box = document.getElementById("corpus-grid");
  const boxes = [...box.querySelectorAll("svg .role-legend")].map((g) => g.getBoundingClientRect());
  const legend = { left: Math.min(...boxes.map((b) => b.left)), right: Math.max(...boxes.map((b) => b.right)),
    top: Math.min(...boxes.map((b) => b.top)), bottom: Math.max(...boxes.map((b) => b.bottom)) };
  const hint = box.previousElementSibling;
  return { step: view.scale("x").step(), band: view.scale("x").bandwidth(), scrolls: box.classList.contains("scrolls"),
    rail: box.querySelectorAll(".layer-rail span:not(.rail-title)").length,
    hint: hint.classList.contains("scroll-hint") ? hint.textContent : null,
    legend: [legend.left, legend.right, legend.top, legend.bottom],
    grid: [box.getBoundingClientRect().left, box.getBoundingClientRect().right],
    page: [document.documentElement.scrollWidth, window.innerWidth] };
}"""
# JS: every link's box on the page (text, width, height), hidden ones left out
LINKS = """() => [...document.querySelectorAll("a[href]")].filter((a) => a.offsetParent !== null)
  .map((a) => { const r = a.getBoundingClientRect(); return [a.textContent.trim(), r.width, r.height]; })"""


@pytest.fixture(scope="module")
def big_sites(tmp_path_factory) -> dict[str, Path]:
    """A site per shape: three short synthetic sentences with statistics, so a corpus view and
    every head page."""
    root = tmp_path_factory.mktemp("big-grids")
    sites = {}
    for name, (layers, heads) in SHAPES.items():
        store = synthetic_store(root / f"{name}.zarr", 3, layers, heads, seed=3, lengths=4)
        build_site(store, root / name, progress=False)
        sites[name] = (root / name).resolve()
    return sites


@pytest.fixture(scope="module")
def conllu_site(tmp_path_factory) -> Path:
    """The first 120 sentences of the bundled treebank, read by the .conllu reader (gold heads
    and relations, metadata), with random peaked maps of a 2 x 12 model (the index's grid 12
    heads wide, as the default model's is) and statistics: a site."""
    from pipeline.corpus import read_corpus
    from pipeline.extract.encode import content_key
    from pipeline.stats.compute import update_stats
    from pipeline.store import StoredSentence

    root = tmp_path_factory.mktemp("conllu")
    text = (REPO / "data" / "sarah_brown-ud-gold.conllu").read_text(encoding="utf-8")
    corpus = root / "sarah-120.conllu"
    corpus.write_text("\n\n".join(text.strip().split("\n\n")[:120]) + "\n", encoding="utf-8")
    rng = np.random.default_rng(5)
    rows = []
    for s in read_corpus(corpus).sentences:  # one token a word, between [CLS] and [SEP]
        stored = StoredSentence(
            id=s.id, key=content_key(s.text), text=s.text, tokens=("[CLS]", *s.words, "[SEP]"),
            word_ranges=s.word_ranges, word_index=(-1, *range(len(s.words)), -1), spans=(),
            meta=dict(s.meta), arcs=s.arcs)
        tokens = len(s.words) + 2
        rows.append((stored, rng.dirichlet(np.full(tokens, 0.3), size=(2, 12, tokens)).astype(np.float32)))
    store = write_store(root / "atlas.zarr", rows, 2, 12)
    update_stats(store)
    build_site(store, root / "site", progress=False)
    return (root / "site").resolve()


def open_page(chromium, options: dict, url: str, ready: str = "document.documentElement.dataset.ready"):
    """A fresh context of `options` at `url`, waited on; the page and its console errors."""
    context = chromium.new_context(**options)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    goto(page, url, ready)
    return page, errors


def goto(page, url: str, ready: str = "document.documentElement.dataset.ready") -> None:
    """The page at `url` (in the same context: its cache keeps the Vega bundle), waited on."""
    page.goto(url)
    page.wait_for_function(ready, timeout=20_000)


def first_sentence(site: Path) -> Path:
    """The first sentence page of a site (by file name)."""
    return sorted((site / "sentences").glob("*.html"))[0]


@pytest.mark.parametrize("shape", SHAPES)
def test_a_big_model_on_a_desktop_screen(chromium, big_sites, shape, artifacts):
    """At 1280 px. The sentence page: thumbnails of 24 px (28 px cells) beside the detail; a
    32 x 32 grid scrolls sideways in its box, says which heads are in view, keeps the layer
    numbers aligned with the rows, and follows the selected head; a click selects the head
    under it. The corpus view: every head in view at 24 px or more, the colour bar beside. A
    head page: links to its neighbours, the statistic carried along."""
    layers, heads = SHAPES[shape]
    site = big_sites[shape]
    page, errors = open_page(chromium, DESKTOP, f"file://{first_sentence(site)}#l3h2")
    grid = page.evaluate(SENTENCE_GRID)
    assert grid["images"] == layers * heads and grid["step"] >= 28  # thumbnails: step - 4 px
    assert grid["detail"][0] > grid["box"][1]  # the detail beside the grid
    assert grid["page"][0] <= grid["page"][1]  # the page itself never scrolls sideways
    assert grid["scrolls"] == (shape == "32x32")
    page.screenshot(path=str(artifacts / f"grid-{shape}-desktop.png"), full_page=True)
    if grid["scrolls"]:
        assert grid["hint"].startswith("Scroll sideways for more heads: 1\u2013") and f"of {heads} in view" in grid["hint"]
        assert [n for n, _ in grid["rail"]] == list(range(1, layers + 1))
        assert all(abs(off) <= 1 for _, off in grid["rail"]), grid["rail"]  # row for row
        assert not page.evaluate(CELL, [5, heads])[2]  # the last head is out of view...
        page.evaluate(f"location.hash = '#l3h{heads - 1}'")  # the address, then a key
        page.wait_for_function(f"window.atlas.head === {heads - 1}")
        page.keyboard.press("ArrowRight")
        page.wait_for_function(f"window.atlas.head === {heads}")
        page.wait_for_timeout(100)
        assert page.evaluate(CELL, [3, heads])[2]  # ...until it is selected: the grid follows
        assert f"\u2013{heads} of {heads} in view" in page.evaluate(SENTENCE_GRID)["hint"]
        page.screenshot(path=str(artifacts / f"grid-{shape}-desktop-scrolled.png"))
    pick = heads - 1 if grid["scrolls"] else 2  # a head in view
    x, y, shown = page.evaluate(CELL, [10, pick])
    assert shown
    page.mouse.click(x, y)
    page.wait_for_function(f"window.atlas.layer === 10 && window.atlas.head === {pick}")

    goto(page, f"file://{site}/index.html", "window.atlasCorpusView && window.atlasCorpusView.view")
    view = page.evaluate(CORPUS_GRID)
    assert view["band"] >= 24 and not view["scrolls"] and view["hint"] is None
    assert view["page"] == [1280, 1280] and view["grid"][1] <= 1280
    assert view["legend"][0] >= view["grid"][1] - 160 and view["legend"][1] <= 1280  # beside
    page.locator(".corpus-view").screenshot(path=str(artifacts / f"corpus-{shape}-desktop.png"))

    goto(page, f"file://{site}/heads/attention/l1h{heads}.html#s=prev")
    links = page.eval_on_selector_all(".head-links a", "as => as.map(a => [a.id, a.getAttribute('href')])")
    assert links == [["prev-head", f"l1h{heads - 1}.html#s=prev"], ["next-layer", f"l2h{heads}.html#s=prev"]]
    assert f"among the {layers * heads} heads" in page.inner_text("main")
    widths = page.evaluate("""async () => { const out = []; for (const k of ["next", "self", "prev"]) {
      await window.atlasHead.show(k); out.push(window.atlasHead.view.width()); } return out; }""")
    assert widths == [360] * 3, widths  # the histogram's plot keeps its width from one statistic to the next
    assert not errors, errors
    page.context.close()


@pytest.mark.parametrize("shape", SHAPES)
def test_a_big_model_on_a_phone(chromium, big_sites, shape, artifacts):
    """At 390 px nothing scrolls sideways but the grids, in their boxes, with the note and the
    rail. The sentence grid's cells are tap targets of 24 px or more, a tap selects the head
    under it; so are the corpus view's, its colour bar under the grid within the screen; the
    head page fits, every link a tap target of 24 px or more."""
    layers, heads = SHAPES[shape]
    site = big_sites[shape]
    page, errors = open_page(chromium, PHONE, f"file://{first_sentence(site)}")
    grid = page.evaluate(SENTENCE_GRID)
    assert grid["scrolls"] and grid["step"] >= 24 and grid["images"] == layers * heads
    assert grid["page"] == [390, 390] and grid["box"][1] <= 390
    assert f"of {heads} in view" in grid["hint"]
    assert all(abs(off) <= 1 for _, off in grid["rail"])
    x, y, shown = page.evaluate(CELL, [5, 3])
    assert shown and y < 844
    page.touchscreen.tap(x, y)
    page.wait_for_function("window.atlas.layer === 5 && window.atlas.head === 3")
    page.screenshot(path=str(artifacts / f"grid-{shape}-phone.png"), full_page=True)

    goto(page, f"file://{site}/index.html", "window.atlasCorpusView && window.atlasCorpusView.view")
    view = page.evaluate(CORPUS_GRID)
    assert view["band"] >= 24 and view["scrolls"] and view["rail"] == layers
    assert f"of {heads} in view" in view["hint"]
    assert view["page"] == [390, 390] and view["grid"][1] <= 390
    assert view["legend"][0] >= 0 and view["legend"][1] <= 390  # the colour bar, in view
    page.locator(".corpus-view").screenshot(path=str(artifacts / f"corpus-{shape}-phone.png"))

    goto(page, f"file://{site}/heads/attention/l2h2.html")
    assert page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]") == [390, 390]
    small = [link for link in page.evaluate(LINKS) if link[2] < 24 or link[1] < 24]
    assert not small, small
    page.screenshot(path=str(artifacts / f"head-{shape}-phone.png"), full_page=True)
    assert not errors, errors
    page.context.close()


def test_a_conllu_corpus_on_a_phone(chromium, conllu_site, artifacts):
    """A 12-head .conllu corpus at 390 px: the index's grid (12 heads, the case that was
    560 px wide in a 366 px box) and its colour bar fit without scrolling, for a dependency
    relation too; a head page and a sentence page fit, their links and cells 24 px or more."""
    page, errors = open_page(chromium, PHONE, f"file://{conllu_site}/index.html",
                             "window.atlasCorpusView && window.atlasCorpusView.view")
    view = page.evaluate(CORPUS_GRID)
    assert not view["scrolls"] and view["hint"] is None and view["band"] >= 24
    assert view["page"] == [390, 390] and view["grid"][1] <= 390
    assert view["legend"][0] >= 0 and view["legend"][1] <= 390
    keys = page.eval_on_selector_all("#corpus-stat option", "os => os.map(o => o.value)")
    dep = next(k for k in keys if k.startswith("dep:"))  # the treebank's relations are offered
    page.evaluate(f"window.atlasCorpusView.show('attention', '{dep}')")
    page.wait_for_function(f"window.atlasCorpusView.stat === '{dep}'")
    view = page.evaluate(CORPUS_GRID)
    assert view["page"] == [390, 390] and view["legend"][1] <= 390 and view["grid"][1] <= 390
    small = [link for link in page.evaluate(LINKS) if link[2] < 24]
    assert not small, small
    page.locator(".corpus-view").screenshot(path=str(artifacts / "conllu-phone-index.png"))

    goto(page, f"file://{conllu_site}/heads/attention/l2h12.html#s={dep}")
    assert page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]") == [390, 390]
    histogram = page.locator("#histogram svg").bounding_box()
    assert histogram["x"] >= 0 and histogram["x"] + histogram["width"] <= 390
    small = [link for link in page.evaluate(LINKS) if link[2] < 24 or link[1] < 24]
    assert not small, small
    page.screenshot(path=str(artifacts / "conllu-phone-head.png"), full_page=True)
    # every listed sentence's map carries its words, CoNLL-U forms (n't) that the default rule
    # would not find in the text too: the page lists those (`words`)
    page.wait_for_function("[...document.querySelectorAll('#top canvas, #bottom canvas')]"
                           ".every(c => c.width > 0)")
    head = page.evaluate("JSON.parse(document.getElementById('atlas-head').textContent)")
    assert head.get("words")  # the treebank's contractions
    maps = page.eval_on_selector_all("#top canvas, #bottom canvas",
                                     "cs => cs.map(c => [c.dataset.labelled, Number(c.dataset.words)])")
    assert maps and all(labelled == "1" for labelled, words in maps if words <= 32), maps

    goto(page, f"file://{first_sentence(conllu_site)}")
    grid = page.evaluate(SENTENCE_GRID)
    assert not grid["scrolls"] and grid["step"] >= 24 and grid["images"] == 2 * 12
    assert grid["page"] == [390, 390] and grid["box"][1] <= 390 and grid["detail"][1] <= 390
    page.screenshot(path=str(artifacts / "conllu-phone-sentence.png"), full_page=True)
    assert not errors, errors
    page.context.close()
