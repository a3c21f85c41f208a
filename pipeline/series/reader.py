"""Reading a series: `Series.open(OUT)`, its labels, steps and stores, and every checkpoint's
corpus statistics side by side."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from pipeline.errors import SeriesError, StoreError
from pipeline.measures import DEFAULT_MEASURE
from pipeline.series.manifest import IDENTITY, identity_of, manifest_path, read_manifest
from pipeline.store.head_stats import HeadStats
from pipeline.store.reader import AtlasStore


class Series:
    """The models of a series, in order: `labels`, `steps`, `stores`, `models` (the manifest's
    entries) and `stats(name, measure)`, each checkpoint's corpus value of a statistic."""

    def __init__(self, out: Path, models: list[dict], stores: list[AtlasStore]) -> None:
        self.out = out
        self.models: list[dict] = models
        self.stores: list[AtlasStore] = stores
        self.labels: list[str] = [m["label"] for m in models]
        self.steps: list[int | None] = [m["step"] for m in models]
        self._stats = functools.cache(self._head_stats)

    @classmethod
    def open(cls, out: str | Path) -> Series:
        """Open the series in OUT (its series.json and every store it names); SeriesError for a
        missing or garbled manifest, a missing store, or a store whose model is no longer the
        one the manifest records (naming the label and the store)."""
        out = Path(out)
        models = read_manifest(out)
        stores = []
        for m in models:
            path = out / m["store"]
            try:
                store = AtlasStore.open(path)
            except StoreError as exc:
                raise SeriesError(f"{manifest_path(out)}: the store of {m['label']} "
                                  f"({m['model']}) cannot be read: {exc}") from exc
            recorded = {k: m["identity"].get(k) for k in IDENTITY}
            if identity_of(store) != recorded:
                raise SeriesError(f"{manifest_path(out)}: {path} no longer holds the model the "
                                  f"manifest records for {m['label']} ({m['model']}); rerun "
                                  "`attention-atlas extract` for the series")
            stores.append(store)
        return cls(out, models, stores)

    def __len__(self) -> int:
        return len(self.labels)

    def __repr__(self) -> str:
        return f"Series({self.out}, labels={self.labels})"

    @property
    def shape(self) -> tuple[int, int]:
        """(L, H): the most layers and the most heads of any model of the series."""
        return (max(s.model["n_layers"] for s in self.stores),
                max(s.model["n_heads"] for s in self.stores))

    def head_stats(self, label_or_index: str | int, measure: str = DEFAULT_MEASURE) -> HeadStats:
        """One checkpoint's HeadStats (as its store's head_stats(measure) gives)."""
        i = (self.labels.index(label_or_index) if isinstance(label_or_index, str)
             else label_or_index)
        return self._stats(i, measure)

    def _head_stats(self, i: int, measure: str) -> HeadStats:
        return self.stores[i].head_stats(measure)

    def stats(self, name: str, measure: str = DEFAULT_MEASURE) -> np.ndarray:
        """Each checkpoint's corpus value of a statistic, float64 (C, L, H): row c is exactly
        `stores[c].head_stats(measure)[name]`; NaN outside a model's shape (L and H are the
        largest of the series)."""
        n_layers, n_heads = self.shape
        out = np.full((len(self), n_layers, n_heads), np.nan)
        for c in range(len(self)):
            values = self._stats(c, measure)[name]
            out[c, :values.shape[0], :values.shape[1]] = values
        return out

    @functools.cached_property
    def same_tokenizer(self) -> bool:
        """Whether every model tokenizes alike, so that sentence pages can compare them."""
        return self._differing() is None

    def check_tokenizers(self) -> None:
        """SeriesError naming the first two models whose tokenizers differ (sentence-level
        comparison needs one tokenizer across the series)."""
        if not self.same_tokenizer:
            raise SeriesError(f"{self.tokenizers_differ()}: comparing them sentence by sentence "
                              "needs one tokenizer across the series (the corpus view compares "
                              "any models)")

    def tokenizers_differ(self) -> str:
        """Which two models' tokenizers differ, as a sentence ("" when none do)."""
        pair = self._differing()
        if pair is None:
            return ""
        a, b = (self.models[i] for i in pair)
        return (f"the tokenizers of {a['label']} ({a['model']}) and {b['label']} ({b['model']}) "
                "differ")

    def _differing(self) -> tuple[int, int] | None:
        """The first model (with the first) whose tokenizer differs from the first's, or None."""
        for c in range(1, len(self)):
            if not self._same_tokenizer(0, c):
                return 0, c
        return None

    def _same_tokenizer(self, a: int, b: int) -> bool:
        """By the tokenizer files' hashes when both stores record one; else (a hub model) by the
        tokens each store holds for the sentences both hold."""
        ha, hb = (self.stores[i].model.get("tokenizer_sha256") for i in (a, b))
        if ha and hb:
            return ha == hb
        sa, sb = self.stores[a], self.stores[b]
        return all(sa[sid].tokens == sb[sid].tokens for sid in sa.ids if sid in sb)
