"""Statistics of stores the pipeline extracted: the stats command on the embedded MiniLM's store,
and every measure of the tiny GPT-2's (the statistics themselves: tests/unit/test_stats.py)."""

from __future__ import annotations

import shutil

import numpy as np
from click.testing import CliRunner

from pipeline.cli import main
from pipeline.stats.compute import update_stats
from pipeline.stats.definitions import list_statistics, sentence_stats
from pipeline.store import AtlasStore


def test_the_stats_command_on_an_extracted_store(minilm_store, tmp_path):
    store = tmp_path / "atlas.zarr"
    shutil.copytree(minilm_store, store)
    result = CliRunner().invoke(main, ["stats", "--store", str(store), "-q"])
    assert result.exit_code == 0, result.output
    assert "stats: 6 sentences x 1 measure(s) (attention): 6 computed" in result.output
    again = CliRunner().invoke(main, ["stats", "--store", str(store), "-q"])
    assert "0 computed" in again.output and "6 reused" in again.output
    stats = AtlasStore.open(store).head_stats()
    assert stats["prev"].shape == (6, 12)
    assert ("MOT", "CHI") in stats.span_pairs and ("ENV", "LAN") in stats.span_pairs


def test_every_stored_measure_gets_statistics_per_layer_ones_one_column(gpt2_all_measures_store,
                                                                         tmp_path):
    path = tmp_path / "atlas.zarr"
    shutil.copytree(gpt2_all_measures_store, path)
    store = AtlasStore.open(path)
    summary = update_stats(path)
    assert summary.measures == store.measures and len(store.measures) == 4
    assert summary.computed == 4 * len(store)
    for measure in store.measures:
        stats = AtlasStore.open(path).head_stats(measure)
        heads = store.measure_heads(measure)
        assert stats["prev"].shape == (2, heads), measure
        per = stats.per_sentence("self")
        for i, rec in enumerate(store):
            want = sentence_stats(rec.word_attention(measure), rec.words, rec.spans, ())
            np.testing.assert_allclose(per[i], want.values[list_statistics().index("self")],
                                       rtol=1e-5)
    assert AtlasStore.open(path).head_stats("rollout").shape == (2, 1)
