"""The registry of model families: what the measure `norm` must know of a family's attention.

`norm` (Kobayashi et al. 2020) needs, in every attention module, the value vectors
v_j = x_j W_V + b_V (x_j the module's input, after its layer norm) and the rows W_O^h of
the output projection that take head h's input. Where they are differs by family;
everything else does not:

- the value projection's output holds the values in one of three layouts: "values" (a
  projection of its own, KV x d wide: KV value heads of width d), "qkv thirds" (one fused
  projection, queries | keys | values, each H x d: GPT-2's `c_attn`), "qkv per head" (one
  fused projection laid out head by head, [q_h k_h v_h] for each h: GPT-NeoX's
  `query_key_value`);
- the output projection takes H x d inputs (d need not be the hidden size / H: Gemma);
- with grouped-query attention (KV < H value heads) query head h reads value head
  h // (H / KV), as the model's `repeat_kv` shares them.

H comes from the model's attention maps, d from the output projection (its inputs / H),
KV from the value projection (its outputs / d): nothing is read from a config. Adding a
family is one entry in FAMILIES.

An encoder-decoder family (T5, BART, Marian) names, besides, its decoder layers'
cross-attention module (`cross`, e.g. "encoder_attn"): there the value projection reads
the encoder's output, so f(x_j) of a cross map's column j is that of source token j. The measures `attention` and `rollout` need none of this
(any model that returns its attention), `grad` a causal language-model head.

No torch here: pipeline/extract/forward.py applies the entries; the README's table of
families and measures is `markdown_table()` (a test checks that they match).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import ModelError

LAYOUTS = ("values", "qkv thirds", "qkv per head")


@dataclass(frozen=True)
class Family:
    """One family: the model types it covers and where `norm` finds each attention module's
    value projection and output projection (attribute paths from the attention module)."""

    name: str  # as the README's table and the error messages name it
    model_types: tuple[str, ...]  # config.json's model_type
    value: str  # the value projection, e.g. "v_proj", "self.value" (a Linear or a Conv1D)
    output: str  # the output projection, e.g. "o_proj", "output.dense"
    layout: str = "values"  # one of LAYOUTS: how the value projection's output holds the values
    causal: bool = True  # a decoder (language model): the measure `grad` applies
    example: str = ""  # a checkpoint of the family on the hub
    note: str = ""  # what sets the family apart, for the table
    # an encoder-decoder: the name of each decoder layer's cross-attention module (its path
    # from the decoder contains it), e.g. "encoder_attn"; "" for an encoder or a decoder
    cross: str = ""

    @property
    def encoder_decoder(self) -> bool:
        """Whether the family is an encoder-decoder (encoder, decoder and cross-attention)."""
        return bool(self.cross)

    def __post_init__(self) -> None:
        """A layout must be one of LAYOUTS."""
        if self.layout not in LAYOUTS:
            raise ValueError(f"family {self.name}: layout {self.layout!r} is not one of {LAYOUTS}")


FAMILIES: tuple[Family, ...] = (
    Family("BERT", ("bert", "roberta", "electra"), "self.value", "output.dense", causal=False,
           example="sentence-transformers/all-MiniLM-L6-v2 (embedded), roberta-base",
           note="encoder"),
    Family("DistilBERT", ("distilbert",), "v_lin", "out_lin", causal=False,
           example="distilbert-base-uncased", note="encoder"),
    Family("GPT-2", ("gpt2",), "c_attn", "c_proj", layout="qkv thirds", example="gpt2",
           note="fused QKV (Conv1D)"),
    Family("GPT-NeoX", ("gpt_neox",), "query_key_value", "dense", layout="qkv per head",
           example="EleutherAI/pythia-70m", note="fused QKV per head, parallel attention"),
    Family("Llama", ("llama",), "v_proj", "o_proj", example="meta-llama/Llama-3.2-1B",
           note="grouped-query attention, RMSNorm"),
    Family("Mistral", ("mistral",), "v_proj", "o_proj", example="mistralai/Mistral-7B-v0.1",
           note="grouped-query attention, sliding window"),
    Family("Qwen2", ("qwen2",), "v_proj", "o_proj", example="Qwen/Qwen2.5-0.5B",
           note="grouped-query attention, QKV biases"),
    Family("Gemma", ("gemma",), "v_proj", "o_proj", example="google/gemma-2b",
           note="head size x heads != hidden size, multi-query"),
    Family("OPT", ("opt",), "v_proj", "out_proj", example="facebook/opt-125m",
           note="learned positions"),
    Family("T5", ("t5", "mt5"), "v", "o", causal=False, cross="EncDecAttention",
           example="google-t5/t5-small", note="encoder-decoder; no biases, no 1/sqrt(d) "
           "scaling, relative positions"),
    Family("BART", ("bart",), "v_proj", "out_proj", causal=False, cross="encoder_attn",
           example="facebook/bart-base", note="encoder-decoder; biases, learned positions"),
    Family("Marian", ("marian",), "v_proj", "out_proj", causal=False, cross="encoder_attn",
           example="Helsinki-NLP/opus-mt-en-de", note="encoder-decoder; slow SentencePiece "
           "tokenizer (no offsets)"),
)
MEASURES_OF_ANY_MODEL = ("attention", "rollout")  # need nothing of the family
FAMILY_MEASURES = ("norm",)  # need an entry here


def supported() -> str:
    """The families `norm` knows, for messages: 'BERT (bert, roberta, electra), ...'."""
    return ", ".join(f"{f.name} ({', '.join(f.model_types)})" for f in FAMILIES)


def family_of(model_type: str | None) -> Family | None:
    """The family covering a config's model_type, or None."""
    return next((f for f in FAMILIES if model_type in f.model_types), None)


def check_family(model_type: str | None, who: str, measures: Sequence[str]) -> Family | None:
    """The model's family; ModelError (one line naming the model and the supported families)
    when a measure that needs the family (`norm`) is asked of a model type not in FAMILIES.
    `who`: the model as messages name it, e.g. "'tiny' (BloomForCausalLM)"."""
    family = family_of(model_type)
    wanted = [m for m in measures if m in FAMILY_MEASURES]
    if family is None and wanted:
        raise ModelError(f"model {who}, model type {model_type!r}: the measure {wanted[0]!r} reads "
                         "each head's value and output projections, known for these families "
                         f"only: {supported()}; {' and '.join(MEASURES_OF_ANY_MODEL)} work "
                         "with any model")
    return family


def model_type_in(folder: str | Path) -> str | None:
    """The model_type a model folder's config.json names (None when it names none), so that a
    measure the family cannot give is refused before the model is loaded."""
    try:
        config = json.loads((Path(folder) / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return config.get("model_type") if isinstance(config, dict) else None


def markdown_table() -> str:
    """The README's table of families x measures, rendered from FAMILIES (ends with a newline)."""
    rows = ["| family | model types | e.g. | what sets it apart | attention | rollout | norm | grad |",
            "| --- | --- | --- | --- | :-: | :-: | :-: | :-: |"]
    for f in FAMILIES:
        types = ", ".join(f"`{t}`" for t in f.model_types)
        grad = "yes (the target's)" if f.encoder_decoder else "yes" if f.causal else "no (encoder)"
        rollout = "encoder" if f.encoder_decoder else "yes"
        rows.append(f"| {f.name} | {types} | {f.example} | {f.note} | yes | {rollout} | yes | "
                    f"{grad} |")
    rows.append("| any other model that returns its attention | | | | yes | yes | no | "
                "causal LMs with their head |")
    rows.append("| any other text-to-text encoder-decoder (AutoModelForSeq2SeqLM) | | | | yes | "
                "encoder | no | yes (the target's) |")
    return "\n".join(rows) + "\n"
