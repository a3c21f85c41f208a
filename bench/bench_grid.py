"""Big grids benchmark: a sentence page's draw time for a 12 x 12, a 24 x 16 and a 32 x 32
model (1,024 heads), on a desktop's screen and a phone's, in headless Chromium.

    python bench/bench_grid.py [--words 32] [--sentences 6] [--switches 30]

For each shape, an in-memory fake store (FakeStore.repeated: `--sentences` sentences of
`--words` words, random peaked maps) built into a site, then each sentence page opened at
1280 x 900 and at 390 x 844 (a phone: touch, two device pixels per CSS pixel). Per page, the
time from navigation until the grid and the detail are drawn (window.atlas.timings.drawn,
performance.now() in the page); the first page apart (a cold cache), the median of the others;
then the median and the worst of `--switches` head switches. Also the grid's cell (px) and
whether it scrolls sideways (the heads that do not fit at a tap target's size). Target: a
32 x 32 page drawn in at most 1,000 ms. Asserts nothing about time.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from pipeline.site.build import build_site
from pipeline.site.contexts import get_page_names
from pipeline.site.serve import start
from pipeline.site.site_assets import get_vega_bundle
from pipeline.testing import FakeStore

sys.path.insert(0, str(Path(__file__).parent))

from bench_site import CHROMIUM_ARGS, SWITCH_JS  # noqa: E402

SHAPES = [(12, 12), (24, 16), (32, 32)]
SCREENS = {"1280 px": {"viewport": {"width": 1280, "height": 900}},
           "390 px": {"viewport": {"width": 390, "height": 844}, "has_touch": True,
                      "is_mobile": True, "device_scale_factor": 2}}


def measure(browser, origin: str, names: list[str], screen: dict, switches: int) -> dict:
    """Draw ms of each page (first, then the median of the rest), switch ms, the grid's cell."""
    context = browser.new_context(**screen)
    page = context.new_page()
    draws = []
    for name in names:
        page.goto(f"{origin}/sentences/{name}.html")
        page.wait_for_function("document.documentElement.dataset.ready", timeout=30_000)
        draws.append(page.evaluate("window.atlas.timings.drawn"))
    layout = page.evaluate("({ step: window.atlas.step, scrolls: window.atlas.gridLayout.scrolls })")
    times = page.evaluate(SWITCH_JS, switches)
    context.close()
    return {"first": draws[0], "draw": statistics.median(draws[1:] or draws),
            "switch": statistics.median(times), "switch_max": max(times), **layout}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--words", type=int, default=32)
    parser.add_argument("--sentences", type=int, default=6)
    parser.add_argument("--switches", type=int, default=30)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    get_vega_bundle(None)  # built once per process
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-grid-") as tmp, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS)
        for layers, heads in SHAPES:
            store = FakeStore.repeated(args.sentences, args.words, layers, heads)
            site = Path(tmp) / f"site-{layers}x{heads}"
            build_site(store, site, progress=False)
            names = get_page_names(list(store.ids))
            server = start({"/": site})
            try:
                for screen, options in SCREENS.items():
                    rows.append((f"{layers}x{heads}", screen,
                                 measure(browser, server.origin, names, options, args.switches)))
            finally:
                server.stop()
            shutil.rmtree(site)
        browser.close()
    print(f"\nsentence pages of {args.words} words, {args.sentences} per shape\n")
    print(f"{'model':<7} {'screen':<7} {'cell px':>7} {'scrolls':>7} {'draw ms':>8} {'1st draw':>8} "
          f"{'switch ms':>9} {'max':>6}")
    for shape, screen, f in rows:
        print(f"{shape:<7} {screen:<7} {f['step']:>7} {'yes' if f['scrolls'] else 'no':>7} "
              f"{f['draw']:>8.0f} {f['first']:>8.0f} {f['switch']:>9.1f} {f['switch_max']:>6.1f}")
    worst = max(f["draw"] for shape, _, f in rows if shape == "32x32")
    print(f"\n32x32: drawn in {worst:.0f} ms at most (median over its pages, either screen); "
          "target <= 1000 ms")


if __name__ == "__main__":
    main()
