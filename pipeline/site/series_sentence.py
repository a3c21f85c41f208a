"""The sentence pages of a series: which checkpoints' maps a page offers, and what its payload
says of them (docs/site.md, "A series on the sentence page").

A page shows the reference checkpoint's maps (data/<page><suffix>.js) and offers every other
checkpoint with sentence data (`CheckpointView.sentence_data`) whose store holds the measure,
from series/<label>/<page><suffix>.js (pipeline.site.pages.SentenceWriter writes them). Comparing
two checkpoints word by word needs one tokenizer across the series: without it
(`SeriesView.same_tokenizer` False) no checkpoint's data is written and the page offers the
reference alone, saying why.
"""

from __future__ import annotations

import logging
from typing import Any

from pipeline.errors import SiteError
from pipeline.measures import stored_measures
from pipeline.site import charts
from pipeline.site.series_view import SeriesView, series_data_path

log = logging.getLogger(__name__)

# keys of window.atlasSpecs (assets/specs.js) on a series site: the detail of a difference of two
# checkpoints, and each measure's figure of one: its figure's key + DIFFERENCE_FIGURE
DIFFERENCE_DETAIL = "detail-diff"
DIFFERENCE_FIGURE = "-diff"


def offered(series: SeriesView | None) -> bool:
    """Whether the pages of this site offer other checkpoints' maps (a series of one tokenizer)."""
    return series is not None and series.same_tokenizer


def checkpoint_measures(series: SeriesView | None, measures) -> list[tuple[Any, list[Any]]]:
    """The checkpoints whose maps the sentence pages carry besides the reference's, in series
    order, each with the page's measures (MeasureView) that its store holds: what the writer
    writes under series/<label>/. None for a one-model site or a series of several tokenizers."""
    if not offered(series):
        return []
    out = []
    for k, checkpoint in enumerate(series.checkpoints):
        if k == series.reference or not checkpoint.sentence_data:
            continue
        if tuple(checkpoint.shape) != tuple(series.current.shape):  # no map to set beside it
            log.warning("checkpoint %s (%d x %d heads) has another shape than %s (%d x %d): its "
                        "maps are left off the sentence pages", checkpoint.label, *checkpoint.shape,
                        series.current.label, *series.current.shape)
            continue
        held = set(stored_measures(checkpoint.store.info))
        views = [view for view in measures if view.name in held]
        if views:
            out.append((checkpoint, views))
    return out


def checkpoint_record(series: SeriesView, checkpoint, sid: str):
    """A checkpoint's record of a sentence of the reference's corpus; SiteError naming both
    when the checkpoint's store lacks it."""
    try:
        return checkpoint.store[sid]
    except KeyError as exc:
        raise SiteError(f"checkpoint {checkpoint.label!r} of the series has no sentence {sid!r}: "
                        f"every checkpoint must hold the corpus of the reference, "
                        f"{series.current.label!r}") from exc


def _model_name(checkpoint) -> str:
    return str(checkpoint.store.model.get("name") or checkpoint.label)


def _tokenizer_identity(checkpoint) -> Any:
    model = checkpoint.store.model
    return model.get("tokenizer_sha256") or model.get("tokenizer")


def tokenizer_note(series: SeriesView) -> str:
    """Why the page offers the reference checkpoint alone: the two models whose tokenizers
    differ (the reference and the first checkpoint of another tokenizer)."""
    current = series.current
    other = next((c for c in series.checkpoints
                  if _tokenizer_identity(c) != _tokenizer_identity(current)), None)
    if other is None:  # the builder knows better than the stores' metadata: say it generally
        return ("The checkpoints of this series do not share one tokenizer, so their maps "
                "cannot be compared word by word: this page shows " + current.label + " alone.")
    return (f"{current.label} ({_model_name(current)}) and {other.label} ({_model_name(other)}) "
            "have different tokenizers, so the series' maps cannot be compared word by word: "
            f"this page shows {current.label} alone.")


def series_payload(series: SeriesView, measures, page: str) -> dict[str, Any]:
    """The sentence page's `series`: the checkpoint on show when the address names none (the
    reference), and the checkpoints it offers in series order, each with its data scripts by
    measure (the reference's are the page's own data/ scripts)."""
    others = {c.label: views for c, views in checkpoint_measures(series, measures)}
    checkpoints = []
    for k, checkpoint in enumerate(series.checkpoints):
        if k == series.reference:
            data = {m.name: f"../data/{page}{m.suffix}.js" for m in measures}
        elif checkpoint.label in others:
            data = {m.name: "../" + series_data_path(checkpoint.label, page, m.suffix)
                    for m in others[checkpoint.label]}
        else:
            continue
        checkpoints.append({"label": checkpoint.label, "step": checkpoint.step, "data": data})
    payload: dict[str, Any] = {"current": series.current.label, "checkpoints": checkpoints,
                               "detail": DIFFERENCE_DETAIL, "figure": DIFFERENCE_FIGURE}
    if not series.same_tokenizer:
        payload["note"] = tokenizer_note(series)
    return payload


def difference_specs(site) -> dict[str, Any]:
    """The specs of a difference of two checkpoints (assets/specs.js, beside the site's others):
    its detail, and each measure's figure; none on a site that offers no other checkpoint."""
    if not offered(site.series):
        return {}
    specs = {DIFFERENCE_DETAIL: charts.get_difference_detail_spec()}
    for view in site.measures:
        specs[view.figure + DIFFERENCE_FIGURE] = charts.get_difference_figure_spec(
            site.n_layers, view.heads, per_layer=view.grid != "grid")
    return specs
