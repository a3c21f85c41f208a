"""A random encoder-decoder model (T5, BART, Marian), saved as a local folder with a tokenizer
trained here: no download. Tiny by default (2 + 2 layers, 4 heads, width 32).

T5 and BART get a fast byte-level BPE tokenizer (T5: `text </s>`, BART: `<s> text </s>`, as
their own tokenizers frame a text); Marian gets its own slow tokenizer (MarianTokenizer: two
SentencePiece models and a shared vocabulary), which gives no character offsets.

Nothing here imports torch or transformers at module level.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

from pipeline.testing import TINY, train_bpe

KINDS = ("t5", "bart", "marian")
SPECIAL = ["<unk>", "<s>", "</s>", "<pad>"]  # ids 0-3 of the BPE tokenizers made here


def _texts(texts: list[str] | None) -> list[str]:
    """What the tokenizers learn from: `texts`, by default the tiny corpus."""
    return texts or [item["text"] for item in TINY] * 4


def _bpe_tokenizer(kind: str, folder: Path, texts: list[str] | None, vocab_size: int,
                   positions: int) -> dict[str, int]:
    """Save T5's or BART's fast tokenizer to `folder`; the ids of its special tokens."""
    import transformers
    from tokenizers import processors

    bpe = train_bpe(_texts(texts), vocab_size, SPECIAL)
    template = "$A </s>" if kind == "t5" else "<s> $A </s>"
    specials = [t for t in template.split() if t != "$A"]
    bpe.post_processor = processors.TemplateProcessing(
        single=template, special_tokens=[(t, bpe.token_to_id(t)) for t in specials])
    tokenizer = transformers.PreTrainedTokenizerFast(
        tokenizer_object=bpe, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
        pad_token="<pad>", model_max_length=positions)
    tokenizer.save_pretrained(folder)
    ids = {t: bpe.token_to_id(t) for t in SPECIAL}
    return {"vocab": bpe.get_vocab_size(), "pad": ids["<pad>"], "eos": ids["</s>"],
            "bos": ids["<s>"], "unk": ids["<unk>"]}


def _marian_tokenizer(folder: Path, texts: list[str] | None, vocab_size: int,
                      positions: int) -> dict[str, int]:
    """Save a MarianTokenizer (SentencePiece models trained here, one vocabulary)."""
    import io

    import sentencepiece as spm
    import transformers

    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(_texts(texts)), model_writer=model, vocab_size=vocab_size,
        model_type="unigram", character_coverage=1.0, unk_id=0, bos_id=-1, eos_id=1,
        pad_id=-1, hard_vocab_limit=False, minloglevel=2)
    for name in ("source.spm", "target.spm"):
        (folder / name).write_bytes(model.getvalue())
    processor = spm.SentencePieceProcessor(model_proto=model.getvalue())
    pieces = [processor.id_to_piece(i) for i in range(processor.get_piece_size())]
    vocab = {"<unk>": 0, "</s>": 1}
    for piece in pieces:
        vocab.setdefault(piece, len(vocab))
    vocab["<pad>"] = len(vocab)  # Marian's pad is its last id, also its decoder start
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    with warnings.catch_warnings():  # its punctuation normaliser: not needed here
        warnings.filterwarnings("ignore", "Recommended: pip install sacremoses")
        tokenizer = transformers.MarianTokenizer(str(folder / "source.spm"),
                                                 str(folder / "target.spm"),
                                                 str(folder / "vocab.json"),
                                                 model_max_length=positions)
    tokenizer.save_pretrained(folder)
    return {"vocab": len(vocab), "pad": vocab["<pad>"], "eos": vocab["</s>"], "bos": None,
            "unk": vocab["<unk>"]}


def _config(kind: str, ids: dict[str, int], *, layers: int, heads: int, width: int,
            positions: int, overrides: dict):
    """The family's config (transformers' names) for this size."""
    import transformers

    common = {"vocab_size": ids["vocab"], "pad_token_id": ids["pad"], "eos_token_id": ids["eos"],
              "is_encoder_decoder": True}
    if kind == "t5":
        return transformers.T5Config(**({
            **common, "d_model": width, "d_kv": width // heads, "d_ff": 2 * width,
            "num_layers": layers, "num_decoder_layers": layers, "num_heads": heads,
            "relative_attention_num_buckets": 8, "relative_attention_max_distance": 16,
            "decoder_start_token_id": ids["pad"]} | overrides))
    sizes = {"d_model": width, "encoder_layers": layers, "decoder_layers": layers,
             "encoder_attention_heads": heads, "decoder_attention_heads": heads,
             "encoder_ffn_dim": 2 * width, "decoder_ffn_dim": 2 * width,
             "max_position_embeddings": positions}
    if kind == "bart":  # BART starts decoding at EOS, and its tokenizer adds <s> to a target
        return transformers.BartConfig(**({
            **common, **sizes, "bos_token_id": ids["bos"], "decoder_start_token_id": ids["eos"],
            "forced_eos_token_id": ids["eos"]} | overrides))
    return transformers.MarianConfig(**({
        **common, **sizes, "decoder_start_token_id": ids["pad"], "forced_eos_token_id": ids["eos"],
        "decoder_vocab_size": ids["vocab"]} | overrides))


def make_seq2seq(kind: str, folder: str | Path, *, layers: int = 2, heads: int = 4,
                 width: int = 32, positions: int = 64, texts: list[str] | None = None,
                 vocab_size: int | None = None, seed: int = 0, min_new_tokens: int | None = 4,
                 **overrides) -> Path:
    """Save an encoder-decoder model of `kind` ("t5", "bart" or "marian") with random weights
    (from `seed`) and a tokenizer trained here on `texts` (by default the tiny corpus);
    vocab_size: the tokenizer's (default: 300, Marian's 120: SentencePiece wants no more pieces
    than the texts hold); overrides: any other config arguments. Returns the folder.

    min_new_tokens: its generation config's, which also keeps it from generating special tokens
    other than EOS (random weights often end a target at once, or repeat <pad>, which would
    leave generation nothing to show); None: neither."""
    import torch  # here, not above: importing this module must not import torch
    import transformers

    if kind not in KINDS:
        raise ValueError(f"kind {kind!r} is not one of {KINDS}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if vocab_size is None:
        vocab_size = 120 if kind == "marian" else 300
    if kind == "marian":
        ids = _marian_tokenizer(folder, texts, vocab_size, positions)
    else:
        ids = _bpe_tokenizer(kind, folder, texts, vocab_size, positions)
    config = _config(kind, ids, layers=layers, heads=heads, width=width, positions=positions,
                     overrides=overrides)
    model_class = {"t5": "T5ForConditionalGeneration", "bart": "BartForConditionalGeneration",
                   "marian": "MarianMTModel"}[kind]
    torch.manual_seed(seed)
    model = getattr(transformers, model_class)(config)
    if min_new_tokens is not None:
        model.generation_config.min_new_tokens = min_new_tokens
        model.generation_config.suppress_tokens = [ids[t] for t in ("pad", "bos", "unk")
                                                   if ids[t] is not None]
    model.save_pretrained(folder)
    return folder
