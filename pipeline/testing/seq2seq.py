"""Synthetic encoder-decoder stores (source -> target pairs), written by the real writer without
a model: for the site, the statistics and the store's own tests.

`pair_sentence` builds a StoredSentence as a T5-like tokenizer without subwords gives it: the
source is its words then `</s>`; the target's decoder inputs are the start token `<pad>`, its
words, then `</s>` (so token t + 1 of the target is its word t). `synthetic_pair_store`
writes a few such pairs with random row-stochastic maps of every stream (the decoder's
causal). Nothing here imports torch.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.testing import VOCAB, write_rows

PAIR_MODEL = {"name": "synthetic-seq2seq", "revision": None, "weights_sha256": "0" * 64,
              "tokenizer_sha256": None, "encoder_decoder": True, "causal": False,
              "max_length": 512, "tokenizer": "synthetic"}

# The fixed pairs every synthetic pair store starts with: spans on both sides, labels with
# markup in them, markup in the text (data, never markup), a generated target.
PAIRS = [
    {"id": "pair-1", "text": "<SRC> who's that ? <CHI> oh yeah .",
     "target": "<TGT> qui est-ce ? <CHI> oh oui .",
     "spans": [("<SRC>", 0, 4), ("CHI", 4, 8)], "target_spans": [("<TGT>", 0, 6), ("CHI", 6, 10)]},
    {"id": "xss/script", "text": "look <script>alert(1)</script> here",
     "target": "regarde <script>alert(2)</script> ici",
     "spans": [("A&B", 0, 1)], "target_spans": [("<b>x</b>", 1, 2)]},
    {"id": "generated", "text": "Sit down .", "target": "Assieds-toi .", "generated": True},
]


def pair_sentence(sid: str, text: str, target: str, spans=(), target_spans=(), *,
                  generated: bool = False, meta: dict | None = None):
    """A pair's StoredSentence: words by the default word rule, one token per word; source
    tokens (words..., `</s>`), target decoder inputs (`<pad>`, words..., `</s>`); the content
    key of the pair (of the source alone for a generated target, as extraction keys it)."""
    from pipeline.extract.encode import content_key
    from pipeline.store import StoredSentence
    from pipeline.words import split_words

    words, target_words = split_words(text), split_words(target)
    return StoredSentence(
        id=sid, key=content_key(text if generated else text + "\x00" + target), text=text,
        tokens=(*(text[a:b] for a, b in words), "</s>"), word_ranges=words,
        word_index=(*range(len(words)), -1), spans=tuple(spans), meta=dict(meta or {}),
        target=target, target_tokens=("<pad>", *(target[a:b] for a, b in target_words), "</s>"),
        target_word_ranges=target_words, target_word_index=(-1, *range(len(target_words)), -1),
        target_spans=tuple(target_spans), target_generated=generated)


def pair_model(n_layers: int = 2, n_heads: int = 2, n_decoder_layers: int = 3,
               n_decoder_heads: int = 2, name: str = "synthetic-seq2seq") -> dict:
    """The model info of a synthetic encoder-decoder store (its decoder deeper by default, so
    that code mixing the two stacks up fails)."""
    return {**PAIR_MODEL, "name": name, "n_layers": n_layers, "n_heads": n_heads,
            "n_decoder_layers": n_decoder_layers, "n_decoder_heads": n_decoder_heads}


def random_stream_maps(rng: np.random.Generator, shape: tuple[int, int, int, int],
                       causal: bool = False) -> np.ndarray:
    """Peaked random row-stochastic maps of a shape (L, H, rows, columns), float32; causal:
    row i attends to columns <= i only."""
    maps = rng.dirichlet(np.full(shape[-1], 0.3), size=shape[:-1])
    if causal:
        maps = np.tril(maps)
        maps /= maps.sum(axis=-1, keepdims=True)
    return maps.astype(np.float32)


def pair_maps(rng: np.random.Generator, model: dict, sentence, measures: Sequence[str]
              ) -> dict[str, np.ndarray]:
    """Random float maps of every stream of `measures` for a pair, {stream: (L, H_m, rows,
    columns)}."""
    from pipeline.measures import PAIR_PARTS
    from pipeline.store.streams import stream_shape, streams_of

    out = {}
    for stream in streams_of(measures, PAIR_PARTS):
        shape = stream_shape(model, stream, sentence.n_tokens, sentence.n_target_tokens)
        out[stream] = random_stream_maps(rng, shape, causal=stream.endswith(".decoder"))
    return out


def pair_rows(n: int = 6, model: dict | None = None, measures: Sequence[str] = ("attention",),
              *, seed: int = 0) -> list[tuple[Any, dict[str, np.ndarray]]]:
    """n pairs (the fixed PAIRS first, then p003, p004, ... of random VOCAB words) with random
    maps of every stream: rows for write_pair_store."""
    model = model or pair_model()
    rng = np.random.default_rng(seed)
    items = [dict(p) for p in PAIRS[:n]]
    for k in range(len(items), n):
        src = " ".join(rng.choice(VOCAB, int(rng.integers(3, 8))))
        tgt = " ".join(rng.choice(VOCAB, int(rng.integers(2, 9))))
        items.append({"id": f"p{k:03d}", "text": f"{src} {k}", "target": f"{tgt} {k}",
                      "spans": [("MOT", 0, 1)], "target_spans": [("MOT", 0, 2)] if k % 2 else []})
    rows = []
    for item in items:
        sentence = pair_sentence(item["id"], item["text"], item["target"], item.get("spans", ()),
                                 item.get("target_spans", ()), generated=item.get("generated", False),
                                 meta={"pair": item["id"]})
        rows.append((sentence, pair_maps(rng, model, sentence, measures)))
    return rows


def write_pair_store(path: Path, rows: Iterable[tuple[Any, dict[str, np.ndarray]]],
                     model: dict | None = None, measures: Sequence[str] = ("attention",)) -> Path:
    """A real encoder-decoder store of given pairs and their float maps {stream: maps}, without
    a model; the catalog is their order. On an existing store this is the next run: stored
    pairs are reused, the rest added."""
    return write_rows(path, model or pair_model(), rows, measures)


def synthetic_pair_store(path: Path, n: int = 6, measures: Sequence[str] = ("attention",), *,
                         seed: int = 0, model: dict | None = None) -> Path:
    """A small encoder-decoder store (schema 3; parts encoder, decoder, cross) of pair_rows(n)
    written by the real writer, for the site and statistics helpers: spans on both sides, a
    label and text with markup, a generated target. Its statistics are not computed."""
    model = model or pair_model()
    return write_pair_store(path, pair_rows(n, model, measures, seed=seed), model, measures)
