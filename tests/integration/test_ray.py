"""The Ray engine (`--engine ray`): the same store as the local engine, incremental runs, measures,
the lock, a worker killed mid-region; and the regions its workers write, without Ray.

One local Ray instance (2 CPUs) for the module; a few small runs, each of which starts its
workers (a Python process importing torch and loading the tiny model, several seconds here).
Every Ray test stays in this file: pytest-xdist's `--dist loadfile` (noxfile.py) gives a file to
one worker, so no two Ray instances compete for the 2 cores (`xdist_group` with `--dist
loadgroup` would say so too, but pytest 9.2 silently ignores it: pytest-xdist issue 1386).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import ray
import zarr
from click.testing import CliRunner

from pipeline.cli import main
from pipeline.config import load_config
from pipeline.corpus import read_corpus
from pipeline.errors import ConfigError, EngineError, LockError, StoreError
from pipeline.extract.engines import ray_engine
from pipeline.extract.engines.ray_engine import RayEngine, RegionWorker
from pipeline.extract.run import extract
from pipeline.model.loading import ModelSpec
from pipeline.site.build import build_site
from pipeline.site.data_format import decode_script
from pipeline.store import CODES_CHUNK, AtlasStore
from pipeline.store.layout import round_up
from pipeline.store.lock import lock_path
from pipeline.store.regions import LockGuard, RegionOut, layout_regions, region_target
from pipeline.store.verify import verify_store
from pipeline.store.writer import PLAN_FILE
from pipeline.testing import random_corpus, write_jsonl

# 2 layers x 16 heads and 20-58 words: 160 sentences make about 6 chunks of codes, so with
# one-chunk regions the two workers share several regions and a killed one leaves work behind
N = 160
BATCH = 8
KILL_FILE = "kill-worker"  # beside a store: DyingRegionWorker kills itself after a chunk


class DyingRegionWorker(RegionWorker):
    """A Ray worker that is killed (SIGKILL, so nothing is cleaned up) right after writing a
    chunk, when the file KILL_FILE lies beside the store: holding `once`, only the first worker
    to see it dies (it takes the file), so the retried region succeeds; holding `always`,
    every worker dies at its first chunk."""

    def after_chunk(self) -> None:
        trigger = Path(self.task.store).parent / KILL_FILE
        try:
            mode = trigger.read_text().strip()
        except OSError:
            return
        if mode == "once":
            try:
                os.rename(trigger, trigger.with_suffix(".taken"))  # one worker wins
            except OSError:
                return
        os.kill(os.getpid(), signal.SIGKILL)


# Ray's workers cannot import this test module (tests/ is not on their path): what it hands
# them, DyingRegionWorker, travels by value
ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])


@pytest.fixture(scope="module")
def cluster():
    """A local Ray instance for the module: 2 CPUs, so two 1-CPU workers."""
    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.WARNING)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def model_dir(gpt2_16_dir) -> Path:
    return gpt2_16_dir


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return write_jsonl(tmp_path_factory.mktemp("corpus") / "c.jsonl",
                       random_corpus(N, seed=14, words=(20, 58)))


def ray_engine_for_tests(**kwargs) -> RayEngine:
    """Two workers, one-chunk regions (several per worker on this small corpus)."""
    return RayEngine(**{"workers": 2, "region_bytes": CODES_CHUNK, **kwargs})


@pytest.fixture(scope="module")
def local_store(tmp_path_factory, corpus, model_dir) -> Path:
    """The reference: the corpus through the local engine. Read-only."""
    store = tmp_path_factory.mktemp("local") / "atlas.zarr"
    extract(read_corpus(corpus).sentences, store, ModelSpec(str(model_dir)), batch_size=BATCH,
            progress=False)
    return store


@pytest.fixture(scope="module")
def ray_run(tmp_path_factory, cluster, corpus, model_dir):
    """The corpus through the Ray engine; while it runs, a second run on the store is tried.
    Returns (store, summary, engine, what the second run raised). Read-only."""
    store = tmp_path_factory.mktemp("ray") / "atlas.zarr"
    sentences = read_corpus(corpus).sentences
    engine = ray_engine_for_tests()
    out: dict = {}

    def first() -> None:
        try:
            out["summary"] = extract(sentences, store, ModelSpec(str(model_dir)),
                                     batch_size=BATCH, progress=False, engine=engine)
        except BaseException as exc:  # reported below
            out["error"] = exc

    thread = threading.Thread(target=first)
    thread.start()
    deadline = time.monotonic() + 120
    while not (store / PLAN_FILE).exists() and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)  # the plan is saved once the run holds the lock and starts computing
    try:
        extract(sentences, store, ModelSpec(str(model_dir)), progress=False)
    except LockError as exc:
        out["second"] = exc
    thread.join(timeout=300)
    assert "error" not in out, out.get("error")
    return store, out["summary"], engine, out.get("second")


def assert_same_store(store: Path, reference: Path, measures=("attention",)) -> None:
    """Same ids in the same catalog order, the same records, codes within one step."""
    a, b = AtlasStore.open(store), AtlasStore.open(reference)
    assert a.ids == b.ids
    assert a.measures == b.measures == list(measures)
    ga, gb = zarr.open_group(str(store), mode="r"), zarr.open_group(str(reference), mode="r")
    ca, cb = ga.attrs["atlas"]["commit"], gb.attrs["atlas"]["commit"]
    rows_a = ga[ca["catalog_array"]][: ca["catalog"]]
    rows_b = gb[cb["catalog_array"]][: cb["catalog"]]
    assert [ga["index/record"][int(r)] for r in rows_a] == [gb["index/record"][int(r)]
                                                            for r in rows_b]
    for sid in b.ids:
        for m in measures:
            x, y = a[sid].codes(m).astype(int), b[sid].codes(m).astype(int)
            assert x.shape == y.shape and np.abs(x - y).max() <= 1, (sid, m)
    report = verify_store(store)
    assert report.ok, str(report)


# --- what a run prints --------------------------------------------------------------------


def test_a_successful_ray_run_from_the_cli_prints_only_its_summary(corpus, model_dir, tmp_path):
    # a fresh process that starts its own local Ray, as a user's does (first in this module,
    # before the module's Ray instance starts): Ray's note on token authentication, Ray Data's
    # on progress bars and the core's "E ... constructor arguments in the object store" line
    # (one per worker) would all come on standard error; -q leaves room for warnings only
    tiny = write_jsonl(tmp_path / "c.jsonl", random_corpus(8, seed=3, words=(3, 8)))
    result = subprocess.run(
        [sys.executable, "-m", "pipeline", "-q", "extract", "--engine", "ray", "--workers", "1",
         "--corpus", str(tiny), "--model", str(model_dir), "--store", str(tmp_path / "atlas.zarr")],
        capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("extract: 8 sentences in the store: 8 computed")
    assert result.stderr == ""


def test_only_the_known_harmless_ray_core_line_is_kept_off_standard_error(capfd):
    noise = (b"[2026-12-06 00:14:40,458 E 16223 16223] core_worker.cc:2465: Actor with class name: "
             b"'MapWorker(MapBatches(RegionWorker))' and ID: '97c0a052a685ca91464fd3e301000000' "
             b"has constructor arguments in the object store and max_restarts > 0. If the "
             b"arguments in the object store go out of scope or are lost, the actor restart will "
             b"fail. See https://github.com/ray-project/ray/issues/53727 for more details.\n")
    other = b"[2026-12-06 00:14:41,002 E 16223 16223] core_worker.cc:1234: a worker died\n"
    # file descriptor 2 itself, as Ray's C++ core and (outside pytest) sys.stderr write it
    with ray_engine._without(ray_engine.RAY_NOISE):
        os.write(2, b"\rextract (ray):  50%|#####     | 4/8")
        os.write(2, noise)
        os.write(2, other)
        os.write(2, b"WARNING pipeline.extract: ours\n")
    os.write(2, b"after\n")  # the filter has passed on everything and is gone
    assert capfd.readouterr().err == ("\rextract (ray):  50%|#####     | 4/8" + other.decode()
                                      + "WARNING pipeline.extract: ours\nafter\n")


def test_the_ray_loggers_quieted_are_rays_own():
    import importlib

    for name in ray_engine.QUIET_LOGGERS:  # a renamed module would bring its note back
        assert importlib.import_module(name).logger.name == name


# --- the same store -----------------------------------------------------------


def test_ray_and_local_engines_give_the_same_store(ray_run, local_store):
    store, summary, engine, _ = ray_run
    assert summary.computed == N and summary.sentences == N
    assert_same_store(store, local_store)
    assert not (store / PLAN_FILE).exists()
    report = engine.report
    assert report.workers == 2 and report.regions >= 3  # landed in order, whoever wrote them
    assert sum(n for _, n in report.busy.values()) == N
    # padding: less than one batch of the largest row per region, and never a whole chunk
    meta = zarr.open_group(str(store), mode="r").attrs["atlas"]
    longest = 64  # the tiny GPT-2's length limit
    assert 0 < report.padding_bytes < report.regions * BATCH * 2 * 16 * longest ** 2
    assert meta["commit"]["codes_end"]["attention"] == round_up(report.codes_bytes
                                                                + report.padding_bytes)


def test_a_second_run_is_refused_while_a_ray_run_holds_the_lock(ray_run):
    store, _, _, second = ray_run
    assert isinstance(second, LockError), "the second run was not refused"
    assert f"{store} is locked by pid" in str(second)


def test_sites_built_from_either_engine_match(ray_run, local_store, tmp_path):
    sites = []
    for name, store in (("ray", ray_run[0]), ("local", local_store)):
        build_site(store, tmp_path / name, progress=False)
        sites.append(tmp_path / name)
    files = [sorted(p.relative_to(site) for p in site.rglob("*") if p.is_file())
             for site in sites]
    assert files[0] == files[1] and len(files[0]) > N
    for rel in files[0]:
        x, y = ((site / rel).read_bytes() for site in sites)
        if x == y:
            continue
        # only a sentence's maps may differ, by the steps of codes one step apart
        assert rel.parts[0] == "data" and rel.suffix == ".js", rel
        bx, by = decode_script(x), decode_script(y)
        assert bx[:12] == by[:12] and len(bx) == len(by), rel
        diff = np.abs(np.frombuffer(bx, np.uint8)[12:].astype(int)
                      - np.frombuffer(by, np.uint8)[12:].astype(int))
        assert diff.max() <= 4, rel  # a word's map sums or averages its tokens' codes


def test_an_incremental_ray_run_computes_only_the_new_and_adds_a_measure(ray_run, local_store,
                                                                         corpus, model_dir,
                                                                         tmp_path):
    items = [json.loads(line) for line in corpus.read_text().splitlines()]
    new = random_corpus(12, seed=99, words=(5, 30), prefix="new")
    changed = items[5:] + new  # five removed, twelve added
    path = write_jsonl(tmp_path / "c2.jsonl", changed)
    stores = {}
    for name, source, engine in (("ray", ray_run[0], ["--engine", "ray", "--workers", "2"]),
                                 ("local", local_store, [])):
        store = tmp_path / name / "atlas.zarr"
        shutil.copytree(source, store)
        result = CliRunner().invoke(main, ["-q", "extract", "--corpus", str(path), "--store",
                                           str(store), "--model", str(model_dir),
                                           "--batch-size", str(BATCH),
                                           "--measures", "attention,norm", *engine])
        assert result.exit_code == 0, result.output
        # the model ran for every text (norm is new), attention only for the 12 new texts
        assert f"{len(changed)} computed" in result.output, result.output
        assert f"(by measure: attention {len(new)}, norm {len(changed)})" in result.output
        assert "0 reused, 5 removed" in result.output
        stores[name] = store
    assert AtlasStore.open(stores["ray"]).ids == [item["id"] for item in changed]
    assert_same_store(stores["ray"], stores["local"], measures=("attention", "norm"))


# --- a worker killed mid-region ----------------------------------------------------


def test_a_killed_worker_fails_the_run_or_is_retried_and_the_rerun_completes(
        cluster, corpus, model_dir, local_store, tmp_path, monkeypatch):
    store = tmp_path / "atlas.zarr"
    sentences = read_corpus(corpus).sentences
    spec = ModelSpec(str(model_dir))
    trigger = tmp_path / KILL_FILE

    # the worker is SIGKILLed after its first chunk, and no retries: the run fails
    trigger.write_text("always")
    monkeypatch.setattr(ray_engine, "RETRIES", 0)
    with pytest.raises(EngineError, match="run again to compute the rest"):
        extract(sentences, store, spec, batch_size=BATCH, progress=False,
                engine=ray_engine_for_tests(worker_class=DyingRegionWorker, workers=1))
    monkeypatch.undo()
    commit = zarr.open_group(str(store), mode="r").attrs["atlas"]["commit"]
    assert commit["rows"] < N  # not everything was committed
    codes = zarr.open_group(str(store), mode="r")["measures/attention/codes"]
    assert codes.shape[0] > commit["codes_end"]["attention"]  # regions reserved past the commit
    written = {int(p.name) for p in (store / "measures/attention/codes/c").iterdir()}
    assert max(written) >= commit["chunks"]["attention"]  # chunks no committed row points to
    assert (store / PLAN_FILE).exists()
    assert verify_store(store).ok  # what was committed is sound

    # one worker killed once: Ray restarts it and retries its region; the run completes the
    # store, over the dead workers' chunks, repeating the saved plan's batches
    trigger.write_text("once")
    summary = extract(sentences, store, spec, batch_size=BATCH, progress=False,
                      engine=ray_engine_for_tests(worker_class=DyingRegionWorker))
    assert trigger.with_suffix(".taken").exists()  # a worker did die
    assert summary.computed == N - commit["rows"]
    assert not (store / PLAN_FILE).exists()
    assert_same_store(store, local_store)


# --- without Ray, and the settings ------------------------------------------------


def test_without_ray_the_engine_says_how_to_install_it(monkeypatch, corpus, tmp_path):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "ray" else real(name, *a))
    result = CliRunner().invoke(main, ["-q", "extract", "--corpus", str(corpus), "--store",
                                       str(tmp_path / "atlas.zarr"), "--engine", "ray"])
    assert result.exit_code == ConfigError.exit_code, result.output
    assert 'pip install "attention-atlas[ray]"' in result.output
    assert not (tmp_path / "atlas.zarr").exists()


def test_engine_settings_from_the_file_and_their_checks(tmp_path):
    toml = tmp_path / "atlas.toml"
    toml.write_text('engine = "ray"\nray_address = "auto"\nworkers = 4\ngpus_per_worker = 0.5\n')
    cfg = load_config(toml)
    assert (cfg.engine, cfg.ray_address, cfg.workers, cfg.gpus_per_worker) == ("ray", "auto", 4, 0.5)
    assert load_config(toml, {"engine": "local"}).engine == "local"
    for key, value in (("engine", "spark"), ("workers", -1), ("gpus_per_worker", -0.5)):
        with pytest.raises(ConfigError, match=f"--{key.replace('_', '-')}: {key} = "):
            load_config(None, {key: value})


# --- regions, without Ray -------------------------------------------------------------


def test_regions_are_disjoint_chunk_aligned_and_cover_each_wanted_text_once():
    rng = np.random.default_rng(3)
    batches = [[f"k{b}-{i}" for i in range(8)] for b in range(60)]
    sizes = {k: int(rng.integers(20_000, 400_000)) for b in batches for k in b}
    wanted = {k: ("attention", "rollout") for k in sizes if rng.random() < 0.9}
    batches.insert(10, list(batches[3]))  # a batch repeated (an old plan's): written once

    def row_bytes(key: str, measure: str) -> int:
        return sizes[key] // (12 if measure == "rollout" else 1)

    starts = {"attention": 3 * CODES_CHUNK, "rollout": CODES_CHUNK}
    target = 4 * CODES_CHUNK
    regions = layout_regions(batches, wanted, row_bytes, starts, target)
    assert [k for r in regions for k, _ in r.rows] == sorted(wanted, key=list(
        dict.fromkeys(k for b in batches for k in b)).index)
    for m in starts:
        at = starts[m]
        for r in regions:
            assert r.start[m] == at and r.start[m] % CODES_CHUNK == 0  # consecutive, aligned
            assert r.size[m] == sum(row_bytes(k, m) for k, _ in r.rows)
            at = r.end(m)
    for r in regions:
        padded = sum(round_up(n) for n in r.size.values())
        assert padded <= target or len(r.batches) == 1
    # a region stops before the batch that would cross its target: the padding of the largest
    # measure is less than one batch
    biggest = max(sum(sizes[k] for k in b) for b in batches)
    assert all(round_up(r.size["attention"]) - r.size["attention"] < biggest for r in regions)
    assert region_target(10 * CODES_CHUNK, workers=2) == 3 * CODES_CHUNK
    assert region_target(10 ** 12, workers=2) == 64 << 20


def test_a_region_writes_whole_chunks_and_stops_when_the_lock_changes_hands(tmp_path):
    store = tmp_path / "atlas.zarr"
    array = zarr.create_array(str(store), shape=(3 * CODES_CHUNK,), chunks=(CODES_CHUNK,),
                              dtype="uint8", fill_value=0)
    lock = lock_path(store)
    lock.write_text("pid 1\n")
    guard = LockGuard(store)
    out = RegionOut(array, 0, 2 * CODES_CHUNK, guard.check)
    rows = [np.full(CODES_CHUNK // 3 + i, i + 1, np.uint8) for i in range(4)]
    placed = [out.append(r) for r in rows]
    assert [o for o, _ in placed] == list(np.cumsum([0] + [r.size for r in rows[:-1]]))
    crcs = out.close()
    assert len(crcs) == 2
    flat = array[:]
    for (offset, _), r in zip(placed, rows, strict=True):
        assert np.array_equal(flat[offset:offset + r.size], r)
    assert not flat[sum(r.size for r in rows):].any()  # the padding is zeros

    other = RegionOut(array, 2 * CODES_CHUNK, 3 * CODES_CHUNK, guard.check)
    time.sleep(0.01)
    lock.write_text("pid 2\n")  # another run took the lock: this worker's driver is gone
    with pytest.raises(StoreError, match="no longer holds"):
        other.append(np.ones(CODES_CHUNK, np.uint8))
    with pytest.raises(StoreError, match="past its region"):
        RegionOut(array, 0, CODES_CHUNK).append(np.ones(CODES_CHUNK + 1, np.uint8))
