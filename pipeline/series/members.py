"""Which models a series holds, in which order, under which labels: checkpoints found under a
folder, or models given one by one. Nothing here reads a model or a store."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import SeriesError

LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
TRAILING_NUMBER = re.compile(r"(\d+)$")
STORES = "stores"  # OUT/stores/<label>.zarr: one store per model


@dataclass(frozen=True)
class Member:
    """One model of a series: its label, its training step (None for a model without one), the
    model as given (a folder or a hub id) and its hub revision."""

    label: str
    step: int | None
    model: str
    revision: str | None = None

    def store(self, out: str | Path) -> Path:
        """Where its store goes: OUT/stores/<label>.zarr."""
        return store_path(out, self.label)


def store_path(out: str | Path, label: str) -> Path:
    """OUT/stores/<label>.zarr."""
    return Path(out) / STORES / f"{label}.zarr"


def check_label(label: object, where: str) -> str:
    """The label if it is safe in a file name and an address, else SeriesError naming it."""
    if not isinstance(label, str) or not LABEL.fullmatch(label):
        raise SeriesError(f"{where}: label {label!r} is not valid: expected 1 to 64 letters, digits, "
                          "'.', '_' or '-', starting with a letter or digit")
    return label


def label_of(model: str) -> str:
    """A label derived from a model's name: its last path component, made safe (other characters
    become '-'); "model" when nothing is left."""
    name = re.split(r"[/\\]", model.rstrip("/\\"))[-1] if model else ""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", name)
    safe = re.sub(r"^[^A-Za-z0-9]+", "", safe)[:64]
    return safe or "model"


def discover_checkpoints(folder: str | Path) -> list[Member]:
    """The checkpoints under a folder, ordered by step (numerically: 10 before 100).

    A checkpoint is a subfolder holding a config.json whose name ends in a number, the step:
    `checkpoint-<step>/` as the Hugging Face Trainer writes them, or `step_2000/`, `ckpt10/`.
    Anything else in the folder (trainer_state.json, runs/, a folder without config.json) is
    left alone. Labelled `step-<N>`. SeriesError when there is no such folder, no checkpoint in
    it, or two checkpoints with one step."""
    folder = Path(folder)
    if not folder.is_dir():
        raise SeriesError(f"checkpoints folder {folder}: no such folder")
    found: dict[int, Path] = {}
    for child in sorted(folder.iterdir()):
        match = TRAILING_NUMBER.search(child.name)
        if not match or not child.is_dir() or not (child / "config.json").is_file():
            continue
        step = int(match.group(1))
        if step in found:
            raise SeriesError(f"checkpoints folder {folder}: {found[step].name}/ and {child.name}/ "
                              f"both hold step {step}; keep one of them")
        found[step] = child
    if not found:
        raise SeriesError(f"checkpoints folder {folder}: no checkpoint in it (a subfolder holding "
                          "a config.json whose name ends in its step, e.g. checkpoint-500/)")
    return [Member(f"step-{step}", step, str(found[step])) for step in sorted(found)]


def explicit_members(entries: Iterable[tuple[str, str | None, str | None]],
                     where: str = "--model") -> list[Member]:
    """Models given one by one, (model, label or None, revision or None) each, kept in the order
    given. The label: the one given, else the model name's last component made safe (label_of).
    Steps are None: a model given by name has no step (`--checkpoints` reads steps from folder
    names). SeriesError for a bad or repeated label."""
    members: list[Member] = []
    for model, label, revision in entries:
        label = check_label(label if label is not None else label_of(model), where)
        same = next((m for m in members if m.label == label), None)
        if same is not None:
            raise SeriesError(f"{where}: {same.model!r} and {model!r} both have the label "
                              f"{label!r}; give each model its own label (--label, or "
                              "label = \"...\" in atlas.toml)")
        members.append(Member(label, None, model, revision))
    if not members:
        raise SeriesError(f"{where}: a series needs at least one model")
    return members
