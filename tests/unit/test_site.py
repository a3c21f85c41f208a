"""The static site without a browser, from fake stores: layout, escaping, relative links, values,
publication (sites from extracted stores: tests/integration/test_site_stores.py)."""

from __future__ import annotations

import dataclasses
import gzip
import json
import re
import urllib.parse
from pathlib import Path

import numpy as np
import pytest

import pipeline.site.build as site_module
import pipeline.site.pages as pages_module
from pipeline.errors import SiteError
from pipeline.site import charts
from pipeline.site.build import MARKER, build_site, check_target
from pipeline.site.contexts import get_page_names, get_span_tracks, slugify
from pipeline.site.data_format import decode_maps, decode_script
from pipeline.site.pages import FRAME_SLOT, SENTENCE_SCRIPTS
from pipeline.testing import FakeStore, parse_page, read_index, read_js_global, read_page

TOLERANCE = 1 / 510 + 1e-6

TRICKY_IDS = ["a/b", "a-b", "../../etc/passwd", "with space", "<b>bold</b>", "ünïcødé 😀", "x" * 300,
              "A", "a", "", "..", "CON", "-_-"]


SENTENCES = [
    ("pair-1", "<CHI> painted a picture of a horse <CHI> my favorite animal is the",
     [("<ENV>", 0, 7), ("<LAN>", 7, 13)]),
    ("evil/../<script>", "</script><script>alert(1)</script> & ' \" end", [("MOT", 0, 2), ("CHI", 1, 4)]),
    ('x"><img src=x onerror=alert(1)>', '"><img src=x onerror=alert(1)> \u2028 ok', [], True),
]


@pytest.fixture
def store():
    return FakeStore(SENTENCES)


@pytest.fixture
def built(store, tmp_path):
    summary = build_site(store, tmp_path / "site", progress=False)
    return summary, tmp_path / "site"


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under a folder, by relative path."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("sid", TRICKY_IDS, ids=range(len(TRICKY_IDS)))
def test_slug_is_a_safe_file_name(sid):
    name = slugify(sid)
    assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]{0,52}", name), name
    assert ".." not in name and "/" not in name


def test_page_names_are_unique_even_ignoring_case():
    names = get_page_names(TRICKY_IDS)
    assert len({n.lower() for n in names}) == len(TRICKY_IDS)
    assert get_page_names(TRICKY_IDS) == names  # stable
    with pytest.raises(SiteError, match="ids must be unique"):
        get_page_names(["a", "b", "a"])


def test_span_tracks_keep_overlapping_spans_apart():
    assert get_span_tracks([("A", 0, 3), ("B", 3, 5)]) == [0, 0]
    assert get_span_tracks([("A", 0, 3), ("B", 1, 5), ("C", 3, 4), ("D", 5, 6)]) == [0, 1, 0, 0]


def test_layout_and_summary(built, store):
    summary, site = built
    assert summary.sentences == 3 and summary.pages == 4
    assert summary.bytes == sum(len(b) for b in snapshot(site).values())
    assert summary.files == len(snapshot(site))
    assert f"{summary.bytes / 1e6:.1f} MB" in str(summary)
    assert "3 sentences" in str(summary)
    for name in ("index.html", "data/_index.js", MARKER, "assets/vega.js", "assets/specs.js",
                 "assets/sentence.js", "assets/sentence-state.js", "assets/sentence-window.js",
                 "assets/sentence-nav.js", "assets/paint.js", "assets/index.js", "assets/list.js",
                 "assets/maps.js", "assets/atlas.css", "assets/grid-fit.js", "assets/embed.js",
                 "assets/sentence-page.js", "assets/specs-vega.js"):
        assert (site / name).is_file(), name
    names = get_page_names(store.ids)
    assert sorted(p.stem for p in (site / "sentences").iterdir()) == sorted(names)
    assert sorted(p.stem for p in (site / "data").iterdir()) == sorted([*names, "_index"])
    assert not list(site.parent.glob(".site.*")), "no temporary folder is left"


def test_metadata_numbers_show_four_significant_digits_and_the_whole_in_the_title(store, tmp_path):
    meta = {"adult_speaker_age": 55.55966241606604, "speaker_role": "Mother", "n": 3}
    store.records[0] = dataclasses.replace(store.records[0], meta=meta)
    build_site(store, tmp_path / "s", progress=False)
    html = (tmp_path / "s" / "sentences" / f"{get_page_names(store.ids)[0]}.html").read_text()
    assert '<dt>adult_speaker_age</dt><dd title="55.55966241606604">55.56</dd>' in html  # keys as given
    assert "<dt>n</dt><dd>3</dd>" in html and "<dt>speaker_role</dt><dd>Mother</dd>" in html
    index = read_index(tmp_path / "s")  # the index's search and filters keep the whole value
    assert index[0]["meta"]["adult_speaker_age"] == "55.55966241606604"


def test_pages_escape_corpus_text(built, store):
    _, site = built
    for rec, name in zip(store, get_page_names(store.ids), strict=True):
        page = parse_page(site / "sentences" / f"{name}.html")
        assert rec.text in "".join(page.text)  # markup in the corpus comes back as text
        assert [t for t, _ in page.tags].count("img") == 0
        assert not [a for _, attrs in page.tags for a in attrs if a.startswith("on")]
        # classic scripts only (a page opened from disk may not load modules), all deferred
        scripts = [attrs for attrs, _ in page.scripts if attrs.get("type") != "application/json"]
        assert all("defer" in attrs and "type" not in attrs for attrs in scripts), scripts
        sources = [attrs["src"] for attrs in scripts]
        # the page's own scripts in one (the download's among them), its data, the specs; no
        # Vega: its detail is drawn on a canvas, and vega.js loaded for a figure download only
        assert sources == ["../assets/sentence-page.js", f"../data/{name}.js", "../assets/specs.js",
                           "../assets/specs-vega.js"]
        raw = next(text for attrs, text in page.scripts if attrs.get("type") == "application/json")
        assert not set(raw) & set("<>&'\u2028\u2029"), raw  # escaped as \u003c etc.
        payload = json.loads(raw)
        assert payload["id"] == rec.id and payload["words"] == rec.words and payload["page"] == name
        assert [s[:3] for s in payload["spans"]] == [list(s) for s in rec.spans]
        assert ["speaker", "MOT"] in [[k, v] for k, v in zip(page.text, page.text[1:], strict=False)]  # meta listed
    index = parse_page(site / "index.html")
    assert "fake/bert <b>" in "".join(index.text) and "/secret/folder" not in (site / "index.html").read_text()


def test_truncated_note(built, store):
    _, site = built
    notes = ["Truncated" in (site / "sentences" / f"{n}.html").read_text()
             for n in get_page_names(store.ids)]
    assert notes == [False, False, True]


def test_links_are_relative_and_resolve(built):
    _, site = built
    pages = [site / "index.html", *sorted((site / "sentences").glob("*.html"))]
    for path in pages:
        for link in parse_page(path).links:
            url = urllib.parse.urlsplit(link)
            if url.scheme == "data":
                continue
            assert not url.scheme and not url.netloc and not url.path.startswith("/"), link
            target = (path.parent / urllib.parse.unquote(url.path)).resolve()
            assert target.is_file() and site.resolve() in target.parents, link
    text = "".join(p.read_text(encoding="utf-8") for p in (site / "assets").glob("*.js")
                   if p.name != "vega.js")
    assert not re.search(r"https?://", text)


def test_index_and_data_match_the_store(built, store):
    _, site = built
    index = read_index(site)
    names = get_page_names(store.ids)
    assert [r["id"] for r in index] == store.ids
    for rec, row, name in zip(store, index, names, strict=True):
        assert row["page"] == name and row["text"] == rec.text
        assert row["words"] == len(rec.words)
        assert row["labels"] == list(dict.fromkeys(label for label, _, _ in rec.spans))
        assert row["meta"] == {"speaker": "MOT", "n": "1"}  # values as the page shows them
        script = (site / "data" / f"{name}.js").read_bytes()
        assert script[:2] == b"\xff\xfe"  # UTF-16LE with its byte-order mark
        blob = decode_script(script)
        assert blob[:2] == b"\x1f\x8b"  # gzip, for the browser's DecompressionStream
        maps, special = decode_maps(blob)
        assert maps.shape == rec.maps.shape
        assert np.abs(maps - rec.maps).max() <= TOLERANCE
        assert np.abs(special - rec.special).max() <= TOLERANCE


def test_shared_specs_are_written_once(built):
    _, site = built
    for path in (site / "sentences").glob("*.html"):
        text = path.read_text(encoding="utf-8")
        assert '"layer"' not in text and "viridis" not in text  # no chart spec in a page
        # nor the figure's markup: the site holds it once, the page a slot the bundle fills
        assert text.count(FRAME_SLOT) == 1 and 'id="figure"' not in text
        assert read_page(path).count('<div class="figure" id="figure"') == 1
    assert not list(site.rglob("*.vl.json")) and not list(site.rglob("*.bin"))  # all in scripts
    specs = read_js_global(site / "assets" / "specs.js", "atlasSpecs")
    assert sorted(specs) == ["corpus", "detail", "figure", "grid", "histogram"]  # attention only
    assert "viridis" in json.dumps(specs["detail"]) and "selLayer" in json.dumps(specs["grid"])
    assert specs["figure"]["usermeta"]["datasets"] == ["cells", "pairs", "spans"]
    # what a sentence page draws with Vega on load, compiled (assets/embed.js binds it); its grid
    # is drawn on a canvas from the Vega-Lite spec (assets/grid-draw.js)
    vega = read_js_global(site / "assets" / "specs-vega.js", "atlasVegaSpecs")
    assert sorted(vega) == ["detail"]
    assert vega["detail"] == charts.to_vega(specs["detail"]) and "$schema" not in vega["detail"]
    scripts = (site / "assets" / "sentence-page.js").read_text(encoding="utf-8")
    assert [line for line in scripts.splitlines() if line.startswith("// --- assets/")] == [
        f"// --- assets/{n}" for n in SENTENCE_SCRIPTS
        if not n.startswith(("series-", "gold-", "sentence-parts"))]


def test_viridis_is_defined_once_and_scripts_stay_short():
    """Every canvas's colours come from maps.js's one viridis table (its first and last stops
    appear nowhere else), and no page script grows past about 400 lines."""
    assets = site_module.templates_dir() / "assets"
    scripts = sorted(assets.glob("*.js"))
    stops = re.compile(r"440154|fde725|68,\s*1,\s*84|253,\s*231,\s*37", re.IGNORECASE)
    holders = [p.name for p in scripts if stops.search(p.read_text(encoding="utf-8"))]
    assert holders == ["maps.js"]
    long = {p.name: n for p in scripts if (n := len(p.read_text(encoding="utf-8").splitlines())) > 400}
    assert not long, long


def test_two_builds_are_byte_identical(store, tmp_path):
    build_site(store, tmp_path / "one", progress=False)
    build_site(store, tmp_path / "two", progress=False)
    assert snapshot(tmp_path / "one") == snapshot(tmp_path / "two")


def test_failed_rebuild_leaves_the_previous_site(store, built, monkeypatch):
    _, site = built
    before = snapshot(site)
    calls = []
    real = pages_module.build_sentence

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("disk full, half-way")
        return real(*args, **kwargs)

    monkeypatch.setattr(pages_module, "build_sentence", failing)
    with pytest.raises(RuntimeError, match="half-way"):
        build_site(FakeStore(SENTENCES, seed=1), site, progress=False)
    assert snapshot(site) == before
    assert sorted(p.name for p in site.parent.iterdir()) == ["site"]


def test_failed_swap_puts_the_previous_site_back(store, built, monkeypatch):
    _, site = built
    before = snapshot(site)
    real_rename = site_module.os.rename

    def rename(src, dst):
        if Path(src).name.startswith(".site.tmp-"):
            raise OSError("rename failed")
        return real_rename(src, dst)

    monkeypatch.setattr(site_module.os, "rename", rename)
    with pytest.raises(OSError):
        build_site(FakeStore(SENTENCES, seed=1), site, progress=False)
    assert snapshot(site) == before
    assert sorted(p.name for p in site.parent.iterdir()) == ["site"]


def test_rebuild_replaces_a_previous_site(store, built):
    _, site = built
    (site / "sentences" / "stale.html").write_text("old")
    build_site(FakeStore(SENTENCES[:1]), site, progress=False)
    assert not (site / "sentences" / "stale.html").exists()
    assert len(list((site / "sentences").iterdir())) == 1


def test_refuses_a_file_or_a_foreign_folder(store, tmp_path):
    target = tmp_path / "file.txt"
    target.write_text("precious")
    with pytest.raises(SiteError, match="is a file, not a folder"):
        build_site(store, target, progress=False)
    assert target.read_text() == "precious"
    foreign = tmp_path / "home"
    (foreign / "docs").mkdir(parents=True)
    (foreign / "docs" / "thesis.tex").write_text("precious")
    with pytest.raises(SiteError, match="not an Attention Atlas site"):
        build_site(store, foreign, progress=False)
    assert (foreign / "docs" / "thesis.tex").read_text() == "precious"
    link = tmp_path / "link"
    link.symlink_to(foreign, target_is_directory=True)
    with pytest.raises(SiteError, match="symbolic link"):
        build_site(store, link, progress=False)
    empty = tmp_path / "empty"
    empty.mkdir()
    check_target(empty)  # an empty folder is fine
    assert not list(tmp_path.glob(".*"))


def test_bad_measure_or_domain(store, tmp_path):
    with pytest.raises(SiteError, match="attention"):
        build_site(store, tmp_path / "s", measure="rollout", progress=False)
    with pytest.raises(SiteError, match="low < high"):
        build_site(store, tmp_path / "s", domain=(0.3, 0.3), progress=False)
    assert not list(tmp_path.iterdir())


def test_domain_and_label_reach_the_spec(store, tmp_path):
    build_site(store, tmp_path / "s", measure_label="weight", domain=(0.0, 0.5), progress=False)
    specs = read_js_global(tmp_path / "s" / "assets" / "specs.js", "atlasSpecs")
    params = {p["name"]: p["value"] for p in specs["detail"]["params"]}
    assert params["colourDomain"] == [0.0, 0.5] and params["colourLabels"][-1] == "0.5"
    assert specs["detail"]["layer"][0]["encoding"]["color"]["title"] == "weight"


def test_data_file_is_small(tmp_path):
    """A 6 x 12 model and 25 words: the page plus its data stay far below BertViz's ~1 MB."""
    store = FakeStore([(f"s{i}", " ".join(["w"] * 25), [("A", 0, 12)]) for i in range(2)], 6, 12)
    for rec in store:  # peaked like real heads: most weight on a few words
        rec.maps[:] = np.where(rec.maps > 0.1, rec.maps, 0.0)
    build_site(store, tmp_path / "s", progress=False)
    page = max(p.stat().st_size for p in (tmp_path / "s" / "sentences").iterdir())
    data = max(p.stat().st_size for p in (tmp_path / "s" / "data").iterdir())
    assert page + data < 40_000
    blob = decode_script((tmp_path / "s" / "data" / f"{get_page_names(store.ids)[0]}.js").read_bytes())
    assert len(gzip.decompress(blob)) == 14 + 6 * 12 * 25 * 25 + 6 * 12 * 25


def test_empty_store_builds_an_index(tmp_path):
    summary = build_site(FakeStore([]), tmp_path / "site", progress=False)
    assert summary.sentences == 0 and summary.pages == 1
    assert read_index(tmp_path / "site") == []
