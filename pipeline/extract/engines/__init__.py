"""Engines: where extraction's forward passes run, and who writes their codes.

`pipeline.extract.run` gathers (encodes, asks the writer what is stored, plans the
batches) and then hands the batches to an engine; everything before and after is
shared. An engine has two steps:

    load(model, measures) -> LoadedModel   what the driver needs to gather: the tokenizer
                                           and the model's facts (the local engine: the model)
    run(batches, by_key, wanted, writer, progress)
                                           compute every wanted (key, measure) of the batches
                                           and get its codes into the store through `writer`

`LocalEngine` (here) runs them in this process and hands each sentence's codes to
`StoreWriter.add`. `RayEngine` (pipeline/extract/engines/ray_engine.py, `--engine ray`) runs
them on a Ray cluster whose workers write whole chunks of codes straight into the
store (pipeline/store/regions.py); the driver alone writes the index and commits.
"""

from __future__ import annotations

import importlib.util
from typing import Protocol

from pipeline.errors import ConfigError
from pipeline.extract.encode import Encoded
from pipeline.extract.engines.ray_engine import RayEngine
from pipeline.model.loading import LoadedModel, ModelSpec
from pipeline.store.writer import StoreWriter

ENGINES = ("local", "ray")
RAY_INSTALL = 'pip install "attention-atlas[ray]"'


class Engine(Protocol):
    """Where the forward passes run (see the module's docstring)."""

    def load(self, model: LoadedModel | ModelSpec, measures: tuple[str, ...]) -> LoadedModel: ...

    def run(self, batches: list[list[str]], by_key: dict[str, Encoded],
            wanted: dict[str, tuple[str, ...]], writer: StoreWriter, progress: bool) -> None: ...


class LocalEngine:
    """This process: the model loaded here, batches through pipeline.extract.forward, codes to
    `StoreWriter.add` (compression and writes overlap the next forward pass)."""

    def __init__(self) -> None:
        self.loaded: LoadedModel | None = None

    def load(self, model: LoadedModel | ModelSpec, measures: tuple[str, ...]) -> LoadedModel:
        """Load the model (a LoadedModel is used as it is)."""
        self.loaded = model.for_measures(measures).load() if isinstance(model, ModelSpec) else model
        return self.loaded

    def run(self, batches: list[list[str]], by_key: dict[str, Encoded],
            wanted: dict[str, tuple[str, ...]], writer: StoreWriter, progress: bool) -> None:
        """Forward each batch here; the writer appends and commits."""
        from pipeline.extract.forward import run_batches  # torch: only when something is computed

        run_batches(self.loaded, batches, by_key, wanted,
                    lambda e, codes: writer.add(e.stored, codes), progress)


def ray_available() -> bool:
    """True when Ray (with Ray Data) can be imported, without importing it."""
    return importlib.util.find_spec("ray") is not None


def make_engine(engine: str = "local", *, ray_address: str | None = None, workers: int = 0,
                gpus_per_worker: float = 1.0) -> Engine:
    """The engine a configuration names; `--engine ray` without Ray says how to install it."""
    if engine == "local":
        return LocalEngine()
    if engine != "ray":
        raise ConfigError(f"engine: {engine!r} is not one of {', '.join(ENGINES)}")
    if not ray_available():
        raise ConfigError(f"--engine ray needs Ray, which is not installed: {RAY_INSTALL}")
    return RayEngine(address=ray_address, workers=workers, gpus_per_worker=gpus_per_worker)
