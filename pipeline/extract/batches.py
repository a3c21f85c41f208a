"""Batching: sort encoded sentences by length and cut them into batches under a memory budget.

Pure functions of the encoded sentences; the plan they make is saved in the
store while a run is unfinished, so a rerun after a crash repeats the same
batches and computes bit-identical values.
"""

from __future__ import annotations

from pipeline.extract.encode import Encoded

ATTENTION_BUDGET = 512 << 20  # bytes of float32 attention one batch may hold, all layers


def plan_batches(items: list[Encoded], batch_size: int, n_layers: int, n_heads: int) -> list[list[str]]:
    """Sort by length and cut into batches (content keys) of at most batch_size and ATTENTION_BUDGET."""
    batches, current, longest = [], [], 0
    for item in sorted(items, key=lambda e: (e.longest, e.key)):
        t = max(longest, item.longest)  # an encoder-decoder's pair: its longer side
        if current and (len(current) >= batch_size
                        or (len(current) + 1) * n_layers * n_heads * t * t * 4 > ATTENTION_BUDGET):
            batches.append(current)
            current, t = [], item.longest
        current.append(item.key)
        longest = t
    if current:
        batches.append(current)
    return batches


def resume_or_plan(old_plan: list[list[str]], to_compute: dict[str, Encoded], known: set[str],
                   batch_size: int, n_layers: int, n_heads: int) -> list[list[str]]:
    """This run's batches: an interrupted run's plan first (the same batches, so the same
    values bit for bit), then the sentences it did not cover. `known`: this corpus's keys."""
    old = [b for b in old_plan if any(k in to_compute for k in b)]
    old = [[k for k in b if k in known] for b in old]  # members that left the corpus can't be rerun
    covered = {k for b in old for k in b}
    rest = [e for k, e in to_compute.items() if k not in covered]
    return old + plan_batches(rest, batch_size, n_layers, n_heads)
