"""The Zarr store: append-only flat ragged arrays, an offset index, and a read API.

Layout (Zarr v3; docs/store.md is the full schema):

    atlas.zarr/                      group; attrs["atlas"] = schema, model, quantization, commit
      measures/<name>/codes          uint8 (N,)  8-bit codes, each sentence's (L, H, T, T) flattened
      measures/<name>/chunk_crc32    uint32 (K,) CRC-32 of each codes chunk, uncompressed
      index/offset, index/n_tokens   int64 / int32 (R,) where row r's codes start, and its T
      index/crc32                    uint32 (R,) CRC-32 of row r's codes
      index/id, index/key, index/record   str (R,) sentence id, content key, JSON record
      catalog/row-NNNNNN             int64 (S,)  rows of the current corpus, in corpus order
                                     (a new generation per run; the commit names the current one)

Rows are only ever appended. A write becomes visible when attrs["atlas"]["commit"]
is rewritten (one atomic file replace) after the arrays it points into; a killed
writer leaves at most uncommitted tails that the next writer overwrites. New
codes always start on a chunk boundary, so a committed chunk is never rewritten.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import shutil
import zlib
from pathlib import Path

import numpy as np
import zarr
from zarr.codecs import ZstdCodec

from pipeline import __version__
from pipeline.errors import StoreError
from pipeline.words import word_maps

log = logging.getLogger(__name__)

SCHEMA = 1
MEASURES = ("attention",)  # raw attention weights; more named measures fit beside it
QUANTIZATION = {
    "dtype": "uint8",
    "scale": 255,
    "decode": "value = code / 255",
    "encode": "code = round(value * 255), value clipped to [0, 1]",
    "max_abs_error": 1 / 510,
}
CODES_CHUNK = 4 << 20  # bytes of codes per chunk: 4 MiB uncompressed, ~2.5 MiB on disk (MiniLM)
INDEX_CHUNK = 1 << 13  # rows per chunk of the numeric index arrays (64 KiB of int64)
RECORD_CHUNK = 1 << 8  # rows per chunk of the string index arrays: a commit rewrites the last one
# zstd level 1: on attention codes both the smallest (0.138 of float32 vs 0.143 for
# Blosc zstd-5 with bit-shuffle) and the fastest (540 MB/s vs 66 MB/s) of those measured
CODEC = ZstdCodec(level=1)
INDEX_ARRAYS = {"offset": "int64", "n_tokens": "int32", "crc32": "uint32",
                "id": str, "key": str, "record": str}


def quantize(values: np.ndarray) -> np.ndarray:
    """Attention in [0, 1] -> uint8 codes (see QUANTIZATION)."""
    return np.rint(np.clip(values, 0.0, 1.0) * 255).astype(np.uint8)


def dequantize(codes: np.ndarray) -> np.ndarray:
    """uint8 codes -> float32 values, within 1/510 of what was quantized."""
    return codes.astype(np.float32) / np.float32(255)


def crc32(data: np.ndarray) -> int:
    """CRC-32 of an array's bytes."""
    return zlib.crc32(np.ascontiguousarray(data).view(np.uint8)) & 0xFFFFFFFF


class SentenceRecord:
    """One stored sentence: its words, tokens, spans and (lazily) its attention maps."""

    def __init__(self, store: AtlasStore, row: int, record: dict) -> None:
        self._store, self.row = store, row
        self.id: str = record["id"]
        self.text: str = record["text"]
        self.tokens: list[str] = record["tokens"]
        self.word_ranges: list[tuple[int, int]] = [tuple(w) for w in record["word_ranges"]]
        self.words: list[str] = [self.text[a:b] for a, b in self.word_ranges]
        self.word_index = np.asarray(record["word_index"], dtype=np.int32)  # (T,), -1 = special
        self.spans: list[tuple[str, int, int]] = [tuple(s) for s in record["spans"]]
        self.meta: dict = record["meta"]
        self.truncated: bool = record["truncated"]
        self.key: str = record["key"]

    def __repr__(self) -> str:
        return f"SentenceRecord(id={self.id!r}, words={len(self.words)}, tokens={len(self.tokens)})"

    def codes(self, measure: str = "attention") -> np.ndarray:
        """The stored uint8 codes, (L, H, T, T)."""
        return self._store._codes(self.row, measure)

    def attention(self, measure: str = "attention") -> np.ndarray:
        """Token-level maps, float32 (L, H, T, T): rows attend ("from"), columns are attended ("to")."""
        return dequantize(self.codes(measure))

    def word_maps(self, measure: str = "attention") -> tuple[np.ndarray, np.ndarray]:
        """Both word-level results in one pass: word_attention() and special_share()."""
        return word_maps(self.attention(measure), self.word_index, len(self.words))

    def word_attention(self, measure: str = "attention") -> np.ndarray:
        """Word-level maps, float32 (L, H, W, W), per Clark et al. (2019); see pipeline.words."""
        return self.word_maps(measure)[0]

    def special_share(self, measure: str = "attention") -> np.ndarray:
        """Share of each from-word's attention that went to special tokens, float32 (L, H, W)."""
        return self.word_maps(measure)[1]


class AtlasStore:
    """Read access to a store: `len(store)`, `store.ids`, `store[id]`, `store[i]`, iteration."""

    def __init__(self, path: Path, group: zarr.Group, meta: dict) -> None:
        self.path, self._group, self._meta = path, group, meta
        commit = meta["commit"]
        self._rows = commit["rows"]
        catalog_name = commit.get("catalog_array", "catalog/row")
        try:  # a garbled zarr.json or index chunk must not surface as a zarr or JSON traceback
            self._index = {name: group[f"index/{name}"] for name in INDEX_ARRAYS}
            self._offset = self._index["offset"][: self._rows] if self._rows else np.zeros(0, np.int64)
            self._n_tokens = (self._index["n_tokens"][: self._rows] if self._rows
                              else np.zeros(0, np.int32))
            self._crc = self._index["crc32"][: self._rows] if self._rows else np.zeros(0, np.uint32)
            catalog = group[catalog_name][: commit["catalog"]] if commit["catalog"] else []
            row_ids = self._index["id"][: self._rows] if self._rows else []
        except Exception as exc:
            raise StoreError(f"{path}: the index (index/*, {catalog_name}) is damaged: "
                             f"{type(exc).__name__}: {exc}; run `attention-atlas verify`") from exc
        self._catalog = np.asarray(catalog, dtype=np.int64)
        self.ids: list[str] = [str(row_ids[r]) for r in self._catalog]
        self._position = {sid: i for i, sid in enumerate(self.ids)}
        self._records = functools.lru_cache(maxsize=8)(self._record_chunk)
        self._chunks = functools.lru_cache(maxsize=4)(self._codes_chunk)

    @classmethod
    def open(cls, path: str | Path) -> AtlasStore:
        """Open a store for reading; a missing, foreign or damaged store raises StoreError."""
        path = Path(path)
        group, meta = open_group_meta(path, mode="r")
        return cls(path, group, meta)

    @property
    def model(self) -> dict:
        """The model that wrote the store: name, revision, weights_sha256, n_layers, n_heads, ..."""
        return self._meta["model"]

    @property
    def info(self) -> dict:
        """Everything the store says about itself (schema, pipeline version, quantization, ...)."""
        return {k: v for k, v in self._meta.items() if k != "commit"}

    @property
    def rows(self) -> int:
        """Committed rows, including rows no longer in the corpus."""
        return self._rows

    def __len__(self) -> int:
        return len(self.ids)

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def __contains__(self, sid: object) -> bool:
        return sid in self._position

    def __getitem__(self, key: int | str) -> SentenceRecord:
        if isinstance(key, str):
            if key not in self._position:
                raise KeyError(f"no sentence with id {key!r} in {self.path}")
            key = self._position[key]
        if not -len(self) <= key < len(self):
            raise IndexError(f"sentence {key} out of range: the store holds {len(self)}")
        return self.record(int(self._catalog[key]))

    def storage_order(self) -> list[int]:
        """Sentence positions sorted by where their codes lie: reading in this order
        decompresses each chunk once (corpus order jumps between chunks)."""
        return sorted(range(len(self)), key=lambda i: int(self._offset[self._catalog[i]]))

    def record(self, row: int) -> SentenceRecord:
        """The sentence stored in a row (current or not)."""
        start = row - row % RECORD_CHUNK
        try:
            record = json.loads(self._records(start)[row - start])
        except (ValueError, IndexError) as exc:
            raise StoreError(f"{self.path}: row {row}'s record is damaged ({exc}); "
                             "run `attention-atlas verify --store ...`") from exc
        return SentenceRecord(self, row, record)

    def row_span(self, row: int) -> tuple[int, int]:
        """(start, end) of a row's codes in measures/*/codes."""
        n_tok = int(self._n_tokens[row])
        size = self.model["n_layers"] * self.model["n_heads"] * n_tok * n_tok
        return int(self._offset[row]), int(self._offset[row]) + size

    def _record_chunk(self, start: int) -> list[str]:
        stop = min(start + RECORD_CHUNK, self._rows)
        return list(self._index["record"][start:stop])

    def _codes_chunk(self, measure: str, k: int) -> np.ndarray:
        return self._group[f"measures/{measure}/codes"][k * CODES_CHUNK:(k + 1) * CODES_CHUNK]

    def _codes(self, row: int, measure: str) -> np.ndarray:
        if measure not in self._meta["measures"]:
            raise StoreError(f"{self.path} holds no measure {measure!r}; it holds: "
                             f"{', '.join(self._meta['measures'])}")
        start, end = self.row_span(row)
        sid = str(self._index["id"][row])
        chunks = range(start // CODES_CHUNK, (end - 1) // CODES_CHUNK + 1)
        try:
            parts = [self._chunks(measure, k)[max(start, k * CODES_CHUNK) - k * CODES_CHUNK:
                                              min(end, (k + 1) * CODES_CHUNK) - k * CODES_CHUNK]
                     for k in chunks]
        except Exception as exc:  # a chunk that does not decompress
            raise StoreError(f"{self.path}: sentence {sid!r} (row {row}) lies in a damaged chunk "
                             f"(chunk {', '.join(map(str, chunks))} of measures/{measure}/codes): {exc}; "
                             "run `attention-atlas verify --store ... --repair`") from exc
        flat = np.concatenate(parts) if len(parts) > 1 else parts[0]
        if crc32(flat) != int(self._crc[row]):
            raise StoreError(f"{self.path}: sentence {sid!r} (row {row}) fails "
                             "its checksum; run `attention-atlas verify --store ... --repair`")
        n_tok = int(self._n_tokens[row])
        return flat.reshape(self.model["n_layers"], self.model["n_heads"], n_tok, n_tok)


def open_group_meta(path: Path, mode: str) -> tuple[zarr.Group, dict]:
    """Open the Zarr group and read its atlas metadata, or raise StoreError saying what is wrong."""
    if not path.exists():
        raise StoreError(f"no store at {path}")
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


def write_catalog(group: zarr.Group, current: str, rows: list[int]) -> str:
    """Write the corpus order (rows) as the next catalog generation after `current`; returns its
    name. A new array, not an overwrite: readers keep the old one until the commit names this."""
    generation = int(current.rsplit("-", 1)[-1]) + 1 if "-" in current else 1
    name = f"catalog/row-{generation:06d}"
    array = group.create_array(name, shape=(len(rows),), chunks=(INDEX_CHUNK,), dtype="int64",
                               overwrite=True)  # a leftover of an interrupted run
    if rows:
        array[:] = np.asarray(rows, dtype=np.int64)
    return name


def create_store(path: Path, model_info: dict) -> zarr.Group:
    """Create an empty store for a model: arrays of length 0 and a zero commit.

    Built in a sibling folder and renamed into place, so that a run killed
    halfway leaves no half-made store (which would read as a foreign one).
    """
    building = path.parent / f".{path.name}.creating"
    shutil.rmtree(building, ignore_errors=True)  # left by a run killed while creating
    group = zarr.open_group(str(building), mode="w")
    for measure in MEASURES:
        group.create_array(f"measures/{measure}/codes", shape=(0,), chunks=(CODES_CHUNK,),
                           dtype="uint8", compressors=[CODEC], fill_value=0)
        group.create_array(f"measures/{measure}/chunk_crc32", shape=(0,), chunks=(INDEX_CHUNK,),
                           dtype="uint32", fill_value=0)
    for name, dtype in INDEX_ARRAYS.items():
        chunks = RECORD_CHUNK if dtype is str else INDEX_CHUNK
        group.create_array(f"index/{name}", shape=(0,), chunks=(chunks,), dtype=dtype)
    group.create_array("catalog/row", shape=(0,), chunks=(INDEX_CHUNK,), dtype="int64")
    group.attrs["atlas"] = {
        "schema": SCHEMA,
        "pipeline_version": __version__,
        "model": model_info,
        "measures": list(MEASURES),
        "quantization": QUANTIZATION,
        "codes_chunk": CODES_CHUNK,
        "word_level": "Clark et al. (2019): to-word = sum over its tokens, "
                      "from-word = mean over its tokens",
        "commit": {"rows": 0, "catalog": 0, "codes_end": {m: 0 for m in MEASURES},
                   "chunks": {m: 0 for m in MEASURES}},
    }
    os.rename(building, path)  # atomic; replaces an empty folder at `path`
    return zarr.open_group(str(path), mode="a")
