"""A series of checkpoints (or of any models on one corpus) as the site shows it.

`pipeline.site.series_site.build_series_site` makes a `SeriesView` from a
`pipeline.series.Series` and hands it to `build_site` inside the `SiteContext`
(`site.series`; None for the site of one model). The site is built from the
reference checkpoint's store (its maps are the sentence pages' own data files,
data/<page><suffix>.js); the other checkpoints with sentence data have theirs under
series/<label>/<page><suffix>.js, and every checkpoint's statistics feed the corpus
view and the head pages.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

SERIES_DATA = "series"  # series/<label>/<page><suffix>.js: a checkpoint's sentence data


@dataclass(frozen=True)
class CheckpointView:
    """One checkpoint (or model) of a series as the site shows it."""

    label: str  # safe in a file name and an address: [A-Za-z0-9][A-Za-z0-9._-]*
    step: int | None  # the training step; None for a model without one
    store: Any  # its store (pipeline.site.contexts.SiteStore)
    shape: tuple[int, int]  # (layers, heads)
    sentence_data: bool  # its maps are on the sentence pages (within the site's size limit)


@dataclass(frozen=True)
class SeriesView:
    """The checkpoints of a series, in order, and which one the site is built from."""

    checkpoints: tuple[CheckpointView, ...]
    reference: int  # the checkpoint whose store build_site reads (its maps in data/)
    same_tokenizer: bool  # sentence-level comparison needs one tokenizer across the series

    @property
    def current(self) -> CheckpointView:
        """The reference checkpoint."""
        return self.checkpoints[self.reference]

    @property
    def with_sentence_data(self) -> list[CheckpointView]:
        """The checkpoints whose maps the sentence pages offer, in series order (the reference
        included)."""
        return [c for c in self.checkpoints if c.sentence_data]


def series_data_path(label: str, page: str, suffix: str = "") -> str:
    """A checkpoint's data script for a sentence page, relative to the site's root."""
    return f"{SERIES_DATA}/{label}/{page}{suffix}.js"
