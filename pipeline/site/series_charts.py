"""Vega-Lite specs of a series (issue 21): the two figures of training-dynamics papers.

- `get_checkpoints_figure_spec`: one head of one sentence across checkpoints, one word x word
  map per checkpoint (small multiples, titled with the checkpoint), spans bracketed as in the
  sentence figure, one colour bar for all;
- `get_training_figure_spec`: chosen heads' statistic over training, one line per head
  (legend "L{l} H{h}") over the step axis: logarithmic where the steps span a decade or more.

Like pipeline.site.charts, no spec holds data: each is bound to named datasets and params
(`charts.bind`), by pipeline.site.series_figure for `attention-atlas figure` or by a page.
The specs are deterministic (the same arguments give the same dict) and use the figure's
font (`charts.FIGURE_FONT`, which vl-convert ships).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import altair as alt

from pipeline.site import charts
from pipeline.site.charts import (
    COLS,
    DETAIL_DATA,
    FIGURE_FONT,
    ROWS,
    SEL_HEAD,
    SEL_LAYER,
    SPAN_DATA,
    TRACK_PX,
    TRACKS,
    WORDS,
)

# the checkpoints figure: DETAIL_DATA rows {panel, from, to, value} (panel: 0-based, in the
# figure's order), SPAN_DATA rows as the sentence figure's, params WORDS, TRACKS, SEL_LAYER,
# SEL_HEAD (the title), ROWS and COLS ([0, 0]: every word)
PANEL_PX = 200  # each map's side
COLUMNS = 4  # maps per row, at most
# the training figure: LINE_DATA rows {key, step, label, value}: key "L1 H2" names the head's
# line (legend order: the rows' order), step the checkpoint's step (None: the series' order,
# by label), value the statistic (rows with no value leave a gap)
LINE_DATA = "lines"
LINE_WIDTH, LINE_HEIGHT = 420, 260
# a step as a tick shows it: 0, 50, 100, 2.5k, 10k, 1M
STEP_LABEL = ("abs(datum.value) >= 1e6 ? format(datum.value / 1e6, '~g') + 'M' : "
              "abs(datum.value) >= 1e3 ? format(datum.value / 1e3, '~g') + 'k' : "
              "format(datum.value, '~g')")


def checkpoint_title(label: str, step: int | None) -> str:
    """A panel's title: "step 1,000" for a label step-1000 of step 1000; else the label, with
    its step when it has one ("final (step 2,000)")."""
    if step is None:
        return label
    if label == f"step-{step}":
        return f"step {step:,}"
    return f"{label} (step {step:,})"


def _panel(k: int, title: str, *, measure_label: str, domain: tuple[float, float], size: int,
           y_labels: bool, x_labels: bool) -> alt.LayerChart:
    """Checkpoint k's map (rows = from, columns = to), with word labels and the spans'
    brackets on the axes that show labels (the left column, the bottom row)."""
    n = f"length({WORDS})"
    cell = f"{size} / max(1, {n})"
    font = f"clamp(floor({cell}) - 1, 5, 11)"
    offset = {"expr": f"{TRACKS} * {TRACK_PX} + 3"}
    common = dict(labelExpr=f"{WORDS}[datum.value]", labelFontSize={"expr": font},
                  labelLimit=110, ticks=False, domain=False, offset=offset,
                  titleFontWeight="normal")
    to = alt.X("to:O", scale=alt.Scale(paddingInner=0),
               axis=alt.Axis(title="to (attended word)", labelAngle=-60, labelAlign="right",
                             **common) if x_labels else None)
    frm = alt.Y("from:O", scale=alt.Scale(paddingInner=0),
                axis=alt.Axis(title="from (attending word)", **common) if y_labels else None)
    ticks, tick_format = charts.colour_ticks(domain)
    colour = alt.Color("value:Q", title=measure_label, scale=charts.colour_scale(domain),
                       legend=alt.Legend(gradientLength=size, gradientThickness=14,
                                         titleFontWeight="normal", orient="right",
                                         direction="vertical", titleOrient="top",
                                         values=ticks, format=tick_format))
    tooltip = [alt.Tooltip("fromWord:N", title="from"), alt.Tooltip("toWord:N", title="to"),
               alt.Tooltip("value:Q", title=measure_label, format=".4f")]
    heat = (alt.Chart(alt.Data(name=DETAIL_DATA)).transform_filter(f"datum.panel == {k}")
            .transform_calculate(fromWord=f"{WORDS}[datum.from]", toWord=f"{WORDS}[datum.to]")
            .transform_calculate(about="'from ' + datum.from + ' to ' + datum.to + ': ' + "
                                       "format(datum.value, '.6f')")  # a reader's (aria) label
            .mark_rect().encode(x=to, y=frm, color=colour, tooltip=tooltip,
                                description="about:N"))
    brackets = []
    if x_labels:
        brackets += charts._bracket_layers("x", str(size), str(size))
    if y_labels:
        brackets += charts._bracket_layers("y", str(size), str(size))
    return alt.layer(heat, *brackets).properties(
        width=size, height=size,
        title=alt.TitleParams(text=title, anchor="middle", fontSize=12, fontWeight="normal",
                              offset=6))


def get_checkpoints_figure_spec(titles: list[str], *, measure_label: str,
                                domain: tuple[float, float], size: int = PANEL_PX,
                                columns: int = COLUMNS, font: str = FIGURE_FONT) -> dict[str, Any]:
    """One head of one sentence across checkpoints: a map per title (`checkpoint_title`), in
    rows of at most `columns`, word labels on the left column and the bottom of each column,
    one colour bar (titled `measure_label`, over `domain`) for all, and the head as the
    figure's title."""
    if not titles:
        raise ValueError("a checkpoints figure needs at least one checkpoint")
    columns = max(1, min(columns, len(titles)))
    panels = [_panel(k, title, measure_label=measure_label, domain=domain, size=size,
                     y_labels=k % columns == 0, x_labels=k + columns >= len(titles))
              for k, title in enumerate(titles)]
    head = alt.ExprRef(expr=f"'layer ' + {SEL_LAYER} + ', head ' + {SEL_HEAD}")
    chart = alt.concat(*panels, columns=columns, spacing=16).resolve_scale(
        color="shared").resolve_legend(color="shared").properties(
        title=alt.TitleParams(text=head, anchor="start", fontSize=13, offset=10))
    params = [alt.param(name=SEL_LAYER, value=1), alt.param(name=SEL_HEAD, value=1),
              alt.param(name=WORDS, value=[]), alt.param(name=TRACKS, value=0),
              alt.param(name=ROWS, value=[0, 0]), alt.param(name=COLS, value=[0, 0])]
    spec = charts.finish_chart(chart.add_params(*params), font)
    spec["usermeta"] = {"datasets": [DETAIL_DATA, SPAN_DATA]}
    return spec


@dataclass(frozen=True)
class StepAxis:
    """How the training figure draws its steps: `kind` "log" (every step > 0, spanning a decade
    or more), "symlog" (the same with a step 0: linear around 0, logarithmic beyond), "linear",
    or "ordinal" (a model without a step: the series' order, by label); the domain and ticks."""

    kind: str
    domain: tuple[float, float] | None = None
    ticks: tuple[float, ...] = ()


def step_axis(steps: list[int | None]) -> StepAxis:
    """The step axis for these steps: logarithmic where the positive steps span a decade or more
    (max / min >= 10), with ticks at powers of ten (1, 2, 5 times them over less than two
    decades); a step of 0 beside them makes it symlog (log(1 + step): 0 sits left of 1)."""
    if not steps or any(s is None for s in steps):
        return StepAxis("ordinal")
    low, high = min(steps), max(steps)
    positive = [s for s in steps if s > 0]
    if low < 0 or not positive or max(positive) / min(positive) < 10:
        whole = tuple(range(low, high + 1)) if high - low <= 10 else ()  # few: every step
        return StepAxis("linear", (float(low), float(high)), whole)
    lo, hi = min(positive), max(positive)
    mantissas = (1, 2, 5) if hi / lo < 100 else (1,)
    ticks = [m * 10 ** e for e in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1)
             for m in mantissas if lo <= m * 10 ** e <= hi]
    if low == 0:
        return StepAxis("symlog", (0.0, float(high)), (0, *ticks))
    return StepAxis("log", (float(low), float(high)), tuple(ticks))


def get_training_figure_spec(steps: list[int | None], *, stat_label: str,
                             width: int = LINE_WIDTH, height: int = LINE_HEIGHT,
                             font: str = FIGURE_FONT) -> dict[str, Any]:
    """Chosen heads' statistic over training: a line with a point per checkpoint for each head,
    coloured by head (legend "head", in the rows' order), x the step (`step_axis(steps)`), y
    the statistic (titled `stat_label`)."""
    axis = step_axis(steps)
    if axis.kind == "ordinal":
        x = alt.X("label:N", title="model", sort=None,
                  axis=alt.Axis(labelAngle=-30, labelAlign="right", titleFontWeight="normal"))
    else:
        kinds = {"log": alt.Scale(type="log", domain=list(axis.domain), nice=False),
                 "symlog": alt.Scale(type="symlog", constant=1, domain=list(axis.domain),
                                     nice=False),
                 "linear": alt.Scale(type="linear", domain=list(axis.domain), nice=False,
                                     zero=False)}
        ticks = dict(values=list(axis.ticks)) if axis.ticks else dict(tickMinStep=1)  # whole
        title = {"log": "step (log scale)", "symlog": "step (symlog scale: log(1 + step))",
                 "linear": "step"}[axis.kind]
        x = alt.X("step:Q", title=title, scale=kinds[axis.kind],
                  axis=alt.Axis(labelExpr=STEP_LABEL, grid=True, titleFontWeight="normal",
                                **ticks))
    y = alt.Y("value:Q", title=stat_label, scale=alt.Scale(zero=False, nice=True),
              axis=alt.Axis(grid=True, titleFontWeight="normal"))
    colour = alt.Color("key:N", title="head", sort=None, scale=alt.Scale(scheme="tableau10"),
                       legend=alt.Legend(titleFontWeight="normal", orient="right"))
    base = alt.Chart(alt.Data(name=LINE_DATA)).transform_filter("isValid(datum.value)")
    lines = base.mark_line(strokeWidth=1.8).encode(x=x, y=y, color=colour, detail="key:N")
    points = base.mark_point(filled=True, size=28, opacity=1).encode(
        x=x, y=y, color=colour,
        tooltip=[alt.Tooltip("key:N", title="head"), alt.Tooltip("label:N", title="checkpoint"),
                 alt.Tooltip("value:Q", title=stat_label, format=".4f")])
    spec = charts.finish_chart(alt.layer(lines, points).properties(width=width, height=height), font)
    spec["config"]["axis"] = {**spec["config"]["axis"], "gridColor": "#e6e6e6"}
    spec["usermeta"] = {"datasets": [LINE_DATA]}
    return spec
