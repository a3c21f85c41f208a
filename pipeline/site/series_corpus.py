"""The corpus view of a series, as data: every checkpoint's corpus value of every statistic the
corpus view offers, for the index's checkpoint, change and over-training modes
(assets/series-corpus.js) and the head pages' statistics over training (assets/series-head.js).

Written to data/_series.js (window.atlasSeries), a classic script like data/_corpus.js. The
statistics are pipeline.site.corpus_view's selectables of each checkpoint's own store
(`head_stats(measure)`): the registry's, span mass a -> b and dependency accuracy, keyed as
the corpus view keys them; each checkpoint's values padded to the series' largest L x H with
null (a head that model lacks).
"""

from __future__ import annotations

import logging

import numpy as np

from pipeline.errors import StoreError
from pipeline.site.corpus_charts import get_corpus_grid_spec
from pipeline.site.corpus_view import Cases, _round, selectables
from pipeline.site.names import HEAD_PAGE
from pipeline.site.series_downloads import training_figure_spec
from pipeline.site.series_figure import statistic_label

log = logging.getLogger(__name__)

SERIES_DATA = "data/_series.js"  # window.atlasSeries
LOG_DECADES = 2  # steps spanning this many decades (max / min, steps + 1) get a log-step axis


def log_steps(steps: list[int | None]) -> bool:
    """Whether the over-training charts put the steps on a log axis: every step known, and
    the last at least 10 ** LOG_DECADES times the first (as log(1 + step))."""
    if not steps or any(s is None for s in steps):
        return False
    return (max(steps) + 1) / (min(steps) + 1) >= 10 ** LOG_DECADES


def checkpoint_stats(store, measure: str, cases: Cases) -> dict[str, np.ndarray] | None:
    """A checkpoint's corpus value of every selectable statistic, by key ((L, H) each), or None
    when its store has no statistics of the measure for its current corpus."""
    try:
        stats = store.head_stats(measure)
    except (StoreError, AttributeError) as exc:
        log.warning("%s: no statistics of %r: %s", store.model.get("name"), measure, exc)
        return None
    return {sel.key: np.asarray(sel.values, dtype=np.float64) for sel in selectables(stats, cases)}


def series_values(per_checkpoint: list[dict[str, np.ndarray] | None], key: str,
                  shape: tuple[int, int]) -> np.ndarray:
    """One statistic over the checkpoints: float64 (C, L, H), NaN where a checkpoint lacks the
    statistic or the head."""
    out = np.full((len(per_checkpoint), *shape), np.nan)
    for c, stats in enumerate(per_checkpoint):
        if stats is not None and key in stats:
            values = stats[key]
            out[c, :values.shape[0], :values.shape[1]] = values
    return out


def _nested(values: np.ndarray) -> list:
    """(C, L, H) as nested lists of rounded values, null for NaN."""
    return [[[_round(float(v)) for v in row] for row in grid] for grid in values]


def measure_series(series, measure: str, title: str, selected: list, cases: Cases) -> dict:
    """One measure's statistics over the checkpoints: `selected`, the reference's selectables
    (their order, labels and descriptions), then any statistic only another checkpoint has."""
    per = [checkpoint_stats(ck.store, measure, cases) for ck in series.checkpoints]
    shapes = [v.shape for stats in per if stats for v in list(stats.values())[:1]]
    shape = (max(s[0] for s in shapes), max(s[1] for s in shapes)) if shapes else (1, 1)
    about = {sel.key: sel for sel in selected}
    keys = list(about) + sorted({k for stats in per if stats for k in stats} - set(about))
    stats = []
    for key in keys:
        sel = about.get(key)
        stats.append({"key": key, "label": sel.label if sel else key,
                      "description": sel.description if sel else "",
                      "note": sel.note if sel else "", "axis": statistic_label(key),
                      "floor": sel.floor if sel else 0.0,
                      "values": _nested(series_values(per, key, shape))})
    ref = series.current.store.head_stats(measure).shape
    return {"measure": measure, "title": title, "layers": shape[0], "heads": shape[1],
            "headPages": list(ref), "stats": stats}


def series_data(series, views: list, cases: Cases) -> dict:
    """data/_series.js: the checkpoints and, for each measure with a corpus view (`views`:
    (MeasureView, CorpusView) pairs of the reference), every statistic over the checkpoints,
    with the grid specs the index needs for the series' largest shape and the head pages'
    training figure (pipeline.site.series_downloads; each statistic's `axis`: its y title)."""
    measures = [measure_series(series, view.name, view.title, corpus.stats, cases)
                for view, corpus in views]
    specs = {f"{m['layers']}x{m['heads']}": get_corpus_grid_spec(m["layers"], m["heads"])
             for m in measures}
    steps = [ck.step for ck in series.checkpoints]
    return {"checkpoints": [{"label": ck.label, "step": ck.step, "layers": ck.shape[0],
                             "heads": ck.shape[1]} for ck in series.checkpoints],
            "reference": series.reference, "logStep": log_steps(steps), "pattern": HEAD_PAGE,
            "measures": measures, "specs": specs, "figure": training_figure_spec(steps)}
