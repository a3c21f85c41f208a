"""The page downloads of a series' two figures (docs/site.md, "Figures of a series"): the
sentence page's "this head across the checkpoints" and the head page's "over training", drawn in
the browser (assets/series-figures.js) from the specs that `attention-atlas figure --series`
renders (pipeline.site.series_charts), bound to the page's own data.

- The checkpoints figure: a spec per measure in assets/specs.js, under the measure's figure key +
  CHECKPOINTS_FIGURE, with a panel per checkpoint whose maps the sentence pages carry for that
  measure (in series order, the reference included); its `usermeta.checkpoints` names them.
  Which checkpoints those are is the size plan's choice (pipeline.site.series_plan), made after
  the site's fixed part is measured: specs.js is written first with every candidate and
  rewritten after the plan with those it chose (a subset: never larger).
- The training figure: one spec in data/_series.js (`figure`; its steps are the series'), the
  page setting the y axis's title to the statistic's (each statistic's `axis`,
  pipeline.site.series_figure.statistic_label).
"""

from __future__ import annotations

from typing import Any

from pipeline.site.series_charts import (
    checkpoint_title,
    get_checkpoints_figure_spec,
    get_training_figure_spec,
)
from pipeline.site.series_sentence import checkpoint_measures, offered

CHECKPOINTS_FIGURE = ":checkpoints"  # specs.js: a measure's figure key + this


def carried(series, measures) -> dict[str, list]:
    """By measure (MeasureView.name), the checkpoints whose maps of it the sentence pages carry,
    in series order: the reference, and those with sentence data whose store holds it."""
    others = checkpoint_measures(series, measures)
    return {view.name: [ck for k, ck in enumerate(series.checkpoints) if k == series.reference
                        or any(ck is other and view in views for other, views in others)]
            for view in measures}


def checkpoints_figure_specs(site) -> dict[str, Any]:
    """Each measure's checkpoints figure (assets/specs.js), for a series whose pages offer other
    checkpoints' maps; none for a one-model site or a series of several tokenizers."""
    if not offered(site.series):
        return {}
    specs = {}
    for view, chosen in zip(site.measures, carried(site.series, site.measures).values(),
                            strict=True):
        spec = get_checkpoints_figure_spec([checkpoint_title(ck.label, ck.step) for ck in chosen],
                                           measure_label=view.title, domain=view.domain)
        spec["usermeta"]["checkpoints"] = [ck.label for ck in chosen]
        specs[view.figure + CHECKPOINTS_FIGURE] = spec
    return specs


def training_figure_spec(steps: list[int | None]) -> dict[str, Any]:
    """The training figure of a series of these steps, its y axis untitled (the page titles it
    with the statistic it draws)."""
    return get_training_figure_spec(list(steps), stat_label="")
