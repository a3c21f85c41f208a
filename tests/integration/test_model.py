"""Models: identity from files (no torch), and names that exist nowhere failing at once."""

from __future__ import annotations

import dataclasses
import shutil

import pytest

from pipeline.errors import ModelError
from pipeline.measures import MEASURES
from pipeline.model.identity import identify_model
from pipeline.model.loading import ModelSpec


@pytest.mark.parametrize("which", ["minilm", "gpt2"])
def test_identity_from_files_is_the_loaded_models_fingerprint(which, request, gpt2_dir):
    loaded = request.getfixturevalue(which)
    identity = identify_model(None if which == "minilm" else str(gpt2_dir))
    assert identity.fingerprint == loaded.fingerprint
    assert identity.name == loaded.info["name"] and identity.path == loaded.info["path"]


def test_a_copied_model_folder_has_the_same_fingerprint(gpt2_dir, tmp_path):
    copy = shutil.copytree(gpt2_dir, tmp_path / "elsewhere")
    assert identify_model(str(copy)).fingerprint == identify_model(str(gpt2_dir)).fingerprint
    (copy / "model.safetensors").write_bytes((copy / "model.safetensors").read_bytes()[:-1] + b"x")
    assert identify_model(str(copy)).fingerprint != identify_model(str(gpt2_dir)).fingerprint


@pytest.mark.parametrize("name", ["gpt2-tny", "no-such-org/no-such-model"])
def test_an_unknown_name_offline_fails_at_once_with_one_message(name, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # an empty cache
    with pytest.raises(ModelError) as caught:
        ModelSpec(name).load()
    message = str(caught.value.message)
    assert message.startswith(f"model {name!r}: no such folder ({tmp_path / name})")
    assert "HF_HUB_OFFLINE is set, so the hub is not asked" in message
    assert "\n" not in message


def test_an_unreachable_hub_is_said_at_once(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # the discard port: nothing listens
    with pytest.raises(ModelError, match=r"no such folder .*the hub \(http://127.0.0.1:9\) cannot "
                                         "be reached"):
        identify_model("gpt2-tny")


@pytest.mark.parametrize("name", ["./models/gpt2-tny", "../gpt2-tny", "~/no/such/model",
                                  "runs/2026/checkpoint"])
def test_a_path_that_exists_nowhere_is_a_missing_folder(name, monkeypatch, tmp_path):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    with pytest.raises(ModelError, match="no such folder .*a path is not a hub id"):
        identify_model(name)


def test_a_cached_hub_model_is_identified_by_its_snapshot(gpt2_dir, monkeypatch, tmp_path):
    # the layout of the Hugging Face cache: models--ORG--NAME/{refs/main, snapshots/COMMIT/...}
    repo = tmp_path / "hf" / "hub" / "models--someone--tiny-gpt2"
    commit = "0123456789abcdef0123456789abcdef01234567"
    shutil.copytree(gpt2_dir, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    identity = identify_model("someone/tiny-gpt2")
    assert (identity.name, identity.revision, identity.path) == ("someone/tiny-gpt2", commit, None)
    assert identity.max_length == 64 and identity.weights_sha256 is None


def test_a_model_spec_has_its_lm_head_when_a_measure_needs_a_backward_pass(monkeypatch):
    spec = ModelSpec("some/model")
    assert not spec.for_measures(("attention", "rollout", "norm")).causal_lm
    assert spec.for_measures(("attention", "grad")).causal_lm
    assert ModelSpec(causal_lm=True).for_measures(("attention",)).causal_lm  # asked for: kept
    # read from the registry (`needs`), not from a measure's name
    monkeypatch.setitem(MEASURES, "grad2", dataclasses.replace(MEASURES["grad"], name="grad2"))
    assert spec.for_measures(("grad2",)).causal_lm


# --- encoder-decoder models: refused until they are supported -------------------------------


@pytest.fixture(scope="module")
def speech_model(tmp_path_factory, gpt2_dir):
    """A tiny random Whisper folder (an encoder-decoder whose source is speech), with the tiny
    GPT-2's tokenizer files."""
    from transformers import WhisperConfig, WhisperForConditionalGeneration

    folder = tmp_path_factory.mktemp("speech") / "whisper"
    WhisperForConditionalGeneration(WhisperConfig(
        vocab_size=400, d_model=16, encoder_layers=1, decoder_layers=1, encoder_attention_heads=4,
        decoder_attention_heads=4, encoder_ffn_dim=32, decoder_ffn_dim=32, num_mel_bins=8,
        max_source_positions=16, max_target_positions=16, pad_token_id=0, bos_token_id=0,
        eos_token_id=0, decoder_start_token_id=0)).save_pretrained(folder)
    for file in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(gpt2_dir / file, folder / file)
    return folder


@pytest.mark.parametrize("command", ["run", "extract"])
def test_a_speech_encoder_decoder_is_refused_in_one_line_before_any_folder_is_made(
        speech_model, tiny_corpus, tmp_path, command):
    from click.testing import CliRunner

    from pipeline.cli import main

    out = tmp_path / "out"
    where = ["--out", str(out)] if command == "run" else ["--store", str(out / "atlas.zarr")]
    result = CliRunner().invoke(main, ["-q", command, "--corpus", str(tiny_corpus), "--model",
                                       str(speech_model), *where])
    assert result.exit_code == 4, result.output
    assert isinstance(result.exception, SystemExit) and "Traceback" not in result.output
    assert result.output == ("Error: model 'whisper' (whisper, WhisperForConditionalGeneration) is "
                             "an encoder-decoder model whose source is not a text: Attention "
                             "Atlas runs text-to-text encoder-decoder models (T5, BART, Marian, "
                             "...), encoders (BERT family) and decoders (GPT-2, Llama family, "
                             "...)\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no --out, no store, no lock file


@pytest.mark.parametrize("config", [
    {"model_type": "t5", "architectures": ["T5WithLMHeadModel"]},  # an old config: no flag
    {"model_type": "encoder-decoder", "architectures": ["EncoderDecoderModel"]},
    {"model_type": "custom", "architectures": ["MyEncoderDecoderModel"]},
    {"model_type": "custom", "is_encoder_decoder": True},
], ids=["t5-without-flag", "encoder-decoder", "by-architecture", "by-flag"])
def test_encoder_decoders_are_told_from_the_config_alone(config, gpt2_dir, tmp_path):
    import json

    folder = shutil.copytree(gpt2_dir, tmp_path / "model")
    (folder / "config.json").write_text(json.dumps(config))
    assert identify_model(str(folder)).encoder_decoder is True
    (folder / "config.json").write_text(json.dumps({**config, "is_encoder_decoder": False}))
    assert identify_model(str(folder)).encoder_decoder is False  # the flag, when present, decides


def test_a_hub_model_known_only_once_downloaded_is_refused_before_its_weights_load(
        speech_model, monkeypatch):
    from pipeline.model import loading

    monkeypatch.setattr(loading, "identify_model", lambda name, revision: None)
    monkeypatch.setattr("transformers.AutoModelForSeq2SeqLM.from_pretrained",
                        lambda *a, **k: pytest.fail("the weights were loaded"))
    with pytest.raises(ModelError, match="is an encoder-decoder model whose source is not a text"):
        loading.load_model(str(speech_model))
