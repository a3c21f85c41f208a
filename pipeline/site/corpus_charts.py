"""The corpus view's charts (the index) and the head pages': every head coloured by a statistic,
and one head's statistic over the sentences as a histogram (Vega-Lite specs, as charts.py makes the
sentence page's)."""

from __future__ import annotations

from typing import Any

import altair as alt

from pipeline.site.charts import PAGE_FONT, finish_chart, grid_step

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
    return finish_chart(chart, PAGE_FONT)


def get_histogram_spec(width: int = 360, height: int = 140) -> dict[str, Any]:
    """One head's statistic over the corpus's sentences: sentences per bin, the x axis over the
    bins' range (head.js sets it to the head's edges), neither widened to round numbers nor to 0."""
    bars = alt.Chart(alt.Data(name=HIST_DATA)).mark_rect(color="#31688e").encode(
        x=alt.X("lo:Q", title=STAT_TITLE, bin="binned", axis=alt.Axis(tickCount=6),
                scale=alt.Scale(zero=False, nice=False)),
        x2="hi:Q",
        y=alt.Y("sentences:Q", title="sentences"),
        tooltip=[alt.Tooltip("lo:Q", title="from", format=".4f"),
                 alt.Tooltip("hi:Q", title="to", format=".4f"), alt.Tooltip("sentences:Q")],
    ).properties(width=width, height=height)
    return finish_chart(bars, PAGE_FONT)
