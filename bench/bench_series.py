"""Series benchmark: adding the C-th checkpoint costs one extraction and its statistics, not C.

    python bench/bench_series.py [--counts 1,5,10] [--sentences 0] [--layers 12] [--heads 12]
                                 [--embd 192] [--quick]

Saves --counts' largest number of random GPT-2 checkpoints, all of one size (12 x 12
heads, narrow, as the worked example's; a byte-level BPE trained on the corpus, as
pipeline.testing.make_gpt2 makes them), into a temporary folder. For each C: the series holds checkpoints 1 .. C-1, computed
(untimed), checkpoint C appears, and `attention-atlas extract --checkpoints DIR`
then `attention-atlas stats --checkpoints DIR` are timed (the nightly run's work;
the series site is measured by bench_budget.py); beside it, a one-model
`extract` + `stats` of checkpoint C into a fresh store. Both run in this process
through the CLI (torch imported once, by an untimed warm-up). Prints each C's times,
their ratio (target: about 1, whatever C: not C), what the series run computed per
store (C - 1 stores reused, one computed), and a rerun with nothing new: what checking
the C stores costs (reading the corpus once, each store's "is everything stored?" and
its statistics' means), the part of the ratio above 1.

--quick (or ATLAS_BENCH_QUICK=1): 20 sentences, C = 1 and 2, a 2-layer model: the
smoke test of tests/integration/test_bench_scripts.py.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import tempfile
import time
from pathlib import Path

SUMMARY = re.compile(r"^extract: \d+ sentences in the store: (\d+) computed .*?, (\d+) reused", re.M)


def cli(*args: str) -> str:
    """One CLI command in this process; its output (the summaries)."""
    from click.testing import CliRunner

    from pipeline.cli import main

    result = CliRunner().invoke(main, ["-q", *args])
    if result.exit_code:
        raise SystemExit(f"attention-atlas {' '.join(args)} failed ({result.exit_code}):\n"
                         f"{result.output}{result.exception!r}")
    return result.output


def timed(*commands: tuple[str, ...]) -> tuple[float, str]:
    """Seconds the commands took together, and their output."""
    started, output = time.perf_counter(), ""
    for command in commands:
        output += cli(*command)
    return time.perf_counter() - started, output


def make_checkpoints(pool: Path, n: int, corpus: list[str], args) -> list[Path]:
    """n random GPT-2 checkpoints of one size (seeds 1..n), one tokenizer trained on the corpus."""
    from pipeline.testing import make_gpt2

    return [make_gpt2(pool / f"model-{k}", n_layer=args.layers, n_head=args.heads,
                      n_embd=args.embd, n_positions=256, texts=corpus, vocab_size=2000, seed=k)
            for k in range(1, n + 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--counts", default="1,5,10", help="the C to measure, comma-separated")
    parser.add_argument("--sentences", type=int, default=0, help="first N of the corpus (0: all)")
    parser.add_argument("--layers", type=int, default=12)
    parser.add_argument("--heads", type=int, default=12)
    parser.add_argument("--embd", type=int, default=192)
    parser.add_argument("--quick", action="store_true", help="a smoke test: seconds")
    args = parser.parse_args()
    if args.quick or os.environ.get("ATLAS_BENCH_QUICK") == "1":
        args.counts, args.sentences, args.layers, args.heads, args.embd = "1,2", 20, 2, 2, 16
    counts = sorted({int(c) for c in args.counts.split(",")})

    from pipeline.corpus import bundled_corpus_path

    lines = bundled_corpus_path().read_text(encoding="utf-8").splitlines()
    lines = lines[:args.sentences] if args.sentences else lines
    texts = [json.loads(line)["text"] for line in lines]
    with tempfile.TemporaryDirectory(prefix="bench-series-") as tmp:
        root = Path(tmp)
        corpus = root / "corpus.jsonl"
        corpus.write_text("\n".join(lines) + "\n", encoding="utf-8")
        models = make_checkpoints(root / "pool", counts[-1], texts, args)
        series = root / "training"
        series.mkdir()
        common = ("--corpus", str(corpus), "--device", "cpu")
        print(f"bench_series: {len(lines)} sentences, checkpoints of {args.layers} layers x "
              f"{args.heads} heads (n_embd {args.embd}), extract + stats, on this machine's CPU")
        cli("extract", "--corpus", str(corpus), "--device", "cpu", "--model",  # warm-up
            str(models[0]), "--out", str(root / "warm-up"))
        print(f"  {'C':>3}  {'series run':>10}  {'one model':>10}  {'ratio':>6}  {'rerun':>7}  "
              "computed per store")
        present = 0
        for c in counts:
            for k in range(present + 1, c):  # checkpoints 1 .. C-1, computed before (untimed)
                (series / f"checkpoint-{k}").symlink_to(models[k - 1])
            if c - 1 > present:
                cli("extract", *common, "--checkpoints", str(series), "--out", str(root / "out"))
                cli("stats", "--checkpoints", str(series), "--out", str(root / "out"))
            (series / f"checkpoint-{c}").symlink_to(models[c - 1])  # checkpoint C appears
            present = c
            one, _ = timed(  # first: the series run is not the one that warms caches up
                ("extract", *common, "--model", str(models[c - 1]), "--out", str(root / f"one-{c}")),
                ("stats", "--out", str(root / f"one-{c}")))
            seconds, output = timed(
                ("extract", *common, "--checkpoints", str(series), "--out", str(root / "out")),
                ("stats", "--checkpoints", str(series), "--out", str(root / "out")))
            rerun, _ = timed(
                ("extract", *common, "--checkpoints", str(series), "--out", str(root / "out")),
                ("stats", "--checkpoints", str(series), "--out", str(root / "out")))
            per_store = [int(m.group(1)) for m in SUMMARY.finditer(output)]
            reused = sum(1 for n in per_store if n == 0)
            print(f"  {c:>3}  {seconds:>9.2f}s  {one:>9.2f}s  {seconds / one:>6.2f}  {rerun:>6.2f}s  "
                  f"{per_store[-1]} in the new store, {reused} of {c - 1} others reused")


if __name__ == "__main__":
    main()
