"""Eager attention's cost: the atlas's forward pass against the plain one, Llama-shaped 12 x 12.

    python bench/bench_eager.py [--sentences 256] [--repeat 3] [--device auto] [--dtype auto]

The atlas needs the attention probabilities, which SDPA and flash kernels never form, so it
runs every model with eager attention (pipeline/model/loading.py, use_exact_attention). This
measures what that costs on one model: a Llama-shaped 12 x 12 (width 768, 4 key-value heads:
grouped-query attention, MLP 3072) with random weights and a BPE tokenizer trained on the
corpus, the same sorted, padded batches of the bundled corpus through
1. the plain forward pass: SDPA, no attention returned (what the model costs anyway);
2. eager attention, every layer's probabilities returned (output_attentions=True);
3. the atlas's forward pass (pipeline/extract/forward.py, forward_codes): 2, quantized to
   8-bit codes on the device.
Rounds interleave the three and each figure is its best round, so a shared machine's noise
hits them alike. Prints the ratios; asserts nothing about time.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import torch

from pipeline.corpus import bundled_corpus_path, read_corpus
from pipeline.extract.encode import Encoded, encode
from pipeline.extract.forward import forward_codes
from pipeline.model.loading import load_model
from pipeline.testing.families import make_model

SHAPE = {"layers": 12, "heads": 12, "kv_heads": 4, "width": 768, "intermediate_size": 3072}


def padded(batch: list[Encoded], pad: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded input ids and attention mask (B, T), as the atlas pads."""
    t = max(e.n_tokens for e in batch)
    ids = torch.full((len(batch), t), pad, dtype=torch.long)
    mask = torch.zeros((len(batch), t), dtype=torch.long)
    for b, e in enumerate(batch):
        ids[b, : e.n_tokens] = torch.tensor(e.input_ids)
        mask[b, : e.n_tokens] = 1
    return ids.to(device), mask.to(device)


def timed(step, batches: list[list[Encoded]], device) -> float:
    """Seconds for step(batch) over every batch."""
    start = time.perf_counter()
    for batch in batches:
        step(batch)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def main() -> None:
    """Measure and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default=str(bundled_corpus_path()))
    parser.add_argument("--sentences", type=int, default=256, help="the corpus's first N")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--repeat", type=int, default=3, help="rounds; each figure is its best")
    args = parser.parse_args()

    corpus = read_corpus(args.corpus).sentences
    work = Path(tempfile.mkdtemp(prefix="atlas-bench-eager-"))
    try:
        folder = make_model("llama", work / "llama-12x12", positions=2048, vocab_size=8000,
                            texts=[s.text for s in corpus], **SHAPE)
        loaded = load_model(str(folder), device=args.device, dtype=args.dtype)
        from transformers import AutoModel

        plain = AutoModel.from_pretrained(folder, attn_implementation="sdpa",
                                          dtype=loaded.dtype).to(loaded.device).eval()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    encoded, _ = encode(corpus[: args.sentences], loaded.tokenizer, loaded.info["max_length"])
    ordered = sorted(encoded, key=lambda e: e.n_tokens)
    batches = [ordered[i:i + args.batch_size] for i in range(0, len(ordered), args.batch_size)]
    pad, device = loaded.tokenizer.pad_token_id, loaded.device

    def plain_step(batch):
        with torch.inference_mode():
            plain(*padded(batch, pad, device))

    def eager_step(batch):
        with torch.inference_mode():
            loaded.model(*padded(batch, pad, device), output_attentions=True)

    def atlas_step(batch):
        forward_codes(loaded, batch, ["attention"])

    steps = {"plain forward: SDPA, no attention": plain_step,
             "eager, every layer's attention returned": eager_step,
             "atlas forward: eager + 8-bit codes": atlas_step}
    timed(plain_step, batches[:1], device)  # warm-up
    timed(atlas_step, batches[:1], device)
    best = dict.fromkeys(steps, float("inf"))
    for _ in range(args.repeat):
        for name, step in steps.items():
            best[name] = min(best[name], timed(step, batches, device))
    n = len(encoded)
    tokens = sum(e.n_tokens for e in encoded) / n
    print(f"Llama-shaped {SHAPE['layers']} x {SHAPE['heads']} (width {SHAPE['width']}, "
          f"{SHAPE['kv_heads']} key-value heads, MLP {SHAPE['intermediate_size']}), random "
          f"weights; {n} sentences of {args.corpus} ({tokens:.1f} tokens each), batches of "
          f"{args.batch_size}; on {device} ({str(loaded.dtype).split('.')[-1]}), torch threads "
          f"{torch.get_num_threads()}; best of {args.repeat} interleaved rounds")
    base = best["plain forward: SDPA, no attention"]
    print(f"\n{'what':<44}{'sentences/s':>12}{'x plain':>10}")
    for name, seconds in best.items():
        print(f"{name:<44}{n / seconds:>12.1f}{seconds / base:>10.2f}")
    print(f"\nthe atlas's forward pass takes {best['atlas forward: eager + 8-bit codes'] / base:.2f} x "
          "the time of the plain SDPA forward pass")


if __name__ == "__main__":
    main()
