"""The site of a series: which checkpoints get sentence data (a pure function of sizes), the
corpus data of every checkpoint (data/_series.js), and the site the series builds."""

from __future__ import annotations

import re

import numpy as np
import pytest

from pipeline.errors import SiteError
from pipeline.site.build import build_site
from pipeline.site.corpus_view import selectables, sentence_cases
from pipeline.site.series_corpus import log_steps
from pipeline.site.series_plan import checkpoint_priority, plan_checkpoints, sample_positions
from pipeline.site.series_site import build_series_site, series_view
from pipeline.testing import read_js_global
from pipeline.testing.series import StoreSeries, series_stores

# --- the plan: a pure function of sizes ------------------------------------------------------


def test_the_priority_is_the_last_the_first_then_log_spaced_steps():
    assert checkpoint_priority([0, 10, 100, 1000, 10000]) == [4, 0, 2, 3, 1]
    # log-spaced, not evenly spaced: 1000 lies farther from 10 and 100000 in log-step than 50000
    assert checkpoint_priority([10, 1000, 50000, 100000])[:3] == [3, 0, 1]
    # unknown steps: by position in the series
    assert checkpoint_priority([None] * 5) == [4, 0, 2, 1, 3]
    assert checkpoint_priority([7]) == [0] and checkpoint_priority([]) == []
    steps = [2 ** k for k in range(20)]
    order = checkpoint_priority(steps)
    assert sorted(order) == list(range(20)) and order[:2] == [19, 0]


def plan(room, *, n=1000, firsts=100, page=1000.0, data=None, steps=None):
    steps = steps or [0, 10, 100, 1000, 10000]
    data = data or [2000.0] * len(steps)
    return plan_checkpoints(steps, page_bytes=page, data_bytes=data, room=room, n_sentences=n,
                            n_firsts=firsts)


def test_without_a_limit_or_with_room_for_everything_every_checkpoint_gets_sentence_data():
    assert plan(None).chosen == (0, 1, 2, 3, 4)
    # the whole corpus with all five: 1000 x (1000 + 4 x 2000) bytes
    assert plan(9_000_000).chosen == (0, 1, 2, 3, 4)
    assert plan(9_000_000).sentences == 1000 and plan(9_000_000).target == "corpus"


def test_the_most_checkpoints_that_give_every_lists_first_a_page():
    # 100 firsts: with k checkpoints a sentence costs 1000 + 2000 (k - 1)
    assert plan(100 * 5000).chosen == (0, 2, 4)  # 3 checkpoints: 5000 each
    assert plan(100 * 5000 - 1).chosen == (0, 4)  # the reference and the first
    assert plan(100 * 7000).chosen == (0, 2, 3, 4)
    p = plan(100 * 5000)
    assert p.target == "firsts" and p.sentences == 100 and p.per_sentence == 5000
    # not even the firsts with two: the reference alone, and as many sentences as fit with it
    p = plan(100 * 3000 - 1)
    assert p.target == "reference" and p.chosen == (4,) and p.sentences == 299


def test_more_room_never_gives_fewer_checkpoints():
    data = [6000.0, 2000.0, 500.0, 2000.0, 2000.0]
    counts = [len(plan(room, data=data).chosen) for room in range(100_000, 2_000_000, 7_919)]
    assert counts == sorted(counts) and counts[0] == 1 and counts[-1] == 5


def test_the_plan_weighs_each_checkpoints_own_bytes():
    # a big first checkpoint (a wider model): 100 x (1000 + 6000) for the reference and it
    data = [6000.0, 2000.0, 2000.0, 2000.0, 2000.0]
    assert plan(100 * 7000 - 1, data=data).chosen == (4,)
    assert plan(100 * 7000, data=data).chosen == (0, 4)
    assert plan(100 * 13000, data=data).chosen == (0, 1, 2, 3, 4)


def test_a_sample_spreads_over_the_order():
    assert sample_positions(list(range(10)), 64) == list(range(10))
    assert sample_positions(list(range(100, 200)), 5) == [100, 125, 150, 174, 199]


def test_log_steps_where_the_steps_span_decades():
    assert log_steps([0, 10, 100]) and log_steps([10, 10000]) and not log_steps([10, 1000])
    assert not log_steps([100, 200, 900]) and not log_steps([0, None]) and not log_steps([])


# --- the series' corpus data and its site ----------------------------------------------------


@pytest.fixture(scope="module")
def series(tmp_path_factory):
    """Three checkpoints of one corpus, the last of another shape (3 x 4)."""
    return series_stores(tmp_path_factory.mktemp("series"), [0, 100, 10000], n=30,
                         shapes=[(2, 3), (2, 3), (3, 4)])


@pytest.fixture(scope="module")
def series_site(series, tmp_path_factory):
    site = tmp_path_factory.mktemp("series-site") / "site"
    return build_series_site(series, site, max_site_bytes=None, progress=False)


def test_the_series_data_holds_each_stores_own_statistics(series, series_site):
    data = read_js_global(series_site.site_dir / "data" / "_series.js", "atlasSeries")
    assert [c["label"] for c in data["checkpoints"]] == ["step-0", "step-100", "step-10000"]
    assert data["reference"] == 2 and data["logStep"]
    (m,) = data["measures"]
    assert (m["layers"], m["heads"], m["headPages"]) == (3, 4, [3, 4])
    keys = [s["key"] for s in m["stats"]]
    assert "prev" in keys and "span:MOT>CHI" in keys and "dep:left" in keys
    ref = series.stores[-1]
    rec_cases = sentence_cases([len(r.words) for r in ref], [r.spans for r in ref])
    for c, store in enumerate(series.stores):
        own = {sel.key: sel.values for sel in selectables(store.head_stats(), rec_cases)}
        assert set(own) == set(keys)
        for s in m["stats"]:
            got = np.array([[np.nan if v is None else v for v in row] for row in s["values"][c]])
            L, H = own[s["key"]].shape
            np.testing.assert_allclose(got[:L, :H], own[s["key"]], rtol=1e-3, atol=1e-12)
            assert np.isnan(got[L:, :]).all() and np.isnan(got[:, H:]).all()  # heads it lacks
    # training moved the previous-word role from the first head to the last
    prev = next(s for s in m["stats"] if s["key"] == "prev")["values"]
    assert prev[0][0][0] > prev[0][1][2] and prev[2][2][3] > prev[2][0][0]


def test_the_series_site_is_the_references_with_the_series_scripts(series, series_site, tmp_path):
    site = series_site.site_dir
    assert series_site.sentences == 30 and series_site.with_pages == 30
    for name in ("series-corpus.js", "series-head.js", "series-lines.js", "series-style.css"):
        assert (site / "assets" / name).is_file()
    index = (site / "index.html").read_text()
    # corpus.js lends its statistic selector and draws nothing (tests/browser/test_series_pages.py)
    assert 0 < index.index("assets/corpus.js") < index.index("assets/series-corpus.js")
    assert 'id="series-mode"' in index
    head = (site / "heads" / "attention" / "l3h4.html").read_text()  # the reference's shape
    assert "series-head.js" in head and "data/_series.js" in head
    # a site of one model has none of it
    one = build_site(series.stores[-1], tmp_path / "one", max_site_bytes=None, progress=False)
    assert not list((one.site_dir / "assets").glob("series-*"))
    assert not (one.site_dir / "data" / "_series.js").exists()
    assert "series" not in (one.site_dir / "index.html").read_text()


def test_every_checkpoint_gets_sentence_data_without_a_limit(series, monkeypatch, tmp_path):
    seen = []
    import pipeline.site.pages as pages

    real = pages.SentenceWriter.__init__

    def spy(self, store, out, site, *args, **kwargs):
        seen.append(site.series)
        real(self, store, out, site, *args, **kwargs)

    monkeypatch.setattr(pages.SentenceWriter, "__init__", spy)
    build_series_site(series, tmp_path / "all", max_site_bytes=None, progress=False)
    # the reference is of another shape: no other checkpoint's maps can be set beside its own
    assert [c.sentence_data for c in seen[-1].checkpoints] == [False, False, True]
    same = StoreSeries(series.labels[:2], series.steps[:2], series.stores[:2], same_tokenizer=True)
    build_series_site(same, tmp_path / "same", max_site_bytes=None, progress=False)
    assert [c.sentence_data for c in seen[-1].checkpoints] == [True, True]
    # another tokenizer across the series: the reference's sentences only
    other = StoreSeries(series.labels, series.steps, series.stores, same_tokenizer=False)
    build_series_site(other, tmp_path / "other", max_site_bytes=None, progress=False)
    assert [c.sentence_data for c in seen[-1].checkpoints] == [False, False, True]


def test_a_limit_gives_sentence_data_to_fewer_checkpoints_and_holds(series, monkeypatch, tmp_path,
                                                                   caplog):
    full = build_series_site(series, tmp_path / "full", max_site_bytes=None, progress=False)
    caplog.set_level("INFO", logger="pipeline.site.series_plan")
    small = build_series_site(series, tmp_path / "small", max_site_bytes=full.bytes - 40_000,
                              progress=False)
    assert small.bytes <= full.bytes - 40_000 and small.with_pages < 30
    (line,) = [r.getMessage() for r in caplog.records if r.getMessage().startswith("series:")]
    chosen = re.search(r"sentence data for (\d) of 3", line).group(1)
    assert chosen in "12" and "step-10000" in line


def test_a_bad_series_is_refused():
    with pytest.raises(SiteError, match="no checkpoints"):
        series_view(StoreSeries([], [], []))
    with pytest.raises(SiteError, match="labels repeat"):
        series_view(StoreSeries(["a", "a"], [1, 2], [object(), object()]))
