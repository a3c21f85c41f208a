"""Every head's statistics as numbers to take away: CSV, JSON, and a table for the terminal
(`attention-atlas stats --format table|csv|json`), and the site's download of the same CSV
(head-stats.csv at the site's root, from the index's corpus view and each head page).

The statistics are those the corpus view offers (pipeline.site.corpus_view.selectables: the
registry's, each span pair a -> b, each relation with at least MIN_ARCS arcs), each head's
corpus value and its rank among the heads (1 = the highest; ties share the better rank; a head
where a statistic is undefined has neither). Measures come in the registry's order, statistics
in the selector's, heads by layer then head (by rank with --top), so the command and the site
write the same bytes.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass

import numpy as np

from pipeline.errors import ConfigError
from pipeline.measures import MEASURES
from pipeline.site.corpus_view import Cases, Selectable, ranks, selectables

STATS_CSV = "head-stats.csv"  # the site's download, beside index.html
FORMATS = ("table", "csv", "json")
TABLE_TOP = 5  # heads per statistic in the table, unless --top says otherwise
COLUMNS = ["measure", "statistic", "layer", "head", "value", "rank"]


@dataclass(frozen=True)
class Column:
    """One statistic of one measure, every head: values float64 (L, H), NaN where undefined;
    ranks int64 (L, H), 0 where undefined."""

    measure: str
    key: str  # as --stat and the site name it: "prev", "span:MOT>CHI", "dep:nsubj"
    description: str
    values: np.ndarray
    ranks: np.ndarray
    baseline: dict | None = None  # a relation's best fixed offset: {"offset", "accuracy", "arcs"}

    def heads(self, top: int | None = None) -> list[tuple[int, int, float, int]]:
        """(layer, head, value, rank), 1-based: every head by layer and head, or with `top` the
        `top` highest (ranked heads only) by rank, then layer and head."""
        L, H = self.values.shape
        rows = [(l_ + 1, h + 1, float(self.values[l_, h]), int(self.ranks[l_, h]))
                for l_ in range(L) for h in range(H)]
        if top is None:
            return rows
        return sorted((r for r in rows if r[3] > 0), key=lambda r: (r[3], r[0], r[1]))[:top]


@dataclass(frozen=True)
class StatsTable:
    """One store's statistics: its columns, measure by measure; `label`: a series' member."""

    columns: list[Column]
    shapes: dict[str, tuple[int, int]]  # measure -> (layers, heads)
    sentences: int
    label: str | None = None


def measure_columns(measure: str, sels: list[Selectable]) -> list[Column]:
    """A measure's columns from the corpus view's selectable statistics (in their order)."""
    out = []
    for sel in sels:
        dep = sel.baseline
        baseline = None if dep is None else {"offset": int(dep.baseline_offset),
                                             "accuracy": _number(dep.baseline_accuracy),
                                             "arcs": int(dep.arcs)}
        out.append(Column(measure, sel.key, sel.description, sel.values, ranks(sel.values), baseline))
    return out


def store_table(head_stats: dict[str, object], sentences: int, label: str | None = None
                ) -> StatsTable:
    """A store's table from its measures' HeadStats (measure -> HeadStats), in the registry's
    order. The corpus view's cases only order a head page's sentences: none are needed here."""
    no_cases = Cases(np.zeros(sentences, np.int64), {})
    columns, shapes = [], {}
    for measure in sorted(head_stats, key=list(MEASURES).index):
        stats = head_stats[measure]
        shapes[measure] = tuple(stats.shape)
        columns += measure_columns(measure, selectables(stats, no_cases))
    return StatsTable(columns, shapes, sentences, label)


def site_table(views: list[tuple[str, tuple[int, int], list[Selectable]]], sentences: int
               ) -> StatsTable:
    """The site's table from its corpus views: (measure, (layers, heads), its selectables) each,
    in the registry's order as the command gives them."""
    views = sorted(views, key=lambda v: list(MEASURES).index(v[0]))
    return StatsTable([c for m, _, sels in views for c in measure_columns(m, sels)],
                      {m: tuple(shape) for m, shape, _ in views}, sentences)


def choose(table: StatsTable, stat: str | None) -> StatsTable:
    """The table with only the statistic `stat` (None: all); ConfigError naming the statistics
    there are when a measure lacks it."""
    if stat is None:
        return table
    for measure in table.shapes:
        keys = [c.key for c in table.columns if c.measure == measure]
        if stat not in keys:
            raise ConfigError(f"--stat {stat}: no such statistic of {measure!r}"
                              f"{f' in {table.label}' if table.label else ''}; the statistics: "
                              f"{', '.join(keys)}")
    return StatsTable([c for c in table.columns if c.key == stat], table.shapes, table.sentences,
                      table.label)


def _number(x: float) -> float | None:
    """A value as the CSV and JSON give it: 4 significant digits, as the pages show it (steady
    across machines, where the last bits of a mean may differ: a log's last bit is the CPU's;
    `store.head_stats()` has them all); None for NaN."""
    return None if math.isnan(x) else float(f"{x:.4g}")


def _text(x: float | None) -> str:
    """A number as CSV text: the shortest form of its 4 significant digits; '' for none."""
    return "" if x is None else f"{x:.4g}"


def to_csv(tables: list[StatsTable], top: int | None = None) -> str:
    """measure,statistic,layer,head,value,rank: a line per head and statistic (a series adds a
    first column, model, each table's label). Undefined values and their ranks are empty."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    series = any(t.label is not None for t in tables)
    writer.writerow((["model"] if series else []) + COLUMNS)
    for table in tables:
        for c in table.columns:
            for layer, head, value, rank in c.heads(top):
                v = _number(value)
                writer.writerow(([table.label] if series else []) + [
                    c.measure, c.key, layer, head, _text(v), rank if v is not None else ""])
    return out.getvalue()


def to_json(tables: list[StatsTable], top: int | None = None) -> str:
    """{"measures": [{measure, layers, heads, sentences, statistics: [{key, description,
    baseline?, heads: [{layer, head, value, rank}]}]}]}; a series: {"models": [{label,
    measures}]}. Undefined values and ranks are null."""
    def one(table: StatsTable) -> list[dict]:
        return [{"measure": m, "layers": L, "heads": H, "sentences": table.sentences,
                 "statistics": [{"key": c.key, "description": c.description,
                                 **({"baseline": c.baseline} if c.baseline else {}),
                                 "heads": [{"layer": layer, "head": head, "value": _number(value),
                                            "rank": rank or None}
                                           for layer, head, value, rank in c.heads(top)]}
                                for c in table.columns if c.measure == m]}
                for m, (L, H) in table.shapes.items()]

    if any(t.label is not None for t in tables):
        data: dict = {"models": [{"label": t.label, "measures": one(t)} for t in tables]}
    else:
        data = {"measures": [m for t in tables for m in one(t)]}
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n"


def to_table(tables: list[StatsTable], top: int | None = None) -> str:
    """For the terminal: per measure, a line per statistic with its `top` (default TABLE_TOP)
    highest heads, `l<layer>h<head> value` (4 significant digits), a relation's baseline after
    them; a single statistic (--stat) as a column of rank, head and value."""
    top = TABLE_TOP if top is None else top
    lines: list[str] = []
    for table in tables:
        for measure, (L, H) in table.shapes.items():
            columns = [c for c in table.columns if c.measure == measure]
            unit = "layers" if H == 1 else "heads"
            lines.append(f"{table.label + ': ' if table.label else ''}{measure} ({L} layers x {H} "
                         f"heads, {table.sentences:,} sentences): the {top} highest {unit} of "
                         f"{'each statistic' if len(columns) > 1 else columns[0].key} (rank 1 = "
                         "the highest)")
            lines += _single(columns[0], top) if len(columns) == 1 else _grid(columns, top)
            lines.append("")
    return "\n".join(lines)


def _cell(layer: int, head: int, value: float) -> str:
    return f"l{layer}h{head} {value:.4g}"


def _baseline(c: Column) -> str:
    b = c.baseline
    return "" if b is None else f"(best fixed offset {b['offset']:+d}: {b['accuracy']:.4g})"


def _grid(columns: list[Column], top: int) -> list[str]:
    """A line per statistic: its key, then its highest heads, aligned in columns."""
    heads = [[_cell(la, h, v) for la, h, v, _ in c.heads(top)] for c in columns]
    n = max(map(len, heads))
    rows = [["statistic", *(str(k) for k in range(1, n + 1)), ""]]
    rows += [[c.key, *cells, *[""] * (n - len(cells)),
              _baseline(c) if cells else "(undefined: no sentence defines it)"]
             for c, cells in zip(columns, heads, strict=True)]
    sizes = [max(len(r[k]) for r in rows) for k in range(n + 2)]
    return ["  ".join(x.ljust(s) for x, s in zip(r, sizes, strict=True)).rstrip() for r in rows]


def _single(c: Column, top: int) -> list[str]:
    """One statistic: a line per head, rank first."""
    lines = [f"{'rank':>4}  {'head':<8} value"]
    lines += [f"{rank:>4}  {f'l{la}h{h}':<8} {v:.4g}" for la, h, v, rank in c.heads(top)]
    return lines + ([_baseline(c)] if c.baseline else [])
