"""Series site benchmark: a series' site against size limits, and what a large series gets.

    python bench/bench_series_site.py [--sentences 1092] [--checkpoints 5] [--layers 2] [--heads 4]
                                      [--percents 80,50,30]

The bundled corpus (its first `--sentences`) through `--checkpoints` small random GPT-2
checkpoints (steps 0, 10, 100, ...; checkpoint k's attention weights scaled by 1 + k, so its
attention sharpens as a trained model's does), each extracted to its own store with its
statistics. Then the series' site is built without a limit and against limits of 80 %, 50 % and
30 % of that size and of the fixed part plus a little; for each, the bytes against the limit,
the sentences with pages (and how many of the head pages' exemplars), and which checkpoints
got sentence data (pipeline.site.series_plan: the reference, the first, then log-spaced; as
many as let the lists' firsts all have pages with them).

Last, the plan of a 20-checkpoint series of a 100,000-sentence corpus through a 12 x 12 model
within 1 GB, from this corpus's measured sizes: a sentence's page and index line as measured,
its data per checkpoint scaled from this model's heads to 144, the fixed part scaled likewise
(the index's rows to 100,000 sentences), and the exemplars at their upper bounds (every head's
top and bottom 10 of every statistic distinct: 20 x 144 x S; the lists' firsts 2 x 144 x S).
Prints tables; asserts that no site exceeds its limit.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import statistics
import tempfile
from pathlib import Path

import torch

import pipeline.site.series_plan as series_plan
from pipeline.corpus import bundled_corpus_path, read_corpus
from pipeline.errors import SiteError
from pipeline.extract.run import extract
from pipeline.model.loading import load_model
from pipeline.site import charts
from pipeline.site.series_site import build_series_site
from pipeline.site.site_assets import get_vega_bundle
from pipeline.sizes import folder_bytes, format_size
from pipeline.stats.compute import update_stats
from pipeline.testing import make_gpt2, read_js_global
from pipeline.testing.series import StoreSeries

BIG_SENTENCES, BIG_CHECKPOINTS, BIG_HEADS, BIG_BUDGET = 100_000, 20, 12 * 12, 10**9


def make_checkpoints(work: Path, texts: list[str], n: int, layers: int, heads: int) -> list[Path]:
    """n GPT-2 folders of one tokenizer: a random model, its attention weights scaled by 1 + k."""
    from transformers import GPT2Model

    base = make_gpt2(work / "base", n_layer=layers, n_head=heads, n_positions=256, n_embd=8 * heads,
                     texts=texts, vocab_size=2000)
    folders = []
    for k in range(n):
        folder = work / f"checkpoint-{10 ** k if k else 0}"
        shutil.copytree(base, folder)
        model = GPT2Model.from_pretrained(base)
        with torch.no_grad():
            for block in model.h:
                block.attn.c_attn.weight.mul_(1.0 + k)
        model.save_pretrained(folder)
        folders.append(folder)
    return folders


def build_series(work: Path, sentences: int, n: int, layers: int, heads: int) -> StoreSeries:
    """The bundled corpus's first `sentences` through n checkpoints: a store each, statistics."""
    corpus = read_corpus(bundled_corpus_path()).sentences[:sentences]
    folders = make_checkpoints(work, [s.text for s in corpus], n, layers, heads)
    stores = []
    for folder in folders:
        store = work / "stores" / f"{folder.name}.zarr"
        extract(corpus, store, load_model(str(folder)), progress=False)
        update_stats(store, progress=False)
        stores.append(store)
    from pipeline.store import AtlasStore

    steps = [int(f.name.rsplit("-", 1)[1]) for f in folders]
    return StoreSeries([f"step-{s}" for s in steps], steps, [AtlasStore.open(p) for p in stores])


class PlanSpy:
    """The plans that builds make (pipeline.site.series_plan.plan_checkpoints), and the costs
    they were made from."""

    def __init__(self) -> None:
        self.plans, self.costs = [], []
        real_plan, real_costs = series_plan.plan_checkpoints, series_plan.measure_costs

        def plan(*args, **kwargs):
            self.plans.append(real_plan(*args, **kwargs))
            return self.plans[-1]

        def costs(*args, **kwargs):
            self.costs.append(real_costs(*args, **kwargs))
            return self.costs[-1]

        self._real = real_plan, real_costs
        series_plan.plan_checkpoints, series_plan.measure_costs = plan, costs

    def restore(self) -> None:
        """Put the real functions back (main may run inside another program: the smoke test)."""
        series_plan.plan_checkpoints, series_plan.measure_costs = self._real


def fixed_part(site: Path) -> dict[str, int]:
    """A site's parts that do not depend on its sentences: the assets, the head pages and the
    corpus and series data; and its index data."""
    return {"assets": folder_bytes(site / "assets"), "heads": folder_bytes(site / "heads"),
            "corpus": sum((site / "data" / n).stat().st_size for n in ("_corpus.js", "_series.js")),
            "index": (site / "data" / "_index.js").stat().st_size
            + (site / "index.html").stat().st_size}


def main() -> None:
    """Build, measure and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sentences", type=int, default=1092)
    parser.add_argument("--checkpoints", type=int, default=5)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--percents", default="80,50,30",
                        help="the limits to build against, as percents of the whole site")
    args = parser.parse_args()
    quiet = logging.getLogger("pipeline")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # put back at the end, as the plan functions the spy wraps
    work = Path(tempfile.mkdtemp(prefix="atlas-series-site-"))
    spy = None
    try:
        series = build_series(work, args.sentences, args.checkpoints, args.layers, args.heads)
        get_vega_bundle(charts.vl_convert_version())
        spy = PlanSpy()
        full = build_series_site(series, work / "site-full", max_site_bytes=None, progress=False)
        fixed = fixed_part(work / "site-full")
        data = read_js_global(work / "site-full" / "data" / "_series.js", "atlasSeries")
        n_stats = len(data["measures"][0]["stats"])
        floor = sum(fixed.values())
        percents = [int(p) for p in args.percents.split(",") if p]
        limits = [("none", None)] + [(f"{p} %", full.bytes * p // 100) for p in percents]
        limits.append(("fixed + 5 %", int(floor * 1.02) + full.bytes // 20))
        print(f"{series.labels[-1]} of {len(series.labels)} checkpoints ({', '.join(series.labels)}), "
              f"{args.layers} x {args.heads} heads, {full.sentences:,} sentences of the bundled corpus; "
              f"{n_stats} statistics")
        print(f"{'limit':>12} {'bytes':>10} {'of limit':>8} {'pages':>6} {'target':>10}  sentence data")
        for name, limit in limits:
            try:
                summary = full if limit is None else build_series_site(
                    series, work / "site", max_site_bytes=limit, progress=False)
            except SiteError:  # below the fixed part: refused
                print(f"{format_size(limit):>12} {'refused: below the fixed part':>38}")
                continue
            plan = spy.plans[-1]
            assert limit is None or summary.bytes <= limit, (summary.bytes, limit)
            share = f"{summary.bytes / limit:.1%}" if limit else "-"
            got = ", ".join(series.labels[k] for k in plan.chosen)
            print(f"{name if limit is None else format_size(limit):>12} "
                  f"{format_size(summary.bytes):>10} {share:>8} {summary.with_pages:>6,} "
                  f"{plan.target:>10}  {len(plan.chosen)}/{len(series.labels)}: {got}")
        costs = spy.costs[0]
        scale = BIG_HEADS / (args.layers * args.heads)
        page = costs.page - costs.data[-1]  # a page and its index line
        data_bytes = statistics.mean(costs.data) * scale
        big_fixed = (fixed["assets"] + (fixed["heads"] + fixed["corpus"]) * scale
                     * BIG_CHECKPOINTS / len(series.labels)
                     + fixed["index"] * BIG_SENTENCES / full.sentences)
        exemplars = min(BIG_SENTENCES, 20 * BIG_HEADS * n_stats)
        firsts = min(BIG_SENTENCES, 2 * BIG_HEADS * n_stats)
        steps = [0] + [round(10 ** (k * 5 / (BIG_CHECKPOINTS - 2))) for k in range(BIG_CHECKPOINTS - 1)]
        big = series_plan.plan_checkpoints(
            steps, page_bytes=page + data_bytes, data_bytes=[data_bytes] * BIG_CHECKPOINTS,
            room=BIG_BUDGET - big_fixed, n_sentences=BIG_SENTENCES, n_firsts=firsts)
        print(f"\n{BIG_CHECKPOINTS} checkpoints (steps {steps[0]} to {steps[-1]:,}, log-spaced) x "
              f"{BIG_SENTENCES:,} sentences x 12 x 12 heads within {format_size(BIG_BUDGET)}, from "
              f"these sizes: a page {page / 1e3:.1f} kB, data {data_bytes / 1e3:.1f} kB a sentence "
              f"and checkpoint, fixed part {format_size(int(big_fixed))}; exemplars <= {exemplars:,}, "
              f"lists' firsts <= {firsts:,}")
        print(f"  statistics: all {BIG_CHECKPOINTS} checkpoints; sentence data: {len(big.chosen)} "
              f"(steps {', '.join(f'{steps[k]:,}' for k in big.chosen)}), sized for the {big.target}; "
              f"about {big.sentences:,} sentences with pages at {big.per_sentence / 1e3:.0f} kB each "
              f"(with the reference alone: "
              f"{int((BIG_BUDGET - big_fixed) // (page + data_bytes)):,})")
    finally:
        if spy is not None:
            spy.restore()
        quiet.setLevel(level)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
