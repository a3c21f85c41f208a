"""Site size benchmark: bytes per sentence against BertViz, and what fits in GitHub Pages' 1 GB.

    python bench/bench_size.py [--corpus data/sarah_pairs.jsonl] [--sample 50]

Measured in one run on this machine:
1. the embedded MiniLM (6 x 12) over the corpus: site bytes per sentence (all
   files, shared assets included) against BertViz's `model_view` standalone
   HTML for the same sentences and model: --sample sentences spread evenly over
   the corpus, each costing its page, its data script and its line in the index,
   plus its share of the rest of the site (assets, index page: the site's other
   bytes over its sentences); and, as before, the site's mean over every sentence
   against BertViz's mean over the sample;
2. a 12-layer, 12-head GPT-2-shaped model with random weights over sentences
   of about 25 words (the corpus's pairs joined two by two): site bytes per
   sentence, the number of such sentences that fit in 1 GB, and the same
   comparison with BertViz on 10 of them.
Values in the site are within 1/510 of the store (checked by the tests).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import torch

from pipeline.corpus import bundled_corpus_path, read_corpus
from pipeline.extract.run import extract
from pipeline.model.loading import load_model
from pipeline.records import Sentence
from pipeline.site.build import build_site
from pipeline.site.contexts import get_page_names
from pipeline.site.index_data import get_index_row
from pipeline.site.pages import index_row_bytes
from pipeline.sizes import folder_bytes
from pipeline.store import AtlasStore
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


def spread(n: int, k: int) -> list[int]:
    """k positions spread evenly over n (all of them when k >= n)."""
    return sorted({round(i * (n - 1) / max(1, k - 1)) for i in range(min(k, n))})


def gpt2_12x12(folder: Path, texts: list[str]) -> Path:
    """A GPT-2-shaped model of 12 layers x 12 heads with random weights (small width for
    speed) and a BPE tokenizer trained on the corpus (about one token per word)."""
    return make_gpt2(folder, n_layer=12, n_head=12, n_positions=256, n_embd=96, texts=texts,
                     vocab_size=8000)


def site_bytes(sentences: list[Sentence], loaded, work: Path, name: str
               ) -> tuple[int, int, float, Callable[[list[int]], float]]:
    """Extract and build; returns (site bytes, words, seconds to build, and what the sentences
    at given positions cost on average: their own files and index lines, and the share of
    one sentence of the rest)."""
    store, site = work / f"{name}.zarr", work / f"{name}-site"
    extract(sentences, store, loaded, progress=False)
    summary = build_site(store, site, progress=False)
    words = sum(len(s.words) for s in sentences)
    names = get_page_names([s.id for s in sentences])
    lines = index_row_bytes([get_index_row(rec, n) for rec, n in zip(AtlasStore.open(store), names,
                                                                        strict=True)])
    own = [(site / "sentences" / f"{n}.html").stat().st_size
           + sum(p.stat().st_size for p in (site / "data").glob(f"{n}.*")) + line
           for n, line in zip(names, lines, strict=True)]
    total = folder_bytes(site)
    shared = (total - sum(own)) / len(own)  # assets, index page, the index's frame

    def cost(positions: list[int]) -> float:
        return sum(own[i] for i in positions) / len(positions) + shared

    return total, words, summary.seconds, cost


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
        total, words, _, cost = site_bytes(sentences, minilm, work, "minilm")
        per_sentence = total / len(sentences)
        picked = spread(len(sentences), args.sample)
        sample = [sentences[i].text for i in picked]
        viz = bertviz_bytes(minilm, sample)
        viz_mean = sum(viz) / len(viz)
        n_tokens = [len(minilm.tokenizer(t)["input_ids"]) for t in sample]
        n_words = sum(len(sentences[i].words) for i in picked) / len(picked)
        print(f"MiniLM 6x12, {len(sentences)} sentences, {words / len(sentences):.1f} words each")
        print(f"  atlas site             {per_sentence / 1024:8.1f} KiB per sentence (all files)")
        print(f"  BertViz model_view     {viz_mean / 1024:8.1f} KiB per sentence (mean of {len(viz)} "
              f"spread over the corpus, {n_words:.1f} words, {sum(n_tokens) / len(n_tokens):.1f} tokens)")
        print(f"  atlas, same sentences  {cost(picked) / 1024:8.1f} KiB per sentence (its files, its "
              "index line, its share of the rest)")
        print(f"  atlas / BertViz        {cost(picked) / viz_mean:8.4f}   (same sentences; target <= 0.01)")
        print(f"  site mean / BertViz    {per_sentence / viz_mean:8.4f}   (every sentence's mean)")

        # ~25-word sentences: the corpus's pairs joined two by two
        long = []
        for i in range(0, min(len(sentences), 1000) - 1, 2):
            text = sentences[i].text + " " + sentences[i + 1].text
            long.append(Sentence(id=f"joined-{i}", text=text, word_ranges=split_words(text)))
        gpt2 = load_model(str(gpt2_12x12(work / "gpt2", [s.text for s in sentences])))
        total, words, seconds, cost = site_bytes(long, gpt2, work, "gpt2")
        per_sentence = total / len(long)
        picked = spread(len(long), 10)
        viz = bertviz_bytes(gpt2, [long[i].text for i in picked])
        print(f"\nrandom GPT-2-shaped 12x12, {len(long)} sentences, {words / len(long):.1f} words each")
        print(f"  atlas site             {per_sentence / 1024:8.1f} KiB per sentence (all files)")
        print(f"  site build             {len(long) / seconds:8.1f} sentences/s")
        print(f"  fit in GitHub Pages' 1 GB: {int(PAGES_LIMIT // per_sentence):,} sentences "
              "(target >= 50,000)")
        print(f"  BertViz model_view     {sum(viz) / len(viz) / 1024:8.1f} KiB per sentence (mean of "
              f"{len(viz)}); atlas, same sentences {cost(picked) / 1024:.1f} KiB: "
              f"{cost(picked) / (sum(viz) / len(viz)):.4f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
