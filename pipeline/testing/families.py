"""A random model of each family (pipeline/model/families.py), saved as a local folder with a
tokenizer trained here: no download. Tiny by default (2 layers, 4 heads, width 32), any size
from the arguments; each with what sets its family apart (grouped-query attention, a sliding
window, QKV biases, a head size that does not divide the width, fused QKV per head).

Nothing here imports torch or transformers at module level.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipeline.testing import train_bpe

SPECIAL = ["<|endoftext|>", "<s>", "</s>", "<pad>"]  # ids 0-3 of every tokenizer made here


@dataclass(frozen=True)
class Recipe:
    """How to make one family's model: its classes (transformers' names) and its tokenizer."""

    config: str  # e.g. "LlamaConfig"
    model: str  # the class saved: a causal LM with its head, or the bare encoder
    template: str | None  # the tokenizer's post-processor: special tokens around a text ($A)
    pad: str | None  # its pad token (None: none, as Llama's and Pythia's tokenizers have none)
    eos: str = "</s>"
    causal: bool = True


RECIPES = {
    "bert": Recipe("BertConfig", "BertModel", "<s> $A </s>", "<pad>", causal=False),
    "roberta": Recipe("RobertaConfig", "RobertaModel", "<s> $A </s>", "<pad>", causal=False),
    "distilbert": Recipe("DistilBertConfig", "DistilBertModel", "<s> $A </s>", "<pad>",
                         causal=False),
    "electra": Recipe("ElectraConfig", "ElectraModel", "<s> $A </s>", "<pad>", causal=False),
    "gpt2": Recipe("GPT2Config", "GPT2LMHeadModel", None, None, eos="<|endoftext|>"),
    "gpt_neox": Recipe("GPTNeoXConfig", "GPTNeoXForCausalLM", None, None, eos="<|endoftext|>"),
    "llama": Recipe("LlamaConfig", "LlamaForCausalLM", "<s> $A", None),
    "mistral": Recipe("MistralConfig", "MistralForCausalLM", "<s> $A", None),
    "qwen2": Recipe("Qwen2Config", "Qwen2ForCausalLM", None, "<|endoftext|>", eos="<|endoftext|>"),
    "gemma": Recipe("GemmaConfig", "GemmaForCausalLM", "<s> $A", "<pad>"),
    "opt": Recipe("OPTConfig", "OPTForCausalLM", "</s> $A", "<pad>"),
}


def config_kwargs(kind: str, *, layers: int, heads: int, kv_heads: int, width: int,
                  head_dim: int | None, positions: int, window: int, vocab: int,
                  ids: dict[str, int | None]) -> dict:
    """The family's config arguments for this size (transformers' names)."""
    pad, bos, eos = ids["pad"], ids["bos"], ids["eos"]
    common = {"vocab_size": vocab, "pad_token_id": pad, "bos_token_id": bos, "eos_token_id": eos}
    if kind == "gpt2":
        return {**common, "n_layer": layers, "n_head": heads, "n_embd": width,
                "n_positions": positions}
    if kind == "distilbert":
        return {**common, "dim": width, "n_layers": layers, "n_heads": heads,
                "hidden_dim": 2 * width, "max_position_embeddings": positions}
    sizes = {**common, "hidden_size": width, "num_hidden_layers": layers,
             "num_attention_heads": heads, "intermediate_size": 2 * width,
             "max_position_embeddings": positions}
    if kind == "roberta":  # positions counted from the pad token's id + 1
        return {**sizes, "max_position_embeddings": positions + 2}
    if kind == "electra":  # embeddings narrower than the layers, projected up
        return {**sizes, "embedding_size": width // 2}
    if kind == "opt":
        sizes.pop("intermediate_size")
        return {**sizes, "ffn_dim": 2 * width, "word_embed_proj_dim": width}
    if kind in ("llama", "mistral", "qwen2", "gemma"):
        sizes["num_key_value_heads"] = kv_heads
    if kind == "mistral":
        sizes["sliding_window"] = window
    if kind == "gemma":  # heads x head size need not be the width
        sizes["head_dim"] = head_dim or 2 * width // heads
    return sizes


def make_model(kind: str, folder: Path, *, layers: int = 2, heads: int = 4,
               kv_heads: int | None = None, width: int = 32, head_dim: int | None = None,
               positions: int = 64, window: int = 8, texts: list[str] | None = None,
               vocab_size: int = 400, seed: int = 0, **overrides) -> Path:
    """Save a model of family `kind` (a key of RECIPES) with random weights (from `seed`) and
    a byte-level BPE tokenizer trained here (on `texts`, by default the tiny corpus).
    kv_heads: the value heads of grouped-query families (default: heads // 2, Gemma's 1);
    window: Mistral's sliding window; head_dim: Gemma's head size (default 2 x width / heads);
    overrides: any other config arguments (e.g. intermediate_size)."""
    import torch  # here, not above: importing this module must not import torch
    import transformers
    from tokenizers import processors

    recipe = RECIPES[kind]
    bpe = train_bpe(texts, vocab_size, SPECIAL)
    if recipe.template:
        specials = dict.fromkeys(w for w in recipe.template.split() if w != "$A")
        bpe.post_processor = processors.TemplateProcessing(
            single=recipe.template, special_tokens=[(t, bpe.token_to_id(t)) for t in specials])
    bos = recipe.template.split()[0] if recipe.template else recipe.eos
    tokenizer = transformers.PreTrainedTokenizerFast(
        tokenizer_object=bpe, bos_token=bos, eos_token=recipe.eos, unk_token="<|endoftext|>",
        pad_token=recipe.pad, model_max_length=positions)
    tokenizer.save_pretrained(folder)
    ids = {"pad": bpe.token_to_id(recipe.pad) if recipe.pad else None,
           "bos": bpe.token_to_id(bos), "eos": bpe.token_to_id(recipe.eos)}
    if kv_heads is None:
        kv_heads = 1 if kind == "gemma" else max(1, heads // 2)
    config = getattr(transformers, recipe.config)(**config_kwargs(
        kind, layers=layers, heads=heads, kv_heads=kv_heads, width=width, head_dim=head_dim,
        positions=positions, window=window, vocab=bpe.get_vocab_size(), ids=ids) | overrides)
    torch.manual_seed(seed)
    getattr(transformers, recipe.model)(config).save_pretrained(folder)
    return folder
