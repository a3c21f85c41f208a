"""Helpers for tests and benchmarks (like numpy.testing): a tiny corpus, a random GPT-2, a fake
store, a synthetic store written by the real writer, and readers of a built site; series of
checkpoints without a model: pipeline.testing.series; a random model of each family:
pipeline.testing.families.

FakeStore satisfies pipeline.site.contexts.SiteStore, so a site can be built and
measured without a model or a Zarr store. Nothing here imports torch or
transformers at module level: building a site must never import them.
"""

from __future__ import annotations

import html.parser
import json
import re
import subprocess
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.errors import StoreError

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


VOCAB = ("the", "a", "picture", "horse", "painted", "who's", "that", "oh", "yeah", "my",
         "favorite", "animal", "is", "sit", "down", "look", "here", "and", "of")


def random_corpus(n: int, seed: int, words: tuple[int, int], prefix: str = "s") -> list[dict]:
    """n distinct sentences of random lengths (words: [low, high)) from VOCAB, ids s0000..."""
    rng = np.random.default_rng(seed)
    texts: dict[str, None] = {}
    while len(texts) < n:
        texts[" ".join(rng.choice(VOCAB, rng.integers(*words)))] = None
    return [{"id": f"{prefix}{i:04d}", "text": t} for i, t in enumerate(texts)]


def write_jsonl(path: Path, items: list[dict]) -> Path:
    """Write items as a .jsonl corpus."""
    path.write_text("".join(json.dumps(i, ensure_ascii=False) + "\n" for i in items), encoding="utf-8")
    return path


def train_bpe(texts: list[str] | None, vocab_size: int, special_tokens: list[str]):
    """A byte-level BPE tokenizer (tokenizers.Tokenizer) trained here on `texts` (by default the
    tiny corpus), its special tokens first in its vocabulary."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=special_tokens,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    bpe.train_from_iterator(texts or [item["text"] for item in TINY] * 4, trainer)
    return bpe


def make_gpt2(folder: Path, *, n_layer: int = 2, n_head: int = 4, n_positions: int = 64,
              n_embd: int = 32, texts: list[str] | None = None, vocab_size: int = 400,
              seed: int = 0) -> Path:
    """Save a GPT-2 with random weights (from `seed`) and a byte-level BPE tokenizer trained here
    (on `texts`, by default the tiny corpus): tiny by default, any size from the arguments."""
    import torch  # here, not above: importing this module must not import torch
    from transformers import GPT2Config, GPT2Model, GPT2TokenizerFast

    bpe = train_bpe(texts, vocab_size, ["<|endoftext|>"])
    tokenizer = GPT2TokenizerFast(tokenizer_object=bpe, bos_token="<|endoftext|>",
                                  eos_token="<|endoftext|>", unk_token="<|endoftext|>",
                                  model_max_length=n_positions)
    tokenizer.save_pretrained(folder)
    eos = tokenizer.convert_tokens_to_ids("<|endoftext|>")
    config = GPT2Config(n_layer=n_layer, n_head=n_head, n_embd=n_embd, n_positions=n_positions,
                        vocab_size=bpe.get_vocab_size(), bos_token_id=eos, eos_token_id=eos)
    torch.manual_seed(seed)
    GPT2Model(config).save_pretrained(folder)
    return folder


def random_maps(rng: np.random.Generator, n_layers: int, n_heads: int, n_words: int,
                causal: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Peaked random word maps (L, H, W, W) and special shares (L, H, W), float32: each
    row plus its share sums to 1, as in a real store; causal maps are lower-triangular."""
    full = rng.dirichlet(np.full(n_words + 1, 0.3), size=(n_layers, n_heads, n_words))
    if causal:  # (L, H, W, W + 1): the last column is the special share, kept
        full[..., :-1] = np.tril(full[..., :-1])
        full /= full.sum(axis=-1, keepdims=True)
    return full[..., :-1].astype(np.float32), full[..., -1].astype(np.float32)


@dataclass(frozen=True)
class FakeSentence:
    """A stored sentence with the read API the site uses (pipeline.site.contexts.SiteSentence)."""

    id: str
    text: str
    words: list[str]
    spans: list[tuple[str, int, int]]  # (label, first_word, last_word_exclusive)
    maps: np.ndarray = field(repr=False)  # (layer, head, from, to)
    special: np.ndarray = field(repr=False)  # (layer, head, from)
    meta: dict[str, Any] = field(default_factory=dict)
    truncated: bool = False
    # other measures: name -> (maps (L, H or 1, W, W), special (L, H or 1, W))
    others: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict, repr=False)

    @property
    def tokens(self) -> list[str]:
        """The words between a [CLS] and a [SEP], as a BERT tokenizer without subwords gives."""
        return ["[CLS]", *self.words, "[SEP]"]

    def word_maps(self, measure: str = "attention") -> tuple[np.ndarray, np.ndarray]:
        """Word maps (L, H, W, W) and special shares (L, H, W) of a stored measure."""
        if measure == "attention":
            return self.maps, self.special
        if measure not in self.others:
            raise StoreError(f"this fake store holds no measure {measure!r}; it holds: "
                             f"{', '.join(['attention', *self.others])}")
        return self.others[measure]


class FakeStore:
    """An in-memory store (pipeline.site.contexts.SiteStore) of random maps for given sentences."""

    def __init__(self, sentences: Iterable[Sequence], n_layers: int = 2, n_heads: int = 3, *,
                 causal: bool = False, seed: int = 0, name: str = "fake/bert <b>",
                 measures: Sequence[str] = ("attention",)) -> None:
        """`sentences`: (id, text, spans) or (id, text, spans, truncated); words split on spaces.
        `measures`: attention and any others of pipeline.measures, each random maps (one per
        layer for per-layer measures)."""
        from pipeline.measures import get_measure

        rng = np.random.default_rng(seed)
        self.records = []
        for sid, text, spans, *rest in sentences:
            words = text.split(" ")
            maps, special = random_maps(rng, n_layers, n_heads, len(words), causal)
            others = {m: random_maps(rng, n_layers, get_measure(m).heads(n_heads), len(words), causal)
                      for m in measures if m != "attention"}
            self.records.append(FakeSentence(sid, text, words, list(spans), maps, special,
                                             {"speaker": "MOT", "n": 1}, bool(rest and rest[0]),
                                             others))
        self.ids = [r.id for r in self.records]
        # a local model path, which a site must not show, and markup in the name, which it escapes
        self.model = {"name": name, "revision": None, "weights_sha256": "f" * 64,
                      "n_layers": n_layers, "n_heads": n_heads, "causal": causal,
                      "max_length": 16, "tokenizer": "FakeTokenizer", "path": "/secret/folder"}
        self.info = {"pipeline_version": "0.1.0", "measures": list(measures),
                     "quantization": {"scale": 255}}

    @classmethod
    def repeated(cls, n: int, n_words: int, n_layers: int = 12, n_heads: int = 12, *,
                 distinct: int = 4, seed: int = 0) -> FakeStore:
        """n sentences of n_words words that share `distinct` sets of random maps: a benchmark's
        thousands of sentences in little memory."""
        words = [f"w{i}" for i in range(n_words)]
        half = n_words // 2
        store = cls([], n_layers, n_heads, seed=seed, name=f"fake/{n_layers}x{n_heads}")
        rng = np.random.default_rng(seed)
        pool = [random_maps(rng, n_layers, n_heads, n_words) for _ in range(distinct)]
        store.records = [FakeSentence(f"bench/{i:06d}", " ".join(words), words,
                                      [("MOT", 0, half), ("CHI", half, n_words)],
                                      *pool[i % distinct], {"speaker": "MOT"}) for i in range(n)]
        store.ids = [r.id for r in store.records]
        return store

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self):
        return iter(self.records)

    def __getitem__(self, key: int | str) -> FakeSentence:
        if isinstance(key, str):
            if key not in self.ids:  # as AtlasStore says it
                raise KeyError(f"no sentence with id {key!r} in this fake store")
            key = self.ids.index(key)
        return self.records[key]

    def storage_order(self) -> list[int]:
        """Reverse corpus order: a fake has no storage, and the site must not depend on the order."""
        return list(range(len(self.records)))[::-1]


def synthetic_sentence(sid: str, words: list[str], spans=(), arcs=(), meta=None):
    """A StoredSentence of whole words between a [CLS] and a [SEP] (one token per word), as a
    BERT tokenizer without subwords gives: token t + 1 is word t."""
    from pipeline.extract.encode import content_key
    from pipeline.store import StoredSentence

    text = " ".join(words)
    starts = np.cumsum([0] + [len(w) + 1 for w in words[:-1]])
    return StoredSentence(
        id=sid, key=content_key(text), text=text, tokens=("[CLS]", *words, "[SEP]"),
        word_ranges=tuple((int(a), int(a) + len(w)) for a, w in zip(starts, words, strict=True)),
        word_index=(-1, *range(len(words)), -1), spans=tuple(spans), meta=dict(meta or {}),
        arcs=tuple(arcs))


def write_store(path: Path, rows: Iterable[tuple[Any, Any]], n_layers: int, n_heads: int,
                name: str = "synthetic", *, causal: bool = False,
                measures: Sequence[str] = ("attention",)) -> Path:
    """A real store of given sentences and token maps, without a model: `rows` yields
    (StoredSentence, float maps (L, H, T, T) in [0, 1]), or (StoredSentence, {measure: maps})
    for several `measures`; the catalog is their order. On an existing store this is the next
    run: stored sentences are reused, the rest added."""
    info = {"name": name, "revision": None, "weights_sha256": "0" * 64, "tokenizer_sha256": None,
            "n_layers": n_layers, "n_heads": n_heads, "causal": causal, "max_length": 512,
            "tokenizer": "synthetic"}
    return write_rows(path, info, rows, measures)


def write_rows(path: Path, info: dict, rows: Iterable[tuple[Any, Any]],
               measures: Sequence[str] = ("attention",)) -> Path:
    """Rows through the real writer as one run of the model `info` (its fingerprint: weights,
    no revision or tokenizer, 512 tokens): `rows` yields (StoredSentence, float maps in [0, 1]),
    a bare array for the default measure or {measure or stream: maps}; the catalog is their
    order, and a stored sentence is reused rather than added again."""
    from pipeline.store.layout import quantize
    from pipeline.store.lock import StoreLock
    from pipeline.store.writer import StoreWriter

    fingerprint = {"weights_sha256": info["weights_sha256"], "revision": None,
                   "tokenizer_sha256": None, "max_length": 512}
    with StoreLock(path):
        writer = StoreWriter(path, info, fingerprint, measures=tuple(measures))
        placed = []
        for sentence, maps in rows:
            row = writer.place(sentence)
            if row is None:
                row = writer.add(sentence, {m: quantize(v) for m, v in maps.items()}
                                 if isinstance(maps, dict) else quantize(maps))
            placed.append(row)
        writer.finish(placed)
    return path


def synthetic_rows(n: int, n_layers: int, n_heads: int, *, seed: int, lengths: int = 7,
                   span_every: int = 1) -> list[tuple[Any, np.ndarray]]:
    """n sentences s000, s001, ... of 3 to 2 + `lengths` words (`w{k}x{i}`: every text unique),
    each with peaked random token maps (L, H, T, T): a MOT span on the first word of every
    `span_every`-th one, meta speaker_role Mother (odd k) or Child. Rows for write_store."""
    rng = np.random.default_rng(seed)
    rows = []
    for k in range(n):
        words = [f"w{k}x{i}" for i in range(3 + k % lengths)]
        tokens = len(words) + 2
        maps = rng.dirichlet(np.full(tokens, 0.3), size=(n_layers, n_heads, tokens))
        spans = [("MOT", 0, 1)] if k % span_every == 0 else []
        meta = {"speaker_role": "Mother" if k % 2 else "Child"}
        rows.append((synthetic_sentence(f"s{k:03d}", words, spans, (), meta), maps.astype(np.float32)))
    return rows


def synthetic_store(path: Path, n: int, n_layers: int, n_heads: int, *, seed: int,
                    lengths: int = 7, span_every: int = 1) -> Path:
    """A store of synthetic_rows(...) written by the real writer, its statistics computed: a
    corpus of any size for the site and its size limit, without a model."""
    from pipeline.stats.compute import update_stats

    write_store(path, synthetic_rows(n, n_layers, n_heads, seed=seed, lengths=lengths,
                                     span_every=span_every), n_layers, n_heads)
    update_stats(path)
    return path


def build_gold_site(root: Path) -> Path:
    """gold_rows() (2 layers x 3 heads) as a store, root/atlas.zarr, with its statistics, and
    its site, root/site: the gold trees' pages, as the unit and browser tests read them.
    Returns the store's path."""
    from pipeline.site.build import build_site
    from pipeline.stats.compute import update_stats

    store = write_store(root / "atlas.zarr", gold_rows(), 2, 3)
    update_stats(store)
    build_site(store, root / "site", progress=False)
    return store


def gold_rows(n: int = 30, n_layers: int = 2, n_heads: int = 3, *, seed: int = 3
              ) -> list[tuple[Any, np.ndarray]]:
    """n sentences g00, g01, ... of 5 to 8 words with gold trees, as a .conllu corpus gives them:
    every even word a `det` of the next, every odd one an `nsubj` 2 to 4 words on, the last the
    root; g03 has no arcs. Random peaked maps, except layer 1, head 2, which attends to each
    word's gold head (above the `nsubj` baseline, tying the `det` one). Rows for write_store."""
    rng = np.random.default_rng(seed)
    rows = []
    for k in range(n):
        n_words = 5 + k % 4
        words = [f"g{k}w{i}" for i in range(n_words)]
        arcs = [(i, i + 1, "det") if i % 2 == 0 else (i, min(n_words - 1, i + 1 + (k + i) % 3), "nsubj")
                for i in range(n_words - 1)] + [(n_words - 1, -1, "root")]
        if k == 3:
            arcs = []
        tokens = n_words + 2
        maps = rng.dirichlet(np.full(tokens, 0.3), size=(n_layers, n_heads, tokens)).astype(np.float32)
        gold = np.full((tokens, tokens), 0.02, np.float32)
        for dep, head, _ in arcs:
            gold[dep + 1, head + 1] = 1.0 if head >= 0 else 0.02  # token t + 1 is word t
        maps[0, 1] = gold / gold.sum(axis=-1, keepdims=True)
        rows.append((synthetic_sentence(f"g{k:02d}", words, (), arcs), maps))
    return rows


def read_js_global(path: Path, name: str) -> Any:
    """The JSON value a site script (`window.NAME=JSON.parse('...');`, pipeline.site.data_format.js_global) sets."""
    text = path.read_text(encoding="utf-8")
    head, tail = f"window.{name}=JSON.parse('", "');"
    if not text.startswith(head) or not text.rstrip().endswith(tail):
        raise ValueError(f"{path} does not set window.{name}")
    quoted = text[len(head):len(text.rstrip()) - len(tail)]
    return json.loads(re.sub(r"\\(.)", r"\1", quoted))  # the JS string's escapes: \\ and \'



def read_index(site: Path) -> list[dict[str, Any]]:
    """A built site's index data (data/_index.js) as one dict per sentence, meta decoded."""
    data = read_js_global(site / "data" / "_index.js", "atlasIndexData")
    keys, values = data["meta"]["keys"], data["meta"]["values"]
    rows = []
    for row in data["rows"]:
        item = dict(zip(data["columns"], row, strict=True))
        item["meta"] = {k: values[n][code] for n, (k, code) in enumerate(zip(keys, item["meta"], strict=True))
                        if code >= 0}
        rows.append(item)
    return rows


class PageParser(html.parser.HTMLParser):
    """Collects a page's tags, attributes, text, and the raw text of its script elements."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags, self.links, self.text, self.scripts = [], [], [], []
        self._script = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        for name in ("href", "src", "data-src"):
            if name in attrs:
                self.links.append(attrs[name])
        if tag == "script":
            self._script = [attrs, ""]

    def handle_endtag(self, tag):
        if tag == "script" and self._script is not None:
            self.scripts.append(tuple(self._script))
            self._script = None

    def handle_data(self, data):
        if self._script is not None:
            self._script[1] += data
        else:
            self.text.append(data)


def read_page(path: Path) -> str:
    """A built page's HTML as a browser ends up with it: a sentence page's figure slot filled
    with the site's figure markup, as assets/sentence-page.js fills it (pipeline.site.pages)."""
    from pipeline.site.pages import FRAME_GLOBAL, FRAME_SLOT

    text = path.read_text(encoding="utf-8")
    if FRAME_SLOT in text:
        bundle = (path.parent.parent / "assets" / "sentence-page.js").read_text(encoding="utf-8")
        line = next(line for line in bundle.splitlines() if line.startswith(FRAME_GLOBAL))
        text = text.replace(FRAME_SLOT, json.loads(line[len(FRAME_GLOBAL):].removesuffix(";")))
    return text


def parse_page(path: Path) -> PageParser:
    """A built page, parsed (read_page: as a browser ends up with it): its tags, links, text and
    scripts."""
    parser = PageParser()
    parser.feed(read_page(path))
    parser.close()
    return parser


def wait_for(condition: Callable[[], bool], proc: subprocess.Popen,
             timeout: float = 120.0) -> None:
    """Poll until condition() holds, for a test that signals a running process at that point;
    AssertionError (a test failure) if the process ends first or time runs out (it is killed)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            raise AssertionError(f"the run ended (rc {proc.returncode}) before it could be "
                                 f"signalled:\n{proc.communicate()[1]}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError("timed out waiting for the run")
        time.sleep(0.02)
