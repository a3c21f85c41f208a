"""The Zarr store, sole owner of the on-disk format (docs/store.md).

    location  StoreLocation, one class per backend (LocalLocation: a folder or a file:// URL;
              FsspecLocation: an fsspec URL); opening, creating, the side files and the lock's
              pieces there
    lock      StoreLock: the one writer's lock (an OS file lock; a lock object at a URL)
    layout    array names, chunk arithmetic, quantization, index loading, commits, catalogs
    streams   the (measure, part) streams: names (`attention`, `attention.cross`), parts, row shapes
    sentence  StoredSentence: what a row records besides its codes, with to_json/from_json
    reader    AtlasStore and SentenceRecord: the read API
    writer    StoreWriter: the one writer: opening (or upgrading), appends, commits
    chunks    ChunkBuffer: a measure's codes written as whole chunks; what `codes_end` means
    rows      RowIndex: the committed rows a writer reuses, and the rows queued for its commit
    plan      the batches of an unfinished run (atlas-plan.json), for exact resumption
    regions   chunk-aligned regions of codes that other processes (Ray workers) write
    verify    verify_store: checksums and repair
    head_stats  HeadStats: reading the per-head statistics (store.head_stats()), which
              pipeline.stats computes into the groups layout names
"""

from pipeline.store.layout import (
    CODES_CHUNK,
    INDEX_ARRAYS,
    QUANTIZATION,
    SCHEMA,
    crc32,
    dequantize,
    quantize,
)
from pipeline.store.reader import AtlasStore, SentenceRecord
from pipeline.store.sentence import StoredSentence

__all__ = ["CODES_CHUNK", "INDEX_ARRAYS", "QUANTIZATION", "SCHEMA", "AtlasStore", "SentenceRecord",
           "StoredSentence", "crc32", "dequantize", "quantize"]
