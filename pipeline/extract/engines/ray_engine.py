"""The Ray engine (`--engine ray`): extraction's forward passes on a Ray cluster, with Ray Data.

The driver (this process, holding the store's lock) has gathered and planned as the
local engine does (pipeline.extract.run). It groups the planned, length-sorted batches
into regions (pipeline/store/regions.py), makes a dataset of them (one row per
region) and maps it with `RegionWorker`, a stateful class: each worker loads the
model once (on its GPU when the cluster has GPUs), forwards its regions' batches
through pipeline.extract.forward and writes their codes as whole chunks straight into the
store. It returns only keys, offsets and CRC-32s; the driver lands the regions in
order (chunk checksums, index rows, commit) and finally writes the catalog, as with
the local engine. The store must be on a filesystem every worker sees.

A worker that dies (killed, out of memory, a lost node) has its region retried on a
restarted worker (RETRIES times); past that the run fails with EngineError. Either
way, regions committed before are kept and the next run computes the rest, repeating
the same batches (the saved plan), over any chunks the dead worker left.

Ray is imported here only, and only when a run has something to compute.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import re
import socket
import sys
import threading
import time
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from pipeline.errors import AtlasError, ConfigError, EngineError, ModelError
from pipeline.extract.encode import Encoded
from pipeline.model.loading import LoadedModel, ModelSpec
from pipeline.store.layout import row_size
from pipeline.store.location import StoreLocation
from pipeline.store.regions import (
    LockGuard,
    Region,
    RegionOut,
    RegionResult,
    land,
    layout_regions,
    region_target,
    reserve,
)
from pipeline.store.writer import StoreWriter

log = logging.getLogger(__name__)

RETRIES = 2  # times a dead worker is restarted and its region retried before the run fails
# Ray Data's actor pools restart dead actors and pass their constructor arguments through the
# object store, so Ray's C++ core logs this error line once per worker on every run, successful
# ones included (ray-project/ray#53727): known and harmless here, it is kept off the terminal
RAY_NOISE = re.compile(rb"\[[^\]\n]* E \d+ \d+\] core_worker\.cc:\d+: Actor with class name: "
                       rb"[^\n]*has constructor arguments in the object store[^\n]*\n?")
# Ray's notes that a local cluster it starts uses token authentication, and that Ray Data's
# progress bars are off (ours counts sentences): Python loggers, quieted to errors
QUIET_LOGGERS = ("ray._private.authentication.authentication_token_setup",
                 "ray.data._internal.progress")


@dataclass(frozen=True)
class Tokens:
    """A sentence as a worker needs it: its key and model input (what forward_codes reads)."""

    key: str
    input_ids: tuple[int, ...]

    @property
    def n_tokens(self) -> int:
        """T."""
        return len(self.input_ids)


@dataclass(frozen=True)
class RegionTask:
    """One dataset row: a region, its batches' model inputs, the store and the lock's guard."""

    region: Region
    input_ids: dict[str, tuple[int, ...]]
    store: str
    guard: LockGuard


class RegionWorker:
    """A Ray Data worker (a stateful callable class): loads the model once, then for each
    region forwards its batches and writes its codes into the store."""

    def __init__(self, spec: ModelSpec, fingerprint: dict, shape: tuple[int, int]) -> None:
        began = time.perf_counter()
        import torch

        self.loaded = spec.load()
        if self.loaded.fingerprint != fingerprint or (self.loaded.info["n_layers"],
                                                      self.loaded.info["n_heads"]) != tuple(shape):
            raise ModelError(f"worker {socket.gethostname()}: its model {spec.name or 'default'!r}"
                             f" is not the driver's ({self.loaded.fingerprint} != {fingerprint}): "
                             "every node needs the same model files")
        if self.loaded.device.type == "cpu":  # as many threads as CPUs Ray gave it
            import ray

            cpus = ray.get_runtime_context().get_assigned_resources().get("CPU", 1)
            torch.set_num_threads(max(1, int(cpus)))
        self.name = f"{socket.gethostname()}:{os.getpid()}"
        self.task: RegionTask | None = None  # the region being written
        self.load_seconds = time.perf_counter() - began  # importing torch, loading the model

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Ray Data's entry: a batch of dataset rows (pickled RegionTasks) -> pickled results."""
        out = [pickle.dumps(self.run(pickle.loads(task))) for task in batch["task"]]
        return {"result": np.array(out, dtype=object)}

    def run(self, task: RegionTask) -> RegionResult:
        """Forward the region's batches and write its codes, whole chunks only."""
        import zarr

        from pipeline.extract.forward import run_batches

        started, region, self.task = time.perf_counter(), task.region, task
        store = StoreLocation.of(task.store).zarr_store()
        outs = {m: RegionOut(zarr.open_array(store=store, path=f"measures/{m}/codes", mode="r+"),
                             region.start[m], region.end(m), task.guard.check, self.after_chunk)
                for m in region.start if region.size[m]}
        rows: list[tuple[str, dict[str, tuple[int, int]]]] = []

        def add(item: Tokens, codes: dict[str, np.ndarray]) -> int:
            rows.append((item.key, {m: outs[m].append(c) for m, c in codes.items()}))
            return len(rows) - 1

        items = {k: Tokens(k, ids) for k, ids in task.input_ids.items()}
        run_batches(self.loaded, [list(b) for b in region.batches], items, dict(region.rows),
                    add, progress=False)
        crcs = {m: out.close() for m, out in outs.items()}
        return RegionResult(region.index, rows, crcs, seconds=time.perf_counter() - started,
                            sentences=len(rows), worker=self.name,
                            extra={"load_seconds": self.load_seconds})

    def after_chunk(self) -> None:
        """Called after each chunk this worker writes (a hook for tests that kill a worker
        mid-region: DyingRegionWorker in tests/integration/test_ray.py)."""


@dataclass
class RayReport:
    """What a Ray run measured: for the log line and the benchmark."""

    workers: int = 0
    cpus_per_worker: float = 0.0
    gpus_per_worker: float = 0.0
    regions: int = 0
    codes_bytes: int = 0
    padding_bytes: int = 0
    start_seconds: float = 0.0  # ray.init (0 when this process had joined already)
    first_region_seconds: float = 0.0  # from submitting to the first result: workers starting
    run_seconds: float = 0.0  # from submitting to the last region landed
    land_seconds: float = 0.0  # the driver's time landing regions (checksums, index, commits)
    busy: dict[str, list[float]] = field(default_factory=dict)  # worker -> [seconds, sentences]
    load_seconds: dict[str, float] = field(default_factory=dict)  # worker -> torch + model load

    def per_worker_rate(self) -> float:
        """Sentences per second of one worker while busy (model loading excluded)."""
        seconds = sum(s for s, _ in self.busy.values())
        return sum(n for _, n in self.busy.values()) / seconds if seconds else 0.0


class RayEngine:
    """See the module's docstring. `address`: None starts a local Ray instance (or uses the one
    this process has joined), `auto` or `HOST:PORT` joins a cluster; `workers`: 0 = one per
    `gpus_per_worker` GPUs of the cluster, or one per node on a cluster without GPUs."""

    def __init__(self, address: str | None = None, workers: int = 0,
                 gpus_per_worker: float = 1.0, region_bytes: int | None = None,
                 worker_class: type = RegionWorker) -> None:
        self.address, self.workers, self.gpus_per_worker = address, workers, gpus_per_worker
        self.region_bytes, self.worker_class = region_bytes, worker_class
        self.spec: ModelSpec | None = None
        self.info: dict = {}
        self.fingerprint: dict = {}
        self.report = RayReport()

    def load(self, model: LoadedModel | ModelSpec, measures: tuple[str, ...]) -> LoadedModel:
        """The driver's copy, on its CPU: the tokenizer and the model's facts (the weights are
        dropped once read); each worker loads the model itself."""
        if not isinstance(model, ModelSpec):
            raise ConfigError("the Ray engine loads the model in each worker: give the model by "
                              "name or folder (a ModelSpec), not loaded")
        spec = model.for_measures(measures)
        loaded = replace(spec, device="cpu").load()
        if model.name and Path(os.path.expanduser(model.name)).exists():  # workers' cwd differs
            spec = replace(spec, name=os.path.abspath(os.path.expanduser(model.name)))
        self.spec = spec
        self.info, self.fingerprint = loaded.info, loaded.fingerprint
        return replace(loaded, model=None)

    def run(self, batches: list[list[str]], by_key: dict[str, Encoded],
            wanted: dict[str, tuple[str, ...]], writer: StoreWriter, progress: bool) -> None:
        """Lay out the regions, run them on the cluster, land them in order."""
        if writer.encoder_decoder:  # regions are laid out per measure, a pair's codes per stream
            raise EngineError(f"the Ray engine does not run encoder-decoder models yet "
                              f"({writer.model.get('name')!r}): use the local engine")
        import ray

        heads = {m: writer._codes[m].heads for m in writer.measures}

        def row_bytes(key: str, measure: str) -> int:
            return row_size(writer.model, by_key[key].n_tokens, heads[measure])

        started = self._start(ray)
        try:
            workers, cpus, gpus = self._resources(ray)
            total = sum(row_bytes(k, m) for k, ms in wanted.items() for m in ms)
            target = self.region_bytes or region_target(total, workers)
            starts = {m: writer._codes[m].written for m in writer.measures}
            regions = layout_regions(batches, wanted, row_bytes, starts, target)
            reserve(writer._group, regions)
            workers = max(1, min(workers, len(regions)))
            self.report = replace(self.report, workers=workers, cpus_per_worker=cpus,
                                  gpus_per_worker=gpus, regions=len(regions), codes_bytes=total,
                                  padding_bytes=sum(r.padding for r in regions))
            with _without(RAY_NOISE):
                self._execute(ray, regions, by_key, writer, row_bytes, workers, cpus, gpus,
                              progress)
        finally:
            if started:
                ray.shutdown()
        r = self.report
        log.info("ray: %d regions on %d workers (%g CPU, %g GPU each): %.1f MB of codes, %.1f MB "
                 "padding (%.1f %%); first region after %.1f s (loading the model: %.1f s); "
                 "%.1f sentences/s per busy worker", r.regions, r.workers, r.cpus_per_worker,
                 r.gpus_per_worker, r.codes_bytes / 1e6, r.padding_bytes / 1e6,
                 100 * r.padding_bytes / max(1, r.codes_bytes), r.first_region_seconds,
                 max(r.load_seconds.values(), default=0.0), r.per_worker_rate())

    def _start(self, ray) -> bool:
        """Join or start Ray; True when this call started it (and so shuts it down)."""
        if ray.is_initialized():
            return False
        began = time.perf_counter()
        for name in QUIET_LOGGERS:
            logging.getLogger(name).setLevel(logging.ERROR)
        try:
            ray.init(address=self.address, include_dashboard=False,
                     logging_level=logging.WARNING, log_to_driver=True)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise EngineError(f"cannot reach the Ray cluster at {self.address or 'local'}: "
                              f"{exc}".splitlines()[0]) from exc
        self.report.start_seconds = time.perf_counter() - began
        return True

    def _resources(self, ray) -> tuple[int, float, float]:
        """Workers, and the CPUs and GPUs each takes, from the settings and the cluster."""
        total = ray.cluster_resources()
        nodes = [n for n in ray.nodes() if n.get("Alive")]
        use_gpus = (total.get("GPU", 0) > 0 and self.gpus_per_worker > 0
                    and self.spec.device != "cpu")
        gpus = self.gpus_per_worker if use_gpus else 0.0
        workers = self.workers or (int(total["GPU"] // gpus) if use_gpus else len(nodes)) or 1
        if use_gpus:
            return workers, 1.0, gpus
        largest = max((n["Resources"].get("CPU", 1) for n in nodes), default=1)
        cpus = max(1.0, min(float(total.get("CPU", 1) // workers), float(largest)))
        return workers, cpus, 0.0

    def _execute(self, ray, regions: list[Region], by_key: dict[str, Encoded],
                 writer: StoreWriter, row_bytes, workers: int, cpus: float, gpus: float,
                 progress: bool) -> None:
        """Map the regions over the workers; land each as soon as every one before it is in."""
        from tqdm import tqdm

        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False  # ours counts sentences
        context.print_on_execution_start = False
        logging.getLogger("ray.data").setLevel(logging.WARNING)
        location = writer.location  # a worker's working folder is not ours: absolute
        store = location.key
        guard = LockGuard(location)
        rows = [{"task": pickle.dumps(RegionTask(
            r, {k: by_key[k].input_ids for b in r.batches for k in b}, store, guard))}
            for r in regions]
        # a worker given no GPU stays off the node's GPUs, which other workers hold
        spec = replace(self.spec, device="cpu") if not gpus and self.spec.device == "auto" \
            else self.spec
        with warnings.catch_warnings():  # max_restarts has no named parameter yet
            warnings.filterwarnings("ignore", message=".*ray_remote_args.*deprecated")
            dataset = ray.data.from_items(rows, override_num_blocks=len(rows)).map_batches(
                self.worker_class, batch_size=1, batch_format="numpy",
                compute=ray.data.ActorPoolStrategy(size=workers),
                fn_constructor_kwargs={"spec": spec, "fingerprint": self.fingerprint,
                                       "shape": (self.info["n_layers"], self.info["n_heads"])},
                num_cpus=cpus, num_gpus=gpus or None,
                max_restarts=RETRIES, max_task_retries=RETRIES)
        stored = {k: by_key[k].stored for r in regions for k, _ in r.rows}
        done: dict[int, RegionResult] = {}
        landed, began = 0, time.perf_counter()
        bar = tqdm(total=sum(len(r.rows) for r in regions), unit="sent", desc="extract (ray)",
                   disable=not progress, dynamic_ncols=True, smoothing=0.1)
        try:
            for row in dataset.iter_rows():
                result: RegionResult = pickle.loads(row["result"])
                if not done and not landed:
                    self.report.first_region_seconds = time.perf_counter() - began
                busy = self.report.busy.setdefault(result.worker, [0.0, 0])
                busy[0] += result.seconds
                busy[1] += result.sentences
                self.report.load_seconds[result.worker] = result.extra.get("load_seconds", 0.0)
                done[result.index] = result
                while landed in done:  # in order: codes_end means every chunk below is written
                    t = time.perf_counter()
                    land(writer, regions[landed], done.pop(landed), stored, row_bytes)
                    self.report.land_seconds += time.perf_counter() - t
                    bar.update(len(regions[landed].rows))
                    landed += 1
        except AtlasError:
            raise
        except Exception as exc:  # a worker's own error, or one Ray gives for a dead worker
            cause = _atlas_cause(exc)
            if cause is not None:
                raise cause from exc
            kept = sum(len(r.rows) for r in regions[:landed])
            raise EngineError(f"the Ray engine failed: {_first_line(exc)}; the store keeps the "
                              f"{kept} sentence(s) of the {landed} region(s) committed before; "
                              "run again to compute the rest") from exc
        finally:
            bar.close()
        self.report.run_seconds = time.perf_counter() - began
        if landed != len(regions):
            raise EngineError(f"the Ray engine returned {landed} of {len(regions)} regions")


@contextlib.contextmanager
def _without(noise: re.Pattern):
    """Pass this process's standard error (file descriptor 2: Python's and Ray's C++ logging
    alike) through a filter that drops what `noise` matches and passes the rest on as it comes.
    A log line is one write of under PIPE_BUF bytes, so it arrives whole."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no standard error to filter
        yield
        return
    read, write = os.pipe()
    os.dup2(write, 2)
    os.close(write)

    def pump() -> None:
        try:
            while chunk := os.read(read, 1 << 16):
                kept = memoryview(noise.sub(b"", chunk))
                while kept:
                    kept = kept[os.write(saved, kept):]
        except OSError:  # the terminal went away: nothing left to show it on
            pass

    thread = threading.Thread(target=pump, name="atlas-stderr", daemon=True)
    thread.start()
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)  # closes the pipe's last write end: the pump reads to its end
        thread.join(timeout=5)
        os.close(read)
        os.close(saved)


def _atlas_cause(exc: BaseException) -> AtlasError | None:
    """The project's own error inside Ray's wrappers (a worker's ModelError, StoreError...)."""
    seen: set[int] = set()
    stack: list[BaseException | None] = [exc]
    while stack:
        e = stack.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, AtlasError):
            return e
        stack += [e.__cause__, e.__context__, getattr(e, "cause", None)]
    return None


def _first_line(exc: BaseException) -> str:
    """The most telling line of a Ray error: the last non-empty line of its message."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return f"{type(exc).__name__}: {lines[-1] if lines else ''}"
