"""An encoder-decoder store's sentence page in a browser (assets/sentence-parts.js): the part
selector and `&p=`, the rectangular cross map (target rows, source columns, spans on each side),
the decoder's grid, a measure without the part, previous / next keeping it, and a target's
markup shown as text; two page loads (a page, then its next)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import _watched

from pipeline.site.build import build_site
from pipeline.site.serve import start
from pipeline.store import AtlasStore, quantize
from pipeline.testing import read_js_global
from pipeline.testing.seq2seq import synthetic_pair_store

pytestmark = pytest.mark.browser

# JS: what the detail draws: its rows' and columns' words, scales and span labels
DETAIL = """() => {
  const view = window.atlas.detail;
  return { rowWords: view.signal("rowWords"), words: view.signal("words"),
    rows: view.scale("y").domain().length, cols: view.scale("x").domain().length,
    rowSpans: view.data("rowSpans").map((s) => s.label), spans: view.data("spans").map((s) => s.label),
    title: document.getElementById("detail-title").textContent, part: document.getElementById("part").value,
    L: window.atlas.maps.L, H: window.atlas.maps.H, hash: location.hash };
}"""


@pytest.fixture(scope="module")
def pair_server(tmp_path_factory):
    """A synthetic pair store (attention and rollout; a 2 x 2 encoder, a 3 x 2 decoder), its site
    served under /pairs/: (store, origin, the page names by id)."""
    root = tmp_path_factory.mktemp("pair-browser")
    store = synthetic_pair_store(root / "atlas.zarr", n=3, measures=("attention", "rollout"))
    build_site(store, root / "site", progress=False)
    rows = read_js_global(root / "site" / "data" / "_index.js", "atlasIndexData")["rows"]
    running = start({"/pairs/": (root / "site").resolve()})
    yield AtlasStore.open(store), running.origin, {row[0]: row[1] for row in rows}
    running.stop()


def test_parts_cross_map_fallback_and_previous_next(chromium, pair_server, artifacts):
    store, origin, pages = pair_server
    watched = _watched(chromium, origin, viewport={"width": 1400, "height": 1000}, device_scale_factor=1)
    w = next(watched)
    page = w.page
    page.goto(f"{origin}/pairs/sentences/{pages['pair-1']}.html#l2h1&p=cross")
    w.wait_ready()
    rec = store["pair-1"]
    shown = page.evaluate(DETAIL)
    assert [o for o in page.eval_on_selector_all("#part option", "os => os.map((o) => o.value)")] == [
        "encoder", "decoder", "cross"]
    assert shown["part"] == "cross" and shown["title"] == "cross layer 2, head 1"
    assert shown["rowWords"] == list(rec.target_words) and shown["words"] == list(rec.words)
    assert (shown["rows"], shown["cols"]) == (len(rec.target_words), len(rec.words))
    assert shown["rowSpans"] == ["<TGT>", "CHI"] and shown["spans"] == ["<SRC>", "CHI"]
    assert (shown["L"], shown["H"]) == (3, 2)  # the decoder's layers and heads
    codes = np.array(page.evaluate("Array.from(window.atlas.maps.codes)"), np.uint8)
    np.testing.assert_array_equal(codes, quantize(rec.word_maps(part="cross")[0]).reshape(-1))
    box = page.locator("#detail canvas").bounding_box()
    assert box["height"] > box["width"] * 0.9  # 10 target rows by 8 source columns: taller
    assert "p=cross" in page.get_attribute("#next", "href")
    # the special-token note names the columns' side's: the source's EOS (the decoder's: below)
    assert page.inner_text("#special-note").startswith("Special tokens (</s>) receive ")
    page.screenshot(path=str(artifacts / "parts-cross-1400.png"), full_page=True)
    svg = page.evaluate("window.atlasFigure.view().then((view) => view.toSVG())")  # the download
    assert "cross layer 2, head 1" in svg and ">qui</text>" in svg and ">who's</text>" in svg

    # rollout has the encoder only: shown, said, and cross comes back with attention
    page.select_option("#measure", "rollout")
    page.wait_for_function("document.getElementById('figure').dataset.measure === 'rollout'")
    shown = page.evaluate(DETAIL)
    assert shown["part"] == "encoder" and shown["rowWords"] == shown["words"] == list(rec.words)
    assert "rollout has no cross part" in page.inner_text("#part-note")
    assert "m=rollout" in shown["hash"] and "p=cross" in shown["hash"]  # the choice stays
    page.select_option("#measure", "attention")
    page.wait_for_function("document.getElementById('figure').dataset.part === 'cross'")
    assert page.locator("#part-note").is_hidden()

    # the decoder: target x target, in the address, carried to the next sentence
    page.select_option("#part", "decoder")
    page.wait_for_function("document.getElementById('figure').dataset.part === 'decoder'")
    shown = page.evaluate(DETAIL)
    assert shown["rowWords"] == shown["words"] == list(rec.target_words) and "p=decoder" in shown["hash"]
    assert "The decoder is causal" in page.inner_text("#part-note")
    assert page.inner_text("#special-note").startswith("Special tokens (<pad>, </s>) receive ")
    page.keyboard.press("]")
    page.wait_for_url(f"**/{pages['xss/script']}.html*")
    w.wait_ready()
    shown = page.evaluate(DETAIL)
    assert shown["part"] == "decoder" and "p=decoder" in shown["hash"]
    assert shown["words"] == list(store["xss/script"].target_words)
    assert "regarde <script>alert(2)</script> ici" in page.inner_text("#target-text")  # text, not run
    w.assert_clean()  # no dialog: the target's <script> ran nothing
    next(watched, None)  # closes the context
