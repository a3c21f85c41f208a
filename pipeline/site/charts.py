"""Vega-Lite specs for the sentence page, built with Altair: the layer x head grid, the detail,
and the figure that puts both side by side (`attention-atlas figure`, the page's download).

No spec depends on the sentence: each is written once per site and bound to a
sentence's data in the browser (`assets/sentence.js`, `assets/figure.js`), or in
Python for a figure (`bind`, `pipeline.site.figure`), which fill the named datasets and
set the parameters listed below. The grid and the detail are built once here
(`_grid_layers`, `_detail_layers`) and used by all three specs, so the figure and
the page cannot drift apart.
"""

from __future__ import annotations

import copy
import functools
import json
import logging
from typing import Any

import altair as alt
import vl_convert

from pipeline.site.colours import (  # noqa: F401 - charts' names too
    CLAMPED,
    COLOUR_DOMAIN,
    COLOUR_LABELS,
    COLOUR_TICKS,
    colour_labels,
    colour_params,
    colour_scale,
    colour_ticks,
    fit_domain,
    vega_lite_version,
    vl_convert_version,
)

log = logging.getLogger(__name__)

# Names shared with assets/sentence.js: the datasets it fills and the params it sets.
GRID_DATA = "cells"  # rows {layer, head, url}: one thumbnail (a data: URL) per head
DETAIL_DATA = "pairs"  # rows {from, to, value, special, layer, head}: one per word pair
SPAN_DATA = "spans"  # rows {i, label, first, last, track}: one per span of the sentence
SEL_LAYER, SEL_HEAD = "selLayer", "selHead"  # the selected head, 1-based
WORDS = "words"  # the sentence's words, in order (axis labels key on the word index)
TRACKS = "tracks"  # how many rows of brackets the spans need
# A rectangular detail (an encoder-decoder model's parts: pipeline.site.parts) has its own rows:
ROW_WORDS = "rowWords"  # the rows' words (the target's for decoder and cross); `words`: the columns'
ROW_TRACKS = "rowTracks"  # the rows' bracket rows; `tracks`: the columns'
ROW_SPANS = "rowSpans"  # the rows' spans (`spans`: the columns')
ROWS, COLS = "rows", "cols"  # the window shown: [first, last) word of rows and of columns;
# [0, 0] shows every word. A long sentence is shown a window at a time (sentence-window.js), so
# that cells and labels keep a legible size; the brackets are cut to the window.

SELECTED = "#ffd400"  # the selected cell's outline (yellow, as in the reference figure)
BRACKET = "#333333"
TRACK_PX = 24  # room for one row of brackets: tick, line, label
LEGEND_MIN_PX = 160  # the least length of a part's colour bar (a cross map of few target words)
DETAIL_PX = 440  # the detail heatmap is this square, whatever the sentence's length
GRID_PX = 460  # the grid's larger side
PAGE_FONT = "system-ui, sans-serif"  # a local font: the site requests nothing outside it
# vl-convert ships Liberation Sans (metrically Arial), so a figure measures and lays out its
# text alike on every machine; viewers without it draw Arial or Helvetica at the same widths.
FIGURE_FONT = "Liberation Sans, Arial, Helvetica, sans-serif"
NOTE = "#555555"


def to_vega(spec: dict[str, Any]) -> dict[str, Any]:
    """A Vega-Lite spec compiled to Vega by vl-convert, at the Vega-Lite version of the site's
    bundle: what the browser's Vega-Lite would compile it to (assets/embed.js)."""
    return _to_vega(json.dumps(spec, sort_keys=True))


@functools.lru_cache(maxsize=64)
def _to_vega(spec: str) -> dict[str, Any]:
    """to_vega of a spec as JSON text (cached: each site compiles the same few specs)."""
    vega = vl_convert.vegalite_to_vega(json.loads(spec), vl_version=vl_convert_version())
    vega.pop("$schema", None)  # a URL nothing needs to fetch
    return vega


def grid_step(n_layers: int, n_heads: int, side: int = GRID_PX) -> int:
    """Pixels per grid cell, so the grid's larger side is about `side`."""
    return max(16, min(56 * side // GRID_PX, side // max(n_layers, n_heads)))


def _grid_params(layer: int = 1, head: int = 1) -> list[alt.Parameter]:
    """The grid's parameters: the selected head, 1-based."""
    return [alt.param(name=SEL_LAYER, value=layer), alt.param(name=SEL_HEAD, value=head)]


def _grid_layers(n_layers: int, n_heads: int, side: int = GRID_PX,
                 per_layer: bool = False) -> alt.LayerChart:
    """The layers x heads grid: one thumbnail image per head, the selected one outlined.

    per_layer: a measure with one map per layer (rollout): one column, "all heads".
    """
    step = grid_step(n_layers, n_heads, side)
    side = step - 4  # leaves a 4-pixel gap between thumbnails
    head = alt.X(
        "head:O",
        title="all heads" if per_layer else "head",
        scale=alt.Scale(domain=list(range(1, n_heads + 1)), paddingInner=0, paddingOuter=0),
        axis=alt.Axis(labelAngle=0, orient="top", ticks=False, domain=False,
                      labels=not per_layer),
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
    return alt.layer(thumbs, outline).properties(width=alt.Step(step), height=alt.Step(step))


def get_grid_spec(n_layers: int, n_heads: int, per_layer: bool = False) -> dict[str, Any]:
    """The layers x heads grid of the page (one column for a per-layer measure)."""
    spec = finish_chart(_grid_layers(n_layers, n_heads, per_layer=per_layer).add_params(*_grid_params()),
                   PAGE_FONT)
    # the layer axis's title in the corner above its numbers, as assets/grid-fit.js's axes() sets
    # it on a grid that fits: its Vega compiled at build time (assets/embed.js) then draws as is
    for layer in spec["layer"]:
        layer["encoding"]["y"]["axis"].update(titleBaseline="bottom", titleX=0, titleY=-6)
    return spec


def window_start(param: str) -> str:
    """Expression: the first word of a window param ([first, last), [0, 0] for all words)."""
    return f"({param}[1] > {param}[0] ? {param}[0] : 0)"


def window_size(param: str, words: str = WORDS) -> str:
    """Expression: how many words a window param shows (at least 1) of the axis's `words`."""
    return f"max(1, {param}[1] > {param}[0] ? {param}[1] - {param}[0] : length({words}))"


def _bracket_layers(axis: str, width: str, height: str, rect: bool = False) -> list[alt.Chart]:
    """Labelled brackets over each span's words, between the heatmap and one axis's labels,
    cut to the window that the axis shows. `width` and `height`: the heatmap's pixels, as
    expressions (the page's `width` / `height` signals, which it resizes; a number in the
    figure, whose concat has no such signals of the detail's). `rect`: the rows have words and
    spans of their own (ROW_WORDS, ROW_SPANS)."""
    window = COLS if axis == "x" else ROWS
    own_rows = rect and axis == "y"
    start, n = window_start(window), window_size(window, ROW_WORDS if own_rows else WORDS)
    first, last = (f"clamp(datum.{end} - {start}, 0, {n})" for end in ("first", "last"))
    if axis == "x":  # below the heatmap: x runs along the span, y steps down per track
        along = (f"{first} * {width} / {n}", f"{last} * {width} / {n}")
        tip = f"{height} + 3 + datum.track * {TRACK_PX}"
        line = f"{height} + 8 + datum.track * {TRACK_PX}"
    else:  # left of the heatmap: y runs along the span, x steps left per track
        along = (f"{first} * {height} / {n}", f"{last} * {height} / {n}")
        tip, line = f"-3 - datum.track * {TRACK_PX}", f"-8 - datum.track * {TRACK_PX}"
    a, b = (f"({along[0]}) + 1.5", f"({along[1]}) - 1.5")
    along_pts, across_pts = f"[{a}, {a}, {b}, {b}]", f"[{tip}, {line}, {line}, {tip}]"
    px, py = (along_pts, across_pts) if axis == "x" else (across_pts, along_pts)
    pixel = {"type": "quantitative", "scale": None, "axis": None}
    spans = alt.Chart(alt.Data(name=ROW_SPANS if own_rows else SPAN_DATA)).transform_filter(
        f"{first} < {last}")
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


def _detail_params(domain: tuple[float, float] | None = None,
                   rect: bool = False) -> list[alt.Parameter]:
    """The detail's parameters: the sentence's words, its rows of brackets, the window shown;
    with a `domain`, the colour bar's (COLOUR_DOMAIN ...: colour_params); `rect`: the rows'
    words and rows of brackets too (ROW_WORDS, ROW_TRACKS)."""
    colour = colour_params(domain) if domain is not None else {}
    rows = [alt.param(name=ROW_WORDS, value=[]), alt.param(name=ROW_TRACKS, value=0)] if rect else []
    return [alt.param(name=WORDS, value=[]), alt.param(name=TRACKS, value=0), *rows,
            alt.param(name=ROWS, value=[0, 0]), alt.param(name=COLS, value=[0, 0]),
            *(alt.param(name=name, value=value) for name, value in colour.items())]


# the detail's axis titles (columns, rows): a self model's, and an encoder-decoder model's parts
AXIS_TITLES = {"self": ("to (attended word)", "from (attending word)"),
               "encoder": ("to (source word)", "from (source word)"),
               "decoder": ("to (target word)", "from (target word)"),
               "cross": ("to (source word)", "from (target word)")}


def _detail_layers(*, measure_label: str, domain: tuple[float, float],
                   size: int = DETAIL_PX, resizable: bool = False,
                   scheme: str = "viridis", part: str = "self") -> alt.LayerChart:
    """The selected head, words x words (rows = from, columns = to), spans bracketed on both axes.

    `size` is the map's side in pixels; `resizable`: the page may set another width and height
    (its `width` / `height` signals), and the labels, brackets and colour bar follow them.
    `part`: an encoder-decoder model's part (encoder, decoder, cross): the rows have words, spans
    and brackets of their own (ROW_WORDS ...), target rows by source columns for cross."""
    rect = part != "self"
    row_words = ROW_WORDS if rect else WORDS
    width, height = ("width", "height") if resizable else (str(size), str(size))
    cell = f"min({width} / {window_size(COLS)}, {height} / {window_size(ROWS, row_words)})"
    font = f"clamp(floor({cell}) - 1, 5, 11)"

    def common(words: str, tracks: str) -> dict[str, Any]:  # key on the word index, label with the word
        return dict(labelExpr=f"{words}[datum.value]", labelFontSize={"expr": font}, labelLimit=110,
                    ticks=False, domain=False, offset={"expr": f"{tracks} * {TRACK_PX} + 3"},
                    titleFontWeight="normal")

    to_title, from_title = AXIS_TITLES[part]
    to = alt.X("to:O", title=to_title, scale=alt.Scale(paddingInner=0),
               axis=alt.Axis(labelAngle=-60, labelAlign="right", **common(WORDS, TRACKS)))
    frm = alt.Y("from:O", title=from_title, scale=alt.Scale(paddingInner=0),
                axis=alt.Axis(**common(row_words, ROW_TRACKS if rect else TRACKS)))
    # a part's map may be short (a few target rows): its colour bar keeps a legible length
    length = {"expr": f"max({height}, {LEGEND_MIN_PX})" if rect else height}
    legend = dict(gradientLength=length if resizable else size, gradientThickness=14,
                  titleFontWeight="normal", orient="right", direction="vertical",
                  titleOrient="top")
    if scheme == "viridis":  # a measure's maps: the colour bar's params (colour_params)
        scale = alt.Scale(scheme=scheme, domain=alt.ExprRef(COLOUR_DOMAIN), clamp=True)
        legend.update(values=alt.ExprRef(COLOUR_TICKS), labelExpr=(
            f"({CLAMPED}[1] && datum.value >= {COLOUR_DOMAIN}[1] ? '\u2265 ' : "
            f"{CLAMPED}[0] && datum.value <= {COLOUR_DOMAIN}[0] ? '\u2264 ' : '') + "
            f"{COLOUR_LABELS}[indexof({COLOUR_TICKS}, datum.value)]"))
    else:  # a series' difference: the page sets its domain and ticks (series-sentence.js)
        ticks, tick_format = colour_ticks(domain)
        scale = colour_scale(domain, scheme)
        legend.update(values=ticks, format=tick_format)
    colour = alt.Color("value:Q", title=measure_label, scale=scale, legend=alt.Legend(**legend))
    tooltip = [
        alt.Tooltip("fromWord:N", title="from"),
        alt.Tooltip("toWord:N", title="to"),
        alt.Tooltip("layer:O"),
        alt.Tooltip("head:O"),
        alt.Tooltip("value:Q", title=measure_label, format=".4f"),
        alt.Tooltip("special:Q", title="from-word to special tokens", format=".1%"),
    ]
    heat = (
        alt.Chart(alt.Data(name=DETAIL_DATA))
        .transform_calculate(fromWord=f"{row_words}[datum.from]", toWord=f"{WORDS}[datum.to]")
        .mark_rect()
        .encode(x=to, y=frm, color=colour, tooltip=tooltip)
    )
    brackets = [*_bracket_layers("x", width, height), *_bracket_layers("y", width, height, rect)]
    return alt.layer(heat, *brackets).properties(width=size, height=size)


def get_detail_spec(
    *, measure_label: str, domain: tuple[float, float], size: int = DETAIL_PX, part: str = "self"
) -> dict[str, Any]:
    """The detail of the page: the selected head's word x word map (the page may resize it and
    show a window of a long sentence: the `rows` / `cols` params); `part`: an encoder-decoder
    model's (rows with words of their own: target x source for cross)."""
    chart = _detail_layers(measure_label=measure_label, domain=domain, size=size, resizable=True,
                           part=part)
    return finish_chart(chart.add_params(*_detail_params(domain, part != "self")), PAGE_FONT)


# A series' difference of two checkpoints (assets/series-sentence.js): a diverging scheme (maps.js
# holds its table, BLUE_ORANGE, for the canvases), over a domain symmetric around 0 that the page
# sets with the colour bar's title (the measure and the two checkpoints) before drawing
DIVERGING = "blueorange"
DIFFERENCE_TITLE = "difference"
DIFFERENCE_DOMAIN = (-1.0, 1.0)


def get_difference_detail_spec(size: int = DETAIL_PX) -> dict[str, Any]:
    """The detail of the page showing one checkpoint's maps minus another's: the word x word
    map on the diverging scheme; the page sets the colour bar's domain and title."""
    chart = _detail_layers(measure_label=DIFFERENCE_TITLE, domain=DIFFERENCE_DOMAIN, size=size,
                           resizable=True, scheme=DIVERGING)
    return finish_chart(chart.add_params(*_detail_params()), PAGE_FONT)


def get_difference_figure_spec(n_layers: int, n_heads: int, *,
                               per_layer: bool = False) -> dict[str, Any]:
    """The figure (grid beside detail) of a difference of two checkpoints, as the page downloads
    it; the page sets the colour bar's domain and title, as for its detail."""
    return get_figure_spec(n_layers, n_heads, measure_label=DIFFERENCE_TITLE,
                           domain=DIFFERENCE_DOMAIN, per_layer=per_layer, scheme=DIVERGING)


def _special_note() -> alt.Chart:
    """A line above the map: the share of the head's attention that went to special tokens,
    averaged over the from-words (each pair row carries its from-word's share)."""
    share = "datum.share"
    text = (f"{share} > 0 ? ['Special tokens receive ' + format({share}, '.1%') + "
            "\" of this head's attention,\", 'averaged over the words; rows show the rest.'] : "
            "'No attention goes to special tokens in this head.'")
    return (
        alt.Chart(alt.Data(name=DETAIL_DATA))
        .transform_filter(f"datum.to == {window_start(COLS)}")  # one row per from-word shown
        .transform_aggregate(share="mean(special)")
        .transform_calculate(note=text, x="0", y=f"{share} > 0 ? -21 : -8")  # 1 or 2 lines
        .mark_text(align="left", baseline="bottom", fontSize=10, fill=NOTE, clip=False,
                   lineHeight=13)
        .encode(x=alt.X("x:Q", scale=None, axis=None), y=alt.Y("y:Q", scale=None, axis=None),
                text="note:N")
    )


def get_figure_spec(n_layers: int, n_heads: int, *, measure_label: str,
                    domain: tuple[float, float], size: int = DETAIL_PX, grid: bool = True,
                    note: bool = True, font: str = FIGURE_FONT,
                    per_layer: bool = False, scheme: str = "viridis",
                    part: str = "self") -> dict[str, Any]:
    """The reference figure: the grid (selected head outlined) beside the detail, titled with
    the head, the special-share note above the map; `grid=False` gives the detail alone;
    `per_layer`: a measure with one map per layer (one grid column, "all heads"); `scheme`: the
    colour scheme (DIVERGING for a series' difference of two checkpoints); `part`: an
    encoder-decoder model's (the rows' words and spans their own: ROW_WORDS ...)."""
    detail = _detail_layers(measure_label=measure_label, domain=domain, size=size, scheme=scheme,
                            part=part)
    if note:
        detail = alt.layer(*detail.layer, _special_note()).properties(width=size, height=size)
    named = "" if part == "self" else f"{part} "  # an encoder-decoder model's part
    head = alt.ExprRef(expr=f"'{named}layer ' + {SEL_LAYER} + ', head ' + {SEL_HEAD}")
    detail = detail.properties(title=alt.TitleParams(
        text=head, anchor="start", fontSize=13, offset=8))
    params = [*_grid_params(), *_detail_params(domain if scheme == "viridis" else None, part != "self")]
    if grid:
        side = GRID_PX * size // DETAIL_PX  # the grid scales with the detail
        chart = alt.hconcat(_grid_layers(n_layers, n_heads, side, per_layer), detail, spacing=40)
    else:
        chart = detail
    spec = finish_chart(chart.add_params(*params), font)
    # the datasets to fill, for assets/figure.js (which takes them from the page's charts)
    spec["usermeta"] = {"datasets": [*([GRID_DATA] if grid else []), DETAIL_DATA, SPAN_DATA,
                                     *([ROW_SPANS] if part != "self" else [])]}
    return spec


def bind(spec: dict[str, Any], datasets: dict[str, list], params: dict[str, Any]) -> dict[str, Any]:
    """A copy of a spec with its named datasets filled and its params set (as sentence.js binds)."""
    spec = copy.deepcopy(spec)
    spec["datasets"] = datasets
    for param in spec.get("params", []):
        if param["name"] in params:
            param["value"] = params[param["name"]]
    return spec


def finish_chart(chart: alt.TopLevelMixin, font: str) -> dict[str, Any]:
    """The spec as a plain dict, with a quiet look shared by every chart."""
    spec = chart.to_dict(validate=False)  # the same dict; validating every spec took a second a build
    spec["config"] = {
        "view": {"stroke": None},
        "font": font,
        "axis": {"labelColor": "#222", "titleColor": "#222", "labelFontSize": 11},
        "legend": {"labelColor": "#222", "titleColor": "#222"},
    }
    spec.pop("$schema", None)  # a URL nothing needs to fetch; keep the site free of them
    return spec
