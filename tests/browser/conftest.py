"""Browser fixtures: built sites served under a sub-path, and Debian's chromium through Playwright."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from pipeline.site.build import build_site
from pipeline.site.serve import start
from pipeline.store import AtlasStore

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
GOLDEN = Path(__file__).resolve().parents[1] / "golden"
# JS: the index's corpus-view cells as drawn: [layer, head, value, fill]
CORPUS_CELLS = """() => {
  const out = [];
  const walk = (node) => {
    if (node.marktype === "rect" && node.role === "mark") {
      for (const item of node.items) out.push([item.datum.layer, item.datum.head, item.datum.value, item.fill]);
    }
    for (const item of node.items || []) walk(item);
  };
  walk(window.atlasCorpusView.view.scenegraph().root);
  return out;
}"""


@pytest.fixture(scope="session")
def atlas_store(minilm_store) -> AtlasStore:
    """The store behind /atlas/: the tiny corpus through the embedded 6 x 12 model."""
    return AtlasStore.open(minilm_store)


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """tests/artifacts/ (gitignored): screenshots to look at."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def chromium():
    """A headless Debian chromium, or skip."""
    executable = shutil.which("chromium")
    if executable is None:
        pytest.skip("Debian's chromium is not installed")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def sites(tmp_path_factory, minilm_store, gpt2_store, gpt2_all_measures_store,
          long_store) -> dict[str, Path]:
    """Built sites by mount: /atlas/ (the embedded 6 x 12 model), /causal/ (a random 2 x 4 GPT-2),
    /measures/ (that GPT-2 with every measure: attention, rollout, norm, grad), /long/ (the
    6 x 12 model over a 150-word sentence and others: tests/conftest.py)."""
    root = tmp_path_factory.mktemp("browser")
    build_site(minilm_store, root / "site", progress=False)
    build_site(gpt2_store, root / "causal-site", progress=False)
    build_site(gpt2_all_measures_store, root / "measures-site", progress=False)
    build_site(long_store, root / "long-site", progress=False)
    return {"/atlas/": (root / "site").resolve(), "/causal/": (root / "causal-site").resolve(),
            "/measures/": (root / "measures-site").resolve(), "/long/": (root / "long-site").resolve()}


@pytest.fixture(scope="session")
def stats_site(tmp_path_factory, minilm_store) -> Path:
    """The tiny corpus through the embedded model, with its statistics, as a site on disk (the
    corpus view, the head pages)."""
    from pipeline.stats.compute import update_stats

    root = tmp_path_factory.mktemp("corpus-browser")
    store = root / "atlas.zarr"
    shutil.copytree(minilm_store, store)
    update_stats(store)
    build_site(store, root / "site", progress=False)
    return (root / "site").resolve()


@pytest.fixture(scope="session")
def pair_site(tmp_path_factory) -> Path:
    """An encoder-decoder's site on disk (pipeline.testing.seq2seq: 5 pairs, attention and
    rollout, a 2 x 2 encoder and a 3 x 2 decoder) with its statistics; its store beside it,
    atlas.zarr."""
    from pipeline.stats.compute import update_stats
    from pipeline.testing.seq2seq import synthetic_pair_store

    root = tmp_path_factory.mktemp("pair-site")
    store = synthetic_pair_store(root / "atlas.zarr", n=5, measures=("attention", "rollout"))
    update_stats(store)
    build_site(store, root / "site", progress=False)
    return (root / "site").resolve()


@pytest.fixture(scope="session")
def server(sites) -> str:
    """The origin (http://127.0.0.1:PORT) of a server for the sites, each under its sub-path,
    and for tests/golden/ under /golden/."""
    running = start({**sites, "/golden/": GOLDEN})
    yield running.origin
    running.stop()


@dataclass
class Watched:
    """A page with everything it did recorded: requests, console errors, page errors, dialogs."""

    page: object
    origin: str
    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    def assert_clean(self) -> None:
        """No console errors, no dialogs, and no request outside the origin."""
        outside = [u for u in self.requests if not (u.startswith(self.origin + "/")
                                                   or u.startswith("data:") or u.startswith("blob:"))]
        assert not outside, f"requests outside {self.origin}: {outside}"
        assert not self.errors, f"console errors: {self.errors}"
        assert not self.dialogs, f"dialogs opened: {self.dialogs}"

    def assert_clean_file(self) -> None:
        """No console errors, no dialogs, and no request outside file:// and data: / blob: URLs."""
        outside = [u for u in self.requests if not u.startswith(("file://", "data:", "blob:"))]
        assert not outside, f"requests outside the disk: {outside}"
        assert not self.errors, f"console errors: {self.errors}"
        assert not self.dialogs, f"dialogs opened: {self.dialogs}"

    def wait_ready(self) -> None:
        """Wait until the page's script says it has drawn (or failed)."""
        self.page.wait_for_function("document.documentElement.dataset.ready", timeout=15_000)
        assert self.page.evaluate("document.documentElement.dataset.ready") == "true", self.errors


PHONE = {"viewport": {"width": 390, "height": 844}, "has_touch": True, "is_mobile": True,
         "device_scale_factor": 2}


@pytest.fixture
def watched(chromium, server):
    """A fresh page in a fresh desktop context, recording what it does."""
    yield from _watched(chromium, server, viewport={"width": 1400, "height": 1000}, device_scale_factor=1)


@pytest.fixture
def phone(chromium, server):
    """A fresh page in a phone's context (390 x 844, touch, mobile), recording what it does."""
    yield from _watched(chromium, server, **PHONE)


def _watched(chromium, server, **options):
    context = chromium.new_context(**options)
    page = context.new_page()
    w = Watched(page, server)
    page.on("request", lambda r: w.requests.append(r.url))
    page.on("console", lambda m: w.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: w.errors.append(str(e)))

    def on_dialog(dialog):
        w.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    page.on("dialog", on_dialog)
    yield w
    context.close()


@pytest.fixture(scope="session")
def corpus_cells():
    """The index's corpus-view cells as drawn, read from a page: [[layer, head, value, fill], ...]."""
    return lambda page: page.evaluate(CORPUS_CELLS)
