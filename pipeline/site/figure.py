"""The sentence figure for papers: the page's grid and detail side by side, as SVG, PDF or PNG.

The figure is `charts.get_figure_spec` (built from the same Altair layers as the
page's two charts) bound to one sentence's maps exactly as the page binds them
(`assets/sentence.js`): the grid's thumbnails are W x W PNG images coloured by the
detail's own colour scale, and the detail's rows are the page's 8-bit values.
vl-convert renders it: no browser, no network. The same store and arguments give
byte-identical SVG, laid out with the font vl-convert ships (`charts.FIGURE_FONT`),
so on any machine.
"""

from __future__ import annotations

import base64
import logging
import re
import struct
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import vl_convert
from tqdm import tqdm

from pipeline.errors import AtlasError, ConfigError
from pipeline.measures import DEFAULT_MEASURE, check_stored, get_measure, stored_measures
from pipeline.site import charts
from pipeline.site.colours import colour_table, fitted_table  # noqa: F401 - figure's API too
from pipeline.site.contexts import SiteSentence, SiteStore, slugify
from pipeline.site.parts import PAIR_DEFAULT, SELF, measure_parts, part_sides
from pipeline.store import quantize

log = logging.getLogger(__name__)

FORMATS = ("svg", "pdf", "png")
FIT = "fit"  # --domain fit: each map's colours run from 0 to its largest value
PATTERN_FIELDS = ("id", "index", "layer", "head", "measure")  # what a --batch pattern may name


class FigureError(ConfigError):
    """A figure that cannot be made as asked: names the sentence, layer, head or measure; exit 2."""


@dataclass(frozen=True)
class ColourOptions:
    """What every figure shares: the measure and its colour bar, the font and the PNG scale
    (FigureOptions, and pipeline.site.series_figure.SeriesFigureOptions)."""

    measure: str = DEFAULT_MEASURE
    measure_label: str | None = None  # the colour bar's title; None: the measure's
    # the colour bar's domain; None: the measure's; "fit": 0 to the largest value of the map
    domain: tuple[float, float] | str | None = None
    font: str = charts.FIGURE_FONT
    scale: float = 2.0  # PNG pixels per figure pixel

    def check_shared(self) -> None:
        """FigureError naming the scale or the font where it is out of range."""
        if not 0 < self.scale <= 10:
            raise FigureError(f"--scale {self.scale}: give a factor above 0, at most 10")
        if not self.font.strip():
            raise FigureError("--font: give a font family (e.g. 'Liberation Sans')")

    @property
    def colour_title(self) -> str:
        """The colour bar's title: the option, else the measure's."""
        return self.measure_label or get_measure(self.measure).title

    @property
    def fit(self) -> bool:
        """Whether each map's colours are fitted to it (`--domain fit`): 0 to its largest value."""
        return self.domain == FIT

    @property
    def colour_domain(self) -> tuple[float, float]:
        """The colour bar's fixed domain: the option, else the measure's (fitted maps: the
        measure's, for what has no map of its own)."""
        low, high = get_measure(self.measure).domain if self.fit or not self.domain else self.domain
        return float(low), float(high)


@dataclass(frozen=True)
class FigureOptions(ColourOptions):
    """How every sentence figure of a run looks: the colour bar, and the paper's options."""

    note: bool = True  # the special-share note above the map (--words-only drops it)
    grid: bool = True  # the layer x head grid beside the map (--no-grid drops it)
    width: int = charts.DETAIL_PX  # the map's side in pixels; the grid scales with it
    part: str | None = None  # an encoder-decoder store's part (--part); None: its first, encoder

    def check(self) -> None:
        """FigureError naming the first option out of range."""
        if not 100 <= self.width <= 4000:
            raise FigureError(f"--width {self.width}: give the map's side in pixels, 100 to 4000")
        self.check_shared()


@dataclass(frozen=True)
class FigureRequest:
    """One figure: a sentence (an id, or a 0-based index), a 1-based layer and head, a file."""

    sentence: str
    layer: int
    head: int
    out: Path
    where: str = field(default="", compare=False)  # "FILE:LINE: " for a line of a --batch file


def output_format(path: Path) -> str:
    """The format a file name asks for, from its extension."""
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise FigureError(f"{path}: the extension decides the format: .svg, .pdf or .png")
    return fmt


def find_sentence(store: SiteStore, key: str) -> tuple[int, SiteSentence]:
    """A sentence by id, else by 0-based index (an id that looks like a number wins)."""
    ids = list(store.ids)
    if key in ids:
        position = ids.index(key)
    elif re.fullmatch(r"\d+", key.strip()) and int(key) < len(ids):
        position = int(key)
    else:
        raise FigureError(f"no sentence {key!r} in the store: give one of its {len(ids)} ids "
                          f"or a 0-based index from 0 to {len(ids) - 1}")
    return position, store[position]


def check_measure(store: SiteStore, measure: str) -> None:
    """FigureError unless the store holds the measure."""
    check_stored(measure, stored_measures(store.info), "the store", FigureError)


def png_bytes(rgb: np.ndarray) -> bytes:
    """An RGB image, uint8 (height, width, 3), as PNG bytes (fixed compression: deterministic)."""
    height, width, _ = rgb.shape
    raw = b"".join(b"\x00" + row.tobytes() for row in np.ascontiguousarray(rgb))  # filter 0 per row

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB, no interlace
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9))
            + chunk(b"IEND", b""))


def get_figure_data(rec: SiteSentence, maps: np.ndarray, special: np.ndarray, layer: int,
                    head: int, domain: tuple[float, float], fit: bool = False, part: str = SELF
                    ) -> tuple[dict[str, list], dict[str, Any]]:
    """The datasets and params that bind the figure's spec to a sentence, as the page binds its
    charts: maps (L, H, R, C) and special shares (L, H, R) as the store gives them (R = C but
    for an encoder-decoder model's cross `part`: target rows, source columns). `fit`: each
    map's colours from 0 to its largest value (the colour bar: the selected head's), as the
    page's "fitted" scale draws them; else over `domain`, the colour bar's top marked "≥" when
    the selected head has values above it."""
    n_layers, n_heads, n_rows, n_words = maps.shape
    codes, shares = quantize(maps), quantize(special)  # the page's 8-bit values (data_format)
    table = colour_table(domain)
    cells = []
    for la in range(n_layers):
        for h in range(n_heads):
            here = fitted_table(int(codes[la, h].max())) if fit else table
            png = png_bytes(here[codes[la, h]])  # (W, W) codes -> (W, W, 3) colours
            url = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
            cells.append({"layer": la + 1, "head": h + 1, "url": url})
    k_codes, k_shares = codes[layer - 1, head - 1], shares[layer - 1, head - 1]  # (W, W), (W,)
    pairs = [{"from": f, "to": t, "value": int(k_codes[f, t]) / 255,
              "special": int(k_shares[f]) / 255, "layer": layer, "head": head}
             for f in range(n_rows) for t in range(n_words)]
    (row_words, row_spans), (words, spans) = part_sides(rec, part, n_rows, n_words)
    top = int(k_codes.max()) / 255 if k_codes.size else 0.0
    shown = charts.fit_domain(top) if fit else domain
    low = int(k_codes.min()) / 255 if k_codes.size else 0.0
    tracks = lambda spans: max((s["track"] + 1 for s in spans), default=0)  # noqa: E731
    params = {charts.WORDS: words, charts.TRACKS: tracks(spans),
              charts.SEL_LAYER: layer, charts.SEL_HEAD: head,
              **charts.colour_params(shown, clamped=(low < shown[0] - 1e-9, top > shown[1] + 1e-9))}
    datasets = {charts.GRID_DATA: cells, charts.DETAIL_DATA: pairs, charts.SPAN_DATA: spans}
    if part != SELF:  # the rows' words and spans, their own (the target's for decoder and cross)
        params.update({charts.ROW_WORDS: row_words, charts.ROW_TRACKS: tracks(row_spans)})
        datasets[charts.ROW_SPANS] = row_spans
    return datasets, params


def stable_ids(svg: str) -> str:
    """Vega numbers its gradients and clip paths from a counter that runs on between renders
    in one process: renumber them by first appearance, so equal figures are equal bytes."""
    names: dict[str, str] = {}
    counts: dict[str, int] = {}

    def rename(match: re.Match) -> str:
        old, prefix = match[2], match[3]
        if old not in names:
            names[old] = f"{prefix}{counts.setdefault(prefix, 0)}"
            counts[prefix] += 1
        return match[1] + names[old]

    return re.sub(r'(id="|url\(#)((gradient_|clip|pattern_)\d+)(?=["\)])', rename, svg)


def render(spec: dict[str, Any], fmt: str, scale: float = 2.0) -> bytes:
    """A bound Vega-Lite spec as SVG, PDF or PNG bytes: drawn once, to SVG, by vl-convert's
    Vega, then converted (text stays text in the PDF: its fonts are embedded)."""
    svg = stable_ids(vl_convert.vegalite_to_svg(spec, vl_version=charts.vl_convert_version()))
    if fmt == "svg":
        return svg.encode("utf-8")
    if fmt == "pdf":
        return vl_convert.svg_to_pdf(svg)
    return vl_convert.svg_to_png(svg, scale=scale)


def check_part(store: SiteStore, measure: str, part: str | None) -> str:
    """The part a figure draws (`part`, else the store's first: "self", or "encoder"); FigureError
    naming the parts the measure has where it lacks `part`."""
    parts = measure_parts(store, measure)
    if part is None:
        return parts[0]
    if part not in parts:
        has = ("a model of one stack: leave --part out" if parts == [SELF]
               else f"{measure!r} has {', '.join(parts)}")
        raise FigureError(f"--part {part}: the store has no {part} part of {measure!r} ({has})")
    return part


def prepare(store: SiteStore, request: FigureRequest,
            options: FigureOptions) -> tuple[SiteSentence, np.ndarray, np.ndarray]:
    """A request's sentence and its maps (L, H, R, C) and special shares (L, H, R) of the
    options' measure and part, once its layer and head are checked against them (and the
    options, the measure and the part, first)."""
    options.check()
    check_measure(store, options.measure)
    part = check_part(store, options.measure, options.part)
    try:
        _, rec = find_sentence(store, request.sentence)
        maps, special = (rec.word_maps(options.measure) if part == SELF
                         else rec.word_maps(options.measure, part=part))
        check_head(maps, request.layer, request.head, options.measure)
    except FigureError as exc:
        raise FigureError(request.where + exc.message) from None
    return rec, maps, special


def check_head(maps: np.ndarray, layer: int, head: int, measure: str) -> None:
    """FigureError unless the 1-based layer and head are in maps (L, H, W, W) of `measure`."""
    n_layers, n_heads = maps.shape[:2]  # H == 1 for a per-layer measure
    if not 1 <= layer <= n_layers:
        raise FigureError(f"layer {layer} is out of range: the model has {n_layers} "
                          f"layers (1 to {n_layers})")
    if not 1 <= head <= n_heads:
        per = ("is per layer: head 1 only" if n_heads == 1
               else f"has {n_heads} heads per layer (1 to {n_heads})")
        raise FigureError(f"head {head} is out of range: {measure!r} {per}")


def figure_bytes(rec: SiteSentence, maps: np.ndarray, special: np.ndarray, layer: int, head: int,
                 options: FigureOptions, fmt: str, where: str = "") -> bytes:
    """A sentence's figure of one head, from its maps (L, H, W, W) and special shares (L, H, W),
    as SVG, PDF or PNG bytes (`where`: what an error names first)."""
    n_layers, n_heads = maps.shape[:2]
    part = options.part or (SELF if getattr(rec, "target", None) is None else PAIR_DEFAULT)
    spec = charts.get_figure_spec(n_layers, n_heads, measure_label=options.colour_title,
                                  domain=options.colour_domain, size=options.width,
                                  grid=options.grid, note=options.note, font=options.font,
                                  per_layer=get_measure(options.measure).per_layer, part=part)
    datasets, params = get_figure_data(rec, maps, special, layer, head, options.colour_domain,
                                       fit=options.fit, part=part)
    try:
        return render(charts.bind(spec, datasets, params), fmt, options.scale)
    except Exception as exc:  # vl-convert reports a failed render as a plain ValueError
        raise AtlasError(f"{where}vl-convert could not render the figure: {exc}") from exc


def get_figure(store: SiteStore, request: FigureRequest,
               options: FigureOptions) -> tuple[bytes, SiteSentence]:
    """One figure's bytes, in the format its file name asks for, and its sentence."""
    fmt = output_format(request.out)
    rec, maps, special = prepare(store, request, options)
    data = figure_bytes(rec, maps, special, request.layer, request.head, options, fmt,
                        where=f"{request.where}{request.out}: ")
    return data, rec


def read_batch(path: Path, pattern: str) -> list[FigureRequest]:
    """A --batch file: one `SENTENCE LAYER HEAD` per line (the sentence may hold spaces; blank
    lines and `#` comments skipped), each to a file named by `pattern` (see PATTERN_FIELDS)."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise FigureError(f"--batch {path}: cannot be read: {exc}") from None
    if not any(f"{{{name}}}" in pattern for name in ("id", "index")):
        raise FigureError(f"-o {pattern!r}: with --batch, -o is a pattern naming each file by its "
                          "sentence, e.g. 'figures/{id}-l{layer}h{head}.svg' ({id} is the "
                          "sentence id made safe for a file name, {index} its 0-based position)")
    requests = []
    for number, line in enumerate(lines, 1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        parts = text.rsplit(None, 2)
        if len(parts) != 3 or not all(re.fullmatch(r"\d+", p) for p in parts[1:]):
            raise FigureError(f"{path}:{number}: expected SENTENCE LAYER HEAD (layer and head "
                              f"1-based numbers), got {text!r}")
        requests.append(FigureRequest(parts[0], int(parts[1]), int(parts[2]), Path(pattern),
                                      where=f"{path}:{number}: "))
    if not requests:
        raise FigureError(f"--batch {path}: no SENTENCE LAYER HEAD lines")
    return requests


def output_path(pattern: Path, store: SiteStore, request: FigureRequest, measure: str) -> Path:
    """A batch figure's file: the pattern filled for its sentence, layer, head and measure."""
    position, rec = find_sentence(store, request.sentence)
    values = {"id": slugify(rec.id), "index": position, "layer": request.layer,
              "head": request.head, "measure": measure}
    try:
        return Path(str(pattern).format(**values))
    except (KeyError, IndexError, ValueError) as exc:
        raise FigureError(f"-o {str(pattern)!r}: a pattern may name {{{'}, {'.join(PATTERN_FIELDS)}}}"
                          f" ({exc!r})") from None


def write_figures(store: SiteStore, requests: list[FigureRequest], options: FigureOptions, *,
                  progress: bool = False) -> list[Path]:
    """Write each requested figure (a batch is checked whole first); the files written."""
    started = time.perf_counter()
    for request in requests:
        output_format(request.out)
    batch = len(requests) > 1 or any(r.where for r in requests)
    if batch:  # each request's file from the pattern; two figures never share a file
        filled = []
        for r in requests:
            try:
                out = output_path(r.out, store, r, options.measure)
            except FigureError as exc:
                raise FigureError(r.where + exc.message) from None
            filled.append(FigureRequest(r.sentence, r.layer, r.head, out, r.where))
        seen: dict[Path, FigureRequest] = {}
        for r in filled:
            first = seen.setdefault(r.out, r)
            if first is not r:
                raise FigureError(f"{r.where}the figure of {first.where.rstrip(': ')} is "
                                  f"already written to {r.out}; make the -o pattern tell them apart")
        requests = filled
        for r in requests:  # every line checked before any file is written
            prepare(store, r, options)
    written = []
    for request in tqdm(requests, unit="figure", desc="figure", disable=not progress or not batch):
        data, rec = get_figure(store, request, options)
        request.out.parent.mkdir(parents=True, exist_ok=True)
        request.out.write_bytes(data)
        log.debug("wrote %s: sentence %r, layer %d, head %d", request.out, rec.id,
                  request.layer, request.head)
        written.append(request.out)
    log.debug("figure: %d file%s (%s) in %.1f s", len(written), "s" * (len(written) != 1),
             options.measure, time.perf_counter() - started)
    return written
