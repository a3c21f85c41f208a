"""The corpus view's per-sentence values in catalog order: `stats/<measure>/per_sentence/`.

pipeline.store.stats computes each row once and keeps it per row (rows never
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

GROUP = "per_sentence"
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
    out = group.require_group(GROUP)
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
