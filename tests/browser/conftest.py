"""Browser fixtures: built sites served under a sub-path, and Debian's chromium through Playwright."""

from __future__ import annotations

import http.server
import shutil
import threading
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from pipeline.site import build_site

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"

# The sentences every browser test relies on: tags, markup that must stay text, duplicate words.
SENTENCES = [
    ("pair-1", "<CHI> painted a picture of a horse <CHI> my favorite animal is the",
     [("ENV", 0, 7), ("LAN", 7, 13)]),
    ("xss/<script>", "<MOT> look <script>alert(1)</script> here", [("MOT", 0, 4)]),
    ('x"><img src=x onerror=alert(1)>', '<CHI> "><img src=x onerror=alert(1)> no', [("CHI", 0, 3)]),
    ("pair-4", "<MOT> where is the horse <CHI> there", [("MOT", 0, 5), ("CHI", 5, 7)]),
]


def write_store(path: Path, sentences, n_layers: int = 6, n_heads: int = 12, causal: bool = False,
                seed: int = 0) -> Path:
    """A small store in the real format: words split on spaces, one token per word + [CLS]/[SEP]."""
    from pipeline.store import quantize
    from pipeline.store_write import StoreLock, StoreWriter

    rng = np.random.default_rng(seed)
    info = {"name": "test/random-bert", "revision": None, "weights_sha256": "0" * 64,
            "n_layers": n_layers, "n_heads": n_heads, "causal": causal, "max_length": 128,
            "tokenizer": "FakeTokenizer"}
    with StoreLock(path):
        writer = StoreWriter(path, info, {"name": info["name"]})
        rows = []
        for k, (sid, text, spans) in enumerate(sentences):
            words = text.split(" ")
            starts = np.cumsum([0] + [len(w) + 1 for w in words[:-1]])
            n_tok = len(words) + 2
            att = rng.dirichlet(np.full(n_tok, 0.3), size=(n_layers, n_heads, n_tok))  # (L, H, T, T)
            if causal:  # a token sees itself and earlier tokens only
                att = np.tril(att)
                att /= att.sum(axis=-1, keepdims=True)
            record = {"id": sid, "key": f"key-{k}", "text": text, "meta": {"speaker": "MOT"},
                      "tokens": ["[CLS]", *words, "[SEP]"], "truncated": False, "source": ["t", k],
                      "word_ranges": [[int(s), int(s) + len(w)] for s, w in zip(starts, words, strict=True)],
                      "word_index": [-1, *range(len(words)), -1], "spans": [list(s) for s in spans]}
            rows.append(writer.add(record, quantize(att)))
        writer.finish(rows)
    return path


@pytest.fixture(scope="session")
def corpus() -> list[tuple[str, str, list[tuple[str, int, int]]]]:
    """The browser sites' sentences: (id, text, spans)."""
    return SENTENCES


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


class _MountHandler(http.server.SimpleHTTPRequestHandler):
    """Serves each mounted folder under its own sub-path (e.g. /atlas/); anything else is 404."""

    mounts: dict[str, Path] = {}

    def translate_path(self, path: str) -> str:
        url_path = urllib.parse.unquote(urllib.parse.urlsplit(path).path)
        for prefix, folder in self.mounts.items():
            if url_path.startswith(prefix):
                rest = url_path[len(prefix):]
                target = (folder / rest).resolve()
                if target == folder or folder in target.parents:
                    return str(target)
        return str(Path("/nonexistent-atlas-path"))

    def log_message(self, format, *args):  # noqa: A002
        pass


@pytest.fixture(scope="session")
def sites(tmp_path_factory) -> dict[str, Path]:
    """Built sites by mount: /atlas/ (a 6x12 bidirectional store), /causal/ (a causal 2x4 one)."""
    root = tmp_path_factory.mktemp("browser")
    bert = write_store(root / "bert.zarr", SENTENCES)
    causal = write_store(root / "causal.zarr", SENTENCES[:2], n_layers=2, n_heads=4, causal=True)
    build_site(bert, root / "site", progress=False)
    build_site(causal, root / "causal-site", progress=False)
    return {"/atlas/": (root / "site").resolve(), "/causal/": (root / "causal-site").resolve()}


@pytest.fixture(scope="session")
def server(sites) -> str:
    """The origin (http://127.0.0.1:PORT) of a server for the sites, each under its sub-path."""
    handler = type("Handler", (_MountHandler,), {"mounts": sites})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


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

    def wait_ready(self) -> None:
        """Wait until the page's script says it has drawn (or failed)."""
        self.page.wait_for_function("document.documentElement.dataset.ready", timeout=15_000)
        assert self.page.evaluate("document.documentElement.dataset.ready") == "true", self.errors


@pytest.fixture
def watched(chromium, server):
    """A fresh page in a fresh context, recording what it does."""
    context = chromium.new_context(viewport={"width": 1400, "height": 1000}, device_scale_factor=1)
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
