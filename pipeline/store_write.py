"""Writing the store: one locked writer appends whole chunks and commits atomically.

See the layout and the commit protocol in pipeline/store.py and docs/store.md.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.errors import LockError, StoreError
from pipeline.store import (
    CODES_CHUNK,
    INDEX_ARRAYS,
    MEASURES,
    crc32,
    create_store,
    open_group_meta,
    write_catalog,
)

log = logging.getLogger(__name__)

PLAN_FILE = "atlas-plan.json"


def dump_record(record: dict) -> str:
    """A sentence record as the store keeps it (index/record): JSON with sorted keys."""
    return json.dumps(record, ensure_ascii=False, sort_keys=True)


def lock_path(store: Path) -> Path:
    """The lock file beside a store (inside it would be wiped when the store is created)."""
    return store.parent / f".{store.name}.lock"


class StoreLock:
    """An exclusive advisory lock on a store; the OS releases it when the process dies."""

    def __init__(self, store: Path, wait: float = 0.0) -> None:
        self.path, self.wait, self._fd = lock_path(store), wait, None

    def __enter__(self) -> StoreLock:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:  # a parent that is a file, a read-only folder, ...
            store = self.path.parent / self.path.name[1:-5]
            raise StoreError(f"cannot write the store {store}: {exc.strerror or exc} "
                             f"({exc.filename})") from exc
        deadline = time.monotonic() + self.wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
                    os.close(fd)
                    raise LockError(f"{self.path.parent / self.path.name[1:-5]} is locked by {holder}; "
                                    "another run is writing it. Wait for it to finish, or pass "
                                    "--wait SECONDS to queue behind it") from None
                time.sleep(0.2)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}\n".encode(), 0)
        self._fd = fd
        return self

    def __exit__(self, *exc) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


@dataclass
class _PendingRow:
    """A row whose index entry waits until its codes are in written chunks."""

    record: str  # JSON
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
            stored = {k: meta["model"].get(k) for k in fingerprint}
            if stored != fingerprint:
                diff = ", ".join(f"{k}: store has {stored[k]!r}, this run {fingerprint[k]!r}"
                                 for k in fingerprint if stored[k] != fingerprint[k])
                raise StoreError(f"{path} was written by another model: the store holds "
                                 f"{meta['model'].get('name')!r}, this run uses "
                                 f"{model_info.get('name')!r} ({diff}); a store holds one model: "
                                 "choose a new --store (or --out) for this one")
        else:
            group = create_store(path, model_info)
            meta = dict(group.attrs)["atlas"]
        self._group, self._meta = group, meta
        commit = meta["commit"]
        self.rows = commit["rows"]
        self._written = {m: self._round_up(commit["codes_end"][m]) for m in MEASURES}
        self._chunks = dict(commit["chunks"])
        self._catalog_len, self._catalog_name = commit["catalog"], commit.get("catalog_array", "catalog/row")
        self._pending: list[_PendingRow] = []
        # Seconds between commits while chunks stream out: a commit rewrites the index
        # tails and the metadata (a dozen small files, ~0.05 s), so committing after every
        # chunk costs a tenth of a fast run; a crash loses at most this much work.
        self.commit_every, self._last_commit = commit_every, time.monotonic()
        self._buffer: list[np.ndarray] = []
        self._buffered = 0
        self._load_index()

    @staticmethod
    def _round_up(n: int) -> int:
        return -(-n // CODES_CHUNK) * CODES_CHUNK

    def _load_index(self) -> None:
        """Committed rows by id and by content key, to reuse what is already computed."""
        n = self.rows
        index = {name: self._group[f"index/{name}"][:n] if n else [] for name in INDEX_ARRAYS}
        self._offset = list(np.asarray(index["offset"], dtype=np.int64))
        self._n_tokens = list(np.asarray(index["n_tokens"], dtype=np.int64))
        self._crc = list(np.asarray(index["crc32"], dtype=np.int64))
        self._records = [str(r) for r in index["record"]]
        self.by_key = {str(k): r for r, k in enumerate(index["key"])}
        catalog = self._group[self._catalog_name][: self._catalog_len] if self._catalog_len else []
        ids = [str(i) for i in index["id"]]
        self.current = {ids[r]: int(r) for r in catalog}  # id -> row in the last finished run

    def record_json(self, row: int) -> str:
        """The JSON record of a committed row."""
        return self._records[row]

    @property
    def _end(self) -> int:
        return self._written["attention"] + self._buffered

    def add(self, record: dict, codes: np.ndarray) -> int:
        """Queue a computed sentence: `codes` uint8 (L, H, T, T). Returns its row."""
        flat = np.ascontiguousarray(codes).reshape(-1)
        row = self.rows + len(self._pending)
        self._pending.append(_PendingRow(dump_record(record),
                                         record["id"], record["key"], self._end, codes.shape[-1],
                                         crc32(flat), self._end + flat.size))
        self._buffer.append(flat)
        self._buffered += flat.size
        if self._buffered >= CODES_CHUNK:
            self._write_chunks(final=False)
        return row

    def reuse(self, record: dict, source_row: int) -> int:
        """Queue a sentence whose codes are already stored (same text): a new row, no new codes."""
        row = self.rows + len(self._pending)
        self._pending.append(_PendingRow(dump_record(record),
                                         record["id"], record["key"], int(self._offset[source_row]),
                                         int(self._n_tokens[source_row]), int(self._crc[source_row]),
                                         0))
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
        out, start = data[: n_full * CODES_CHUNK], self._written["attention"]
        codes = self._group["measures/attention/codes"]
        if codes.shape[0] < start + out.size:
            codes.resize((start + out.size,))
        codes[start:start + out.size] = out
        crcs = np.array([crc32(out[i * CODES_CHUNK:(i + 1) * CODES_CHUNK]) for i in range(n_full)],
                        dtype=np.uint32)
        self._append("measures/attention/chunk_crc32", self._chunks["attention"], crcs)
        self._chunks["attention"] += n_full
        self._written["attention"] = start + out.size
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
        written = self._written["attention"]
        ready = 0
        while ready < len(self._pending) and self._pending[ready].end <= written:
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
            self.by_key.setdefault(r.key, at)
            at += 1
        self.rows = at
        del self._pending[:ready]
        self._write_commit()

    def _write_commit(self) -> None:
        meta = dict(self._meta)
        meta["commit"] = {"rows": self.rows, "catalog": self._catalog_len,
                          "catalog_array": self._catalog_name,
                          "codes_end": dict(self._written), "chunks": dict(self._chunks)}
        self._group.attrs["atlas"] = meta  # one atomic file replace: the commit point
        self._meta = meta
        self._last_commit = time.monotonic()

    def flush(self) -> None:
        """Write the tail chunk (padded to a whole chunk) and commit every queued row."""
        if self._buffered:
            self._write_chunks(final=True)
        self.commit()
        assert not self._pending, "every queued row is written by now"

    def finish(self, catalog_rows: list[int]) -> None:
        """Flush, then write the corpus order (rows) and commit it."""
        self.flush()
        # a new catalog array under a new name, switched to by the commit: atomic for readers
        name = write_catalog(self._group, self._catalog_name, catalog_rows)
        old = self._catalog_name
        self._catalog_name, self._catalog_len = name, len(catalog_rows)
        self._write_commit()
        if old != name and old in self._group:
            del self._group[old]

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
