"""The chunk buffer: a measure's codes appended row by row and written as whole chunks only.

This module owns the rule the commits rest on: **`codes_end` means every chunk below it is
written** (and its CRC-32 known). A `ChunkBuffer` holds a row's codes until they fill whole
chunks (`CODES_CHUNK` bytes), writes those, and keeps the rest; at the end (`write(final=True)`)
the last chunk is padded with zeros. So a chunk is written once, whole, and never read back,
and `written`, the end of the whole chunks in the store, is what a commit records as the
measure's `codes_end`. `written` moves only two ways: over chunks this buffer wrote, or
(`land`) over chunks another process wrote that begin exactly where it stands, with nothing
buffered. A row can be committed once its codes end at or below `written` (`holds`); the next
writer starts at the committed `codes_end`, so chunks a killed run wrote above it are pointed
to by no committed row and are written over (`in_written_chunks`).

Two kinds of buffer:

    the writer's   one per measure (pipeline/store/writer.py), from the committed `codes_end`:
                   the codes array grows as chunks are written, and each chunk's CRC-32 goes
                   into the measure's `chunk_crc32` array; regions land here, in order.
    a region's     a worker's part [start, end) of an array the driver reserved
                   (`RegionOut`, pipeline/store/regions.py): never grows the array, checks its
                   guard before each chunk, and keeps the CRC-32s for the driver to land.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import zarr

from pipeline.errors import StoreError
from pipeline.store.layout import CODES_CHUNK, crc32, write_at


def _nothing() -> None:
    """A hook that does nothing."""


def in_written_chunks(offset: int, size: int, codes_end: int) -> bool:
    """Whether `size` bytes of codes at `offset` lie in chunks a commit with `codes_end` covers
    (an offset beyond was written by a run killed before its commit)."""
    return offset >= 0 and offset + size <= codes_end


class ChunkBuffer:
    """See the module's docstring. `codes`: the codes array (looked up at each write, so a
    resize made through another handle, as `regions.reserve`'s, is seen); `start`: where this
    buffer's codes begin, a chunk boundary; `end`: a region's reserved end (None: the writer's,
    growing the array); `heads`: the maps per layer each row's codes must have; `crcs` and
    `chunks`: the `chunk_crc32` array that each written or landed chunk's CRC-32 goes into, and
    how many it holds (None: kept in `chunk_crcs`, for a worker to return); `before_chunk`,
    `after_chunk`: hooks around each chunk written (a region's lock guard; tests)."""

    def __init__(self, codes: Callable[[], zarr.Array], start: int, *, end: int | None = None,
                 heads: int | None = None, crcs: Callable[[], zarr.Array] | None = None,
                 chunks: int = 0, before_chunk: Callable[[], None] = _nothing,
                 after_chunk: Callable[[], None] = _nothing, name: str = "codes") -> None:
        if start % CODES_CHUNK or (end is not None and end % CODES_CHUNK):
            raise StoreError(f"{name}: [{start}, {end}) is not chunk-aligned")
        self.codes, self.crcs, self.name = codes, crcs, name
        self.start, self.end, self.heads = start, end, heads
        self.written = start  # every chunk below is in the store: the next commit's codes_end
        self.chunks = chunks  # chunk CRC-32s recorded (in `crcs`, or in `chunk_crcs`)
        self.chunk_crcs: list[int] = []
        self.buffer: list[np.ndarray] = []
        self.buffered = 0
        self.before_chunk, self.after_chunk = before_chunk, after_chunk

    @property
    def full(self) -> bool:
        """Whether at least one whole chunk is buffered."""
        return self.buffered >= CODES_CHUNK

    def holds(self, end: int) -> bool:
        """Whether codes ending at `end` are in written chunks (their row can be committed)."""
        return end <= self.written

    def append(self, codes: np.ndarray) -> tuple[int, int, int]:
        """Buffer one row's codes; returns (offset, CRC-32, end). Nothing is written here."""
        if self.heads is not None and codes.shape[1] != self.heads:
            raise StoreError(f"{self.name}: codes with {codes.shape[1]} maps per layer, the store "
                             f"keeps {self.heads}")
        flat = np.ascontiguousarray(codes).reshape(-1)
        offset = self.written + self.buffered
        if self.end is not None and offset + flat.size > self.end:
            raise StoreError(f"{self.name}: a row of {flat.size} bytes at {offset} runs past its "
                             f"region's end {self.end}")
        self.buffer.append(flat)
        self.buffered += flat.size
        return offset, crc32(flat), offset + flat.size

    def write(self, final: bool = False) -> int:
        """Write the whole chunks buffered (on `final`, the tail too, padded with zeros), chunk
        by chunk; returns how many were written."""
        if not self.buffer:
            return 0
        data = np.concatenate(self.buffer) if len(self.buffer) > 1 else self.buffer[0]
        n = data.size // CODES_CHUNK
        if final and data.size % CODES_CHUNK:
            n += 1
            data = np.concatenate([data, np.zeros(n * CODES_CHUNK - data.size, np.uint8)])
        if n == 0:
            return 0
        array, at = self.codes(), self.written
        if self.end is None and array.shape[0] < at + n * CODES_CHUNK:
            array.resize((at + n * CODES_CHUNK,))  # a region's array was reserved instead
        crcs = []
        for i in range(n):  # chunk by chunk: a region's guard is asked before each
            self.before_chunk()
            part = data[i * CODES_CHUNK:(i + 1) * CODES_CHUNK]
            array[at + i * CODES_CHUNK:at + (i + 1) * CODES_CHUNK] = part
            crcs.append(crc32(part))
            self.after_chunk()
        self._record(crcs)
        self.written = at + n * CODES_CHUNK  # only once their CRC-32s are recorded too
        rest = data[n * CODES_CHUNK:]
        self.buffer, self.buffered = ([rest] if rest.size else []), int(rest.size)
        return n

    def land(self, start: int, end: int, crcs: list[int]) -> None:
        """Move past chunks [start, end) that another process wrote, recording their CRC-32s:
        only when they begin where this buffer's written chunks end and nothing is buffered, so
        regions land in order and `codes_end` keeps its meaning."""
        if self.buffered or self.written != start:
            raise StoreError(f"{self.name}: codes from {start} land where the store's codes end "
                             f"at {self.written}" + (" (with codes buffered)" if self.buffered else ""))
        if len(crcs) != (end - start) // CODES_CHUNK:
            raise StoreError(f"{self.name}: {len(crcs)} chunks written, not the planned "
                             f"{(end - start) // CODES_CHUNK}")
        self._record(crcs)
        self.written = end

    def _record(self, crcs: list[int]) -> None:
        """Keep the CRC-32s of the chunks after the `chunks` recorded."""
        if not crcs:
            return
        if self.crcs is None:
            self.chunk_crcs.extend(crcs)
        else:
            write_at(self.crcs(), self.chunks, np.array(crcs, dtype=np.uint32))
        self.chunks += len(crcs)
