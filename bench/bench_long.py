"""A long input: one 1,000-word document through a 12 x 12 model, its peak memory beside the
batch memory budget.

    python bench/bench_long.py [--words 1000] [--measures attention] [--device auto]

The document is the bundled corpus's utterances joined until it has --words words; the
model a Llama-shaped 12 x 12 (width 768, 4 key-value heads) with random weights, 2,048
positions (more than the document's tokens) and a BPE tokenizer trained on the corpus.
Extraction plans its batches under ATTENTION_BUDGET (pipeline/extract/batches.py: the
float32 attention of all layers a batch may hold); a sentence whose attention alone is
larger is a batch of its own. Printed: the tokens, the document's float32 attention, the
budget, the batches planned, and the process's peak resident memory during extraction above
what it held with the model loaded (Linux: VmHWM, reset through /proc/self/clear_refs).
Asserts nothing about time or memory.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import torch

from pipeline.corpus import bundled_corpus_path, read_corpus
from pipeline.extract.batches import ATTENTION_BUDGET, plan_batches
from pipeline.extract.encode import encode
from pipeline.extract.run import extract
from pipeline.model.loading import load_model
from pipeline.records import Sentence
from pipeline.sizes import folder_bytes
from pipeline.store import AtlasStore
from pipeline.testing.families import make_model
from pipeline.words import split_words

SHAPE = {"layers": 12, "heads": 12, "kv_heads": 4, "width": 768, "intermediate_size": 3072}
MiB = 1 << 20


def memory(field: str) -> int:
    """This process's VmRSS or VmHWM (peak) in bytes, from /proc/self/status."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def reset_peak() -> bool:
    """Reset VmHWM to the current resident size (Linux >= 4.0); False where it cannot."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def document(corpus: list[Sentence], n_words: int) -> Sentence:
    """The corpus's utterances joined until n_words words, cut there."""
    text, words = [], 0
    for s in corpus:
        text.append(s.text)
        words += len(s.word_ranges)
        if words >= n_words:
            break
    joined = " ".join(text)
    ranges = split_words(joined)[:n_words]
    joined = joined[: ranges[-1][1]]
    return Sentence("document", joined, split_words(joined))


def main() -> None:
    """Measure and print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default=str(bundled_corpus_path()))
    parser.add_argument("--words", type=int, default=1000)
    parser.add_argument("--measures", default="attention")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtype", default="auto")
    args = parser.parse_args()

    corpus = read_corpus(args.corpus).sentences
    doc = document(corpus, args.words)
    work = Path(tempfile.mkdtemp(prefix="atlas-bench-long-"))
    try:
        folder = make_model("llama", work / "llama-12x12", positions=2048, vocab_size=8000,
                            texts=[s.text for s in corpus], **SHAPE)
        loaded = load_model(str(folder), device=args.device, dtype=args.dtype)
        encoded, _ = encode([doc], loaded.tokenizer, loaded.info["max_length"])
        t = encoded[0].n_tokens
        n_layers, n_heads = loaded.info["n_layers"], loaded.info["n_heads"]
        batches = plan_batches(encoded, 64, n_layers, n_heads)
        attention = n_layers * n_heads * t * t * 4
        if loaded.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(loaded.device)
        resident, exact = memory("VmRSS"), reset_peak()
        started = time.perf_counter()
        summary = extract([doc], work / "atlas.zarr", loaded, progress=False,
                          measures=args.measures)
        seconds = time.perf_counter() - started
        peak = memory("VmHWM")
        truncated = AtlasStore.open(work / "atlas.zarr")["document"].truncated
        store_bytes = folder_bytes(work / "atlas.zarr")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"a {len(doc.word_ranges):,}-word document ({len(doc.text):,} characters) through a "
          f"Llama-shaped {n_layers} x {n_heads} (width {SHAPE['width']}, random weights, "
          f"{loaded.info['max_length']:,} positions) on {loaded.device} "
          f"({str(loaded.dtype).split('.')[-1]}), measures {args.measures}")
    print(f"  tokens                          {t:>10,}  (truncated: {truncated}; "
          f"{summary.truncated} truncated in the summary)")
    print(f"  its float32 attention           {attention / MiB:>10,.0f} MiB  "
          f"({n_layers} x {n_heads} x {t:,} x {t:,} x 4 bytes)")
    print(f"  the batch budget                {ATTENTION_BUDGET / MiB:>10,.0f} MiB  "
          f"(ATTENTION_BUDGET; {len(batches)} batch of {len(batches[0])} planned)")
    what = "peak, extracting" if exact else "peak of the run (no clear_refs)"
    print(f"  resident with the model loaded  {resident / MiB:>10,.0f} MiB")
    print(f"  {what:<32}{peak / MiB:>10,.0f} MiB  "
          f"(+{(peak - resident) / MiB:,.0f} MiB: {(peak - resident) / attention:.2f} x its "
          "float32 attention)")
    if loaded.device.type == "cuda":
        cuda = torch.cuda.max_memory_allocated(loaded.device)
        print(f"  GPU memory, peak allocated      {cuda / MiB:>10,.0f} MiB")
    print(f"  extraction                      {seconds:>10.1f} s; store {store_bytes / MiB:.1f} MiB "
          f"({n_layers * n_heads * t * t / MiB:.0f} MiB of codes a measure before compression)")


if __name__ == "__main__":
    main()
