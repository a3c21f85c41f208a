"""A series without a model: checkpoint discovery, labels, the manifest, Series.open and
Series.stats, the config keys (the models themselves: tests/integration/test_series.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from pipeline.cli import main
from pipeline.config import load_config
from pipeline.errors import ConfigError, SeriesError
from pipeline.series import (
    Member,
    Series,
    discover_checkpoints,
    explicit_members,
    label_of,
    manifest_path,
    write_manifest,
)
from pipeline.store import AtlasStore
from pipeline.testing.series import synthetic_series


def checkpoint(folder: Path) -> Path:
    """A folder that looks like a checkpoint: a config.json (nothing is loaded here)."""
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    return folder


def test_checkpoints_are_ordered_by_step_as_numbers_not_as_text(tmp_path):
    for step in (100, 10, 9, 1000, 20):
        checkpoint(tmp_path / f"checkpoint-{step}")
    members = discover_checkpoints(tmp_path)
    assert [m.step for m in members] == [9, 10, 20, 100, 1000]
    assert [m.label for m in members] == ["step-9", "step-10", "step-20", "step-100", "step-1000"]
    assert [Path(m.model).name for m in members] == [f"checkpoint-{s}" for s in (9, 10, 20, 100, 1000)]
    assert all(m.revision is None for m in members)


def test_any_subfolder_with_a_config_whose_name_ends_in_a_number_is_a_checkpoint(tmp_path):
    checkpoint(tmp_path / "step_2000")
    checkpoint(tmp_path / "ckpt30")
    checkpoint(tmp_path / "checkpoint-007")
    assert [(m.label, m.step) for m in discover_checkpoints(tmp_path)] == [
        ("step-7", 7), ("step-30", 30), ("step-2000", 2000)]


def test_other_files_and_folders_beside_the_checkpoints_are_left_alone(tmp_path):
    checkpoint(tmp_path / "checkpoint-50")
    checkpoint(tmp_path / "checkpoint-5")
    (tmp_path / "trainer_state.json").write_text("{}")
    (tmp_path / "checkpoint-99.json").write_text("{}")  # a file whose name ends... in .json
    (tmp_path / "runs" / "Dec06").mkdir(parents=True)  # TensorBoard logs
    (tmp_path / "checkpoint-60").mkdir()  # no config.json: not (yet) a checkpoint
    (tmp_path / "final").mkdir()
    (tmp_path / "final" / "config.json").write_text("{}")  # no number: no step
    (tmp_path / "checkpoint-5" / "optimizer.pt").write_bytes(b"x")  # inside a checkpoint
    assert [m.step for m in discover_checkpoints(tmp_path)] == [5, 50]


def test_no_checkpoint_two_with_one_step_and_no_folder_are_errors_naming_the_folder(tmp_path):
    (tmp_path / "empty" / "runs").mkdir(parents=True)
    with pytest.raises(SeriesError, match=r"empty: no checkpoint in it") as caught:
        discover_checkpoints(tmp_path / "empty")
    assert caught.value.exit_code == 9
    checkpoint(tmp_path / "two" / "checkpoint-10")
    checkpoint(tmp_path / "two" / "run-010")
    with pytest.raises(SeriesError, match=r"two: checkpoint-10/ and run-010/ both hold step 10"):
        discover_checkpoints(tmp_path / "two")
    with pytest.raises(SeriesError, match=r"nowhere: no such folder"):
        discover_checkpoints(tmp_path / "nowhere")


def test_labels_given_or_derived_from_the_model_name_are_checked_and_unique():
    members = explicit_members([("EleutherAI/pythia-70m", None, "step1000"),
                                ("runs/my model (v2)/", None, None), ("gpt2", "base", None)])
    assert members == [Member("pythia-70m", None, "EleutherAI/pythia-70m", "step1000"),
                       Member("my-model-v2-", None, "runs/my model (v2)/"),
                       Member("base", None, "gpt2")]
    assert label_of("x/__init") == "init" and label_of("") == "model" and len(label_of("a" * 99)) == 64
    with pytest.raises(SeriesError, match=r"'a/gpt2' and 'b/gpt2' both have the label 'gpt2'"):
        explicit_members([("a/gpt2", None, None), ("b/gpt2", None, None)])
    for bad in ("-x", "a b", "a/b", "x" * 65, "", "é"):
        with pytest.raises(SeriesError, match="is not valid"):
            explicit_members([("gpt2", bad, None)])


def test_series_stats_equal_each_stores_head_stats_with_nan_outside_a_models_shape(tmp_path):
    out = synthetic_series(tmp_path / "out", [10, 200, None], 6, shapes=[(2, 3), (3, 2), (2, 3)])
    series = Series.open(out)
    assert series.labels == ["step-10", "step-200", "model-2"]
    assert series.steps == [10, 200, None]
    assert [s.path for s in series.stores] == [out / "stores" / f"{label}.zarr"
                                               for label in series.labels]
    assert all(isinstance(s, AtlasStore) for s in series.stores)
    assert [m["identity"]["n_layers"] for m in series.models] == [2, 3, 2]
    assert series.shape == (3, 3)
    for name in series.head_stats(0).names:
        values = series.stats(name)
        assert values.dtype == np.float64 and values.shape == (3, 3, 3)
        for c, store in enumerate(series.stores):
            own = store.head_stats("attention")[name]
            n_layers, n_heads = own.shape
            np.testing.assert_array_equal(values[c, :n_layers, :n_heads], own)  # exactly
            outside = np.ones((3, 3), bool)
            outside[:n_layers, :n_heads] = False
            assert np.isnan(values[c][outside]).all()
    assert not np.isnan(series.stats("entropy")[0, :2, :3]).any()
    with pytest.raises(KeyError, match="no statistic 'nonsense'"):
        series.stats("nonsense")


def test_the_manifest_records_order_labels_steps_stores_and_identities(tmp_path):
    out = synthetic_series(tmp_path / "out", [5, 50], 3)
    data = json.loads(manifest_path(out).read_text())
    assert data["format"] == "attention-atlas series" and data["version"] == 1
    assert [(m["label"], m["step"], m["store"]) for m in data["models"]] == [
        ("step-5", 5, "stores/step-5.zarr"), ("step-50", 50, "stores/step-50.zarr")]
    assert data["models"][0]["identity"] == {
        "name": "synthetic", "revision": None, "weights_sha256": "0" * 64,
        "tokenizer_sha256": None, "n_layers": 2, "n_heads": 3}
    assert not list(out.glob(".series.json*"))  # no temporary file left behind
    with pytest.raises(SeriesError, match=r"step-7 \(m\): no store at"):
        write_manifest(out, [Member("step-7", 7, "m")])


@pytest.mark.parametrize("text, message", [
    (None, r"series.json does not exist"),
    ("{not json", r"series.json is not valid JSON"),
    ('{"format": "other"}', r"not an Attention Atlas series manifest"),
    ('{"format": "attention-atlas series", "version": 7, "models": []}', r"has version 7"),
    ('{"format": "attention-atlas series", "version": 1, "models": []}', r"non-empty list"),
    ('{"format": "attention-atlas series", "version": 1, "models": [{"label": "a"}]}',
     r"models\[0\] has no 'step'"),
    ('{"format": "attention-atlas series", "version": 1, "models": [{"label": "a", "step": "10",'
     ' "model": "m", "revision": null, "store": "s", "identity": {}}]}', r"step = '10' has the wrong"),
    ('{"format": "attention-atlas series", "version": 1, "models": [{"label": "a b", "step": 1,'
     ' "model": "m", "revision": null, "store": "s", "identity": {}}]}', r"label 'a b' is not valid"),
    ('{"format": "attention-atlas series", "version": 1, "models": [{"label": "a", "step": 1,'
     ' "model": "m", "revision": null, "store": "../s", "identity": {}}]}', r"must lie inside"),
])
def test_a_missing_or_garbled_manifest_is_a_series_error_naming_it(tmp_path, text, message):
    if text is not None:
        manifest_path(tmp_path).write_text(text)
    with pytest.raises(SeriesError, match=message):
        Series.open(tmp_path)


def test_a_missing_or_replaced_store_is_a_series_error_naming_its_label(tmp_path):
    import shutil

    from pipeline.testing import synthetic_store

    out = synthetic_series(tmp_path / "out", [1, 2], 3)
    shutil.rmtree(out / "stores" / "step-2.zarr")
    with pytest.raises(SeriesError, match=r"the store of step-2 \(synthetic/step-2\) cannot be read"):
        Series.open(out)
    synthetic_store(out / "stores" / "step-2.zarr", 3, 3, 3, seed=0)  # another shape now
    with pytest.raises(SeriesError, match=r"no longer holds the model the manifest records for step-2"):
        Series.open(out)


def test_tokenizers_are_compared_by_hash_and_the_error_names_both_models(tmp_path):
    series = Series.open(synthetic_series(tmp_path / "out", [1, 2, 3], 3))
    assert series.same_tokenizer  # no hashes recorded: the stored tokens agree
    series.check_tokenizers()
    for c, sha in enumerate(("a" * 64, "a" * 64, "b" * 64)):
        series.stores[c].model["tokenizer_sha256"] = sha
    fresh = Series(series.out, series.models, series.stores)
    assert not fresh.same_tokenizer
    with pytest.raises(SeriesError, match=r"tokenizers of step-1 \(synthetic/step-1\) and step-3 "
                                          r"\(synthetic/step-3\) differ"):
        fresh.check_tokenizers()


# --- the settings -------------------------------------------------------------------------------

def test_atlas_toml_takes_checkpoints_or_models_as_strings_or_tables(tmp_path):
    (tmp_path / "a.toml").write_text('checkpoints = "runs/out"\nout = "atlas"\n')
    cfg = load_config(tmp_path / "a.toml")
    assert cfg.series and cfg.checkpoints == "runs/out" and cfg.models is None
    (tmp_path / "b.toml").write_text('revision = "main"\nmodels = ["gpt2", {model = "x/y", '
                                     'label = "mine"}, {model = "EleutherAI/pythia-70m", '
                                     'revision = "step1000"}]\n')
    cfg = load_config(tmp_path / "b.toml")
    assert cfg.models == (("gpt2", None, None), ("x/y", "mine", None),
                          ("EleutherAI/pythia-70m", None, "step1000"))
    assert cfg.series_members() == [Member("gpt2", None, "gpt2", "main"),
                                    Member("mine", None, "x/y", "main"),
                                    Member("pythia-70m", None, "EleutherAI/pythia-70m", "step1000")]


@pytest.mark.parametrize("toml, message", [
    ('model = "gpt2"\ncheckpoints = "c"\n', r"give one of model, checkpoints, models .* not model and checkpoints"),
    ('models = ["a"]\ncheckpoints = "c"\n', r"not checkpoints and models"),
    ('model = "a"\nmodels = ["b", "c"]\n', r"not model and models"),
    ('models = []\n', r"models = \[\] is not valid: expected a non-empty list"),
    ('models = [{label = "x"}]\n', r"expected a non-empty list of models"),
    ('models = [{model = "a", lable = "x"}]\n', r"expected a non-empty list of models"),
    ('models = [3]\n', r"expected a non-empty list of models"),
    ('checkpoints = "s3://bucket/x"\n', r"a local folder, not a URL"),
    ('checkpoints = "c"\nstore = "x.zarr"\n', r"a series keeps one store per model under OUT/stores"),
])
def test_bad_series_keys_are_config_errors_naming_them(tmp_path, toml, message):
    (tmp_path / "atlas.toml").write_text(toml)
    with pytest.raises(ConfigError, match=message):
        load_config(tmp_path / "atlas.toml")


def test_flags_naming_the_models_replace_the_files_and_one_model_stays_one_model(tmp_path):
    (tmp_path / "atlas.toml").write_text('checkpoints = "ckpts"\n')
    cfg = load_config(tmp_path / "atlas.toml", {"model": "gpt2"})
    assert (cfg.model, cfg.checkpoints, cfg.series) == ("gpt2", None, False)
    assert str(cfg.store_path) == str(Path("build/atlas.zarr"))  # today's path
    (tmp_path / "atlas.toml").write_text('model = "gpt2"\n')
    cfg = load_config(tmp_path / "atlas.toml", {"checkpoints": "ckpts"})
    assert (cfg.model, cfg.checkpoints) == (None, "ckpts")
    with pytest.raises(ConfigError, match="the flags: give one of --model, --checkpoints, --model "
                                          "more than once .* not --model and --checkpoints"):
        load_config(None, {"model": "a", "checkpoints": "c"})


def test_repeated_model_flags_with_labels_make_a_series_through_the_cli(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for step in (3, 30):
        checkpoint(tmp_path / "ckpts" / f"checkpoint-{step}")
    runner = CliRunner()
    result = runner.invoke(main, ["config", "--model", "x/a", "--label", "one", "--label", "two"])
    assert result.exit_code == 2 and "2 label(s) for 1 --model(s)" in result.output
    result = runner.invoke(main, ["config", "--model", "ckpts/checkpoint-3", "--checkpoints", "ckpts"])
    assert result.exit_code == 2 and "not --model and --checkpoints" in result.output
    result = runner.invoke(main, ["config", "--checkpoints", "ckpts", "--model", "a", "--model", "b"])
    assert result.exit_code == 2 and "not --checkpoints and --model more than once" in result.output
    result = runner.invoke(main, ["config", "--model", "x/a", "--model", "y/a"])
    assert result.exit_code == 9 and "'x/a' and 'y/a' both have the label 'a'" in result.output
    result = runner.invoke(main, ["config", "--model", "x/a", "--label", "b b"])
    assert result.exit_code == 9 and "label 'b b' is not valid" in result.output


def test_build_and_stats_on_an_out_holding_a_series_use_every_store_and_the_series_site(
        tmp_path, monkeypatch):
    """`build` on OUT/series.json: every store's statistics, then build_series_site(Series, ...)."""
    import sys
    import types

    out = synthetic_series(tmp_path / "out", [1, 2], 4)
    calls = []
    fake = types.ModuleType("pipeline.site.series_site")
    fake.build_series_site = lambda series, site_dir, **kw: calls.append((series, site_dir, kw)) or "ok"
    monkeypatch.setitem(sys.modules, "pipeline.site.series_site", fake)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["-q", "build", "--out", "out", "--measure-label", "att",
                                       "--max-site-bytes", "5MB"])
    assert result.exit_code == 0, result.output
    assert result.output.count("stats: ") == 2 and "build: ok -> out/site" in result.output
    (series, site, options), = calls
    assert isinstance(series, Series) and series.labels == ["step-1", "step-2"]
    assert site == Path("out/site") and not (out / "atlas.zarr").exists()
    assert options == {"measure": "attention", "measure_label": "att", "domain": (0.0, 0.3),
                       "max_site_bytes": 5_000_000, "progress": False}
    result = CliRunner().invoke(main, ["-q", "stats", "--out", "out", "--stat", "prev"])
    lines = result.output.splitlines()
    assert [line.rsplit("/", 1)[-1] for line in lines[:2]] == ["step-1.zarr", "step-2.zarr"]
    # then each store's table, under its label
    assert [line.split(":")[0] for line in lines[2:] if "highest" in line] == ["step-1", "step-2"]
