"""The row index a writer keeps: the committed rows, and the rows queued for the next commit.

Committed rows are known by id (the last finished run's, `current`) and by content key, with
each stream's offset and CRC-32 (a stream: a measure, in a self store; a measure's part in an
encoder-decoder's: pipeline/store/streams.py), so that a sentence stored already is reused, not computed
again (`unchanged`, `place`, `missing`). A computed sentence is queued (`register`): a new
text as a new row, a stored text's missing streams as a fill of its rows. Queued rows and
fills reach the index arrays (`write`) once their codes are in written chunks, in order;
the writer then commits (pipeline/store/writer.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import zarr

from pipeline.errors import StoreError
from pipeline.records import Sentence
from pipeline.store.chunks import in_written_chunks
from pipeline.store.layout import (
    ABSENT,
    index_arrays,
    read_index,
    read_measure_index,
    stream_row_size,
    write_at,
)
from pipeline.store.sentence import StoredSentence
from pipeline.store.streams import is_pair_store


@dataclass
class PendingRow:
    """A row whose index entry waits until its codes are in written chunks."""

    record: str  # StoredSentence JSON
    id: str
    key: str
    n_tokens: int
    offsets: dict[str, int]  # per stream: where its codes start (ABSENT: not computed)
    crcs: dict[str, int]
    ends: dict[str, int]  # per stream, offset + size: committable once the written end reaches it
    n_target_tokens: int = 0  # T_t (encoder-decoder stores)


@dataclass
class PendingFill:
    """A stream's codes for a text whose rows are already committed: its offset and CRC are
    written into those rows once the codes are in written chunks."""

    key: str
    measure: str  # the stream
    offset: int
    crc: int
    end: int


class RowIndex:
    """The committed rows of a store opened by a writer, for `measures` (its streams: the
    measures themselves in a self store), and the queue."""

    def __init__(self, group: zarr.Group, meta: dict, measures: tuple[str, ...],
                 path: Path) -> None:
        self.measures = measures
        self.rows = meta["commit"]["rows"]  # committed rows; queued ones are numbered after
        self.pending: list[PendingRow] = []
        self.fills: list[PendingFill] = []
        self._filling: set[tuple[str, str]] = set()  # (key, stream) queued in fills
        hint = "run `attention-atlas verify --store ... --repair`"
        self._pair = is_pair_store(meta)
        index = read_index(group, meta["commit"], path, names=tuple(index_arrays(meta)), hint=hint)
        self._n_tokens = [int(n) for n in index["n_tokens"]]
        self._n_target = ([int(n) for n in index["n_target_tokens"]] if self._pair
                          else [0] * len(self._n_tokens))
        self._records = [str(r) for r in index["record"]]
        self._keys = [str(k) for k in index["key"]]
        self._by_key: dict[str, int] = {}
        self._rows_of_key: dict[str, list[int]] = {}
        for r, k in enumerate(self._keys):
            self._by_key.setdefault(k, r)
            self._rows_of_key.setdefault(k, []).append(r)
        self.offset: dict[str, list[int]] = {}
        self._crc: dict[str, list[int]] = {}
        for m in measures:
            offsets, crcs = read_measure_index(group, meta, m, path, hint)
            end = meta["commit"]["codes_end"][m]
            self.offset[m] = [int(o) if in_written_chunks(int(o), stream_row_size(meta, m, t, tt),
                                                          end)
                              else ABSENT for o, t, tt in zip(offsets, self._n_tokens,
                                                              self._n_target, strict=True)]
            self._crc[m] = [int(c) for c in crcs]
        ids = [str(i) for i in index["id"]]
        self.current = {ids[r]: int(r) for r in index["catalog"]}  # id -> row, last finished run

    # --- what is stored ----------------------------------------------------------------

    def unchanged(self, sentence: Sentence) -> int | None:
        """The row of a sentence the last run stored exactly so, with
        every measure (decided without the model)."""
        row = self.current.get(sentence.id)
        if (row is not None and StoredSentence.from_json(self._records[row]).encodes(sentence)
                and not self.missing(self._keys[row])):
            return row
        return None

    def stored(self, key: str) -> StoredSentence | None:
        """The record of a text (content key) stored already (its first row), or None: for
        an encoder-decoder, the target generated for it, so it is not generated again."""
        row = self._by_key.get(key)
        return None if row is None else StoredSentence.from_json(self._records[row])

    def place(self, sentence: StoredSentence) -> int | None:
        """Where a sentence is stored (its row, perhaps a new one queued that points at the
        stored codes of its text), or None when its codes must be computed."""
        record = sentence.to_json()
        old = self.current.get(sentence.id)
        if old is not None and self._records[old] == record:
            return old
        same_text = self._by_key.get(sentence.key)
        if same_text is None:
            return None
        if self._records[same_text] == record:
            return same_text
        if self._pair and (self._n_tokens[same_text], self._n_target[same_text]) != (
                sentence.n_tokens, sentence.n_target_tokens):
            raise StoreError(f"sentence {sentence.id!r}: its tokens ({sentence.n_tokens} + "
                             f"{sentence.n_target_tokens} target) differ from those stored for "
                             f"its content key in row {same_text} ({self._n_tokens[same_text]} "
                             f"+ {self._n_target[same_text]}): a generated target must be the "
                             "stored one (`stored(key)`)")
        return self._queue(PendingRow(
            record, sentence.id, sentence.key, self._n_tokens[same_text],
            {m: self.offset[m][same_text] for m in self.measures},
            {m: self._crc[m][same_text] for m in self.measures}, {m: 0 for m in self.measures},
            self._n_target[same_text]))

    def missing(self, key: str) -> tuple[str, ...]:
        """The streams not stored for a text (all of them for a new text)."""
        row = self._by_key.get(key)
        if row is None:
            return self.measures
        rows = self._rows_of_key.get(key, [row])  # any row of the text without it: computed again
        return tuple(m for m in self.measures if (key, m) not in self._filling
                     and any(self.offset[m][r] == ABSENT for r in rows))

    # --- the queue ----------------------------------------------------------------------

    def _queue(self, pending: PendingRow) -> int:
        """Queue a row for the next commit; returns its row number."""
        self.pending.append(pending)
        return self.rows + len(self.pending) - 1

    def register(self, sentence: StoredSentence, n_tokens: int,
                 placed: dict[str, tuple[int, int, int]]) -> int:
        """Queue a sentence whose codes are placed at {stream: (offset, crc, end)}: a new row
        for a new text (every stream), a fill of its rows for a stored one; returns its row."""
        stored = self._by_key.get(sentence.key)
        if stored is None:
            if set(placed) != set(self.measures):
                raise StoreError(f"sentence {sentence.id!r}: codes for {sorted(placed)}, the store "
                                 f"needs {list(self.measures)}")
            return self._queue(PendingRow(sentence.to_json(), sentence.id, sentence.key, n_tokens,
                                          {m: p[0] for m, p in placed.items()},
                                          {m: p[1] for m, p in placed.items()},
                                          {m: p[2] for m, p in placed.items()},
                                          sentence.n_target_tokens))
        for m, (offset, crc, end) in placed.items():
            self.fills.append(PendingFill(sentence.key, m, offset, crc, end))
            self._filling.add((sentence.key, m))
            for pending in self.pending:  # rows queued for this text wait for these codes
                if pending.key == sentence.key:
                    pending.offsets[m], pending.crcs[m], pending.ends[m] = offset, crc, end
        return stored

    def write(self, group: zarr.Group, holds: Callable[[str, int], bool]) -> bool:
        """Write the queued rows (in order, up to the first whose codes are not all written)
        and the fills whose codes are (`holds(measure, end)`) into the index arrays; returns
        whether there was any (the writer then commits)."""
        ready = 0
        while ready < len(self.pending) and all(holds(m, e)
                                                for m, e in self.pending[ready].ends.items()):
            ready += 1
        fills = [f for f in self.fills if holds(f.measure, f.end)]
        waiting = [f for f in self.fills if not holds(f.measure, f.end)]
        if ready == 0 and not fills:
            return False
        rows, at = self.pending[:ready], self.rows
        if rows:
            columns = {
                "n_tokens": np.array([r.n_tokens for r in rows], np.int32),
                **({"n_target_tokens": np.array([r.n_target_tokens for r in rows], np.int32)}
                   if self._pair else {}),
                "id": np.array([r.id for r in rows], dtype=object),
                "key": np.array([r.key for r in rows], dtype=object),
                "record": np.array([r.record for r in rows], dtype=object),
            }
            for name, values in columns.items():
                write_at(group[f"index/{name}"], at, values)
            for m in self.measures:
                write_at(group[f"measures/{m}/offset"], at,
                         np.array([r.offsets[m] for r in rows], np.int64))
                write_at(group[f"measures/{m}/crc32"], at,
                         np.array([r.crcs[m] for r in rows], np.uint32))
        for r in rows:
            self._n_tokens.append(r.n_tokens)
            self._n_target.append(r.n_target_tokens)
            self._records.append(r.record)
            self._keys.append(r.key)
            for m in self.measures:
                self.offset[m].append(r.offsets[m])
                self._crc[m].append(r.crcs[m])
            self._by_key.setdefault(r.key, at)
            self._rows_of_key.setdefault(r.key, []).append(at)
            at += 1
        for f in fills:  # every committed row of the text points at the new codes
            for row in self._rows_of_key[f.key]:
                group[f"measures/{f.measure}/offset"][row] = f.offset
                group[f"measures/{f.measure}/crc32"][row] = f.crc
                self.offset[f.measure][row], self._crc[f.measure][row] = f.offset, f.crc
        self.fills = waiting
        self.rows = at
        del self.pending[:ready]
        return True
