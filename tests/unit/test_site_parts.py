"""An encoder-decoder store's site (pipeline.site.parts): the data format's rectangular maps
(version 3), a data script, spec and grid per part, the page's part selector and target, and
figures of every part. The page in a browser: tests/browser/test_parts.py."""

from __future__ import annotations

import gzip
import json
import re
import struct

import numpy as np
import pytest

from pipeline.site.build import build_site
from pipeline.site.data_format import (
    RECT_FORMAT,
    RECT_HEADER,
    decode_codes,
    decode_script,
    encode_codes,
    encode_maps,
)
from pipeline.site.figure import FigureError, FigureOptions, FigureRequest, get_figure
from pipeline.store import AtlasStore, quantize
from pipeline.testing import parse_page, read_js_global
from pipeline.testing.seq2seq import synthetic_pair_store

TOLERANCE = 1 / 510 + 1e-6


@pytest.mark.parametrize("layouts", [(0, 0), (1, 1), (0, 1), (1, 0)])
def test_rectangular_maps_round_trip_in_every_layout(layouts):
    rng = np.random.default_rng(4)
    maps = rng.dirichlet(np.full(6, 0.3), size=(3, 2, 4))[..., :5].astype(np.float32)  # (L, H, R=4, C=5)
    special = (1 - maps.sum(-1)).astype(np.float32)
    blob = encode_codes(quantize(maps), quantize(special), layouts)
    body = gzip.decompress(blob)
    magic, version, n_layers, n_heads, rows, columns, layout, shares = RECT_HEADER.unpack_from(body)
    assert (magic, version, n_layers, n_heads, rows, columns) == (b"ATLS", RECT_FORMAT, 3, 2, 4, 5)
    assert (layout, shares) == layouts
    assert len(body) == RECT_HEADER.size + 3 * 2 * 4 * 5 + 3 * 2 * 4
    codes, shares_back = decode_codes(blob)
    assert codes.shape == (3, 2, 4, 5) and shares_back.shape == (3, 2, 4)
    np.testing.assert_array_equal(codes, quantize(maps))
    np.testing.assert_array_equal(shares_back, quantize(special))


def test_square_maps_keep_version_2_and_damaged_rectangles_are_refused():
    maps = np.full((1, 1, 3, 3), 0.25, np.float32)
    assert struct.unpack_from("<H", gzip.decompress(encode_maps(maps, maps[..., 0])), 4)[0] == 2
    rect = gzip.decompress(encode_maps(np.full((1, 1, 2, 3), 0.25, np.float32),
                                       np.full((1, 1, 2), 0.25, np.float32)))
    with pytest.raises(ValueError, match=r"1 x 1 x 2 x 3"):
        decode_codes(rect[:-1])


@pytest.fixture(scope="module")
def pair_site(tmp_path_factory):
    """A synthetic pair store (attention and rollout; a 2 x 2 encoder, a 3 x 2 decoder) and its site."""
    root = tmp_path_factory.mktemp("pair-site")
    store = synthetic_pair_store(root / "atlas.zarr", n=4, measures=("attention", "rollout"))
    build_site(store, root / "site", progress=False)
    return AtlasStore.open(store), root / "site"


def _page(site, name):
    """A page's name stem of a sentence id, from the index's data."""
    rows = read_js_global(site / "data" / "_index.js", "atlasIndexData")["rows"]
    return next(row[1] for row in rows if row[0] == name)


def test_each_part_has_its_data_script_within_half_a_code(pair_site):
    store, site = pair_site
    page = _page(site, "pair-1")
    rec = store["pair-1"]
    for suffix, measure, part in [("", "attention", "encoder"), (".decoder", "attention", "decoder"),
                                  (".cross", "attention", "cross"), (".rollout", "rollout", "encoder")]:
        codes, special = decode_codes(decode_script((site / "data" / f"{page}{suffix}.js").read_bytes()))
        maps, shares = rec.word_maps(measure, part=part)
        assert codes.shape == maps.shape, (suffix, codes.shape, maps.shape)
        assert np.abs(codes / 255 - maps).max() <= TOLERANCE
        assert np.abs(special / 255 - shares).max() <= TOLERANCE
    assert codes.shape[:2] == (2, 1)  # rollout: the encoder's 2 layers, one map each
    cross = decode_codes(decode_script((site / "data" / f"{page}.cross.js").read_bytes()))[0]
    assert cross.shape == (3, 2, len(rec.target_words), len(rec.words))  # the decoder's 3 x 2
    assert not list(site.glob("data/*.rollout.cross.js")), "rollout has no cross part"


def test_the_page_carries_parts_target_and_a_part_selector(pair_site):
    store, site = pair_site
    page = _page(site, "xss/script")
    html = (site / "sentences" / f"{page}.html").read_text(encoding="utf-8")
    payload = json.loads(re.search(r'id="atlas-sentence">(.*?)</script>', html, re.S)[1])
    attention, rollout = payload["measures"]
    assert [p["name"] for p in attention["parts"]] == ["encoder", "decoder", "cross"]
    assert [p["name"] for p in rollout["parts"]] == ["encoder"]
    cross = attention["parts"][2]
    assert (cross["data"], cross["detail"], cross["grid"], cross["layers"], cross["heads"]) == (
        f"../data/{page}.cross.js", "detail.cross", "grid-3x2", 3, 2)
    assert attention["parts"][0]["data"] == attention["data"] == f"../data/{page}.js"
    rec = store["xss/script"]
    assert payload["target"]["words"] == list(rec.target_words)
    assert payload["target"]["spans"] == [["<b>x</b>", 1, 2, 0]] and not payload["target"]["generated"]
    assert "<script>alert(2)" not in html  # the target is text, escaped
    doc = parse_page(site / "sentences" / f"{page}.html")
    assert any("regarde <script>alert(2)</script> ici" in text for text in doc.text)  # as text
    generated = (site / "sentences" / f"{_page(site, 'generated')}.html").read_text(encoding="utf-8")
    assert "target (generated by the model):" in generated
    specs = read_js_global(site / "assets" / "specs.js", "atlasSpecs")
    params = {p["name"] for p in specs["detail.cross"]["params"]}
    assert {"rowWords", "rowTracks", "words", "tracks"} <= params
    assert specs["grid-3x2"]["layer"][0]["encoding"]["y"]["scale"]["domain"] == [1, 2, 3]
    assert "// --- assets/sentence-parts.js" in (site / "assets" / "sentence-page.js").read_text(encoding="utf-8")


def test_figures_of_every_part(pair_site, tmp_path):
    store, _ = pair_site
    rec = store["pair-1"]
    svg = get_figure(store, FigureRequest("pair-1", 3, 2, tmp_path / "f.svg"),
                     FigureOptions(part="cross", grid=False))[0].decode("utf-8")
    assert "cross layer 3, head 2" in svg and "from (target word)" in svg and "to (source word)" in svg
    assert ">qui</text>" in svg and ">who's</text>" in svg  # a target row, a source column
    with pytest.raises(FigureError, match=r"layer 3 is out of range: the model has 2 layers"):
        get_figure(store, FigureRequest("pair-1", 3, 1, tmp_path / "e.svg"), FigureOptions())
    with pytest.raises(FigureError, match=r"no cross part of 'rollout' \('rollout' has encoder\)"):
        get_figure(store, FigureRequest("pair-1", 1, 1, tmp_path / "r.svg"),
                   FigureOptions(measure="rollout", part="cross"))
    assert rec.show(1, 1, part="decoder", grid=False).caption == "pair-1: layer 1, head 1 (attention, decoder)"
    assert 'data-fragment="l2h1&amp;p=cross"' in rec.view(2, 1, part="cross").html  # opens at the part


def test_the_size_limit_counts_and_removes_every_part(pair_site, tmp_path):
    store, site = pair_site
    full = sum(p.stat().st_size for p in site.rglob("*") if p.is_file())
    page = _page(site, "p003")
    one = sum(p.stat().st_size for p in [*site.glob(f"data/{page}*.js"), site / "sentences" / f"{page}.html"])
    limit = full - one // 2  # every sentence but about one fits
    build_site(store.path, tmp_path / "site", progress=False, max_site_bytes=limit)
    out = tmp_path / "site"
    assert sum(p.stat().st_size for p in out.rglob("*") if p.is_file()) <= limit
    kept = sorted(p.stem for p in out.glob("sentences/*.html"))
    assert 0 < len(kept) < 4
    data = sorted(p.name for p in out.glob("data/*.js") if p.name != "_index.js")
    assert data == sorted(f"{k}{s}.js" for k in kept for s in ("", ".decoder", ".cross", ".rollout"))
