"""An encoder-decoder's corpus view in a browser, one page load: the part from the address
(#p=cross), the cross part's own statistics and decoder-sized grid, the part kept in the address
and carried by the list's links, switching parts and measures (rollout: the encoder only), on a
desktop and a phone's width."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser

CELLS = "() => window.atlasCorpusView.view.data('heads').map((d) => [d.layer, d.head, d.value, d.href])"


def drawn(page, measure: str, stat: str):
    page.wait_for_function(f"window.atlasCorpusView.measure === '{measure}' && "
                           f"window.atlasCorpusView.stat === '{stat}' && "
                           "window.atlasCorpusView.view.data('heads').length > 0")


def test_the_cross_part_from_the_address_and_switching_parts(watched, pair_site, artifacts):
    page = watched.page
    page.goto(f"file://{pair_site}/index.html#p=cross")
    page.wait_for_function("window.atlasCorpusView && window.atlasCorpusView.view", timeout=15_000)
    drawn(page, "attention.cross", "diagonal")  # no prev across two sentences: the diagonal
    assert page.input_value("#corpus-part") == "cross"
    options = page.eval_on_selector_all("#corpus-stat option", "os => os.map(o => o.value)")
    assert options[:8] == ["entropy", "special", "punct", "confidence", "align_entropy",
                           "diagonal", "copy", "copy_next"]
    assert "prev" not in options and "distance" not in options
    assert "span:<TGT>><SRC>" in options  # target labels -> source labels
    cells = page.evaluate(CELLS)
    values = page.evaluate("window.atlasCorpus.measures[2].stats.find(s => s.key === 'diagonal').values")
    assert sorted((c[0], c[1]) for c in cells) == [(la, h) for la in (1, 2, 3) for h in (1, 2)]
    assert all(v == values[la - 1][h - 1] for la, h, v, _ in cells)
    assert cells[0][3] == "heads/attention.cross/l1h1.html#s=diagonal"
    description = page.text_content("#corpus-description")
    assert description.startswith("diagonal: attention a target word pays the source words around")
    # the list's sentence links carry the part; a search keeps it in the address
    links = page.eval_on_selector_all("#sentence-table a", "as => as.map(a => a.getAttribute('href'))")
    assert links and all(href.endswith("#p=cross") for href in links)
    page.fill("#search", "pair")
    page.wait_for_function("location.hash === '#q=pair&p=cross'")
    assert page.get_attribute("#sentence-table a", "href").endswith("#q=pair&p=cross")
    section = page.locator("section.corpus-view")
    section.screenshot(path=str(artifacts / "pair-corpus-cross.png"))
    page.set_viewport_size({"width": 390, "height": 844})  # a phone's width: redrawn to fit
    page.wait_for_timeout(400)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    section.screenshot(path=str(artifacts / "pair-corpus-cross-phone.png"))
    page.set_viewport_size({"width": 1400, "height": 1000})
    # the encoder: its own 2 x 2 heads, prev again, the part out of the address (the default)
    page.select_option("#corpus-part", "encoder")
    drawn(page, "attention", "prev")
    assert len(page.evaluate(CELLS)) == 4 and page.evaluate("location.hash") == "#q=pair"
    assert page.get_attribute("#sentence-table a", "href").endswith("#q=pair")
    # rollout has the encoder only: the other parts cannot be chosen
    page.select_option("#corpus-measure", "rollout")
    drawn(page, "rollout", "prev")
    disabled = page.eval_on_selector_all("#corpus-part option", "os => os.map(o => o.disabled)")
    assert disabled == [False, True, True]
    page.select_option("#corpus-measure", "attention")
    page.evaluate("history.replaceState(null, '', '#p=decoder'); "
                  "window.dispatchEvent(new HashChangeEvent('hashchange'))")  # back, or a link
    drawn(page, "attention.decoder", "prev")
    assert page.input_value("#corpus-part") == "decoder" and len(page.evaluate(CELLS)) == 6
    watched.assert_clean_file()
