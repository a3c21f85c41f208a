"""Writing a store: one locked writer appends whole chunks and commits atomically.

Extraction asks the writer one question, `place(sentence)`: is this sentence
already stored, and where (a row), or must its codes be computed (None)? It then
hands over `(sentence, codes)` with `add`, and the corpus order with `finish`.
The layout and the commit protocol are in pipeline/store/layout.py and docs/store.md.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.errors import StoreError
from pipeline.measures import DEFAULT_MEASURE, MEASURES, get_measure
from pipeline.records import Sentence
from pipeline.store.layout import (
    ABSENT,
    CODES_CHUNK,
    SCHEMA,
    catalog_name,
    crc32,
    create_measure_arrays,
    create_store,
    measure_heads,
    open_group_meta,
    read_index,
    read_measure_index,
    round_up,
    row_size,
    upgrade_schema1,
    write_catalog,
    write_commit,
)
from pipeline.store.location import StoreLocation
from pipeline.store.sentence import StoredSentence

log = logging.getLogger(__name__)

PLAN_FILE = "atlas-plan.json"
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


@dataclass
class _PendingRow:
    """A row whose index entry waits until its codes are in written chunks."""

    record: str  # StoredSentence JSON
    id: str
    key: str
    n_tokens: int
    offsets: dict[str, int]  # per measure: where its codes start (ABSENT: not computed)
    crcs: dict[str, int]
    ends: dict[str, int]  # per measure, offset + size: committable once the written end reaches it


@dataclass
class _PendingFill:
    """A measure's codes for a text whose rows are already committed: its offset and CRC are
    written into those rows once the codes are in written chunks."""

    key: str
    measure: str
    offset: int
    crc: int
    end: int


class _Codes:
    """One measure's codes being appended: the buffer, what is written, the chunk count."""

    def __init__(self, measure: str, heads: int, codes_end: int, chunks: int) -> None:
        self.measure, self.heads = measure, heads
        self.written = round_up(codes_end)  # new codes start on a fresh chunk
        self.chunks = chunks
        self.buffer: list[np.ndarray] = []
        self.buffered = 0


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
            heads = {m: get_measure(m).heads(model_info["n_heads"]) for m in measures}
            group, meta = create_store(location, model_info, list(measures), heads)
        self._group, self._meta = group, meta
        self.measures = tuple(m for m in MEASURES if m in set(meta["measures"]) | set(measures))
        self.rows = meta["commit"]["rows"]
        self._start_new_measures()
        commit = self._meta["commit"]
        self._codes = {m: _Codes(m, measure_heads(self._meta, m), commit["codes_end"][m],
                                 commit["chunks"][m]) for m in self.measures}
        self._pending: list[_PendingRow] = []
        self._fills: list[_PendingFill] = []
        self._filling: set[tuple[str, str]] = set()  # (key, measure) queued in _fills
        # Seconds between commits while chunks stream out: a commit rewrites the index
        # tails and the metadata (a dozen small files, ~0.05 s), so committing after every
        # chunk costs a tenth of a fast run; a crash loses at most this much work.
        self.commit_every, self._last_commit = commit_every, time.monotonic()
        self._load_index()

    @property
    def model(self) -> dict:
        """The model the store holds."""
        return self._meta["model"]

    def _start_new_measures(self) -> None:
        """Arrays for each measure this run adds to the store. One that an interrupted run began
        keeps the rows it committed (its codes and offsets are below its committed end)."""
        commit, heads = self._meta["commit"], dict(self._meta.get("measure_heads", {}))
        new = [m for m in self.measures if m not in self._meta["measures"]]
        started = [m for m in new if m in commit["codes_end"] and f"measures/{m}" in self._group]
        for m in new:
            heads[m] = get_measure(m).heads(self.model["n_heads"])
            if m not in started:
                create_measure_arrays(self._group, m, self.rows)
                continue
            for name, fill in (("offset", ABSENT), ("crc32", 0)):  # rows a run without it added
                array = self._group[f"measures/{m}/{name}"]
                if array.shape[0] < self.rows:
                    old = array.shape[0]
                    array.resize((self.rows,))
                    array[old:] = fill
        if new:
            self._meta = write_commit(self._group, self._meta, top={"measure_heads": heads},
                                      codes_end={**commit["codes_end"],
                                                 **{m: 0 for m in new if m not in started}},
                                      chunks={**commit["chunks"],
                                              **{m: 0 for m in new if m not in started}})

    def _load_index(self) -> None:
        """Committed rows by id and by content key, to reuse what is already computed."""
        hint = "run `attention-atlas verify --store ... --repair`"
        index = read_index(self._group, self._meta["commit"], self.path, hint=hint)
        self._n_tokens = [int(n) for n in index["n_tokens"]]
        self._records = [str(r) for r in index["record"]]
        self._keys = [str(k) for k in index["key"]]
        self._by_key: dict[str, int] = {}
        self._rows_of_key: dict[str, list[int]] = {}
        for r, k in enumerate(self._keys):
            self._by_key.setdefault(k, r)
            self._rows_of_key.setdefault(k, []).append(r)
        self._offset: dict[str, list[int]] = {}
        self._crc: dict[str, list[int]] = {}
        for m in self.measures:
            offsets, crcs = read_measure_index(self._group, self._meta, m, self.path, hint)
            end = self._meta["commit"]["codes_end"][m]
            size = measure_heads(self._meta, m)
            # an offset past the committed codes was written by a run killed before its commit
            self._offset[m] = [int(o) if o >= 0 and o + row_size(self.model, t, size) <= end
                               else ABSENT for o, t in zip(offsets, self._n_tokens, strict=True)]
            self._crc[m] = [int(c) for c in crcs]
        ids = [str(i) for i in index["id"]]
        self.current = {ids[r]: int(r) for r in index["catalog"]}  # id -> row, last finished run

    # --- the questions extraction asks ---------------------------------------

    def unchanged(self, sentence: Sentence) -> int | None:
        """The row of a sentence the last run stored exactly so, with every measure of this run
        (decided without the model)."""
        row = self.current.get(sentence.id)
        if (row is not None and StoredSentence.from_json(self._records[row]).encodes(sentence)
                and not self.missing(self._keys[row])):
            return row
        return None

    def place(self, sentence: StoredSentence) -> int | None:
        """Where a sentence is stored (its row), or None when its codes must be computed.

        Unchanged since the last run, or stored whole by an interrupted one: that
        row. Its text stored under another id, spans or meta: a new row that points
        at the stored codes. A stored row may still lack some of this run's measures:
        `missing(key)` names them, and `add` fills them in.
        """
        record = sentence.to_json()
        old = self.current.get(sentence.id)
        if old is not None and self._records[old] == record:
            return old
        same_text = self._by_key.get(sentence.key)
        if same_text is None:
            return None
        if self._records[same_text] == record:
            return same_text
        return self._queue(_PendingRow(
            record, sentence.id, sentence.key, self._n_tokens[same_text],
            {m: self._offset[m][same_text] for m in self.measures},
            {m: self._crc[m][same_text] for m in self.measures}, {m: 0 for m in self.measures}))

    def missing(self, key: str) -> tuple[str, ...]:
        """The measures of this run not stored for a text (all of them for a new text)."""
        row = self._by_key.get(key)
        if row is None:
            return self.measures
        rows = self._rows_of_key.get(key, [row])  # any row of the text without it: computed again
        return tuple(m for m in self.measures if (key, m) not in self._filling
                     and any(self._offset[m][r] == ABSENT for r in rows))

    # --- appending ----------------------------------------------------------------

    def _queue(self, pending: _PendingRow) -> int:
        """Queue a row for the next commit; returns its row number."""
        self._pending.append(pending)
        return self.rows + len(self._pending) - 1

    def add(self, sentence: StoredSentence, codes: dict[str, np.ndarray] | np.ndarray) -> int:
        """Queue a computed sentence: `codes` {measure: uint8 (L, H, T, T)}, every measure of the
        run for a new text, the missing ones for a stored text. Returns its row (for a stored
        text, the row that holds it). A bare array is the default measure's codes."""
        if not isinstance(codes, dict):
            codes = {DEFAULT_MEASURE: codes}
        placed = {m: self._append_codes(m, c) for m, c in codes.items()}  # (offset, crc, end)
        row = self._register(sentence, next(iter(codes.values())).shape[-1], placed)
        for m in codes:
            if self._codes[m].buffered >= CODES_CHUNK:
                self._write_chunks(m, final=False)
        return row

    def _register(self, sentence: StoredSentence, n_tokens: int,
                  placed: dict[str, tuple[int, int, int]]) -> int:
        """Queue a sentence whose codes are placed at {measure: (offset, crc, end)} (buffered
        here, or written by another process: pipeline/store/regions.py); returns its row."""
        stored = self._by_key.get(sentence.key)
        if stored is None:
            if set(placed) != set(self.measures):
                raise StoreError(f"sentence {sentence.id!r}: codes for {sorted(placed)}, the store "
                                 f"needs {list(self.measures)}")
            row = self._queue(_PendingRow(sentence.to_json(), sentence.id, sentence.key, n_tokens,
                                          {m: p[0] for m, p in placed.items()},
                                          {m: p[1] for m, p in placed.items()},
                                          {m: p[2] for m, p in placed.items()}))
        else:
            row = stored
            for m, (offset, crc, end) in placed.items():
                self._fills.append(_PendingFill(sentence.key, m, offset, crc, end))
                self._filling.add((sentence.key, m))
                for pending in self._pending:  # rows queued for this text wait for these codes
                    if pending.key == sentence.key:
                        pending.offsets[m], pending.crcs[m], pending.ends[m] = offset, crc, end
        return row

    def _append_codes(self, measure: str, codes: np.ndarray) -> tuple[int, int, int]:
        """Buffer one row's codes of a measure; returns (offset, crc, end)."""
        state = self._codes[measure]
        if codes.shape[1] != state.heads:
            raise StoreError(f"measure {measure!r}: codes with {codes.shape[1]} maps per layer, "
                             f"the store keeps {state.heads}")
        flat = np.ascontiguousarray(codes).reshape(-1)
        offset = state.written + state.buffered
        state.buffer.append(flat)
        state.buffered += flat.size
        return offset, crc32(flat), offset + flat.size

    def _write_chunks(self, measure: str, final: bool) -> None:
        """Write a measure's whole buffered chunks (on `final`, the tail too, padded with zeros)."""
        state = self._codes[measure]
        if not state.buffer:
            return
        data = np.concatenate(state.buffer) if len(state.buffer) > 1 else state.buffer[0]
        n_full = data.size // CODES_CHUNK
        if final and data.size % CODES_CHUNK:
            n_full += 1
            data = np.concatenate([data, np.zeros(n_full * CODES_CHUNK - data.size, np.uint8)])
        if n_full == 0:
            return
        out, start = data[: n_full * CODES_CHUNK], state.written
        self._append(f"measures/{measure}/codes", start, out)
        crcs = np.array([crc32(out[i * CODES_CHUNK:(i + 1) * CODES_CHUNK]) for i in range(n_full)],
                        dtype=np.uint32)
        self._append(f"measures/{measure}/chunk_crc32", state.chunks, crcs)
        state.chunks += n_full
        state.written = start + out.size
        rest = data[out.size:] if not final else data[:0]
        state.buffer, state.buffered = ([rest] if rest.size else []), int(rest.size)
        if final or time.monotonic() - self._last_commit >= self.commit_every:
            self.commit()

    def _append(self, name: str, at: int, values) -> None:
        """Write values at [at, at + len) of a 1-D array, growing it when needed."""
        array = self._group[name]
        if array.shape[0] < at + len(values):
            array.resize((at + len(values),))
        array[at:at + len(values)] = values

    def commit(self) -> None:
        """Make every pending row and fill whose codes are written visible, with one atomic
        metadata write."""
        def written(measure: str, end: int) -> bool:
            return end <= self._codes[measure].written

        ready = 0
        while ready < len(self._pending) and all(written(m, e)
                                                 for m, e in self._pending[ready].ends.items()):
            ready += 1
        fills = [f for f in self._fills if written(f.measure, f.end)]
        waiting = [f for f in self._fills if not written(f.measure, f.end)]
        if ready == 0 and not fills:
            return
        rows, at = self._pending[:ready], self.rows
        if rows:
            columns = {
                "n_tokens": np.array([r.n_tokens for r in rows], np.int32),
                "id": np.array([r.id for r in rows], dtype=object),
                "key": np.array([r.key for r in rows], dtype=object),
                "record": np.array([r.record for r in rows], dtype=object),
            }
            for name, values in columns.items():
                self._append(f"index/{name}", at, values)
            for m in self.measures:
                self._append(f"measures/{m}/offset", at,
                             np.array([r.offsets[m] for r in rows], np.int64))
                self._append(f"measures/{m}/crc32", at, np.array([r.crcs[m] for r in rows], np.uint32))
        for r in rows:
            self._n_tokens.append(r.n_tokens)
            self._records.append(r.record)
            self._keys.append(r.key)
            for m in self.measures:
                self._offset[m].append(r.offsets[m])
                self._crc[m].append(r.crcs[m])
            self._by_key.setdefault(r.key, at)
            self._rows_of_key.setdefault(r.key, []).append(at)
            at += 1
        for f in fills:  # every committed row of the text points at the new codes
            for row in self._rows_of_key[f.key]:
                self._group[f"measures/{f.measure}/offset"][row] = f.offset
                self._group[f"measures/{f.measure}/crc32"][row] = f.crc
                self._offset[f.measure][row], self._crc[f.measure][row] = f.offset, f.crc
        self._fills = waiting
        self.rows = at
        del self._pending[:ready]
        self._meta = write_commit(
            self._group, self._meta, rows=self.rows,
            catalog_array=catalog_name(self._meta["commit"]),
            codes_end={**self._meta["commit"]["codes_end"],
                       **{m: s.written for m, s in self._codes.items()}},
            chunks={**self._meta["commit"]["chunks"], **{m: s.chunks for m, s in self._codes.items()}})
        self._last_commit = time.monotonic()

    def flush(self) -> None:
        """Write the tail chunks (padded to whole chunks) and commit every queued row."""
        for m in self.measures:
            if self._codes[m].buffered:
                self._write_chunks(m, final=True)
        self.commit()
        assert not self._pending and not self._fills, "every queued row is written by now"

    def finish(self, catalog_rows: list[int]) -> None:
        """Flush, then write the corpus order (rows) as the new catalog, unless it is unchanged;
        the run's measures join the store's list in the same commit."""
        self.flush()
        for m in self.measures:  # a measure is listed once every current sentence has it
            absent = [r for r in catalog_rows if self._offset[m][r] == ABSENT]
            if absent:
                raise StoreError(f"{self.path}: row {absent[0]} has no {m!r} codes; "
                                 "every sentence of the corpus must have every measure")
        top = {"measures": list(self.measures)}
        if "catalog_array" in self._meta["commit"] and list(self.current.values()) == catalog_rows:
            if self._meta["measures"] != top["measures"]:
                self._meta = write_commit(self._group, self._meta, top=top)
            return  # the corpus is as the last run left it: no new catalog generation
        self._meta = write_catalog(self._group, {**self._meta, **top}, catalog_rows)

    # The plan: the batches of an unfinished run, so a rerun after a crash repeats
    # them exactly and computes bit-identical values (see pipeline/extract/run.py).
    def load_plan(self) -> list[list[str]]:
        """The batches (lists of content keys) left by an interrupted run, or []."""
        try:
            plan = json.loads(self.location.read_text(PLAN_FILE) or "{}")
        except ValueError:
            return []
        if not isinstance(plan, dict):
            return []
        return plan.get("batches", []) if plan.get("rows") is not None else []

    def save_plan(self, batches: list[list[str]]) -> None:
        """Persist this run's batches (written whole: an atomic replace, or one PUT)."""
        self.location.write_text(PLAN_FILE, json.dumps({"rows": self.rows, "batches": batches}))

    def clear_plan(self) -> None:
        """Forget the plan once the run has finished."""
        self.location.remove(PLAN_FILE)
