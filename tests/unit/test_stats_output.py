"""`attention-atlas stats` prints every head's value and rank (a table, CSV or JSON), and the site
offers the same CSV for download from the index and each head page."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest
from click.testing import CliRunner

from pipeline.cli import main
from pipeline.site.build import build_site
from pipeline.site.corpus_view import ranks
from pipeline.stats.compute import update_stats
from pipeline.store import AtlasStore
from pipeline.testing import gold_rows, write_store


@pytest.fixture(scope="module")
def gold(tmp_path_factory):
    """30 sentences with gold trees, 2 layers x 3 heads, attention and rollout (one map per
    layer); statistics; a site."""
    root = tmp_path_factory.mktemp("stats-output")
    rows = [(s, {"attention": maps, "rollout": maps[:, :1]}) for s, maps in gold_rows()]
    store = write_store(root / "atlas.zarr", rows, 2, 3, measures=("attention", "rollout"))
    update_stats(store)
    build_site(store, root / "site", progress=False)
    return store, root / "site"


def stats(store, *args):
    result = CliRunner().invoke(main, ["-q", "stats", "--store", str(store), *args])
    return result


def test_csv_gives_every_head_its_value_and_rank_as_the_site_does(gold):
    path, site = gold
    result = stats(path, "--format", "csv")
    assert result.exit_code == 0, result.output
    assert result.stderr.startswith("stats: 30 sentences x 2 measure(s)")  # stdout is data only
    assert result.stdout == (site / "head-stats.csv").read_text()
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert list(rows[0]) == ["measure", "statistic", "layer", "head", "value", "rank"]
    store = AtlasStore.open(path)
    for measure, heads in (("attention", 3), ("rollout", 1)):
        stats_ = store.head_stats(measure)
        mine = [r for r in rows if r["measure"] == measure]
        keys = list(dict.fromkeys(r["statistic"] for r in mine))
        assert keys[:len(stats_.names)] == stats_.names and {"dep:det", "dep:nsubj"} < set(keys)
        assert len(mine) == len(keys) * 2 * heads  # every head of every statistic
        for key in ("prev", "dep:nsubj"):
            values = stats_[key] if key in stats_.names else stats_.dependency["nsubj"].accuracy
            got = {(int(r["layer"]), int(r["head"])): r for r in mine if r["statistic"] == key}
            want_ranks = ranks(values)
            for (layer, head), r in got.items():
                assert float(r["value"]) == pytest.approx(values[layer - 1, head - 1], rel=5e-4)
                assert int(r["rank"]) == want_ranks[layer - 1, head - 1]
        undefined = [r for r in mine if r["statistic"] == "duplicate"]  # no repeated word
        assert undefined and all(r["value"] == r["rank"] == "" for r in undefined)
    assert rows[0]["measure"] == "attention" and rows[-1]["measure"] == "rollout"


def test_json_and_top_and_one_statistic(gold):
    path, _ = gold
    result = stats(path, "--format", "json", "--stat", "dep:nsubj", "--top", "2", "--measure", "attention")
    assert result.exit_code == 0, result.output
    (measure,) = json.loads(result.stdout)["measures"]
    assert (measure["measure"], measure["layers"], measure["heads"], measure["sentences"]) == (
        "attention", 2, 3, 30)
    (stat,) = measure["statistics"]
    dep = AtlasStore.open(path).head_stats().dependency["nsubj"]
    assert stat["key"] == "dep:nsubj" and stat["baseline"] == {
        "offset": dep.baseline_offset, "accuracy": pytest.approx(dep.baseline_accuracy, rel=5e-4),
        "arcs": dep.arcs}
    assert stat["heads"][0] == {"layer": 1, "head": 2, "value": 1.0, "rank": 1}
    assert len(stat["heads"]) == 2 and stat["heads"][1]["rank"] == 2


def test_the_table_shows_the_highest_heads_of_each_statistic(gold, tmp_path):
    path, _ = gold
    result = stats(path)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("stats: 30 sentences x 2 measure(s)")  # the summary, then the table
    assert lines[1] == ("attention (2 layers x 3 heads, 30 sentences): the 5 highest heads of each "
                        "statistic (rank 1 = the highest)")
    assert lines[2].split() == ["statistic", "1", "2", "3", "4", "5"]
    nsubj = next(line for line in lines if line.startswith("dep:nsubj "))
    assert nsubj.split()[1:3] == ["l1h2", "1"] and "(best fixed offset +1: 0.4" in nsubj
    assert any(line.startswith("duplicate ") and "undefined" in line for line in lines)
    assert any(line.startswith("rollout (2 layers x 1 heads") for line in lines)
    one = stats(path, "--stat", "prev", "--top", "3", "--measure", "attention", "-o", tmp_path / "prev.txt")
    assert one.exit_code == 0 and one.stdout.splitlines()[-1] == f"stats: table of 3 head values -> {tmp_path / 'prev.txt'}"
    table = (tmp_path / "prev.txt").read_text().splitlines()
    values = AtlasStore.open(path).head_stats()["prev"]
    best = np.unravel_index(np.nanargmax(values), values.shape)
    assert table[1].split() == ["rank", "head", "value"] and len(table) == 5
    assert table[2].split()[:2] == ["1", f"l{best[0] + 1}h{best[1] + 1}"]


@pytest.mark.parametrize("args, code, message", [
    (["--stat", "nope"], 2, "--stat nope: no such statistic of 'attention'; the statistics: entropy"),
    (["--measure", "norm"], 5, "holds no measure 'norm'; it holds: attention, rollout"),
    (["--top", "0"], 2, "0 is not in the range x>=1"),
    (["--format", "xml"], 2, "'xml' is not one of 'table', 'csv', 'json'"),
])
def test_bad_options_are_named(gold, args, code, message):
    result = stats(gold[0], *args)
    assert result.exit_code == code and message in result.output, result.output


def test_the_index_and_each_head_page_offer_the_csv(gold):
    _, site = gold
    index = (site / "index.html").read_text()
    assert 'href="head-stats.csv" download="head-stats.csv"' in index
    for page in (site / "heads" / "attention" / "l2h3.html", site / "heads" / "rollout" / "l1h1.html"):
        assert 'href="../../head-stats.csv" download="head-stats.csv"' in page.read_text()
