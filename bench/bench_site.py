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
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from pipeline.site.build import build_site, get_vega_bundle
from pipeline.site.contexts import get_page_names
from pipeline.site.serve import start
from pipeline.testing import FakeStore

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


def build(store, site: Path) -> dict:
    """Build a site; returns sentences/s and bytes per sentence."""
    summary = build_site(store, site, progress=False)
    names = get_page_names(list(store.ids))
    own = [sum(p.stat().st_size for p in (site / "sentences").glob(f"{n}.html"))
           + sum(p.stat().st_size for p in (site / "data").glob(f"{n}.*")) for n in names]  # .js or .bin
    return {"sentences": summary.sentences, "rate": summary.sentences / summary.seconds,
            "own": statistics.mean(own), "all": summary.bytes_per_sentence}


def browser_times(site: Path, pages: list[str], switches: int = 30) -> dict:
    """Draw ms (navigation -> grid and detail drawn) per page, and head-switch ms."""
    from playwright.sync_api import sync_playwright

    server = start({"/": site})
    origin = server.origin
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
        server.stop()
    return {"first": draws[0], "draw": statistics.median(draws[1:] or draws),
            "switch": statistics.median(switch), "switch_max": max(switch)}


def index_times(site: Path, runs: int = 3) -> dict:
    """Index: ms from navigation to the list drawn (a cold browser each time, the median of
    `runs`), and ms for a search over every sentence."""
    from playwright.sync_api import sync_playwright

    server = start({"/": site})
    origin = server.origin
    ready, search = [], []
    try:
        with sync_playwright() as p:
            for _ in range(runs):
                browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS)
                page = browser.new_page()
                page.goto(f"{origin}/index.html")
                page.wait_for_function("document.documentElement.dataset.ready", timeout=30_000)
                ready.append(page.evaluate("performance.now()"))
                search.append(page.evaluate("""() => { const input = document.getElementById('search');
                    const t0 = performance.now(); input.value = 'w7'; input.dispatchEvent(new Event('input'));
                    return performance.now() - t0; }"""))
                browser.close()
    finally:
        server.stop()
    return {"ready": statistics.median(ready), "search": statistics.median(search)}


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
        cases = [(f"fake 12x12, {args.words} words", FakeStore.repeated(args.sentences, args.words))]
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
    print(f"\nindex of {args.index:,} sentences: list drawn {index['ready']:.0f} ms after navigation "
          f"(median of 3 cold browsers), a search over all of them {index['search']:.1f} ms")
    print("targets: >= 200 built/s on 2 cores; draw < 1000 ms; switch < 100 ms")


def index_times_for(work: Path, n: int) -> dict:
    """Build a site of n small sentences (a 1 x 1 model) and time its index."""
    site = work / "index-site"
    build_site(FakeStore.repeated(n, 20, n_layers=1, n_heads=1), site, progress=False)
    return index_times(site)


if __name__ == "__main__":
    main()
