"""Loading a model for extraction (torch and transformers, imported only when it loads).

`load_model` loads a model (Hugging Face id, local folder, or the embedded default)
with eager attention, after `identify_model` (pipeline.model.identity) has said who it
is; `ModelSpec` names a model and loads it only when something must be computed.
"""

from __future__ import annotations

import logging
import pickle
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
    tokenizer: Any  # a fast tokenizer (offset mapping is needed for word alignment)
    info: dict  # name, revision, weights_sha256, tokenizer_sha256, n_layers, n_heads, causal, ...
    device: Any  # torch.device
    dtype: Any  # torch.dtype

    @property
    def fingerprint(self) -> dict:
        """See `fingerprint`."""
        return fingerprint(self.info)


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


def load_model(name: str | None = None, *, device: str = "auto", dtype: str = "auto",
               revision: str | None = None, causal_lm: bool = False) -> LoadedModel:
    """Load a model with eager attention (use_exact_attention); None (or 'default') means the
    embedded default model.

    causal_lm: load it with its causal language-model head (AutoModelForCausalLM), as the
    measure 'grad' needs; a model without one (an encoder such as the embedded MiniLM, or a
    checkpoint without the head's weights) raises ModelError naming the model and the measure.
    """
    identity = identify_model(name, revision)  # a name that exists nowhere fails here, at once
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
        check_supported(config.to_dict(), _shown(identity, name))  # a hub model just downloaded
        tokenizer = AutoTokenizer.from_pretrained(source, **kwargs)
        if causal_lm:
            model = _load_causal_lm(AutoModelForCausalLM, config, source, identity or name,
                                    torch_dtype, kwargs)
        else:
            model = AutoModel.from_pretrained(source, attn_implementation="eager",
                                              dtype=torch_dtype, **kwargs)
    except (OSError, ValueError, KeyError, RuntimeError, pickle.UnpicklingError,
            SafetensorError) as exc:  # the last three: a damaged .bin or .safetensors
        raise ModelError(f"cannot load model {source!r}: {type(exc).__name__}: {exc}"
                         .splitlines()[0]) from exc
    if not getattr(tokenizer, "is_fast", False):
        raise ModelError(f"model {name!r}: a fast tokenizer (tokenizer.json) is needed for "
                         "the offset mapping that aligns tokens to words")
    if tokenizer.pad_token is None:  # GPT-2 family: pad with EOS, masked out anyway
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    model = model.to(torch_device).eval()
    log.info("%s", use_exact_attention(model, getattr(config, "_attn_implementation", None)))
    n_layers, n_heads, causal = _probe(model, tokenizer, torch_device)
    if causal_lm and not causal:
        raise ModelError(f"model {_shown(identity, name)!r} ({type(model).__name__}) is not a "
                         f"causal language model: {NO_LM_HEAD}")
    if identity is None:  # downloaded just now: the revision is the commit it resolved to
        identity = ModelIdentity(str(name), None, revision or getattr(config, "_commit_hash", None),
                                 None, None, None)
    limits = [getattr(config, k, None) for k in ("max_position_embeddings", "n_positions")]
    info = {
        **{k: v for k, v in asdict(identity).items() if k != "max_length"},
        "tokenizer": type(tokenizer).__name__,
        "model_type": config.model_type,
        "architecture": type(model).__name__,
        "n_layers": n_layers,
        "n_heads": n_heads,
        "causal": causal,
        "max_length": max_length_of(*limits, tokenizer.model_max_length),
        "special_tokens": sorted(set(tokenizer.all_special_tokens)),
    }
    log.info("model %s: %d layers x %d heads, %s, on %s (%s)", info["name"], n_layers, n_heads,
             "causal" if causal else "bidirectional", torch_device, str(torch_dtype).split(".")[-1])
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
