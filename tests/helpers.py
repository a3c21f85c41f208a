"""Test helpers shared by the tests, the fixtures and the benchmarks: a tiny corpus and a
random GPT-2 builder. (A module of its own: `conftest` is ambiguous where a subfolder has one.)"""

from __future__ import annotations

import json
from pathlib import Path

# A tiny corpus with the cases every stage must get right: tags, markup, unicode,
# a repeated word, and spans.
TINY = [
    {"id": "pair-1", "text": "<MOT> who's that ? <CHI> oh yeah .",
     "spans": [{"label": "MOT", "start": 0, "end": 18}, {"label": "CHI", "start": 19, "end": 34}]},
    {"id": "pair-2", "text": "<CHI> painted a picture of a horse <CHI> my favorite animal is the",
     "spans": [{"label": "ENV", "start": 0, "end": 34}, {"label": "LAN", "start": 35, "end": 65}]},
    {"id": "xss/script", "text": "look <script>alert(1)</script> here"},
    {"id": "xss onerror", "text": "\"><img src=x onerror=alert(1)> is text"},
    {"id": "unicode ✓", "text": "emoji 👍🏽 and שלום and zero\u200bwidth"},
    {"id": "short", "text": "Sit down ."},
]


def write_jsonl(path: Path, items: list[dict]) -> Path:
    """Write items as a .jsonl corpus."""
    path.write_text("".join(json.dumps(i, ensure_ascii=False) + "\n" for i in items), encoding="utf-8")
    return path


def make_gpt2(folder: Path, *, n_layer: int = 2, n_head: int = 4, n_positions: int = 64,
              n_embd: int = 32, texts: list[str] | None = None, vocab_size: int = 400) -> Path:
    """Save a GPT-2 with random weights and a byte-level BPE tokenizer trained here (on `texts`,
    by default the tiny corpus): tiny by default, any size from the arguments."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2Model, GPT2TokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    bpe.train_from_iterator(texts or [item["text"] for item in TINY] * 4, trainer)
    tokenizer = GPT2TokenizerFast(tokenizer_object=bpe, bos_token="<|endoftext|>",
                                  eos_token="<|endoftext|>", unk_token="<|endoftext|>",
                                  model_max_length=n_positions)
    tokenizer.save_pretrained(folder)
    eos = tokenizer.convert_tokens_to_ids("<|endoftext|>")
    config = GPT2Config(n_layer=n_layer, n_head=n_head, n_embd=n_embd, n_positions=n_positions,
                        vocab_size=bpe.get_vocab_size(), bos_token_id=eos, eos_token_id=eos)
    torch.manual_seed(0)
    GPT2Model(config).save_pretrained(folder)
    return folder
