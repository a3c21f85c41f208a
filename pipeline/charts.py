"""Vega-Lite specs for the sentence page, built with Altair: the layer x head grid and the detail.

Neither spec depends on the sentence: each is written once per site and bound
to a sentence's data in the browser (`assets/sentence.js`), which fills the
named datasets and sets the parameters listed below before embedding.
"""

from __future__ import annotations

import logging
from typing import Any

import altair as alt

log = logging.getLogger(__name__)

# Names shared with assets/sentence.js: the datasets it fills and the params it sets.
GRID_DATA = "cells"  # rows {layer, head, url}: one thumbnail (a data: URL) per head
DETAIL_DATA = "pairs"  # rows {from, to, value, special, layer, head}: one per word pair
SPAN_DATA = "spans"  # rows {i, label, first, last, track}: one per span of the sentence
SEL_LAYER, SEL_HEAD = "selLayer", "selHead"  # the selected head, 1-based
WORDS = "words"  # the sentence's words, in order (axis labels key on the word index)
TRACKS = "tracks"  # how many rows of brackets the spans need
ROWS, COLS = "rows", "cols"  # the window shown: [first, last) word of rows and of columns;
# [0, 0] shows every word. A long sentence is shown a window at a time (sentence.js), so
# that cells and labels keep a legible size; the brackets are cut to the window.

SELECTED = "#ffd400"  # the selected cell's outline (yellow, as in the reference figure)
BRACKET = "#333333"
TRACK_PX = 24  # room for one row of brackets: tick, line, label
DETAIL_PX = 440  # the detail heatmap is this square, whatever the sentence's length
GRID_PX = 460  # the grid's larger side


def vega_lite_version() -> str:
    """The Vega-Lite version Altair writes (e.g. "6.4"), for the matching JS bundle."""
    return ".".join(alt.SCHEMA_VERSION.lstrip("v").split(".")[:2])


def colour_scale(domain: tuple[float, float]) -> alt.Scale:
    """Viridis over a fixed domain; values above it are clamped to yellow."""
    return alt.Scale(scheme="viridis", domain=list(domain), clamp=True)


def grid_step(n_layers: int, n_heads: int) -> int:
    """Pixels per grid cell, so the grid's larger side is about GRID_PX."""
    return max(16, min(56, GRID_PX // max(n_layers, n_heads)))


def get_grid_spec(n_layers: int, n_heads: int) -> dict[str, Any]:
    """The layers x heads grid: one thumbnail image per head, the selected one outlined."""
    step = grid_step(n_layers, n_heads)
    side = step - 4  # leaves a 4-pixel gap between thumbnails
    head = alt.X(
        "head:O",
        title="head",
        scale=alt.Scale(domain=list(range(1, n_heads + 1)), paddingInner=0, paddingOuter=0),
        axis=alt.Axis(labelAngle=0, orient="top", ticks=False, domain=False),
    )
    layer = alt.Y(
        "layer:O",  # ordinal y runs top-down: layer 1 at the top
        title="layer",
        scale=alt.Scale(domain=list(range(1, n_layers + 1)), paddingInner=0, paddingOuter=0),
        axis=alt.Axis(ticks=False, domain=False, titleAngle=0, titleAlign="right"),
    )
    base = alt.Chart(alt.Data(name=GRID_DATA)).encode(x=head, y=layer)
    thumbs = base.mark_image(
        width=side, height=side, smooth=False, aspect=False, cursor="pointer"
    ).encode(url="url:N", tooltip=[alt.Tooltip("layer:O"), alt.Tooltip("head:O")])
    outline = (
        base.mark_rect(fill=None, stroke=SELECTED, strokeWidth=3, cursor="pointer")
        .encode(tooltip=[alt.Tooltip("layer:O"), alt.Tooltip("head:O")])
        .transform_filter(f"datum.layer == {SEL_LAYER} && datum.head == {SEL_HEAD}")
    )
    chart = alt.layer(thumbs, outline).properties(
        width=alt.Step(step), height=alt.Step(step)
    )
    chart = chart.add_params(alt.param(name=SEL_LAYER, value=1), alt.param(name=SEL_HEAD, value=1))
    return _finish(chart)


def window_start(param: str) -> str:
    """Expression: the first word of a window param ([first, last), [0, 0] for all words)."""
    return f"({param}[1] > {param}[0] ? {param}[0] : 0)"


def window_size(param: str) -> str:
    """Expression: how many words a window param shows (at least 1)."""
    return f"max(1, {param}[1] > {param}[0] ? {param}[1] - {param}[0] : length({WORDS}))"


def _bracket_layers(axis: str) -> list[alt.Chart]:
    """Labelled brackets over each span's words, between the heatmap and one axis's labels,
    cut to the window that the axis shows."""
    window = COLS if axis == "x" else ROWS
    start, n = window_start(window), window_size(window)
    first, last = (f"clamp(datum.{end} - {start}, 0, {n})" for end in ("first", "last"))
    if axis == "x":  # below the heatmap: x runs along the span, y steps down per track
        along = (f"{first} * width / {n}", f"{last} * width / {n}")
        tip, line = f"height + 3 + datum.track * {TRACK_PX}", f"height + 8 + datum.track * {TRACK_PX}"
    else:  # left of the heatmap: y runs along the span, x steps left per track
        along = (f"{first} * height / {n}", f"{last} * height / {n}")
        tip, line = f"-3 - datum.track * {TRACK_PX}", f"-8 - datum.track * {TRACK_PX}"
    a, b = (f"({along[0]}) + 1.5", f"({along[1]}) - 1.5")
    along_pts, across_pts = f"[{a}, {a}, {b}, {b}]", f"[{tip}, {line}, {line}, {tip}]"
    px, py = (along_pts, across_pts) if axis == "x" else (across_pts, along_pts)
    pixel = {"type": "quantitative", "scale": None, "axis": None}
    spans = alt.Chart(alt.Data(name=SPAN_DATA)).transform_filter(f"{first} < {last}")
    path = (
        spans.transform_calculate(px=px, py=py, k="[0, 1, 2, 3]")
        .transform_flatten(["px", "py", "k"])  # one row per corner of the bracket
        .mark_line(stroke=BRACKET, strokeWidth=1.5, clip=False)
        .encode(x=alt.X(field="px", **pixel), y=alt.Y(field="py", **pixel), detail="i:N", order="k:Q")
    )
    mid, out = f"(({along[0]}) + ({along[1]})) / 2", f"{line} + ({2 if axis == 'x' else -2})"
    label_xy = (mid, out) if axis == "x" else (out, mid)
    text = dict(
        fontSize=10, fontWeight="bold", fill=BRACKET, clip=False,
        baseline="top" if axis == "x" else "bottom", angle=0 if axis == "x" else 270,
    )
    label = (
        spans.transform_calculate(tx=label_xy[0], ty=label_xy[1])
        .mark_text(**text)
        .encode(x=alt.X(field="tx", **pixel), y=alt.Y(field="ty", **pixel), text="label:N")
    )
    return [path, label]


def get_detail_spec(
    *, measure_label: str, domain: tuple[float, float], size: int = DETAIL_PX
) -> dict[str, Any]:
    """The selected head, words x words (rows = from, columns = to), spans bracketed on both axes.

    `size` is the map's side in pixels; the page may set another width and height, and the
    label size and the colour bar follow them."""
    words_label = f"{WORDS}[datum.value]"  # key on the word index, label with the word
    cell = f"min(width / {window_size(COLS)}, height / {window_size(ROWS)})"
    font = f"clamp(floor({cell}) - 1, 5, 11)"
    offset = {"expr": f"{TRACKS} * {TRACK_PX} + 3"}
    common = dict(labelExpr=words_label, labelFontSize={"expr": font}, labelLimit=110,
                  ticks=False, domain=False, offset=offset, titleFontWeight="normal")
    to = alt.X("to:O", title="to (attended word)", scale=alt.Scale(paddingInner=0),
               axis=alt.Axis(labelAngle=-60, labelAlign="right", **common))
    frm = alt.Y("from:O", title="from (attending word)", scale=alt.Scale(paddingInner=0),
                axis=alt.Axis(**common))
    colour = alt.Color(
        "value:Q", title=measure_label, scale=colour_scale(domain),
        legend=alt.Legend(gradientLength={"expr": "height"}, gradientThickness=14, titleFontWeight="normal",
                          orient="right", direction="vertical", titleOrient="top"),
    )
    tooltip = [
        alt.Tooltip("fromWord:N", title="from"),
        alt.Tooltip("toWord:N", title="to"),
        alt.Tooltip("layer:O"),
        alt.Tooltip("head:O"),
        alt.Tooltip("value:Q", title=measure_label, format=".4f"),
        alt.Tooltip("special:Q", title="from-word to [CLS]/[SEP]", format=".1%"),
    ]
    heat = (
        alt.Chart(alt.Data(name=DETAIL_DATA))
        .transform_calculate(fromWord=f"{WORDS}[datum.from]", toWord=f"{WORDS}[datum.to]")
        .mark_rect()
        .encode(x=to, y=frm, color=colour, tooltip=tooltip)
    )
    chart = alt.layer(heat, *_bracket_layers("x"), *_bracket_layers("y")).properties(
        width=size, height=size
    )
    chart = chart.add_params(alt.param(name=WORDS, value=[]), alt.param(name=TRACKS, value=0),
                             alt.param(name=ROWS, value=[0, 0]), alt.param(name=COLS, value=[0, 0]))
    return _finish(chart)


def _finish(chart: alt.TopLevelMixin) -> dict[str, Any]:
    """The spec as a plain dict, with a quiet look shared by both charts."""
    spec = chart.to_dict()
    spec["config"] = {
        "view": {"stroke": None},
        "font": "system-ui, sans-serif",  # a local font: the site requests nothing outside it
        "axis": {"labelColor": "#222", "titleColor": "#222", "labelFontSize": 11},
        "legend": {"labelColor": "#222", "titleColor": "#222"},
    }
    spec.pop("$schema", None)  # a URL nothing needs to fetch; keep the site free of them
    return spec


# --- the corpus view (the index) and the head pages ----------------------------------------

HEADS_DATA = "heads"  # rows {layer, head, value, href}: one per head, for the selected statistic
HIST_DATA = "bins"  # rows {lo, hi, sentences}: one per histogram bin of a head's statistic
STAT_TITLE = "statistic"  # the colour bar's title; corpus.js sets it to the statistic's label


def get_corpus_grid_spec(n_layers: int, n_heads: int) -> dict[str, Any]:
    """Every head as one cell coloured by a statistic's corpus value; a cell links to its head
    page. corpus.js sets the colour domain and title to the statistic's before embedding."""
    step = grid_step(n_layers, n_heads)
    head = alt.X("head:O", title="head",
                 scale=alt.Scale(domain=list(range(1, n_heads + 1)), paddingInner=0.08),
                 axis=alt.Axis(labelAngle=0, orient="top", ticks=False, domain=False))
    layer = alt.Y("layer:O", title="layer",
                  scale=alt.Scale(domain=list(range(1, n_layers + 1)), paddingInner=0.08),
                  axis=alt.Axis(ticks=False, domain=False, titleAngle=0, titleAlign="right"))
    colour = alt.Color("value:Q", title=STAT_TITLE,
                       scale=alt.Scale(scheme="viridis", domain=[0.0, 1.0], clamp=True),
                       legend=alt.Legend(gradientLength=min(320, step * n_layers),
                                         gradientThickness=14, titleFontWeight="normal",
                                         orient="right", titleOrient="top"))
    chart = alt.Chart(alt.Data(name=HEADS_DATA)).mark_rect(cursor="pointer").encode(
        x=head, y=layer, color=colour, href="href:N",
        tooltip=[alt.Tooltip("layer:O"), alt.Tooltip("head:O"),
                 alt.Tooltip("value:Q", title=STAT_TITLE, format=".4f"),
                 alt.Tooltip("rank:O", title="rank among the heads")],
    ).properties(width=alt.Step(step), height=alt.Step(step))
    return _finish(chart)


def get_histogram_spec(width: int = 360, height: int = 140) -> dict[str, Any]:
    """One head's statistic over the corpus's sentences: sentences per bin."""
    bars = alt.Chart(alt.Data(name=HIST_DATA)).mark_rect(color="#31688e").encode(
        x=alt.X("lo:Q", title=STAT_TITLE, bin="binned", axis=alt.Axis(tickCount=6)),
        x2="hi:Q",
        y=alt.Y("sentences:Q", title="sentences"),
        tooltip=[alt.Tooltip("lo:Q", title="from", format=".4f"),
                 alt.Tooltip("hi:Q", title="to", format=".4f"), alt.Tooltip("sentences:Q")],
    ).properties(width=width, height=height)
    return _finish(bars)
