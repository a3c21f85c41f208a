"""Loading a model for extraction (torch and transformers, imported only when it loads).

`load_model` loads a model (Hugging Face id, local folder, or the embedded default)
with eager attention, after `identify_model` (pipeline.model.identity) has said who it
is; `ModelSpec` names a model and loads it only when something must be computed.
"""

from __future__ import annotations

import logging
import pickle
import warnings
from dataclasses import asdict, dataclass, replace
from typing import Any

from pipeline.errors import ConfigError, ModelError
from pipeline.measures import needs_lm_head
from pipeline.model.families import family_of
from pipeline.model.identity import (
    ModelIdentity,
    check_supported,
    fingerprint,
    identify_model,
    max_length_of,
)

log = logging.getLogger(__name__)

DTYPES = ("float32", "float16", "bfloat16")
EXACT = "eager"  # the attention implementation that returns the probabilities it computed
WHY_EAGER = "SDPA and flash kernels return no attention probabilities"


@dataclass(frozen=True)
class LoadedModel:
    """A model ready for extraction, with the facts the store records about it."""

    model: Any  # a transformers PreTrainedModel in eval mode, eager attention
    # a fast tokenizer (its offset mapping aligns tokens to words); an encoder-decoder's may be
    # slow (Marian's): pipeline/extract/encode.py finds its tokens in the text
    tokenizer: Any
    # name, revision, weights_sha256, tokenizer_sha256, n_layers, n_heads, causal, ...; an
    # encoder-decoder's: encoder_decoder, n_layers / n_heads of its encoder, n_decoder_layers,
    # n_decoder_heads, decoder_start_token_id
    info: dict
    device: Any  # torch.device
    dtype: Any  # torch.dtype

    @property
    def fingerprint(self) -> dict:
        """See `fingerprint`."""
        return fingerprint(self.info)

    @property
    def encoder_decoder(self) -> bool:
        """Whether the model is an encoder-decoder (its sentences are pairs: source, target)."""
        return bool(self.info.get("encoder_decoder"))


def resolve_device(device: str):
    """'auto' -> cuda when available, else cpu; otherwise the named torch.device (cpu, cuda:N, mps)."""
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError as exc:
        raise ConfigError(f"device: {device!r} is not a torch device (auto, cpu, cuda, cuda:1, "
                          "mps)") from exc
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device: {device!r} was asked for, but torch sees no CUDA device")
    if resolved.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(f"device: {device!r} was asked for, but torch sees no Apple MPS device")
    return resolved


def resolve_dtype(dtype: str, device):
    """'auto' -> float16 on CUDA, float32 elsewhere; otherwise one of DTYPES, as a torch.dtype."""
    import torch

    if dtype == "auto":
        return torch.float16 if device.type == "cuda" else torch.float32
    if dtype not in DTYPES:
        raise ConfigError(f"dtype: {dtype!r} is not one of auto, {', '.join(DTYPES)}")
    return getattr(torch, dtype)


# T5's feed-forward activations overflow float16 (inf, then NaN attention): `auto` gives them
# bfloat16 on CUDA (float32 where the GPU lacks it)
FP16_OVERFLOWS = ("t5", "mt5", "umt5", "longt5")

NO_LM_HEAD = ("the measure 'grad' needs a causal language-model head (AutoModelForCausalLM, "
              "e.g. the GPT-2 family) to define the sentence's log-likelihood")


def _shown(identity: ModelIdentity | None, name: str | None) -> str:
    """The model's name as messages show it."""
    return identity.name if identity is not None else str(name)


def _load_causal_lm(auto, config, source: str, who, dtype, kwargs: dict):
    """The model with its causal LM head, or ModelError when it has none (no made-up target)."""
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    shown = who.name if isinstance(who, ModelIdentity) else str(who)
    family = family_of(config.model_type)
    # an encoder (BERT family); a family's entry decides, since some decoders' configs say
    # is_decoder=False (GPT-NeoX); the first forward pass checks that the model is causal
    encoder = not family.causal if family else getattr(config, "is_decoder", True) is False
    if (config.model_type not in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES
            or getattr(config, "is_encoder_decoder", False) or encoder):
        raise ModelError(f"model {shown!r} ({config.model_type}, "
                         f"{', '.join(config.architectures or ['?'])}) has no causal "
                         f"language-model head: {NO_LM_HEAD}")
    model, loading = auto.from_pretrained(source, attn_implementation="eager", dtype=dtype,
                                          output_loading_info=True, **kwargs)
    if loading.get("missing_keys"):
        raise ModelError(f"model {shown!r}: its checkpoint has no weights for "
                         f"{', '.join(sorted(loading['missing_keys'])[:3])}; {NO_LM_HEAD}, "
                         "trained, not made up")
    return model


def use_exact_attention(model, asked: str | None = None) -> str:
    """Switch the model to eager attention unless it computes attention that way already, and
    return the one line the log gets: the implementation used and why. `asked`: what the model's
    config asked for, when it was loaded eager already. ModelError when it cannot switch."""
    current = getattr(model.config, "_attn_implementation", None)
    if current != EXACT:
        try:
            model.set_attn_implementation(EXACT)
        except (ValueError, ImportError, AttributeError) as exc:
            raise ModelError(f"model {model.name_or_path!r} ({type(model).__name__}) computes "
                             f"attention with {current!r} and cannot be switched to eager "
                             f"attention: {exc}".splitlines()[0]) from exc
        if getattr(model.config, "_attn_implementation", None) != EXACT:
            raise ModelError(f"model {model.name_or_path!r} ({type(model).__name__}) computes "
                             f"attention with {current!r} and cannot be switched to eager "
                             f"attention, which the atlas needs ({WHY_EAGER})")
        asked = current
    if asked and asked != EXACT:
        return f"attention: eager, not the {asked} the model asked for ({WHY_EAGER})"
    return f"attention: eager ({WHY_EAGER})"


def _probe(model, tokenizer, device) -> tuple[int, int, bool]:
    """Layers, heads and causality, read off one tiny forward pass."""
    import torch

    ids = tokenizer("a b c d", return_tensors="pt")["input_ids"].to(device)
    with torch.inference_mode():
        attentions = model(input_ids=ids, output_attentions=True).attentions
    if not attentions or attentions[0] is None:
        raise ModelError(f"model {model.name_or_path} returned no attention weights")
    first = attentions[0][0, 0].float()  # (T, T) layer 1 head 1
    causal = bool(torch.all(torch.triu(first, diagonal=1) == 0).item()) and first.shape[0] > 1
    return len(attentions), int(attentions[0].shape[1]), causal


def _load_seq2seq_lm(config, source: str, who, dtype, kwargs: dict):
    """An encoder-decoder with its language-model head (generation and the target's
    log-likelihood need it), or ModelError when it has none."""
    from transformers import AutoModelForSeq2SeqLM
    from transformers.models.auto.modeling_auto import MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES

    shown = who.name if isinstance(who, ModelIdentity) else str(who)
    if config.model_type not in MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES:
        raise ModelError(f"model {shown!r} ({config.model_type}) is an encoder-decoder model "
                         "that AutoModelForSeq2SeqLM does not load: the atlas runs text-to-text "
                         "encoder-decoders (T5, BART, Marian, ...)")
    model, loading = AutoModelForSeq2SeqLM.from_pretrained(
        source, attn_implementation="eager", dtype=dtype, output_loading_info=True, **kwargs)
    if loading.get("missing_keys"):
        raise ModelError(f"model {shown!r}: its checkpoint has no weights for "
                         f"{', '.join(sorted(loading['missing_keys'])[:3])}; an encoder-decoder "
                         "needs its language-model head, trained, to generate and score targets")
    return model


def _probe_pairs(model, tokenizer, device) -> dict:
    """An encoder-decoder's layers and heads (encoder, decoder) and decoder start token, read off
    one tiny teacher-forced forward pass."""
    import torch

    start = model.config.decoder_start_token_id
    if start is None:
        start = getattr(model.generation_config, "decoder_start_token_id", None)
    if start is None:
        raise ModelError(f"model {model.name_or_path} has no decoder_start_token_id")
    ids = tokenizer("a b c d", return_tensors="pt")["input_ids"].to(device)
    with torch.inference_mode():
        out = model(input_ids=ids, decoder_input_ids=torch.tensor([[start, start]], device=device),
                    output_attentions=True, use_cache=False)
    parts = (out.encoder_attentions, out.decoder_attentions, out.cross_attentions)
    if any(not maps or maps[0] is None for maps in parts):
        raise ModelError(f"model {model.name_or_path} returned no encoder, decoder or "
                         "cross-attention weights")
    t_s, t_t = ids.shape[1], 2
    shapes = [tuple(maps[0].shape[-2:]) for maps in parts]
    if shapes != [(t_s, t_s), (t_t, t_t), (t_t, t_s)]:  # LED's, LongT5's local attention
        raise ModelError(f"model {model.name_or_path!r} ({type(model).__name__}) returns "
                         f"attention maps of {shapes} for a source of {t_s} and a target of "
                         f"{t_t} tokens, not source x source, target x target and target x "
                         "source: local or sparse attention, which the atlas does not show")
    return {"n_layers": len(parts[0]), "n_heads": int(parts[0][0].shape[1]),
            "n_decoder_layers": len(parts[1]), "n_decoder_heads": int(parts[1][0].shape[1]),
            "decoder_start_token_id": int(start)}


def load_model(name: str | None = None, *, device: str = "auto", dtype: str = "auto",
               revision: str | None = None, causal_lm: bool = False) -> LoadedModel:
    """Load a model with eager attention (use_exact_attention); None (or 'default') means the
    embedded default model.

    causal_lm: load it with its causal language-model head (AutoModelForCausalLM), as the
    measure 'grad' needs; a model without one (an encoder such as the embedded MiniLM, or a
    checkpoint without the head's weights) raises ModelError naming the model and the measure.
    An encoder-decoder (T5, BART, Marian, ...) is always loaded with its language-model head
    (AutoModelForSeq2SeqLM): generation and `grad` need it.
    """
    identity = identify_model(name, revision)  # a name that exists nowhere fails here, at once
    import torch
    from safetensors import SafetensorError
    from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # our own bar is the one that matters
    local = identity is not None and identity.path is not None
    source = identity.path if local else str(name)
    torch_device = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, torch_device)
    kwargs = {"revision": revision} if revision and not local else {}
    try:
        config = AutoConfig.from_pretrained(source, **kwargs)
        if dtype == "auto" and torch_dtype == torch.float16 and config.model_type in FP16_OVERFLOWS:
            torch_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float32
        check_supported(config.to_dict(), _shown(identity, name))  # a hub model just downloaded
        with warnings.catch_warnings():  # Marian's advice to install its punctuation normaliser
            warnings.filterwarnings("ignore", "Recommended: pip install sacremoses")
            tokenizer = AutoTokenizer.from_pretrained(source, **kwargs)
        pairs = bool(getattr(config, "is_encoder_decoder", False))
        if pairs:
            model = _load_seq2seq_lm(config, source, identity or name, torch_dtype, kwargs)
        elif causal_lm:
            model = _load_causal_lm(AutoModelForCausalLM, config, source, identity or name,
                                    torch_dtype, kwargs)
        else:
            model = AutoModel.from_pretrained(source, attn_implementation="eager",
                                              dtype=torch_dtype, **kwargs)
    except (OSError, ValueError, KeyError, RuntimeError, pickle.UnpicklingError,
            SafetensorError) as exc:  # the last three: a damaged .bin or .safetensors
        raise ModelError(f"cannot load model {source!r}: {type(exc).__name__}: {exc}"
                         .splitlines()[0]) from exc
    if not getattr(tokenizer, "is_fast", False) and not pairs:
        raise ModelError(f"model {name!r}: a fast tokenizer (tokenizer.json) is needed for "
                         "the offset mapping that aligns tokens to words")
    if tokenizer.pad_token is None:  # GPT-2 family: pad with EOS, masked out anyway
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    model = model.to(torch_device).eval()
    log.info("%s", use_exact_attention(model, getattr(config, "_attn_implementation", None)))
    if pairs:
        sizes = _probe_pairs(model, tokenizer, torch_device)
        n_layers, n_heads, causal = sizes["n_layers"], sizes["n_heads"], False
    else:
        sizes = {}
        n_layers, n_heads, causal = _probe(model, tokenizer, torch_device)
    if causal_lm and not causal and not pairs:
        raise ModelError(f"model {_shown(identity, name)!r} ({type(model).__name__}) is not a "
                         f"causal language model: {NO_LM_HEAD}")
    if identity is None:  # downloaded just now: the revision is the commit it resolved to
        identity = ModelIdentity(str(name), None, revision or getattr(config, "_commit_hash", None),
                                 None, None, None)
    limits = [getattr(config, k, None) for k in ("max_position_embeddings", "n_positions")]
    info = {
        **{k: v for k, v in asdict(identity).items() if k not in ("max_length", "encoder_decoder")},
        "tokenizer": type(tokenizer).__name__,
        "model_type": config.model_type,
        "architecture": type(model).__name__,
        "n_layers": n_layers,
        "n_heads": n_heads,
        "causal": causal,
        "max_length": max_length_of(*limits, tokenizer.model_max_length),
        "special_tokens": sorted(set(tokenizer.all_special_tokens)),
        **({"encoder_decoder": True, **sizes} if pairs else {}),
    }
    kind = ("causal" if causal else "bidirectional") if not pairs else (
        f"encoder-decoder, decoder {sizes['n_decoder_layers']} layers x "
        f"{sizes['n_decoder_heads']} heads")
    log.info("model %s: %d layers x %d heads, %s, on %s (%s)", info["name"], n_layers, n_heads,
             kind, torch_device, str(torch_dtype).split(".")[-1])
    return LoadedModel(model, tokenizer, info, torch_device, torch_dtype)


@dataclass(frozen=True)
class ModelSpec:
    """A model named but not loaded: extraction identifies it from its files first, and loads
    it only when something must be computed."""

    name: str | None = None  # None: the embedded default
    revision: str | None = None
    device: str = "auto"
    dtype: str = "auto"
    causal_lm: bool = False  # with its causal language-model head (the measure 'grad')

    def for_measures(self, measures: tuple[str, ...]) -> ModelSpec:
        """The model as the measures need it: with its causal LM head when one needs it."""
        return replace(self, causal_lm=self.causal_lm or needs_lm_head(measures))

    def identify(self) -> ModelIdentity | None:
        """See `identify_model`."""
        return identify_model(self.name, self.revision)

    def load(self) -> LoadedModel:
        """See `load_model`."""
        return load_model(self.name, device=self.device, dtype=self.dtype, revision=self.revision,
                          causal_lm=self.causal_lm)
