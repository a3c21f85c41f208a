"""Site size benchmark: bytes per sentence against BertViz, and what fits in GitHub Pages' 1 GB.

    python bench/bench_size.py [--corpus data/sarah_pairs.jsonl] [--sample 50]

Measured in one run on this machine:
1. the embedded MiniLM (6 x 12) over the corpus: site bytes per sentence (all
   files, shared assets included) against BertViz's `model_view` standalone
   HTML for the same sentences and model (the first --sample sentences);
2. a 12-layer, 12-head GPT-2-shaped model with random weights over sentences
   of about 25 words (the corpus's pairs joined two by two): site bytes per
   sentence, and the number of such sentences that fit in 1 GB.
Values in the site are within 1/510 of the store (checked by the tests).
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
from pipeline.records import Sentence
from pipeline.site.build import build_site
from pipeline.sizes import folder_bytes
from pipeline.testing import make_gpt2
from pipeline.words import split_words

PAGES_LIMIT = 1_000_000_000  # GitHub Pages: published sites may be no larger than 1 GB


def bertviz_bytes(loaded, texts: list[str]) -> list[int]:
    """Bytes of BertViz's model_view standalone HTML (html_action='return'), one per sentence."""
    from bertviz import model_view

    sizes = []
    for text in texts:
        enc = loaded.tokenizer(text, return_tensors="pt")
        with torch.inference_mode():
            attention = loaded.model(**enc, output_attentions=True).attentions
        tokens = loaded.tokenizer.convert_ids_to_tokens(enc["input_ids"][0])
        html = model_view(attention, tokens, html_action="return")
        sizes.append(len(html.data.encode("utf-8")))
    return sizes


def gpt2_12x12(folder: Path, texts: list[str]) -> Path:
    """A GPT-2-shaped model of 12 layers x 12 heads with random weights (small width for
    speed) and a BPE tokenizer trained on the corpus (about one token per word)."""
    return make_gpt2(folder, n_layer=12, n_head=12, n_positions=256, n_embd=96, texts=texts,
                     vocab_size=8000)


def site_bytes(sentences: list[Sentence], loaded, work: Path, name: str) -> tuple[int, int, float]:
    """Extract and build; returns (site bytes, words, seconds to build)."""
    store, site = work / f"{name}.zarr", work / f"{name}-site"
    extract(sentences, store, loaded, progress=False)
    summary = build_site(store, site, progress=False)
    words = sum(len(s.words) for s in sentences)
    return folder_bytes(site), words, summary.seconds


def main() -> None:
    """Measure and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default=str(bundled_corpus_path()))
    parser.add_argument("--sample", type=int, default=50, help="sentences rendered by BertViz")
    args = parser.parse_args()
    sentences = read_corpus(args.corpus).sentences
    work = Path(tempfile.mkdtemp(prefix="atlas-size-"))
    try:
        minilm = load_model()
        total, words, _ = site_bytes(sentences, minilm, work, "minilm")
        per_sentence = total / len(sentences)
        sample = [s.text for s in sentences[: args.sample]]
        viz = bertviz_bytes(minilm, sample)
        viz_mean = sum(viz) / len(viz)
        n_tokens = [len(minilm.tokenizer(t)["input_ids"]) for t in sample]
        print(f"MiniLM 6x12, {len(sentences)} sentences, {words / len(sentences):.1f} words each")
        print(f"  atlas site             {per_sentence / 1024:8.1f} KiB per sentence (all files)")
        print(f"  BertViz model_view     {viz_mean / 1024:8.1f} KiB per sentence "
              f"(mean of {len(viz)}, {sum(n_tokens) / len(n_tokens):.1f} tokens each)")
        print(f"  atlas / BertViz        {per_sentence / viz_mean:8.4f}   (target <= 1/25 = 0.04)")

        # ~25-word sentences: the corpus's pairs joined two by two
        long = []
        for i in range(0, min(len(sentences), 1000) - 1, 2):
            text = sentences[i].text + " " + sentences[i + 1].text
            long.append(Sentence(id=f"joined-{i}", text=text, word_ranges=split_words(text)))
        gpt2 = load_model(str(gpt2_12x12(work / "gpt2", [s.text for s in sentences])))
        total, words, seconds = site_bytes(long, gpt2, work, "gpt2")
        per_sentence = total / len(long)
        print(f"\nrandom GPT-2-shaped 12x12, {len(long)} sentences, {words / len(long):.1f} words each")
        print(f"  atlas site             {per_sentence / 1024:8.1f} KiB per sentence (all files)")
        print(f"  site build             {len(long) / seconds:8.1f} sentences/s")
        print(f"  fit in GitHub Pages' 1 GB: {int(PAGES_LIMIT // per_sentence):,} sentences "
              "(target >= 10,000)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
