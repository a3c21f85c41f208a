"""Colour scales: a colour bar's ticks and labels, its params (fixed, fitted, clamped ends), the
tables the figure's thumbnails are painted from, and the sentence page's metadata numbers."""

from __future__ import annotations

import copy
import re

import numpy as np
import pytest
import vl_convert

from pipeline.site import charts
from pipeline.site.colours import (
    colour_labels,
    colour_params,
    colour_table,
    fit_domain,
    fitted_table,
)
from pipeline.site.figure import get_figure_data
from pipeline.site.index_data import meta_full, meta_value
from pipeline.testing import FakeStore


@pytest.mark.parametrize(("domain", "digits", "labels"), [
    ((0.0, 0.3), 3, ["0.0", "0.1", "0.2", "0.3"]),
    ((0.0, 0.4706), 3, ["0.0", "0.1", "0.2", "0.3", "0.4", "0.471"]),  # fitted: the top to 3 digits
    ((0.0, 2.871), 4, ["0", "1", "2", "2.871"]),  # an entropy's corpus view: the top to 4
    ((0.2148, 0.2163), 4, ["0.2148", "0.2155", "0.2160", "0.2163"]),  # stretched near-equal heads
    ((0.0, 0.2163), 4, ["0.00", "0.05", "0.10", "0.15", "0.2163"]),  # a step too near the top: left out
], ids=str)
def test_a_colour_bar_labels_both_ends(domain, digits, labels):
    ticks, got = colour_labels(domain, digits)
    assert got == labels and (ticks[0], ticks[-1]) == domain


def test_the_params_of_a_fixed_and_a_fitted_colour_bar():
    assert colour_params((0.0, 0.3), clamped=(False, True)) == {
        "colourDomain": [0.0, 0.3], "colourTicks": [0.0, 0.1, 0.2, 0.3],
        "colourLabels": ["0.0", "0.1", "0.2", "0.3"], "clamped": [False, True]}
    assert fit_domain(0.4706) == (0.0, 0.4706) and fit_domain(0.0) == (0.0, 1 / 255)


def render(clamped: tuple[bool, bool], domain=(0.1, 0.5)) -> list[str]:
    """The detail's colour bar labels, bound with these params and drawn by vl-convert."""
    spec = copy.deepcopy(charts.get_detail_spec(measure_label="attention", domain=domain))
    spec["datasets"] = {"pairs": [{"from": 0, "to": 0, "value": 0.5, "special": 0.0,
                                   "layer": 1, "head": 1}], "spans": []}
    for param in spec["params"]:
        param["value"] = {**colour_params(domain, clamped), "words": ["a"]}.get(
            param["name"], param["value"])
    svg = vl_convert.vegalite_to_svg(spec, vl_version=charts.vl_convert_version())
    labels = re.search(r'role-legend-label".*?</g>', svg, re.S).group(0)
    return re.findall(r"<text[^>]*>([^<]*)</text>", labels)


def test_the_colour_bar_marks_the_ends_that_clamp_values_on_show():
    assert render((False, False)) == ["0.1", "0.2", "0.3", "0.4", "0.5"]
    assert render((True, True)) == ["\u2264 0.1", "0.2", "0.3", "0.4", "\u2265 0.5"]


@pytest.mark.parametrize("top", [1, 37, 100, 120, 240, 255])
def test_a_fitted_table_is_vegas_colours_for_that_domain(top):
    """fitted_table computes what colour_table asks vl-convert for (100, 120 and 240 are tops
    where d3's own a * (1 - f) + b * f would round a channel otherwise)."""
    np.testing.assert_array_equal(fitted_table(top), colour_table((0.0, top / 255)))


def test_a_figure_fitted_to_the_head_colours_each_map_to_its_own_top():
    store = FakeStore([("s", "a b c d", [])], n_layers=1, n_heads=2)
    rec = store[0]
    maps = rec.maps.copy()
    maps[0, 0] = 0.25  # uniform: within 0.3
    maps[0, 1] = np.eye(4) * 0.9  # 0.9 on the diagonal: above 0.3
    fixed = get_figure_data(rec, maps, rec.special, 1, 2, (0.0, 0.3))[1]
    assert fixed["clamped"] == [False, True] and fixed["colourDomain"] == [0.0, 0.3]
    cells, params = get_figure_data(rec, maps, rec.special, 1, 2, (0.0, 0.3), fit=True)
    assert params["clamped"] == [False, False]
    assert params["colourDomain"] == pytest.approx([0.0, round(0.9 * 255) / 255])
    assert params["colourLabels"][-1] == "0.902"
    within = get_figure_data(rec, maps, rec.special, 1, 1, (0.0, 0.3))[1]
    assert within["clamped"] == [False, False]
    assert cells["cells"][0]["url"] != get_figure_data(rec, maps, rec.special, 1, 2,
                                                       (0.0, 0.3))[0]["cells"][0]["url"]


@pytest.mark.parametrize(("value", "shown", "full"), [
    (55.55966241606604, "55.56", "55.55966241606604"),
    (1234567.8, "1235000", "1234567.8"),
    (0.000123456, "0.0001235", "0.000123456"),
    (2.5, "2.5", "2.5"),
    (30, "30", "30"),  # whole numbers as they are
    ("3.14159", "3.14159", "3.14159"),  # text stays text
    (True, "true", "true"),
    ([1.23456, "x"], '[1.23456,"x"]', '[1.23456,"x"]'),
])
def test_metadata_numbers_to_four_significant_digits(value, shown, full):
    assert (meta_value(value), meta_full(value)) == (shown, full)
