"""Colour scales: the colour bars of the site and the figures, and the colours they give.

A measure's maps are coloured on viridis over a domain, clamped: the measure's fixed domain
(pipeline.measures, `domain=`), or one fitted to a map (0 to its largest value: the sentence
page's "fitted" scale, `attention-atlas figure --domain fit`). Its colour bar's ticks are both
ends and round steps between (`colour_ticks`, `colour_labels`; assets/scales.js computes the same
in the browser), and the params the detail's spec reads (`colour_params`) say which end clamps
values on show. The figure's thumbnails take their colours from Vega itself (`colour_table`,
`fitted_table`); the pages' canvases from assets/maps.js's table of the same stops.
"""

from __future__ import annotations

import functools
import math
import re
from typing import Any

import altair as alt
import numpy as np
import vl_convert


def vega_lite_version() -> str:
    """The Vega-Lite version Altair writes (e.g. "6.4"), for the matching JS bundle."""
    return ".".join(alt.SCHEMA_VERSION.lstrip("v").split(".")[:2])


def vl_convert_version() -> str | None:
    """The Vega-Lite version vl-convert renders with: Altair's when vl-convert has it, else
    vl-convert's newest (the specs still validate against it)."""
    version = vega_lite_version()
    return version if version in vl_convert.get_vegalite_versions() else None


def colour_scale(domain: tuple[float, float], scheme: str = "viridis") -> alt.Scale:
    """Viridis (or `scheme`) over a fixed domain; values beyond it are clamped to its ends."""
    return alt.Scale(scheme=scheme, domain=list(domain), clamp=True)


def colour_ticks(domain: tuple[float, float]) -> tuple[list[float], str]:
    """The colour bar's ticks, both ends and round steps between (3 to 6 in all), and their
    format: 0.0, 0.1, 0.2, 0.3 for the default domain."""
    ticks, step = _ticks(domain)
    digits = _digits(step)
    while any(abs(round(t, digits) - t) > 1e-9 for t in ticks):  # ends off the step: more digits
        digits += 1
    return ticks, f".{digits}f"


def colour_labels(domain: tuple[float, float], end_digits: int = 3) -> tuple[list[float], list[str]]:
    """The colour bar's ticks (as colour_ticks) and a label each: at the step's digits, an end
    off the step to `end_digits` significant digits (0, 0.1, ..., 0.4, 0.471 for a map fitted to
    its largest value, 0.4706). assets/scales.js computes the same in the browser."""
    ticks, step = _ticks(domain)
    digits = _digits(step)
    return ticks, [f"{t:.{digits}f}" if abs(round(t, digits) - t) <= 1e-9
                   else _significant(t, end_digits) for t in ticks]


def _significant(x: float, digits: int) -> str:
    """x to `digits` significant digits, without an exponent (0.4706 -> 0.471 for 3)."""
    if x == 0:
        return "0"
    return f"{x:.{max(0, digits - 1 - math.floor(math.log10(abs(x))))}f}"


def _ticks(domain: tuple[float, float]) -> tuple[list[float], float]:
    """Both ends and the round steps between them at least half a step from either end, and
    the step: 1, 2 or 5 times a power of ten, at most 5 steps across the domain."""
    low, high = float(domain[0]), float(domain[1])
    span = high - low
    base = 10.0 ** (math.floor(math.log10(span)) - 1)  # 0.01 for a span of 0.3
    step = next(base * f for f in (1, 2, 5, 10, 20, 50) if span / (base * f) <= 5 + 1e-9)
    inner = [round(k * step, 12) for k in range(math.floor(low / step) + 1,
                                                math.ceil(high / step))]
    return [low, *(t for t in inner if min(t - low, high - t) >= step / 2 - 1e-9), high], step


def _digits(step: float) -> int:
    """Decimals that a multiple of the step needs."""
    return max(0, -math.floor(math.log10(step) + 1e-9))


# The colour bar of a measure's maps, as params that the page sets (and a figure binds): its
# domain (the measure's fixed one, or one fitted to the head on show: assets/sentence-scale.js),
# its ticks and their labels (colour_labels), and whether values on show lie below its bottom and
# above its top ([low, high]: then that end's label reads "≥ 0.3" (or "≤ 0.1"): those cells are
# drawn in the end's colour).
COLOUR_DOMAIN, COLOUR_TICKS, COLOUR_LABELS, CLAMPED = ("colourDomain", "colourTicks",
                                                       "colourLabels", "clamped")


def colour_params(domain: tuple[float, float],
                  clamped: tuple[bool, bool] = (False, False)) -> dict[str, Any]:
    """The colour bar's params for a domain, as the page and a figure set them; `clamped`:
    values on show lie below its bottom, above its top."""
    ticks, labels = colour_labels(domain)
    return {COLOUR_DOMAIN: [float(domain[0]), float(domain[1])], COLOUR_TICKS: ticks,
            COLOUR_LABELS: labels, CLAMPED: [bool(clamped[0]), bool(clamped[1])]}


def fit_domain(top: float) -> tuple[float, float]:
    """The domain fitted to a map: 0 to its largest value (at least one code step, 1/255)."""
    return 0.0, max(float(top), 1 / 255)


@functools.lru_cache(maxsize=8)
def colour_table(domain: tuple[float, float]) -> np.ndarray:
    """code -> RGB through the detail's colour scale, as vl-convert's Vega computes it: uint8
    (256, 3). The page builds the same table in the browser from the same scale."""
    return vega_colours(tuple(c / 255 for c in range(256)), domain)


def vega_colours(values: tuple[float, ...], domain: tuple[float, float]) -> np.ndarray:
    """Each value's colour on the detail's colour scale over `domain`, as vl-convert's Vega
    draws it: uint8 (len(values), 3)."""
    rows = [{"k": k, "value": v} for k, v in enumerate(values)]
    spec = alt.Chart(alt.Data(values=rows)).mark_rect().encode(
        x=alt.X("k:O", axis=None),
        color=alt.Color("value:Q", scale=colour_scale(domain), legend=None),
    ).to_dict()
    rects: list[dict] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("marktype") == "rect" and node.get("role") == "mark":
                rects.extend(node["items"])
                return
            for child in node.values():
                walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    walk(vl_convert.vegalite_to_scenegraph(spec, vl_version=vl_convert_version()))
    rects.sort(key=lambda item: item["x"])
    rgb = [tuple(map(int, re.findall(r"\d+", item["fill"])))[:3] for item in rects]
    assert len(rgb) == len(values) and all(len(c) == 3 for c in rgb), rgb[:3]
    return np.array(rgb, dtype=np.uint8)


STOPS = 30  # Vega's viridis: 31 colours, interpolated linearly in RGB between neighbours


@functools.lru_cache(maxsize=1)
def viridis_stops() -> np.ndarray:
    """Vega's viridis colours at k / STOPS, float64 (STOPS + 1, 3): between them its scale is
    linear in RGB (d3's piecewise interpolateRgb), as assets/maps.js's table."""
    return vega_colours(tuple(k / STOPS for k in range(STOPS + 1)), (0.0, 1.0)).astype(np.float64)


@functools.lru_cache(maxsize=256)
def fitted_table(top: int) -> np.ndarray:
    """code -> RGB for a map fitted to its largest code `top` (domain [0, top / 255]), computed
    as Vega's scale computes it (t = value * (1 / top value), clamped; between the two stops
    around t, a + f * (b - a), each channel rounded half up; as assets/maps.js does): equal to
    colour_table of that domain for every top (tests/unit/test_colours.py), without a
    vl-convert call per map. uint8 (256, 3)."""
    k = 1 / (max(1, top) / 255)
    t = np.clip(np.arange(256) / 255 * k, 0.0, 1.0) * STOPS
    i = np.clip(np.floor(t), 0, STOPS - 1).astype(np.int64)
    f = (t - i)[:, None]
    stops = viridis_stops()
    rgb = stops[i] + f * (stops[i + 1] - stops[i])
    return np.floor(rgb + 0.5).astype(np.uint8)
