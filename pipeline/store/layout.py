"""The on-disk format of a store, and nothing else: names, chunks, quantization, index, commits.

Layout (Zarr v3; docs/store.md is the full schema):

    atlas.zarr/                      group; attrs["atlas"] = schema, model, quantization, commit
      measures/<name>/codes          uint8 (N,)  8-bit codes, each sentence's (L, H, T, T) flattened
      measures/<name>/chunk_crc32    uint32 (K,) CRC-32 of each codes chunk, uncompressed
      index/offset, index/n_tokens   int64 / int32 (R,) where row r's codes start, and its T
      index/crc32                    uint32 (R,) CRC-32 of row r's codes
      index/id, index/key, index/record   str (R,) sentence id, content key, StoredSentence JSON
      catalog/row-NNNNNN             int64 (S,)  rows of the current corpus, in corpus order
                                     (a new generation per run; the commit names the current one)

Rows are only ever appended. A write becomes visible when attrs["atlas"]["commit"]
is rewritten (one atomic file replace) after the arrays it points into; a killed
writer leaves at most uncommitted tails that the next writer overwrites. New
codes always start on a chunk boundary, so a committed chunk is never rewritten.
"""

from __future__ import annotations

import os
import shutil
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import zarr
from zarr.codecs import ZstdCodec

from pipeline import __version__
from pipeline.errors import StoreError

SCHEMA = 1
QUANTIZATION = {
    "dtype": "uint8",
    "scale": 255,
    "decode": "value = code / 255",
    "encode": "code = round(value * 255), value clipped to [0, 1]",
    "max_abs_error": 1 / 510,
}
SCALE = QUANTIZATION["scale"]
CODES_CHUNK = 4 << 20  # bytes of codes per chunk: 4 MiB uncompressed, ~2.5 MiB on disk (MiniLM)
INDEX_CHUNK = 1 << 13  # rows per chunk of the numeric index arrays (64 KiB of int64)
RECORD_CHUNK = 1 << 8  # rows per chunk of the string index arrays: a commit rewrites the last one
# zstd level 1: on attention codes both the smallest (0.138 of float32 vs 0.143 for
# Blosc zstd-5 with bit-shuffle) and the fastest (540 MB/s vs 66 MB/s) of those measured
CODEC = ZstdCodec(level=1)
INDEX_ARRAYS = {"offset": "int64", "n_tokens": "int32", "crc32": "uint32",
                "id": str, "key": str, "record": str}
FIRST_CATALOG = "catalog/row"  # the empty catalog of a new store; runs write catalog/row-NNNNNN
WORD_LEVEL = ("Clark et al. (2019): to-word = sum over its tokens, "
              "from-word = mean over its tokens")


# --- values ------------------------------------------------------------------


def quantize(values: np.ndarray) -> np.ndarray:
    """Attention in [0, 1] -> uint8 codes (see QUANTIZATION)."""
    return np.rint(np.clip(values, 0.0, 1.0) * SCALE).astype(np.uint8)


def dequantize(codes: np.ndarray) -> np.ndarray:
    """uint8 codes -> float32 values, within 1/510 of what was quantized."""
    return codes.astype(np.float32) / np.float32(SCALE)


def crc32(data: np.ndarray) -> int:
    """CRC-32 of an array's bytes."""
    return zlib.crc32(np.ascontiguousarray(data).view(np.uint8)) & 0xFFFFFFFF


# --- chunk arithmetic ------------------------------------------------------------


def round_up(n: int) -> int:
    """n rounded up to a whole number of codes chunks: where the next run's codes start."""
    return -(-n // CODES_CHUNK) * CODES_CHUNK


def chunks_of(start: int, end: int) -> range:
    """The numbers of the codes chunks that bytes [start, end) lie in."""
    return range(start // CODES_CHUNK, (end - 1) // CODES_CHUNK + 1)


def gather(start: int, end: int, chunk: Callable[[int], np.ndarray]) -> np.ndarray:
    """Codes [start, end) cut from the chunks that `chunk(k)` returns (whole, uncompressed)."""
    parts = [chunk(k)[max(start, k * CODES_CHUNK) - k * CODES_CHUNK:
                      min(end, (k + 1) * CODES_CHUNK) - k * CODES_CHUNK]
             for k in chunks_of(start, end)]
    return np.concatenate(parts) if len(parts) > 1 else parts[0]


def read_chunk(group: zarr.Group, measure: str, k: int) -> np.ndarray:
    """Codes chunk k of a measure, uncompressed (CODES_CHUNK bytes)."""
    return group[f"measures/{measure}/codes"][k * CODES_CHUNK:(k + 1) * CODES_CHUNK]


def row_size(model: dict, n_tokens: int) -> int:
    """Bytes of codes in a row of T tokens: L * H * T * T."""
    return model["n_layers"] * model["n_heads"] * n_tokens * n_tokens


# --- group, metadata and commits ---------------------------------------------------


def open_group_meta(path: Path, mode: str) -> tuple[zarr.Group, dict]:
    """Open the Zarr group and read its atlas metadata, or raise StoreError saying what is wrong."""
    if not path.exists():
        raise StoreError(f"no store at {path}; run `attention-atlas extract` (or `run`) first")
    if not path.is_dir():
        raise StoreError(f"{path} is a file, not a store folder")
    if not (path / "zarr.json").is_file():  # checked first: mode "a" would make it a Zarr group
        raise StoreError(f"{path} is a folder, but not a store (it has no zarr.json); give a new "
                         "or empty folder for a new store")
    try:
        group = zarr.open_group(str(path), mode=mode)
        meta = dict(group.attrs).get("atlas")
    except Exception as exc:  # zarr raises many kinds on a damaged or foreign folder
        raise StoreError(f"{path} is not a readable Zarr store: {exc}") from exc
    if not isinstance(meta, dict) or "commit" not in meta:
        raise StoreError(f"{path} is a Zarr store, but not an Attention Atlas store "
                         "(no 'atlas' metadata)")
    if meta.get("schema") != SCHEMA:
        raise StoreError(f"{path} has store schema {meta.get('schema')!r}; this pipeline "
                         f"({__version__}) reads schema {SCHEMA}")
    return group, meta


def catalog_name(commit: dict) -> str:
    """The name of the commit's catalog array."""
    return commit.get("catalog_array", FIRST_CATALOG)


def write_commit(group: zarr.Group, meta: dict, **commit) -> dict:
    """Replace the commit's given fields, in one atomic write of the metadata; returns the new meta."""
    meta = {**meta, "commit": {**meta["commit"], **commit}}
    group.attrs["atlas"] = meta  # one atomic file replace: the commit point
    return meta


def write_catalog(group: zarr.Group, meta: dict, rows: list[int]) -> dict:
    """Write the corpus order (rows) as the next catalog generation and commit it; returns the meta.

    A new array, not an overwrite: readers keep the old one until the commit names
    the new one, and the old one is deleted after.
    """
    old = catalog_name(meta["commit"])
    generation = int(old.rsplit("-", 1)[-1]) + 1 if "-" in old else 1
    name = f"catalog/row-{generation:06d}"
    array = group.create_array(name, shape=(len(rows),), chunks=(INDEX_CHUNK,), dtype="int64",
                               overwrite=True)  # a leftover of an interrupted run
    if rows:
        array[:] = np.asarray(rows, dtype=np.int64)
    meta = write_commit(group, meta, catalog=len(rows), catalog_array=name)
    if old != name and old in group:
        del group[old]
    return meta


def read_index(group: zarr.Group, commit: dict, path: Path, names=tuple(INDEX_ARRAYS),
               hint: str = "run `attention-atlas verify`") -> dict[str, np.ndarray]:
    """The committed rows of the named index arrays, and the catalog (as "catalog").

    Raises StoreError naming the array when it is missing, shorter than the
    commit says, or does not decode; `hint` says what to do about it.
    """
    rows, columns = commit["rows"], {}
    for name in [*(f"index/{n}" for n in names), catalog_name(commit)]:
        length = commit["catalog"] if name.startswith("catalog/") else rows
        try:
            array = group[name]
        except Exception as exc:  # KeyError, JSONDecodeError, zarr's metadata errors
            raise StoreError(f"{path}: {name} is missing or its metadata is damaged "
                             f"({type(exc).__name__}: {exc}); {hint}") from exc
        if array.shape[0] < length:
            raise StoreError(f"{path}: {name} holds {array.shape[0]} rows, the commit says "
                             f"{length}: the index is truncated; {hint}")
        try:
            values = array[:length] if length else np.zeros(0, dtype=array.dtype)
        except Exception as exc:  # a chunk that does not decompress or decode
            raise StoreError(f"{path}: {name} cannot be read ({type(exc).__name__}: {exc}); "
                             f"{hint}") from exc
        columns["catalog" if name.startswith("catalog/") else name[len("index/"):]] = values
    return columns


def create_store(path: Path, model_info: dict, measures: list[str]) -> tuple[zarr.Group, dict]:
    """Create an empty store for a model: arrays of length 0 and a zero commit.

    Built in a sibling folder and renamed into place, so that a run killed
    halfway leaves no half-made store (which would read as a foreign one).
    """
    building = path.parent / f".{path.name}.creating"
    shutil.rmtree(building, ignore_errors=True)  # left by a run killed while creating
    group = zarr.open_group(str(building), mode="w")
    for measure in measures:
        group.create_array(f"measures/{measure}/codes", shape=(0,), chunks=(CODES_CHUNK,),
                           dtype="uint8", compressors=[CODEC], fill_value=0)
        group.create_array(f"measures/{measure}/chunk_crc32", shape=(0,), chunks=(INDEX_CHUNK,),
                           dtype="uint32", fill_value=0)
    for name, dtype in INDEX_ARRAYS.items():
        chunks = RECORD_CHUNK if dtype is str else INDEX_CHUNK
        group.create_array(f"index/{name}", shape=(0,), chunks=(chunks,), dtype=dtype)
    group.create_array(FIRST_CATALOG, shape=(0,), chunks=(INDEX_CHUNK,), dtype="int64")
    group.attrs["atlas"] = {
        "schema": SCHEMA,
        "pipeline_version": __version__,
        "model": model_info,
        "measures": list(measures),
        "quantization": QUANTIZATION,
        "codes_chunk": CODES_CHUNK,
        "word_level": WORD_LEVEL,
        "commit": {"rows": 0, "catalog": 0, "codes_end": {m: 0 for m in measures},
                   "chunks": {m: 0 for m in measures}},
    }
    os.rename(building, path)  # atomic; replaces an empty folder at `path`
    group = zarr.open_group(str(path), mode="a")
    return group, dict(group.attrs)["atlas"]
