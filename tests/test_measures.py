"""The registry of measures: one place says what a measure is, and everyone reads it."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from pipeline.cli import main
from pipeline.config import load_config
from pipeline.errors import ConfigError
from pipeline.measures import MEASURES, UnknownMeasureError, get_measure, list_measures


def test_list_measures_is_the_registry_sorted():
    assert list_measures() == list(MEASURES) == ["attention", "rollout", "norm", "grad"]
    attention = get_measure("attention")
    assert (attention.title, attention.domain) == ("attention", (0.0, 0.3))
    assert get_measure("grad").title == "saliency"  # gradient x attention: the reference figure's bar
    assert attention.shape == "(layer, head, query, key)"


def test_an_unknown_measure_names_the_valid_ones():
    with pytest.raises(UnknownMeasureError, match="unknown measure 'rolout'; valid measures: "
                                                  + ", ".join(list_measures())):
        get_measure("rolout")
    assert issubclass(UnknownMeasureError, ConfigError)  # exit code 2 through the CLI


def test_config_and_cli_take_their_measure_defaults_from_the_registry(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = load_config()
    assert (cfg.colour_title, cfg.colour_domain) == (get_measure(cfg.measure).title,
                                                     get_measure(cfg.measure).domain)
    result = CliRunner().invoke(main, ["build", "--measure", "rolout"])
    assert result.exit_code == 2 and "rolout" in result.output
    for name in list_measures():
        assert name in " ".join(CliRunner().invoke(main, ["build", "--help"]).output.split())


def test_the_store_records_and_reads_the_measures(minilm_store):
    from pipeline.store import AtlasStore

    store = AtlasStore.open(minilm_store)
    assert store.measures == ["attention"]
    assert set(store.measures) <= set(list_measures())
