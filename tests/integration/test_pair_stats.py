"""An encoder-decoder's statistics per part (encoder, decoder, cross): computed per stream from
each part's word maps and sides, incremental, read with `store.head_stats(measure, part=)`,
printed by `attention-atlas stats --part` with a part column, and the site's corpus view of
every part (head pages under heads/<measure>/ for the encoder, heads/<measure>.<part>/ for the
others, as the sentence pages name their data; head-stats.csv as the command's CSV)."""

from __future__ import annotations

import csv
import io
import json
import math

import numpy as np
import pytest
from click.testing import CliRunner

from pipeline.cli import main
from pipeline.errors import StoreError
from pipeline.site.build import build_site
from pipeline.stats.compute import update_stats
from pipeline.stats.definitions import list_statistics, sentence_stats
from pipeline.store import AtlasStore
from pipeline.testing import parse_page, read_js_global
from pipeline.testing.seq2seq import synthetic_pair_store

PARTS = ["encoder", "decoder", "cross"]


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """5 pairs (spans on both sides, a generated target), attention and rollout (encoder only):
    the statistics, then a site."""
    root = tmp_path_factory.mktemp("pair-stats")
    path = synthetic_pair_store(root / "atlas.zarr", n=5, measures=("attention", "rollout"))
    summary = update_stats(path)
    build_site(path, root / "site", progress=False)
    return path, root / "site", summary


def test_each_part_has_its_statistics_from_its_own_sides(pair):
    path, _, summary = pair
    assert summary.computed == 5 * 4 and summary.streams == [
        "attention.encoder", "attention.decoder", "attention.cross", "rollout.encoder"]
    assert "4 stream(s) (attention.encoder, " in str(summary)
    store = AtlasStore.open(path)
    for part, shape in (("encoder", (2, 2)), ("decoder", (3, 2)), ("cross", (3, 2))):
        stats = store.head_stats("attention", part=part)
        assert stats.names == list_statistics(part) and stats.shape == shape
        for i in range(len(store)):
            rec = store[i]
            W = rec.word_attention("attention", part=part)
            if part == "encoder":
                want = sentence_stats(W, rec.words, rec.spans, ())
            elif part == "decoder":
                want = sentence_stats(W, rec.target_words, rec.target_spans, (), part=part)
            else:  # target rows, source columns: spans a (target) -> b (source)
                want = sentence_stats(W, rec.words, rec.spans, (), part=part,
                                      row_words=rec.target_words, row_spans=rec.target_spans)
            for k, name in enumerate(stats.names):
                np.testing.assert_allclose(stats.per_sentence(name)[i], want.values[k], rtol=1e-6)
    cross = store.head_stats("attention", part="cross")
    assert ("<TGT>", "<SRC>") in cross.span_pairs and "prev" not in cross.names
    assert store.head_stats("attention").part == "encoder"  # part=None: the encoder
    with pytest.raises(StoreError, match="encoder"):
        store.head_stats("rollout", part="cross")
    again = update_stats(path)  # incremental: nothing new
    assert (again.computed, again.reused) == (0, 5 * 4)


def cli(store, *args):
    return CliRunner().invoke(main, ["-q", "stats", "--store", str(store), *args])


def test_the_command_and_the_site_give_each_part_its_rows(pair):
    path, site, _ = pair
    result = cli(path, "--format", "csv")
    assert result.exit_code == 0, result.output
    assert result.stdout == (site / "head-stats.csv").read_text()
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert list(rows[0]) == ["measure", "part", "statistic", "layer", "head", "value", "rank"]
    seen = list(dict.fromkeys((r["measure"], r["part"]) for r in rows))
    assert seen == [("attention", p) for p in PARTS] + [("rollout", "encoder")]
    cross = [r for r in rows if r["part"] == "cross" and r["statistic"] == "align_entropy"]
    want = AtlasStore.open(path).head_stats("attention", part="cross")["align_entropy"]
    assert len(cross) == 6 and all(
        float(r["value"]) == pytest.approx(want[int(r["layer"]) - 1, int(r["head"]) - 1], rel=5e-4)
        for r in cross)
    # one part, one statistic; a statistic of some parts only (diagonal: cross)
    only = cli(path, "--format", "json", "--part", "cross", "--stat", "diagonal", "--top", "2")
    data = json.loads(only.stdout)["measures"]
    assert [(m["measure"], m["part"], m["layers"], m["heads"]) for m in data] == [
        ("attention", "cross", 3, 2)]
    assert [s["key"] for s in data[0]["statistics"]] == ["diagonal"]
    assert len(data[0]["statistics"][0]["heads"]) == 2
    prev = list(csv.DictReader(io.StringIO(cli(path, "--format", "csv", "--stat", "prev").stdout)))
    assert {(r["measure"], r["part"]) for r in prev} == {
        ("attention", "encoder"), ("attention", "decoder"), ("rollout", "encoder")}
    table = cli(path, "--part", "decoder")
    assert table.exit_code == 0 and "\nattention (decoder) (3 layers x 2 heads" in table.stdout
    assert "\nrollout (" not in table.stdout  # rollout has no decoder part: left out
    for args, message in ((["--part", "cross", "--measure", "rollout"], "has the parts encoder"),
                          (["--stat", "nope"], "no such statistic of any part")):
        bad = cli(path, *args)
        assert bad.exit_code != 0 and message in bad.output, bad.output


def test_the_corpus_view_has_every_part_and_its_head_pages(pair):
    path, site, _ = pair
    data = read_js_global(site / "data" / "_corpus.js", "atlasCorpus")
    assert data["parts"] == PARTS
    views = [(m["measure"], m.get("of"), m.get("part"), m["layers"], m["heads"])
             for m in data["measures"]]
    assert views == [("attention", "attention", "encoder", 2, 2),
                     ("attention.decoder", "attention", "decoder", 3, 2),
                     ("attention.cross", "attention", "cross", 3, 2),
                     ("rollout", "rollout", "encoder", 2, 1)]
    cross = data["measures"][2]
    assert [s["key"] for s in cross["stats"]][:8] == list_statistics("cross")
    assert "source" in cross["stats"][1]["description"]  # special: the source's EOS, the sink
    specs = read_js_global(site / "assets" / "specs.js", "atlasSpecs")
    assert {"2x2", "2x1", "3x2"} <= set(specs["corpus"])  # the decoder's grid too
    index = parse_page(site / "index.html")
    assert [a["value"] for tag, a in index.tags if tag == "option" and "title" in a] == PARTS
    for name, layers, heads in (("attention", 2, 2), ("attention.decoder", 3, 2),
                                ("attention.cross", 3, 2), ("rollout", 2, 1)):
        assert len(list((site / "heads" / name).iterdir())) == layers * heads
    head = (site / "heads" / "attention.cross" / "l3h2.html").read_text()
    page = json.loads(next(text for attrs, text in parse_page(site / "heads" / "attention.cross" /
                                                              "l3h2.html").scripts
                           if attrs.get("id") == "atlas-head"))
    assert page["part"] == "cross" and page["data"] == "../../data/{page}.cross.js"
    assert page["sentence"] == "../../sentences/{page}.html#l3h2&p=cross"
    store = AtlasStore.open(path)
    named = {int(ref) for ref in page["rowWords"]}
    assert named and all(page["rowWords"][str(i)] == store[i].target_words for i in named)
    assert all(page["targets"][str(i)] == store[i].target for i in named)  # shown: source → target
    assert 'href="../../index.html#p=cross"' in head and "(attention, cross)" in head
    encoder = (site / "heads" / "attention" / "l1h1.html").read_text()
    assert 'href="../../index.html"' in encoder and "(attention, encoder)" in encoder
    values = [s for s in page["stats"] if s["key"] == "diagonal"][0]
    assert values["top"] and all(math.isfinite(v) for _, v in values["top"])
