"""Site size limit benchmark: what `--max-site-bytes` costs, beside a build without a limit.

    python bench/bench_budget.py [--sentences 3000] [--layers 12] [--heads 12] [--rounds 2]

A synthetic store with statistics (bench_stats.build: 12 x 12 maps, sentences of 4 to
20 words, spans and dependency arcs; so a corpus view and its exemplars), then, in one
run, interleaved for `--rounds` rounds (the best of each kept):

1. the site without a limit (every page);
2. the site with the default limit, 1 GB, which holds every page here: the same site,
   so the ratio to (1) is the cost of counting;
3. the site with a limit of half of (1)'s bytes: the exemplars, then sentences by id hash
   until the limit; sentences with a page per second against (1), and how full the
   limit is (what is left unused: the page-link allowance and the sentence that did not fit).
The pages/s column is sentences with a page per second; "/ none" divides it by (1)'s.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from bench_stats import build  # noqa: E402

from pipeline.site import charts  # noqa: E402
from pipeline.site.build import build_site  # noqa: E402
from pipeline.site.site_assets import get_vega_bundle  # noqa: E402
from pipeline.stats.compute import update_stats  # noqa: E402


def main() -> None:
    """Measure and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sentences", type=int, default=3000)
    parser.add_argument("--layers", type=int, default=12)
    parser.add_argument("--heads", type=int, default=12)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="atlas-budget-"))
    try:
        store = work / "atlas.zarr"
        build(store, args.sentences, args.layers, args.heads)
        update_stats(store, progress=False)
        get_vega_bundle(charts.vl_convert_version())  # cached: the first build would pay it alone
        best: dict[str, object] = {}
        for _ in range(args.rounds):
            for name, limit in (("none", None), ("1 GB", 10**9), ("half", "half")):
                if limit == "half":
                    limit = best["none"].bytes // 2
                summary = build_site(store, work / f"site-{name.replace(' ', '')}",
                                     max_site_bytes=limit, progress=False)
                if name not in best or summary.seconds < best[name].seconds:
                    best[name] = summary
        none, default, half = best["none"], best["1 GB"], best["half"]
        rate = {k: s.with_pages / s.seconds for k, s in best.items()}
        print(f"{args.sentences:,} sentences ({args.layers} x {args.heads}, 4-20 words), "
              f"best of {args.rounds} interleaved rounds")
        print(f"{'limit':<28}{'pages':>8}{'MB':>9}{'seconds':>9}{'pages/s':>9}{'/ none':>8}")
        for label, s, key in (("none", none, "none"), ("1 GB (all fit)", default, "1 GB"),
                              (f"half: {half.budget / 1e6:.1f} MB", half, "half")):
            print(f"{label:<28}{s.with_pages:>8,}{s.bytes / 1e6:>9.1f}{s.seconds:>9.1f}"
                  f"{rate[key]:>9.0f}{rate[key] / rate['none']:>8.2f}")
        print(f"1 GB limit: the same files as no limit: "
              f"{default.bytes == none.bytes and default.files == none.files}")
        print(f"half limit: {half.bytes:,} of {half.budget:,} bytes used "
              f"({half.budget - half.bytes:,} left, {(half.budget - half.bytes) / half.budget:.2%})")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
