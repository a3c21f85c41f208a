"""The corpus view's statistics in the store: computing them incrementally (reading them back:
pipeline.store.head_stats).

Layout (docs/store.md has the full schema), one group per stored stream: a measure in a self
store, each (measure, part) of an encoder-decoder's (stats/attention.cross; its statistics are
those pipeline.stats.definitions defines for the part):

    stats/<stream>/                  attrs["stats"]: statistics, span_pairs, relations, offsets,
                                     shape (L, H) and the commit (the catalog they were computed for)
      per_sentence/<statistic> float32 (S, L, H), per_sentence/span_mass (S, P, L, H): catalog order
                                     (gathered from the rows: pipeline.stats.catalog)
      mean          float64 (K, L, H)     corpus means over the current catalog's sentences
      defined       int64   (K, L, H)     sentences where each statistic is defined
      span_mean     float64 (P, L, H)     corpus span mass; span_defined int64 (P, L, H) its sentences
      corpus_dep_correct int64 (Q, L, H), corpus_dep_arcs int64 (Q,), corpus_dep_offset int64 (Q, 6)
      sentence      float32 (R, K, L, H)  per row: the K statistics (pipeline.stats.definitions), NaN = undefined
      span_mass     float32 (R, P, L, H)  per row: span mass a -> b for each pair P, NaN = absent
      dep_correct   uint16  (R, Q, L, H)  per row: arcs of relation q whose head the head's argmax hits
      dep_arcs      uint16  (R, Q)        per row: arcs of relation q
      dep_offset    uint16  (R, Q, 6)     per row: arcs of relation q with dependent + k == head
      fingerprint   uint32  (R,)          per row: what its values were computed from (0 = not yet)

Values are computed per row (R = the store's rows): rows are appended and never
change, so a row's values are computed once, in storage order, and an
incremental run computes only the rows it has not seen; the catalog then maps the
current corpus onto them, gathered into the catalog-order arrays. The means cover
the catalog named in the commit; the reader refuses statistics computed for
another catalog.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import time
import zlib
from collections import Counter, deque
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import zarr

from pipeline.stats.catalog import Sums, write_means, write_per_sentence
from pipeline.stats.definitions import CROSS, OFFSETS, batch_stats, list_statistics
from pipeline.store.layout import catalog_name, stats_group
from pipeline.store.location import StoreLocation
from pipeline.store.lock import StoreLock
from pipeline.store.reader import AtlasStore
from pipeline.store.streams import split_stream

log = logging.getLogger(__name__)

ROW_CHUNK = 1024  # rows per chunk of the per-row arrays
BLOCK = 1024  # rows computed, then written, at a time (at most MAX_BLOCK_BYTES of word maps):
MAX_BLOCK_BYTES = 32 << 20  # the memory a run needs does not grow with the corpus
HELD_ROWS = 4 * ROW_CHUNK  # computed rows held back at most, to write whole chunks
GROUPED = 8  # span pairs or relations per chunk: a chunk costs zarr ~2 ms to write, whatever its size
COMPRESSOR = zarr.codecs.ZstdCodec(level=1)  # twice as fast as zarr's default level, 10 % larger
COMPUTE_WORKERS = min(4, os.cpu_count() or 1)  # processes reading and computing (1: this one)
PARALLEL_ROWS = 4 * BLOCK  # fewer rows to compute: in this process (starting others costs ~2 s)


def row_fingerprint(sid: str, key: str, crc: int) -> int:
    """What a row's statistics depend on (its id, content key and codes' checksum); never 0."""
    return (zlib.crc32(f"{sid}\0{key}".encode(), crc) & 0xFFFFFFFF) or 1


@dataclass
class StatsSummary:
    """What one `stats` run did."""

    measures: list[str]
    sentences: int
    computed: int
    reused: int
    seconds: float
    streams: list[str] | None = None  # an encoder-decoder's: measure.part, each computed apart

    def __str__(self) -> str:
        rate = self.computed / self.seconds if self.seconds > 0 else 0.0
        what = (f"{len(self.measures)} measure(s) ({', '.join(self.measures)})" if not self.streams
                else f"{len(self.streams)} stream(s) ({', '.join(self.streams)})")
        return (f"{self.sentences} sentences x {what}: {self.computed} computed ({rate:.0f}/s), "
                f"{self.reused} reused; {self.seconds:.1f} s")


class _Vocabulary:
    """Span-label pairs and relations seen so far, in order of first appearance, kept in attrs."""

    def __init__(self, state: dict) -> None:
        self.pairs = [tuple(p) for p in state.get("span_pairs", [])]
        self.relations = list(state.get("relations", []))

    def index(self, items: list, item) -> int:
        if item not in items:
            items.append(item)
        return items.index(item)


def _require(group: zarr.Group, name: str, shape: tuple, chunks: tuple, dtype: str, fill) -> zarr.Array:
    """The named array, created empty if absent, grown (never shrunk) to `shape`."""
    if name not in group:
        return group.create_array(name, shape=shape, chunks=chunks, dtype=dtype, fill_value=fill,
                                  compressors=COMPRESSOR)
    array = group[name]
    if tuple(array.shape) != tuple(shape):
        array.resize(tuple(max(a, b) for a, b in zip(array.shape, shape, strict=True)))
    return array


class _MeasureStats:
    """The per-row arrays of one stream's statistics (`names`), grown as rows and vocabulary
    grow."""

    def __init__(self, group: zarr.Group, rows: int, shape: tuple[int, int], vocab: _Vocabulary,
                 names: list[str]):
        self.group, self.rows, self.shape, self.vocab = group, rows, shape, vocab
        self.names = names
        self.resize()

    def resize(self) -> None:
        R, (L, H), K = self.rows, self.shape, len(self.names)
        P, Q = len(self.vocab.pairs), len(self.vocab.relations)
        g, nan = self.group, float("nan")
        self.sentence = _require(g, "sentence", (R, K, L, H), (ROW_CHUNK, K, L, H), "float32", nan)
        self.span_mass = _require(g, "span_mass", (R, P, L, H), (ROW_CHUNK, GROUPED, L, H),
                                  "float32", nan)
        self.dep_correct = _require(g, "dep_correct", (R, Q, L, H), (ROW_CHUNK, GROUPED, L, H),
                                    "uint16", 0)
        self.dep_arcs = _require(g, "dep_arcs", (R, Q), (ROW_CHUNK, 64), "uint16", 0)
        self.dep_offset = _require(g, "dep_offset", (R, Q, len(OFFSETS)), (ROW_CHUNK, 64, len(OFFSETS)),
                                   "uint16", 0)
        self.fingerprint = _require(g, "fingerprint", (R,), (ROW_CHUNK * 16,), "uint32", 0)
        self.group.attrs["vocabulary"] = {"span_pairs": [list(p) for p in self.vocab.pairs],
                                          "relations": self.vocab.relations}

    def write(self, rows: list[int], results: list) -> tuple[np.ndarray, ...]:
        """Write a block's results (rows ascending); returns them packed as written."""
        pairs = {p: k for k, p in enumerate(self.vocab.pairs)}
        relations = {r: q for q, r in enumerate(self.vocab.relations)}
        seen_pairs = {p for res in results for p in res.span_mass}
        seen_relations = {r for res in results for r in res.dep_arcs}
        if not (seen_pairs <= pairs.keys() and seen_relations <= relations.keys()):
            for res in results:  # new pairs and relations, in order of first appearance
                for pair in res.span_mass:
                    pairs.setdefault(pair, self.vocab.index(self.vocab.pairs, pair))
                for rel in res.dep_arcs:
                    relations.setdefault(rel, self.vocab.index(self.vocab.relations, rel))
            self.resize()
        n, (L, H) = len(rows), self.shape
        P, Q = len(pairs), len(relations)
        values = np.stack([r.values for r in results])
        spans = np.full((n, P, L, H), np.nan, np.float32)
        correct = np.zeros((n, Q, L, H), np.uint16)
        arcs = np.zeros((n, Q), np.uint16)
        offset = np.zeros((n, Q, len(OFFSETS)), np.uint16)
        for i, res in enumerate(results):
            for pair, v in res.span_mass.items():
                spans[i, pairs[pair]] = v
            for rel, v in res.dep_correct.items():
                q = relations[rel]
                correct[i, q], arcs[i, q], offset[i, q] = v, res.dep_arcs[rel], res.dep_offset[rel]
        where = (np.asarray(rows),)
        lo, hi = rows[0], rows[-1] + 1
        if hi - lo == n:  # a contiguous run: plain slices
            where = (slice(lo, hi),)
        self.sentence.set_orthogonal_selection(where, values)
        if P:
            self.span_mass.set_orthogonal_selection(where, spans)
        if Q:
            self.dep_correct.set_orthogonal_selection(where, correct)
            self.dep_arcs.set_orthogonal_selection(where, arcs)
            self.dep_offset.set_orthogonal_selection(where, offset)
        return values, spans, correct, arcs, offset

    def read(self, rows: slice, mask: np.ndarray) -> tuple[np.ndarray, ...]:
        """The masked rows of a slice, packed as `write` returns them."""
        (L, H), n = self.shape, int(mask.sum())
        P, Q = len(self.vocab.pairs), len(self.vocab.relations)
        return (self.sentence[rows][mask],
                self.span_mass[rows][mask] if P else np.zeros((n, 0, L, H), np.float32),
                self.dep_correct[rows][mask] if Q else np.zeros((n, 0, L, H), np.uint16),
                self.dep_arcs[rows][mask] if Q else np.zeros((n, 0), np.uint16),
                self.dep_offset[rows][mask] if Q else np.zeros((n, 0, len(OFFSETS)), np.uint16))


class _AlignedWrites:
    """Computed rows held until every row of their chunks is computed, then written chunk by
    chunk: a chunk written whole is compressed once, never read back and rewritten. At most
    HELD_ROWS rows are held (storage order far from row order then writes partial chunks)."""

    def __init__(self, arrays: _MeasureStats, fingerprints: np.ndarray, todo: list[int],
                 in_catalog: np.ndarray, bar):
        self.arrays, self.fingerprints, self.in_catalog, self.bar = arrays, fingerprints, in_catalog, bar
        self.sums = Sums(arrays.shape, len(arrays.names))  # of the catalog's rows computed here
        self.missing = Counter(r // ROW_CHUNK for r in todo)  # chunk -> rows not yet computed
        self.held: dict[int, object] = {}  # row -> its SentenceStats

    def add(self, rows: list[int], results: list) -> None:
        for row, res in zip(rows, results, strict=True):
            self.held[row] = res
            self.missing[row // ROW_CHUNK] -= 1
        whole = sorted(r for r in self.held if self.missing[r // ROW_CHUNK] == 0)
        self.write(whole if len(self.held) < HELD_ROWS else sorted(self.held))

    def flush(self) -> None:
        self.write(sorted(self.held))

    def write(self, rows: list[int]) -> None:
        """Write these held rows (ascending), fingerprints last: a crash keeps what is whole."""
        if rows:
            packed = self.arrays.write(rows, [self.held.pop(r) for r in rows])
            keep = self.in_catalog[rows]
            self.sums.add(*(a[keep] for a in packed))
            self.arrays.fingerprint.set_orthogonal_selection((np.asarray(rows),),
                                                             self.fingerprints[rows])
            self.bar.update(len(rows))


def update_stats(path: str | Path | StoreLocation, *, measures: list[str] | None = None,
                 wait: float = 0.0, progress: bool = False) -> StatsSummary:
    """Compute what is missing of every statistic for every stored measure, then the corpus means.

    Holds the store's lock; reads only the store (no model). Rows whose values are
    stored (same fingerprint) are reused; the means are recomputed over the
    current catalog, so removed sentences drop out. A measure with more than
    PARALLEL_ROWS rows to compute reads and computes them in COMPUTE_WORKERS processes, one per core (numpy's short
    calls hold the GIL: threads would queue), and this one writes what they return.
    """
    started = time.perf_counter()
    path = StoreLocation.of(path)
    with StoreLock(path, wait), contextlib.ExitStack() as stack:
        store = AtlasStore.open(path)
        measures = measures or store.measures
        parallel = COMPUTE_WORKERS > 1 and path.shared_by_processes
        pool = _Pool(stack) if parallel else None  # a memory:// store lives in this process only
        computed = reused = 0
        streams = [store.stream(m, part) for m in measures for part in store.measure_parts(m)]
        for stream in streams:
            c, r = _update_measure(store, stream, progress, pool)
            computed, reused = computed + c, reused + r
    summary = StatsSummary(list(measures), len(store), computed, reused,
                           time.perf_counter() - started,
                           streams if store.encoder_decoder else None)
    log.debug("stats: %s", summary)  # the CLI prints the summary
    return summary


def _update_measure(store, measure: str, progress: bool, pool) -> tuple[int, int]:
    """One stream (`measure`: a measure's name in a self store, measure.part in an
    encoder-decoder's): compute the catalog rows not yet done, then the means. (computed,
    reused)."""
    part = split_stream(measure)[1]
    names = list_statistics(part)
    root = store.location.open_group("a")
    group = root.require_group(stats_group(measure))
    state = dict(group.attrs).get("stats", {})
    if state.get("statistics") not in (None, names):
        del root[stats_group(measure)]  # computed by another set of statistics: start afresh
        group, state = root.require_group(stats_group(measure)), {}
    catalog = store.catalog_rows
    rows = store.rows
    fingerprints = np.array([row_fingerprint(*store.row_identity(r, measure)) for r in range(rows)],
                            dtype=np.uint32) if rows else np.zeros(0, np.uint32)
    shape = store.grid(measure)  # (layers, maps per layer) of the part: H == 1 per layer
    vocab = _Vocabulary(dict(group.attrs).get("vocabulary", {}))
    arrays = _MeasureStats(group, rows, shape, vocab, names)
    done = arrays.fingerprint[:] if rows else np.zeros(0, np.uint32)
    todo = sorted(int(r) for r in catalog if done[r] != fingerprints[r])
    reused = len(set(int(r) for r in catalog)) - len(todo)
    bar = _progress(len(todo), f"stats {measure}", progress)
    in_catalog = np.zeros(rows, dtype=bool)
    in_catalog[np.asarray(catalog, dtype=np.int64)] = True
    out = _AlignedWrites(arrays, fingerprints, todo, in_catalog, bar)
    # storage order (where the measure's codes lie), so that each chunk is decompressed once;
    # blocks of at most BLOCK rows or MAX_BLOCK_BYTES of maps, read and computed here or, with
    # a pool, by its processes (each reads its blocks from the store itself); at most two
    # blocks per process in flight, so memory stays bounded
    blocks = _row_blocks(store, measure, sorted(todo, key=lambda r: store.row_offset(r, measure)))
    if pool is None or len(todo) <= PARALLEL_ROWS:
        for block in blocks:
            out.add(block, _compute_rows(store, measure, block))
    else:
        in_flight: deque = deque()
        where = store.location.key
        for block in blocks:
            in_flight.append((block, pool.get().submit(_compute_in_worker, where, measure, block)))
            while len(in_flight) > 2 * COMPUTE_WORKERS:
                done_rows, future = in_flight.popleft()
                out.add(done_rows, future.result())  # a worker's error surfaces here
        while in_flight:
            done_rows, future = in_flight.popleft()
            out.add(done_rows, future.result())
    out.flush()
    bar.close()
    read_back = in_catalog.copy()  # the catalog's rows computed before this run
    read_back[todo] = False
    write_means(group, arrays, out.sums, read_back)
    if todo or state.get("commit", {}).get("catalog_array") != catalog_name(store.commit):
        write_per_sentence(group, names, arrays.sentence, arrays.span_mass,
                           catalog, COMPRESSOR)
    group.attrs["stats"] = {
        "statistics": names, "shape": list(shape), "offsets": list(OFFSETS),
        "span_pairs": [list(p) for p in vocab.pairs], "relations": vocab.relations,
        "commit": {"catalog_array": catalog_name(store.commit), "catalog": len(catalog),
                   "rows": rows},
    }
    return len(todo), reused


def _row_blocks(store, measure: str, rows: list[int]):
    """These rows in blocks of at most BLOCK rows or MAX_BLOCK_BYTES of maps (as float32
    token maps, what the word maps are at most)."""
    block, held = [], 0
    for row in rows:
        block.append(row)
        start, end = store.row_span(row, measure)
        held += 4 * (end - start)
        if len(block) >= BLOCK or held >= MAX_BLOCK_BYTES:
            yield block
            block, held = [], 0
    if block:
        yield block


def _compute_rows(store, measure: str, rows: list[int]) -> list:
    """Every statistic of these rows (SentenceStats each) for one stream: their word maps read
    and computed. A part's words are its own side's (the decoder's: the target's; cross: the
    target's rows and the source's columns); gold arcs are the source's."""
    recs = [store.record(row) for row in rows]
    part = split_stream(measure)[1]
    maps = [r.word_attention(measure) for r in recs]
    if part == "decoder":
        return batch_stats(maps, [r.target_words for r in recs], [r.target_spans for r in recs],
                           [() for _ in recs], part=part)
    if part == CROSS:
        return batch_stats(maps, [r.words for r in recs], [r.spans for r in recs],
                           [() for _ in recs], part=part, row_words=[r.target_words for r in recs],
                           row_spans=[r.target_spans for r in recs])
    return batch_stats(maps, [r.words for r in recs], [r.spans for r in recs],
                       [r.sentence.arcs for r in recs], part=part)


class _Pool:
    """The processes a large run reads and computes in, started when first needed (a nightly
    run of a few new sentences never pays for them) and stopped with `stack`."""

    def __init__(self, stack: contextlib.ExitStack) -> None:
        self.stack, self.executor = stack, None

    def get(self) -> ProcessPoolExecutor:
        if self.executor is None:
            self.executor = self.stack.enter_context(ProcessPoolExecutor(
                COMPUTE_WORKERS, mp_context=multiprocessing.get_context("spawn")))
        return self.executor


_WORKER_STORES: dict[str, object] = {}  # in a pool's process: the store it reads, opened once


def _compute_in_worker(where: str, measure: str, rows: list[int]) -> list:
    """`_compute_rows` in a pool's process, which opens the store once (read only)."""
    if where not in _WORKER_STORES:
        _WORKER_STORES.clear()
        _WORKER_STORES[where] = AtlasStore.open(where)
    return _compute_rows(_WORKER_STORES[where], measure, rows)


class _NoProgress:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def _progress(total: int, desc: str, enabled: bool):
    if not enabled or not total:
        return _NoProgress()
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="sent")
