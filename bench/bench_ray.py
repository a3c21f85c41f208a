"""The Ray engine beside the local engine, in one run: the bundled corpus, the embedded model.

    python bench/bench_ray.py [--corpus data/sarah_pairs.jsonl] [--rounds 1]

Each extraction writes a fresh store, through the whole `extract` (the driver's model
load, encoding, and for Ray: starting a local Ray instance, starting the workers, each
loading the model, and shutting Ray down). Prints sentences/s over that whole time,
Ray's start-up separately, and a projection of the throughput for N workers (GPUs) from
the measured rate of one busy worker. Asserts nothing about time.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import torch

from pipeline.corpus import bundled_corpus_path, read_corpus
from pipeline.extract.engines.ray_engine import RayEngine
from pipeline.extract.run import extract
from pipeline.model.loading import ModelSpec
from pipeline.sizes import folder_bytes


def run(sentences, folder: Path, engine) -> tuple[float, int, object]:
    """Seconds of one extraction into a fresh store, its bytes on disk, and its engine."""
    store = folder / "atlas.zarr"
    shutil.rmtree(folder, ignore_errors=True)
    started = time.perf_counter()
    summary = extract(sentences, store, ModelSpec(None), progress=False, engine=engine)
    seconds = time.perf_counter() - started
    assert summary.computed == len(sentences)
    return seconds, folder_bytes(store), engine


def main() -> None:
    """Measure and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default=str(bundled_corpus_path()))
    parser.add_argument("--rounds", type=int, default=1, help="interleaved rounds; best of each")
    args = parser.parse_args()
    sentences = read_corpus(args.corpus).sentences
    tmp = Path(tempfile.mkdtemp(prefix="atlas-bench-ray-"))
    print(f"corpus {args.corpus}: {len(sentences)} sentences; embedded MiniLM (6x12) on cpu; "
          f"torch threads {torch.get_num_threads()} (local); a local Ray instance per Ray run")
    cases = {"local engine": lambda: None,
             "ray, 1 worker": lambda: RayEngine(workers=1),
             "ray, 2 workers": lambda: RayEngine(workers=2)}
    best: dict[str, tuple[float, int, object]] = {}
    for _ in range(args.rounds):
        for name, make in cases.items():
            result = run(sentences, tmp / name.replace(" ", "-").replace(",", ""), make())
            if name not in best or result[0] < best[name][0]:
                best[name] = result
    shutil.rmtree(tmp, ignore_errors=True)

    n = len(sentences)
    print(f"\n{'engine':18} {'sentences/s':>11} {'seconds':>8} {'ray start':>9} "
          f"{'1st region':>10} {'model load':>10} {'busy/s/worker':>13} {'store MB':>8} "
          f"{'padding':>7}")
    for name, (seconds, size, engine) in best.items():
        if engine is None:
            print(f"{name:18} {n / seconds:11.1f} {seconds:8.1f} {'':>9} {'':>10} {'':>10} "
                  f"{'':>13} {size / 1e6:8.1f}")
            continue
        r = engine.report
        load = max(r.load_seconds.values(), default=0.0)
        print(f"{name:18} {n / seconds:11.1f} {seconds:8.1f} {r.start_seconds:8.1f}s "
              f"{r.first_region_seconds:9.1f}s {load:9.1f}s {r.per_worker_rate():13.1f} "
              f"{size / 1e6:8.1f} {100 * r.padding_bytes / r.codes_bytes:6.1f}%")
    local = best["local engine"][0]
    for name in ("ray, 1 worker", "ray, 2 workers"):
        print(f"  {name} / local engine: {local / best[name][0]:.2f} x the throughput")

    # projection: N workers, each at the measured busy rate of one worker, plus the fixed
    # start-up; capped by the driver, which lands every region (checksums, index, commits)
    r = best["ray, 2 workers"][2].report
    rate = r.per_worker_rate()
    landing = n / r.land_seconds if r.land_seconds else float("inf")
    fixed = r.start_seconds + r.first_region_seconds
    print(f"\nprojection from this run (2 workers): one busy worker {rate:.0f} sentences/s; the "
          f"driver lands {landing:,.0f} sentences/s; fixed cost {fixed:.0f} s (Ray start-up and "
          "the first region: workers starting, loading the model)")
    print(f"{'workers (GPUs)':>14} {'sentences/s':>12} {'1M sentences':>13}")
    for workers in (1, 2, 4, 8, 16, 64):
        throughput = min(workers * rate, landing)
        print(f"{workers:14} {throughput:12,.0f} {fixed + 1e6 / throughput:12,.0f}s")
    print("assumes: each worker keeps its measured rate (a GPU worker's own rate replaces this "
          "CPU one: `bench/bench_extract.py --device cuda` measures it), at least two regions "
          "per worker, a shared filesystem that takes the codes as fast as they come, and a "
          "driver that is not slowed by the workers beside it")


if __name__ == "__main__":
    main()
