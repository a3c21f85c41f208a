"""The GPU benchmark: extraction in float32, float16 and bfloat16 on a CUDA GPU, each dtype's
speed and its codes' distance from float32's. Without a CUDA GPU it says so and does nothing.

    python bench/bench_gpu.py [--sentences 1092] [--measures attention,rollout,norm,grad]

The model: a Llama-shaped 12 x 12 (width 768, 4 key-value heads, MLP 3072) with random
weights and a BPE tokenizer trained on the corpus; the bundled corpus's first --sentences
through it into a fresh store per dtype (after a warm-up). Printed per dtype: sentences/s
and, per measure, the most a code differs from float32's (in code steps: 1 step = 1/255;
half a step, 1/510, is what a code rounds), the share of codes equal to float32's and the
mean difference in 1/510. tests/integration/test_half_precision.py asserts the bounds on
tiny models. Asserts nothing itself.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

import numpy as np
import torch

from pipeline.corpus import bundled_corpus_path, read_corpus
from pipeline.extract.run import extract
from pipeline.measures import parse_measures
from pipeline.model.loading import load_model
from pipeline.store import AtlasStore
from pipeline.testing.families import make_model

SHAPE = {"layers": 12, "heads": 12, "kv_heads": 4, "width": 768, "intermediate_size": 3072}
DTYPES = ("float32", "float16", "bfloat16")


def distance(full: AtlasStore, half: AtlasStore, measure: str) -> tuple[int, float, float]:
    """Over every sentence: the largest |code difference|, the share of equal codes, the mean
    |difference| in 1/510."""
    worst, equal, total, summed = 0, 0, 0, 0.0
    for rec in full:
        diff = np.abs(half[rec.id].codes(measure).astype(np.int16) - rec.codes(measure))
        worst = max(worst, int(diff.max()))
        equal += int((diff == 0).sum())
        summed += float(diff.sum())
        total += diff.size
    return worst, equal / total, 2 * summed / total


def main() -> None:
    """Measure and print the table, or say that there is no GPU."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default=str(bundled_corpus_path()))
    parser.add_argument("--sentences", type=int, default=1092)
    parser.add_argument("--measures", default="attention,rollout,norm,grad")
    parser.add_argument("--device", default="cuda")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("bench_gpu: no CUDA GPU here (torch.cuda.is_available() is False): nothing measured")
        return
    measures = parse_measures(args.measures)
    corpus = read_corpus(args.corpus).sentences
    sentences = corpus[: args.sentences]
    work = Path(tempfile.mkdtemp(prefix="atlas-bench-gpu-"))
    try:
        folder = make_model("llama", work / "llama-12x12", positions=2048, vocab_size=8000,
                            texts=[s.text for s in corpus], **SHAPE)
        stores, rates = {}, {}
        for dtype in DTYPES:
            loaded = load_model(str(folder), device=args.device, dtype=dtype,
                                causal_lm="grad" in measures)
            extract(sentences[:64], work / f"warm-{dtype}", loaded, progress=False,
                    measures=measures)
            summary = extract(sentences, work / dtype, loaded, progress=False, measures=measures)
            rates[dtype] = summary.computed / summary.seconds
            stores[dtype] = AtlasStore.open(work / dtype)
            del loaded
            torch.cuda.empty_cache()
        print(f"Llama-shaped {SHAPE['layers']} x {SHAPE['heads']} (width {SHAPE['width']}, "
              f"{SHAPE['kv_heads']} key-value heads), random weights; {len(sentences)} sentences "
              f"of {args.corpus}; on {torch.cuda.get_device_name(args.device)}")
        print(f"\n{'dtype':<10}{'sentences/s':>12}  {'measure':<10}{'worst steps':>12}"
              f"{'equal codes':>13}{'mean /510':>11}")
        for dtype in DTYPES:
            for k, measure in enumerate(measures):
                rate = f"{rates[dtype]:>12.1f}" if k == 0 else " " * 12
                if dtype == "float32":
                    print(f"{dtype if k == 0 else '':<10}{rate}  {measure:<10}{'(reference)':>12}")
                    continue
                worst, equal, mean = distance(stores["float32"], stores[dtype], measure)
                print(f"{dtype if k == 0 else '':<10}{rate}  {measure:<10}{worst:>12}"
                      f"{equal:>12.2%}{mean:>11.3f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
