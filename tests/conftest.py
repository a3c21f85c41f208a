"""Shared fixtures: the embedded model, a tiny random GPT-2, and stores built from a tiny corpus."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing in the tests may reach a model hub
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"

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
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
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


@pytest.fixture(scope="session")
def minilm():
    """The embedded default model (6 layers x 12 heads), loaded once."""
    from pipeline.model import load_model

    return load_model()


@pytest.fixture(scope="session")
def gpt2_dir(tmp_path_factory) -> Path:
    """A folder holding a tiny random GPT-2 (2 layers x 4 heads, 64 positions)."""
    return make_gpt2(tmp_path_factory.mktemp("gpt2"))


@pytest.fixture(scope="session")
def gpt2(gpt2_dir):
    """The tiny random GPT-2, loaded once."""
    from pipeline.model import load_model

    return load_model(str(gpt2_dir))


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory) -> Path:
    """The tiny corpus as a .jsonl file."""
    return write_jsonl(tmp_path_factory.mktemp("corpus") / "tiny.jsonl", TINY)


def _build_store(folder: Path, corpus: Path, loaded) -> Path:
    from pipeline.corpus import read_corpus
    from pipeline.extract import extract

    store = folder / "atlas.zarr"
    extract(read_corpus(corpus).sentences, store, loaded, progress=False)
    return store


@pytest.fixture(scope="session")
def minilm_store(tmp_path_factory, tiny_corpus, minilm) -> Path:
    """A store of the tiny corpus through the embedded model. Read-only: copy it to modify."""
    return _build_store(tmp_path_factory.mktemp("minilm"), tiny_corpus, minilm)


@pytest.fixture(scope="session")
def gpt2_store(tmp_path_factory, tiny_corpus, gpt2) -> Path:
    """A store of the tiny corpus through the tiny random GPT-2. Read-only: copy it to modify."""
    return _build_store(tmp_path_factory.mktemp("gpt2store"), tiny_corpus, gpt2)
