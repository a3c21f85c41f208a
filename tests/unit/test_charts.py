"""The Vega-Lite specs: the reference figure's axes, colours and brackets, rendered by vl-convert."""

from __future__ import annotations

import copy
import json
import re

import numpy as np
import pytest
import vl_convert

from pipeline.site import charts

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


PIXEL = ("data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QD"
         "wADhgGAWjR9awAAAABJRU5ErkJggg==")
YELLOW = "rgb(253, 231, 37)"  # viridis at the top of its domain


def render_grid(n_layers: int, n_heads: int, sel: tuple[int, int] = (1, 1)) -> str:
    """The grid spec for a model shape, bound as sentence.js binds it, rendered to SVG."""
    cells = [{"layer": la, "head": h, "url": PIXEL} for la in range(1, n_layers + 1)
             for h in range(1, n_heads + 1)]
    spec = bind(charts.get_grid_spec(n_layers, n_heads), {"cells": cells},
                selLayer=sel[0], selHead=sel[1])
    return vl_convert.vegalite_to_svg(spec, vl_version=charts.vega_lite_version())


def thumbnails(svg: str) -> dict[tuple[int, int], tuple[float, float, float, float]]:
    """(layer, head) -> (x, y, width, height) of each drawn thumbnail, in the plot's pixels."""
    found = re.findall(r'<image aria-label="head: (\d+); layer: (\d+);[^>]*?transform="translate\(([-\d.]+),'
                       r'([-\d.]+)\)" width="([\d.]+)" height="([\d.]+)"', svg)
    return {(int(la), int(h)): tuple(map(float, box)) for h, la, *box in found}


def plot_size(svg: str) -> tuple[float, float]:
    """(width, height) of the chart's plot area (its background path)."""
    w, h = re.search(r'class="background"[^>]* d="M0,0h([\d.]+)v([\d.]+)', svg).groups()
    return float(w), float(h)


def test_grid_follows_the_figure():
    svg = render_grid(6, 12, sel=(2, 3))
    boxes = thumbnails(svg)
    assert len(boxes) == 72
    assert boxes[(1, 1)][0] < boxes[(1, 2)][0] < boxes[(1, 12)][0]  # heads left to right
    assert boxes[(1, 1)][1] < boxes[(2, 1)][1] < boxes[(6, 1)][1]  # layer 1 at the top
    labels = re.findall(r'<text[^>]*translate\(([-\d.]+),([-\d.]+)\)[^>]*>([^<]*)</text>', svg)
    assert all(float(y) < 0 for _, y, t in labels if t == "head")  # head axis above the grid
    assert "layer" in [t for *_, t in labels]
    x0, y0, w, h = map(float, re.search(rf'd="M([\d.]+),([\d.]+)h([\d.]+)v([\d.]+)[^"]*" stroke="{charts.SELECTED}"',
                                        svg).groups())
    x, y, tw, th = boxes[(2, 3)]  # the yellow outline is around the selected head, and only it
    assert x0 <= x and x + tw <= x0 + w and y0 <= y and y + th <= y0 + h
    assert svg.count(f'stroke="{charts.SELECTED}"') == 1
    assert svg.count("image-rendering: pixelated") == 72  # thumbnails not smoothed


@pytest.mark.parametrize("shape", [(1, 1), (2, 4), (6, 12), (12, 12), (24, 16), (48, 32)],
                         ids=lambda s: f"{s[0]}x{s[1]}")
def test_grid_fits_any_model(shape):
    """Thumbnails never overlap, stay visible, and the grid stays near GRID_PX unless that
    would make them too small to see."""
    n_layers, n_heads = shape
    svg = render_grid(n_layers, n_heads)
    boxes = np.array(list(thumbnails(svg).values()))  # (L * H, 4): x, y, width, height
    assert len(boxes) == n_layers * n_heads
    x, y, w, h = boxes.T
    apart = ((x[:, None] + w[:, None] <= x[None, :]) | (x[None, :] + w[None, :] <= x[:, None])
             | (y[:, None] + h[:, None] <= y[None, :]) | (y[None, :] + h[None, :] <= y[:, None]))
    np.fill_diagonal(apart, True)
    assert apart.all(), "two thumbnails overlap"
    assert w.min() >= 12 and w.max() <= 52 and (w == h).all()  # square, visible, never huge
    width, height = plot_size(svg)
    assert (x >= 0).all() and (y >= 0).all() and (x + w <= width).all() and (y + h <= height).all()
    assert max(width, height) <= max(charts.GRID_PX, 16 * max(n_layers, n_heads))


def test_detail_rows_attend_and_columns_are_attended(detail):
    """Rows are the attending word, columns the attended one; tooltips name both, as words."""
    words = ["the", "horse", "ran"]
    rows = [{"from": f, "to": t, "value": 0.3 if (f, t) == (0, 2) else 0.0, "special": 0.1,
             "layer": 1, "head": 1} for f in range(3) for t in range(3)]
    svg = vl_convert.vegalite_to_svg(bind(detail, {"pairs": rows, "spans": []}, words=words, tracks=0),
                                     vl_version=charts.vega_lite_version())
    cells = re.findall(r'<path aria-label="([^"]*)"[^>]* d="M([\d.]+),([\d.]+)h[^"]*" fill="([^"]+)"', svg)
    assert len(cells) == 9
    (label, x, y, _), = [c for c in cells if c[3] == YELLOW]  # the one high value
    width, height = plot_size(svg)
    assert float(x) >= width * 2 / 3 and float(y) == 0  # column "ran" (to), row "the" (from)
    assert "from: the; to: ran" in label and "saliency: 0.3" in label and "from-word to special tokens: 10.0%" in label
    vega = vl_convert.vegalite_to_vega(detail, vl_version=charts.vega_lite_version())
    tip = next(m for m in vega["marks"] if m["type"] == "rect")["encode"]["update"]["tooltip"]["signal"]
    assert re.findall(r'"([^"]+)": (?:isValid|format)', tip) == [
        "from", "to", "layer", "head", "saliency", "from-word to special tokens"]
    assert 'format(datum["value"], ".4f")' in tip  # exact values in the tooltip


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
    assert "saliency" in labels  # the colour bar: its title, and ticks over the fixed domain
    assert [t for t in labels if re.fullmatch(r"\d\.\d+", t)] == ["0.0", "0.1", "0.2", "0.3"]
    assert "rgb(253, 231, 37)" in svg or "#fde725" in svg.lower()  # clamped values: viridis yellow


@pytest.mark.parametrize(("domain", "ticks", "fmt"), [
    ((0.0, 0.3), [0.0, 0.1, 0.2, 0.3], ".1f"),
    ((0.0, 1.0), [0.0, 0.2, 0.4, 0.6, 0.8, 1.0], ".1f"),
    ((0.0, 0.05), [0.0, 0.01, 0.02, 0.03, 0.04, 0.05], ".2f"),
    ((0.0, 0.25), [0.0, 0.05, 0.1, 0.15, 0.2, 0.25], ".2f"),
    ((0.0, 0.7), [0.0, 0.2, 0.4, 0.6, 0.7], ".1f"),
], ids=lambda v: str(v))
def test_colour_bar_ticks_include_both_ends_at_round_steps(domain, ticks, fmt):
    assert charts.colour_ticks(domain) == (ticks, fmt)
