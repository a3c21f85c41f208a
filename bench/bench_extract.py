"""Extraction benchmark: the pipeline against the ceiling and the naive loop, in one run.

    python bench/bench_extract.py [--corpus data/sarah_pairs.jsonl] [--model PATH] [--device auto]

Prints figures and ratios measured side by side on this machine; asserts nothing
about time. The ceiling is a plain batched forward pass (SDPA, no attention
output, sorted by length, batch 64); the naive loop is what people write by hand
(one sentence at a time, output_attentions=True, one .npy file per sentence).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from pipeline.corpus import bundled_corpus_path, read_corpus
from pipeline.extract.run import extract
from pipeline.model.identity import default_model_path
from pipeline.model.loading import load_model
from pipeline.sizes import folder_bytes
from pipeline.testing import make_gpt2


def ceiling(model, tokenizer, texts: list[str], device, batch_size: int = 64) -> float:
    """Seconds for plain batched forward passes without attention output."""
    order = sorted(texts, key=lambda t: len(tokenizer(t)["input_ids"]))
    start = time.perf_counter()
    with torch.inference_mode():
        for i in range(0, len(order), batch_size):
            enc = tokenizer(order[i:i + batch_size], padding=True, truncation=True,
                            return_tensors="pt").to(device)
            model(**enc)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def naive(model, tokenizer, texts: list[str], device, out: Path) -> float:
    """Seconds for a per-sentence loop with output_attentions=True, one .npy per sentence."""
    start = time.perf_counter()
    with torch.inference_mode():
        for i, text in enumerate(texts):
            enc = tokenizer(text, truncation=True, return_tensors="pt").to(device)
            att = model(**enc, output_attentions=True).attentions
            np.save(out / f"{i}.npy", torch.stack(att, 1)[0].float().cpu().numpy())
    return time.perf_counter() - start


def main() -> None:
    """Measure and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default=str(bundled_corpus_path()))
    parser.add_argument("--model", default=None, help="HF id or folder (default: embedded MiniLM)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--repeat", type=int, default=3, help="rounds; each figure is its best")
    parser.add_argument("--random-gpt2", action="store_true",
                        help="a GPT-2-size model (12 layers x 12 heads, width 768) with random "
                             "weights and a BPE tokenizer trained on the corpus, instead of --model")
    args = parser.parse_args()

    report = read_corpus(args.corpus)
    texts = [s.text for s in report.sentences]
    if args.random_gpt2:
        args.model = str(make_gpt2(Path(tempfile.mkdtemp(prefix="atlas-gpt2-")), n_layer=12,
                                   n_head=12, n_embd=768, n_positions=1024, texts=texts,
                                   vocab_size=8000))
    loaded = load_model(args.model, device=args.device, dtype=args.dtype)
    from transformers import AutoModel

    source = args.model or str(default_model_path())
    sdpa = AutoModel.from_pretrained(source, attn_implementation="sdpa",
                                     dtype=loaded.dtype).to(loaded.device).eval()
    tok, dev = loaded.tokenizer, loaded.device
    print(f"corpus {args.corpus}: {len(texts)} sentences; model {loaded.info['name']} "
          f"({loaded.info['n_layers']}x{loaded.info['n_heads']}) on {dev}, "
          f"torch threads {torch.get_num_threads()}")
    ceiling(sdpa, tok, texts[:64], dev)  # warm-up
    # Rounds interleave the three, and each keeps its best round: a shared machine's
    # noise then hits them alike instead of whichever happened to run during it.
    t_ceiling = t_pipeline = t_naive = float("inf")
    work = Path(tempfile.mkdtemp(prefix="atlas-bench-"))
    try:
        for i in range(args.repeat):
            t_ceiling = min(t_ceiling, ceiling(sdpa, tok, texts, dev))
            summary = extract(report.sentences, work / f"store{i}", loaded, progress=False)
            t_pipeline = min(t_pipeline, summary.seconds)
            store_bytes = folder_bytes(work / f"store{i}")
            shutil.rmtree(work / "npy", ignore_errors=True)
            (work / "npy").mkdir()
            t_naive = min(t_naive, naive(loaded.model, tok, texts, dev, work / "npy"))
            npy_bytes = folder_bytes(work / "npy")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    lengths = [len(tok(t, truncation=True)["input_ids"]) for t in texts]
    layers_heads = loaded.info["n_layers"] * loaded.info["n_heads"]
    raw = sum(layers_heads * t * t * 4 for t in lengths)
    n = len(texts)
    rows = [
        ("ceiling: batched forward, SDPA, no attention", n / t_ceiling),
        ("naive: per-sentence loop, one .npy each", n / t_naive),
        ("attention-atlas extract", n / t_pipeline),
    ]
    print(f"\n{'what':<48}{'sentences/s':>12}")
    for name, rate in rows:
        print(f"{name:<48}{rate:>12.1f}")
    print(f"\npipeline / ceiling      {t_ceiling / t_pipeline:6.2f}   (target >= 0.8)")
    print(f"pipeline / naive        {t_naive / t_pipeline:6.2f}   (target >= 8)")
    print(f"ceiling / naive         {t_naive / t_ceiling:6.2f}")
    print(f"raw float32 attention   {raw / n / 1024:8.1f} KiB per sentence")
    print(f"naive .npy files        {npy_bytes / n / 1024:8.1f} KiB per sentence")
    print(f"store                   {store_bytes / n / 1024:8.1f} KiB per sentence")
    print(f"store / raw float32     {store_bytes / raw:6.3f}   (target <= 0.15)")


if __name__ == "__main__":
    main()
