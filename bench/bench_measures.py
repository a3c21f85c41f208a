"""Measures benchmark: each measure's extraction cost beside attention alone, and its store bytes.

    python bench/bench_measures.py [--corpus data/sarah_pairs.jsonl] [--repeat 3]

In one run, on this machine, the bundled corpus is extracted into fresh stores:
1. through the embedded MiniLM (6 x 12): `attention` alone, then `attention` with
   `rollout`, and with `norm`;
2. through a GPT-2-shaped causal LM with random weights (6 x 12, width 384: MiniLM's
   size; a BPE tokenizer trained on the corpus): `attention` alone, and with `grad`
   (the embedded model has no language-model head).
Rounds interleave the runs and each figure is its best round, so a shared machine's
noise hits them alike. Targets (issue 10): rollout adds <= 5 %, norm <= 30 %, grad
<= 3.5 x attention alone. Store bytes are each measure's folder on disk
(measures/<name>/: compressed codes and its per-row index) per sentence.
Asserts nothing about time.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

import torch

from pipeline.corpus import bundled_corpus_path, read_corpus
from pipeline.extract.run import extract
from pipeline.model.loading import load_model
from pipeline.sizes import folder_bytes
from pipeline.testing import make_gpt2

TARGETS = {"rollout": 1.05, "norm": 1.30, "grad": 3.5}


def timed(sentences, loaded, measures: str, work: Path, name: str) -> tuple[float, Path]:
    """Seconds of one extraction into a fresh store, and the store."""
    store = work / name
    shutil.rmtree(store, ignore_errors=True)
    summary = extract(sentences, store, loaded, progress=False, measures=measures)
    return summary.seconds, store


def compare(sentences, loaded, runs: dict[str, str], repeat: int, work: Path
            ) -> tuple[dict[str, float], dict[str, Path]]:
    """Best seconds of each run (name -> measures), interleaved over `repeat` rounds."""
    best, stores = dict.fromkeys(runs, float("inf")), {}
    timed(sentences[:64], loaded, "attention", work, "warm-up")
    for _ in range(repeat):
        for name, measures in runs.items():
            seconds, stores[name] = timed(sentences, loaded, measures, work, name)
            best[name] = min(best[name], seconds)
    return best, stores


def measure_bytes(store: Path, n: int) -> dict[str, float]:
    """Bytes on disk per sentence of each measure in a store."""
    return {m.name: folder_bytes(m) / n for m in sorted((store / "measures").iterdir()) if m.is_dir()}


def main() -> None:
    """Measure and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default=str(bundled_corpus_path()))
    parser.add_argument("--device", default="auto")
    parser.add_argument("--repeat", type=int, default=3, help="rounds; each figure is its best")
    args = parser.parse_args()

    sentences = read_corpus(args.corpus).sentences
    n = len(sentences)
    work = Path(tempfile.mkdtemp(prefix="atlas-bench-measures-"))
    try:
        minilm = load_model(device=args.device)
        print(f"corpus {args.corpus}: {n} sentences; on {minilm.device}, "
              f"torch threads {torch.get_num_threads()}")
        runs = {"attention": "attention", "rollout": "attention,rollout",
                "norm": "attention,norm", "all": "attention,rollout,norm"}
        best, stores = compare(sentences, minilm, runs, args.repeat, work)
        sizes = measure_bytes(stores["all"], n)

        folder = make_gpt2(work / "gpt2", n_layer=6, n_head=12, n_embd=384, n_positions=512,
                           texts=[s.text for s in sentences], vocab_size=8000)
        gpt2 = load_model(str(folder), device=args.device, causal_lm=True)
        runs_lm = {"attention": "attention", "grad": "attention,grad"}
        best_lm, stores_lm = compare(sentences, gpt2, runs_lm, args.repeat, work)
        sizes_lm = measure_bytes(stores_lm["grad"], n)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(f"\n{'model, measures':<44}{'sentences/s':>12}{'x attention':>13}{'target':>9}")
    rows = [("MiniLM 6x12", best, ("attention", "rollout", "norm", "all")),
            ("random GPT-2 6x12 (LM head)", best_lm, ("attention", "grad"))]
    for model, times, names in rows:
        for name in names:
            label = "attention" if name == "attention" else (
                "attention + rollout + norm" if name == "all" else f"attention + {name}")
            target = f"<= {TARGETS[name]:.2f}" if name in TARGETS else ""
            print(f"{model + ', ' + label:<44}{n / times[name]:>12.1f}"
                  f"{times[name] / times['attention']:>13.2f}{target:>9}")
    print("\nstore bytes per sentence, by measure (compressed codes + index)")
    for name, size in {**sizes, **{f"{k} (GPT-2)": v for k, v in sizes_lm.items()}}.items():
        print(f"  {name:<20}{size / 1024:8.1f} KiB")


if __name__ == "__main__":
    main()
