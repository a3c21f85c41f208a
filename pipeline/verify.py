"""Verify a store: counts, offsets, metadata and checksums; repair by dropping damaged rows.

A repaired store no longer lists the damaged sentences and forgets their
content keys, so the next `extract` (or `run`) computes them again.
"""

from __future__ import annotations

import functools
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pipeline.errors import StoreError
from pipeline.store import CODES_CHUNK, INDEX_ARRAYS, crc32, open_group_meta, write_catalog
from pipeline.store_write import StoreLock

log = logging.getLogger(__name__)


@dataclass
class VerifyReport:
    """What `verify` found: problems (each a precise sentence), and the damaged rows."""

    path: Path
    sentences: int = 0
    rows: int = 0
    chunks: int = 0
    problems: list[str] = field(default_factory=list)
    damaged_rows: set[int] = field(default_factory=set)
    repaired: bool = False

    @property
    def ok(self) -> bool:
        """True when nothing is wrong."""
        return not self.problems

    def __str__(self) -> str:
        head = (f"{self.path}: {self.sentences} sentences, {self.rows} rows, "
                f"{self.chunks} chunks checked: ")
        if self.ok:
            return head + "OK"
        lines = [head + f"{len(self.problems)} problem(s)", *(f"  - {p}" for p in self.problems)]
        if self.repaired:
            lines.append(f"  repaired: {len(self.damaged_rows)} damaged sentence(s) dropped; "
                         "the next run computes them again")
        return "\n".join(lines)


def _array(group, name: str, path: Path):
    """One array of the store, or StoreError naming it when it is missing or its zarr.json is damaged."""
    try:
        return group[name]
    except Exception as exc:  # KeyError, JSONDecodeError, zarr's metadata errors
        raise StoreError(f"{path}: {name} is missing or its metadata is damaged "
                         f"({type(exc).__name__}: {exc}); this cannot be repaired: "
                         "extract into a new store") from exc


def _read(array, n: int, path: Path) -> np.ndarray:
    """The first n values of an index array, or StoreError naming it when its chunks are damaged."""
    try:
        return array[:n]
    except Exception as exc:  # a chunk that does not decompress or decode
        raise StoreError(f"{path}: {array.path} cannot be read ({type(exc).__name__}: {exc}); "
                         "this cannot be repaired: extract into a new store") from exc


def _check_index(group, meta: dict, report: VerifyReport) -> dict:
    """Lengths, offsets, record JSON and catalog of the index; returns the index columns."""
    commit, model = meta["commit"], meta["model"]
    rows = report.rows = commit["rows"]
    columns = {}
    for name in INDEX_ARRAYS:
        array = _array(group, f"index/{name}", report.path)
        if array.shape[0] < rows:
            raise StoreError(f"{report.path}: index/{name} holds {array.shape[0]} rows, the commit "
                             f"says {rows}: the index is truncated and cannot be repaired")
        columns[name] = _read(array, rows, report.path) if rows else np.zeros(0)
    catalog_name = commit.get("catalog_array", "catalog/row")
    catalog = _read(_array(group, catalog_name, report.path), commit["catalog"], report.path)
    # rows an earlier repair dropped (blank key, out of the catalog) are garbage, not damage
    columns["forgotten"] = {r for r in range(rows) if str(columns["key"][r]) == ""} - set(
        int(r) for r in catalog)
    end = commit["codes_end"]["attention"]
    lh = model["n_layers"] * model["n_heads"]
    for row in range(rows):
        if row in columns["forgotten"]:
            continue
        offset, n_tok = int(columns["offset"][row]), int(columns["n_tokens"][row])
        sid = str(columns["id"][row])
        if offset < 0 or n_tok <= 0 or offset + lh * n_tok * n_tok > end:
            report.problems.append(f"row {row} (id {sid!r}): offset {offset} with {n_tok} tokens "
                                   f"lies outside the written codes (0..{end})")
            report.damaged_rows.add(row)
            continue
        try:
            record = json.loads(str(columns["record"][row]))
            if len(record["tokens"]) != n_tok or record["id"] != sid:
                raise ValueError("its tokens or id disagree with the index")
        except (ValueError, KeyError, TypeError) as exc:
            report.problems.append(f"row {row} (id {sid!r}): bad record: {exc}")
            report.damaged_rows.add(row)
    report.sentences = len(catalog)
    if len(catalog) and (catalog.min() < 0 or catalog.max() >= rows):
        report.problems.append(f"the catalog points at rows outside 0..{rows - 1}")
    ids = [str(columns["id"][r]) for r in catalog if 0 <= r < rows]
    if len(set(ids)) != len(ids):
        report.problems.append("the catalog lists an id more than once")
    columns["catalog"] = catalog
    return columns


def _check_codes(group, meta: dict, columns: dict, report: VerifyReport) -> None:
    """Each chunk against its CRC-32, then each row's codes against its own CRC-32."""
    commit, model = meta["commit"], meta["model"]
    codes, n_chunks = _array(group, "measures/attention/codes", report.path), commit["chunks"]["attention"]
    report.chunks = n_chunks
    crcs = _array(group, "measures/attention/chunk_crc32", report.path)
    expected = _read(crcs, n_chunks, report.path) if n_chunks else []
    lh = model["n_layers"] * model["n_heads"]
    spans = [(int(o), int(o) + lh * int(t) * int(t)) for o, t in zip(columns["offset"],
                                                                     columns["n_tokens"], strict=True)]
    chunk = functools.lru_cache(maxsize=2)(lambda k: codes[k * CODES_CHUNK:(k + 1) * CODES_CHUNK])
    for k in range(n_chunks):
        try:
            good = crc32(chunk(k)) == int(expected[k])
        except Exception as exc:  # a chunk that does not even decompress
            good = False
            log.debug("chunk %d: %s", k, exc)
        if not good:
            hit = [r for r, (a, b) in enumerate(spans) if a < (k + 1) * CODES_CHUNK
                   and b > k * CODES_CHUNK and r not in columns["forgotten"]]
            if not hit:
                log.info("chunk %d is damaged, but holds only sentences an earlier repair dropped", k)
                continue
            report.problems.append(f"chunk {k} of measures/attention/codes (bytes {k * CODES_CHUNK}"
                                   f"-{(k + 1) * CODES_CHUNK}) is missing or fails its CRC-32; "
                                   f"{len(hit)} sentence(s) stored there are damaged")
            report.damaged_rows.update(hit)
    # rows in offset order, so that each chunk is decoded about once, not once per row
    for row in sorted(range(len(spans)), key=lambda r: spans[r][0]):
        if row in report.damaged_rows or row in columns["forgotten"]:
            continue
        a, b = spans[row]
        flat = np.concatenate([chunk(k)[max(a, k * CODES_CHUNK) - k * CODES_CHUNK:
                                        min(b, (k + 1) * CODES_CHUNK) - k * CODES_CHUNK]
                               for k in range(a // CODES_CHUNK, (b - 1) // CODES_CHUNK + 1)])
        if crc32(flat) != int(columns["crc32"][row]):
            report.problems.append(f"row {row} (id {str(columns['id'][row])!r}) fails its CRC-32")
            report.damaged_rows.add(row)


def _repair(group, meta: dict, columns: dict, report: VerifyReport) -> None:
    """Forget damaged rows (blank their keys) and drop them from the catalog, atomically."""
    keys = group["index/key"]
    for row in sorted(report.damaged_rows):
        keys[row] = ""  # never reused by content key again
    commit = meta["commit"]
    kept = [int(r) for r in columns["catalog"] if int(r) not in report.damaged_rows]
    name = commit.get("catalog_array", "catalog/row")
    new_name = write_catalog(group, name, kept)
    meta = dict(meta)
    meta["commit"] = {**commit, "catalog": len(kept), "catalog_array": new_name}
    group.attrs["atlas"] = meta
    if name in group:
        del group[name]
    report.repaired = True


def verify_store(path: str | Path, *, repair: bool = False, wait: float = 0.0) -> VerifyReport:
    """Check a store; with repair, drop damaged sentences so the next run recomputes them."""
    path = Path(path)
    report = VerifyReport(path)
    open_group_meta(path, mode="r")  # a missing or foreign store fails here, before any lock file
    with StoreLock(path, wait=wait):
        group, meta = open_group_meta(path, mode="a" if repair else "r")
        for key in ("model", "quantization", "measures", "pipeline_version"):
            if key not in meta:
                report.problems.append(f"the metadata has no {key!r}")
        columns = _check_index(group, meta, report)
        _check_codes(group, meta, columns, report)
        if repair and report.damaged_rows:
            _repair(group, meta, columns, report)
    return report
