"""Gold trees in a browser (a corpus with dependency arcs, as .conllu gives them): a sentence
page's outlines, argmax marks and relation selector; the corpus view's marks of the heads above
a relation's baseline; a head page's relations against their baselines; the CSV downloads from
disk. Screenshots go to tests/artifacts/gold-*.png."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipeline.site.contexts import get_page_names
from pipeline.site.data_format import decode_codes, decode_script
from pipeline.site.serve import start
from pipeline.store import AtlasStore
from pipeline.testing import build_gold_site, read_js_global

pytestmark = pytest.mark.browser

# JS: the items of the marks drawn from the detail's `gold` dataset: [kind, from, to, result,
# strokeOpacity, shape]
GOLD_ITEMS = """() => {
  const out = [];
  const walk = (node) => {
    if (node.role === "mark" && (node.marktype === "rect" || node.marktype === "symbol")) {
      for (const item of node.items) if (item.datum && item.datum.kind)
        out.push([item.datum.kind, item.datum.from, item.datum.to, item.datum.result,
                  item.strokeOpacity ?? 1, item.shape ?? null]);
    }
    for (const item of node.items || []) walk(item);
  };
  walk(window.atlas.detail.scenegraph().root);
  return out;
}"""


# JS: the detail canvas's colours (assets/detail-draw.js) at cells [[from, to], ...]: [[r, g, b]
# on the middle of the cell's top edge (a gold outline's stroke), [r, g, b] at its centre (an
# argmax mark)], from the view's own scales
GOLD_INKS = """(cells) => {
  const view = window.atlas.detail;
  const canvas = view.container().querySelector("canvas");
  const ratio = canvas.width / canvas.getBoundingClientRect().width;
  const [ox, oy] = view.origin(), { left, top } = view.padding(), [x, y] = [view.scale("x"), view.scale("y")];
  const ink = (u, v) => Array.from(canvas.getContext("2d").getImageData(
    Math.floor((left + ox + u) * ratio), Math.floor((top + oy + v) * ratio), 1, 1).data.slice(0, 3));
  return cells.map(([f, t]) => [ink(x(t) + x.bandwidth() / 2, y(f) + 0.5), ink(x(t) + x.bandwidth() / 2, y(f) + y.bandwidth() / 2)]);
}"""


@pytest.fixture(scope="module")
def gold_site(tmp_path_factory):
    """30 synthetic sentences with gold trees, 2 layers x 3 heads, statistics; a site."""
    root = tmp_path_factory.mktemp("gold-browser")
    store = build_gold_site(root)
    return AtlasStore.open(store), (root / "site").resolve()


@pytest.fixture(scope="module")
def server(gold_site) -> str:
    """The gold site under /gold/: this module's `watched` pages open it."""
    running = start({"/gold/": gold_site[1]})
    yield running.origin
    running.stop()


def argmax_rows(site, page: str, layer: int, head: int) -> list[int]:
    """Each word's argmax over the other words (lowest on a tie) in the page's own 8-bit map."""
    codes, _ = decode_codes(decode_script((site / "data" / f"{page}.js").read_bytes()))
    rows = codes[layer - 1, head - 1].astype(int)
    out = []
    for d, row in enumerate(rows):
        others = np.where(np.arange(len(row)) == d, -1, row)
        out.append(int(np.argmax(others)))  # numpy's argmax takes the first on a tie
    return out


def test_a_sentence_page_outlines_the_gold_heads_and_marks_the_argmax(watched, gold_site, artifacts):
    store, site = gold_site
    names = get_page_names(list(store.ids))
    n = store.ids.index("g07")
    arcs = [a for a in store["g07"].arcs if a[1] >= 0]
    page = watched.page
    page.goto(f"{watched.origin}/gold/sentences/{names[n]}.html#l1h2")
    watched.wait_ready()
    # layer 1, head 2 attends to each gold head: every arc outlined, every argmax a hit (a dot)
    items = page.evaluate(GOLD_ITEMS)
    outlines = sorted((f, t) for kind, f, t, *_ in items if kind == "gold")
    assert outlines == sorted((d, g) for d, g, _ in arcs)
    assert {(f, t, shape) for kind, f, t, _, _, shape in items if kind == "best"} == {
        (d, g, "circle") for d, g, _ in arcs}
    # drawn on the canvas where the view puts them: the outline's pink on the cell's edge, a hit's
    # white dot at its centre
    for edge, centre in page.evaluate(GOLD_INKS, [[d, g] for d, g, _ in arcs]):
        assert edge[0] >= 180 and edge[0] - edge[1] >= 100, edge  # #ff3d8b over the cell
        assert min(centre) >= 230, centre
    note = page.text_content("#gold-note")
    assert f"is the gold head for {len(arcs)} of the {len(arcs)} arcs" in note
    options = page.eval_on_selector_all("#gold-relation option", "os => os.map(o => o.value)")
    assert options == ["", "det", "nsubj"]
    summary = page.eval_on_selector_all("#gold-arcs li", "ls => ls.map(l => l.textContent)")
    assert summary == [f"{rel}: {n} of {n}" for rel, n in (("det", 4), ("nsubj", 3))]
    page.screenshot(path=str(artifacts / "gold-sentence.png"), full_page=True)
    # another head, one relation: the page's argmax from its own codes, hits and misses
    page.evaluate("window.atlas.select(2, 1)")
    page.select_option("#gold-relation", "nsubj")
    page.wait_for_function("location.hash.includes('rel=nsubj')")
    page.wait_for_timeout(200)
    best = argmax_rows(site, names[n], 2, 1)
    items = page.evaluate(GOLD_ITEMS)
    nsubj = [(d, g) for d, g, r in arcs if r == "nsubj"]
    shown = {(f, t, shape) for kind, f, t, _, _, shape in items if kind == "best"}
    assert shown == {(d, best[d], "circle" if best[d] == g else "cross") for d, g in nsubj}
    dims = {(f, t): opacity for kind, f, t, _, opacity, _ in items if kind == "gold"}
    assert all(dims[(d, g)] == (1 if r == "nsubj" else 0.3) for d, g, r in arcs)
    listed = page.eval_on_selector_all("#gold-arcs li", "ls => ls.map(l => [l.className, l.textContent])")
    words = store["g07"].words
    assert listed == [["hit" if best[d] == g else "miss",
                       f"{words[d]} \u2192 {words[g]} (nsubj): "
                       + ("hit" if best[d] == g else f"miss (argmax: {words[best[d]]})")] for d, g in nsubj]
    hits = sum(best[d] == g for d, g in nsubj)
    assert f"for {hits} of the {len(nsubj)} nsubj arcs" in page.text_content("#gold-note")
    # the tooltip of a gold cell names its relation; previous / next carry the relation along
    d, g = nsubj[0]
    box = page.locator("#detail canvas").bounding_box()
    x, y = page.evaluate("""([d, g]) => { const v = window.atlas.detail; const [x, y] = [v.scale('x'), v.scale('y')];
      const [ox, oy] = v.origin(); const p = v.padding();
      return [p.left + ox + x(g) + 3, p.top + oy + y(d) + y.bandwidth() / 2]; }""", [d, g])
    page.mouse.move(box["x"] + x, box["y"] + y)
    page.wait_for_selector("#vg-tooltip-element.visible")
    tip = page.text_content("#vg-tooltip-element")
    assert "gold relation" in tip and "nsubj" in tip and words[g] in tip
    assert "rel=nsubj" in page.get_attribute("#next", "href")
    page.screenshot(path=str(artifacts / "gold-sentence-nsubj.png"), full_page=True)
    # a relation the sentence lacks (from the address, as previous / next bring it): every arc
    # shown, and the relation kept for the next sentence
    page.evaluate("window.atlas.setParam('rel', 'obj')")
    page.evaluate("window.atlas.select(1, 1)")
    page.wait_for_function("document.getElementById('gold-note').textContent.startsWith('This sentence has no obj arcs.')")
    assert all(opacity == 1 for kind, *_, opacity, _ in page.evaluate(GOLD_ITEMS) if kind == "gold")
    assert page.input_value("#gold-relation") == "" and "rel=obj" in page.evaluate("location.hash")
    watched.assert_clean()


def test_the_corpus_view_and_a_head_page_set_heads_against_the_baseline(watched, gold_site,
                                                                         artifacts):
    """From disk (file://), as the site must work: the marks, the chart and the CSV downloads."""
    _, site = gold_site
    page = watched.page
    page.goto(f"file://{site}/index.html")
    page.wait_for_function("window.atlasCorpusView && window.atlasCorpusView.view", timeout=15_000)
    page.evaluate("window.atlasCorpusView.show('attention', 'dep:nsubj')")
    entry = next(s for s in read_js_global(site / "data" / "_corpus.js", "atlasCorpus")["measures"][0]["stats"]
                 if s["key"] == "dep:nsubj")
    dots = page.evaluate("""() => { const out = [];
      const walk = (n) => { if (n.marktype === "symbol" && n.role === "mark") for (const i of n.items) out.push([i.datum.layer, i.datum.head]);
        (n.items || []).forEach(walk); };
      walk(window.atlasCorpusView.view.scenegraph().root); return out; }""")
    assert sorted(dots) == sorted(entry["baseline"]["above"]) and [1, 2] in dots
    svg = page.evaluate("window.atlasCorpusView.view.toSVG()")
    b = entry["baseline"]
    assert f"baseline (offset +{b['offset']}): {b['value']}" in svg and ">heads above it<" in svg
    page.locator("#corpus-grid").screenshot(path=str(artifacts / "gold-corpus.png"))
    page.evaluate("window.atlasCorpusView.show('attention', 'prev')")  # no relation: no dots
    assert "baseline" not in page.evaluate("window.atlasCorpusView.view.toSVG()")
    csv = (site / "head-stats.csv").read_text()
    with page.expect_download() as download:  # every head's statistics, from disk too
        page.click("#stats-download a")
    assert Path(download.value.path()).read_text(encoding="utf-8") == csv
    # the head page: per relation, this head's accuracy and the baseline's; a bar opens it
    page.goto(f"file://{site}/heads/attention/l1h2.html")
    watched.wait_ready()
    page.evaluate("window.atlasDependency.ready")
    bars = page.evaluate("""() => { const out = [];
      const walk = (n) => { if (n.marktype === "rect" && n.role === "mark") for (const i of n.items) out.push([i.datum.relation, i.datum.series, i.datum.accuracy]);
        (n.items || []).forEach(walk); };
      walk(window.atlasDependency.view.scenegraph().root); return out; }""")
    payload = {d["relation"]: d for d in page.evaluate(
        "JSON.parse(document.getElementById('atlas-head').textContent).dependency")}
    assert sorted(bars) == sorted([[r, "this head", d["accuracy"]] for r, d in payload.items()]
                                  + [[r, "best fixed offset", d["baseline"]] for r, d in payload.items()])
    assert "above the baseline for 1 of the 2 relations" in page.text_content("#dependency-note")
    page.locator("section.dependency").screenshot(path=str(artifacts / "gold-head.png"))
    page.locator("#dependency-chart svg path[aria-roledescription='bar']").first.click()
    page.wait_for_function("decodeURIComponent(location.hash) === '#s=dep:det'")
    page.wait_for_function("document.getElementById('chosen').textContent.startsWith('dependency: det')")
    with page.expect_download() as download:
        page.click("#stats-download a")
    assert Path(download.value.path()).read_text(encoding="utf-8") == csv
    watched.assert_clean_file()
