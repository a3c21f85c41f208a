"""Which checkpoints of a series get sentence data within the site's size limit (the rule:
docs/site.md, "A series").

Statistics cost little (a number per head, statistic and checkpoint) and every checkpoint has
them. Sentence data costs a data script per sentence, measure and checkpoint, so a series of C
checkpoints costs up to C times the data of one model. The checkpoints get sentence data in a
priority order (`checkpoint_priority`: the reference, the last; then the first; then the one
farthest in log-step from those already taken, and so on), and `plan_checkpoints` takes as
many of them as let every list's first (each head's highest and lowest sentence of every
statistic) get a page with every checkpoint taken, at least two, else the reference alone: the
more room, the more checkpoints. The room left goes to more sentences, the other exemplars first
(pipeline.site.pages.choose_pages).

`measure_costs` measures what a sentence costs (its page and its data per checkpoint) on a
sample, so the plan is a pure function of sizes (`plan_checkpoints`), testable as such.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass

from pipeline.measures import stored_measures
from pipeline.site.contexts import get_sentence_context
from pipeline.site.data_format import encode_maps, encode_script
from pipeline.site.pages import index_row_bytes, page_cost
from pipeline.site.series_sentence import checkpoint_measures, checkpoint_record

log = logging.getLogger(__name__)

SAMPLE = 64  # sentences whose files are encoded to measure what a sentence costs


def _position(steps: Sequence[int | None]) -> list[float]:
    """Where each checkpoint lies for log-spacing: log(1 + step) when every step is known (a
    step 0 is the untrained model), else its position in the series."""
    if all(s is not None for s in steps):
        return [math.log1p(max(0, int(s))) for s in steps]
    return [float(k) for k in range(len(steps))]


def checkpoint_priority(steps: Sequence[int | None]) -> list[int]:
    """Every checkpoint's index once, in the order they get sentence data: the last (the
    reference), the first, then repeatedly the one farthest (in log(1 + step); by position when
    a step is unknown) from those already taken, the earlier on a tie. So any prefix of the
    order is spread over training on a log scale: 0, 10, 100, 1000, ... before the steps between."""
    n = len(steps)
    if n == 0:
        return []
    where = _position(steps)
    order = [n - 1] + ([0] if n > 1 else [])
    while len(order) < n:
        taken = set(order)
        best = max((k for k in range(n) if k not in taken),
                   key=lambda k: (min(abs(where[k] - where[t]) for t in order), -k))
        order.append(best)
    return order


@dataclass(frozen=True)
class Plan:
    """Which checkpoints get sentence data, and why."""

    chosen: tuple[int, ...]  # checkpoint indices, in series order (the reference always)
    target: str  # "corpus", "firsts" or "reference": what the chosen ones were sized for
    sentences: int  # how many sentences the room holds with them (estimated)
    per_sentence: float  # estimated bytes of one sentence with them


def plan_checkpoints(steps: Sequence[int | None], *, page_bytes: float,
                     data_bytes: Sequence[float], room: float | None, n_sentences: int,
                     n_firsts: int) -> Plan:
    """The checkpoints that get sentence data: a pure function of sizes.

    `page_bytes`: a sentence's page, its index line and the reference's data (what a sentence
    costs with no other checkpoint); `data_bytes[k]`: a sentence's data of checkpoint k (the
    reference's included, not counted again); `room`: the budget less the site's fixed part
    (None: no limit); `n_firsts`: the sentences that are the first of a list on the head pages
    (each head's highest and lowest of every statistic).

    The checkpoints are taken in checkpoint_priority's order for as long as the lists' firsts
    all fit with them (every head's extremes of every statistic shown at each of them), if that
    is at least two (the reference and the first); else the reference alone. Every checkpoint
    without a limit, or when the whole corpus fits with all of them. The more room, the more
    checkpoints (never fewer); the room they leave goes to more sentences, the other exemplars
    first.
    """
    order = checkpoint_priority(steps)
    n = len(order)
    reference = n - 1

    def cost(k: int) -> float:  # one sentence with the first k checkpoints of the order
        return page_bytes + sum(data_bytes[c] for c in order[1:k])

    def most(target: int) -> int:  # the most checkpoints with which `target` sentences fit
        k = 1
        while k < n and room is not None and target * cost(k + 1) <= room:
            k += 1
        return k if room is None or target * cost(k) <= room else 0

    if n == 0:
        return Plan((), "reference", 0, 0.0)
    if room is None or n_sentences * cost(n) <= room:
        k, target = n, "corpus"
    else:
        k, target = most(min(n_firsts, n_sentences)), "firsts"
        if k < min(2, n):
            k, target = 1, "reference"
    chosen = tuple(sorted(order[:k]))
    assert reference in chosen
    fits = n_sentences if room is None else min(n_sentences, int(room // cost(k)))
    return Plan(chosen, target, fits, cost(k))


@dataclass(frozen=True)
class Costs:
    """What a sentence costs, measured on a sample: its page with its index line and the
    reference's data (`page`), and each checkpoint's data (`data`, the reference's included)."""

    page: float
    data: tuple[float, ...]


def measure_costs(series, sample: Sequence[int], ids: Sequence[str], measures: Sequence,
                  page_bytes: Sequence[float]) -> Costs:
    """A sentence's cost, the mean over `sample` (corpus positions): each checkpoint's data
    scripts as encoded (one per measure it holds: `measures`, the site's MeasureViews), and
    `page_bytes` (per sampled sentence: its page and its index line)."""

    data = []
    for ck in series.checkpoints:
        held = stored_measures(ck.store.info)
        total = 0
        for i in sample:
            rec = checkpoint_record(series, ck, ids[i])
            for view in measures:
                if view.name in held:
                    total += len(encode_script(encode_maps(*rec.word_maps(view.name))))
        data.append(total / max(1, len(sample)))
    page = sum(page_bytes) / max(1, len(sample)) + data[series.reference]
    return Costs(page, tuple(data))


def sample_positions(order: Sequence[int], k: int = SAMPLE) -> list[int]:
    """The sentences a plan is measured on: `k` spread evenly over `order` (the order in which
    sentences get pages), so the sample is what the site will hold."""
    if len(order) <= k:
        return list(order)
    return [order[round(j * (len(order) - 1) / (k - 1))] for j in range(k)]


def apply_plan(series, chosen: Sequence[int]):
    """The SeriesView with sentence data for the `chosen` checkpoints only."""
    keep = set(chosen)
    return dataclasses.replace(series, checkpoints=tuple(
        dataclasses.replace(ck, sentence_data=k in keep) for k, ck in enumerate(series.checkpoints)))


def list_firsts(views) -> set[int]:
    """The sentences that are the first of a list on the head pages (each head's highest and
    lowest of every statistic, of every measure): `views` are the measures' CorpusViews."""
    return {entry[end][0][0] for view in views for payload in view.heads.values()
            for entry in payload["stats"] for end in ("top", "bottom") if entry[end]}


def plan_site(site, names: list[str], rows, env, order: list[int], firsts: set[int],
              room: int | None):
    """The site of a series with its plan applied (`site.series`'s checkpoints' sentence_data):
    the costs measured on a sample of `order` (the order in which sentences get pages),
    `firsts` the lists' firsts. Logs what each checkpoint got."""

    series = site.series
    if not series.same_tokenizer:  # the reference's sentences only (series_site)
        return site
    store = series.current.store
    sample = sample_positions(order)
    template = env.get_template("sentence.html")
    longest = max(map(len, names), default=0)
    lines = index_row_bytes(rows)
    pages = []
    for i in sample:
        rec = store[i]
        n_words = rec.word_maps(site.measure)[0].shape[-1]
        ctx = get_sentence_context(rec, i, names, site, n_words)
        html = template.render(page=ctx, site=ctx.site, root=ctx.root).encode("utf-8")
        pages.append(page_cost(len(html), ctx, longest) + lines[i])
    # the candidates: the reference, and the checkpoints the caller offers whose maps the pages
    # can set beside it (checkpoint_measures: one shape); in series order, the reference last
    offered = {id(ck) for ck, _ in checkpoint_measures(series, site.measures)}
    candidates = [k for k, ck in enumerate(series.checkpoints)
                  if k == series.reference or id(ck) in offered]
    sub = dataclasses.replace(series, checkpoints=tuple(series.checkpoints[k] for k in candidates),
                              reference=len(candidates) - 1)
    costs = measure_costs(sub, sample, [row.id for row in rows], site.measures, pages)
    plan = plan_checkpoints([ck.step for ck in sub.checkpoints], page_bytes=costs.page,
                            data_bytes=costs.data, room=room, n_sentences=len(rows),
                            n_firsts=len(firsts))
    plan = dataclasses.replace(plan, chosen=tuple(candidates[k] for k in plan.chosen))
    labels = [series.checkpoints[k].label for k in plan.chosen]
    log.info("series: sentence data for %d of %d checkpoints (%s), sized for the %s: about %s "
             "sentences at %.0f bytes each", len(labels), len(series.checkpoints), ", ".join(labels),
             plan.target, f"{plan.sentences:,}", plan.per_sentence)
    return dataclasses.replace(site, series=apply_plan(series, plan.chosen))
