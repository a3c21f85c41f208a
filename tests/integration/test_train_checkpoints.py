"""data/train_checkpoints.py: the worked example's training, on a 2-layer model for a few steps."""

from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.cli import main
from pipeline.store import AtlasStore
from pipeline.testing import TINY, write_jsonl

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "data" / "train_checkpoints.py"
SMALL = {"steps": 25, "layers": 2, "heads": 4, "width": 32, "seed": 0, "threads": 1}


def load_script():
    spec = importlib.util.spec_from_file_location("train_checkpoints", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def script():
    return load_script()


@pytest.fixture(scope="module")
def trained(script, tmp_path_factory):
    """Two runs with the same arguments, and what the first printed."""
    runs, lines = [], []
    for name in ("a", "b"):
        out = tmp_path_factory.mktemp(f"run-{name}")
        history = script.train(out, **SMALL, log=lines.append if name == "a" else lambda _: None)
        runs.append((out, history))
    return runs, lines


def test_checkpoint_steps_are_log_spaced_and_end_on_the_last(script):
    assert script.checkpoint_steps(2000) == [0, 10, 20, 50, 100, 200, 500, 1000, 2000]
    assert script.checkpoint_steps(25) == [0, 10, 20, 25]
    assert script.checkpoint_steps(10) == [0, 10]
    assert script.checkpoint_steps(0) == [0]


def test_each_checkpoint_folder_holds_a_model_and_its_tokenizer(trained):
    out, history = trained[0][0]
    names = sorted((p.name for p in out.iterdir()), key=lambda n: int(n.split("-")[1]))
    assert names == ["checkpoint-0", "checkpoint-10", "checkpoint-20", "checkpoint-25"]
    for name in names:
        folder = out / name
        for file in ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
                     "training.json"):
            assert (folder / file).is_file(), folder / file
        config = json.loads((folder / "config.json").read_text())
        assert (config["n_layer"], config["n_head"], config["n_embd"]) == (2, 4, 32)
        assert json.loads((folder / "training.json").read_text())["step"] == int(name.split("-")[1])
    assert [h["step"] for h in history] == [0, 10, 20, 25]


def test_two_runs_give_identical_checkpoints_byte_for_byte(trained):
    (a, _), (b, _) = trained[0]
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    assert Path("checkpoint-25/model.safetensors") in files
    for file in files:
        assert (a / file).read_bytes() == (b / file).read_bytes(), file
    # and training changed the weights
    assert (a / "checkpoint-0/model.safetensors").read_bytes() != \
        (a / "checkpoint-25/model.safetensors").read_bytes()


def test_the_loss_falls_and_is_printed_at_each_checkpoint(trained):
    (_, history), _ = trained[0]
    lines = trained[1]
    losses = [h["train_loss"] for h in history]
    vocab = json.loads((trained[0][0][0] / "checkpoint-0/tokenizer.json").read_text())
    assert losses[0] == pytest.approx(math.log(len(vocab["model"]["vocab"])), abs=0.3)  # untrained
    assert losses[-1] < losses[0] - 0.5
    assert all(h["unigram_entropy"] == history[0]["unigram_entropy"] for h in history)
    assert lines[0].startswith("1092 sentences (1037 to train on, 55 held out)")
    steps = [line.split(":")[0] for line in lines[1:]]
    assert steps == ["step 0", "step 10", "step 20", "step 25"]
    assert f"loss {losses[-1]:.3f}" in lines[-1]


def test_the_tokenizer_gives_one_token_per_atlas_word_and_keeps_speaker_tags(trained):
    from transformers import AutoTokenizer

    from pipeline.words import split_words

    tokenizer = AutoTokenizer.from_pretrained(trained[0][0][0] / "checkpoint-25")
    text = "<MOT> What's that ? <CHI> Sit dere ."
    encoded = tokenizer(text, return_offsets_mapping=True, return_special_tokens_mask=True)
    assert tokenizer.convert_ids_to_tokens(encoded["input_ids"]) == \
        ["<MOT>", "What's", "that", "?", "<CHI>", "Sit", "dere", "."]
    assert [tuple(o) for o in encoded["offset_mapping"]] == list(split_words(text))
    assert not any(encoded["special_tokens_mask"])  # tags are words, not special tokens
    rare = tokenizer("<GRA> zyzzyva")["input_ids"]  # a tag seen once stays; an unseen word is UNK
    assert tokenizer.convert_ids_to_tokens(rare) == ["<GRA>", "[UNK]"]


def test_the_atlas_extracts_a_checkpoint(trained, tmp_path):
    folder = trained[0][0][0] / "checkpoint-25"
    corpus = write_jsonl(tmp_path / "tiny.jsonl", TINY[:4])
    store = tmp_path / "x.zarr"
    result = CliRunner().invoke(main, ["-q", "extract", "--corpus", str(corpus), "--model",
                                       str(folder), "--store", str(store)])
    assert result.exit_code == 0, result.output
    atlas = AtlasStore.open(store)
    assert atlas.ids == [item["id"] for item in TINY[:4]]
    maps, _ = atlas.record(0).word_maps()
    assert maps.shape[:2] == (2, 4)
    record = atlas.record(0)
    assert record.tokens == ["<MOT>", "who's", "that", "?", "<CHI>", "oh", "yeah", "."]
    assert record.words == record.tokens and record.spans == [("MOT", 0, 4), ("CHI", 4, 8)]


def test_the_command_line_refuses_a_width_the_heads_do_not_divide(tmp_path):
    done = subprocess.run([sys.executable, str(SCRIPT), "--out", str(tmp_path), "--width", "30",
                           "--heads", "4"], capture_output=True, text=True)
    assert done.returncode != 0
    assert "--width 30 must be a multiple of --heads 4" in done.stderr
    assert not any(tmp_path.iterdir())
