"""The corpus view in a browser: the index's grid of heads, its selector and tooltips, the links
to the head pages, and a head page's lists linking to sentence pages at that head."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.browser


def corpus_ready(w, site):
    w.page.goto(f"file://{site}/index.html")
    w.page.wait_for_function("window.atlasCorpusView && window.atlasCorpusView.view", timeout=15_000)
    return w.page




def test_the_index_shows_every_head_for_the_chosen_statistic(watched, stats_site, artifacts,
                                                             corpus_cells):
    page = corpus_ready(watched, stats_site)
    assert page.evaluate("window.atlasCorpusView.stat") == "prev"
    cells = corpus_cells(page)
    assert len(cells) == 6 * 12 and {(c[0], c[1]) for c in cells} == {
        (layer, head) for layer in range(1, 7) for head in range(1, 13)}
    data = page.evaluate("window.atlasCorpus.measures[0].stats.find(s => s.key === 'prev').values")
    for layer, head, value, _ in cells:
        assert value == data[layer - 1][head - 1]
    legend = page.evaluate("window.atlasCorpusView.view.toSVG()")
    assert ">prev<" in legend  # the colour bar is titled with the statistic
    # the selector offers the statistics and the span pairs; choosing one redraws the grid
    options = page.eval_on_selector_all("#corpus-stat option", "os => os.map(o => o.value)")
    assert options[:8] == ["entropy", "distance", "self", "prev", "next", "special", "punct",
                           "confidence"] and "span:MOT>CHI" in options
    page.select_option("#corpus-stat", "special")
    page.wait_for_function("window.atlasCorpusView.stat === 'special'")
    page.wait_for_function("document.querySelector('#corpus-description').textContent.startsWith('special')")
    assert ">special<" in page.evaluate("window.atlasCorpusView.view.toSVG()")
    page.screenshot(path=str(artifacts / "corpus-view.png"), full_page=False)
    watched.assert_clean_file()


def test_a_tooltip_gives_the_exact_value_and_a_click_opens_the_head_page(watched, stats_site):
    page = corpus_ready(watched, stats_site)
    box = page.locator("#corpus-grid svg").bounding_box()
    cells = page.evaluate("""() => {
      const view = window.atlasCorpusView.view;
      const [x, y] = [view.scale('x'), view.scale('y')];
      const [ox, oy] = view.origin();
      return [ox + x(3) + x.bandwidth() / 2, oy + y(1) + y.bandwidth() / 2];
    }""")
    page.mouse.move(box["x"] + cells[0], box["y"] + cells[1])
    tooltip = page.locator("#vg-tooltip-element")
    tooltip.wait_for(state="visible")
    text = tooltip.inner_text()
    value = page.evaluate("window.atlasCorpus.measures[0].stats.find(s => s.key === 'prev').values[0][2]")
    assert "layer" in text and "head" in text and f"{value:.4f}" in text
    page.mouse.click(box["x"] + cells[0], box["y"] + cells[1])
    page.wait_for_url("**/heads/attention/l1h3.html#s=prev")
    watched.wait_ready()
    assert page.evaluate("window.atlasHead.stat") == "prev"
    watched.assert_clean_file()


def test_a_head_page_links_its_sentences_at_that_head(watched, stats_site, artifacts):
    page = watched.page
    page.goto(f"file://{stats_site}/heads/attention/l2h5.html#s=entropy")
    watched.wait_ready()
    assert page.evaluate("window.atlasHead.stat") == "entropy"
    assert "entropy" in page.locator("#chosen").inner_text()
    top = page.locator("#top li")
    assert top.count() == 6  # the whole tiny corpus: fewer than 10 sentences
    values = [float(v) for v in page.eval_on_selector_all("#top li .num", "ns => ns.map(n => n.textContent)")]
    assert values == sorted(values, reverse=True)
    page.wait_for_function("[...document.querySelectorAll('#top canvas')].every(c => c.width > 0)")
    assert page.locator("#histogram svg").count() == 1
    texts = page.eval_on_selector_all("#top .exemplar-text", "ts => ts.map(t => t.textContent)")
    assert "look <script>alert(1)</script> here" in texts  # corpus text shown as text
    assert page.locator("#top script, #top img").count() == 0  # and never as markup
    page.screenshot(path=str(artifacts / "head-page.png"), full_page=True)
    href = page.locator("#top li a").first.get_attribute("href")
    assert href.startswith("../../sentences/") and href.endswith(".html#l2h5")
    page.locator("#top li a").first.click()
    page.wait_for_url("**/sentences/*.html#l2h5")
    watched.wait_ready()
    assert page.evaluate("[window.atlas.layer, window.atlas.head]") == [2, 5]
    back = page.locator("#head-page")  # and the sentence page links back to the head's page
    assert back.is_visible() and back.get_attribute("href").endswith("/heads/attention/l2h5.html")
    page.keyboard.press("ArrowRight")
    page.wait_for_function("location.hash.startsWith('#l2h6')")
    assert back.get_attribute("href").endswith("/heads/attention/l2h6.html")
    back.click()
    page.wait_for_url("**/heads/attention/l2h6.html*")
    watched.wait_ready()
    watched.assert_clean_file()


# JS: a head page's first map, cell by cell (the pixel at each cell's centre), next to the colour
# Vega gives each of those word pairs on a colour bar of the page's domain (as the sentence
# page's detail draws them)
MINI_MAP_VS_VEGA = """async () => {
  const page = JSON.parse(document.getElementById("atlas-head").textContent);
  const canvas = document.querySelector("#top canvas");
  const name = decodeURIComponent(canvas.closest("a").getAttribute("href").split("/").pop().split(".html")[0]);
  const { fetchBytes, parseMaps, toValue } = window.atlasMaps;
  const maps = parseMaps(await fetchBytes(page.data.replace("{page}", encodeURIComponent(name))));
  const { H, W, codes } = maps;
  const k = (page.layer - 1) * H + (Math.min(page.head, H) - 1);
  const spec = { data: { values: [{ v: 0 }] }, mark: "rect",
    encoding: { color: { field: "v", type: "quantitative",
                         scale: { scheme: "viridis", domain: page.domain, clamp: true } } } };
  const view = (await window.vegaEmbed(document.createElement("div"), spec, { mode: "vega-lite", actions: false })).view;
  const scale = view.scale("color");
  const [margin, cell] = [Number(canvas.dataset.margin), Number(canvas.dataset.cell)];
  const px = canvas.width / (margin + W * cell); // canvas pixels per CSS pixel
  const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  const out = [];
  for (let i = 0; i < W * W; i++) {
    const [x, y] = [margin + (i % W + 0.5) * cell, margin + (Math.floor(i / W) + 0.5) * cell].map((v) => Math.floor(v * px));
    const at = 4 * (y * canvas.width + x);
    const vega = scale(toValue(codes[k * W * W + i])).match(/\\d+/g).slice(0, 3).map(Number);
    out.push([Array.from(pixels.subarray(at, at + 3)), vega]);
  }
  return [Number(canvas.dataset.words), W, out];
}"""


def test_a_head_pages_small_maps_are_in_the_sentence_pages_colours(watched, stats_site):
    """A head page paints its maps with the site's one viridis table: Vega's colours, not a
    table of its own that could drift from the sentence pages' detail."""
    page = watched.page
    page.goto(f"file://{stats_site}/heads/attention/l2h5.html#s=entropy")
    watched.wait_ready()
    page.wait_for_function("[...document.querySelectorAll('#top canvas')].every(c => c.width > 0)")
    drawn, words, pairs = page.evaluate(MINI_MAP_VS_VEGA)
    pairs = np.array(pairs)
    assert drawn == words and pairs.shape == (words * words, 2, 3)  # a cell per word pair
    assert np.abs(pairs[:, 0] - pairs[:, 1]).max() <= 1
    assert len({tuple(c) for c in pairs[:, 1]}) > 1  # a map, not one colour
    watched.assert_clean_file()
