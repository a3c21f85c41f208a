"""The site from stores the pipeline extracted (the embedded MiniLM, the tiny GPT-2 with every
measure), and the build's imports in a fresh interpreter: the store alone, never torch."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pipeline.measures import get_measure
from pipeline.site.build import build_site
from pipeline.site.contexts import get_page_names
from pipeline.site.data_format import decode_maps, decode_script
from pipeline.store import AtlasStore
from pipeline.testing import parse_page, read_js_global, read_page

TOLERANCE = 1 / 510 + 1e-6
REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("fixture", ["minilm_store", "gpt2_store"])
def test_real_store_end_to_end(request, fixture, tmp_path):
    """A store written by the pipeline: values within 1/510, text escaped, pages small."""
    path = request.getfixturevalue(fixture)
    summary = build_site(path, tmp_path / "site", progress=False)
    store = AtlasStore.open(path)
    assert summary.sentences == len(store)
    names = get_page_names(store.ids)
    for rec, name in zip(store, names, strict=True):
        maps, special = decode_maps(decode_script((tmp_path / "site" / "data" / f"{name}.js").read_bytes()))
        stored, stored_special = rec.word_maps("attention")
        assert np.abs(maps - stored).max() <= TOLERANCE
        assert np.abs(special - stored_special).max() <= TOLERANCE
        page = parse_page(tmp_path / "site" / "sentences" / f"{name}.html")
        assert rec.text in "".join(page.text)
        if store.model["causal"]:
            assert not np.triu(maps, k=1).any()  # shown as they are: lower-triangular
    horse = names[store.ids.index("pair-2")]
    size = sum((tmp_path / "site" / sub / f"{horse}{ext}").stat().st_size
               for sub, ext in (("sentences", ".html"), ("data", ".js")))
    assert size < 40_000  # BertViz's model_view: about 1 MB for a sentence like it


def test_every_stored_measure_gets_its_data_file_specs_and_selector(gpt2_all_measures_store,
                                                                   tmp_path):
    site = tmp_path / "site"
    build_site(gpt2_all_measures_store, site, measure="grad", progress=False)
    store = AtlasStore.open(gpt2_all_measures_store)
    names = get_page_names(store.ids)
    suffixes = {"grad": "", "attention": ".attention", "rollout": ".rollout", "norm": ".norm"}
    for rec, name in zip(store, names, strict=True):
        for measure, suffix in suffixes.items():
            maps, special = decode_maps(decode_script((site / "data" / f"{name}{suffix}.js").read_bytes()))
            stored, stored_special = rec.word_maps(measure)
            assert maps.shape == stored.shape and maps.shape[1] == (1 if measure == "rollout" else 4)
            assert np.abs(maps - stored).max() <= TOLERANCE, (rec.id, measure)
            assert np.abs(special - stored_special).max() <= TOLERANCE
    html_text = read_page(site / "sentences" / f"{names[0]}.html")  # the figure filled in
    payload = json.loads(re.search(r'id="atlas-sentence">(.*?)</script>', html_text).group(1))
    offered = [(m["name"], m["title"], m["heads"], m["detail"], m["grid"]) for m in payload["measures"]]
    assert offered == [("grad", "saliency", 4, "detail", "grid"),  # the default first
                       ("attention", "attention", 4, "detail-attention", "grid"),
                       ("rollout", "rollout", 1, "detail-rollout", "grid-layers"),
                       ("norm", "norm", 4, "detail-norm", "grid")]
    assert [m["data"] for m in payload["measures"]] == [
        f"../data/{names[0]}{suffix}.js" for suffix in suffixes.values()]
    specs = read_js_global(site / "assets" / "specs.js", "atlasSpecs")  # every spec, in one script
    assert sorted(specs) == sorted(["grid", "grid-layers", "detail", "detail-attention",
                                    "detail-rollout", "detail-norm", "figure", "figure-attention",
                                    "figure-rollout", "figure-norm", "corpus", "histogram"])
    options = re.findall(r'<option value="(\w+)">', measure_select(html_text))
    assert options == ["grad", "attention", "rollout", "norm"]
    for view in payload["measures"]:  # each colour bar titled with the measure's title
        spec = specs[view["detail"]]
        assert spec["layer"][0]["encoding"]["color"]["title"] == view["title"]
        # over the measure's own fixed domain (rollout 0 to 0.6, norm and grad 0 to 0.5)
        params = {p["name"]: p["value"] for p in spec["params"]}
        assert params["colourDomain"] == list(get_measure(view["name"]).domain), view["name"]
        # and the figure the page downloads for that measure: its colour bar, its grid
        figure = specs[view["figure"]]
        grid, detail = figure["hconcat"]
        assert view["title"] in json.dumps(detail["layer"][0]["encoding"]["color"])
        assert grid["layer"][0]["encoding"]["x"]["scale"]["domain"] == list(
            range(1, view["heads"] + 1))
    assert [m["figure"] for m in payload["measures"]] == [
        "figure", "figure-attention", "figure-rollout", "figure-norm"]
    layers = specs["grid-layers"]
    assert layers["layer"][0]["encoding"]["x"]["scale"]["domain"] == [1]  # one column, a map per layer


def measure_select(html: str) -> str:
    """A sentence page's measure selector (the page has other selectors: the colour scale)."""
    return re.search(r'<select id="measure".*?</select>', html, re.S).group(0)


def test_a_store_with_attention_only_offers_only_attention(minilm_store, tmp_path):
    build_site(minilm_store, tmp_path / "site", progress=False)
    page = read_page(next((tmp_path / "site" / "sentences").iterdir()))  # the figure filled in
    assert re.findall(r'<option value="(\w+)">', measure_select(page)) == ["attention"]
    assert sorted(read_js_global(tmp_path / "site" / "assets" / "specs.js", "atlasSpecs")) == [
        "corpus", "detail", "figure", "grid", "histogram"]
    names = get_page_names(AtlasStore.open(minilm_store).ids)
    assert sorted(p.name for p in (tmp_path / "site" / "data").iterdir()) == sorted(
        ["_index.js", *(f"{name}.js" for name in names)])  # one data script per sentence


def test_building_a_site_never_imports_torch(tmp_path):
    """The site is built from the store alone: no model, no torch, no Ray (pipeline.testing
    included); a record's figure in a notebook (pipeline.site.notebook) needs no IPython either."""
    code = ("import sys; from pipeline.site.build import build_site; from pipeline.testing import FakeStore; "
            f"build_site(FakeStore([('a', 'b c', [])]), {str(tmp_path / 'site')!r}, progress=False); "
            "from pipeline.site.notebook import record_figure; "
            "assert record_figure(FakeStore([('a', 'b c', [])])[0]).svg.startswith('<svg'); "
            "assert not {'torch', 'transformers', 'ray', 'IPython', 'pandas'} & set(sys.modules), 'imported'; "
            "assert not [m for m in sys.modules if m.startswith(('pipeline.extract', 'pipeline.model', "
            "'pipeline.notebook'))]")
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "PYTHONPATH": str(REPO)})


def test_build_takes_a_store_path_as_str(minilm_store, tmp_path):
    summary = build_site(str(minilm_store), tmp_path / "site", progress=False)
    assert summary.sentences == len(AtlasStore.open(minilm_store))
