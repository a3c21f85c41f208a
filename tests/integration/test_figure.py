"""`attention-atlas figure`: the sentence figure for papers, as SVG, PDF and PNG, from the page's specs."""

from __future__ import annotations

import dataclasses
import os
import re
import struct
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from pipeline.cli import main
from pipeline.site import charts
from pipeline.site.colours import colour_labels
from pipeline.site.contexts import slugify
from pipeline.site.figure import (
    FigureError,
    FigureOptions,
    FigureRequest,
    get_figure,
    read_batch,
    write_figures,
)
from pipeline.store import AtlasStore
from pipeline.testing import FakeSentence, FakeStore

SVG = "{http://www.w3.org/2000/svg}"
GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "figure.svg"
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


def figure(store, sentence="pair-2", layer=2, head=3, fmt="svg", **options) -> bytes:
    """One figure's bytes."""
    request = FigureRequest(sentence, layer, head, Path(f"figure.{fmt}"))
    return get_figure(store, request, FigureOptions(**options))[0]


def texts(root: ET.Element) -> list[str]:
    """Every text of an SVG, in document order (a text of several lines joined by line breaks)."""
    return ["\n".join(t.itertext()) for t in root.iter(f"{SVG}text")]


def axis_labels(root: ET.Element, title: str) -> list[str]:
    """The labels of the axis with that title, in order."""
    (axis,) = [g for g in root.iter(f"{SVG}g") if f"titled '{title}'" in (g.get("aria-label") or "")]
    (labels,) = [g for g in axis.iter(f"{SVG}g") if "role-axis-label" in (g.get("class") or "")]
    return [t.text for t in labels.iter(f"{SVG}text")]


def top_label(rec, layer: int, head: int, high: float) -> str:
    """The colour bar's top label over a domain ending at `high` for a head of a sentence:
    marked "≥" where the head has values above it (as 8-bit codes, as drawn)."""
    top = np.round(rec.word_maps()[0][layer - 1, head - 1] * 255).max() / 255
    return ("\u2265 " if top > high + 1e-9 else "") + f"{high:.1f}"


def legend(root: ET.Element) -> list[str]:
    """The colour bar's labels, bottom to top."""
    (group,) = [g for g in root.iter(f"{SVG}g") if "role-legend-label" in (g.get("class") or "")]
    return [t.text for t in group.iter(f"{SVG}text")]


def box(d: str) -> tuple[float, float, float, float]:
    """(x, y, width, height) of a rect mark's path `M x,y h w v h ...`."""
    x, y, w, h = map(float, re.match(r"M([-\d.]+),([-\d.]+)h([\d.]+)v([\d.]+)", d).groups())
    return x, y, w, h


def thumbnails(root: ET.Element) -> dict[tuple[int, int], tuple[float, float, float, float]]:
    """(layer, head) -> (x, y, width, height) of each grid thumbnail."""
    found = {}
    for image in root.iter(f"{SVG}image"):
        head, layer = map(int, re.match(r"(?:all heads|head): (\d+); layer: (\d+)", image.get("aria-label")).groups())
        x, y = map(float, re.match(r"translate\(([-\d.]+),([-\d.]+)\)", image.get("transform")).groups())
        found[layer, head] = (x, y, float(image.get("width")), float(image.get("height")))
    return found


@pytest.fixture(scope="module")
def store(minilm_store):
    from pipeline.store import AtlasStore

    return AtlasStore.open(minilm_store)


@pytest.fixture(scope="module")
def reference(store) -> ET.Element:
    """The reference figure's sentence (pair-2), layer 2, head 3, as SVG."""
    return ET.fromstring(figure(store))


def fixed_store() -> FakeStore:
    """3 layers x 4 heads over 7 words, maps from a formula: the golden figure's store."""
    text = "<CHI> painted a horse <MOT> my favorite"
    store = FakeStore([("pair-9", text, [("ENV", 0, 4), ("LAN", 4, 7)])], n_layers=3, n_heads=4)
    layer, head, frm, to = np.indices((3, 4, 7, 7))
    maps = np.where((frm - to + head + layer) % 7 == 0, 0.28, 0.02 * ((frm * to + layer) % 4))
    special = np.broadcast_to(0.05 * (1 + np.arange(4)), (3, 7, 4)).transpose(0, 2, 1)
    store.records = [dataclasses.replace(store.records[0], maps=maps.astype(np.float32),
                                         special=np.ascontiguousarray(special, np.float32))]
    return store


def test_the_figure_shows_every_word_on_both_axes_spans_and_colour_bar(store, reference):
    rec = store["pair-2"]
    assert axis_labels(reference, "to (attended word)") == rec.words
    assert axis_labels(reference, "from (attending word)") == rec.words
    all_texts = texts(reference)
    for label, *_ in rec.spans:  # "ENV" and "LAN", as the corpus writes them: one per axis
        marks = [t for t in reference.iter(f"{SVG}text") if t.text == label]
        assert len(marks) == 2
        assert sorted("rotate(270)" in t.get("transform") for t in marks) == [False, True]
    assert axis_labels(reference, "head") == [str(h) for h in range(1, 13)]
    assert axis_labels(reference, "layer") == [str(la) for la in range(1, 7)]
    assert {"layer", "head", "attention", "layer 2, head 3"} <= set(all_texts)
    # 0.0 to 0.3, the top marked where the head has values above it (this one does: 0.47)
    assert legend(reference) == ["0.0", "0.1", "0.2", top_label(rec, 2, 3, 0.3)] and \
        top_label(rec, 2, 3, 0.3) == "\u2265 0.3"
    assert any(t.startswith("Special tokens receive ") for t in all_texts)
    stops = [s.get("stop-color") for s in reference.iter(f"{SVG}stop")]
    assert stops[0] == "rgb(68, 1, 84)" and stops[-1] == "rgb(253, 231, 37)"  # viridis


@pytest.mark.parametrize("selected", [(2, 3), (6, 12), (1, 1)], ids=lambda s: f"l{s[0]}h{s[1]}")
def test_the_outline_is_around_the_selected_head(store, selected):
    root = ET.fromstring(figure(store, layer=selected[0], head=selected[1]))
    cells = thumbnails(root)
    assert len(cells) == 6 * 12
    assert cells[1, 1][0] < cells[1, 2][0] < cells[1, 12][0]  # heads left to right
    assert cells[1, 1][1] < cells[2, 1][1] < cells[6, 1][1]  # layer 1 at the top
    outlines = [p for p in root.iter(f"{SVG}path") if p.get("stroke") == charts.SELECTED]
    assert len(outlines) == 1
    ox, oy, ow, oh = box(outlines[0].get("d"))
    inside = [key for key, (x, y, w, h) in cells.items()
              if ox <= x and x + w <= ox + ow and oy <= y and y + h <= oy + oh]
    assert inside == [selected]


def test_sentence_by_index_and_corpus_text_stays_text(store):
    by_index = ET.fromstring(figure(store, sentence="1"))  # 0-based: pair-2 is the second
    assert axis_labels(by_index, "to (attended word)") == store["pair-2"].words
    raw = figure(store, sentence="xss/script", layer=1, head=1)
    root = ET.fromstring(raw)  # parses: the markup in the words was escaped
    assert "<script>" in texts(root) and not list(root.iter(f"{SVG}script"))
    assert b"<script" not in raw


def test_svg_is_byte_identical_and_matches_the_golden_figure():
    store = fixed_store()
    svg = figure(store, sentence="pair-9", layer=3, head=2)
    assert figure(store, sentence="pair-9", layer=3, head=2) == svg  # Vega's counters run on
    if os.environ.get("ATLAS_UPDATE_GOLDEN"):
        GOLDEN.write_bytes(svg)
    if svg != GOLDEN.read_bytes():
        ARTIFACTS.mkdir(exist_ok=True)
        (ARTIFACTS / "figure.svg").write_bytes(svg)
        pytest.fail("the figure differs from tests/golden/figure.svg (this one is in "
                    "tests/artifacts/figure.svg); if the change is meant, regenerate it with "
                    "ATLAS_UPDATE_GOLDEN=1 pytest tests/integration/test_figure.py and say why in the commit")
    root = ET.fromstring(svg)
    assert axis_labels(root, "from (attending word)") == store["pair-9"].words
    assert "Liberation Sans" in root.find(f".//{SVG}text").get("font-family")  # the shipped font


def svg_size(svg: bytes) -> tuple[float, float]:
    root = ET.fromstring(svg)
    return float(root.get("width")), float(root.get("height"))


def test_png_and_pdf_are_valid_files_of_the_figure_size(store):
    width, height = svg_size(figure(store))
    for scale in (1.0, 2.0):
        png = figure(store, fmt="png", scale=scale)
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and png[12:16] == b"IHDR"
        assert struct.unpack(">II", png[16:24]) == (round(width * scale), round(height * scale))
    pdf = figure(store, fmt="pdf")
    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
    assert f"/MediaBox [0 0 {width:g} {height:g}]".encode() in pdf  # vector, at the figure's size
    assert b"/FontFile2" in pdf and b"/ToUnicode" in pdf  # text stays text: fonts embedded


def test_options_for_papers(store):
    plain = ET.fromstring(figure(store, note=False))
    assert not any(t.startswith("Special tokens") for t in texts(plain))
    alone = ET.fromstring(figure(store, grid=False))
    assert not list(alone.iter(f"{SVG}image")) and "head" not in texts(alone)
    assert axis_labels(alone, "to (attended word)") == store["pair-2"].words
    serif = ET.fromstring(figure(store, font="DejaVu Serif"))
    fonts = {t.get("font-family") for t in serif.iter(f"{SVG}text")}
    assert fonts == {"DejaVu Serif"}
    narrow = ET.fromstring(figure(store, grid=False, width=300, measure_label="attention",
                                  domain=(0.0, 0.5)))
    cells = [box(p.get("d")) for p in narrow.iter(f"{SVG}path")
             if "; from: " in (p.get("aria-label") or "")]  # the map's word pairs
    assert len(cells) == len(store["pair-2"].words) ** 2
    x, y, w, h = np.array(cells).T
    assert (x + w).max() - x.min() == pytest.approx(300) and (y + h).max() - y.min() == pytest.approx(300)
    assert "attention" in texts(narrow) and legend(narrow)[-1] == top_label(store["pair-2"], 2, 3, 0.5)


class PerLayerSentence(FakeSentence):
    """A sentence whose store also holds a per-layer measure (H == 1), rollout."""

    def word_maps(self, measure: str = "attention"):
        if measure == "rollout":
            return self.maps[:, :1], self.special[:, :1]  # (L, 1, W, W), (L, 1, W)
        return super().word_maps(measure)


def test_a_per_layer_measure_draws_one_column(monkeypatch):
    store = fixed_store()
    store.records = [PerLayerSentence(**{f.name: getattr(store.records[0], f.name)
                                         for f in dataclasses.fields(FakeSentence)})]
    store.info = {**store.info, "measures": ["attention", "rollout"]}
    options = dict(measure="rollout", domain=(0.0, 1.0))
    root = ET.fromstring(figure(store, sentence="pair-9", layer=2, head=1, **options))
    assert sorted(thumbnails(root)) == [(1, 1), (2, 1), (3, 1)]
    assert "all heads" in texts(root) and "rollout" in texts(root)  # the grid's title; colour bar
    with pytest.raises(FigureError, match="head 2 is out of range: 'rollout' is per layer"):
        figure(store, sentence="pair-9", layer=2, head=2, **options)


@pytest.mark.parametrize(("request_", "message"), [
    (dict(sentence="nope"), "no sentence 'nope' in the store: give one of its 1 ids or a "
                            "0-based index from 0 to 0"),
    (dict(sentence="1"), "no sentence '1'"),
    (dict(layer=4), "layer 4 is out of range: the model has 3 layers (1 to 3)"),
    (dict(layer=0), "layer 0 is out of range"),
    (dict(head=5), "head 5 is out of range: 'attention' has 4 heads per layer (1 to 4)"),
    (dict(measure="grad"), "the store holds no measure 'grad'; it holds: attention"),
    (dict(fmt="jpg"), "the extension decides the format: .svg, .pdf or .png"),
    (dict(width=20), "--width 20"),
], ids=["unknown-id", "index-out-of-range", "layer-high", "layer-zero", "head", "measure",
        "format", "width"])
def test_errors_name_what_is_wrong(request_, message):
    args = {**dict(sentence="pair-9", layer=1, head=1, fmt="svg"), **request_}
    with pytest.raises(FigureError, match=re.escape(message)):
        figure(fixed_store(), **args)


def test_batch_writes_one_file_per_line(tmp_path, store):
    batch = tmp_path / "figures.txt"
    batch.write_text("# sentence layer head\npair-2 2 3\n\nxss onerror 1 12\n1 6 1\n", encoding="utf-8")
    pattern = str(tmp_path / "out" / "{id}-l{layer}h{head}.svg")
    written = write_figures(store, read_batch(batch, pattern), FigureOptions())
    assert [p.name for p in written] == [f"{slugify('pair-2')}-l2h3.svg",
                                         f"{slugify('xss onerror')}-l1h12.svg",
                                         f"{slugify('pair-2')}-l6h1.svg"]
    for path, words in zip(written, ["pair-2", "xss onerror", "pair-2"], strict=True):
        root = ET.parse(path).getroot()
        assert axis_labels(root, "to (attended word)") == store[words].words
    batch.write_text("pair-2 2 3\npair-2 9 1\n", encoding="utf-8")
    with pytest.raises(FigureError, match=re.escape(f"{batch}:2: layer 9 is out of range")):
        write_figures(store, read_batch(batch, str(tmp_path / "again" / "{id}-{layer}.svg")),
                      FigureOptions())
    assert not (tmp_path / "again").exists()  # a batch is checked whole before anything is written
    batch.write_text("pair-2 2 3\npair-2 2 3\n", encoding="utf-8")
    with pytest.raises(FigureError, match="already written to"):
        write_figures(store, read_batch(batch, pattern), FigureOptions())
    batch.write_text("pair-2 two 3\n", encoding="utf-8")
    with pytest.raises(FigureError, match=re.escape(f"{batch}:1: expected SENTENCE LAYER HEAD")):
        read_batch(batch, pattern)
    with pytest.raises(FigureError, match="with --batch, -o is a pattern"):
        read_batch(batch, str(tmp_path / "one.svg"))


def test_the_command(tmp_path, minilm_store):
    runner = CliRunner()
    out = tmp_path / "fig.svg"
    args = ["figure", "--store", str(minilm_store), "--sentence", "pair-2", "--layer", "2",
            "--head", "3", "--label", "weight", "--domain", "0", "0.5", "-o", str(out)]
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    assert f"figure: {out} (" in result.output
    shown = texts(ET.parse(out).getroot())
    assert "weight" in shown and "saliency" not in shown
    rec = AtlasStore.open(minilm_store)["pair-2"]
    assert legend(ET.parse(out).getroot())[-1] == top_label(rec, 2, 3, 0.5)
    # fitted: 0 to the head's largest value, nothing clamped; `fit` alone or not at all
    fit = runner.invoke(main, [*args[:-5], "--domain", "fit", "-o", str(out)])
    assert fit.exit_code == 0, fit.output
    top = np.round(rec.word_maps()[0][1, 2] * 255).max() / 255
    assert legend(ET.parse(out).getroot())[-1] == colour_labels((0.0, top))[1][-1]
    bad = runner.invoke(main, [*args[:-5], "--domain", "fit", "0.3", "-o", str(out)])
    assert bad.exit_code == 2 and "fit 0.3: give two numbers, LOW HIGH (e.g. 0 0.5), or fit alone" in bad.output
    png = tmp_path / "fig.png"
    result = runner.invoke(main, [*args[:-1], str(png), "--scale", "1", "--no-grid", "--words-only"])
    assert result.exit_code == 0, result.output and png.read_bytes()[:4] == b"\x89PNG"
    bad = runner.invoke(main, [*args[:6], "9", *args[7:]])
    assert bad.exit_code == 2 and "layer 9 is out of range: the model has 6 layers" in bad.output
    missing = runner.invoke(main, ["figure", "--store", str(minilm_store), "-o", str(out)])
    assert missing.exit_code == 2 and "missing --sentence, --layer, --head" in missing.output
    batch = tmp_path / "b.txt"
    batch.write_text("pair-2 1 1\nshort 2 2\n", encoding="utf-8")
    result = runner.invoke(main, ["figure", "--store", str(minilm_store), "--batch", str(batch),
                                  "-o", str(tmp_path / "set" / "{index}-l{layer}h{head}.pdf")])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "set").iterdir()) == ["1-l1h1.pdf", "5-l2h2.pdf"]


def at_size(value, size: int):
    """A spec's part with the page's size signals (`width`, `height`) fixed at `size` pixels."""
    if value == {"expr": "height"}:
        return size
    if isinstance(value, dict):
        return {k: at_size(v, size) for k, v in value.items()}
    if isinstance(value, list):
        return [at_size(v, size) for v in value]
    if isinstance(value, str):
        return re.sub(r"\b(width|height)\b", str(size), value)
    return value


def test_the_page_and_the_figure_share_their_charts():
    """The figure is the page's two specs side by side: the same layers, encodings and scales."""
    grid = charts.get_grid_spec(6, 12)
    detail = charts.get_detail_spec(measure_label="saliency", domain=(0.0, 0.3))
    fig = charts.get_figure_spec(6, 12, measure_label="saliency", domain=(0.0, 0.3))
    left, right = fig["hconcat"]
    # but the page's layer axis, whose title sits in the corner above its numbers (as
    # assets/grid-fit.js sets it on a grid that fits, so that its build-time Vega draws as is)
    corner = {"titleBaseline": "bottom", "titleX": 0, "titleY": -6}
    for layer in grid["layer"]:
        axis = layer["encoding"]["y"]["axis"]
        assert {k: axis.pop(k) for k in corner} == corner
    assert left["layer"] == grid["layer"] and left["height"] == grid["height"]
    # the page's detail follows its `width` / `height` signals (the page resizes it); the
    # figure's has the same expressions at its fixed size
    assert right["layer"][:len(detail["layer"])] == at_size(detail["layer"], charts.DETAIL_PX)
    assert at_size(detail["layer"], charts.DETAIL_PX) != detail["layer"]
    assert {p["name"] for p in grid["params"] + detail["params"]} == {p["name"] for p in fig["params"]}
