"""The figures of a series for papers (issue 21), as SVG, PDF or PNG: one head of one sentence
across checkpoints (`get_checkpoints_figure`) and chosen heads' statistic over training
(`get_training_figure`).

From plain inputs, so that a caller passes `series.labels, series.steps, series.stores`
(pipeline.series.Series): the checkpoints' labels, their steps (None for a model without
one) and their stores (AtlasStore, or anything with the same read API). The specs are
pipeline.site.series_charts'; they are bound to the stores' values here and rendered by
vl-convert as pipeline.site.figure renders the sentence figure: the same inputs give the
same bytes. A map is drawn from its 8-bit codes (the values the site shows, within one
code step of the store's); a line from `store.head_stats(measure)`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.errors import AtlasError, ConfigError, StoreError
from pipeline.series import Series
from pipeline.site import charts, series_charts
from pipeline.site.contexts import get_spans
from pipeline.site.figure import (
    ColourOptions,
    FigureError,
    check_measure,
    find_sentence,
    output_format,
    render,
)
from pipeline.stats.definitions import STATISTICS
from pipeline.store import quantize


@dataclass(frozen=True)
class SeriesFigureOptions(ColourOptions):
    """How a series figure looks: the colour bar (the checkpoints figure), the font and the PNG
    scale (ColourOptions), and the sizes."""

    size: int = series_charts.PANEL_PX  # each map's side (the checkpoints figure)
    columns: int = series_charts.COLUMNS  # maps per row, at most
    width: int = series_charts.LINE_WIDTH  # the training figure's plot
    height: int = series_charts.LINE_HEIGHT

    def check(self) -> None:
        """FigureError naming the first option out of range."""
        if not 60 <= self.size <= 2000:
            raise FigureError(f"--width {self.size}: give each map's side in pixels, 60 to 2000")
        if not 100 <= self.width <= 4000 or not 60 <= self.height <= 4000:
            raise FigureError(f"a plot of {self.width} x {self.height} pixels: give 100 to 4000 "
                              "wide, 60 to 4000 high")
        if self.columns < 1:
            raise FigureError(f"--columns {self.columns}: give 1 or more")
        self.check_shared()


def select_checkpoints(labels: Sequence[str], steps: Sequence[int | None],
                       chosen: str | Sequence[str] | None) -> list[int]:
    """The positions of the chosen checkpoints, in the series' order: "all" (or None) for
    every one, else labels or steps, comma-separated ("step-0,step-100" or "0,100")."""
    if chosen is None or chosen == "all":
        return list(range(len(labels)))
    names = [c.strip() for c in (chosen.split(",") if isinstance(chosen, str) else chosen)]
    found = set()
    for name in names:
        if name in labels:
            found.add(list(labels).index(name))
        elif re.fullmatch(r"\d+", name) and int(name) in steps:
            found.add(list(steps).index(int(name)))
        else:
            raise FigureError(f"no checkpoint {name!r} in the series: give labels or steps of "
                              f"{', '.join(labels)} (or 'all')")
    return sorted(found)


def parse_heads(text: str) -> list[tuple[int, int]]:
    """"l1h2,l3h4" -> [(1, 2), (3, 4)]: 1-based layers and heads, as on the site."""
    heads = []
    for part in (p.strip() for p in text.split(",")):
        match = re.fullmatch(r"[lL](\d+)[hH](\d+)", part)
        if not match:
            raise FigureError(f"--heads {text!r}: give heads as l<layer>h<head>, comma-separated, "
                              "1-based as on the site (e.g. l1h2,l3h4)")
        heads.append((int(match[1]), int(match[2])))
    if len(set(heads)) != len(heads):
        raise FigureError(f"--heads {text!r}: a head is named twice")
    return heads


def check_tokenizers(labels: Sequence[str], stores: Sequence, chosen: list[int],
                     sentence: str) -> None:
    """FigureError naming the first two chosen checkpoints whose tokenizers differ: by the
    tokenizer files' SHA-256 where both stores record one, else by the sentence's tokens."""
    first = chosen[0]
    for c in chosen[1:]:
        a, b = (stores[i].model.get("tokenizer_sha256") for i in (first, c))
        if a and b:
            same, why = a == b, f"tokenizer SHA-256 {a[:12]}… and {b[:12]}…"
        else:
            same = stores[first][sentence].tokens == stores[c][sentence].tokens
            why = f"sentence {sentence!r} is tokenized differently"
        if not same:
            raise FigureError(f"the tokenizers of {labels[first]} and {labels[c]} differ ({why}): "
                              "one sentence's maps can be compared across checkpoints only with "
                              "one tokenizer; choose checkpoints that share it (--checkpoints)")


def get_checkpoints_figure_data(labels: Sequence[str], steps: Sequence[int | None],
                                stores: Sequence, chosen: list[int], sentence: str, layer: int,
                                head: int, measure: str) -> tuple[list[str], dict, dict]:
    """The panels' titles and the datasets and params that bind the checkpoints figure's spec:
    the sentence's word map of one head in each chosen store, as 8-bit codes / 255."""
    _, rec = find_sentence(stores[chosen[0]], sentence)
    check_tokenizers(labels, stores, chosen, rec.id)
    pairs, titles, words = [], [], None
    for k, c in enumerate(chosen):
        check_measure(stores[c], measure)
        try:
            here = stores[c][rec.id]
        except (KeyError, StoreError):
            raise FigureError(f"{labels[c]} holds no sentence {rec.id!r}") from None
        maps, _ = here.word_maps(measure)
        n_layers, n_heads, n_words, _ = maps.shape
        if not (1 <= layer <= n_layers and 1 <= head <= n_heads):
            raise FigureError(f"layer {layer}, head {head} is out of range for {labels[c]}: "
                              f"{n_layers} layers x {n_heads} heads")
        if words is not None and here.words[:n_words] != words:
            raise FigureError(f"sentence {rec.id!r} has other words in {labels[c]} than in "
                              f"{labels[chosen[0]]}")
        words = list(here.words[:n_words])
        codes = quantize(maps[layer - 1, head - 1])
        pairs += [{"panel": k, "from": f, "to": t, "value": int(codes[f, t]) / 255}
                  for f in range(n_words) for t in range(n_words)]
        titles.append(series_charts.checkpoint_title(labels[c], steps[c]))
    spans = [{"i": i, "label": label, "first": a, "last": b, "track": track}
             for i, (label, a, b, track) in enumerate(get_spans(rec, len(words)))]
    params = {charts.WORDS: words, charts.TRACKS: max((s["track"] + 1 for s in spans), default=0),
              charts.SEL_LAYER: layer, charts.SEL_HEAD: head}
    return titles, {charts.DETAIL_DATA: pairs, charts.SPAN_DATA: spans}, params


def get_checkpoints_figure(labels: Sequence[str], steps: Sequence[int | None], stores: Sequence,
                           fmt: str, *, sentence: str, layer: int, head: int,
                           checkpoints: str | Sequence[str] | None = None,
                           options: SeriesFigureOptions = SeriesFigureOptions()) -> bytes:
    """One head of one sentence (an id, or a 0-based index) across the chosen checkpoints
    (`select_checkpoints`; all by default), as SVG, PDF or PNG bytes."""
    options.check()
    _check_lengths(labels, steps, stores)
    chosen = select_checkpoints(labels, steps, checkpoints)
    titles, datasets, params = get_checkpoints_figure_data(
        labels, steps, stores, chosen, sentence, layer, head, options.measure)
    domain = options.colour_domain
    if options.fit:  # one colour bar for every panel: from 0 to the largest value of any
        domain = charts.fit_domain(max((p["value"] for p in datasets[charts.DETAIL_DATA]),
                                       default=0.0))
    spec = series_charts.get_checkpoints_figure_spec(
        titles, measure_label=options.colour_title, domain=domain,
        size=options.size, columns=options.columns, font=options.font)
    return _render(charts.bind(spec, datasets, params), fmt, options.scale)


def statistic_values(store, key: str, measure: str) -> np.ndarray:
    """A store's corpus value of a statistic, float64 (L, H): a registry statistic ("prev"),
    span mass ("span:MOT>CHI") or dependency accuracy ("dep:nsubj"), as the corpus view keys them."""
    stats = store.head_stats(measure)
    if key.startswith("span:") and ">" in key:
        return np.asarray(stats.span_mass(*key[5:].split(">", 1)), dtype=np.float64)
    if key.startswith("dep:"):
        dependency = stats.dependency
        if key[4:] not in dependency:
            raise KeyError(f"no relation {key[4:]!r} with arcs in the corpus")
        return np.asarray(dependency[key[4:]].accuracy, dtype=np.float64)
    return np.asarray(stats[key], dtype=np.float64)


def statistic_label(key: str) -> str:
    """The y axis's title: the statistic with its unit ("entropy (nats)"), "span mass A → B",
    "dependency: nsubj"."""
    if key.startswith("span:") and ">" in key:
        return "span mass {} → {}".format(*key[5:].split(">", 1))
    if key.startswith("dep:"):
        return f"dependency: {key[4:]}"
    unit = STATISTICS[key].unit if key in STATISTICS else ""
    return f"{key} ({unit})" if unit else key


def get_training_figure_data(labels: Sequence[str], steps: Sequence[int | None],
                             stores: Sequence, stat: str, heads: list[tuple[int, int]],
                             measure: str) -> list[dict[str, Any]]:
    """The training figure's rows, head by head, checkpoint by checkpoint: {key "L1 H2", step,
    label, value} with value None where the head is outside a checkpoint's shape or the
    statistic is undefined."""
    values = []
    for label, store in zip(labels, stores, strict=True):
        try:
            values.append(statistic_values(store, stat, measure))
        except (KeyError, StoreError) as exc:
            message = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
            raise FigureError(f"{label}: {message}") from None
    for layer, head in heads:
        if not any(layer <= v.shape[0] and head <= v.shape[1] for v in values) or min(layer, head) < 1:
            shapes = ", ".join(f"{la}: {v.shape[0]} x {v.shape[1]}" for la, v in zip(labels, values, strict=True))
            raise FigureError(f"layer {layer}, head {head} is in no checkpoint (layers x heads: "
                              f"{shapes})")
    rows = []
    for layer, head in heads:
        for label, step, v in zip(labels, steps, values, strict=True):
            inside = layer <= v.shape[0] and head <= v.shape[1]
            value = float(v[layer - 1, head - 1]) if inside else float("nan")
            rows.append({"key": f"L{layer} H{head}", "step": step, "label": label,
                         "value": None if np.isnan(value) else value})
    return rows


def get_training_figure(labels: Sequence[str], steps: Sequence[int | None], stores: Sequence,
                        fmt: str, *, stat: str, heads: list[tuple[int, int]],
                        options: SeriesFigureOptions = SeriesFigureOptions()) -> bytes:
    """Chosen heads' statistic (a corpus view key) over the series, as SVG, PDF or PNG bytes."""
    options.check()
    _check_lengths(labels, steps, stores)
    if not heads:
        raise FigureError("--heads: name at least one head (e.g. l1h2)")
    rows = get_training_figure_data(labels, steps, stores, stat, heads, options.measure)
    spec = series_charts.get_training_figure_spec(
        list(steps), stat_label=statistic_label(stat), width=options.width,
        height=options.height, font=options.font)
    return _render(charts.bind(spec, {series_charts.LINE_DATA: rows}, {}), fmt, options.scale)


def _check_lengths(labels: Sequence[str], steps: Sequence, stores: Sequence) -> None:
    if not len(labels) == len(steps) == len(stores) or not labels:
        raise ValueError(f"a series figure needs a label, a step and a store for each checkpoint: "
                         f"got {len(labels)} labels, {len(steps)} steps, {len(stores)} stores")


def _render(spec: dict[str, Any], fmt: str, scale: float) -> bytes:
    try:
        return render(spec, fmt, scale)
    except Exception as exc:  # vl-convert reports a failed render as a plain ValueError
        raise AtlasError(f"vl-convert could not render the figure: {exc}") from exc


def write_series_figure(out: Path, data: bytes) -> Path:
    """Write a figure's bytes (its folder made); the path."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)
    return out


__all__ = ["SeriesFigureOptions", "get_checkpoints_figure", "get_training_figure",
           "output_format", "parse_heads", "select_checkpoints", "write_series_figure"]


def draw_series_figure(series_dir: str, single: dict, series_only: dict, out: Path, cfg, *,
                       font: str | None, width: int | None, scale: float, batch: bool) -> Path:
    """`attention-atlas figure --series OUT`: the checkpoints figure (`single`: --sentence,
    --layer, --head), or with --stat the training figure (`series_only`: the series' flags);
    `cfg` the settings (measure, label, domain). Writes `out` and returns it."""
    if batch:
        raise ConfigError("--batch, --words-only and --no-grid are for the sentence figure of "
                          "one store, not with --series")
    fmt = output_format(out)
    size = {"size": width} if width and not series_only["--stat"] else {}
    plot = {"width": width} if width and series_only["--stat"] else {}
    options = SeriesFigureOptions(
        measure=cfg.measure, measure_label=cfg.measure_label, domain=cfg.domain, scale=scale,
        **({"font": font} if font else {}), **size, **plot,
        **({"columns": series_only["--columns"]} if series_only["--columns"] else {}))
    series = Series.open(series_dir)
    if series_only["--stat"]:
        extra = [name for name, value in {**single, "--checkpoints": series_only["--checkpoints"]}
                 .items() if value is not None]
        if extra:
            raise ConfigError(f"{', '.join(extra)}: --stat draws --heads over every checkpoint "
                              "of the series")
        if not series_only["--heads"]:
            raise ConfigError("--stat: name the heads to draw with --heads (e.g. l1h2,l3h4)")
        data = get_training_figure(series.labels, series.steps, series.stores, fmt,
                                   stat=series_only["--stat"],
                                   heads=parse_heads(series_only["--heads"]), options=options)
    else:
        missing = [name for name, value in single.items() if value is None]
        if missing or series_only["--heads"]:
            raise ConfigError(f"missing {', '.join(missing)} (the head across checkpoints), or "
                              "give --stat NAME --heads LIST (a statistic over training)")
        data = get_checkpoints_figure(series.labels, series.steps, series.stores, fmt,
                                      sentence=single["--sentence"], layer=single["--layer"],
                                      head=single["--head"],
                                      checkpoints=series_only["--checkpoints"] or "all",
                                      options=options)
    return write_series_figure(out, data)
