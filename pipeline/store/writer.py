"""Writing a store: one locked writer appends whole chunks and commits atomically.

Extraction asks the writer one question, `place(sentence)`: is this sentence
already stored, and where (a row), or must its codes be computed (None)? It then
hands over `(sentence, codes)` with `add`, and the corpus order with `finish`.
The writer opens (or creates, or upgrades) the store and commits; what it keeps between
commits has its own owners: each stream's codes a chunk buffer (chunks.py, with the
`codes_end` rule), the rows the row index (rows.py), and an unfinished run's batches the
plan (plan.py). The layout and the commit protocol are in pipeline/store/layout.py and
docs/store.md. A stream is a measure in a self store, and a measure's part in an
encoder-decoder's (`attention.cross`: pipeline/store/streams.py); codes are handed over per
stream, and what is missing is asked per measure (`missing`) or per stream (`missing_streams`).
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import numpy as np

from pipeline.errors import StoreError
from pipeline.measures import DEFAULT_MEASURE, MEASURES, PAIR_PARTS, SELF, parts_of
from pipeline.records import Sentence
from pipeline.store import plan
from pipeline.store.chunks import ChunkBuffer
from pipeline.store.layout import (
    ABSENT,
    SCHEMA,
    catalog_name,
    create_measure_arrays,
    create_store,
    measure_heads,
    open_group_meta,
    round_up,
    row_shape,
    upgrade_schema1,
    write_catalog,
    write_commit,
)
from pipeline.store.location import StoreLocation
from pipeline.store.plan import PLAN_FILE
from pipeline.store.rows import RowIndex
from pipeline.store.sentence import StoredSentence
from pipeline.store.streams import (
    is_pair_store,
    measure_parts,
    split_stream,
    store_parts,
    stream_heads_default,
    stream_name,
    streams_of,
)

log = logging.getLogger(__name__)

__all__ = ["PLAN_FILE", "StoreWriter", "model_mismatch"]


def model_mismatch(path: Path, stored: dict, model_info: dict, fingerprint: dict) -> str | None:
    """Why a store's model differs from this run's (one line per difference), or None."""
    differs = [k for k in fingerprint if stored.get(k) != fingerprint[k]]
    if not differs:
        return None
    lines = [f"{path} was written by another model:",
             f"  the store holds {stored.get('name')!r}, this run uses {model_info.get('name')!r}",
             *(f"  {k}: store has {stored.get(k)!r}, this run {fingerprint[k]!r}" for k in differs),
             "A store holds one model: choose a new --store (or --out) for this one."]
    return "\n".join(lines)


class StoreWriter:
    """Append rows to a store; only whole chunks are written, commits are atomic.

    Use inside a StoreLock. Rows become visible to readers at `commit()`, and
    the current corpus (the catalog) at `finish()`. `measures`: what this run
    stores; the store's measures are always kept, so a run writes the union, and
    a measure the store lacks is computed for every sentence of the run (the
    other measures' codes are not rewritten). It joins `store.measures` at `finish()`.
    """

    def __init__(self, path: str | os.PathLike | StoreLocation, model_info: dict, fingerprint: dict,
                 *, commit_every: float = 2.0,
                 measures: tuple[str, ...] = (DEFAULT_MEASURE,)) -> None:
        self.location = location = StoreLocation.of(path)
        self.path = path = location.path
        if location.is_file():
            raise StoreError(f"store path {path} is a file; give a folder path (e.g. build/atlas.zarr)")
        if location.has_content():
            group, meta = open_group_meta(location, mode="a")
            why = model_mismatch(path, meta["model"], model_info, fingerprint)
            if why:
                raise StoreError(why)
            if meta.get("schema") == 1:
                meta = upgrade_schema1(group, meta)
                log.info("%s: upgraded store schema 1 to %d (no codes rewritten)", path, SCHEMA)
        else:
            parts = PAIR_PARTS if model_info.get("encoder_decoder") else (SELF,)
            heads = {s: stream_heads_default(model_info, s) for s in streams_of(measures, parts)}
            group, meta = create_store(location, model_info, list(measures), heads)
        self._group, self._meta = group, meta
        self.measures = tuple(m for m in MEASURES if m in set(meta["measures"]) | set(measures))
        # each listed measure's stored parts, then the parts of those this run adds
        self.streams = tuple(stream_name(m, p) for m in self.measures for p in (
            measure_parts(meta, m) if m in meta["measures"] else parts_of(m, store_parts(meta))))
        self._start_new_measures()
        commit = self._meta["commit"]
        self._codes = {s: self._chunk_buffer(s, commit["codes_end"][s], commit["chunks"][s])
                       for s in self.streams}
        # Seconds between commits while chunks stream out: a commit rewrites the index
        # tails and the metadata (a dozen small files, ~0.05 s), so committing after every
        # chunk costs a tenth of a fast run; a crash loses at most this much work.
        self.commit_every, self._last_commit = commit_every, time.monotonic()
        self._index = RowIndex(self._group, self._meta, self.streams, self.path)

    @property
    def model(self) -> dict:
        """The model the store holds."""
        return self._meta["model"]

    @property
    def parts(self) -> list[str]:
        """The store's parts: ["self"], or ["encoder", "decoder", "cross"]."""
        return store_parts(self._meta)

    @property
    def encoder_decoder(self) -> bool:
        """Whether the store holds an encoder-decoder's parts (its streams `<measure>.<part>`)."""
        return is_pair_store(self._meta)

    def row_shape(self, stream: str, sentence: StoredSentence) -> tuple[int, int, int, int]:
        """The shape of a sentence's codes in a stream: (L, H_m, rows, columns)."""
        return row_shape(self._meta, stream, sentence.n_tokens, sentence.n_target_tokens)

    @property
    def rows(self) -> int:
        """Rows committed so far (queued rows are numbered after them)."""
        return self._index.rows

    @property
    def current(self) -> dict[str, int]:
        """Id -> row of the last finished run's corpus."""
        return self._index.current

    def _chunk_buffer(self, stream: str, codes_end: int, chunks: int) -> ChunkBuffer:
        """A stream's chunk buffer, from its committed end; new codes start on a fresh chunk."""
        arrays = f"measures/{stream}"
        return ChunkBuffer(lambda: self._group[f"{arrays}/codes"], round_up(codes_end),
                           heads=measure_heads(self._meta, stream),
                           crcs=lambda: self._group[f"{arrays}/chunk_crc32"], chunks=chunks,
                           name=f"measure {stream!r}")

    def _start_new_measures(self) -> None:
        """Arrays for each stream this run adds to the store (its measures' streams). One that an
        interrupted run began keeps the rows it committed (its codes and offsets are below its
        committed end)."""
        commit, heads = self._meta["commit"], dict(self._meta.get("measure_heads", {}))
        rows = commit["rows"]
        new = [s for s in self.streams if split_stream(s)[0] not in self._meta["measures"]]
        started = [m for m in new if m in commit["codes_end"] and f"measures/{m}" in self._group]
        for m in new:
            heads[m] = stream_heads_default(self.model, m)
            if m not in started:
                create_measure_arrays(self._group, m, rows)
                continue
            for name, fill in (("offset", ABSENT), ("crc32", 0)):  # rows a run without it added
                array = self._group[f"measures/{m}/{name}"]
                if array.shape[0] < rows:
                    old = array.shape[0]
                    array.resize((rows,))
                    array[old:] = fill
        if new:
            self._meta = write_commit(self._group, self._meta, top={"measure_heads": heads},
                                      codes_end={**commit["codes_end"],
                                                 **{m: 0 for m in new if m not in started}},
                                      chunks={**commit["chunks"],
                                              **{m: 0 for m in new if m not in started}})

    # --- the questions extraction asks ---------------------------------------

    def unchanged(self, sentence: Sentence) -> int | None:
        """The row of a sentence the last run stored exactly so, with every measure of this run
        (decided without the model; a pair whose target was generated matches a sentence
        without target)."""
        return self._index.unchanged(sentence)

    def stored(self, key: str) -> StoredSentence | None:
        """The record stored for a content key (None: not stored): for an encoder-decoder
        sentence without target, ask with content_key(text) before generating one; a stored
        record's target is the one to use (it is what its codes were computed with)."""
        return self._index.stored(key)

    def place(self, sentence: StoredSentence) -> int | None:
        """Where a sentence is stored (its row), or None when its codes must be computed.

        Unchanged since the last run, or stored whole by an interrupted one: that
        row. Its text stored under another id, spans or meta: a new row that points
        at the stored codes. A stored row may still lack some of this run's measures:
        `missing(key)` names them, and `add` fills them in.
        """
        return self._index.place(sentence)

    def missing(self, key: str) -> tuple[str, ...]:
        """The measures of this run not stored for a text (all of them for a new text): `add`
        takes the codes of each of their streams."""
        gone = {split_stream(s)[0] for s in self._index.missing(key)}
        return tuple(m for m in self.measures if m in gone)

    def missing_streams(self, key: str) -> tuple[str, ...]:
        """The streams of this run not stored for a text (all of them for a new text)."""
        return self._index.missing(key)

    # --- appending ----------------------------------------------------------------

    def add(self, sentence: StoredSentence, codes: dict[str, np.ndarray] | np.ndarray) -> int:
        """Queue a computed sentence: `codes` {stream: uint8 array of `row_shape(stream,
        sentence)`} (a stream: the measure, in a self store, (L, H, T, T); `<measure>.<part>`
        in an encoder-decoder's), every stream of the run for a new text, those of the missing
        measures for a stored text. Returns its row (for a stored text, the row that holds it).
        A bare array is the default measure's codes (self stores)."""
        if not isinstance(codes, dict):
            codes = {DEFAULT_MEASURE: codes}
        self._check_codes(sentence, codes)
        placed = {m: self._codes[m].append(c) for m, c in codes.items()}  # (offset, crc, end)
        row = self._register(sentence, sentence.n_tokens, placed)
        for m in codes:
            if self._codes[m].full:
                self._write_chunks(m, final=False)
        return row

    def _check_codes(self, sentence: StoredSentence, codes: dict[str, np.ndarray]) -> None:
        """StoreError unless every stream is this run's and its codes have its row's shape."""
        if self.encoder_decoder and sentence.target is None:
            raise StoreError(f"sentence {sentence.id!r}: no target, and {self.path} holds an "
                             "encoder-decoder's pairs")
        for stream, c in codes.items():
            if stream not in self._codes:
                raise StoreError(f"sentence {sentence.id!r}: codes for {stream!r}, which is no "
                                 f"stream of this run; its streams: {', '.join(self.streams)}")
            shape = self.row_shape(stream, sentence)
            if tuple(c.shape) != shape:
                raise StoreError(f"sentence {sentence.id!r}: {stream!r} codes of shape "
                                 f"{tuple(c.shape)}, its row's is {shape}")

    def _register(self, sentence: StoredSentence, n_tokens: int,
                  placed: dict[str, tuple[int, int, int]]) -> int:
        """Queue a sentence whose codes are placed at {measure: (offset, crc, end)} (buffered
        here, or written by another process: pipeline/store/regions.py); returns its row."""
        return self._index.register(sentence, n_tokens, placed)

    def _write_chunks(self, measure: str, final: bool) -> None:
        """Write a measure's whole buffered chunks (on `final`, the tail too, padded with zeros),
        then commit when it is time."""
        if self._codes[measure].write(final) and (
                final or time.monotonic() - self._last_commit >= self.commit_every):
            self.commit()

    def commit(self) -> None:
        """Make every queued row and fill whose codes are in written chunks visible, with one
        atomic metadata write; each measure's `codes_end` is its buffer's written end."""
        if not self._index.write(self._group, lambda m, end: self._codes[m].holds(end)):
            return
        self._meta = write_commit(
            self._group, self._meta, rows=self.rows,
            catalog_array=catalog_name(self._meta["commit"]),
            codes_end={**self._meta["commit"]["codes_end"],
                       **{m: b.written for m, b in self._codes.items()}},
            chunks={**self._meta["commit"]["chunks"], **{m: b.chunks for m, b in self._codes.items()}})
        self._last_commit = time.monotonic()

    def flush(self) -> None:
        """Write the tail chunks (padded to whole chunks) and commit every queued row."""
        for m in self.streams:
            if self._codes[m].buffered:
                self._write_chunks(m, final=True)
        self.commit()
        assert not self._index.pending and not self._index.fills, "every queued row is written"

    def finish(self, catalog_rows: list[int]) -> None:
        """Flush, then write the corpus order (rows) as the new catalog, unless it is unchanged;
        the run's measures join the store's list in the same commit."""
        self.flush()
        for m in self.streams:  # a measure is listed once every current sentence has it
            absent = [r for r in catalog_rows if self._index.offset[m][r] == ABSENT]
            if absent:
                raise StoreError(f"{self.path}: row {absent[0]} has no {m!r} codes; "
                                 "every sentence of the corpus must have every measure")
        top: dict = {"measures": list(self.measures)}
        if self.encoder_decoder:
            top["measure_parts"] = {m: [split_stream(s)[1] for s in self.streams
                                        if split_stream(s)[0] == m] for m in self.measures}
        if "catalog_array" in self._meta["commit"] and list(self.current.values()) == catalog_rows:
            if any(self._meta.get(k) != v for k, v in top.items()):
                self._meta = write_commit(self._group, self._meta, top=top)
            return  # the corpus is as the last run left it: no new catalog generation
        self._meta = write_catalog(self._group, {**self._meta, **top}, catalog_rows)

    # The plan (pipeline/store/plan.py): the batches of an unfinished run, so a rerun after a
    # crash repeats them exactly.
    def load_plan(self) -> list[list[str]]:
        """The batches (lists of content keys) left by an interrupted run, or []."""
        return plan.load_plan(self.location)

    def save_plan(self, batches: list[list[str]]) -> None:
        """Persist this run's batches (written whole: an atomic replace, or one PUT)."""
        plan.save_plan(self.location, self.rows, batches)

    def clear_plan(self) -> None:
        """Forget the plan once the run has finished."""
        plan.clear_plan(self.location)
