"""The registry of measures (one place says what a measure is, and everyone reads it), and
measures in the store: adding one to a store, the read API, a schema-1 store."""

from __future__ import annotations

import re
import shutil

import numpy as np
import pytest
import zarr
from click.testing import CliRunner

from pipeline.cli import main
from pipeline.config import load_config
from pipeline.corpus import read_corpus
from pipeline.errors import ConfigError, StoreError
from pipeline.extract.run import extract
from pipeline.measures import MEASURES, UnknownMeasureError, get_measure, list_measures
from pipeline.store import AtlasStore
from pipeline.store.verify import verify_store


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


# --- measures in the store: adding one, the read API, schema 1 ------------------------------

def file_bytes(folder) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_the_cli_takes_measures_and_names_an_unknown_one(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "atlas.toml").write_text('measures = "attention, rollout"\n')
    assert load_config().measures == ("attention", "rollout")
    (tmp_path / "atlas.toml").write_text('measures = ["grad", "attention"]\n')
    assert load_config().measures == ("attention", "grad")  # registry order, each once
    assert load_config(overrides={"measures": "norm"}).measures == ("norm",)
    result = CliRunner().invoke(main, ["extract", "--measures", "attention,rolout"])
    assert result.exit_code == 2 and "rolout" in result.output
    assert "attention, rollout, norm, grad" in " ".join(result.output.split())
    assert load_config(overrides={}).measures == ("attention", "grad")
    monkeypatch.chdir(tmp_path.parent)
    assert load_config().measures == ("attention",)  # the default


def test_adding_a_measure_computes_only_it_and_rewrites_nothing_else(tiny_corpus, minilm, minilm_store,
                                                                     tmp_path):
    store = tmp_path / "atlas.zarr"
    shutil.copytree(minilm_store, store)
    before = file_bytes(store)
    sentences = read_corpus(tiny_corpus).sentences
    summary = extract(sentences, store, minilm, progress=False, measures="rollout")
    assert summary.computed == len(sentences) and summary.reused == 0
    assert summary.added == {"attention": 0, "rollout": len(sentences)}
    after = file_bytes(store)
    for name, data in before.items():  # every attention chunk, index entry and record as it was
        if name.startswith(("measures/attention/", "index/")) and not name.endswith("zarr.json"):
            assert after[name] == data, name
    read = AtlasStore.open(store)
    assert read.measures == ["attention", "rollout"]
    # the same values as a store extracted with both measures at once
    both = tmp_path / "both.zarr"
    extract(sentences, both, minilm, progress=False, measures="attention,rollout")
    fresh = AtlasStore.open(both)
    for sid in read.ids:
        for measure in ("attention", "rollout"):
            assert np.array_equal(read[sid].codes(measure), fresh[sid].codes(measure)), (sid, measure)
    # asked again: nothing to compute, the model is not needed
    again = extract(sentences, store, minilm, progress=False, measures="attention,rollout")
    assert again.computed == 0 and again.reused == len(sentences)
    assert verify_store(store).ok


def test_a_run_keeps_the_stores_measures_for_new_sentences(tiny_corpus, minilm, tmp_path):
    store = tmp_path / "atlas.zarr"
    sentences = read_corpus(tiny_corpus).sentences
    extract(sentences[:3], store, minilm, progress=False, measures="attention,rollout")
    summary = extract(sentences, store, minilm, progress=False)  # default: attention only
    assert summary.computed == len(sentences) - 3
    read = AtlasStore.open(store)
    assert read.measures == ["attention", "rollout"]
    for rec in read:
        assert rec.attention(measure="rollout").shape[1] == 1


@pytest.mark.parametrize("death,kept", [(RuntimeError("died"), 0), (KeyboardInterrupt(), 3)],
                         ids=["crash", "ctrl-c"])
def test_a_run_killed_while_adding_a_measure_leaves_the_store_as_it_was(tiny_corpus, minilm, tmp_path,
                                                                       monkeypatch, death, kept):
    """A crash keeps nothing of the new measure; Ctrl-C commits the rows it computed (3), which
    the rerun reuses. Either way the measure is listed only once every sentence has it."""
    from pipeline.store.writer import StoreWriter

    store = tmp_path / "atlas.zarr"
    sentences = read_corpus(tiny_corpus).sentences
    extract(sentences, store, minilm, progress=False)
    reference = {rec.id: rec.codes() for rec in AtlasStore.open(store)}
    original, calls = StoreWriter.add, []

    def dying_add(self, record, codes):
        if len(calls) == 3:
            raise death
        calls.append(record.key)
        return original(self, record, codes)

    monkeypatch.setattr(StoreWriter, "add", dying_add)
    with pytest.raises(type(death)):
        extract(sentences, store, minilm, progress=False, measures="attention,norm", commit_every=0)
    monkeypatch.undo()
    hurt = AtlasStore.open(store)
    assert hurt.measures == ["attention"]  # norm is listed only once every sentence has it
    assert {rec.id: rec.codes() for rec in hurt}.keys() == reference.keys()
    assert all(np.array_equal(hurt[sid].codes(), codes) for sid, codes in reference.items())
    with pytest.raises(StoreError, match="holds no measure 'norm'; it holds: attention"):
        hurt[0].attention(measure="norm")
    assert verify_store(store).ok
    summary = extract(sentences, store, minilm, progress=False, measures="norm")
    assert summary.added["norm"] == len(sentences) - kept
    assert AtlasStore.open(store).measures == ["attention", "norm"] and verify_store(store).ok


def test_the_read_api_per_layer_measures_and_errors(tiny_corpus, minilm, tmp_path):
    store = tmp_path / "atlas.zarr"
    extract(read_corpus(tiny_corpus).sentences, store, minilm, progress=False,
            measures="attention,rollout")
    read = AtlasStore.open(store)
    rec = read["pair-1"]
    n_layers, n_heads, t, w = 6, 12, len(rec.tokens), len(rec.words)
    assert rec.attention().shape == (n_layers, n_heads, t, t)
    assert rec.attention(measure="rollout").dtype == np.float32
    assert rec.attention(measure="rollout").shape == (n_layers, 1, t, t)
    assert read.measure_heads("rollout") == 1 and read.measure_heads("attention") == n_heads
    words = rec.word_attention(measure="rollout")
    assert words.shape == (n_layers, 1, w, w)
    # Clark et al.: a word row plus its special share sums to 1, as for attention
    np.testing.assert_allclose(words.sum(-1) + rec.special_share(measure="rollout"), 1,
                               atol=t / 255)
    with pytest.raises(StoreError, match="holds no measure 'norm'; it holds: attention, rollout "
                                         r"\(extract with --measures attention,rollout,norm"):
        rec.attention(measure="norm")
    with pytest.raises(StoreError, match="'rolout' is no measure at all; valid measures: "
                                         "attention, rollout, norm, grad"):
        rec.word_attention(measure="rolout")
    meta = zarr.open_group(str(store), mode="r").attrs["atlas"]
    assert meta["schema"] == 2 and meta["measure_heads"] == {"attention": 12, "rollout": 1}


def make_schema1(store) -> None:
    """Turn a schema-2 store holding attention only back into the schema-1 layout (as stores
    were written before measures): offsets and CRCs in index/, no measure_heads."""
    group = zarr.open_group(str(store), mode="a")
    for name, dtype in (("offset", "int64"), ("crc32", "uint32")):
        values = group[f"measures/attention/{name}"][:]
        group.create_array(f"index/{name}", shape=values.shape, chunks=(8192,), dtype=dtype)
        group[f"index/{name}"][:] = values
        del group[f"measures/attention/{name}"]
    meta = dict(group.attrs["atlas"])
    meta.pop("measure_heads")
    group.attrs["atlas"] = {**meta, "schema": 1}


def test_a_schema1_store_is_read_as_it_is_and_upgraded_by_the_next_run(tiny_corpus, minilm,
                                                                       minilm_store, tmp_path):
    store = tmp_path / "atlas.zarr"
    shutil.copytree(minilm_store, store)
    make_schema1(store)
    old = AtlasStore.open(store)
    new = AtlasStore.open(minilm_store)
    assert old.measures == ["attention"] and old.info["schema"] == 1
    for sid in new.ids:
        assert np.array_equal(old[sid].codes(), new[sid].codes())
    assert verify_store(store).ok
    codes_before = file_bytes(store / "measures" / "attention" / "codes")
    extract(read_corpus(tiny_corpus).sentences, store, minilm, progress=False,
            measures="attention,rollout")
    group = zarr.open_group(str(store), mode="r")
    assert group.attrs["atlas"]["schema"] == 2
    assert "offset" not in group["index"] and "crc32" not in group["index"]
    assert file_bytes(store / "measures" / "attention" / "codes") == codes_before  # not rewritten
    upgraded = AtlasStore.open(store)
    assert upgraded.measures == ["attention", "rollout"]
    for sid in new.ids:
        assert np.array_equal(upgraded[sid].codes(), new[sid].codes())
    assert verify_store(store).ok


def test_extract_measures_from_the_command_line_on_a_causal_lm_folder(tiny_corpus, gpt2_dir, tmp_path):
    store = tmp_path / "atlas.zarr"
    args = ["extract", "--corpus", str(tiny_corpus), "--model", str(gpt2_dir), "--store", str(store),
            "-q"]
    first = CliRunner().invoke(main, [*args, "--measures", "attention,grad"])
    assert first.exit_code == 0, first.output
    read = AtlasStore.open(store)
    assert read.measures == ["attention", "grad"]
    assert read.model["architecture"] == "GPT2LMHeadModel"  # loaded with its LM head for grad
    # asked again with a measure the store already holds: nothing computed
    again = CliRunner().invoke(main, [*args, "--measures", "grad"])
    assert again.exit_code == 0 and "0 computed" in again.output, again.output
    assert "6 reused" in again.output
    # a new measure: only it is computed, for every sentence
    more = CliRunner().invoke(main, [*args, "--measures", "rollout"])
    assert more.exit_code == 0 and "by measure: rollout 6" in more.output, more.output
    assert AtlasStore.open(store).measures == ["attention", "rollout", "grad"]


def test_the_site_and_the_figure_say_as_the_store_does_that_a_measure_is_missing(tmp_path):
    """One check (measures.check_stored) for every stage: the same words, each stage's error."""
    from pipeline.errors import SiteError
    from pipeline.site.build import build_site
    from pipeline.site.figure import FigureError, check_measure
    from pipeline.testing import FakeStore

    store = FakeStore([("a", "one two", [])], measures=("attention", "rollout"))
    missing = ("the store holds no measure 'norm'; it holds: attention, rollout "
               "(extract with --measures attention,rollout,norm to add it)")
    with pytest.raises(SiteError, match=re.escape(missing)):
        build_site(store, tmp_path / "site", measure="norm", progress=False)
    with pytest.raises(FigureError, match=re.escape(missing)):
        check_measure(store, "norm")
    with pytest.raises(SiteError, match="'nrom' is no measure at all; valid measures: "
                                        "attention, rollout, norm, grad"):
        build_site(store, tmp_path / "site", measure="nrom", progress=False)
    check_measure(store, "rollout")  # held: no error
    assert not (tmp_path / "site").exists()
