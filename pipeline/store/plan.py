"""The plan: the batches of an unfinished run, in a side file beside the store.

A run saves its batches before computing, and removes the file once it has finished, so a
rerun after a crash repeats them exactly and computes bit-identical values (see
pipeline/extract/run.py, `resume_or_plan`). What is atomic where: docs/store.md.
"""

from __future__ import annotations

import json

from pipeline.store.location import StoreLocation

PLAN_FILE = "atlas-plan.json"


def load_plan(location: StoreLocation) -> list[list[str]]:
    """The batches (lists of content keys) left by an interrupted run, or []."""
    try:
        plan = json.loads(location.read_text(PLAN_FILE) or "{}")
    except ValueError:
        return []
    if not isinstance(plan, dict):
        return []
    return plan.get("batches", []) if plan.get("rows") is not None else []


def save_plan(location: StoreLocation, rows: int, batches: list[list[str]]) -> None:
    """Persist a run's batches, with the store's committed rows (written whole: an
    atomic replace, or one PUT)."""
    location.write_text(PLAN_FILE, json.dumps({"rows": rows, "batches": batches}))


def clear_plan(location: StoreLocation) -> None:
    """Forget the plan once the run has finished."""
    location.remove(PLAN_FILE)
