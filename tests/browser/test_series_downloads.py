"""The page downloads of a series' figures in a browser: the sentence page's "this head across the
checkpoints" and the head page's "over training", drawn from the specs and the data that
`attention-atlas figure --series` draws (pipeline.site.series_figure): the same values, the same
panels and lines, the same texts. The files go to tests/artifacts/series-download-*."""

from __future__ import annotations

import struct
import xml.etree.ElementTree as ET
import zlib
from collections import Counter

import numpy as np
import pytest
import vl_convert

from pipeline.site.contexts import get_page_names
from pipeline.site.series_figure import (
    get_checkpoints_figure,
    get_checkpoints_figure_data,
    get_training_figure,
    get_training_figure_data,
)
from pipeline.site.series_site import build_series_site
from pipeline.site.serve import start
from pipeline.testing import read_js_global
from pipeline.testing.series import series_stores

pytestmark = pytest.mark.browser

SVG = "{http://www.w3.org/2000/svg}"
STEPS = [0, 10, 100, 1000]
DESKTOP = {"viewport": {"width": 1400, "height": 1000}, "device_scale_factor": 1,
           "accept_downloads": True}


@pytest.fixture(scope="module")
def series(tmp_path_factory):
    """Four checkpoints (steps 0 to 1,000) of 12 sentences, 2 x 3 heads each."""
    return series_stores(tmp_path_factory.mktemp("series-downloads"), STEPS, n=12)


@pytest.fixture(scope="module")
def site(series, tmp_path_factory):
    out = tmp_path_factory.mktemp("series-downloads-site") / "site"
    build_series_site(series, out, max_site_bytes=None, progress=False)
    return out


@pytest.fixture(scope="module")
def origin(site):
    running = start({"/series/": site})
    yield running.origin
    running.stop()


@pytest.fixture
def browser_page(chromium):
    context = chromium.new_context(**DESKTOP)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    yield page, errors
    context.close()


def download(page, box: str, fmt: str) -> tuple[str, bytes]:
    """Click a download box's button for a format: the file's name and bytes."""
    with page.expect_download() as info:
        page.click(f"#{box} button[data-format={fmt}]")
    done = info.value
    return done.suggested_filename, open(done.path(), "rb").read()


def texts(svg: bytes) -> Counter:
    return Counter(t.text for t in ET.fromstring(svg).iter(f"{SVG}text") if t.text)


def check_png(data: bytes, svg: bytes) -> None:
    """A PNG that decodes (its pixel rows inflate to width x height RGBA), twice the SVG's size."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height, depth, colour = struct.unpack(">IIBB", data[16:26])
    root = ET.fromstring(svg)
    assert (width, height) == (round(2 * float(root.get("width"))),
                               round(2 * float(root.get("height"))))
    idat, at = b"", 8
    while at < len(data):
        size, kind = struct.unpack(">I4s", data[at:at + 8])
        if kind == b"IDAT":
            idat += data[at + 8:at + 8 + size]
        at += 12 + size
    assert (depth, colour) == (8, 6)
    assert len(zlib.decompress(idat)) == height * (1 + 4 * width)


def look(artifacts, name: str, svg: bytes) -> None:
    """The SVG, and a PNG of it to look at (vl-convert's renderer, the command's)."""
    (artifacts / name).write_bytes(svg)
    (artifacts / (name + ".png")).write_bytes(vl_convert.svg_to_png(svg.decode(), scale=1.5))


def test_the_sentence_page_downloads_the_head_across_the_checkpoints(series, origin, browser_page,
                                                                     artifacts):
    page, errors = browser_page
    store = series.stores[-1]
    names = get_page_names(list(store.ids))
    n, layer, head = 3, 2, 3
    page.goto(f"{origin}/series/sentences/{names[n]}.html#l{layer}h{head}&c=step-10")
    page.evaluate("window.atlas.ready")
    page.wait_for_function("!document.querySelector('#checkpoints-download button').disabled")
    page.locator("#figure .detail-panel").screenshot(path=artifacts / "series-download-sentence.png")
    name, svg = download(page, "checkpoints-download", "svg")
    assert name == f"figure-{names[n]}-l{layer}h{head}-attention-checkpoints.svg"
    look(artifacts, "series-download-checkpoints.svg", svg)

    # the same data as the command's: every checkpoint's codes / 255, panel by panel
    labels, steps = list(series.labels), list(series.steps)
    titles, datasets, params = get_checkpoints_figure_data(
        labels, steps, series.stores, list(range(4)), store.ids[n], layer, head, "attention")
    drawn = page.evaluate("""async () => {
      const view = await window.atlasCheckpointsFigure.view();
      try { return [view.data("pairs").map((r) => [r.panel, r.from, r.to, r.value]),
                    view.data("spans").map((s) => [s.label, s.first, s.last, s.track]),
                    view.signal("words"), view.signal("selLayer"), view.signal("selHead")]; }
      finally { view.finalize(); }
    }""")
    pairs, spans, words, sel_layer, sel_head = drawn
    assert pairs == [[r["panel"], r["from"], r["to"], r["value"]] for r in datasets["pairs"]]
    assert spans == [[s["label"], s["first"], s["last"], s["track"]] for s in datasets["spans"]]
    assert (words, sel_layer, sel_head) == (params["words"], layer, head)
    for k, st in enumerate(series.stores):  # within one code step of each store's map
        maps = st[store.ids[n]].word_maps("attention")[0][layer - 1, head - 1]
        got = np.zeros_like(maps)
        for p, f, t, v in pairs:
            if p == k:
                got[f, t] = v
        assert np.abs(got - maps).max() <= 1 / 255 + 1e-9

    # the file: text as text, a panel per checkpoint, the command's texts exactly
    found = texts(svg)
    assert titles == ["step 0", "step 10", "step 100", "step 1,000"]
    assert all(found[t] == 1 for t in titles) and found[f"layer {layer}, head {head}"] == 1
    for word in set(words):  # the left column's axis and each panel's bottom axis (one row of 4)
        assert found[word] == 5 * words.count(word), word
    cli = get_checkpoints_figure(labels, steps, series.stores, "svg", sentence=store.ids[n],
                                 layer=layer, head=head)
    assert found == texts(cli)
    look(artifacts, "series-download-checkpoints-cli.svg", cli)

    name, png = download(page, "checkpoints-download", "png")
    assert name.endswith("-checkpoints.png")
    check_png(png, svg)
    assert page.locator("#checkpoints-download [role=status]").text_content() == ""
    assert errors == []


def head_data(site):
    return read_js_global(site / "data" / "_series.js", "atlasSeries")


def test_the_head_page_downloads_the_statistic_over_training(series, site, origin, browser_page,
                                                             artifacts):
    page, errors = browser_page
    layer, head, key = 1, 2, "prev"
    page.goto(f"{origin}/series/heads/attention/l{layer}h{head}.html#s={key}")
    page.evaluate("window.atlasSeriesHead.ready")
    page.wait_for_function("!document.querySelector('#training-download button').disabled")
    heads = [tuple(h) for h in page.evaluate(f"window.atlasTrainingFigure.heads('{key}', true)")]
    leaders = page.evaluate(f"window.atlasSeriesHead.leaders('{key}')")
    assert heads[0] == (layer, head)
    assert set(heads[1:]) == {(b["layer"], b["head"]) for b in leaders} - {(layer, head)}
    page.locator(".over-training").screenshot(path=artifacts / "series-download-head.png")
    name, svg = download(page, "training-download", "svg")
    assert name == f"training-l{layer}h{head}-attention-{key}.svg"
    look(artifacts, "series-download-training.svg", svg)

    labels, steps = list(series.labels), list(series.steps)
    rows = get_training_figure_data(labels, steps, series.stores, key, heads, "attention")
    drawn = page.evaluate("""async () => {
      const view = await window.atlasTrainingFigure.view();
      try { return view.data("lines").map((r) => [r.key, r.step, r.label, r.value]); }
      finally { view.finalize(); }
    }""")
    assert [r[:3] for r in drawn] == [[r["key"], r["step"], r["label"]] for r in rows]
    for (*_, got), row in zip(drawn, rows, strict=True):  # head_stats, to 4 significant digits
        assert got == pytest.approx(row["value"], rel=5e-4)
    for k, st in enumerate(series.stores):
        stats = st.head_stats("attention")[key]
        assert drawn[k][3] == pytest.approx(float(stats[layer - 1, head - 1]), rel=5e-4)

    found = texts(svg)
    assert all(found[f"L{la} H{h}"] == 1 for la, h in heads)  # a legend entry per line
    assert found["prev"] == 1 and found["step (symlog scale: log(1 + step))"] == 1
    assert {"0", "10", "100", "1k"} <= set(found)
    cli = get_training_figure(labels, steps, series.stores, "svg", stat=key, heads=heads)
    assert found == texts(cli)
    look(artifacts, "series-download-training-cli.svg", cli)
    lines = [p for p in ET.fromstring(svg).iter(f"{SVG}path")
             if p.get("stroke-width") == "1.8"]  # the lines' mark (the spec's strokeWidth)
    assert len(lines) == len(heads)

    page.uncheck("#training-leaders")  # this head alone
    name, png = download(page, "training-download", "png")
    assert name == f"training-l{layer}h{head}-attention-{key}.png"
    check_png(png, page.evaluate("""async () => {
      const view = await window.atlasTrainingFigure.view();
      try { return view.toSVG(); } finally { view.finalize(); } }""").encode())
    alone = page.evaluate("""async () => {
      const view = await window.atlasTrainingFigure.view();
      try { return [...new Set(view.data("lines").map((r) => r.key))]; } finally { view.finalize(); }
    }""")
    assert alone == [f"L{layer} H{head}"]
    assert page.locator("#training-download [role=status]").text_content() == ""
    assert errors == []


def test_the_specs_are_a_series_sites_only(site, series):
    specs = read_js_global(site / "assets" / "specs.js", "atlasSpecs")
    figure = specs["figure:checkpoints"]
    assert figure["usermeta"]["checkpoints"] == list(series.labels)
    assert len(figure["concat"]) == 4
    data = head_data(site)
    assert data["figure"]["usermeta"]["datasets"] == ["lines"]
    assert next(s for s in data["measures"][0]["stats"] if s["key"] == "entropy")["axis"] == \
        "entropy (nats)"


def test_both_downloads_work_from_disk(series, site, browser_page):
    """Opened from disk (file://, where nothing may be fetched): the checkpoints' data scripts
    load as scripts, the specs come from assets/specs.js and data/_series.js."""
    page, errors = browser_page
    name = get_page_names(list(series.stores[-1].ids))[0]
    page.goto((site / "sentences" / f"{name}.html").as_uri() + "#l1h1")
    page.evaluate("window.atlas.ready")
    page.wait_for_function("!document.querySelector('#checkpoints-download button').disabled")
    file, svg = download(page, "checkpoints-download", "svg")
    assert file == f"figure-{name}-l1h1-attention-checkpoints.svg"
    assert {"step 0", "step 10", "step 100", "step 1,000", "layer 1, head 1"} <= set(texts(svg))
    page.goto((site / "heads" / "attention" / "l2h1.html").as_uri() + "#s=span%3AMOT%3ECHI")
    page.evaluate("window.atlasSeriesHead.ready")
    page.wait_for_function("!document.querySelector('#training-download button').disabled")
    file, svg = download(page, "training-download", "svg")
    assert file == "training-l2h1-attention-span_MOT_CHI.svg"
    assert {"span mass MOT → CHI", "L2 H1"} <= set(texts(svg))
    assert errors == []
