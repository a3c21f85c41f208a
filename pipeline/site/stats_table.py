"""Every head's statistics as numbers to take away: CSV, JSON, and a table for the terminal
(`attention-atlas stats --format table|csv|json`), and the site's download of the same CSV
(head-stats.csv at the site's root, from the index's corpus view and each head page).

The statistics are those the corpus view offers (pipeline.site.corpus_view.selectables: the
registry's, each span pair a -> b, each relation with at least MIN_ARCS arcs), each head's
corpus value and its rank among the heads (1 = the highest; ties share the better rank; a head
where a statistic is undefined has neither). Measures come in the registry's order, statistics
in the selector's, heads by layer then head (by rank with --top), so the command and the site
write the same bytes. An encoder-decoder's store has a table per measure and part (encoder,
decoder, cross: each with its own statistics and heads), and a column `part` after `measure`.
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
PART_COLUMNS = ["measure", "part", "statistic", "layer", "head", "value", "rank"]  # encoder-decoder
SELF = "self"
PART_ORDER = (SELF, "encoder", "decoder", "cross")


@dataclass(frozen=True)
class Column:
    """One statistic of one measure (and part), every head: values float64 (L, H), NaN where
    undefined; ranks int64 (L, H), 0 where undefined."""

    measure: str
    key: str  # as --stat and the site name it: "prev", "span:MOT>CHI", "dep:nsubj"
    description: str
    values: np.ndarray
    ranks: np.ndarray
    baseline: dict | None = None  # a relation's best fixed offset: {"offset", "accuracy", "arcs"}
    part: str = SELF  # an encoder-decoder's part: "encoder", "decoder" or "cross"

    @property
    def stream(self) -> str:
        """The table it belongs to: its measure's, or <measure>.<part>."""
        return stream_of(self.measure, self.part)

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
    shapes: dict[str, tuple[int, int]]  # stream (measure, or <measure>.<part>) -> (layers, heads)
    sentences: int
    label: str | None = None

    @property
    def parts(self) -> bool:
        """Whether it is an encoder-decoder's: its columns have parts."""
        return any(c.part != SELF for c in self.columns)


def stream_of(measure: str, part: str = SELF) -> str:
    """A measure's part as a table names it: the measure, or <measure>.<part>."""
    return measure if part == SELF else f"{measure}.{part}"


def _order(measure: str, part: str = SELF) -> tuple[int, int]:
    """Measures in the registry's order, each one's parts encoder, decoder, cross."""
    return list(MEASURES).index(measure), PART_ORDER.index(part)


def measure_columns(measure: str, sels: list[Selectable], part: str = SELF) -> list[Column]:
    """A measure's (part's) columns from the corpus view's selectable statistics (in order)."""
    out = []
    for sel in sels:
        dep = sel.baseline
        baseline = None if dep is None else {"offset": int(dep.baseline_offset),
                                             "accuracy": _number(dep.baseline_accuracy),
                                             "arcs": int(dep.arcs)}
        out.append(Column(measure, sel.key, sel.description, sel.values, ranks(sel.values), baseline,
                          part))
    return out


def store_table(head_stats: dict[str, object], sentences: int, label: str | None = None
                ) -> StatsTable:
    """A store's table from its measures' HeadStats (keyed by measure, or by stream for an
    encoder-decoder's parts: each HeadStats names its measure and part), in the registry's
    order. The corpus view's cases only order a head page's sentences: none are needed here."""
    no_cases = Cases(np.zeros(sentences, np.int64), {})
    columns, shapes = [], {}
    found = [(getattr(stats, "measure", key), getattr(stats, "part", SELF), stats)
             for key, stats in head_stats.items()]
    for measure, part, stats in sorted(found, key=lambda f: _order(f[0], f[1])):
        shapes[stream_of(measure, part)] = tuple(stats.shape)
        columns += measure_columns(measure, selectables(stats, no_cases), part)
    return StatsTable(columns, shapes, sentences, label)


def site_table(views: list[tuple], sentences: int) -> StatsTable:
    """The site's table from its corpus views: (measure, (layers, heads), its selectables[,
    part]) each, in the registry's order as the command gives them."""
    views = sorted(((*v, SELF)[:4] for v in views), key=lambda v: _order(v[0], v[3]))
    return StatsTable([c for m, _, sels, part in views for c in measure_columns(m, sels, part)],
                      {stream_of(m, part): tuple(shape) for m, shape, _, part in views}, sentences)


def choose(table: StatsTable, stat: str | None) -> StatsTable:
    """The table with only the statistic `stat` (None: all); ConfigError naming the statistics
    there are when a measure lacks it (an encoder-decoder's: when no part has it; the parts
    without it are left out, as cross has no prev and encoder no align_entropy)."""
    if stat is None:
        return table
    keys = {stream: [c.key for c in table.columns if c.stream == stream] for stream in table.shapes}
    where = f" in {table.label}" if table.label else ""
    if table.parts:
        shapes = {stream: shape for stream, shape in table.shapes.items() if stat in keys[stream]}
        if not shapes:
            every = list(dict.fromkeys(k for ks in keys.values() for k in ks))
            raise ConfigError(f"--stat {stat}: no such statistic of any part{where}; the "
                              f"statistics: {', '.join(every)}")
        return StatsTable([c for c in table.columns if c.key == stat], shapes, table.sentences,
                          table.label)
    for measure in table.shapes:
        if stat not in keys[measure]:
            raise ConfigError(f"--stat {stat}: no such statistic of {measure!r}{where}; the "
                              f"statistics: {', '.join(keys[measure])}")
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
    first column, model, each table's label; an encoder-decoder's store a column part after
    measure). Undefined values and their ranks are empty."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    series = any(t.label is not None for t in tables)
    parts = any(t.parts for t in tables)
    writer.writerow((["model"] if series else []) + (PART_COLUMNS if parts else COLUMNS))
    for table in tables:
        for c in table.columns:
            for layer, head, value, rank in c.heads(top):
                v = _number(value)
                writer.writerow(([table.label] if series else []) + [
                    c.measure, *([c.part] if parts else []), c.key, layer, head, _text(v),
                    rank if v is not None else ""])
    return out.getvalue()


def to_json(tables: list[StatsTable], top: int | None = None) -> str:
    """{"measures": [{measure, layers, heads, sentences, statistics: [{key, description,
    baseline?, heads: [{layer, head, value, rank}]}]}]}; a series: {"models": [{label,
    measures}]}; an encoder-decoder's store: an entry per measure and part, with its `part`.
    Undefined values and ranks are null."""
    def one(table: StatsTable) -> list[dict]:
        return [{"measure": m.partition(".")[0],
                 **({"part": m.partition(".")[2]} if table.parts else {}),
                 "layers": L, "heads": H, "sentences": table.sentences,
                 "statistics": [{"key": c.key, "description": c.description,
                                 **({"baseline": c.baseline} if c.baseline else {}),
                                 "heads": [{"layer": layer, "head": head, "value": _number(value),
                                            "rank": rank or None}
                                           for layer, head, value, rank in c.heads(top)]}
                                for c in table.columns if c.stream == m]}
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
            columns = [c for c in table.columns if c.stream == measure]
            unit = "layers" if H == 1 else "heads"
            name = measure if not table.parts else "{} ({})".format(*measure.split("."))
            lines.append(f"{table.label + ': ' if table.label else ''}{name} ({L} layers x {H} "
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
