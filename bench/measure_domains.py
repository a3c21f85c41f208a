"""Colour domains: how much of each measure's word maps lies above its colour bar's domain.

    python bench/measure_domains.py [--corpus data/sarah_pairs.jsonl] [--device auto]

The bundled corpus is extracted through the embedded MiniLM (6 x 12; attention, rollout, norm)
and through a GPT-2-shaped causal LM with random weights (6 x 12, width 384, a BPE tokenizer
trained on the corpus; attention, rollout, norm, grad). For every measure it prints, over the
word-level maps the sentence pages draw (every cell of every head's W x W map; a causal model's
upper triangle, always 0, left out), the share of cells above each candidate domain's top and the
cells' 99th and 99.9th percentiles (for the GPT-2 also without each map's first three rows, which a
causal model fills by construction: word 1 can attend only to itself): what pipeline/measures.py's `domain=` was chosen from (docs/site.md, "Colour
domains"). Asserts nothing.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

import numpy as np

from pipeline.corpus import bundled_corpus_path, read_corpus
from pipeline.extract.run import extract
from pipeline.measures import get_measure
from pipeline.model.loading import load_model
from pipeline.store import AtlasStore
from pipeline.testing import make_gpt2

TOPS = (0.3, 0.4, 0.5, 0.6, 0.8, 1.0)
EPS = 1e-3  # a word's map sums its tokens' float32 values: 1 may come out as 1.0000001


def cells(store: Path, measure: str, causal: bool, skip: int = 0) -> np.ndarray:
    """Every drawn cell of the measure's word maps (float32), the first `skip` rows left out."""
    values = []
    for rec in AtlasStore.open(store):
        maps, _ = rec.word_maps(measure)  # (L, H, W, W)
        W = maps.shape[-1]
        keep = np.tril(np.ones((W, W), bool)) if causal else np.ones((W, W), bool)
        keep[:skip] = False
        values.append(maps[..., keep].reshape(-1))
    return np.concatenate(values)


def report(model: str, store: Path, measures: list[str], causal: bool, skip: int = 0) -> None:
    """One table row per measure."""
    for measure in measures:
        v = cells(store, measure, causal, skip)
        above = "".join(f"{100 * (v > t + EPS).mean():>7.2f}" for t in TOPS)
        q99, q999 = np.quantile(v, [0.99, 0.999])
        print(f"{model:<16}{measure:<10}{get_measure(measure).domain[1]:>6}{above}"
              f"{q99:>8.3f}{q999:>8.3f}")


def main() -> None:
    """Extract, measure, print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default=str(bundled_corpus_path()))
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    sentences = read_corpus(args.corpus).sentences
    work = Path(tempfile.mkdtemp(prefix="atlas-domains-"))
    try:
        extract(sentences, work / "minilm", load_model(device=args.device), progress=False,
                measures="attention,rollout,norm")
        folder = make_gpt2(work / "gpt2", n_layer=6, n_head=12, n_embd=384, n_positions=512,
                           texts=[s.text for s in sentences], vocab_size=8000)
        gpt2 = load_model(str(folder), device=args.device, causal_lm=True)
        extract(sentences, work / "gpt2.zarr", gpt2, progress=False,
                measures="attention,rollout,norm,grad")
        tops = "".join(f"{'>' + str(t):>7}" for t in TOPS)
        print(f"{len(sentences)} sentences: % of the cells above each top; the cells' quantiles")
        print(f"{'model':<16}{'measure':<10}{'domain':>6}{tops}{'q99':>8}{'q99.9':>8}")
        report("MiniLM", work / "minilm", ["attention", "rollout", "norm"], causal=False)
        gpt2_measures = ["attention", "rollout", "norm", "grad"]
        report("GPT-2 random", work / "gpt2.zarr", gpt2_measures, causal=True)
        # a causal model's first rows are 1 (word 1 can attend only to itself), then 1/2...
        report("GPT-2, rows 4+", work / "gpt2.zarr", gpt2_measures, causal=True, skip=3)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
