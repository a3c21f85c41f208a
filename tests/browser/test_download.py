"""The sentence page's "download figure (SVG / PNG)": a file made in the browser from the figure spec."""

from __future__ import annotations

import re
import struct
import xml.etree.ElementTree as ET

import pytest

pytestmark = pytest.mark.browser

SVG = "{http://www.w3.org/2000/svg}"


def open_sentence(watched, n: int, fragment: str):
    """Open the n-th sentence page (its link from the index) and wait until it is drawn."""
    page = watched.page
    page.goto(f"{watched.origin}/atlas/index.html")
    page.wait_for_function("document.documentElement.dataset.ready")
    href = page.evaluate(f"window.atlasIndex.rows[{n}].page")
    page.goto(f"{watched.origin}/atlas/sentences/{href}.html{fragment}")
    watched.wait_ready()
    return page


def download(page, fmt: str):
    """Click the page's download button for a format; the file's name and bytes."""
    with page.expect_download() as info:
        page.click(f"#figure-download button[data-format={fmt}]")
    done = info.value
    return done.suggested_filename, open(done.path(), "rb").read()


def test_download_figure_svg_and_png(watched, atlas_store, artifacts):
    page = open_sentence(watched, n=1, fragment="#l2h3")  # pair-2, as the reference figure
    rec = atlas_store[1]
    name, data = download(page, "svg")
    assert re.fullmatch(r"figure-pair-2-[0-9a-f]{12}-l2h3-attention\.svg", name)
    root = ET.fromstring(data)
    texts = [t.text for t in root.iter(f"{SVG}text")]
    for word in set(rec.words):  # every word on both axes
        assert texts.count(word) == 2 * rec.words.count(word), word
    for label, *_ in rec.spans:
        assert texts.count(label) == 2  # its bracket on each axis
    # the colour bar's top marks the clamped values, where this head has values above 0.3
    top = "\u2265 0.3" if (rec.word_maps()[0][1, 2] * 255).round().max() > 0.3 * 255 else "0.3"
    assert {"layer", "head", "attention", "0.0", "0.1", "0.2", top, "layer 2, head 3"} <= set(texts)
    outline = [p for p in root.iter(f"{SVG}path") if p.get("stroke") == "#ffd400"]
    assert len(outline) == 1  # the selected head, outlined in yellow
    (artifacts / name).write_bytes(data)

    page.keyboard.press("ArrowRight")  # the page's head changes; so does the next file
    page.wait_for_function("location.hash === '#l2h4'")
    name, data = download(page, "png")
    assert name.endswith("-l2h4-attention.png")
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    svg_width, svg_height = float(root.get("width")), float(root.get("height"))
    assert (width, height) == (round(2 * svg_width), round(2 * svg_height))  # twice the figure
    (artifacts / name).write_bytes(data)
    assert page.locator("#figure-download [role=status]").text_content() == ""
    watched.assert_clean()


# JS: the figure the page would download, as data: [word pairs, rows, cols, words] (figure.js)
FIGURE_DATA = """async () => {
  const view = await window.atlasFigure.view();
  try {
    return [view.data("pairs").length, view.signal("rows"), view.signal("cols"), view.signal("words").length];
  } finally {
    view.finalize();
  }
}"""


def test_download_from_disk_names_and_draws_the_measure_on_show(watched, sites):
    """Opened from disk (file://, where nothing may be fetched), the figure of another measure:
    its spec from assets/specs.js, its grid (one column for rollout), its colour bar."""
    site = sites["/measures/"]
    name = next(p.stem for p in sorted((site / "sentences").glob("pair-2-*.html")))
    page = watched.page
    page.goto((site / "sentences" / f"{name}.html").as_uri() + "#l2h3&m=rollout")
    watched.wait_ready()
    # drawn without Vega (assets/detail-draw.js), which the download loads from disk on demand
    assert page.evaluate("typeof window.vegaEmbed") == "undefined"
    file, data = download(page, "svg")
    assert page.evaluate("typeof window.vegaEmbed") == "function"
    assert file == f"figure-{name}-l2h1-rollout.svg"
    root = ET.fromstring(data)
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert {"all heads", "rollout", "layer 2, head 1"} <= set(texts)
    assert len(list(root.iter(f"{SVG}image"))) == 2  # a thumbnail per layer
    page.select_option("#measure", "grad")
    page.wait_for_function("location.hash === '#l2h1&m=grad'")
    file, data = download(page, "png")
    assert file == f"figure-{name}-l2h1-grad.png" and data[:8] == b"\x89PNG\r\n\x1a\n"
    assert page.locator("#figure-download [role=status]").text_content() == ""
    watched.assert_clean_file()


def test_the_figure_draws_the_whole_sentence_the_page_shows_a_window_of(phone, tmp_path):
    """On a phone a 50-word sentence is shown a window at a time; its figure (440 px) holds it
    whole. A 150-word one would not: its figure is the page's window."""
    from pipeline.site.build import build_site
    from pipeline.testing import FakeStore

    words = [f"w{i}" for i in range(50)]
    build_site(FakeStore([("fifty", " ".join(words), [("A", 0, 25), ("B", 25, 50)])]),
               tmp_path / "site", progress=False)
    page = phone.page
    page.goto(next((tmp_path / "site" / "sentences").glob("*.html")).as_uri() + "#l2h2")
    phone.wait_ready()
    r0, r1, c0, c1 = page.evaluate("window.atlas.window")
    assert r1 - r0 < 50 and c1 - c0 < 50  # the page: a window
    assert page.evaluate(FIGURE_DATA) == [50 * 50, [0, 0], [0, 0], 50]  # the figure: every word
    file, data = download(page, "svg")
    assert file.endswith("-l2h2-attention.svg")
    texts = [t.text for t in ET.fromstring(data).iter(f"{SVG}text")]
    assert all(texts.count(word) == 2 for word in words) and {"A", "B"} <= set(texts)
    phone.assert_clean_file()


def test_the_figure_of_a_very_long_sentence_is_the_window_on_show(watched):
    page = watched.page
    page.goto(f"{watched.origin}/long/index.html")
    watched.wait_ready()
    href = page.evaluate("window.atlasIndex.rows[0].page")
    page.goto(f"{watched.origin}/long/sentences/{href}.html#l1h1")
    watched.wait_ready()
    r0, r1, c0, c1 = page.evaluate("window.atlas.window")
    assert page.evaluate("window.atlas.maps.W") == 150 and r1 - r0 < 62
    assert page.evaluate(FIGURE_DATA) == [(r1 - r0) * (c1 - c0), [r0, r1], [c0, c1], 150]
    watched.assert_clean()
