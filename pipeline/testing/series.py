"""Series of checkpoints without a model, for tests and benchmarks: stores of one corpus whose
maps change from one checkpoint to the next (pipeline.series, pipeline.site.series_*).

    checkpoint_stores   step-<s>.zarr for each step: maps drifting from near uniform to peaked
    synthetic_series    OUT/stores/<label>.zarr and OUT/series.json: a series Series.open reads
    series_stores       a StoreSeries (what the site reads of a Series) whose previous-word role
                        moves from the first head to the last, in exact arithmetic
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.testing import synthetic_rows, synthetic_sentence, synthetic_store, write_store


def checkpoint_stores(folder: Path, steps: Sequence[int], n: int, n_layers: int, n_heads: int, *,
                      seed: int = 0, measures: Sequence[str] = ("attention",)) -> list[Path]:
    """Stores of one corpus through a model "training": step-<s>.zarr for each of `steps`, the
    sentences of synthetic_rows, each checkpoint's token maps drifting from near uniform (the
    first) to peaked ones (the last), a measure's maps its own mix. For series of checkpoints
    (pipeline.site.series_view) without a model."""
    rows = synthetic_rows(n, n_layers, n_heads, seed=seed)
    rng = np.random.default_rng(seed + 1)
    targets = {m: [rng.dirichlet(np.full(maps.shape[-1], 0.3), size=maps.shape[:-1])
                   for _, maps in rows] for m in measures}
    paths = []
    for k, step in enumerate(steps):
        t = k / max(1, len(steps) - 1)
        stored = []
        for j, (sentence, _) in enumerate(rows):
            mixed = {}
            for m in measures:
                target = targets[m][j]
                noise = rng.dirichlet(np.full(target.shape[-1], 2.0), size=target.shape[:-1])
                mixed[m] = ((1 - t) * 0.8 * noise + (0.2 + 0.8 * t) * target).astype(np.float32)
            stored.append((sentence, mixed))
        paths.append(write_store(folder / f"step-{step}.zarr", stored, n_layers, n_heads,
                                 f"synthetic/step-{step}", measures=measures))
    return paths


def synthetic_series(out: Path, steps: Sequence[int | None], n: int, *,
                     shapes: Sequence[tuple[int, int]] | None = None, seed: int = 0,
                     labels: Sequence[str] | None = None) -> Path:
    """A series without a model: one synthetic_store per step (seed + its position; every store
    holds the same sentences and tokens), OUT/stores/<label>.zarr each (label: `step-<N>`, or
    `model-<i>` for a step of None, unless `labels`), and OUT/series.json. `shapes`: (layers,
    heads) of each [default: (2, 3) for all]. Returns OUT."""
    from pipeline.series import Member, write_manifest

    shapes = shapes or [(2, 3)] * len(steps)
    labels = labels or [f"step-{s}" if s is not None else f"model-{i}" for i, s in enumerate(steps)]
    members = [Member(label, step, f"synthetic/{label}")
               for label, step in zip(labels, steps, strict=True)]
    for i, (member, (n_layers, n_heads)) in enumerate(zip(members, shapes, strict=True)):
        synthetic_store(member.store(out), n, n_layers, n_heads, seed=seed + i)
    write_manifest(out, members)
    return out


@dataclass
class StoreSeries:
    """What the site reads of a series (pipeline.series.Series has it): labels, steps (None:
    unknown), stores (in series order) and whether they share one tokenizer."""

    labels: list[str]
    steps: list[int | None]
    stores: list[Any]
    same_tokenizer: bool = True


def series_rows(n: int, n_layers: int, n_heads: int, *, progress: float) -> list[tuple[Any, np.ndarray]]:
    """n sentences (3 to 8 words; a MOT span on the first word, a CHI span on the rest; `left`
    arcs from each word to the one before) with token maps of a model `progress` (0 to 1) into
    training: the last head's attention to the previous token grows with it, the first head's
    fades, the others stay. Exact in IEEE arithmetic (no random numbers, no library functions),
    so the same on every machine: rows for write_store."""
    rows = []
    for k in range(n):
        words = [f"w{k}x{i}" for i in range(3 + k % 6)]
        t = len(words) + 2
        layer, head, frm, to = np.indices((n_layers, n_heads, t, t))
        which = layer * n_heads + head
        last = n_layers * n_heads - 1
        strength = np.where(which == last, 0.9 * progress,
                            np.where(which == 0, 0.9 * (1 - progress), 0.1 * (which % 4)))
        noise = ((5 * frm * to + 3 * to + 7 * which + k) % 11 + 1) / 11.0
        maps = (1 - strength) * noise + strength * 8.0 * (to == frm - 1)
        maps = maps / maps.sum(axis=-1, keepdims=True)
        rows.append((synthetic_sentence(f"s{k:03d}", words, [("MOT", 0, 1), ("CHI", 1, len(words))],
                                        [(i, i - 1, "left") for i in range(1, len(words))],
                                        {"speaker_role": "Mother" if k % 2 else "Child"}),
                     maps.astype(np.float32)))
    return rows


def series_stores(folder: Path, steps: Sequence[int | None], n: int = 30,
                  shapes: Sequence[tuple[int, int]] | None = None) -> StoreSeries:
    """A series of synthetic stores (series_rows, statistics computed), one per step, labelled
    step-<N> (or model-<k> without a step), of `shapes` (layers, heads; default 2 x 3 each)."""
    from pipeline.stats.compute import update_stats
    from pipeline.store import AtlasStore

    shapes = list(shapes or [(2, 3)] * len(steps))
    labels = [f"step-{s}" if s is not None else f"model-{k}" for k, s in enumerate(steps)]
    stores = []
    for k, (label, (n_layers, n_heads)) in enumerate(zip(labels, shapes, strict=True)):
        path = folder / f"{label}.zarr"
        progress = k / max(1, len(steps) - 1)
        write_store(path, series_rows(n, n_layers, n_heads, progress=progress), n_layers, n_heads,
                    f"synthetic/{label}")
        update_stats(path, progress=False)
        stores.append(AtlasStore.open(path))
    return StoreSeries(labels, list(steps), stores)
