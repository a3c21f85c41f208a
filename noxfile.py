"""Sessions: tests, browser, lint, bench, site. `nox -l` lists them."""

from __future__ import annotations

import os
import shutil

import nox

nox.needs_version = ">=2024.4.15"
nox.options.sessions = ["lint", "tests", "browser"]
nox.options.reuse_existing_virtualenvs = True

# The torch build to install. The default is the CPU wheel this project is tested
# with; set ATLAS_TORCH to your CUDA build's requirement (or to "" to keep the one
# pip finds) on a GPU machine.
TORCH = os.environ.get("ATLAS_TORCH", "torch==2.13.0")


def _install(session: nox.Session, extras: str = "test") -> None:
    """Torch first (so no other build is pulled in), then this package with its extras."""
    if TORCH:
        session.install(TORCH)
    session.install("-e", f".[{extras}]")


@nox.session
def tests(session: nox.Session) -> None:
    """Unit and end-to-end tests (everything but the browser)."""
    _install(session)
    session.run("pytest", "-m", "not browser", *session.posargs,
                env={"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"})


@nox.session
def browser(session: nox.Session) -> None:
    """Browser tests: Playwright driving Debian's chromium (apt-get install chromium)."""
    if not shutil.which("chromium"):
        session.error("the browser tests need Debian's chromium on PATH: apt-get install -y chromium")
    _install(session)
    session.run("pytest", "-m", "browser", *session.posargs,
                env={"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"})


@nox.session
def lint(session: nox.Session) -> None:
    """Ruff over the package, tests, benchmarks and this file."""
    session.install("ruff>=0.6")
    session.run("ruff", "check", "pipeline", "tests", "bench", "data", "noxfile.py", *session.posargs)


@nox.session(default=False)
def bench(session: nox.Session) -> None:
    """Benchmarks: extraction vs ceiling and naive loop, store size, site build and draw speed."""
    _install(session)
    session.install("bertviz")  # the size reference for the site (its model_view HTML)
    session.run("python", "bench/bench_extract.py", *session.posargs)
    session.run("python", "bench/bench_size.py")
    session.run("python", "bench/bench_site.py")


@nox.session(default=False)
def site(session: nox.Session) -> None:
    """The main job: the corpus through the model into build/atlas.zarr and build/site."""
    _install(session)
    session.run("attention-atlas", "run", *session.posargs)
