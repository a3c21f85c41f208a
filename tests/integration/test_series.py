"""A series of real (tiny, random) GPT-2 checkpoints through the CLI: discovery, one store each,
the manifest, reuse when a checkpoint is added, a retrained checkpoint, tokenizers that differ,
and Series.stats against each store's own statistics."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from pipeline.cli import main
from pipeline.errors import SeriesError
from pipeline.series import Series
from pipeline.testing import TINY, make_gpt2, write_jsonl

SUMMARY = re.compile(r"^extract: (\d+) sentences in the store: (\d+) computed .*?, (\d+) reused"
                     r".* -> (\S+)$", re.M)


def computed(output: str) -> dict[str, tuple[int, int]]:
    """Each store's (computed, reused) from the extract summaries, by the store's folder name."""
    return {Path(m.group(4)).name: (int(m.group(2)), int(m.group(3)))
            for m in SUMMARY.finditer(output)}


def cli(*args: str, code: int = 0) -> str:
    result = CliRunner().invoke(main, ["-q", *args])
    assert result.exit_code == code, result.output + repr(result.exception)
    return result.output


@pytest.fixture()
def workdir(tmp_path, monkeypatch) -> Path:
    """A corpus of four sentences and a Trainer-like output folder: checkpoints 10, 100 and 20
    (random weights from their step), trainer_state.json and runs/ beside them. (No sentence
    whose words the tokenizer merges: a run tells those unchanged only by loading the model.)"""
    monkeypatch.chdir(tmp_path)
    write_jsonl(tmp_path / "tiny.jsonl", [*TINY[:2], TINY[5], {"id": "x", "text": "a b a b"}])
    for step in (10, 100, 20):
        make_gpt2(tmp_path / "ckpts" / f"checkpoint-{step}", seed=step)
    (tmp_path / "ckpts" / "trainer_state.json").write_text('{"global_step": 100}')
    (tmp_path / "ckpts" / "runs" / "events").mkdir(parents=True)
    return tmp_path


EXTRACT = ("extract", "--corpus", "tiny.jsonl", "--out", "out", "--device", "cpu")


def test_checkpoints_go_into_one_store_each_in_step_order_and_an_added_one_reuses_the_rest(workdir):
    first = cli(*EXTRACT, "--checkpoints", "ckpts")
    assert computed(first) == {f"step-{s}.zarr": (4, 0) for s in (10, 20, 100)}
    assert [m.group(4) for m in SUMMARY.finditer(first)] == [
        str(Path("out/stores") / f"step-{s}.zarr") for s in (10, 20, 100)]  # in step order
    manifest = json.loads((workdir / "out/series.json").read_text())
    assert [(m["label"], m["step"], m["model"], m["store"]) for m in manifest["models"]] == [
        (f"step-{s}", s, str(Path("ckpts") / f"checkpoint-{s}"), f"stores/step-{s}.zarr")
        for s in (10, 20, 100)]
    assert {m["identity"]["name"] for m in manifest["models"]} == {
        "checkpoint-10", "checkpoint-20", "checkpoint-100"}
    assert len({m["identity"]["weights_sha256"] for m in manifest["models"]}) == 3
    assert not (workdir / "out/atlas.zarr").exists()

    make_gpt2(workdir / "ckpts" / "checkpoint-1000", seed=1000)  # training went on
    nightly = cli(*EXTRACT, "--checkpoints", "ckpts")
    assert computed(nightly) == {"step-10.zarr": (0, 4), "step-20.zarr": (0, 4),
                                 "step-100.zarr": (0, 4), "step-1000.zarr": (4, 0)}
    assert nightly.count("model not loaded: nothing to compute") == 3
    series_of_four = Series.open(workdir / "out")
    assert series_of_four.labels == ["step-10", "step-20", "step-100", "step-1000"]
    assert series_of_four.steps == [10, 20, 100, 1000] and series_of_four.same_tokenizer

    cli("stats", "--out", "out", "--checkpoints", "ckpts")
    series = Series.open(workdir / "out")
    for name in series.head_stats(0).names:
        values = series.stats(name)
        assert values.shape == (4, 2, 4) and values.dtype == np.float64
        for c, store in enumerate(series.stores):
            np.testing.assert_array_equal(values[c], store.head_stats()[name])
    # the models differ, so their statistics do
    assert not np.array_equal(series.stats("entropy")[0], series.stats("entropy")[-1])


def test_a_retrained_checkpoint_is_computed_afresh_and_the_others_reused(workdir, caplog):
    cli(*EXTRACT, "--checkpoints", "ckpts")
    before = json.loads((workdir / "out/series.json").read_text())["models"][1]["identity"]
    make_gpt2(workdir / "ckpts" / "checkpoint-20", seed=7)  # new weights in the same folder
    again = cli(*EXTRACT, "--checkpoints", "ckpts")
    assert computed(again) == {"step-10.zarr": (0, 4), "step-20.zarr": (4, 0),
                               "step-100.zarr": (0, 4)}
    assert "step-20 (" in caplog.text and "another model now" in caplog.text
    after = Series.open(workdir / "out").models[1]["identity"]
    assert after["weights_sha256"] != before["weights_sha256"]


def test_models_given_one_by_one_keep_their_order_and_labels(workdir):
    make_gpt2(workdir / "other", n_layer=3, n_head=2, seed=3)
    out = cli(*EXTRACT, "--model", "ckpts/checkpoint-100", "--model", "other",
              "--label", "late", "--label", "deep")
    assert computed(out) == {"late.zarr": (4, 0), "deep.zarr": (4, 0)}
    series = Series.open(workdir / "out")
    assert (series.labels, series.steps) == (["late", "deep"], [None, None])
    assert [s.model["n_layers"] for s in series.stores] == [2, 3]
    cli("stats", "--out", "out")  # OUT's series.json: every store of it
    assert series.stats("entropy").shape == (2, 3, 4)
    assert np.isnan(series.stats("entropy")[0, 2]).all()  # the 2-layer model has no layer 3
    assert np.isnan(series.stats("entropy")[1, :, 2:]).all()  # the 2-head model, no head 3


def fake_series_site(monkeypatch) -> list:
    """pipeline.site.series_site (the series' site, built elsewhere) replaced by a recorder."""
    import sys
    import types

    calls: list = []
    fake = types.ModuleType("pipeline.site.series_site")
    fake.build_series_site = lambda series, site, **kw: calls.append((series, site, kw)) or "built"
    monkeypatch.setitem(sys.modules, "pipeline.site.series_site", fake)
    return calls


def test_tokenizers_that_differ_are_an_error_naming_the_two_models(workdir, monkeypatch, caplog):
    make_gpt2(workdir / "ckpts-b" / "checkpoint-5", seed=5)
    make_gpt2(workdir / "ckpts-b" / "checkpoint-50", seed=50, vocab_size=300)  # another BPE
    calls = fake_series_site(monkeypatch)
    output = cli("run", "--corpus", "tiny.jsonl", "--out", "out", "--device", "cpu",
                 "--checkpoints", "ckpts-b")
    assert "build: built -> out/site" in output
    (built, site, _), = calls
    assert built.labels == ["step-5", "step-50"] and site == Path("out/site")
    assert re.search(r"the tokenizers of step-5 \(\S*checkpoint-5\) and step-50 "
                     r"\(\S*checkpoint-50\) differ; the site compares them", caplog.text)
    series = Series.open(workdir / "out")
    assert not series.same_tokenizer
    with pytest.raises(SeriesError, match=r"the tokenizers of step-5 \(\S*checkpoint-5\) and "
                                          r"step-50 \(\S*checkpoint-50\) differ"):
        series.check_tokenizers()
    assert series.stats("entropy").shape == (2, 2, 4)  # the corpus level compares them still


def test_config_prints_what_the_nightly_workflow_caches_for_a_series(workdir):
    lines = dict(line.split("=", 1) for line in cli("config", "--checkpoints", "ckpts").splitlines())
    assert lines["store"] == str(Path("build/stores"))
    assert lines["series"] == "step-10 step-20 step-100"
    assert lines["manifest"] == str(Path("build/series.json"))
    assert re.fullmatch(r"series-[0-9a-f]{16}", lines["model_key"])
    make_gpt2(workdir / "ckpts" / "checkpoint-1000", seed=1000)
    more = dict(line.split("=", 1) for line in cli("config", "--checkpoints", "ckpts").splitlines())
    assert more["model_key"] == lines["model_key"]  # the cache of the series carries over
    assert more["identity_key"] != lines["identity_key"]  # what it holds does not
