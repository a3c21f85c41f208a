"""What a statistics run publishes from the per-row values for the current catalog: the corpus
means (`Sums`, `write_means`) and the per-sentence values in catalog order
(`stats/<stream>/per_sentence/`).

pipeline.stats.compute computes each row once and keeps it per row (rows never
change, so incremental runs append); after every run that changed something, the
rows of the current catalog are gathered here into one (S, L, H) array per
statistic, in `store.ids` order, and the span mass into (S, P, L, H): what a
reader (`HeadStats.per_sentence`, plain zarr) takes as it is. The gather streams
over blocks of catalog positions, reading each row chunk once while the catalog
follows row order (a corpus in its stored order; new sentences at the end), so
memory does not grow with the corpus.
"""

from __future__ import annotations

import numpy as np
import zarr

from pipeline.stats.definitions import OFFSETS
from pipeline.store.layout import PER_SENTENCE

POSITIONS = 4096  # catalog positions gathered, then written, at a time (one chunk of each array)


def _array(group: zarr.Group, name: str, shape: tuple, compressor) -> zarr.Array:
    return group.create_array(name, shape=shape, chunks=(POSITIONS, *shape[1:]), dtype="float32",
                              fill_value=float("nan"), compressors=compressor, overwrite=True)


class _Chunks:
    """Reads a per-row array a chunk of rows at a time, keeping the last chunk read."""

    def __init__(self, array: zarr.Array) -> None:
        self.array, self.size = array, array.chunks[0]
        self.k, self.data = -1, None

    def rows(self, rows: np.ndarray) -> np.ndarray:
        """The values of these rows (any order), reading each chunk they lie in once."""
        out = np.empty((len(rows), *self.array.shape[1:]), dtype=self.array.dtype)
        chunk = rows // self.size
        for k in np.unique(chunk):
            if k != self.k:
                self.k, self.data = k, self.array[k * self.size:(k + 1) * self.size]
            where = chunk == k
            out[where] = self.data[rows[where] - k * self.size]
        return out


def write_per_sentence(group: zarr.Group, names: list[str], sentence: zarr.Array,
                       span_mass: zarr.Array, catalog: np.ndarray, compressor) -> None:
    """Gather the catalog's rows of the per-row arrays into catalog-order arrays."""
    out = group.require_group(PER_SENTENCE)
    S, (L, H), P = len(catalog), sentence.shape[2:], span_mass.shape[1]
    per_stat = {name: _array(out, name, (S, L, H), compressor) for name in names}
    spans = _array(out, "span_mass", (S, P, L, H), compressor)
    values, masses = _Chunks(sentence), _Chunks(span_mass)
    for lo in range(0, S, POSITIONS):
        rows = np.asarray(catalog[lo:lo + POSITIONS], dtype=np.int64)
        block = values.rows(rows)  # (n, K, L, H)
        for k, name in enumerate(names):
            per_stat[name][lo:lo + len(rows)] = block[:, k]
        if P:
            spans[lo:lo + len(rows)] = masses.rows(rows)


class Sums:
    """Running sums for the corpus means over some rows; the span pairs and relations may grow."""

    def __init__(self, shape: tuple[int, int], statistics: int) -> None:
        (L, H), K = shape, statistics
        self.total, self.defined = np.zeros((K, L, H)), np.zeros((K, L, H), np.int64)
        self.span_total = np.zeros((0, L, H))
        self.span_defined = np.zeros((0, L, H), np.int64)
        self.correct = np.zeros((0, L, H), np.int64)
        self.arcs, self.offset = np.zeros(0, np.int64), np.zeros((0, len(OFFSETS)), np.int64)

    def fit(self, pairs: int, relations: int) -> None:
        """Grow the sums to this many span pairs and relations (new ones start at zero)."""
        for name, n in (("span_total", pairs), ("span_defined", pairs), ("correct", relations),
                        ("arcs", relations), ("offset", relations)):
            a = getattr(self, name)
            if len(a) < n:
                setattr(self, name, np.concatenate([a, np.zeros((n - len(a), *a.shape[1:]), a.dtype)]))

    def add(self, values, spans, correct, arcs, offset) -> None:
        """Rows' packed values (n, K, L, H), span mass (n, P, L, H), dependency counts."""
        self.total += np.nansum(values, axis=0, dtype=np.float64)
        self.defined += (~np.isnan(values)).sum(axis=0)
        P, Q = spans.shape[1], correct.shape[1]
        self.fit(P, Q)
        if P:
            self.span_total[:P] += np.nansum(spans, axis=0, dtype=np.float64)
            self.span_defined[:P] += (~np.isnan(spans)).sum(axis=0)
        if Q:
            self.correct[:Q] += correct.sum(axis=0, dtype=np.int64)
            self.arcs[:Q] += arcs.sum(axis=0, dtype=np.int64)
            self.offset[:Q] += offset.sum(axis=0, dtype=np.int64)


def write_means(group: zarr.Group, arrays, sums: Sums,
                 read_back: np.ndarray) -> None:
    """Corpus means over the catalog: `sums` of the rows computed in this run, plus the rows of
    `read_back` (computed in earlier runs) read from the store in blocks of rows."""
    for lo in range(0, arrays.rows, POSITIONS):
        mask = read_back[lo:lo + POSITIONS]
        if mask.any():
            sums.add(*arrays.read(slice(lo, lo + len(mask)), mask))
    sums.fit(len(arrays.vocab.pairs), len(arrays.vocab.relations))  # pairs no catalog row has
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(sums.defined > 0, sums.total / np.maximum(sums.defined, 1), np.nan)
        span_mean = np.where(sums.span_defined > 0,
                             sums.span_total / np.maximum(sums.span_defined, 1), np.nan)
    for name, value in {"mean": mean, "defined": sums.defined, "span_mean": span_mean,
                        "span_defined": sums.span_defined, "corpus_dep_correct": sums.correct,
                        "corpus_dep_arcs": sums.arcs, "corpus_dep_offset": sums.offset}.items():
        array = group.create_array(name, shape=value.shape, dtype=value.dtype, overwrite=True,
                                   chunks=tuple(max(1, s) for s in value.shape))
        if value.size:
            array[...] = value
