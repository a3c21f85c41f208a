"""Regions: disjoint, chunk-aligned parts of the codes arrays that other processes write.

An engine that computes on several processes (pipeline/extract/engines/ray_engine.py) does
not stream codes through the one `StoreWriter`: the driver lays the work out in
regions, and each worker writes its regions' codes straight into the store.

    driver   `layout_regions`: consecutive planned batches, grouped until a region holds
             about `target` bytes of codes; each measure's part of a region starts on a
             chunk boundary, right after the previous region's (sizes are known before
             the forward pass: `row_size`). `reserve` grows the codes arrays to cover them.
    worker   `RegionOut`: appends rows' codes to a chunk buffer (pipeline/store/chunks.py),
             which writes whole chunks only (the last one padded with zeros), so no two
             workers ever write one chunk and no chunk is read back; returns each row's
             offset and CRC-32 and each chunk's CRC-32.
    driver   `land`: in region order, moves the writer's chunk buffer of each measure over
             the region (`ChunkBuffer.land`, which records the chunk CRCs), queues the rows
             with the writer (exactly as `StoreWriter.add` would have) and commits. The driver
             remains the only process that writes the index, the metadata and the catalog.

Regions are laid out per measure of a self store (whose streams are its measures); the Ray
engine refuses an encoder-decoder's store, whose codes are per stream (`attention.cross`).

A region's padding (its last chunk's tail, per measure) is zeros, which compress to
almost nothing; it costs address space, not disk. The writer's chunk buffer takes a
region only where its written chunks end, so a region is committed only when every
region before it is and `codes_end` keeps its meaning (every chunk below it is written
and checked: the rule is `pipeline/store/chunks.py`'s); chunks a killed worker wrote above it are pointed to by no
committed row, and the next run writes over them (it starts at `codes_end`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import zarr

from pipeline.errors import StoreError
from pipeline.store.chunks import ChunkBuffer
from pipeline.store.layout import round_up
from pipeline.store.location import StoreLocation
from pipeline.store.sentence import StoredSentence

REGION_BYTES = 64 << 20  # the most codes one region holds (all measures, padding included)


@dataclass(frozen=True)
class Region:
    """Consecutive planned batches, and where each measure's codes of them go."""

    index: int
    batches: tuple[tuple[str, ...], ...]  # content keys, as planned (members not written too)
    rows: tuple[tuple[str, tuple[str, ...]], ...]  # (key, measures) written here, in order
    start: dict[str, int]  # per measure: the first byte (a chunk boundary)
    size: dict[str, int]  # per measure: bytes of codes, unpadded

    def end(self, measure: str) -> int:
        """Where the measure's part ends: its size rounded up to whole chunks."""
        return self.start[measure] + round_up(self.size[measure])

    @property
    def padding(self) -> int:
        """Bytes of zeros that fill each measure's last chunk."""
        return sum(round_up(n) - n for n in self.size.values())


def layout_regions(batches: list[list[str]], wanted: dict[str, tuple[str, ...]],
                   row_bytes: Callable[[str, str], int], starts: dict[str, int],
                   target: int) -> list[Region]:
    """Group the planned batches into regions (a batch is never split): a region takes batches
    while its measures' parts, each rounded up to whole chunks, stay within `target` bytes, so
    each measure's padding is under one batch's codes (or one chunk). Each wanted key is
    written in the first batch that holds it, with its wanted measures; `row_bytes(key,
    measure)` is its size; `starts`: where each measure's next codes go (a chunk boundary)."""
    regions: list[Region] = []
    at = dict(starts)
    done: set[str] = set()
    group: list[tuple[str, ...]] = []
    rows: list[tuple[str, tuple[str, ...]]] = []
    size = dict.fromkeys(starts, 0)

    def close() -> None:
        nonlocal group, rows, size
        region = Region(len(regions), tuple(group), tuple(rows), dict(at), dict(size))
        regions.append(region)
        at.update({m: region.end(m) for m in at})
        group, rows, size = [], [], dict.fromkeys(starts, 0)

    for keys in batches:
        todo = [k for k in keys if k in wanted and k not in done]
        if not todo:
            continue
        grown = dict(size)
        for k in todo:
            for m in wanted[k]:
                grown[m] += row_bytes(k, m)
        if group and sum(round_up(n) for n in grown.values()) > target:
            close()
            grown = dict.fromkeys(starts, 0)
            for k in todo:
                for m in wanted[k]:
                    grown[m] += row_bytes(k, m)
        group.append(tuple(keys))
        done.update(todo)
        rows.extend((k, wanted[k]) for k in todo)
        size = grown
    if group:
        close()
    return regions


def region_target(total: int, workers: int, per_worker: int = 2) -> int:
    """Bytes per region (whole chunks): about `per_worker` regions per worker (so a slow one is
    not left alone at the end), from one chunk to REGION_BYTES."""
    return int(min(REGION_BYTES, round_up(max(1, total // max(1, workers * per_worker)))))


def reserve(group: zarr.Group, regions: list[Region]) -> None:
    """Grow each measure's codes array to cover every region (metadata only, before any worker
    writes: workers never change an array's shape)."""
    for m in (regions[0].start if regions else {}):
        array = group[f"measures/{m}/codes"]
        end = max(r.end(m) for r in regions)
        if array.shape[0] < end:
            array.resize((end,))


class LockGuard:
    """Whether the run that started a worker still holds the store's lock. A local store's
    lock file keeps the content and modification time it had when the driver took it; a
    store at a URL, its lock object keeps its content (holder, pid, time); a new run
    rewrites either. A worker checks before each chunk, so a worker that outlived its driver
    stops instead of writing over the next run's codes. Pickled with the store's name only."""

    def __init__(self, store: str | os.PathLike | StoreLocation) -> None:
        location = StoreLocation.of(store)
        self.store = location.key
        self.seen = self._state(location)

    def _state(self, location: StoreLocation) -> tuple[bytes, int] | None:
        try:
            key = location.lock_object()
            if key is not None:  # object storage: the lock object beside the store
                return location.filesystem.cat_file(key), 0
            with open(location.lock_file(), "rb") as f:
                return f.read(), os.fstat(f.fileno()).st_mtime_ns
        except OSError:
            return None

    def check(self) -> None:
        """Raise StoreError when another run has taken the lock since."""
        location = StoreLocation.of(self.store)
        if self._state(location) != self.seen:
            raise StoreError(f"the run that started this worker no longer holds the lock of "
                             f"{location}: stopping without writing")


class RegionOut:
    """One measure's part [start, end) of a region, written by a worker: a chunk buffer
    (pipeline/store/chunks.py) that writes each chunk as soon as it is full, so at most one
    chunk and one row are buffered, and pads the last one with zeros."""

    def __init__(self, array: zarr.Array, start: int, end: int,
                 before_chunk: Callable[[], None] = lambda: None,
                 after_chunk: Callable[[], None] = lambda: None) -> None:
        self.buffer = ChunkBuffer(lambda: array, start, end=end, before_chunk=before_chunk,
                                  after_chunk=after_chunk, name=f"region of {array.path}")

    def append(self, codes: np.ndarray) -> tuple[int, int]:
        """Queue a row's codes (writing the chunks it fills); returns (offset, CRC-32)."""
        offset, crc, _ = self.buffer.append(codes)
        if self.buffer.full:
            self.buffer.write()
        return offset, crc

    def close(self) -> list[int]:
        """Write the tail (padded); returns the CRC-32 of each chunk written, in order."""
        out = self.buffer
        out.write(final=True)
        if out.written != out.end:
            raise StoreError(f"{out.name}: [{out.start}, {out.end}) ends at {out.written}: its "
                             "rows are not the ones planned")
        return out.chunk_crcs


@dataclass
class RegionResult:
    """What a worker returns for a region: small metadata, no codes."""

    index: int
    rows: list[tuple[str, dict[str, tuple[int, int]]]]  # key, {measure: (offset, crc)}, in order
    chunk_crcs: dict[str, list[int]]
    seconds: float = 0.0  # the worker's time on it, model excluded
    sentences: int = 0
    worker: str = ""  # host:pid
    extra: dict = field(default_factory=dict)


def land(writer, region: Region, result: RegionResult, stored: dict[str, StoredSentence],
         row_bytes: Callable[[str, str], int]) -> None:
    """Make a region's codes part of the store: its chunks' CRCs, its rows (queued with the
    writer, which commits them). Regions must land in order: the commit's `codes_end` says
    that every chunk below it is written."""
    if [k for k, _ in result.rows] != [k for k, _ in region.rows]:
        raise StoreError(f"region {region.index}: the worker returned other rows than planned")
    for m in region.start:
        try:
            writer._codes[m].land(region.start[m], region.end(m), result.chunk_crcs.get(m, []))
        except StoreError as exc:
            raise StoreError(f"region {region.index}: {exc}") from exc
    for (key, measures), (_, placed) in zip(region.rows, result.rows, strict=True):
        if set(placed) != set(measures):
            raise StoreError(f"region {region.index}: {key} came back with {sorted(placed)}, "
                             f"not {list(measures)}")
        sentence = stored[key]
        writer._register(sentence, sentence.n_tokens,
                         {m: (o, c, o + row_bytes(key, m)) for m, (o, c) in placed.items()})
    writer.commit()
