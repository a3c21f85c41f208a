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
    assert {"layer", "head", "attention", "0.0", "0.1", "0.2", "0.3", "layer 2, head 3"} <= set(texts)
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
