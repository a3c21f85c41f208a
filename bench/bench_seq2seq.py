"""Encoder-decoder extraction's cost: pairs through the atlas against the plain teacher-forced
forward pass of the same batches, T5-small-shaped.

    python bench/bench_seq2seq.py [--pairs 256] [--repeat 3] [--threads N] [--device auto]

A T5-small-shaped model (6 + 6 layers, 8 heads, width 512, MLP 2048) with random weights
and a BPE tokenizer trained on the corpus (pipeline/testing/seq2seq_models.py). The pairs:
the bundled corpus's items split at the child's turn, the mother's utterance the source and
the child's reply its target (given: nothing generated). The same batches (the atlas's plan:
sorted by the longer side, right padding on both) through
1. plain: the teacher-forced forward pass with SDPA, no attention returned (what the model
   costs anyway);
2. eager: the same with eager attention, every part's attention returned;
3. atlas forward: pipeline/extract/pairs.py's pair_codes, `attention` of the encoder, the
   decoder and the cross-attention as 8-bit codes on the device;
4. atlas forward, every measure: attention (3 parts), rollout (encoder), norm (3 parts) and
   grad (3 parts, one backward pass);
5. atlas extract: pipeline.extract.run.extract of the pairs into a new store (encoding,
   planning, the forward passes, compression, writes and commits), `attention`.
Rounds interleave them and each figure is its best round, so a shared machine's noise hits
them alike; the process's CPU time beside the wall clock. Prints the ratios; asserts nothing
about time.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import torch

from pipeline.corpus import bundled_corpus_path, read_corpus
from pipeline.extract.batches import plan_batches
from pipeline.extract.encode import Encoded, encode
from pipeline.extract.pairs import pair_codes
from pipeline.extract.run import extract, maps_per_token_pair
from pipeline.model.loading import load_model
from pipeline.records import Sentence
from pipeline.testing.seq2seq_models import make_seq2seq
from pipeline.words import split_words

sys.path.insert(0, str(Path(__file__).parent))
from bench_eager import padded, timed  # noqa: E402  (the same padding and timing as bench_eager)

SHAPE = {"layers": 6, "heads": 8, "width": 512, "d_ff": 2048}
TURN = " <CHI> "  # where the bundled corpus's items are split: source | target


def pairs_of(corpus: list[Sentence]) -> list[Sentence]:
    """Each item with a child's turn as a pair: the mother's utterance -> the child's reply."""
    out = []
    for s in corpus:
        source, turn, reply = s.text.partition(TURN)
        if turn and source and reply:
            target = turn.strip() + " " + reply
            out.append(Sentence(s.id, source, split_words(source), target=target,
                                target_word_ranges=split_words(target)))
    return out


PLAIN = "plain teacher-forced forward: SDPA, no attention"
EAGER = "eager, every part's attention returned"
ATLAS = "atlas forward: attention of 3 parts, 8-bit codes"
ALL = "atlas forward: all 4 measures (10 streams)"
EXTRACT = "atlas extract into a store (attention)"


def main() -> None:
    """Measure and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default=str(bundled_corpus_path()))
    parser.add_argument("--pairs", type=int, default=256, help="the corpus's first N pairs")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--repeat", type=int, default=3, help="rounds; each figure is its best")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's own)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    corpus = read_corpus(args.corpus).sentences
    sentences = pairs_of(corpus)[: args.pairs]
    work = Path(tempfile.mkdtemp(prefix="atlas-bench-seq2seq-"))
    try:
        folder = make_seq2seq("t5", work / "t5-small-shaped", positions=512, vocab_size=8000,
                              texts=[s.text for s in corpus], min_new_tokens=None,
                              layers=SHAPE["layers"], heads=SHAPE["heads"], width=SHAPE["width"],
                              d_ff=SHAPE["d_ff"])
        loaded = load_model(str(folder), device=args.device, dtype=args.dtype)
        from transformers import AutoModelForSeq2SeqLM

        plain = AutoModelForSeq2SeqLM.from_pretrained(folder, attn_implementation="sdpa",
                                                      dtype=loaded.dtype).to(loaded.device).eval()
        info = loaded.info
        encoded, _ = encode(sentences, loaded.tokenizer, info["max_length"],
                            decoder_start=info["decoder_start_token_id"])
        by_key = {e.key: e for e in encoded}
        batches = [[by_key[k] for k in keys] for keys in
                   plan_batches(encoded, args.batch_size, *maps_per_token_pair(info))]
        print(f"T5-small-shaped {SHAPE['layers']} + {SHAPE['layers']} layers x {SHAPE['heads']} "
              f"heads (width {SHAPE['width']}, MLP {SHAPE['d_ff']}), random weights; on "
              f"{loaded.device} ({str(loaded.dtype).split('.')[-1]}), torch threads "
              f"{torch.get_num_threads()}; best of {args.repeat} interleaved rounds")
        source = sum(e.n_tokens for e in encoded) / len(encoded)
        target = sum(e.n_target_tokens for e in encoded) / len(encoded)
        print(f"{len(encoded)} pairs of {Path(args.corpus).name} (mother -> child: {source:.1f} "
              f"source tokens, {target:.1f} decoder inputs each), {len(batches)} batches of at "
              f"most {args.batch_size}\n")
        best = compare(loaded, plain, batches, sentences, work, args)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    base_wall, base_cpu = best[PLAIN]
    print(f"{'what':<52}{'pairs/s':>9}{'x plain':>9}{'CPU s':>8}{'x plain':>9}")
    for name, (wall, cpu) in best.items():
        print(f"{name:<52}{len(encoded) / wall:>9.1f}{wall / base_wall:>9.2f}{cpu:>8.1f}"
              f"{cpu / base_cpu:>9.2f}")
    wall = best[EXTRACT][0]
    print(f"\nextracting pairs takes {wall / base_wall:.2f} x the time of the plain "
          f"teacher-forced forward pass of the same batches (the forward pass alone: "
          f"{best[ATLAS][0] / base_wall:.2f} x; every measure: {best[ALL][0] / base_wall:.2f} x)")


def compare(loaded, plain, batches: list[list[Encoded]], sentences: list[Sentence], work: Path,
            args) -> dict:
    """Best (wall, CPU) seconds of each way over the batches, interleaved rounds."""
    pad, device = loaded.tokenizer.pad_token_id, loaded.device

    def inputs(batch):
        ids, mask = padded([e.input_ids for e in batch], pad, device)
        dec, dec_mask = padded([e.target_ids for e in batch], pad, device)
        return {"input_ids": ids, "attention_mask": mask, "decoder_input_ids": dec,
                "decoder_attention_mask": dec_mask, "use_cache": False}

    def plain_step(batch):
        with torch.inference_mode():
            plain(**inputs(batch))

    def eager_step(batch):
        with torch.inference_mode():
            loaded.model(**inputs(batch), output_attentions=True)

    def atlas_step(batch):
        pair_codes(loaded, batch, ["attention"])

    def all_step(batch):
        pair_codes(loaded, batch, ["attention", "rollout", "norm", "grad"])

    runs = iter(range(1_000_000))

    def extract_step(_all):  # one call: the whole corpus, into a new store
        store = work / f"store-{next(runs)}.zarr"
        extract(sentences, store, replace(loaded), batch_size=args.batch_size, progress=False,
                measures="attention")
        shutil.rmtree(store, ignore_errors=True)

    steps = {PLAIN: (plain_step, batches), EAGER: (eager_step, batches),
             ATLAS: (atlas_step, batches), ALL: (all_step, batches),
             EXTRACT: (extract_step, [None])}
    for step, over in steps.values():  # warm-up
        timed(step, over[:1], device)
    best = dict.fromkeys(steps, (float("inf"), float("inf")))
    for _ in range(args.repeat):
        for name, (step, over) in steps.items():
            wall, cpu = timed(step, over, device)
            best[name] = (min(best[name][0], wall), min(best[name][1], cpu))
    return best


if __name__ == "__main__":
    main()
