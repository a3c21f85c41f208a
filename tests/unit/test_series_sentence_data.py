"""The sentence pages of a series: each checkpoint's maps under series/<label>/, written, counted
and removed with the sentence, listed in the page's payload; none without one tokenizer."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import numpy as np
import pytest

from pipeline.errors import SiteError
from pipeline.site.build import build_site
from pipeline.site.contexts import get_page_names
from pipeline.site.data_format import decode_codes, decode_script
from pipeline.site.series_view import CheckpointView, SeriesView, series_data_path
from pipeline.store.layout import quantize
from pipeline.testing import FakeStore, read_js_global

SENTENCES = [
    ("pair-1", "<CHI> painted a picture of a horse <CHI> my favorite animal is the",
     [("ENV", 0, 7), ("LAN", 7, 13)]),
    ("short", "Sit down .", []),
    ("evil/../<script>", "</script><script>alert(1)</script> & ' \" end", [("MOT", 0, 2)]),
    *[(f"s{k}", " ".join(["w"] * (3 + k)), []) for k in range(12)],
]
LABELS = ("step-10", "step-100", "step-1000", "step-10000")


def checkpoints(*, data=(True, True, False, True), measures=None, shape=(2, 3),
                tokenizers=None) -> tuple[CheckpointView, ...]:
    """Four checkpoints of one corpus (FakeStores of other seeds); the third without sentence
    data; `measures` per checkpoint (default: attention and grad each)."""
    out = []
    for k, label in enumerate(LABELS):
        held = (measures or {}).get(label, ("attention", "grad"))
        store = FakeStore(SENTENCES, *shape, seed=k, name=f"fake/{label}", measures=held)
        if tokenizers:
            store.model["tokenizer"] = tokenizers[k]
        out.append(CheckpointView(label, int(label.split("-")[1]), store, shape, data[k]))
    return tuple(out)


def build(tmp_path: Path, views, *, same_tokenizer=True, **kwargs):
    series = SeriesView(views, reference=len(views) - 1, same_tokenizer=same_tokenizer)
    site = tmp_path / "site"
    summary = build_site(views[-1].store, site, series=series, progress=False, **kwargs)
    return summary, site


def payload(site: Path, page: str) -> dict:
    text = (site / "sentences" / f"{page}.html").read_text(encoding="utf-8")
    found = re.search(r'<script type="application/json" id="atlas-sentence">(.*?)</script>', text, re.S)
    return json.loads(found.group(1))


def files(folder: Path) -> dict[str, int]:
    return {p.relative_to(folder).as_posix(): p.stat().st_size
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_each_checkpoint_with_sentence_data_gets_its_maps_per_measure(tmp_path):
    views = checkpoints(measures={"step-10": ("attention",)})
    summary, site = build(tmp_path, views, max_site_bytes=None)
    names = get_page_names([s[0] for s in SENTENCES])
    assert summary.with_pages == len(SENTENCES)
    # the reference's are the page's own data/; step-1000 has no sentence data
    assert sorted(p.name for p in (site / "series").iterdir()) == ["step-10", "step-100"]
    for i, page in enumerate(names):
        for label, suffixes in (("step-10", [""]), ("step-100", ["", ".grad"])):
            assert sorted(p.name for p in (site / "series" / label).glob(f"{page}*")) == \
                sorted(f"{page}{s}.js" for s in suffixes)
            store = views[LABELS.index(label)].store
            for suffix, measure in zip(suffixes, ["attention", "grad"], strict=False):
                blob = (site / series_data_path(label, page, suffix)).read_bytes()
                codes, special = decode_codes(decode_script(blob))
                maps, shares = store[i].word_maps(measure)
                assert np.array_equal(codes, quantize(maps)) and np.array_equal(special, quantize(shares))
        # the page lists them in series order, each with its data scripts by measure
        series = payload(site, page)["series"]
        assert series["current"] == "step-10000"
        assert [c["label"] for c in series["checkpoints"]] == ["step-10", "step-100", "step-10000"]
        assert [c["step"] for c in series["checkpoints"]] == [10, 100, 10000]
        assert series["checkpoints"][0]["data"] == {"attention": f"../series/step-10/{page}.js"}
        assert series["checkpoints"][1]["data"] == {"attention": f"../series/step-100/{page}.js",
                                                    "grad": f"../series/step-100/{page}.grad.js"}
        assert series["checkpoints"][2]["data"] == {"attention": f"../data/{page}.js",
                                                    "grad": f"../data/{page}.grad.js"}
        assert "note" not in series
    # the page's selectors and script, and the specs of a difference
    html = (site / "sentences" / f"{names[0]}.html").read_text(encoding="utf-8")
    assert 'id="checkpoint"' in html and 'id="minus"' in html
    scripts = (site / "assets" / "sentence-page.js").read_text(encoding="utf-8")
    assert "// --- assets/series-sentence.js" in scripts and "// --- assets/series-figures.js" in scripts
    assert '<option value="step-10000" selected>step-10000</option>' in html
    specs = read_js_global(site / "assets" / "specs.js", "atlasSpecs")
    assert {"detail-diff", "figure-diff", "figure-grad-diff"} <= set(specs)
    assert specs["detail-diff"]["layer"][0]["encoding"]["color"]["scale"]["scheme"] == "blueorange"
    assert "viridis" in json.dumps(specs["detail"])


def test_a_one_model_site_has_none_of_it(tmp_path):
    store = FakeStore(SENTENCES, 2, 3)
    build_site(store, tmp_path / "site", progress=False)
    site = tmp_path / "site"
    page = get_page_names([s[0] for s in SENTENCES])[0]
    assert not (site / "series").exists() and "series" not in payload(site, page)
    html = (site / "sentences" / f"{page}.html").read_text(encoding="utf-8")
    assert "checkpoint" not in html
    assert "// --- assets/series-" not in (site / "assets" / "sentence-page.js").read_text(encoding="utf-8")
    assert not {"detail-diff", "figure-diff"} & set(read_js_global(site / "assets" / "specs.js", "atlasSpecs"))


def test_the_checkpoints_maps_are_counted_in_each_sentences_cost(tmp_path):
    """A limit that holds every page of one model holds fewer with the checkpoints' maps, and the
    site stays within it; a page's data scripts go, and stay, together."""
    views = checkpoints()
    one_model, _ = build(tmp_path / "one", views[-1:], max_site_bytes=None)
    whole, site = build(tmp_path / "whole", views, max_site_bytes=None)
    sizes = files(site)
    series_bytes = sum(n for path, n in sizes.items() if path.startswith("series/"))
    assert whole.bytes - one_model.bytes >= series_bytes > 0
    limit = whole.bytes - series_bytes // 2  # the one model's site would fit whole
    summary, site = build(tmp_path / "limited", views, max_site_bytes=limit)
    assert summary.bytes <= limit and 0 < summary.with_pages < len(SENTENCES)
    pages = {p.stem for p in (site / "sentences").glob("*.html")}
    assert len(pages) == summary.with_pages
    for label in ("step-10", "step-100"):  # no script of a sentence without a page is left
        for path in (site / "series" / label).glob("*.js"):
            assert path.name.split(".")[0] in pages, path
        assert len(list((site / "series" / label).glob("*.js"))) == 2 * len(pages)


def test_the_estimate_counts_the_checkpoints(tmp_path):
    from pipeline.site.build import get_environment
    from pipeline.site.contexts import get_site_context
    from pipeline.site.index_data import get_index_row
    from pipeline.site.pages import SentenceWriter

    views = checkpoints()
    store = views[-1].store
    names = get_page_names(store.ids)
    rows = [get_index_row(store[i], names[i]) for i in range(len(store))]

    def estimate(series) -> float:
        site = get_site_context(store, measure="attention", measure_label="attention",
                                domain=(0.0, 0.3), series=series)
        writer = SentenceWriter(store, tmp_path, site, names, get_environment(),
                                store.storage_order(), rows, False)
        return writer.estimate(0) - 4000 - 4 * len(rows[0].text)

    alone = estimate(None)
    with_two = estimate(SeriesView(views, reference=3, same_tokenizer=True))
    assert with_two == pytest.approx(3 * alone)  # the reference's maps and two checkpoints'


def test_several_tokenizers_write_no_checkpoint_data_and_the_page_says_why(tmp_path):
    views = checkpoints(tokenizers=["bpe-a", "bpe-a", "bpe-b", "bpe-b"])
    build(tmp_path, views, same_tokenizer=False, max_site_bytes=None)
    site = tmp_path / "site"
    assert not (site / "series").exists()
    page = get_page_names([s[0] for s in SENTENCES])[1]
    series = payload(site, page)["series"]
    assert [c["label"] for c in series["checkpoints"]] == ["step-10000"]
    assert series["note"].startswith("step-10000 (fake/step-10000) and step-10 (fake/step-10) have "
                                     "different tokenizers")
    html = (site / "sentences" / f"{page}.html").read_text(encoding="utf-8")
    assert "have different tokenizers" in html and '<select id="checkpoint" disabled>' in html
    assert "detail-diff" not in read_js_global(site / "assets" / "specs.js", "atlasSpecs")


def test_a_checkpoint_without_a_sentence_is_an_error_naming_both(tmp_path):
    views = list(checkpoints())
    views[0].store.records.pop(1)
    views[0].store.ids.pop(1)
    with pytest.raises(SiteError, match=r"checkpoint 'step-10' of the series has no sentence 'short'"):
        build(tmp_path, tuple(views), max_site_bytes=None)


def test_a_checkpoint_of_another_shape_is_left_off_the_pages(tmp_path, caplog):
    views = list(checkpoints())
    small = checkpoints(shape=(1, 3))[0]
    views[0] = small
    with caplog.at_level(logging.WARNING):
        build(tmp_path, tuple(views), max_site_bytes=None)
    assert "checkpoint step-10 (1 x 3 heads) has another shape than step-10000 (2 x 3)" in caplog.text
    site = tmp_path / "site"
    assert sorted(p.name for p in (site / "series").iterdir()) == ["step-100"]
