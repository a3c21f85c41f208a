"""Train a small GPT-2-shaped causal LM on the bundled corpus, saving checkpoints as it learns.

The worked example of a checkpoint series (README, "Watching heads form"): a word-level
tokenizer trained here on the corpus, a 12-layer x 12-head GPT-2 narrow enough for a CPU,
and `OUT/checkpoint-<step>/` folders (model and tokenizer, safetensors) at log-spaced steps
(0, 10, 20, 50, 100, 200, 500, ... and the last), each loadable by
`attention-atlas extract --model OUT/checkpoint-<step>` and all of them by
`attention-atlas run --checkpoints OUT`. Deterministic: the same arguments give the same
weights, byte for byte, on one machine (fixed seeds and thread count, deterministic
algorithms; another thread count gives other weights). Needs torch, transformers and
tokenizers (the package's dependencies).

    python data/train_checkpoints.py --out checkpoints \
        [--steps 2000] [--layers 12] [--heads 12] [--width 96] [--seed 0] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_CORPUS = REPO / "data" / "sarah_pairs.jsonl"  # the bundled corpus (data/README.md)
EOS = "<|endoftext|>"  # ends every sentence in training; the atlas's input has none
UNK = "[UNK]"
# The atlas's word rule (pipeline/words.py) in the tokenizer's regex dialect: an angle-bracket
# tag kept whole (<CHI>), a run of letters, marks, digits and underscores with inner apostrophes,
# or any other single grapheme; whitespace separates. One token is then one atlas word.
WORD = r"<[^\s<>]+>|[\p{L}\p{M}\p{N}_]+(?:['’][\p{L}\p{M}\p{N}_]+)*|\X"
MIN_COUNT = 2  # rarer words are [UNK], except speaker tags, which are always in the vocabulary
HELD_OUT = 20  # every 20th sentence is held out: its loss shows what is learnt, not memorized
BATCH = 32
LR = 2e-3
N_POSITIONS = 64


def read_texts(path: Path) -> list[str]:
    """The `text` of every item of a corpus in the package's .jsonl format."""
    texts = []
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if line.strip():
                try:
                    texts.append(json.loads(line)["text"])
                except (ValueError, KeyError, TypeError) as exc:
                    raise SystemExit(f"{path}:{number}: not a corpus item with a text: {exc}") from None
    if not texts:
        raise SystemExit(f"{path}: no sentences")
    return texts


def checkpoint_steps(total: int) -> list[int]:
    """Log-spaced steps: 0, then 1, 2, 5 x 10^k from 10 on, then the last step."""
    steps, scale = [0], 10
    while scale < total:
        steps += [s for s in (scale, 2 * scale, 5 * scale) if s < total]
        scale *= 10
    return [*steps, total] if total > 0 else steps


def train_tokenizer(texts: list[str]):
    """A word-level tokenizer of the corpus (transformers' PreTrainedTokenizerFast), its
    vocabulary sorted by frequency then form, so the ids are the same on every run."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    split = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(),
                                     pre_tokenizers.Split(Regex(WORD), behavior="isolated")])
    counts = Counter(w for text in texts for w, _ in split.pre_tokenize_str(text))
    words = sorted((w for w, n in counts.items() if n >= MIN_COUNT
                    or (w.startswith("<") and w.endswith(">") and len(w) > 2)),
                   key=lambda w: (-counts[w], w))
    vocab = {token: i for i, token in enumerate([EOS, UNK, *words])}
    word_level = Tokenizer(models.WordLevel(vocab, unk_token=UNK))
    word_level.pre_tokenizer = split
    word_level.decoder = decoders.WordPiece(prefix="##")  # joins words with spaces
    # EOS and UNK are the only special tokens: speaker tags stay words, so the atlas keeps them
    return PreTrainedTokenizerFast(tokenizer_object=word_level, eos_token=EOS, pad_token=EOS,
                                   bos_token=EOS, unk_token=UNK, model_max_length=N_POSITIONS)


def unigram_entropy(sequences: list[list[int]]) -> float:
    """Entropy in nats of the training targets' unigram distribution: a model that has learnt
    word frequencies only has this loss."""
    counts = Counter(t for seq in sequences for t in seq[1:])
    total = sum(counts.values())
    return -sum(n / total * math.log(n / total) for n in counts.values())


def batches(sequences: list[list[int]], eos: int):
    """(input_ids, labels) tensors of sentences padded with EOS; padding is not a target."""
    import torch

    width = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), width), eos, dtype=torch.long)
    labels = torch.full((len(sequences), width), -100, dtype=torch.long)
    for row, seq in enumerate(sequences):
        ids[row, :len(seq)] = torch.tensor(seq)
        labels[row, :len(seq)] = torch.tensor(seq)
    return ids, labels


def mean_loss(model, sequences: list[list[int]], eos: int) -> float:
    """Mean next-token loss (nats) over every target of the sentences."""
    import torch

    total, count = 0.0, 0
    with torch.inference_mode():
        for start in range(0, len(sequences), 128):
            ids, labels = batches(sequences[start:start + 128], eos)
            logits = model(input_ids=ids).logits[:, :-1]
            targets = labels[:, 1:]
            total += float(torch.nn.functional.cross_entropy(
                logits.reshape(-1, logits.shape[-1]), targets.reshape(-1),
                ignore_index=-100, reduction="sum"))
            count += int((targets != -100).sum())
    return total / count


def previous_word_heads(model, sequences: list[list[int]], top: int = 3) -> list[tuple[str, float]]:
    """The heads that attend most to the previous word: mean attention from word i to i - 1
    over words 1.. of the sentences (no EOS), as `prev` in the atlas's statistics."""
    import torch

    with torch.inference_mode():
        sums, n = None, 0
        for seq in sequences:
            ids = torch.tensor([seq[:-1]])
            att = torch.stack(model(input_ids=ids, output_attentions=True).attentions)[:, 0]
            prev = att.diagonal(offset=-1, dim1=-2, dim2=-1).sum(-1)  # (L, H)
            sums = prev if sums is None else sums + prev
            n += ids.shape[1] - 1
    means = (sums / n).flatten().tolist()
    heads = model.config.n_head
    order = sorted(range(len(means)), key=lambda i: -means[i])[:top]
    return [(f"l{i // heads + 1}h{i % heads + 1}", means[i]) for i in order]


def train(out: Path, *, steps: int, layers: int, heads: int, width: int, seed: int,
          threads: int, corpus: Path = DEFAULT_CORPUS, log=print) -> list[dict]:
    """Train and save `out/checkpoint-<step>/` at checkpoint_steps(steps); returns the log.
    Torch's thread count and deterministic mode are set for the run and restored after it."""
    import torch

    if width % heads:
        raise SystemExit(f"--width {width} must be a multiple of --heads {heads}")
    threads_before, deterministic_before = torch.get_num_threads(), \
        torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    try:
        return _train(out, steps=steps, layers=layers, heads=heads, width=width, seed=seed,
                      corpus=corpus, log=log)
    finally:
        torch.set_num_threads(threads_before)
        torch.use_deterministic_algorithms(deterministic_before)


def _train(out: Path, *, steps: int, layers: int, heads: int, width: int, seed: int,
           corpus: Path, log) -> list[dict]:
    """The training run of `train`, torch's threads and determinism already set."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    torch.manual_seed(seed)

    texts = read_texts(corpus)
    tokenizer = train_tokenizer(texts)
    eos = tokenizer.convert_tokens_to_ids(EOS)
    encoded = [ids + [eos] for ids in tokenizer(texts)["input_ids"]]
    longest = max(len(s) for s in encoded)
    if longest > N_POSITIONS:
        raise SystemExit(f"{corpus}: a sentence has {longest - 1} words, over {N_POSITIONS - 1}")
    train_set = [s for i, s in enumerate(encoded) if i % HELD_OUT]
    held_out = [s for i, s in enumerate(encoded) if not i % HELD_OUT]
    entropy = unigram_entropy(train_set)
    log(f"{len(texts)} sentences ({len(train_set)} to train on, {len(held_out)} held out), "
        f"{len(tokenizer)} words in the vocabulary, unigram entropy {entropy:.3f} nats")

    config = GPT2Config(vocab_size=len(tokenizer), n_positions=N_POSITIONS, n_embd=width,
                        n_layer=layers, n_head=heads, n_inner=2 * width, bos_token_id=eos,
                        eos_token_id=eos, pad_token_id=eos, resid_pdrop=0.0, embd_pdrop=0.0,
                        attn_pdrop=0.0)
    model = GPT2LMHeadModel(config)
    model.set_attn_implementation("eager")  # the attention weights the atlas reads
    optimizer = torch.optim.AdamW(model.parameters(), lr=LR, betas=(0.9, 0.98), weight_decay=0.01)
    warmup = max(1, min(100, steps // 10))
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(
        (s + 1) / warmup, 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(s / max(steps, 1), 1)))))
    generator = torch.Generator().manual_seed(seed)
    saves, order, history, started = set(checkpoint_steps(steps)), [], [], time.monotonic()
    out.mkdir(parents=True, exist_ok=True)
    for step in range(steps + 1):
        if step in saves:
            model.eval()
            entry = {"step": step, "train_loss": mean_loss(model, train_set, eos),
                     "held_out_loss": mean_loss(model, held_out, eos),
                     "unigram_entropy": entropy, "seconds": time.monotonic() - started,
                     "previous_word_heads": previous_word_heads(model, held_out)}
            folder = out / f"checkpoint-{step}"
            model.save_pretrained(folder)
            tokenizer.save_pretrained(folder)
            saved = {k: v for k, v in entry.items() if k != "seconds"}  # the same on every run
            (folder / "training.json").write_text(json.dumps(saved, indent=1) + "\n", "utf-8")
            history.append(entry)
            best = ", ".join(f"{h} {v:.2f}" for h, v in entry["previous_word_heads"])
            log(f"step {step}: loss {entry['train_loss']:.3f} (held out "
                f"{entry['held_out_loss']:.3f}), previous-word heads {best}, "
                f"{entry['seconds']:.0f} s")
            model.train()
        if step == steps:
            break
        if len(order) < BATCH:  # a new pass over the training set, in a new order
            order += torch.randperm(len(train_set), generator=generator).tolist()
        ids, labels = batches([train_set[i] for i in order[:BATCH]], eos)
        del order[:BATCH]
        loss = model(input_ids=ids, labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
    return history


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for checkpoint-<step>/")
    parser.add_argument("--steps", type=int, default=2000, help="training steps (batches of "
                        f"{BATCH} sentences)")
    parser.add_argument("--layers", type=int, default=12)
    parser.add_argument("--heads", type=int, default=12)
    parser.add_argument("--width", type=int, default=96, help="n_embd, a multiple of --heads")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (results depend "
                        "on it: keep it fixed to reproduce a run)")
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS,
                        help="a .jsonl corpus [default: the bundled one]")
    args = parser.parse_args(argv)
    if args.steps < 0:
        parser.error("--steps must be 0 or more")
    train(args.out, steps=args.steps, layers=args.layers, heads=args.heads, width=args.width,
          seed=args.seed, threads=args.threads, corpus=args.corpus)
    return 0


if __name__ == "__main__":
    sys.exit(main())
