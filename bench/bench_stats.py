"""Corpus-view benchmark: per-head statistics over a large store, beside reading its maps once.

    python bench/bench_stats.py [--sentences 100000] [--layers 12] [--heads 12]

Builds a synthetic store (12 x 12 maps, sentences of 4 to 20 words with two
speaker spans and dependency arcs; a pool of random maps per length, so that the
store is written quickly), then measures, each in a fresh process, in one run:

1. reading every sentence's word maps once, in storage order (`rec.word_maps()`:
   what any consumer of the store pays, the site build included);
2. `attention-atlas stats` over the whole store (every statistic, span mass and
   dependency counts, written back to the store, then the corpus means);
3. an incremental run after 1 % of the corpus is replaced (only the new
   sentences computed, the means over the whole corpus again).

Prints sentences/s, peak memory (VmHWM) of each process (and of the largest of
the processes `stats` reads and computes in: one per core, up to 4), the ratio of
(2) to (1) in elapsed time (target: at most 2) and the CPU seconds of every
process of each. Peak memory is also measured at a tenth of the corpus, to show
it does not grow with the corpus.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from pipeline.sizes import folder_bytes
from pipeline.stats.compute import COMPUTE_WORKERS


def build(path: Path, n: int, layers: int, heads: int, seed: int = 0, start: int = 0) -> float:
    """A synthetic store of n sentences; returns the seconds it took."""
    from pipeline.testing import synthetic_sentence, write_store

    rng = np.random.default_rng(seed)
    pools = {}

    def rows():
        for k in range(start, start + n):
            n_words = 4 + (k * 7919) % 17
            if n_words not in pools:
                T = n_words + 2
                pools[n_words] = [rng.dirichlet(np.full(T, 0.3), size=(layers, heads, T))
                                  .astype(np.float32) for _ in range(4)]
            words = [f"w{k}x{i}" if i % 5 != 4 else "," for i in range(n_words)]
            half = n_words // 2
            spans = [("MOT", 0, half), ("CHI", half, n_words)]
            arcs = [(i, i - 1, "left" if i % 2 else "right") for i in range(1, n_words)]
            yield (synthetic_sentence(f"s{k}", words, spans, [(0, -1, "root"), *arcs]),
                   pools[n_words][k % 4])

    started = time.perf_counter()
    write_store(path, rows(), layers, heads)
    return time.perf_counter() - started


def site_bytes(store: Path, site: Path, n: int) -> None:
    """What the corpus view adds to a site: the head pages and data/_corpus.js."""
    from pipeline.site.build import build_site

    started = time.perf_counter()
    summary = build_site(store, site, progress=False)
    heads = folder_bytes(site / "heads")
    data = (site / "data" / "_corpus.js").stat().st_size
    pages = len(list((site / "heads").rglob("*.html")))
    print(f"  site of {n:,} sentences: {summary.bytes / 1e6:.1f} MB in {time.perf_counter() - started:.0f} s; "
          f"the corpus view adds {(heads + data) / 1e6:.2f} MB ({pages} head pages, "
          f"{heads / max(1, pages) / 1e3:.1f} kB each; data/_corpus.js {data / 1e3:.0f} kB)")
    shutil.rmtree(site)


def _peak_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def child(task: str, path: str) -> None:
    """Run one measured task in this (fresh) process; print its figures as JSON."""
    from pipeline.stats.compute import update_stats
    from pipeline.store import AtlasStore

    started = time.perf_counter()
    if task == "read":
        store = AtlasStore.open(path)
        n = 0
        for i in store.storage_order():
            store[i].word_maps()
            n += 1
        computed = n
    else:
        computed = update_stats(path).computed
    seconds = time.perf_counter() - started
    import resource

    cpu = sum(u.ru_utime + u.ru_stime for u in (resource.getrusage(resource.RUSAGE_SELF),
                                                resource.getrusage(resource.RUSAGE_CHILDREN)))
    print(json.dumps({"seconds": seconds, "cpu": cpu, "computed": computed,
                      "peak_kib": _peak_kib(),  # this process; and the largest worker's:
                      "worker_peak_kib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))


def measure(task: str, path: Path) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", task, str(path)], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sentences", type=int, default=100_000)
    parser.add_argument("--layers", type=int, default=12)
    parser.add_argument("--heads", type=int, default=12)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    with tempfile.TemporaryDirectory() as tmp:
        results = {}
        for n in (args.sentences // 10, args.sentences):
            path = Path(tmp) / f"s{n}.zarr"
            built = build(path, n, args.layers, args.heads)
            size = folder_bytes(path)
            print(f"{n:,} sentences ({args.layers} x {args.heads}, 4-20 words): store built in "
                  f"{built:.0f} s, {size / 1e9:.2f} GB on disk")
            read, stats = measure("read", path), measure("stats", path)
            if n == min(args.sentences // 10, 10_000) or n == args.sentences // 10:
                site_bytes(path, Path(tmp) / "site", n)
            # the next run: the first 1 % of the sentences replaced by new ones
            k = max(1, n // 100)
            build(path, n - k, args.layers, args.heads, start=k)  # keeps s{k}..s{n-1}
            build(path, n, args.layers, args.heads, start=k)  # and adds s{n}..s{n+k-1}
            again = measure("stats", path)
            results[n] = (read, stats, again)
            rate = n / stats["seconds"]
            print(f"  read word maps once (storage order): {n / read['seconds']:,.0f} sentences/s, "
                  f"peak {read['peak_kib'] / 1024:.0f} MiB")
            print(f"  statistics, full run:                {rate:,.0f} sentences/s, "
                  f"peak {stats['peak_kib'] / 1024:.0f} MiB (each worker process at most "
                  f"{stats['worker_peak_kib'] / 1024:.0f} MiB)")
            print(f"  statistics, incremental ({again['computed']:,} new of {n:,}):   "
                  f"{again['seconds']:.1f} s, peak {again['peak_kib'] / 1024:.0f} MiB")
            print(f"  ratio statistics / reading the maps: {stats['seconds'] / read['seconds']:.2f} "
                  f"(target <= 2; statistics in {COMPUTE_WORKERS} processes, reading in one)")
            print(f"  CPU seconds (every process): reading {read['cpu']:.1f}, statistics "
                  f"{stats['cpu']:.1f} (ratio {stats['cpu'] / read['cpu']:.2f})")
            shutil.rmtree(path)
        for key, what in (("peak_kib", "the main process"), ("worker_peak_kib", "a worker")):
            small, large = (results[n][1][key] for n in sorted(results))
            print(f"peak memory of a full statistics run, {what}: {small / 1024:.0f} MiB at "
                  f"{min(results):,} sentences, {large / 1024:.0f} MiB at {max(results):,}")

if __name__ == "__main__":
    main()
