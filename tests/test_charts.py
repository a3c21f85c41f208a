"""The Vega-Lite specs: the reference figure's axes, colours and brackets, rendered by vl-convert."""

from __future__ import annotations

import copy
import json
import re

import pytest
import vl_convert

from pipeline import charts

WORDS = ["<CHI>", "painted", "a", "picture", "of", "a", "horse"]
SPANS = [{"i": 0, "label": "<ENV>", "first": 0, "last": 4, "track": 0},
         {"i": 1, "label": "MOT", "first": 2, "last": 7, "track": 1}]


def bind(spec: dict, datasets: dict, **params) -> dict:
    """What assets/sentence.js does: fill the named datasets, set the params."""
    spec = copy.deepcopy(spec)
    spec["datasets"] = datasets
    for param in spec["params"]:
        if param["name"] in params:
            param["value"] = params[param["name"]]
    return spec


@pytest.fixture(scope="module")
def detail() -> dict:
    return charts.get_detail_spec(measure_label="saliency", domain=(0.0, 0.3))


@pytest.fixture(scope="module")
def grid() -> dict:
    return charts.get_grid_spec(6, 12)


def layers(spec: dict) -> list[dict]:
    return spec["layer"]


def test_grid_axes_follow_the_figure(grid):
    thumbs, outline = layers(grid)
    x, y = thumbs["encoding"]["x"], thumbs["encoding"]["y"]
    assert (x["field"], x["title"], y["field"], y["title"]) == ("head", "head", "layer", "layer")
    assert x["scale"]["domain"] == list(range(1, 13))
    assert y["scale"]["domain"] == list(range(1, 7))  # ordinal y, ascending: layer 1 on top
    assert "sort" not in y and "reverse" not in y["scale"]
    assert thumbs["mark"]["type"] == "image" and thumbs["mark"]["smooth"] is False
    assert outline["mark"]["stroke"] == charts.SELECTED
    assert "selLayer" in outline["transform"][0]["filter"]
    assert {p["name"] for p in grid["params"]} == {charts.SEL_LAYER, charts.SEL_HEAD}


def test_grid_step_fits_models():
    assert charts.grid_step(6, 12) * 12 <= charts.GRID_PX
    assert charts.grid_step(48, 32) >= 16  # big models still get visible cells


def test_detail_heatmap_encoding(detail):
    heat = layers(detail)[0]
    enc = heat["encoding"]
    assert (enc["x"]["field"], enc["y"]["field"]) == ("to", "from")  # columns attended, rows attending
    assert enc["x"]["type"] == enc["y"]["type"] == "ordinal"  # keyed by word index
    assert enc["x"]["axis"]["labelExpr"] == "words[datum.value]"
    scale = enc["color"]["scale"]
    assert scale == {"scheme": "viridis", "domain": [0.0, 0.3], "clamp": True}
    assert enc["color"]["title"] == "saliency"
    tips = [t["field"] for t in enc["tooltip"]]
    assert tips == ["fromWord", "toWord", "layer", "head", "value", "special"]


def test_specs_hold_no_urls(grid, detail):
    assert not re.search(r"https?://", json.dumps(grid) + json.dumps(detail))


def test_specs_compile_to_vega(grid, detail):
    version = charts.vega_lite_version()
    for spec in (grid, detail):
        vega = vl_convert.vegalite_to_vega(spec, vl_version=version)
        assert {d["name"] for d in vega["data"]} >= ({"cells"} if spec is grid else {"pairs", "spans"})
    scales = vl_convert.vegalite_to_vega(detail, vl_version=version)["scales"]
    assert "color" in {s["name"] for s in scales}  # sentence.js reads the thumbnails' colours from it


def test_detail_renders_words_spans_and_colour_bar(detail):
    rows = [{"from": f, "to": t, "value": 0.5 if f == t else 0.01, "special": 0.1, "layer": 1, "head": 1}
            for f in range(len(WORDS)) for t in range(len(WORDS))]
    spec = bind(detail, {"pairs": rows, "spans": SPANS}, words=WORDS, tracks=2)
    svg = vl_convert.vegalite_to_svg(spec, vl_version=charts.vega_lite_version())
    labels = re.findall(r"<text[^>]*>([^<]*)</text>", svg)
    assert labels.count("&lt;CHI&gt;") == 2  # one per axis, as text
    assert labels.count("a") == 4  # the two a's stay two cells on each axis
    assert labels.count("&lt;ENV&gt;") == 2 and labels.count("MOT") == 2  # brackets on both axes
    assert "saliency" in labels and "0.30" in labels  # the colour bar: title, fixed domain
    assert "rgb(253, 231, 37)" in svg or "#fde725" in svg.lower()  # clamped values: viridis yellow


def test_grid_renders_images_and_outline(grid):
    pixel = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
    cells = [{"layer": la, "head": h, "url": pixel} for la in range(1, 7) for h in range(1, 13)]
    svg = vl_convert.vegalite_to_svg(bind(grid, {"cells": cells}, selLayer=2, selHead=3),
                                     vl_version=charts.vega_lite_version())
    assert svg.count("<image") == 72
    assert charts.SELECTED in svg
    labels = re.findall(r"<text[^>]*>([^<]*)</text>", svg)
    assert "layer" in labels and "head" in labels
