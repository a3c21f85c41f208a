"""What the corpus view shows, as data: from a store's head statistics to the index's grid and
the head pages (pure functions of the store: the same store gives the same site).

The index shows, for one selectable statistic at a time, every head's corpus value. A
selectable statistic is one of pipeline.stats.definitions.STATISTICS, a span pair a -> b present in
the corpus, or the dependency accuracy of a relation with at least MIN_ARCS arcs. Each
head page shows the head's value for every selectable statistic with its rank among all
heads, the distribution over sentences (a histogram over the head's own range), and the TOP
sentences at each end (ties ordered by the cases behind a value, then by position: `Cases`).
The sentences the head pages name are the exemplars; a site too small for all of them gives
pages to them in rank order (`exemplar_order`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from pipeline.site.gold import baseline_entry, head_dependency
from pipeline.site.names import site_name
from pipeline.stats.definitions import STATISTICS

MIN_ARCS = 20  # a relation needs this many arcs in the corpus to be offered
TOP = 10  # sentences listed at each end of a head's distribution
BINS = 20  # histogram bins


@dataclass(frozen=True)
class Cases:
    """What each sentence's values rest on, in corpus order: its words (the rows of the
    registry's statistics) and, per span label, its words in spans of that label (the rows of
    span mass from that label). Dependency accuracy's cases, the arcs, come from the store."""

    words: np.ndarray  # int64 (S,)
    span_words: dict[str, np.ndarray]  # label -> int64 (S,)


def sentence_cases(n_words: list[int], spans: list) -> Cases:
    """Cases from every sentence's word count and spans ((label, first, last exclusive)), in
    corpus order."""
    span_words: dict[str, np.ndarray] = {}
    for i, spans_i in enumerate(spans):
        for label, first, last in spans_i:
            span_words.setdefault(label, np.zeros(len(spans), np.int64))[i] += last - first
    return Cases(np.asarray(n_words, dtype=np.int64).reshape(-1), span_words)


@dataclass(frozen=True)
class Selectable:
    """One statistic the corpus view offers: its key, how it is shown, its values."""

    key: str  # "prev", "span:MOT>CHI", "dep:nsubj"
    label: str  # as the selector and the colour bar show it
    description: str
    values: np.ndarray  # float64 (L, H): the corpus value of every head
    per_sentence: Callable[[], np.ndarray]  # -> float32 (S, L, H), NaN where undefined
    cases: Callable[[], np.ndarray]  # -> int64 (S,): what each sentence's value rests on
    note: str = ""  # e.g. the arcs and the fixed-offset baseline of a relation
    baseline: Any = None  # a relation's Dependency (its fixed-offset baseline): pipeline.site.gold
    floor: float = 0.0  # its natural floor (a share, a distance, an entropy: 0): the colour
    # scale's start, so that near-equal heads are drawn near-equal (assets/corpus.js)


def selectables(stats, cases: Cases) -> list[Selectable]:
    """Every statistic the corpus view offers for one measure's (and part's) HeadStats, in
    order, with the cases behind each sentence's value (`cases`: the corpus's words and spans,
    of the side whose words attend: the target's for decoder and cross)."""
    words = _bind(np.asarray, cases.words)
    part = getattr(stats, "part", "self")
    out = [Selectable(name, name, STATISTICS[name].describe(part), stats[name],
                      _bind(stats.per_sentence, name), words, floor=STATISTICS[name].floor)
           for name in stats.names if name in STATISTICS]
    for a, b in stats.span_pairs:
        about = (f"attention target words in {a} spans pay to source words in {b} spans, mean over "
                 f"the {a} words" if part == "cross" else
                 f"attention words in {a} spans pay to words in {b} spans, mean over the {a} words")
        out.append(Selectable(f"span:{a}>{b}", f"span mass {a} → {b}", about, stats.span_mass(a, b),
                              _bind(stats.span_mass_per_sentence, a, b),
                              _bind(_label_words, cases, a)))
    for rel, dep in sorted(stats.dependency.items()):
        if dep.arcs < MIN_ARCS:
            continue
        out.append(Selectable(
            f"dep:{rel}", f"dependency: {rel}",
            f"share of {rel} arcs whose dependent attends most (other than to itself) to its "
            "head (Clark et al. 2019)", dep.accuracy, _bind(stats.dependency_per_sentence, rel),
            _bind(stats.dependency_arcs, rel),
            note=f"{dep.arcs:,} arcs; best fixed offset {dep.baseline_offset:+d}: "
                 f"{dep.baseline_accuracy:.3f}", baseline=dep))
    return out


def _bind(func, *args):
    return lambda: func(*args)


def _label_words(cases: Cases, label: str) -> np.ndarray:
    """Each sentence's words in spans of a label (0 where it has none)."""
    return cases.span_words.get(label, np.zeros(len(cases.words), np.int64))


def ranks(values: np.ndarray) -> np.ndarray:
    """1 for the head with the highest value, 2 for the next...; ties share the better rank;
    0 where the value is NaN. int64 (L, H)."""
    flat = values.reshape(-1)
    valid = ~np.isnan(flat)
    out = np.zeros(flat.shape, dtype=np.int64)
    ordered = np.sort(flat[valid])[::-1]  # descending
    # rank = 1 + the number of heads strictly above
    out[valid] = 1 + np.searchsorted(-ordered, -flat[valid], side="left")
    return out.reshape(values.shape)


def _extremes_all(per: np.ndarray, k: int,
                  cases: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The positions of the k largest and the k smallest values of every head's (S,) column of
    (S, L, H), NaN left out: largest first, then smallest first; ties by `cases` (S,), more
    first (a value from more arcs or words says more), then by position (deterministic). Two
    (L, H) object arrays of lists.

    A partition narrows each column to its k-th value; the ties at that value are kept and
    ordered by cases and position, so no column is sorted whole.
    """
    S, L, H = per.shape
    flat = per.reshape(S, L * H)
    if S == 0:  # a finished run of no sentences (every one dropped or skipped): nothing to name
        return _lists(L, H), _lists(L, H)
    more = np.zeros(S, np.int64) if cases is None else -np.asarray(cases, np.int64)
    top_out = np.empty(L * H, dtype=object)
    bottom_out = np.empty(L * H, dtype=object)
    for sign, out in ((1.0, top_out), (-1.0, bottom_out)):
        keyed = np.where(np.isnan(flat), -np.inf, sign * flat)  # larger = listed first
        # the k-th largest of each column (L * H,)
        kth = np.partition(keyed, S - k, axis=0)[S - k] if k < S else keyed.min(axis=0)
        for c in range(L * H):
            cand = np.flatnonzero((keyed[:, c] >= kth[c]) & ~np.isnan(flat[:, c]))
            order = np.lexsort((cand, more[cand], -keyed[cand, c]))[:k]
            out[c] = cand[order].tolist()
    return top_out.reshape(L, H), bottom_out.reshape(L, H)


def _lists(L: int, H: int) -> np.ndarray:  # noqa: N803 - the shape's names
    """An (L, H) object array of empty lists."""
    out = np.empty(L * H, dtype=object)
    out[:] = [[] for _ in range(L * H)]
    return out.reshape(L, H)


@dataclass(frozen=True)
class HeadColumn:
    """One selectable statistic as a head page shows it: for every head at once."""

    key: str
    label: str
    values: np.ndarray  # (L, H)
    ranks: np.ndarray  # (L, H)
    edges: np.ndarray  # (L, H, BINS + 1) each head's histogram edges, over its own values
    hist: np.ndarray  # (L, H, BINS) sentences per bin
    top: np.ndarray  # (L, H) lists of sentence positions, largest first
    bottom: np.ndarray  # (L, H) lists, smallest first
    top_values: np.ndarray  # (L, H) lists of their values
    bottom_values: np.ndarray


def head_columns(sel: Selectable, k: int = TOP) -> HeadColumn:
    """A selectable statistic's per-head page data: ranks, histograms, extremes."""
    per = sel.per_sentence()  # (S, L, H)
    S, L, H = per.shape
    edges = np.zeros((L, H, BINS + 1))
    hist = np.zeros((L, H, BINS), dtype=np.int64)
    for l_ in range(L):
        for h in range(H):
            col = per[:, l_, h]
            col = col[~np.isnan(col)]
            edges[l_, h] = histogram_edges(col)
            hist[l_, h] = np.histogram(col, bins=edges[l_, h])[0]
    top, bottom = _extremes_all(per, k, sel.cases())
    top_values = np.empty((L, H), dtype=object)
    bottom_values = np.empty((L, H), dtype=object)
    for l_ in range(L):
        for h in range(H):
            top_values[l_, h] = [float(per[p, l_, h]) for p in top[l_, h]]
            bottom_values[l_, h] = [float(per[p, l_, h]) for p in bottom[l_, h]]
    return HeadColumn(sel.key, sel.label, sel.values, ranks(sel.values), edges, hist, top, bottom,
                      top_values, bottom_values)


def histogram_edges(values: np.ndarray) -> np.ndarray:
    """BINS + 1 edges over one head's values (finite): from its smallest to its largest, so
    that the histogram's axis fits what it shows; one value (or none) gets a narrow range
    around it (± 5 % of it, ± 0.05 around 0; 0 to 1 for none). float64 (BINS + 1,)."""
    if not values.size:
        return np.linspace(0.0, 1.0, BINS + 1)
    lo, hi = float(values.min()), float(values.max())
    if hi <= lo:
        pad = abs(lo) * 0.05 or 0.05
        lo, hi = lo - pad, lo + pad
    return np.linspace(lo, hi, BINS + 1)


def _round_edges(edges: np.ndarray) -> list[float]:
    """Histogram edges as the page shows them: to two digits below the bin's width, so that
    the bins of a head whose values differ in the fourth digit stay apart."""
    step = float(edges[-1] - edges[0]) / max(1, len(edges) - 1)
    digits = max(0, 2 - int(np.floor(np.log10(step)))) if step > 0 else 6
    return [round(float(e), digits) + 0.0 for e in edges]  # + 0.0: no -0.0


def _round(x: float | None) -> float | None:
    """A value as the pages show it (4 significant digits); NaN as null."""
    return None if x is None or np.isnan(x) else float(f"{x:.4g}")


@dataclass(frozen=True)
class CorpusView:
    """One measure's (and part's) corpus view: the index's grid data and every head page's data."""

    measure: str
    title: str
    shape: tuple[int, int]
    index: dict  # the index's payload for this measure
    stats: list[Selectable]  # what the head pages list, in order
    heads: dict[tuple[int, int], dict]  # (layer, head), 1-based -> the head page's payload
    part: str = "self"  # an encoder-decoder's "encoder", "decoder" or "cross"

    @property
    def name(self) -> str:
        """Its name in the site (heads/<name>/, data/_corpus.js): `site_name`."""
        return site_name(self.measure, self.part)


def measure_view(stats, title: str, cases: Cases, k: int = TOP) -> CorpusView:
    """Everything the site shows of one measure's statistics (`stats`: a HeadStats; `cases`:
    the corpus's words and spans, which order ties).

    Sentences are named by their position in the corpus (the site's index data holds their
    ids, pages and texts), so a head page carries numbers only.
    """
    L, H = stats.shape
    part = getattr(stats, "part", "self")
    sels = selectables(stats, cases)
    columns = [head_columns(sel, k) for sel in sels]
    # an encoder-decoder's part: keyed by its name in the site (its head pages' folder)
    named = ({"measure": stats.measure} if part == "self" else
             {"measure": site_name(stats.measure, part), "of": stats.measure, "part": part})
    index = {**named, "title": title, "layers": L, "heads": H, "stats": [
        {"key": sel.key, "label": sel.label, "description": sel.description, "note": sel.note,
         "values": [[_round(v) for v in row] for row in sel.values.tolist()],
         "range": _range(sel.values), "floor": sel.floor,
         **({"baseline": baseline_entry(sel.baseline)} if sel.baseline is not None else {})}
        for sel in sels]}
    baselines = {sel.key: sel.baseline for sel in sels if sel.baseline is not None}
    heads = {}
    for l_ in range(L):
        for h in range(H):
            entries = [{
                "key": sel.key, "label": sel.label, "value": _round(float(col.values[l_, h])),
                "rank": int(col.ranks[l_, h]), "ranked": int((col.ranks > 0).sum()),
                "edges": _round_edges(col.edges[l_, h]), "hist": col.hist[l_, h].tolist(),
                "top": [[p, _round(v)] for p, v in zip(col.top[l_, h], col.top_values[l_, h],
                                                       strict=True)],
                "bottom": [[p, _round(v)] for p, v in zip(col.bottom[l_, h],
                                                          col.bottom_values[l_, h], strict=True)],
            } for sel, col in zip(sels, columns, strict=True)]
            heads[(l_ + 1, h + 1)] = {**named, "title": title, "layer": l_ + 1,
                                      "head": h + 1, "layers": L, "heads": H, "stats": entries}
            if baselines:  # a corpus with gold arcs: the relations against their baselines
                heads[(l_ + 1, h + 1)]["dependency"] = head_dependency(entries, baselines, l_, h)
    return CorpusView(stats.measure, title, (L, H), index, sels, heads, part)


def exemplars(view: CorpusView) -> set[int]:
    """The corpus positions of every sentence a measure's corpus view names: each head's top
    and bottom sentences of every statistic (the head pages link them)."""
    return {position for payload in view.heads.values() for entry in payload["stats"]
            for end in ("top", "bottom") for position, _ in entry[end]}


def exemplar_order(views: list[CorpusView]) -> list[int]:
    """Every sentence the corpus views name, each once, in the order they get pages when the
    site's size limit cannot hold them all: rank by rank (every list's first, then its
    second, ...); within a rank, measure by measure, statistic by statistic (as a head page
    lists them), head by head (layer, then head), the top list before the bottom one.

    So a small site gives every head the ends of every statistic before the middles of any.
    """
    # per view, per head (sorted): its entries, one per statistic, the same statistics for all
    lists = [[view.heads[key]["stats"] for key in sorted(view.heads)] for view in views]
    depth = max((len(entry[end]) for heads in lists for entries in heads for entry in entries
                 for end in ("top", "bottom")), default=0)
    order: dict[int, None] = {}  # insertion-ordered set
    for rank in range(depth):
        for heads in lists:
            for s in range(len(heads[0]) if heads else 0):
                for entries in heads:
                    for end in ("top", "bottom"):
                        if rank < len(entries[s][end]):
                            order.setdefault(entries[s][end][rank][0])
    return list(order)


def _range(values: np.ndarray) -> list[float | None]:
    """[min, max] over the heads, NaN left out ([0, 1] when every head is NaN)."""
    if np.isnan(values).all():
        return [0.0, 1.0]
    return [_round(float(np.nanmin(values))), _round(float(np.nanmax(values)))]
