"""The on-disk format of a store, and nothing else: names, chunks, quantization, index, commits.

Layout (Zarr v3, schema 2; an encoder-decoder's store: schema 3, one stream per measure and
part, pipeline/store/streams.py; docs/store.md is the full schema):

    atlas.zarr/                      group; attrs["atlas"] = schema, model, measures, commit, ...
      measures/<name>/codes          uint8 (N,)  8-bit codes, each sentence's (L, H_m, T, T) flattened
      measures/<name>/chunk_crc32    uint32 (K,) CRC-32 of each codes chunk, uncompressed
      measures/<name>/offset         int64 (R,)  where row r's codes start (-1: not computed)
      measures/<name>/crc32          uint32 (R,) CRC-32 of row r's codes
      index/n_tokens                 int32 (R,)  row r's T
      index/n_target_tokens          int32 (R,)  row r's T_t (encoder-decoder stores only)
      index/id, index/key, index/record   str (R,) sentence id, content key, StoredSentence JSON
      catalog/row-NNNNNN             int64 (S,)  rows of the current corpus, in corpus order
                                     (a new generation per run; the commit names the current one)

Rows are only ever appended. A write becomes visible when attrs["atlas"]["commit"]
is rewritten (one atomic file replace, or one PUT on object storage: see
pipeline/store/location.py) after the arrays it points into; a killed
writer leaves at most uncommitted tails that the next writer overwrites. New
codes always start on a chunk boundary, so a committed chunk is never rewritten.
"""

from __future__ import annotations

import atexit
import os
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import zarr
from zarr.codecs import ZstdCodec

from pipeline import __version__
from pipeline.errors import StoreError
from pipeline.store.location import StoreLocation
from pipeline.store.streams import (
    PAIR_PARTS,
    SELF,
    is_pair_store,
    stream_heads_default,
    stream_name,
    stream_shape,
    stream_size,
    streams_of,
)

SCHEMA = 2  # 1: attention only, its offsets and CRCs in index/offset and index/crc32
# An encoder-decoder's store: streams <measure>.<part> and index/n_target_tokens. A self store
# stays schema 2 (schema 3 with parts ["self"], byte for byte as before); a pipeline that reads
# only 1 and 2 refuses a schema-3 store cleanly rather than misreading it.
SCHEMA_PAIRS = 3
READABLE = (1, 2, 3)  # schema 1 is read as it is, and upgraded in place by the next writer
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
INDEX_ARRAYS = {"n_tokens": "int32", "id": str, "key": str, "record": str}
PAIR_INDEX_ARRAYS = {"n_tokens": "int32", "n_target_tokens": "int32", "id": str, "key": str,
                     "record": str}
MEASURE_INDEX = {"offset": "int64", "crc32": "uint32"}  # per measure, one entry per row
ABSENT = -1  # a row's offset in a measure that was not computed for it
FIRST_CATALOG = "catalog/row"  # the empty catalog of a new store; runs write catalog/row-NNNNNN
STATS_GROUP = "stats"  # the statistics: one group per measure, stats/<measure> (pipeline.stats)
PER_SENTENCE = "per_sentence"  # in each: the arrays in catalog order (pipeline.stats.catalog)
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


def write_at(array: zarr.Array, at: int, values) -> None:
    """Write values at [at, at + len) of a 1-D array, growing it when needed (never shrinking)."""
    if array.shape[0] < at + len(values):
        array.resize((at + len(values),))
    array[at:at + len(values)] = values


def row_size(model: dict, n_tokens: int, heads: int | None = None) -> int:
    """Bytes of codes in a row of T tokens: L * H * T * T (H: the measure's maps per layer)."""
    return model["n_layers"] * (model["n_heads"] if heads is None else heads) * n_tokens * n_tokens


def measure_heads(meta: dict, stream: str) -> int:
    """Maps per layer of a stored stream (a measure, in a self store): 1 for per-layer measures,
    else its stack's heads."""
    heads = meta.get("measure_heads", {}).get(stream)
    if heads is None:
        return int(meta["model"]["n_heads"]) if not is_pair_store(meta) else \
            stream_heads_default(meta["model"], stream)
    return int(heads)


def stream_row_size(meta: dict, stream: str, n_tokens: int, n_target_tokens: int = 0) -> int:
    """Bytes of codes in a row of a stored stream (see pipeline/store/streams.py)."""
    return stream_size(meta["model"], stream, n_tokens, n_target_tokens, measure_heads(meta, stream))


def row_shape(meta: dict, stream: str, n_tokens: int, n_target_tokens: int = 0
              ) -> tuple[int, int, int, int]:
    """The shape of a row's codes in a stored stream: (L, H_m, rows, columns)."""
    return stream_shape(meta["model"], stream, n_tokens, n_target_tokens,
                        measure_heads(meta, stream))


def index_arrays(meta: dict) -> dict:
    """The index arrays of a store: with index/n_target_tokens in an encoder-decoder's."""
    return PAIR_INDEX_ARRAYS if is_pair_store(meta) else INDEX_ARRAYS


def measure_index_names(meta: dict, measure: str) -> tuple[str, str]:
    """The arrays of a measure's per-row offsets and CRC-32s (schema 1: index/offset, index/crc32)."""
    if meta.get("schema") == 1:
        return "index/offset", "index/crc32"
    return f"measures/{measure}/offset", f"measures/{measure}/crc32"


def read_measure_index(group: zarr.Group, meta: dict, measure: str, path: Path,
                       hint: str = "run `attention-atlas verify`") -> tuple[np.ndarray, np.ndarray]:
    """A measure's committed per-row offsets and CRC-32s, or StoreError naming the damage."""
    rows, out = meta["commit"]["rows"], []
    for name in measure_index_names(meta, measure):
        try:
            array = group[name]
            values = array[:rows] if rows else np.zeros(0, dtype=array.dtype)
        except Exception as exc:  # missing, damaged metadata, a chunk that does not decode
            raise StoreError(f"{path}: {name} is missing or cannot be read "
                             f"({type(exc).__name__}: {exc}); {hint}") from exc
        if values.shape[0] < rows:
            raise StoreError(f"{path}: {name} holds {values.shape[0]} rows, the commit says "
                             f"{rows}: the index is truncated; {hint}")
        out.append(values)
    return out[0], out[1]


# --- group, metadata and commits ---------------------------------------------------


def open_group_meta(path: str | os.PathLike | StoreLocation, mode: str) -> tuple[zarr.Group, dict]:
    """Open the Zarr group and read its atlas metadata, or raise StoreError saying what is wrong.
    `path`: a local folder, or any location StoreLocation takes (a file:// or fsspec URL)."""
    path = StoreLocation.of(path)
    if not path.exists():
        raise StoreError(f"no store at {path}; run `attention-atlas extract` (or `run`) first")
    if path.is_file():
        raise StoreError(f"{path} is a file, not a store folder")
    if not path.is_store():  # checked first: mode "a" would make it a Zarr group
        raise StoreError(f"{path} is a folder, but not a store (it has no zarr.json); give a new "
                         "or empty folder for a new store")
    try:
        group = path.open_group(mode)
        meta = dict(group.attrs).get("atlas")
    except Exception as exc:  # zarr raises many kinds on a damaged or foreign folder
        raise StoreError(f"{path} is not a readable Zarr store: {exc}") from exc
    if not isinstance(meta, dict) or "commit" not in meta:
        raise StoreError(f"{path} is a Zarr store, but not an Attention Atlas store "
                         "(no 'atlas' metadata)")
    if meta.get("schema") not in READABLE:
        raise StoreError(f"{path} has store schema {meta.get('schema')!r}; this pipeline "
                         f"({__version__}) reads schemas {', '.join(map(str, READABLE))}")
    return group, meta


def finished_run(commit: dict) -> bool:
    """True once a run has finished on the store (written a corpus order): a first run that was
    interrupted leaves rows committed, but no catalog to read them by."""
    return catalog_name(commit) != FIRST_CATALOG or commit.get("catalog", 0) > 0


def no_finished_run(path, commit: dict) -> str:
    """Why a store without a finished run cannot be read, and what to do (one line)."""
    kept = f"the {commit['rows']} sentence(s) it committed are kept; " if commit["rows"] else ""
    return (f"{path} holds no finished run: its first `extract` was interrupted ({kept}rerun "
            "`attention-atlas extract` with the same corpus and model to finish it)")


def catalog_name(commit: dict) -> str:
    """The name of the commit's catalog array."""
    return commit.get("catalog_array", FIRST_CATALOG)


def stats_group(stream: str) -> str:
    """The name of a stream's statistics group (a measure's, in a self store)."""
    return f"{STATS_GROUP}/{stream}"


def write_commit(group: zarr.Group, meta: dict, top: dict | None = None, **commit) -> dict:
    """Replace the commit's given fields (and the metadata's `top` keys), in one atomic write of
    the metadata; returns the new meta."""
    meta = {**meta, **(top or {}), "commit": {**meta["commit"], **commit}}
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


def create_measure_arrays(group: zarr.Group, measure: str, rows: int) -> None:
    """A measure's empty codes and checksums, and its per-row index for `rows` rows, all ABSENT
    (arrays a crashed run left are replaced: their measure was never committed)."""
    group.create_array(f"measures/{measure}/codes", shape=(0,), chunks=(CODES_CHUNK,),
                       dtype="uint8", compressors=[CODEC], fill_value=0, overwrite=True)
    group.create_array(f"measures/{measure}/chunk_crc32", shape=(0,), chunks=(INDEX_CHUNK,),
                       dtype="uint32", fill_value=0, overwrite=True)
    for name, dtype in MEASURE_INDEX.items():
        array = group.create_array(f"measures/{measure}/{name}", shape=(rows,),
                                   chunks=(INDEX_CHUNK,), dtype=dtype, overwrite=True,
                                   fill_value=ABSENT if name == "offset" else 0)
        if rows:
            array[:] = ABSENT if name == "offset" else 0


def upgrade_schema1(group: zarr.Group, meta: dict) -> dict:
    """Upgrade a schema-1 store in place to schema 2: attention's offsets and CRCs are copied to
    measures/attention/, then one atomic commit says schema 2; the old arrays are deleted after.
    No codes are rewritten. Returns the new meta."""
    rows = meta["commit"]["rows"]
    for old, name in (("index/offset", "offset"), ("index/crc32", "crc32")):
        values = group[old][:rows] if rows else np.zeros(0, MEASURE_INDEX[name])
        array = group.create_array(f"measures/attention/{name}", shape=(rows,),
                                   chunks=(INDEX_CHUNK,), dtype=MEASURE_INDEX[name],
                                   overwrite=True, fill_value=ABSENT if name == "offset" else 0)
        if rows:
            array[:] = values
    heads = {m: meta["model"]["n_heads"] for m in meta["measures"]}
    meta = write_commit(group, meta, top={"schema": SCHEMA, "measure_heads": heads})
    for old in ("index/offset", "index/crc32"):
        del group[old]
    return meta


def create_store(path: str | os.PathLike | StoreLocation, model_info: dict, measures: list[str],
                 heads: dict[str, int] | None = None) -> tuple[zarr.Group, dict]:
    """Create an empty store for a model: arrays of length 0 and a zero commit.

    Published whole (StoreLocation.create: locally built in a sibling folder and
    renamed into place; on object storage its root zarr.json written last), so that
    a run killed halfway leaves no half-made store (which would read as a foreign one).
    """
    location = StoreLocation.of(path)
    group = location.create(lambda group: _fill_new_store(group, model_info, measures, heads))
    return group, dict(group.attrs)["atlas"]


def _fill_new_store(group: zarr.Group, model_info: dict, measures: list[str],
                    heads: dict[str, int] | None) -> None:
    """A new store's empty arrays and its metadata with a zero commit: an encoder-decoder's
    (`model_info["encoder_decoder"]`) with its three parts and a stream per measure and part.
    `heads`: maps per layer, per stream (None: from the registry)."""
    pair = bool(model_info.get("encoder_decoder"))
    parts = list(PAIR_PARTS) if pair else [SELF]
    streams = streams_of(measures, parts)
    for stream in streams:
        create_measure_arrays(group, stream, 0)
    for name, dtype in (PAIR_INDEX_ARRAYS if pair else INDEX_ARRAYS).items():
        chunks = RECORD_CHUNK if dtype is str else INDEX_CHUNK
        group.create_array(f"index/{name}", shape=(0,), chunks=(chunks,), dtype=dtype)
    group.create_array(FIRST_CATALOG, shape=(0,), chunks=(INDEX_CHUNK,), dtype="int64")
    default = (lambda s: stream_heads_default(model_info, s)) if pair else \
        (lambda s: model_info["n_heads"])
    meta = {
        "schema": SCHEMA_PAIRS if pair else SCHEMA,
        "pipeline_version": __version__,
        "model": model_info,
        "measures": list(measures),
        "measure_heads": {s: (heads or {}).get(s, default(s)) for s in streams},
        "quantization": QUANTIZATION,
        "codes_chunk": CODES_CHUNK,
        "word_level": WORD_LEVEL,
        "commit": {"rows": 0, "catalog": 0, "codes_end": {s: 0 for s in streams},
                   "chunks": {s: 0 for s in streams}},
    }
    if pair:  # a self store's metadata stays as it was: no parts means ["self"]
        meta["parts"] = parts
        meta["measure_parts"] = {m: [p for p in parts if stream_name(m, p) in streams]
                                 for m in measures}
    group.attrs["atlas"] = meta


def _stop_zarr_io(timeout: float = 30.0) -> None:
    """At exit, stop zarr's I/O thread and wait for it to end. zarr's own exit handler waits
    0.2 s for that thread and then closes its event loop: on a busy machine the loop is still
    running then, and the exit prints a traceback ("Cannot close a running event loop").
    Registered after zarr's (atexit runs the last registered first), this leaves it nothing
    to wait for."""
    from zarr.core import sync

    loop, thread = sync.loop[0], sync.iothread[0]
    if loop is not None and thread is not None and thread.is_alive():
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)


atexit.register(_stop_zarr_io)
