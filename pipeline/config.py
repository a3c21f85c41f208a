"""Configuration: every setting's one default, one validation and one help text.

Defaults, then an optional `atlas.toml`, then command-line flags, in that order.
The CLI builds its options from `SETTINGS` (help and defaults included), so the
file, the flags and `--help` cannot disagree.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from pipeline.errors import ConfigError
from pipeline.measures import DEFAULT_MEASURE, get_measure, list_measures, parse_measures
from pipeline.model.identity import DEFAULT_MAX_NEW_TOKENS
from pipeline.sizes import DEFAULT_SITE_BYTES, SIZE_EXAMPLES, parse_size

CONFIG_FILE = "atlas.toml"
DEVICES = "auto, cpu, cuda, cuda:N or mps"
DTYPES = ("auto", "float32", "float16", "bfloat16")


def _text(value: Any) -> str | None:
    """A non-empty string, or the expectation it failed."""
    return None if isinstance(value, str) and value.strip() else "a non-empty string"


def _folder(value: Any) -> str | None:
    """A local folder (a URL is for --store alone)."""
    if _text(value):
        return _text(value)
    return ("a local folder, not a URL (a store may live at a URL: give it with --store)"
            if "://" in value else None)


def _choice(*choices: str) -> Callable[[Any], str | None]:
    """One of the given strings (the CLI offers them as a click.Choice)."""
    def check(value: Any) -> str | None:
        return None if value in choices else " or ".join(choices)
    check.choices = choices
    return check


def _int_range(low: int, high: int) -> Callable[[Any], str | None]:
    """An integer in [low, high]."""
    def check(value: Any) -> str | None:
        ok = isinstance(value, int) and not isinstance(value, bool) and low <= value <= high
        return None if ok else f"an integer from {low} to {high}"
    return check


def _seconds(value: Any) -> str | None:
    """A number of seconds >= 0."""
    ok = isinstance(value, int | float) and not isinstance(value, bool) and value >= 0
    return None if ok else "a number of seconds >= 0"


def _device(value: Any) -> str | None:
    """A device name torch understands."""
    ok = isinstance(value, str) and (value in ("auto", "cpu", "cuda", "mps")
                                     or value.startswith("cuda:"))
    return None if ok else DEVICES


def _number(low: float, high: float) -> Callable[[Any], str | None]:
    """A number (integer or not) in [low, high]."""
    def check(value: Any) -> str | None:
        ok = isinstance(value, int | float) and not isinstance(value, bool) and low <= value <= high
        return None if ok else f"a number from {low:g} to {high:g}"
    return check


FIT = "fit"  # a colour domain fitted to each map: 0 to its largest value (figures)


def _domain(value: Any) -> str | None:
    """Two numbers [low, high] in [0, 1], or "fit"."""
    ok = value == FIT or (isinstance(value, list | tuple) and len(value) == 2
                          and all(isinstance(v, int | float) and not isinstance(v, bool)
                                  for v in value)
                          and 0 <= value[0] < value[1] <= 1)
    return None if ok else f'two numbers [low, high] with 0 <= low < high <= 1, or "{FIT}"'



def _measures(value: Any) -> str | None:
    """Measure names: a list, or one string of comma-separated names, each in the registry."""
    ok = (isinstance(value, str) or (isinstance(value, list | tuple)
                                     and all(isinstance(v, str) for v in value)))
    if ok:
        try:
            parse_measures(value)
        except ConfigError:
            ok = False
    return None if ok else f"measure names from {', '.join(list_measures())}, e.g. attention,rollout"


def _models(value: Any) -> str | None:
    """A non-empty list of models: strings, or tables {model = "...", label = "...", revision =
    "..."} (label and revision optional)."""
    expected = ('a non-empty list of models: "ID|PATH" strings, or tables {model = "...", '
                'label = "...", revision = "..."}')
    if not isinstance(value, list | tuple) or not value:
        return expected
    for item in value:
        if isinstance(item, dict):
            if (set(item) - {"model", "label", "revision"} or _text(item.get("model"))
                    or any(k in item and _text(item[k]) for k in ("label", "revision"))):
                return expected
        elif _text(item):
            return expected
    return None


def _size(value: Any) -> str | None:
    """A size: see parse_size."""
    try:
        parse_size(value)
    except ConfigError:
        return SIZE_EXAMPLES
    return None


def _setting(default: Any, help: str, check: Callable[[Any], str | None] | None = None,
             metavar: str | None = None) -> Any:
    """A Config field with its help text and its check (None: optional, else checked)."""
    return field(default=default, metadata={"help": help, "check": check, "metavar": metavar})


@dataclass(frozen=True)
class Config:
    """Every setting of a run. `atlas.toml` holds any of these keys at top level."""

    corpus: str | None = _setting(None, "Corpus file: .txt, .jsonl or .conllu "
                                        "[default: the bundled example].", _text, "PATH")
    model: str | None = _setting(None, "Hugging Face id or local model folder; more than once: a "
                                       "series, one store each (docs/series.md) "
                                       "[default: the embedded all-MiniLM-L6-v2].", _text, "ID|PATH")
    revision: str | None = _setting(None, "Hub revision (commit, tag, branch) of --model.", _text)
    checkpoints: str | None = _setting(
        None, "A series: every checkpoint under this folder (checkpoint-<step>/, or any subfolder "
              "with a config.json whose name ends in its step), in step order; each into "
              "OUT/stores/step-<N>.zarr (docs/series.md).", _folder, "DIR")
    models: tuple[tuple[str, str | None, str | None], ...] | None = _setting(
        None, "A series of any models, in order: (model, label, revision) each; atlas.toml's "
              "`models = [...]`, or --model given more than once.", _models)
    out: str = _setting("build", "Output folder: OUT/atlas.zarr and OUT/site.", _folder, "DIR")
    store: str | None = _setting(None, "The Zarr store: a folder, or a URL: file:///abs/path, or "
                                       "s3://, gs://, ... through fsspec (its package installed) "
                                       "[default: OUT/atlas.zarr].", _text, "DIR|URL")
    site: str | None = _setting(None, "The site folder [default: OUT/site].", _folder, "DIR")
    batch_size: int = _setting(64, "Sentences per forward pass (fewer for long sentences).",
                               _int_range(1, 4096))
    device: str = _setting("auto", f"Where the model runs: {DEVICES}.", _device)
    dtype: str = _setting("auto", "Model dtype: auto (float16 on CUDA, float32 elsewhere), "
                                  "float32, float16 or bfloat16.", _choice(*DTYPES))
    measures: tuple[str, ...] = _setting(
        (DEFAULT_MEASURE,), "Measures to extract, comma-separated: "
                            f"{', '.join(list_measures())}. A store keeps the measures it holds; "
                            "one it lacks is computed for every sentence.", _measures, "NAMES")
    max_new_tokens: int = _setting(
        DEFAULT_MAX_NEW_TOKENS, "An encoder-decoder model (T5, BART, Marian, ...): the most "
                                "tokens of the target it generates (greedy) for a sentence "
                                "whose corpus item gives none; the store keeps the target.",
        _int_range(1, 4096), "N")
    measure: str = _setting(DEFAULT_MEASURE, "The measure the site opens with: "
                                             f"{', '.join(list_measures())}.",
                           _choice(*list_measures()))
    domain: tuple[float, float] | str | None = _setting(
        None, "Colour-bar domain, values beyond it clamped (the colour bar marks the end), or "
              f"'{FIT}': each map from 0 to its largest value (figures; a site's pages keep "
              "the measure's and offer both) [default: the measure's, "
              f"{' '.join(map(str, get_measure(DEFAULT_MEASURE).domain))} for "
              f"{DEFAULT_MEASURE}].", _domain, f"LOW HIGH|{FIT}")
    measure_label: str | None = _setting(
        None, f"Colour-bar title [default: the measure's, {get_measure(DEFAULT_MEASURE).title} "
              f"for {DEFAULT_MEASURE}].", _text)
    max_site_bytes: int = _setting(
        DEFAULT_SITE_BYTES, "The site's size limit (GitHub Pages': 1GB), e.g. 1GB, 500MB, 2.5GiB "
                            "or bytes. A larger corpus gets pages for the corpus view's exemplar "
                            "sentences, then for others in the order of their ids' SHA-256, "
                            "until the limit; the index and the statistics cover every sentence.",
        _size, "SIZE")
    on_error: str = _setting("raise", "A bad corpus item stops the run (raise) or is skipped "
                                      "and counted (skip).", _choice("raise", "skip"))
    wait: float = _setting(0.0, "Seconds to wait for another run's lock on the store "
                                "(0: refuse at once).", _seconds, "SECONDS")
    commit_every: float = _setting(2.0, "Seconds between commits to the store while extracting; "
                                        "a crash loses at most this much work (0: every chunk).",
                                   _seconds, "SECONDS")
    engine: str = _setting("local", "Where extraction runs: local (this process) or ray (a Ray "
                                    'cluster, with Ray Data; pip install "attention-atlas[ray]").',
                           _choice("local", "ray"))
    ray_address: str | None = _setting(None, "The Ray cluster to join (auto, or HOST:PORT) "
                                             "[default: start a local Ray instance].", _text,
                                       "ADDRESS")
    workers: int = _setting(0, "Ray workers, each loading the model once (0: one per GPU share "
                               "of the cluster, or one per node without GPUs).",
                            _int_range(0, 4096), "N")
    gpus_per_worker: float = _setting(1.0, "GPUs each Ray worker takes when the cluster has "
                                           "GPUs (0: CPUs only; 0.5: two workers per GPU).",
                                      _number(0, 64), "G")

    @property
    def series(self) -> bool:
        """Whether the settings name a series (checkpoints or models), not one model."""
        return bool(self.checkpoints or self.models)

    def series_members(self) -> list:
        """The series' models in order (pipeline.series.Member each); SeriesError for a folder
        without checkpoints, a bad or repeated label."""
        from pipeline.series import discover_checkpoints, explicit_members

        if self.checkpoints:
            return discover_checkpoints(self.checkpoints)
        return explicit_members([(m, label, rev or self.revision) for m, label, rev in self.models],
                                "models" if self.models else "--model")

    @property
    def stores_path(self) -> Path:
        """Where a series keeps its stores: OUT/stores."""
        return Path(self.out) / "stores"

    @property
    def store_path(self):
        """Where the store goes: a StoreLocation (a folder, or a URL); str() is as given."""
        from pipeline.store.location import StoreLocation  # zarr: not for `--help`

        return StoreLocation.of(self.store if self.store else Path(self.out) / "atlas.zarr")

    @property
    def site_path(self) -> Path:
        """Where the site goes."""
        return Path(self.site) if self.site else Path(self.out) / "site"

    @property
    def colour_domain(self) -> tuple[float, float]:
        """The colour bar's fixed domain: the setting, else (none, or "fit") the measure's."""
        return self.domain if isinstance(self.domain, tuple) else get_measure(self.measure).domain

    @property
    def colour_title(self) -> str:
        """The colour bar's title: the setting, else the measure's default."""
        return self.measure_label or get_measure(self.measure).title


SETTINGS = {f.name: f for f in fields(Config)}


def check_setting(key: str, value: Any, where: str) -> Any:
    """Validate one setting's value; returns it normalised (tuples for pairs, floats for seconds)."""
    spec = SETTINGS[key]
    if value is None and spec.default is None:
        return None
    if key == "max_site_bytes":  # its own reason: an unknown unit, a fraction of a byte...
        try:
            return parse_size(value)
        except ConfigError as exc:
            raise ConfigError(f"{where}: {key} = {value!r} is not valid: "
                              f"{str(exc).split(': ', 1)[1]}") from None
    expected = spec.metadata["check"](value)
    if expected:
        raise ConfigError(f"{where}: {key} = {value!r} is not valid: expected {expected}")
    if key == "domain":
        return FIT if value == FIT else (float(value[0]), float(value[1]))
    if key == "measures":
        return parse_measures(value)
    if key == "gpus_per_worker":
        return float(value)
    if key == "models":
        return tuple((v, None, None) if isinstance(v, str)
                     else (v["model"], v.get("label"), v.get("revision")) for v in value)
    return float(value) if spec.metadata["check"] is _seconds else value


SOURCES = ("model", "checkpoints", "models")  # what the models are: one of these, or none


FLAG_SOURCES = {"model": "--model", "checkpoints": "--checkpoints",
                "models": "--model more than once"}


def _one_source(settings: dict[str, Any], where: str, names: dict[str, str] | None = None) -> None:
    """ConfigError when one level (the file, or the flags) names the models twice."""
    names = names or {k: k for k in SOURCES}
    given = [names[k] for k in SOURCES if settings.get(k) is not None]
    if len(given) > 1:
        raise ConfigError(f"{where}: give one of {', '.join(names.values())} (one model, a folder "
                          f"of checkpoints, or a list of models), not {' and '.join(given)}")


def load_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> Config:
    """Defaults, then the TOML file (`path`, or ./atlas.toml when present), then non-None overrides.

    The models are named by one of `model`, `checkpoints` or `models`: two in the file, or two
    among the flags, is a ConfigError; any of them among the flags replaces the file's."""
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
            if key not in SETTINGS:
                raise ConfigError(f"{file}: unknown key {key!r}; valid keys: "
                                  f"{', '.join(sorted(SETTINGS))}")
            settings[key] = check_setting(key, value, str(file))
        _one_source(settings, str(file))
    flags = {k: v for k, v in (overrides or {}).items() if v is not None}
    _one_source(flags, "the flags", FLAG_SOURCES)
    if any(k in flags for k in SOURCES):
        settings = {k: v for k, v in settings.items() if k not in SOURCES}
    for key, value in flags.items():
        where = "--model/--label" if key == "models" else f"--{key.replace('_', '-')}"
        settings[key] = check_setting(key, value, where)
    cfg = replace(Config(), **settings)
    if cfg.series and cfg.store:
        raise ConfigError("store: a series keeps one store per model under OUT/stores/; give "
                          "--out (or out = ...) instead of --store")
    return cfg


def series_cache_key(cfg: Config) -> str:
    """The nightly workflow's cache key of a series: `series-` and a short hash of where its
    models come from (the checkpoints folder, or the models as given), not of their weights: a
    new checkpoint keeps the key, so the next run restores every store computed before and
    computes the new one alone (a store whose label now holds another model is recomputed)."""
    import hashlib
    import json

    source = ({"checkpoints": os.path.normpath(cfg.checkpoints)} if cfg.checkpoints
              else {"models": [list(m) for m in cfg.models]})
    return "series-" + hashlib.sha256(json.dumps(source, sort_keys=True).encode()).hexdigest()[:16]


def series_identity_key(cfg: Config) -> str:
    """A short hash over every model's identity in the series (label, step, and what the store
    checks of the model: pipeline.model.identity), read from files: changes when a checkpoint
    is added, removed or retrained."""
    import hashlib
    import json

    keys = [[m.label, m.step, _model_key_source(m.model, m.revision, cfg.max_new_tokens)]
            for m in cfg.series_members()]
    return hashlib.sha256(json.dumps(keys, sort_keys=True).encode()).hexdigest()[:16]


def _model_key_source(model: str | None, revision: str | None, max_new_tokens: int) -> dict:
    """What identifies a model, from its files when it is embedded or a local folder (an
    encoder-decoder's with max_new_tokens: its generated targets depend on it)."""
    from pipeline.model.identity import identify_model

    if model in (None, "default") or Path(os.path.expanduser(model)).exists():
        return identify_model(model, revision).fingerprint_with(max_new_tokens)
    return {"name": model, "revision": revision}


def model_cache_key(cfg: Config) -> str:
    """A short hex key for the model a store is written by: what the store checks of it."""
    # The nightly workflow keys its cached store on this, so that a change of model (or of
    # revision, or new weights in the same folder) starts a fresh store instead of restoring
    # one that `extract` must refuse (exit 5: a store holds one model). Read from files,
    # without torch (pipeline.model.identify_model); a hub id by its name and revision.
    import hashlib
    import json

    key = _model_key_source(cfg.model, cfg.revision, cfg.max_new_tokens)
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]


def resolved_settings(cfg: Config) -> dict[str, str]:
    """The settings a run uses, defaults resolved, as strings: corpus, model, paths, model_key."""
    from pipeline.corpus import bundled_corpus_path

    corpus = cfg.corpus or str(bundled_corpus_path())
    if cfg.series:  # `store`: the folder of the stores, which the workflow caches
        from pipeline.series import MANIFEST

        members = cfg.series_members()
        return {"corpus": corpus, "model": " ".join(m.model for m in members),
                "revision": cfg.revision or "", "out": cfg.out, "store": str(cfg.stores_path),
                "site": str(cfg.site_path), "model_key": series_cache_key(cfg),
                "series": " ".join(m.label for m in members),
                "manifest": str(Path(cfg.out) / MANIFEST), "identity_key": series_identity_key(cfg)}
    return {"corpus": corpus, "model": cfg.model or "default",
            "revision": cfg.revision or "", "out": cfg.out, "store": str(cfg.store_path),
            "site": str(cfg.site_path), "model_key": model_cache_key(cfg)}
