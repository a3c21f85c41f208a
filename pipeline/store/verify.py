"""Verify a store: counts, offsets, metadata and checksums; repair by dropping damaged rows.

A repaired store no longer lists the damaged sentences and forgets their
content keys, so the next `extract` (or `run`) computes them again.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.errors import StoreError
from pipeline.store.layout import (
    ABSENT,
    CODES_CHUNK,
    crc32,
    finished_run,
    gather,
    index_arrays,
    open_group_meta,
    read_chunk,
    read_index,
    read_measure_index,
    stream_row_size,
    write_catalog,
)
from pipeline.store.location import StoreLocation
from pipeline.store.lock import StoreLock
from pipeline.store.sentence import StoredSentence
from pipeline.store.streams import split_stream, store_streams

log = logging.getLogger(__name__)

UNREPAIRABLE = "this cannot be repaired: extract into a new store"


@dataclass
class VerifyReport:
    """What `verify` found: problems (each a precise sentence), and the damaged rows."""

    path: Path | str  # the folder, or the URL
    sentences: int = 0
    rows: int = 0
    chunks: int = 0
    problems: list[str] = field(default_factory=list)
    damaged_rows: set[int] = field(default_factory=set)
    repaired: bool = False
    finished: bool = True  # False: the first run was interrupted (rows, but no corpus order yet)

    @property
    def ok(self) -> bool:
        """True when nothing is wrong."""
        return not self.problems

    def __str__(self) -> str:
        what = (f"{self.sentences} sentences" if self.finished else "no finished run yet (its "
                "first `extract` was interrupted: rerun it to finish)")
        head = f"{self.path}: {what}, {self.rows} rows, {self.chunks} chunks checked: "
        if self.ok:
            return head + "OK"
        lines = [head + f"{len(self.problems)} problem(s)", *(f"  - {p}" for p in self.problems)]
        if self.repaired:
            lines.append(f"  repaired: {len(self.damaged_rows)} damaged sentence(s) dropped; "
                         "the next run computes them again")
        return "\n".join(lines)

    def damage(self, row: int, problem: str) -> None:
        """Record a problem with one row."""
        self.problems.append(problem)
        self.damaged_rows.add(row)


def _measures(meta: dict) -> list[str]:
    """The streams to check (a self store's: its measures): those of the measures the store
    lists, then any a run is adding."""
    listed = store_streams(meta)
    return listed + [m for m in meta["commit"]["codes_end"] if m not in listed]


def _check_index(meta: dict, columns: dict, report: VerifyReport) -> set[int]:
    """Offsets, records and catalog of the index; returns the rows an earlier repair dropped."""
    rows = report.rows
    n_target = columns.get("n_target_tokens")
    catalog = columns["catalog"]
    current = {int(r) for r in catalog}
    # rows an earlier repair dropped (blank key, out of the catalog) are garbage, not damage
    forgotten = {r for r in range(rows) if str(columns["key"][r]) == ""} - current
    for row in sorted(set(range(rows)) - forgotten):
        n_tok, sid = int(columns["n_tokens"][row]), str(columns["id"][row])
        n_tgt = 0 if n_target is None else int(n_target[row])
        bad = False
        for m in _measures(meta):
            offset, end = int(columns[m]["offset"][row]), meta["commit"]["codes_end"][m]
            if offset == ABSENT and (row not in current
                                     or split_stream(m)[0] not in meta["measures"]):
                continue  # stored before the measure was added, or the measure is being added
            if (offset < 0 or n_tok <= 0 or (n_target is not None and n_tgt <= 0)
                    or offset + stream_row_size(meta, m, n_tok, n_tgt) > end):
                report.damage(row, f"row {row} (id {sid!r}): measure {m!r}: offset {offset} with "
                                   f"{n_tok} tokens lies outside the written codes (0..{end})")
                bad = True
                break
        if bad:
            continue
        try:
            stored = StoredSentence.from_json(str(columns["record"][row]))
            if stored.n_tokens != n_tok or stored.id != sid or (
                    n_target is not None and stored.n_target_tokens != n_tgt):
                raise ValueError("its tokens or id disagree with the index")
        except (ValueError, KeyError, TypeError) as exc:
            report.damage(row, f"row {row} (id {sid!r}): bad record: {exc}")
    report.sentences = len(catalog)
    if len(catalog) and (catalog.min() < 0 or catalog.max() >= rows):
        report.problems.append(f"the catalog points at rows outside 0..{rows - 1}")
    ids = [str(columns["id"][r]) for r in catalog if 0 <= r < rows]
    if len(set(ids)) != len(ids):
        report.problems.append("the catalog lists an id more than once")
    return forgotten


def _check_codes(group, meta: dict, columns: dict, forgotten: set[int],
                 report: VerifyReport) -> None:
    """Each measure: each chunk against its CRC-32, then each row's codes against its own CRC-32."""
    for measure in _measures(meta):
        _check_measure_codes(group, meta, measure, columns, forgotten, report)


def _check_measure_codes(group, meta: dict, measure: str, columns: dict, forgotten: set[int],
                         report: VerifyReport) -> None:
    n_chunks = meta["commit"]["chunks"][measure]
    report.chunks += n_chunks
    try:
        expected = group[f"measures/{measure}/chunk_crc32"][:n_chunks] if n_chunks else []
    except Exception as exc:  # missing, or a chunk that does not decode
        raise StoreError(f"{report.path}: measures/{measure}/chunk_crc32 cannot be read "
                         f"({type(exc).__name__}: {exc}); {UNREPAIRABLE}") from exc
    offsets, crcs = columns[measure]["offset"], columns[measure]["crc32"]
    n_target = columns.get("n_target_tokens", [0] * len(offsets))
    spans = {r: (int(o), int(o) + stream_row_size(meta, measure, int(t), int(tt)))
             for r, (o, t, tt) in enumerate(zip(offsets, columns["n_tokens"], n_target, strict=True))
             if int(o) != ABSENT}
    chunk = functools.lru_cache(maxsize=2)(functools.partial(read_chunk, group, measure))
    for k in range(n_chunks):
        try:
            good = crc32(chunk(k)) == int(expected[k])
        except Exception as exc:  # a chunk that does not even decompress
            good = False
            log.debug("chunk %d: %s", k, exc)
        if good:
            continue
        hit = [r for r, (a, b) in spans.items() if a < (k + 1) * CODES_CHUNK
               and b > k * CODES_CHUNK and r not in forgotten]
        if not hit:
            log.info("chunk %d is damaged, but holds only sentences an earlier repair dropped", k)
            continue
        report.problems.append(f"chunk {k} of measures/{measure}/codes (bytes {k * CODES_CHUNK}"
                               f"-{(k + 1) * CODES_CHUNK}) is missing or fails its CRC-32; "
                               f"{len(hit)} sentence(s) stored there are damaged")
        report.damaged_rows.update(hit)
    # rows in offset order, so that each chunk is decoded about once, not once per row
    for row in sorted(spans, key=lambda r: spans[r][0]):
        if row in report.damaged_rows or row in forgotten:
            continue
        if crc32(gather(*spans[row], chunk)) != int(crcs[row]):
            report.damage(row, f"row {row} (id {str(columns['id'][row])!r}) fails its CRC-32 "
                               f"in measure {measure!r}")


def _repair(group, meta: dict, columns: dict, report: VerifyReport) -> None:
    """Forget damaged rows (blank their keys) and drop them from the catalog, atomically."""
    keys = group["index/key"]
    for row in sorted(report.damaged_rows):
        keys[row] = ""  # never reused by content key again
    # an interrupted first run has no catalog yet: writing one would make it look finished
    if finished_run(meta["commit"]):
        kept = [int(r) for r in columns["catalog"] if int(r) not in report.damaged_rows]
        write_catalog(group, meta, kept)
    report.repaired = True


def verify_store(path: str | Path | StoreLocation, *, repair: bool = False,
                 wait: float = 0.0) -> VerifyReport:
    """Check a store; with repair, drop damaged sentences so the next run recomputes them."""
    location = StoreLocation.of(path)
    path = location.path
    report = VerifyReport(path)
    open_group_meta(location, mode="r")  # a missing or foreign store fails here, before any lock
    with StoreLock(location, wait=wait):
        group, meta = open_group_meta(location, mode="a" if repair else "r")
        for key in ("model", "quantization", "measures", "pipeline_version"):
            if key not in meta:
                report.problems.append(f"the metadata has no {key!r}")
        report.rows = meta["commit"]["rows"]
        report.finished = finished_run(meta["commit"])
        columns = read_index(group, meta["commit"], path, names=tuple(index_arrays(meta)),
                             hint=UNREPAIRABLE)
        for m in _measures(meta):
            offsets, crcs = read_measure_index(group, meta, m, path, UNREPAIRABLE)
            columns[m] = {"offset": offsets, "crc32": crcs}
        forgotten = _check_index(meta, columns, report)
        _check_codes(group, meta, columns, forgotten, report)
        if repair and report.damaged_rows:
            _repair(group, meta, columns, report)
    return report
