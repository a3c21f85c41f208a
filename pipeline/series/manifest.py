"""OUT/series.json, the manifest of a series: the order, labels, steps, the models as given and
who they are (as each store records its model), and where each store lies (relative to OUT).

    {"format": "attention-atlas series", "version": 1,
     "models": [{"label": "step-10", "step": 10, "model": "ckpts/checkpoint-10",
                 "revision": null, "store": "stores/step-10.zarr",
                 "identity": {"name": "checkpoint-10", "weights_sha256": "…",
                              "tokenizer_sha256": "…", "n_layers": 2, "n_heads": 4}}, …]}

Written atomically (a temporary file, then one rename) after every store is extracted.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from pipeline.errors import SeriesError, StoreError
from pipeline.series.members import LABEL, Member
from pipeline.store.reader import AtlasStore

MANIFEST = "series.json"
FORMAT = "attention-atlas series"
VERSION = 1
IDENTITY = ("name", "revision", "weights_sha256", "tokenizer_sha256", "n_layers", "n_heads")
ENTRY = {"label": str, "step": (int, type(None)), "model": str, "revision": (str, type(None)),
         "store": str, "identity": dict}


def manifest_path(out: str | Path) -> Path:
    """OUT/series.json."""
    return Path(out) / MANIFEST


def identity_of(store: AtlasStore) -> dict:
    """What the manifest records of a store's model."""
    return {k: store.model.get(k) for k in IDENTITY}


def write_manifest(out: str | Path, members: Sequence[Member]) -> Path:
    """Write OUT/series.json for the members, whose stores (OUT/stores/<label>.zarr) must hold a
    finished run; SeriesError naming the member whose store cannot be opened."""
    entries = []
    for m in members:
        try:
            store = AtlasStore.open(m.store(out))
        except StoreError as exc:
            raise SeriesError(f"{m.label} ({m.model}): {exc}") from exc
        entries.append({"label": m.label, "step": m.step, "model": m.model,
                        "revision": m.revision,
                        "store": m.store(out).relative_to(out).as_posix(),
                        "identity": identity_of(store)})
    path = manifest_path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps({"format": FORMAT, "version": VERSION, "models": entries}, indent=2,
                      ensure_ascii=False) + "\n"
    fd, tmp = tempfile.mkstemp(prefix=f".{MANIFEST}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_manifest(out: str | Path) -> list[dict]:
    """The manifest's entries, checked; SeriesError naming the file and what is wrong."""
    path = manifest_path(out)
    if not path.is_file():
        raise SeriesError(f"no series at {out}: {path} does not exist; run `attention-atlas run "
                          "--checkpoints DIR` (or --model A --model B) first")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise SeriesError(f"{path} is not valid JSON ({exc}); rerun `attention-atlas extract` "
                          "for the series to rewrite it") from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise SeriesError(f"{path} is not an Attention Atlas series manifest "
                          f"(expected \"format\": \"{FORMAT}\")")
    if data.get("version") != VERSION:
        raise SeriesError(f"{path} has version {data.get('version')!r}; this pipeline reads "
                          f"version {VERSION}")
    entries = data.get("models")
    if not isinstance(entries, list) or not entries:
        raise SeriesError(f"{path}: \"models\" must be a non-empty list")
    labels: set[str] = set()
    for i, entry in enumerate(entries):
        where = f"{path}: models[{i}]"
        if not isinstance(entry, dict):
            raise SeriesError(f"{where} is not an object")
        for key, kind in ENTRY.items():
            if key not in entry:
                raise SeriesError(f"{where} has no {key!r}")
            if not isinstance(entry[key], kind) or isinstance(entry[key], bool):
                raise SeriesError(f"{where}: {key} = {entry[key]!r} has the wrong type")
        if not LABEL.fullmatch(entry["label"]) or entry["label"] in labels:
            raise SeriesError(f"{where}: label {entry['label']!r} is not valid or not unique")
        if Path(entry["store"]).is_absolute() or ".." in Path(entry["store"]).parts:
            raise SeriesError(f"{where}: store {entry['store']!r} must lie inside {out}")
        labels.add(entry["label"])
    return entries
