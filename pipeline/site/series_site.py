"""The site of a series of checkpoints (or of any models on one corpus): the site of its
reference checkpoint, the last, with every checkpoint's statistics in the corpus view and on
the head pages, and the sentence data of the checkpoints the size limit holds
(pipeline.site.series_plan; docs/site.md, "A series").
"""

from __future__ import annotations

import os

from pipeline.errors import SiteError
from pipeline.measures import DEFAULT_MEASURE
from pipeline.site.build import BuildSummary, build_site
from pipeline.site.series_view import CheckpointView, SeriesView
from pipeline.sizes import DEFAULT_SITE_BYTES


def series_view(series) -> SeriesView:
    """A SeriesView of a pipeline.series.Series (or anything with its `labels`, `steps`,
    `stores` and `same_tokenizer`): every checkpoint with sentence data until the build's plan
    says otherwise; the reference is the last."""
    labels, steps, stores = list(series.labels), list(series.steps), list(series.stores)
    if not stores:
        raise SiteError("a series of no checkpoints has no site")
    if not len(labels) == len(steps) == len(stores):
        raise SiteError(f"a series of {len(stores)} stores with {len(labels)} labels and "
                        f"{len(steps)} steps")
    if len(set(labels)) < len(labels):
        raise SiteError(f"the series' labels repeat: {labels}")
    checkpoints = tuple(
        CheckpointView(label=str(label), step=None if step is None else int(step), store=store,
                       shape=(int(store.model["n_layers"]), int(store.model["n_heads"])),
                       sentence_data=True)
        for label, step, store in zip(labels, steps, stores, strict=True))
    return SeriesView(checkpoints=checkpoints, reference=len(checkpoints) - 1,
                      same_tokenizer=bool(series.same_tokenizer))


def build_series_site(series, site_dir: str | os.PathLike, *, measure: str = DEFAULT_MEASURE,
                      measure_label: str | None = None,
                      domain: tuple[float, float] | None = None,
                      max_site_bytes: int | None = DEFAULT_SITE_BYTES,
                      progress: bool = True) -> BuildSummary:
    """Build the site of a series beside site_dir, then swap it in (as build_site does).

    The site is the reference checkpoint's (the last): its sentences, index and head pages,
    with a checkpoint selector, a change mode and an over-training mode in the corpus view and
    every statistic over training on the head pages. Sentence data goes to the checkpoints
    that the size limit holds (pipeline.site.series_plan); without one tokenizer across the
    series, to the reference only (its sentences are not those of the others).
    """
    view = series_view(series)
    if not view.same_tokenizer:  # sentence-level comparison needs one tokenizer
        import dataclasses

        view = dataclasses.replace(view, checkpoints=tuple(
            dataclasses.replace(ck, sentence_data=k == view.reference)
            for k, ck in enumerate(view.checkpoints)))
    return build_site(view.current.store, site_dir, measure=measure, measure_label=measure_label,
                      domain=domain, max_site_bytes=max_site_bytes, progress=progress, series=view)
