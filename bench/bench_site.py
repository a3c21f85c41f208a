"""Site benchmark: pages built per second, bytes per sentence, and draw times in headless Chromium.

    python bench/bench_site.py [STORE] [--sentences 1000] [--words 32] [--index 10000]

On an in-memory fake store of a 12 x 12 model (N sentences of 32 words, random
peaked maps), and on a real store when given: sentences built per second, site
bytes per sentence, and in Debian's headless chromium the time from navigation
until the grid and the detail are drawn, and the time of a head switch (both
measured in the page with performance.now()). The index is timed with 10,000
sentences. Prints a table; asserts nothing about time.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import shutil
import statistics
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from pipeline.site import build_site, get_vega_bundle
from pipeline.site_data import get_page_names

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
SWITCH_JS = """async (n) => {
  const times = [];
  const { L, H } = window.atlas.maps;
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await window.atlas.select(1 + (i * 5) % L, 1 + (i * 7) % H);
    times.push(performance.now() - t0);
  }
  return times;
}"""


class FakeRecord:
    """A sentence with the store's read API, backed by in-memory word-level arrays."""

    def __init__(self, sid, words, maps, special):
        self.id, self.words, self.text = sid, words, " ".join(words)
        self.tokens = ["[CLS]", *words, "[SEP]"]
        self.word_index = np.array([-1, *range(len(words)), -1], np.int32)
        self.spans = [("MOT", 0, len(words) // 2), ("CHI", len(words) // 2, len(words))]
        self.meta, self.truncated = {"speaker": "MOT"}, False
        self._maps, self._special = maps, special

    def word_attention(self):
        return self._maps

    def special_share(self):
        return self._special


class FakeStore:
    """N sentences of W words for an L x H model: rows are Dirichlet(0.3), a row + its special share = 1."""

    def __init__(self, n: int, n_words: int, n_layers: int = 12, n_heads: int = 12, seed: int = 0):
        rng = np.random.default_rng(seed)
        self.model = {"name": f"fake/{n_layers}x{n_heads}", "revision": None, "weights_sha256": "0" * 64,
                      "n_layers": n_layers, "n_heads": n_heads, "causal": False, "max_length": 512}
        self.info = {"pipeline_version": "bench", "measures": ["attention"]}
        pool = rng.dirichlet(np.full(n_words + 1, 0.3), size=(4, n_layers, n_heads, n_words))
        pool = pool.astype(np.float32)  # (4, L, H, W, W + 1): a few distinct sentences, reused
        self.ids = [f"bench/{i:06d}" for i in range(n)]
        self._words = [f"w{i}" for i in range(n_words)]
        self._pool = pool

    def __len__(self):
        return len(self.ids)

    def __getitem__(self, i):
        full = self._pool[i % len(self._pool)]
        return FakeRecord(self.ids[i], self._words, full[..., :-1], full[..., -1])


def serve(folder: Path) -> tuple[str, http.server.ThreadingHTTPServer]:
    """Serve a folder on 127.0.0.1 (any free port) in a thread."""
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}", server


def build(store, site: Path) -> dict:
    """Build a site; returns sentences/s and bytes per sentence."""
    summary = build_site(store, site, progress=False)
    names = get_page_names(list(store.ids))
    own = [(site / "sentences" / f"{n}.html").stat().st_size + (site / "data" / f"{n}.bin").stat().st_size
           for n in names]
    return {"sentences": summary.sentences, "rate": summary.sentences / summary.seconds,
            "own": statistics.mean(own), "all": summary.bytes_per_sentence}


def browser_times(site: Path, pages: list[str], switches: int = 30) -> dict:
    """Draw ms (navigation -> grid and detail drawn) per page, and head-switch ms."""
    from playwright.sync_api import sync_playwright

    origin, server = serve(site)
    draws, switch = [], []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            for name in pages:
                page.goto(f"{origin}/sentences/{name}.html")
                page.wait_for_function("document.documentElement.dataset.ready", timeout=30_000)
                draws.append(page.evaluate("window.atlas.timings.drawn"))
            switch = page.evaluate(SWITCH_JS, switches)
            browser.close()
    finally:
        server.shutdown()
    return {"first": draws[0], "draw": statistics.median(draws[1:] or draws),
            "switch": statistics.median(switch), "switch_max": max(switch)}


def index_times(site: Path) -> dict:
    """Index: ms from navigation to the list drawn, and ms for a search over every sentence."""
    from playwright.sync_api import sync_playwright

    origin, server = serve(site)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS)
            page = browser.new_page()
            page.goto(f"{origin}/index.html")
            page.wait_for_function("document.documentElement.dataset.ready", timeout=30_000)
            ready = page.evaluate("performance.now()")
            search = page.evaluate("""() => { const input = document.getElementById('search');
                const t0 = performance.now(); input.value = 'w7'; input.dispatchEvent(new Event('input'));
                return performance.now() - t0; }""")
            browser.close()
    finally:
        server.shutdown()
    return {"ready": ready, "search": search}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("store", nargs="?", help="a real store (atlas.zarr) to measure too")
    parser.add_argument("--sentences", type=int, default=1000)
    parser.add_argument("--words", type=int, default=32)
    parser.add_argument("--index", type=int, default=10_000, help="sentences for the index timing")
    args = parser.parse_args()
    t0 = time.perf_counter()
    get_vega_bundle(None)  # built once per process; timed apart from the pages
    print(f"Vega bundle: {time.perf_counter() - t0:.2f} s (once per build)")
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-site-") as tmp:
        work = Path(tmp)
        cases = [(f"fake 12x12, {args.words} words", FakeStore(args.sentences, args.words))]
        if args.store:
            from pipeline.store import AtlasStore

            real = AtlasStore.open(args.store)
            if len(real):
                cases.append((f"store {Path(args.store).name}", real))
            else:
                print(f"{args.store} holds no sentences; measuring the fake store only")
        for label, store in cases:
            site = work / f"site-{len(rows)}"
            figures = build(store, site)
            names = get_page_names(list(store.ids))
            figures.update(browser_times(site, names[: min(6, len(names))]))
            rows.append((label, figures))
            shutil.rmtree(site)
        index = index_times_for(work, args.index)
    print()
    print(f"{'case':<34} {'sentences':>9} {'built/s':>8} {'KB/sent':>8} {'KB/sent+assets':>14} "
          f"{'draw ms':>8} {'1st draw':>8} {'switch ms':>9} {'max':>6}")
    for label, f in rows:
        print(f"{label[:34]:<34} {f['sentences']:>9,} {f['rate']:>8.0f} {f['own'] / 1e3:>8.1f} "
              f"{f['all'] / 1e3:>14.1f} {f['draw']:>8.0f} {f['first']:>8.0f} {f['switch']:>9.1f} "
              f"{f['switch_max']:>6.1f}")
    print(f"\nindex of {args.index:,} sentences: list drawn {index['ready']:.0f} ms after navigation, "
          f"a search over all of them {index['search']:.1f} ms")
    print("targets: >= 200 built/s on 2 cores; draw < 1000 ms; switch < 100 ms")


def index_times_for(work: Path, n: int) -> dict:
    """Build a site of n small sentences (a 1 x 1 model) and time its index."""
    site = work / "index-site"
    build_site(FakeStore(n, 20, n_layers=1, n_heads=1), site, progress=False)
    return index_times(site)


if __name__ == "__main__":
    main()
