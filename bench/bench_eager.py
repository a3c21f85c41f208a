"""Eager attention's cost: the atlas's forward pass against the plain one, Llama-shaped 12 x 12.

    python bench/bench_eager.py [--sentences 256] [--repeat 3] [--threads N] [--device auto]

The atlas needs the attention probabilities, which SDPA and flash kernels never form, so it
runs every model with eager attention (pipeline/model/loading.py, use_exact_attention). This
measures what that costs on one model: a Llama-shaped 12 x 12 (width 768, 4 key-value heads:
grouped-query attention, MLP 3072) with random weights and a BPE tokenizer trained on the
corpus, the same sorted, padded batches through
1. the plain forward pass: SDPA, no attention returned (what the model costs anyway);
2. eager attention, every layer's probabilities returned (output_attentions=True);
3. the atlas's forward pass (pipeline/extract/forward.py, forward_codes): eager attention,
   each layer's turned into 8-bit codes on the device as the layer computes it;
for two kinds of input: the bundled corpus's utterances (short: the attention is a small
part of the work), and its words in 200-word passages (a few hundred tokens each).
Rounds interleave the three and each figure is its best round, so a shared machine's noise
hits them alike; the process's CPU time beside the wall clock. Prints the ratios; asserts
nothing about time.
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
from pipeline.extract.forward import forward_codes, right_padded
from pipeline.model.loading import load_model
from pipeline.records import Sentence
from pipeline.testing.families import make_model
from pipeline.words import split_words

PASSAGE_WORDS = 200  # the second case: the corpus's words in passages of this many
SHAPE = {"layers": 12, "heads": 12, "kv_heads": 4, "width": 768, "intermediate_size": 3072}


def padded(rows: list[tuple[int, ...]], pad: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded ids and their attention mask (B, T), as the atlas pads, on `device`."""
    ids, mask = right_padded(rows, pad)
    return ids.to(device), mask.to(device)


def timed(step, batches: list[list[Encoded]], device) -> tuple[float, float]:
    """Seconds for step(batch) over every batch: wall-clock, and this process's CPU time (less
    moved by other work on a shared machine)."""
    start, cpu = time.perf_counter(), time.process_time()
    for batch in batches:
        step(batch)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start, time.process_time() - cpu


def main() -> None:
    """Measure and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default=str(bundled_corpus_path()))
    parser.add_argument("--sentences", type=int, default=256, help="the corpus's first N")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--repeat", type=int, default=3, help="rounds; each figure is its best")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's own)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

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
    print(f"Llama-shaped {SHAPE['layers']} x {SHAPE['heads']} (width {SHAPE['width']}, "
          f"{SHAPE['kv_heads']} key-value heads, MLP {SHAPE['intermediate_size']}), random "
          f"weights; on {loaded.device} ({str(loaded.dtype).split('.')[-1]}), torch threads "
          f"{torch.get_num_threads()}; best of {args.repeat} interleaved rounds")
    utterances = corpus[: args.sentences]
    words = [w for s in corpus for w in s.text.split()]
    passages = [Sentence(f"p{i}", text, split_words(text)) for i, text in enumerate(
        " ".join(words[k:k + PASSAGE_WORDS]) for k in range(0, len(words), PASSAGE_WORDS))]
    for what, inputs, batch_size in (("utterances", utterances, args.batch_size),
                                     (f"{PASSAGE_WORDS}-word passages", passages[:32], 8)):
        encoded, _ = encode(inputs, loaded.tokenizer, loaded.info["max_length"])
        ordered = sorted(encoded, key=lambda e: e.n_tokens)
        batches = [ordered[i:i + batch_size] for i in range(0, len(ordered), batch_size)]
        best = compare(loaded, plain, batches, args.repeat)
        tokens = sum(e.n_tokens for e in encoded) / len(encoded)
        print(f"\n{len(encoded)} {what} of {Path(args.corpus).name} ({tokens:.1f} tokens each), "
              f"batches of {batch_size}")
        base_wall, base_cpu = best[PLAIN]
        print(f"{'what':<44}{'inputs/s':>10}{'x plain':>10}{'CPU s':>8}{'x plain':>10}")
        for name, (wall, cpu) in best.items():
            print(f"{name:<44}{len(encoded) / wall:>10.1f}{wall / base_wall:>10.2f}{cpu:>8.1f}"
                  f"{cpu / base_cpu:>10.2f}")
        wall, cpu = best[ATLAS]
        print(f"the atlas's forward pass takes {wall / base_wall:.2f} x the time of the plain "
              f"SDPA forward pass ({cpu / base_cpu:.2f} x its CPU time)")


PLAIN = "plain forward: SDPA, no attention"
EAGER = "eager, every layer's attention returned"
ATLAS = "atlas forward: eager + 8-bit codes"


def compare(loaded, plain, batches: list[list[Encoded]], repeat: int) -> dict:
    """Best (wall, CPU) seconds of each forward pass over the batches, interleaved rounds."""
    pad, device = loaded.tokenizer.pad_token_id, loaded.device

    def plain_step(batch):
        with torch.inference_mode():
            plain(*padded([e.input_ids for e in batch], pad, device))

    def eager_step(batch):
        with torch.inference_mode():
            loaded.model(*padded([e.input_ids for e in batch], pad, device), output_attentions=True)

    def atlas_step(batch):
        forward_codes(loaded, batch, ["attention"])

    steps = {PLAIN: plain_step, EAGER: eager_step, ATLAS: atlas_step}
    timed(plain_step, batches[:1], device)  # warm-up
    timed(atlas_step, batches[:1], device)
    best = dict.fromkeys(steps, (float("inf"), float("inf")))
    for _ in range(repeat):
        for name, step in steps.items():
            wall, cpu = timed(step, batches, device)
            best[name] = (min(best[name][0], wall), min(best[name][1], cpu))
    return best

if __name__ == "__main__":
    main()
