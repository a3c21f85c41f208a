"""The site as researchers use it: on a phone, by touch, opened from disk, long sentences, one head
across sentences, metadata filters, addresses that are corrected and shared."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from test_pages import (
    CELL_CENTRE,
    COUNT_ITEMS,
    DETAIL_CENTRE,
    GRID_THUMBS,
    open_sentence,
    selected,
    sentence_url,
)

pytestmark = pytest.mark.browser

# JS: the detail's drawn word labels (text items of its axes): [text, font size in px]
AXIS_LABELS = """() => {
  const out = [];
  const walk = (node, inAxis) => {
    const axis = inAxis || node.role === "axis";
    if (axis && node.marktype === "text" && node.role === "axis-label") {
      for (const item of node.items) out.push([item.text, item.fontSize]);
    }
    for (const item of node.items || []) walk(item, axis);
  };
  walk(window.atlas.detail.scenegraph().root, false);
  return out;
}"""
# JS: [page width, viewport width]: a page that scrolls sideways is wider than the viewport
WIDTHS = "() => [document.documentElement.scrollWidth, window.innerWidth]"


def index_ready(w, mount: str = "/atlas/", fragment: str = ""):
    w.page.goto(f"{w.origin}{mount}index.html{fragment}")
    w.wait_ready()
    return w.page


def test_phone_index_shows_the_text_without_sideways_scrolling(phone, atlas_store, artifacts):
    page = index_ready(phone)
    page.screenshot(path=str(artifacts / "phone-index.png"), full_page=True)
    width, viewport = page.evaluate(WIDTHS)
    assert viewport == 390 and width <= viewport
    rows = page.locator("#sentence-table tbody tr")
    assert rows.count() == len(atlas_store)
    text = rows.first.locator("td.text")
    box = text.bounding_box()
    assert box["width"] > 250 and text.inner_text() == atlas_store[0].text  # the text is shown
    heads = [page.locator(f"#sentence-table th.{key} button").bounding_box()
             for key in ("n", "id", "text", "words", "labels")]
    for a, b in zip(heads, heads[1:], strict=False):  # sort buttons side by side or wrapped, never on top
        assert a["x"] + a["width"] <= b["x"] or b["y"] >= a["y"] + a["height"], (a, b)
    header = page.locator("header.top").bounding_box()
    assert header["width"] == viewport
    phone.assert_clean()


@pytest.mark.parametrize("width", [360, 390])
def test_phone_sentence_page_fits(phone, width):
    phone.page.set_viewport_size({"width": width, "height": 844})
    page = open_sentence(phone, n=1)
    w, viewport = page.evaluate(WIDTHS)
    assert viewport == width and w <= viewport
    for chart in ("#grid canvas", "#detail canvas"):
        box = page.locator(chart).bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= width, (chart, box)
    phone.assert_clean()


def test_tap_selects_a_head_and_shows_a_tooltip(phone, artifacts):
    page = open_sentence(phone, n=1)
    x, y = page.evaluate(CELL_CENTRE, [4, 7])
    page.touchscreen.tap(x, y)
    page.wait_for_function("window.atlas.head === 7")
    assert selected(page) == [4, 7, "#l4h7", "layer 4, head 7"]
    assert page.evaluate("window.atlas.grid.signal('selLayer')") == 4
    x, y = page.evaluate(CELL_CENTRE, [2, 1])
    page.touchscreen.tap(x, y)
    page.wait_for_function("window.atlas.layer === 2 && window.atlas.head === 1")
    assert selected(page)[2] == "#l2h1"
    page.locator("#detail canvas").scroll_into_view_if_needed()  # a tap lands in the viewport
    page.touchscreen.tap(*page.evaluate(DETAIL_CENTRE, [0, 0]))  # cell (from 0, to 0)
    tip = page.locator("#vg-tooltip-element")
    tip.wait_for(state="visible")
    assert "layer" in tip.inner_text() and "attention" in tip.inner_text()  # the measure
    page.screenshot(path=str(artifacts / "phone-sentence.png"), full_page=True)
    box = page.locator("#special-note").bounding_box()
    page.touchscreen.tap(box["x"] + 5, box["y"] + 5)  # a tap elsewhere hides it
    tip.wait_for(state="hidden")
    phone.assert_clean()


def test_site_works_opened_from_disk(watched, sites, atlas_store):
    """Every file a page reads is a script, which a file:// page may load: the index lists, the
    sentence pages draw, and previous / next keep the head."""
    page = watched.page
    page.goto((sites["/atlas/"] / "index.html").as_uri())
    watched.wait_ready()
    assert page.locator("#sentence-table tbody tr").count() == len(atlas_store)
    page.fill("#search", "horse")
    page.click("#sentence-table tbody a >> nth=0")
    watched.wait_ready()
    assert page.url.startswith("file://") and page.url.endswith("#q=horse")
    rec = atlas_store["pair-2"]
    assert page.evaluate(COUNT_ITEMS, ["detail", "rect"]) == len(rec.words) ** 2
    assert page.evaluate(GRID_THUMBS) == 6 * 12
    page.evaluate("window.atlas.select(3, 5)")
    assert selected(page)[2] == "#l3h5&q=horse"
    assert page.locator("#load-error").is_hidden()
    watched.assert_clean_file()


def test_long_sentence_keeps_legible_labels_and_zooms(watched, long_store, artifacts):
    page = open_sentence(watched, n=0, mount="/long/")
    assert page.evaluate("window.atlas.maps.W") == 150
    r0, r1, c0, c1 = page.evaluate("window.atlas.window")
    n = r1 - r0
    assert (r0, c0) == (0, 0) and c1 - c0 == n and 20 <= n < 150
    labels = page.evaluate(AXIS_LABELS)
    words = [text for text, _ in labels]
    assert len(words) == 2 * n and min(size for _, size in labels) >= 9
    assert page.evaluate(COUNT_ITEMS, ["detail", "rect"]) == n * n
    svg = page.evaluate("window.atlas.detail.toSVG()")
    assert ">ENV<" in svg and ">LAN<" not in svg and ">attention<" in svg  # brackets cut to the window
    assert page.locator("#overview").is_visible()
    page.screenshot(path=str(artifacts / "long-sentence.png"), full_page=True)
    # drag on the overview: rows 1 to 20, columns 100 to 130 (of 150), drawn at full size
    box = page.locator("#overview-map").bounding_box()
    at = lambda word: word / 150  # noqa: E731 - a fraction along the overview
    page.mouse.move(box["x"] + at(100.5) * box["width"], box["y"] + at(0.5) * box["height"])
    page.mouse.down()
    page.mouse.move(box["x"] + at(129.5) * box["width"], box["y"] + at(19.5) * box["height"], steps=4)
    page.mouse.up()
    page.wait_for_function("window.atlas.window[2] === 100")
    assert page.evaluate("window.atlas.window") == [0, 20, 100, 130]
    assert page.evaluate(COUNT_ITEMS, ["detail", "rect"]) == 20 * 30
    svg = page.evaluate("window.atlas.detail.toSVG()")
    assert ">ENV<" in svg and ">LAN<" in svg and ">attention<" in svg
    assert min(size for _, size in page.evaluate(AXIS_LABELS)) >= 9
    page.keyboard.press("ArrowDown")  # a head switch keeps the window
    page.wait_for_function("window.atlas.layer === 2")
    assert page.evaluate("window.atlas.window") == [0, 20, 100, 130]
    watched.assert_clean()


def test_long_sentence_on_a_phone(phone, artifacts):
    page = open_sentence(phone, n=0, mount="/long/")
    w, viewport = page.evaluate(WIDTHS)
    assert w <= viewport
    assert min(size for _, size in page.evaluate(AXIS_LABELS)) >= 9
    legend = page.evaluate("window.atlas.detail.toSVG()")
    assert ">attention<" in legend  # the colour bar: the measure's title
    page.screenshot(path=str(artifacts / "phone-long-sentence.png"), full_page=True)
    page.locator("#overview-map").scroll_into_view_if_needed()
    box = page.locator("#overview-map").bounding_box()
    page.touchscreen.tap(box["x"] + box["width"] * 0.99, box["y"] + box["height"] * 0.99)  # a tap
    page.wait_for_function("window.atlas.window[1] === 150")  # a window around it, in the sentence
    r0, r1, c0, c1 = page.evaluate("window.atlas.window")
    assert r1 == c1 == 150 and r1 - r0 == c1 - c0 == page.evaluate("window.atlas.window[1] - window.atlas.window[0]")
    assert page.evaluate(COUNT_ITEMS, ["detail", "rect"]) == (r1 - r0) ** 2
    phone.assert_clean()


def test_previous_next_keep_the_head_and_follow_the_filtered_sorted_list(watched, long_store):
    page = index_ready(watched, "/long/")
    page.select_option("select[data-meta=speaker_role]", "Mother")
    page.click("th[data-key=words] button")
    page.click("th[data-key=words] button")  # words, descending
    assert page.evaluate("location.hash") == "#meta.speaker_role=Mother&sort=-words"
    ids = page.locator("#sentence-table tbody td.id").all_inner_texts()
    assert ids == ["many-labels", "short-a"]  # 12 words, then 4
    page.click("#sentence-table tbody a >> nth=0")
    watched.wait_ready()
    page.evaluate("window.atlas.select(4, 7)")
    assert selected(page)[2] == "#l4h7&meta.speaker_role=Mother&sort=-words"
    assert page.inner_text("#position") == "1 / 2"
    assert "2 sentences with speaker_role = Mother, sorted by words (descending)" in page.inner_text("#list-note")
    assert page.get_attribute("#prev", "href") is None
    page.keyboard.press("]")
    page.wait_for_url("**/short-a-*.html#l4h7&meta.speaker_role=Mother&sort=-words")
    watched.wait_ready()
    assert selected(page)[:2] == [4, 7] and page.inner_text("#position") == "2 / 2"
    assert page.get_attribute("#next", "href") is None
    page.click("#to-index")
    watched.wait_ready()
    assert page.locator("#sentence-table tbody td.id").all_inner_texts() == ids  # the same list
    assert page.input_value("select[data-meta=speaker_role]") == "Mother"
    watched.assert_clean()


def test_a_missing_index_leaves_previous_next_in_corpus_order(watched, sites, tmp_path):
    """Without data/_index.js, a page whose address holds a list still draws, and says why its
    previous / next follow the corpus order."""
    site = tmp_path / "site"
    shutil.copytree(sites["/atlas/"], site)
    (site / "data" / "_index.js").unlink()
    page = watched.page
    name = next(p.stem for p in sorted((site / "sentences").glob("pair-2-*.html")))
    page.goto((site / "sentences" / f"{name}.html").as_uri() + "#l2h2&q=horse")
    watched.wait_ready()
    assert "could not be read" in page.inner_text("#list-note")
    assert page.get_attribute("#next", "href").endswith(".html#l2h2&q=horse")
    assert page.evaluate(GRID_THUMBS) == 6 * 12
    assert watched.errors == ["Failed to load resource: net::ERR_FILE_NOT_FOUND"]  # the browser's line
    watched.errors.clear()
    watched.assert_clean_file()


def test_previous_next_in_corpus_order_carry_every_parameter(watched, atlas_store):
    page = open_sentence(watched, n=1, fragment="#l4h7&note=x")
    assert selected(page)[2] == "#l4h7&note=x"  # a parameter the page does not know is kept
    next_href = page.get_attribute("#next", "href")
    assert next_href.endswith("#l4h7&note=x")
    page.keyboard.press("[")
    page.wait_for_url("**/sentences/*.html#l4h7&note=x")
    watched.wait_ready()
    assert page.evaluate("JSON.parse(document.getElementById('atlas-sentence').textContent).id") == atlas_store.ids[0]
    assert selected(page)[:2] == [4, 7]
    watched.assert_clean()


def test_a_fragment_parameter_set_by_the_page_travels(watched):
    """window.atlas.setParam (for a measure selector, say) puts a key in the address and links."""
    page = open_sentence(watched, n=1, fragment="#l2h3")
    page.evaluate("window.atlas.setParam('m', 'grad')")
    assert selected(page)[2] == "#l2h3&m=grad" and page.evaluate("window.atlas.param('m')") == "grad"
    assert page.get_attribute("#next", "href").endswith("#l2h3&m=grad")
    page.keyboard.press("ArrowRight")
    page.wait_for_function("window.atlas.head === 4")
    assert selected(page)[2] == "#l2h4&m=grad"
    page.evaluate("window.atlas.setParam('m', null)")
    assert selected(page)[2] == "#l2h4" and page.evaluate("window.atlas.param('m')") is None
    watched.assert_clean()


def test_turning_a_phone_redraws_to_fit(phone):
    page = open_sentence(phone, n=1)
    narrow = page.evaluate("[window.atlas.step, window.atlas.size]")
    page.set_viewport_size({"width": 844, "height": 390})  # landscape
    page.wait_for_function(f"window.atlas.step > {narrow[0]}")
    assert page.evaluate("window.atlas.size") >= narrow[1]
    assert page.evaluate(WIDTHS)[0] <= 844
    page.set_viewport_size({"width": 360, "height": 800})
    page.wait_for_function(f"window.atlas.step <= {narrow[0]}")
    page.wait_for_timeout(400)  # the resize handler waits 150 ms, then redraws
    width, viewport = page.evaluate(WIDTHS)
    assert width <= viewport == 360
    x, y = page.evaluate(CELL_CENTRE, [3, 5])  # the redrawn grid still takes taps
    page.touchscreen.tap(x, y)
    page.wait_for_function("window.atlas.layer === 3 && window.atlas.head === 5")
    phone.assert_clean()


def test_search_and_filters_cover_metadata(watched):
    page = index_ready(watched, "/long/")
    rows = page.locator("#sentence-table tbody tr")
    page.fill("#search", "Target_Child")  # a meta value
    assert rows.count() == 2
    page.fill("#search", "31.5")  # a number, as the page shows it
    assert rows.count() == 1
    page.fill("#search", "")
    options = page.locator("select[data-meta=speaker_role] option").all_inner_texts()
    assert options == ["any", "Investigator", "Mother", "Target_Child"]
    assert page.locator("select[data-meta=age]").count() == 0  # one value: nothing to filter
    page.select_option("#label-filter", "LAN")
    assert rows.count() == 1 and page.evaluate("location.hash") == "#label=LAN"
    shared = page.url.replace("#label=LAN", "#label=ENV&meta.speaker_role=Target_Child")
    page.goto(shared)
    page.reload()
    watched.wait_ready()
    assert page.locator("#sentence-table tbody td.id").all_inner_texts() == ["long-150"]
    assert page.input_value("#label-filter") == "ENV"
    assert "span" in page.inner_text("#count") and "Target_Child" in page.inner_text("#count")
    watched.assert_clean()


def test_long_label_lists_wrap(watched):
    page = index_ready(watched, "/long/", "#q=many-labels")
    cell = page.locator("#sentence-table tbody td.labels").first
    assert cell.inner_text().count("LONG_LABEL_NUMBER_") == 10
    assert page.evaluate("(td) => td.scrollWidth <= td.clientWidth", cell.element_handle())
    assert cell.bounding_box()["height"] > 40  # on several lines
    watched.assert_clean()


@pytest.mark.parametrize(("fragment", "fixed"), [("#l4h13", "#l4h12"), ("#l9h0", "#l6h1"),
                                                 ("#l7h7&k=x", "#l6h7&k=x"),  # others kept
                                                 ("#l7h7&m=x", "#l6h7"),  # a measure it lacks
                                                 ("#l2h2&m=grad&k=x", "#l2h2&k=x")])
def test_invalid_fragments_are_corrected_in_the_address(watched, fragment, fixed):
    page = open_sentence(watched, n=1, fragment=fragment)
    assert selected(page)[2] == fixed
    page.evaluate("location.hash = '#l2h99'")  # changed in place
    page.wait_for_function("location.hash === '#l2h12'")
    assert selected(page) == [2, 12, "#l2h12", "layer 2, head 12"]
    watched.assert_clean()


def test_sentence_url_helper_is_relative(watched):
    """The index's links carry the list state (and nothing when the list is the whole corpus)."""
    page = watched.page
    url = sentence_url(page, watched.origin)
    assert "#" not in url
    page.fill("#search", "horse")
    href = page.locator("#sentence-table tbody a").first.get_attribute("href")
    assert href.startswith("sentences/") and href.endswith(".html#q=horse")
    watched.assert_clean()


# --- measures on the site's pages: from disk, across pages -------------------------------------

MEASURE_SHOWN = """() => [window.atlas.measure, window.atlas.maps.H, location.hash,
    document.getElementById("detail-title").textContent, document.getElementById("measure").value,
    document.getElementById("figure").dataset.measure]"""


def test_measure_selector_works_opened_from_disk(watched, sites, gpt2_all_measures_store):
    """From file://, another measure's data script and specs load as scripts: the selector
    switches grid and detail, a permalink opens its measure, previous / next keep `&m=`."""
    from pipeline.store import AtlasStore

    store = AtlasStore.open(gpt2_all_measures_store)
    site = sites["/measures/"]
    name = next(p.stem for p in sorted((site / "sentences").glob("pair-2-*.html")))
    page = watched.page
    page.goto((site / "sentences" / f"{name}.html").as_uri() + "#l2h3")
    watched.wait_ready()
    assert page.evaluate(MEASURE_SHOWN) == ["attention", 4, "#l2h3", "layer 2, head 3", "attention",
                                            "attention"]
    page.select_option("#measure", "norm")
    page.wait_for_function("document.getElementById('detail-title').textContent.includes('norm')")
    assert page.evaluate(MEASURE_SHOWN) == ["norm", 4, "#l2h3&m=norm", "layer 2, head 3 (norm)",
                                            "norm", "norm"]
    rec = store["pair-2"]
    expected = rec.word_attention(measure="norm")[1, 2].ravel()
    shown = page.evaluate("window.atlas.detail.data('pairs').map((d) => d.value)")
    assert len(shown) == len(rec.words) ** 2 and np.abs(np.array(shown) - expected).max() <= 1 / 255
    assert ">norm<" in page.evaluate("window.atlas.detail.toSVG()")  # its colour bar
    loaded = [u for u in watched.requests if "/data/" in u]
    assert any(u.endswith(f"/data/{name}.norm.js") for u in loaded)  # a script, from disk
    assert page.get_attribute("#next", "href").endswith("#l2h3&m=norm")
    assert page.get_attribute("#prev", "href").endswith("#l2h3&m=norm")

    page.select_option("#measure", "rollout")  # per layer: one column; back again: head 3
    page.wait_for_function("window.atlas.measure === 'rollout' && window.atlas.maps.H === 1")
    page.wait_for_function("location.hash === '#l2h1&m=rollout'")
    assert page.evaluate(GRID_THUMBS) == 2
    page.select_option("#measure", "attention")
    page.wait_for_function("location.hash === '#l2h3'")  # the default: no m
    page.select_option("#measure", "grad")
    page.wait_for_function("location.hash === '#l2h3&m=grad'")

    page.keyboard.press("]")  # the next page opens on grad, at the same head
    page.wait_for_url("**/sentences/*.html#l2h3&m=grad")
    watched.wait_ready()
    assert page.url.startswith("file://") and name not in page.url
    assert page.evaluate(MEASURE_SHOWN)[:4] == ["grad", 4, "#l2h3&m=grad", "layer 2, head 3 (grad)"]
    assert page.locator("#load-error").is_hidden()
    watched.assert_clean_file()


def test_previous_next_keep_the_measure_over_http(watched, gpt2_all_measures_store):
    from pipeline.store import AtlasStore

    store = AtlasStore.open(gpt2_all_measures_store)
    page = open_sentence(watched, n=1, mount="/measures/", fragment="#l1h2&m=norm&q=o")
    assert page.evaluate(MEASURE_SHOWN)[:3] == ["norm", 4, "#l1h2&m=norm&q=o"]
    page.wait_for_function("document.documentElement.dataset.ready === 'true'")
    page.select_option("#measure", "grad")
    page.wait_for_function("location.hash === '#l1h2&q=o&m=grad'")
    for link in ("#prev", "#next"):
        href = page.get_attribute(link, "href")
        assert href.endswith("#l1h2&q=o&m=grad"), href  # a list of the whole corpus
    page.keyboard.press("[")
    page.wait_for_url("**/sentences/*.html#l1h2&q=o&m=grad")
    watched.wait_ready()
    payload = page.evaluate("JSON.parse(document.getElementById('atlas-sentence').textContent)")
    assert payload["id"] == store.ids[0]
    assert page.evaluate(MEASURE_SHOWN)[:4] == ["grad", 4, "#l1h2&q=o&m=grad",
                                                "layer 1, head 2 (grad)"]
    watched.assert_clean()
