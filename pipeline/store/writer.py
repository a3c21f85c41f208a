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

import filelock
import numpy as np

from pipeline.errors import LockError, StoreError
from pipeline.measures import DEFAULT_MEASURE
from pipeline.records import Sentence
from pipeline.store.layout import (
    CODES_CHUNK,
    catalog_name,
    crc32,
    create_store,
    open_group_meta,
    read_index,
    round_up,
    write_catalog,
    write_commit,
)
from pipeline.store.sentence import StoredSentence

log = logging.getLogger(__name__)

PLAN_FILE = "atlas-plan.json"
MEASURE = DEFAULT_MEASURE  # the measure this writer stores (one per store, so far)


def lock_path(store: Path) -> Path:
    """The lock file beside a store (inside it would be wiped when the store is created)."""
    return store.parent / f".{store.name}.lock"


class StoreLock:
    """An exclusive lock on a store (filelock); the OS releases it when the process dies.

    The holder writes its pid into the lock file, so a refused run can name it.
    """

    def __init__(self, store: Path, wait: float = 0.0) -> None:
        self.store, self.path = store, lock_path(store)
        self._lock = filelock.FileLock(str(self.path), timeout=wait)

    def __enter__(self) -> StoreLock:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._lock.acquire()
        except filelock.Timeout:
            holder = self.path.read_text(errors="replace").strip() or "another process"
            raise LockError(f"{self.store} is locked by {holder}; another run is writing it. "
                            "Wait for it to finish, or pass --wait SECONDS to queue behind it"
                            ) from None
        except OSError as exc:  # a parent that is a file, a read-only folder, ...
            raise StoreError(f"cannot write the store {self.store}: {exc.strerror or exc} "
                             f"({exc.filename})") from exc
        self.path.write_text(f"pid {os.getpid()}\n")
        return self

    def __exit__(self, *exc) -> None:
        self._lock.release()


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
    offset: int
    n_tokens: int
    crc: int
    end: int  # offset + size: committable once the written end reaches it


class StoreWriter:
    """Append rows to a store; only whole chunks are written, commits are atomic.

    Use inside a StoreLock. Rows become visible to readers at `commit()`, and
    the current corpus (the catalog) at `finish()`.
    """

    def __init__(self, path: Path, model_info: dict, fingerprint: dict, *,
                 commit_every: float = 2.0) -> None:
        self.path = path
        if path.exists() and not path.is_dir():
            raise StoreError(f"store path {path} is a file; give a folder path (e.g. build/atlas.zarr)")
        if path.is_dir() and any(path.iterdir()):
            group, meta = open_group_meta(path, mode="a")
            why = model_mismatch(path, meta["model"], model_info, fingerprint)
            if why:
                raise StoreError(why)
        else:
            group, meta = create_store(path, model_info, [MEASURE])
        self._group, self._meta = group, meta
        commit = meta["commit"]
        self.rows = commit["rows"]
        self._written = round_up(commit["codes_end"][MEASURE])
        self._chunks = commit["chunks"][MEASURE]
        self._pending: list[_PendingRow] = []
        # Seconds between commits while chunks stream out: a commit rewrites the index
        # tails and the metadata (a dozen small files, ~0.05 s), so committing after every
        # chunk costs a tenth of a fast run; a crash loses at most this much work.
        self.commit_every, self._last_commit = commit_every, time.monotonic()
        self._buffer: list[np.ndarray] = []
        self._buffered = 0
        self._load_index()

    @property
    def model(self) -> dict:
        """The model the store holds."""
        return self._meta["model"]

    def _load_index(self) -> None:
        """Committed rows by id and by content key, to reuse what is already computed."""
        index = read_index(self._group, self._meta["commit"], self.path,
                           hint="run `attention-atlas verify --store ... --repair`")
        self._offset = [int(o) for o in index["offset"]]
        self._n_tokens = [int(n) for n in index["n_tokens"]]
        self._crc = [int(c) for c in index["crc32"]]
        self._records = [str(r) for r in index["record"]]
        self._by_key = {str(k): r for r, k in enumerate(index["key"])}
        ids = [str(i) for i in index["id"]]
        self.current = {ids[r]: int(r) for r in index["catalog"]}  # id -> row, last finished run

    # --- the one question extraction asks ---------------------------------------

    def unchanged(self, sentence: Sentence) -> int | None:
        """The row of a sentence the last run stored exactly so (decided without the model)."""
        row = self.current.get(sentence.id)
        if row is not None and StoredSentence.from_json(self._records[row]).encodes(sentence):
            return row
        return None

    def place(self, sentence: StoredSentence) -> int | None:
        """Where a sentence is stored (its row), or None when its codes must be computed.

        Unchanged since the last run, or stored whole by an interrupted one: that
        row. Its text stored under another id, spans or meta: a new row that points
        at the stored codes.
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
        return self._queue(_PendingRow(record, sentence.id, sentence.key, self._offset[same_text],
                                       self._n_tokens[same_text], self._crc[same_text], 0))

    # --- appending ----------------------------------------------------------------

    def _queue(self, pending: _PendingRow) -> int:
        """Queue a row for the next commit; returns its row number."""
        self._pending.append(pending)
        return self.rows + len(self._pending) - 1

    def add(self, sentence: StoredSentence, codes: np.ndarray) -> int:
        """Queue a computed sentence: `codes` uint8 (L, H, T, T). Returns its row."""
        flat = np.ascontiguousarray(codes).reshape(-1)
        end = self._written + self._buffered
        row = self._queue(_PendingRow(sentence.to_json(), sentence.id, sentence.key, end,
                                      codes.shape[-1], crc32(flat), end + flat.size))
        self._buffer.append(flat)
        self._buffered += flat.size
        if self._buffered >= CODES_CHUNK:
            self._write_chunks(final=False)
        return row

    def _write_chunks(self, final: bool) -> None:
        """Write the buffer's whole chunks (on `final`, the tail too, padded with zeros)."""
        data = np.concatenate(self._buffer) if len(self._buffer) > 1 else self._buffer[0]
        n_full = data.size // CODES_CHUNK
        if final and data.size % CODES_CHUNK:
            n_full += 1
            data = np.concatenate([data, np.zeros(n_full * CODES_CHUNK - data.size, np.uint8)])
        if n_full == 0:
            return
        out, start = data[: n_full * CODES_CHUNK], self._written
        self._append(f"measures/{MEASURE}/codes", start, out)
        crcs = np.array([crc32(out[i * CODES_CHUNK:(i + 1) * CODES_CHUNK]) for i in range(n_full)],
                        dtype=np.uint32)
        self._append(f"measures/{MEASURE}/chunk_crc32", self._chunks, crcs)
        self._chunks += n_full
        self._written = start + out.size
        rest = data[out.size:] if not final else data[:0]
        self._buffer, self._buffered = ([rest] if rest.size else []), int(rest.size)
        if final or time.monotonic() - self._last_commit >= self.commit_every:
            self.commit()

    def _append(self, name: str, at: int, values) -> None:
        """Write values at [at, at + len) of a 1-D array, growing it when needed."""
        array = self._group[name]
        if array.shape[0] < at + len(values):
            array.resize((at + len(values),))
        array[at:at + len(values)] = values

    def commit(self) -> None:
        """Make every pending row whose codes are written visible, with one atomic metadata write."""
        ready = 0
        while ready < len(self._pending) and self._pending[ready].end <= self._written:
            ready += 1
        if ready == 0:
            return
        rows, at = self._pending[:ready], self.rows
        columns = {
            "offset": np.array([r.offset for r in rows], np.int64),
            "n_tokens": np.array([r.n_tokens for r in rows], np.int32),
            "crc32": np.array([r.crc for r in rows], np.uint32),
            "id": np.array([r.id for r in rows], dtype=object),
            "key": np.array([r.key for r in rows], dtype=object),
            "record": np.array([r.record for r in rows], dtype=object),
        }
        for name, values in columns.items():
            self._append(f"index/{name}", at, values)
        for r in rows:
            self._offset.append(r.offset)
            self._n_tokens.append(r.n_tokens)
            self._crc.append(r.crc)
            self._records.append(r.record)
            self._by_key.setdefault(r.key, at)
            at += 1
        self.rows = at
        del self._pending[:ready]
        self._meta = write_commit(self._group, self._meta, rows=self.rows,
                                  catalog_array=catalog_name(self._meta["commit"]),
                                  codes_end={MEASURE: self._written},
                                  chunks={MEASURE: self._chunks})
        self._last_commit = time.monotonic()

    def flush(self) -> None:
        """Write the tail chunk (padded to a whole chunk) and commit every queued row."""
        if self._buffered:
            self._write_chunks(final=True)
        self.commit()
        assert not self._pending, "every queued row is written by now"

    def finish(self, catalog_rows: list[int]) -> None:
        """Flush, then write the corpus order (rows) as the new catalog, unless it is unchanged."""
        self.flush()
        if "catalog_array" in self._meta["commit"] and list(self.current.values()) == catalog_rows:
            return  # the corpus is as the last run left it: no new catalog generation
        self._meta = write_catalog(self._group, self._meta, catalog_rows)

    # The plan: the batches of an unfinished run, so a rerun after a crash repeats
    # them exactly and computes bit-identical values (see pipeline/extract.py).
    def load_plan(self) -> list[list[str]]:
        """The batches (lists of content keys) left by an interrupted run, or []."""
        path = self.path / PLAN_FILE
        try:
            plan = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return []
        return plan.get("batches", []) if plan.get("rows") is not None else []

    def save_plan(self, batches: list[list[str]]) -> None:
        """Persist this run's batches (atomic replace)."""
        tmp = self.path / (PLAN_FILE + ".tmp")
        tmp.write_text(json.dumps({"rows": self.rows, "batches": batches}), encoding="utf-8")
        os.replace(tmp, self.path / PLAN_FILE)

    def clear_plan(self) -> None:
        """Forget the plan once the run has finished."""
        (self.path / PLAN_FILE).unlink(missing_ok=True)
