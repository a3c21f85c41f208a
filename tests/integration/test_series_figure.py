"""The figures of a series (issue 21): one head of one sentence across checkpoints, and heads'
statistics over training, drawn from stores of tiny GPT-2s as `attention-atlas figure` draws them."""

from __future__ import annotations

import re
import struct
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from click.testing import CliRunner

from pipeline.cli import main
from pipeline.site.figure import FigureError, colour_table
from pipeline.site.series_charts import StepAxis, step_axis
from pipeline.site.series_figure import (
    SeriesFigureOptions,
    get_checkpoints_figure,
    get_training_figure,
    parse_heads,
    select_checkpoints,
)
from pipeline.store import AtlasStore, quantize
from pipeline.testing import make_gpt2

SVG = "{http://www.w3.org/2000/svg}"
STEPS = [0, 100, 1000]
LABELS = [f"step-{s}" for s in STEPS]


def _store(folder, corpus):
    from pipeline.corpus import read_corpus
    from pipeline.extract.run import extract
    from pipeline.model.loading import load_model
    from pipeline.stats.compute import update_stats

    path = folder.parent / f"{folder.name}.zarr"
    extract(read_corpus(corpus).sentences, path, load_model(str(folder)), progress=False)
    update_stats(path)
    return AtlasStore.open(path)


@pytest.fixture(scope="module")
def series(tmp_path_factory, tiny_corpus):
    """Three checkpoints of one tiny GPT-2 (one tokenizer, weights moved further at each step)
    and a model whose tokenizer differs: (labels, steps, stores, other store)."""
    import torch
    from transformers import GPT2Model

    root = tmp_path_factory.mktemp("series")
    stores = []
    for k, step in enumerate(STEPS):
        folder = make_gpt2(root / f"checkpoint-{step}")
        model = GPT2Model.from_pretrained(folder)
        generator = torch.Generator().manual_seed(k)
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn(p.shape, generator=generator) * 0.5 * k)
        model.save_pretrained(folder)
        stores.append(_store(folder, tiny_corpus))
    other = _store(make_gpt2(root / "other", vocab_size=300), tiny_corpus)
    return LABELS, STEPS, stores, other


def cells(root: ET.Element, panel: int) -> dict[tuple[int, int], tuple[float, str]]:
    """(from, to) -> (value, fill) of every word pair drawn in a panel of the checkpoints figure."""
    (group,) = [g for g in root.iter(f"{SVG}g")
                if f"concat_{panel}_layer_0_marks" in (g.get("class") or "")]
    found = {}
    for path in group.iter(f"{SVG}path"):
        match = re.fullmatch(r"from (\d+) to (\d+): ([\d.]+)", path.get("aria-label") or "")
        if match:
            found[int(match[1]), int(match[2])] = (float(match[3]), path.get("fill"))
    return found


def texts(root: ET.Element) -> list[str]:
    return ["\n".join(t.itertext()) for t in root.iter(f"{SVG}text")]


def test_the_checkpoints_figure_draws_each_checkpoints_map_within_one_code_step(series):
    labels, steps, stores, _ = series
    options = SeriesFigureOptions(domain=(0.0, 1.0))
    svg = get_checkpoints_figure(labels, steps, stores, "svg", sentence="pair-2", layer=2, head=3,
                                 options=options)
    root = ET.fromstring(svg)
    table = colour_table((0.0, 1.0))
    words = stores[0]["pair-2"].words
    for k, store in enumerate(stores):
        maps, _ = store["pair-2"].word_maps()
        want = maps[1, 2]  # layer 2, head 3
        drawn = cells(root, k)
        assert sorted(drawn) == [(f, t) for f in range(len(words)) for t in range(len(words))]
        for (f, t), (value, fill) in drawn.items():
            assert abs(value - want[f, t]) <= 1 / 255 + 1e-6, (k, f, t)
            code = int(quantize(want[f, t]))
            assert fill in {f"rgb({r}, {g}, {b})" for r, g, b in table[max(0, code - 1):code + 2]}
    maps = [s["pair-2"].word_maps()[0][1, 2] for s in stores]
    assert not np.allclose(maps[0], maps[2])  # the checkpoints differ: each panel is its own
    all_texts = texts(root)
    assert {"layer 2, head 3", "step 0", "step 100", "step 1,000", "attention"} <= set(all_texts)
    legends = [g for g in root.iter(f"{SVG}g") if (g.get("class") or "") == "mark-group role-legend"]
    assert len(legends) == 1  # one colour bar for every map
    assert all_texts.count("ENV") == 3 * 1 + 1 and all_texts.count("LAN") == 4  # brackets:
    # below each of the three maps (the bottom row), and left of the first (the left column)
    assert all_texts.count("to (attended word)") == 3 and all_texts.count("from (attending word)") == 1


def test_checkpoints_are_chosen_by_label_or_step_and_the_layout_wraps(series):
    labels, steps, stores, _ = series
    assert select_checkpoints(labels, steps, "all") == [0, 1, 2]
    assert select_checkpoints(labels, steps, "1000,step-0") == [0, 2]  # in the series' order
    with pytest.raises(FigureError, match=r"no checkpoint 'step-5' in the series: give labels "
                                          r"or steps of step-0, step-100, step-1000"):
        select_checkpoints(labels, steps, "step-0,step-5")
    svg = get_checkpoints_figure(labels, steps, stores, "svg", sentence="1", layer=1, head=1,
                                 checkpoints="step-0,1000", options=SeriesFigureOptions(columns=1))
    root = ET.fromstring(svg)
    assert "step 100" not in texts(root) and {"step 0", "step 1,000"} <= set(texts(root))
    assert texts(root).count("from (attending word)") == 2  # one column: each map its labels
    assert texts(root).count("to (attended word)") == 1  # the bottom one


def test_figures_are_byte_identical_and_text_stays_text(series):
    labels, steps, stores, _ = series
    args = dict(sentence="xss/script", layer=1, head=2)
    svg = get_checkpoints_figure(labels, steps, stores, "svg", **args)
    assert get_checkpoints_figure(labels, steps, stores, "svg", **args) == svg
    root = ET.fromstring(svg)  # parses: the corpus's markup was escaped
    assert "<script>" in texts(root) and not list(root.iter(f"{SVG}script"))
    assert b"<script" not in svg
    assert "Liberation Sans" in root.find(f".//{SVG}text").get("font-family")
    png = get_checkpoints_figure(labels, steps, stores, "png", **args)
    assert png == get_checkpoints_figure(labels, steps, stores, "png", **args)
    width, height = float(root.get("width")), float(root.get("height"))
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", png[16:24]) == (round(width * 2), round(height * 2))
    lines = dict(stat="prev", heads=[(1, 1), (2, 4)])
    assert (get_training_figure(labels, steps, stores, "svg", **lines)
            == get_training_figure(labels, steps, stores, "svg", **lines))
    pdf = get_training_figure(labels, steps, stores, "pdf", **lines)
    assert pdf.startswith(b"%PDF-") and b"/FontFile2" in pdf  # vector, fonts embedded


def test_checkpoints_with_other_tokenizers_are_refused_naming_both(series):
    labels, steps, stores, other = series
    with pytest.raises(FigureError, match=r"the tokenizers of step-0 and other differ "
                                          r"\(tokenizer SHA-256 [0-9a-f]{12}… and [0-9a-f]{12}…\)"):
        get_checkpoints_figure([*labels, "other"], [*steps, None], [*stores, other], "svg",
                               sentence="pair-2", layer=1, head=1)
    assert other.model["tokenizer_sha256"] != stores[0].model["tokenizer_sha256"]
    # the same checkpoints without it draw; and the training figure compares any models
    get_checkpoints_figure([*labels, "other"], [*steps, None], [*stores, other], "svg",
                           sentence="pair-2", layer=1, head=1, checkpoints="step-0,step-100")
    get_training_figure([*labels, "other"], [*steps, None], [*stores, other], "svg",
                        stat="prev", heads=[(1, 1)])


def points(root: ET.Element) -> dict[tuple[str, str], float]:
    """(head, checkpoint) -> value of every point of the training figure, from its aria labels."""
    found = {}
    for path in root.iter(f"{SVG}path"):
        label = path.get("aria-label") or ""
        match = re.search(r"; (?:[^;]+): ([-\d.e]+); head: (L\d+ H\d+); checkpoint: ([\w.-]+)$",
                          label)
        if match:
            found[match[2], match[3]] = float(match[1])
    return found


@pytest.mark.parametrize("stat", ["prev", "first", "induction", "entropy", "span:ENV>LAN"])
def test_the_training_figure_draws_each_heads_statistic_as_head_stats_gives_it(series, stat):
    labels, steps, stores, _ = series
    heads = [(1, 1), (2, 3), (2, 4)]
    root = ET.fromstring(get_training_figure(labels, steps, stores, "svg", stat=stat, heads=heads))
    drawn = points(root)
    want = {}
    for label, store in zip(labels, stores, strict=True):
        stats = store.head_stats()
        values = stats.span_mass("ENV", "LAN") if stat.startswith("span:") else stats[stat]
        for layer, head in heads:
            if not np.isnan(values[layer - 1, head - 1]):
                want[f"L{layer} H{head}", label] = float(values[layer - 1, head - 1])
    assert drawn.keys() == want.keys() and len(want) >= 3
    for key, value in want.items():
        assert drawn[key] == pytest.approx(value, abs=1e-9), key
    all_texts = texts(root)
    assert {"L1 H1", "L2 H3", "L2 H4", "head"} <= set(all_texts)  # the legend, in the heads' order
    assert all_texts.index("L1 H1") < all_texts.index("L2 H3") < all_texts.index("L2 H4")
    title = {"entropy": "entropy (nats)", "span:ENV>LAN": "span mass ENV → LAN"}.get(stat, stat)
    assert title in all_texts
    lines = [p for g in root.iter(f"{SVG}g") if "mark-line role-mark" in (g.get("class") or "")
             for p in g.iter(f"{SVG}path")]
    assert len(lines) == len(heads)  # a line per head


def test_the_step_axis_is_logarithmic_where_the_steps_span_a_decade():
    assert step_axis([0, 100, 1000]).kind == "symlog"  # log(1 + step): 0 has a place
    assert step_axis([0, 100, 1000]).ticks == (0, 100, 200, 500, 1000)
    assert step_axis([0, 10, 1000, 20000]).ticks == (0, 10, 100, 1000, 10000)  # decades
    assert step_axis([10, 100, 10000]) == step_axis([10, 100, 10000]) and \
        step_axis([10, 100, 10000]).kind == "log"
    assert step_axis([100, 1000]).ticks == (100, 200, 500, 1000)  # under two decades: 1, 2, 5
    assert step_axis([100, 999]).kind == "linear"  # max / min < 10
    assert step_axis([0, 5]).kind == "linear"  # one positive step spans nothing
    assert step_axis([1, 2, 3]) == StepAxis("linear", (1.0, 3.0), (1, 2, 3))  # every step
    assert step_axis([0, 50, 99]).ticks == ()  # Vega's ticks, whole steps
    assert step_axis([None, 5]).kind == "ordinal"  # a model without a step: the series' order


@pytest.mark.parametrize(("steps", "title", "ticks"), [
    ([0, 100, 1000], "step (symlog scale: log(1 + step))", ["0", "100", "200", "500", "1k"]),
    ([10, 100, 1000], "step (log scale)", ["10", "100", "1k"]),
    ([10, 200, 500], "step (log scale)", ["10", "20", "50", "100", "200", "500"]),
    ([1, 2, 3], "step", ["1", "2", "3"]),
    ([None, None, None], "model", ["step-0", "step-100", "step-1000"]),
])
def test_the_drawn_step_axis(series, steps, title, ticks):
    labels, _, stores, _ = series
    root = ET.fromstring(get_training_figure(labels, steps, stores, "svg", stat="prev",
                                             heads=[(1, 1)]))
    (axis,) = [g for g in root.iter(f"{SVG}g") if f"titled '{title}'" in (g.get("aria-label") or "")]
    (group,) = [g for g in axis.iter(f"{SVG}g") if "role-axis-label" in (g.get("class") or "")]
    assert [t.text for t in group.iter(f"{SVG}text")] == ticks


def test_errors_name_what_is_wrong(series):
    labels, steps, stores, _ = series
    with pytest.raises(FigureError, match=r"layer 3, head 1 is in no checkpoint \(layers x heads: "
                                          r"step-0: 2 x 4"):
        get_training_figure(labels, steps, stores, "svg", stat="prev", heads=[(3, 1)])
    with pytest.raises(FigureError, match=r"step-0: no statistic 'nope'; the statistics are: "
                                          r"entropy, .*induction"):
        get_training_figure(labels, steps, stores, "svg", stat="nope", heads=[(1, 1)])
    with pytest.raises(FigureError, match=r"layer 1, head 5 is out of range for step-0: "
                                          r"2 layers x 4 heads"):
        get_checkpoints_figure(labels, steps, stores, "svg", sentence="pair-2", layer=1, head=5)
    with pytest.raises(FigureError, match=r"no sentence 'nope' in the store"):
        get_checkpoints_figure(labels, steps, stores, "svg", sentence="nope", layer=1, head=1)
    assert parse_heads("l1h2, L3H4") == [(1, 2), (3, 4)]
    with pytest.raises(FigureError, match=r"give heads as l<layer>h<head>"):
        parse_heads("1:2")


def test_series_flags_need_a_series(tmp_path, gpt2_store):
    result = CliRunner().invoke(main, ["figure", "--store", str(gpt2_store), "--stat", "prev",
                                       "--heads", "l1h1", "-o", str(tmp_path / "f.svg")])
    assert result.exit_code == 2, result.output
    assert "--stat, --heads: only with --series OUT" in result.output


def test_the_command_draws_both_figures_of_a_series(tmp_path):
    """The command on a series (pipeline.series.Series over pipeline.testing.series.synthetic_series)."""
    from pipeline.testing.series import synthetic_series

    out = synthetic_series(tmp_path / "out", [0, 10, 100], 6)
    runner = CliRunner()
    first = tmp_path / "across.svg"
    result = runner.invoke(main, ["figure", "--series", str(out), "--sentence", "s001",
                                  "--layer", "2", "--head", "3", "--checkpoints", "step-0,step-100",
                                  "-o", str(first)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"figure: {first} (")
    assert {"step 0", "step 100", "layer 2, head 3"} <= set(texts(ET.parse(first).getroot()))
    lines = tmp_path / "lines.svg"
    result = runner.invoke(main, ["figure", "--series", str(out), "--stat", "prev",
                                  "--heads", "l1h1,l2h3", "-o", str(lines)])
    assert result.exit_code == 0, result.output
    root = ET.parse(lines).getroot()
    assert {"L1 H1", "L2 H3", "prev", "step (symlog scale: log(1 + step))"} <= set(texts(root))
    assert len(points(root)) == 6
    result = runner.invoke(main, ["figure", "--series", str(out), "--stat", "prev",
                                  "--sentence", "s001", "--heads", "l1h1", "-o", str(lines)])
    assert result.exit_code == 2 and "--sentence: --stat draws --heads over every" in result.output
    result = runner.invoke(main, ["figure", "--series", str(out), "--sentence", "s001",
                                  "--layer", "1", "-o", str(first)])
    assert result.exit_code == 2 and "missing --head" in result.output
