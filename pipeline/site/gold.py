"""Gold dependency trees on the site, where the corpus has them (a `.conllu` corpus's arcs): what
the sentence pages, the corpus view and the head pages add for them (docs/site.md, "Gold
trees"). A corpus without arcs gets none of it: its pages and files stay as they were.

- a sentence page's JSON gets `arcs`, [dependent, head or -1, relation] over its words; its
  script, assets/gold-sentence.js, outlines each gold head on the detail and shows the selected
  head's argmax against it (hit or miss) for the chosen relation;
- the corpus view's entry of a relation (`dep:<relation>` in data/_corpus.js) gets `baseline`:
  the best fixed offset's accuracy and the heads above it, which assets/gold-corpus.js marks;
- a head page's JSON gets `dependency`: per relation, the head's accuracy and the baseline's,
  which assets/gold-head.js draws (the spec `dependency` of assets/specs.js).
"""

from __future__ import annotations

from typing import Any

import altair as alt

from pipeline.site import charts

GOLD_ASSETS = "gold-"  # assets/gold-*: copied to the site of a corpus with arcs only
DEPENDENCY_SPEC = "dependency"  # its key in assets/specs.js (window.atlasSpecs)
RELATIONS_DATA = "relations"  # rows {relation, series, accuracy, about, arcs, href}: two per relation
HEAD_SERIES, BASELINE_SERIES = "this head", "best fixed offset"
HEAD_COLOUR, BASELINE_COLOUR = "#31688e", "#b8b8b8"


def sentence_arcs(rec: Any, n_words: int) -> list[list]:
    """A sentence's gold arcs over the words its page draws (the first `n_words`), as
    [dependent, head or -1 for the root, relation]; [] for a sentence without arcs."""
    return [[int(d), int(g), str(r)] for d, g, r in getattr(rec, "arcs", ()) or ()
            if 0 <= d < n_words and g < n_words]


def has_arcs(records) -> bool:
    """Whether any of the sentences has gold arcs (the site then carries the gold assets)."""
    return any(getattr(rec, "arcs", ()) for rec in records)


def _round(x: float) -> float:
    return float(f"{x:.4g}")


def baseline_entry(dep: Any) -> dict:
    """A relation's fixed-offset baseline as the corpus view shows it: its accuracy (4
    significant digits), its offset k (dependent + k == head) and the heads whose accuracy is
    above it, [layer, head] 1-based: from the exact shares (the same arcs' counts), not the
    rounded values, so a head that only ties it is not marked."""
    above = [[int(l_) + 1, int(h) + 1] for l_, h in zip(*(dep.accuracy > dep.baseline_accuracy).nonzero(),
                                                    strict=True)]
    return {"value": _round(dep.baseline_accuracy), "offset": int(dep.baseline_offset),
            "arcs": int(dep.arcs), "above": above}


def head_dependency(entries: list[dict], baselines: dict[str, Any], layer: int,
                    head: int) -> list[dict]:
    """One head's dependency accuracy per relation against the baseline, for its page: from the
    head page's `entries` (each statistic's value and rank) and `baselines` (statistic key ->
    the relation's Dependency), in the entries' order (the selector's); `layer`, `head`
    0-based. `above`: from the exact shares, as the corpus view marks it."""
    out = []
    for entry in entries:
        dep = baselines.get(entry["key"])
        if dep is None:
            continue
        out.append({"key": entry["key"], "relation": entry["key"].split(":", 1)[1],
                    "accuracy": entry["value"], "rank": entry["rank"], "ranked": entry["ranked"],
                    "baseline": _round(dep.baseline_accuracy), "offset": int(dep.baseline_offset),
                    "arcs": int(dep.arcs),
                    "above": bool(dep.accuracy[layer, head] > dep.baseline_accuracy)})
    return out


def get_dependency_spec(width: int = 360) -> dict[str, Any]:
    """A head page's chart: per relation, the head's dependency accuracy beside the best fixed
    offset's (grouped bars over 0 to 1); a bar opens that relation's statistic on the page.
    gold-head.js fills `relations` and sets the height (a step per relation)."""
    series = alt.Scale(domain=[HEAD_SERIES, BASELINE_SERIES], range=[HEAD_COLOUR, BASELINE_COLOUR])
    bars = alt.Chart(alt.Data(name=RELATIONS_DATA)).mark_bar(cursor="pointer").encode(
        y=alt.Y("relation:N", title=None, sort=None, axis=alt.Axis(labelLimit=140)),
        yOffset=alt.YOffset("series:N", sort=[HEAD_SERIES, BASELINE_SERIES]),
        x=alt.X("accuracy:Q", title="dependency accuracy (share of the relation's arcs)",
                scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(tickCount=5, grid=True)),
        color=alt.Color("series:N", scale=series, title=None,
                        legend=alt.Legend(orient="top", direction="horizontal")),
        href="href:N",
        tooltip=[alt.Tooltip("relation:N"), alt.Tooltip("series:N", title="whose"),
                 alt.Tooltip("accuracy:Q", format=".4f"), alt.Tooltip("about:N", title="which"),
                 alt.Tooltip("arcs:Q", title="arcs in the corpus", format=",")],
    ).properties(width=width, height=alt.Step(8, **{"for": "offset"}))
    return charts.finish_chart(bars, charts.PAGE_FONT)
