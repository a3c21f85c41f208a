"""The specs of a series' page downloads (pipeline.site.series_downloads): the checkpoints figure
of each measure names the checkpoints the sentence pages carry, after the size plan too; the
training figure and each statistic's axis title are in data/_series.js; a one-model site has none."""

from __future__ import annotations

import json
import re

import pytest

from pipeline.site import series_plan
from pipeline.site.build import build_site
from pipeline.site.series_downloads import CHECKPOINTS_FIGURE
from pipeline.site.series_figure import statistic_label
from pipeline.site.series_plan import checkpoint_priority, plan_checkpoints
from pipeline.site.series_site import build_series_site
from pipeline.testing import read_js_global
from pipeline.testing.series import series_stores


@pytest.fixture(scope="module")
def series(tmp_path_factory):
    """Four checkpoints of one corpus and one shape: every one may carry sentence data."""
    return series_stores(tmp_path_factory.mktemp("series"), [0, 10, 100, 1000], n=30)


def payload(site) -> dict:
    page = sorted((site / "sentences").glob("*.html"))[0].read_text()
    found = re.search(r'<script type="application/json" id="atlas-sentence">(.*?)</script>', page,
                      re.S)
    return json.loads(found.group(1))


def three_of_four(series, probe: int, folder, monkeypatch) -> int:
    """A site limit with room for every list's first with three checkpoints, not with all four:
    the sizes the plan is given under the limit `probe` (recorded from a build), and the room
    halfway between the two (the plan's own cost of a sentence with its first k checkpoints)."""
    seen = {}

    def record(steps, **sizes):
        seen.update(sizes, steps=steps)
        return plan_checkpoints(steps, **sizes)

    monkeypatch.setattr(series_plan, "plan_checkpoints", record)
    build_series_site(series, folder, max_site_bytes=probe, progress=False)
    monkeypatch.undo()
    order = checkpoint_priority(seen["steps"])
    firsts = min(seen["n_firsts"], seen["n_sentences"])

    def room(k: int) -> float:  # the firsts with the first k checkpoints of the order
        return firsts * (seen["page_bytes"] + sum(seen["data_bytes"][c] for c in order[1:k]))

    fixed = probe - seen["room"]  # what the site holds beside the sentences
    return int(fixed + (room(3) + room(4)) / 2)


def test_the_checkpoints_figure_has_a_panel_per_checkpoint_the_pages_carry(series, tmp_path,
                                                                          caplog, monkeypatch):
    full = build_series_site(series, tmp_path / "full", max_site_bytes=None, progress=False)
    specs = read_js_global(full.site_dir / "assets" / "specs.js", "atlasSpecs")
    spec = specs["figure" + CHECKPOINTS_FIGURE]
    assert spec["usermeta"] == {"datasets": ["pairs", "spans"], "checkpoints": list(series.labels)}
    assert [p["title"]["text"] for p in spec["concat"]] == ["step 0", "step 10", "step 100",
                                                           "step 1,000"]
    assert [c["label"] for c in payload(full.site_dir)["series"]["checkpoints"]] == list(series.labels)

    caplog.set_level("INFO", logger="pipeline.site.series_plan")  # a limit: fewer checkpoints
    limit = three_of_four(series, full.bytes - 1, tmp_path / "probe", monkeypatch)
    caplog.clear()  # the probe's plan
    small = build_series_site(series, tmp_path / "small", max_site_bytes=limit, progress=False)
    assert small.bytes <= limit
    (line,) = [r.getMessage() for r in caplog.records if r.getMessage().startswith("series:")]
    chosen = re.search(r"\((.*)\)", line).group(1).split(", ")
    assert chosen == ["step-0", "step-10", "step-1000"]  # the reference, the first, then log-spaced
    spec = read_js_global(small.site_dir / "assets" / "specs.js", "atlasSpecs")["figure:checkpoints"]
    assert spec["usermeta"]["checkpoints"] == chosen  # rewritten after the plan
    assert len(spec["concat"]) == len(chosen)
    assert [c["label"] for c in payload(small.site_dir)["series"]["checkpoints"]] == chosen


def test_the_training_figure_and_its_titles_are_in_the_series_data(series, tmp_path):
    site = build_series_site(series, tmp_path / "site", max_site_bytes=None, progress=False)
    data = read_js_global(site.site_dir / "data" / "_series.js", "atlasSeries")
    figure = data["figure"]
    assert figure["usermeta"] == {"datasets": ["lines"]}
    x = figure["layer"][0]["encoding"]["x"]
    assert x["scale"]["type"] == "symlog" and x["axis"]["values"] == [0, 10, 100, 1000]
    for stat in data["measures"][0]["stats"]:
        assert stat["axis"] == statistic_label(stat["key"])
    assert {"entropy (nats)", "span mass MOT → CHI", "dependency: left"} <= {
        s["axis"] for s in data["measures"][0]["stats"]}


def test_a_one_model_site_has_no_series_figure(series, tmp_path):
    one = build_site(series.stores[-1], tmp_path / "one", max_site_bytes=None, progress=False)
    specs = read_js_global(one.site_dir / "assets" / "specs.js", "atlasSpecs")
    assert not [key for key in specs if key.endswith(CHECKPOINTS_FIGURE)]
    assert not (one.site_dir / "assets" / "series-figures.js").exists()
    page = sorted((one.site_dir / "sentences").glob("*.html"))[0].read_text()
    assert "checkpoints-download" not in page and "series-figures.js" not in page
