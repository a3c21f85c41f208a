"""Sessions: tests, browser, lint, quick, bench, site. `nox -l` lists them.

tests, quick, browser, bench and site share one environment, `.nox/atlas`, which this file
creates once and installs into again only when pyproject.toml or the torch requirement
changes: torch and the package are most of a run's time, and nox (no venv_location)
would otherwise build one environment per session.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
from pathlib import Path

import nox

nox.needs_version = ">=2024.4.15"
nox.options.sessions = ["lint", "tests", "browser"]
nox.options.reuse_existing_virtualenvs = True

# The torch build to install: the version this project is tested with. Which build pip
# fetches depends on the index: from PyPI on Linux x86_64 it is the CUDA build (a 527 MB
# wheel plus several GB of NVIDIA libraries); ATLAS_TORCH_INDEX=https://download.pytorch.org/whl/cpu
# takes PyTorch's 192 MB CPU build instead. Set ATLAS_TORCH to your CUDA build's requirement
# (or to "" to keep the one pip finds) on a GPU machine.
TORCH = os.environ.get("ATLAS_TORCH", "torch==2.13.0")
TORCH_INDEX = os.environ.get("ATLAS_TORCH_INDEX", "")
ATLAS_ENV = Path(__file__).resolve().parent / ".nox" / "atlas"
OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}  # no test may reach a model hub
# Write the environment's byte code once and reuse it, even where the machine sets
# PYTHONDONTWRITEBYTECODE (an empty value unsets it): the tests start a few dozen interpreters
# (the CLI, killed runs, Ray's workers), and each would otherwise compile torch and transformers
# again, about 4 s apiece on 2 cores.
BYTECODE = {"PYTHONDONTWRITEBYTECODE": ""}
# Two pytest-xdist workers, a test file each at a time (--dist loadfile): a file's module
# fixtures are built once, and the Ray tests, one file, share one local Ray instance. The order
# is tests/conftest.py's (the Ray file first, the unit tier last), so no reordering by size.
# `nox -s tests -- -n 0` runs them in this process instead.
WORKERS = ["-n", "2", "--dist", "loadfile", "--no-loadscope-reorder"]


def _atlas(session: nox.Session) -> dict[str, str]:
    """The shared environment, (re)installed if its stamp is stale; the variables that select it."""
    python, stamp = ATLAS_ENV / "bin" / "python", ATLAS_ENV / "installed.sha256"
    wanted = hashlib.sha256(Path("pyproject.toml").read_bytes() + b"\0" + TORCH.encode()
                            + b"\0" + TORCH_INDEX.encode()).hexdigest()
    if not python.exists():
        session.run(sys.executable, "-m", "venv", "--clear", str(ATLAS_ENV), external=True)
    if not stamp.exists() or stamp.read_text() != wanted:
        # One resolve: the pinned torch satisfies the package's `torch>=2.4`, so no other build
        # is pulled in. --no-compile: byte-compiling all of torch costs more than the tests'
        # imports compiling what they use.
        torch = [TORCH] if TORCH else []
        if torch and TORCH_INDEX:  # torch alone from that index; everything else from PyPI
            session.run(str(python), "-m", "pip", "install", "--no-compile", *torch,
                        "--index-url", TORCH_INDEX, external=True)
        # [test] brings [ray]: the Ray engine's tests run a local Ray instance
        session.run(str(python), "-m", "pip", "install", "--no-compile", *torch, "-e", ".[test]",
                    external=True)
        stamp.write_text(wanted)
    else:
        session.log(f"{ATLAS_ENV} is up to date with pyproject.toml and {TORCH or 'any torch'}")
    path = f"{ATLAS_ENV / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"
    return {"VIRTUAL_ENV": str(ATLAS_ENV), "PATH": path}


def _run(session: nox.Session, program: str, *args: str, env: dict[str, str]) -> None:
    """Run one of the shared environment's programs (nox's "none" backend looks only on PATH)."""
    session.run(str(ATLAS_ENV / "bin" / program), *args, env=env, external=True)


@nox.session(venv_backend="none")
def tests(session: nox.Session) -> None:
    """The unit and integration tiers (tests/unit, tests/integration: all but the browser), on
    two workers; the slowest printed."""
    env = _atlas(session) | OFFLINE | BYTECODE
    _run(session, "pytest", "-m", "not browser", *WORKERS, "--durations=15", *session.posargs,
         env=env)


@nox.session(venv_backend="none")
def browser(session: nox.Session) -> None:
    """The browser tier (tests/browser): Playwright driving Debian's chromium (apt-get install
    chromium), on two workers, a file each (a browser each): a page load waits on files and
    timers as much as it computes (76 tests: 104 s on two workers, 132 s in one process, the
    same busy hour)."""
    if not shutil.which("chromium"):
        session.error("the browser tests need Debian's chromium on PATH: apt-get install -y chromium")
    env = _atlas(session) | OFFLINE | BYTECODE
    _run(session, "pytest", "-m", "browser", "tests/browser", *WORKERS, "--durations=10",
         *session.posargs, env=env)


@nox.session(venv_backend="none", default=False)
def quick(session: nox.Session) -> None:
    """The unit tier alone (tests/unit: no model, no torch, no process of the pipeline), for the
    edit-test loop: under a minute (396 tests, two workers: about 40 s here, the series site builds most of it)."""
    env = _atlas(session) | OFFLINE | BYTECODE
    _run(session, "pytest", "tests/unit", *WORKERS, "--durations=5", *session.posargs, env=env)


@nox.session
def lint(session: nox.Session) -> None:
    """Ruff over the package, tests, benchmarks and this file; the import contracts of
    pyproject.toml ([tool.importlinter]) over the package."""
    session.install("ruff>=0.6", "import-linter>=2.2")
    session.run("ruff", "check", "pipeline", "tests", "bench", "data", "noxfile.py", *session.posargs)
    # lint-imports reads the source from this folder (it puts it on sys.path): no install needed
    session.run("lint-imports")


@nox.session(venv_backend="none", default=False)
def bench(session: nox.Session) -> None:
    """Benchmarks: extraction vs ceiling and naive loop, measures vs attention alone, eager
    attention vs the plain SDPA forward pass, a 1,000-word document's peak memory, store size,
    site build and draw speed, big grids' draw speed (32 x 32), the corpus view's statistics, a
    site with a size limit, the Ray engine beside the local one, a series' added checkpoint
    beside one model, a series' site against size limits; on a CUDA GPU, half precision's speed and codes beside float32's."""
    env = _atlas(session)
    _run(session, "pip", "install", "bertviz", env=env)  # the site's size reference (model_view)
    _run(session, "python", "bench/bench_extract.py", *session.posargs, env=env)
    _run(session, "python", "bench/bench_measures.py", env=env)
    _run(session, "python", "bench/bench_eager.py", env=env)
    _run(session, "python", "bench/bench_seq2seq.py", env=env)
    _run(session, "python", "bench/bench_long.py", env=env)
    _run(session, "python", "bench/bench_gpu.py", env=env)  # says so and stops without CUDA
    _run(session, "python", "bench/bench_size.py", env=env)
    _run(session, "python", "bench/bench_site.py", env=env)
    _run(session, "python", "bench/bench_grid.py", env=env)
    _run(session, "python", "bench/bench_stats.py", env=env)
    _run(session, "python", "bench/bench_budget.py", env=env)
    _run(session, "python", "bench/bench_series_site.py", env=env)
    _run(session, "python", "bench/bench_ray.py", env=env)
    _run(session, "python", "bench/bench_series.py", env=env)


@nox.session(venv_backend="none", default=False)
def site(session: nox.Session) -> None:
    """The main job: the corpus through the model into build/atlas.zarr and build/site."""
    env = _atlas(session)
    _run(session, "attention-atlas", "run", *session.posargs, env=env)
