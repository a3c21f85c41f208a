"""Extraction: fidelity to a direct forward pass, metadata, truncation, incremental runs, commits
(the writer's memory on synthetic codes: tests/unit/test_writer.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pipeline.corpus import read_corpus
from pipeline.errors import ModelError, StoreError
from pipeline.extract.run import extract
from pipeline.model import identity as model_module
from pipeline.model.loading import load_model
from pipeline.records import Sentence
from pipeline.store import AtlasStore
from pipeline.store.writer import StoreWriter
from pipeline.testing import VOCAB, random_corpus, write_jsonl
from pipeline.words import split_words

# Very different lengths, so that short sentences are padded in a batch with long ones.
MIXED = [
    ("one", "oh ."),
    ("medium", "<CHI> painted a picture of a horse ."),
    ("long", " ".join(VOCAB * 2) + " ."),
    ("two", "Sit down ."),
    ("longer", " ".join(VOCAB * 2 + VOCAB[:9]) + " !"),
    ("tags", "<MOT> who's that ? <CHI> oh yeah ."),
]


def sentences(pairs) -> list[Sentence]:
    """Sentences from (id, text) pairs, words by the default rule."""
    return [Sentence(sid, text, split_words(text)) for sid, text in pairs]


def random_pairs(n: int, seed: int, words: tuple[int, int] = (3, 20)) -> list[tuple[str, str]]:
    """n distinct sentences of random lengths from VOCAB, as (id, text), ids s0000..."""
    return [(item["id"], item["text"]) for item in random_corpus(n, seed, words)]


def direct(loaded, text: str) -> np.ndarray:
    """Attention of one unpadded sentence straight from the model, float32 (L, H, T, T)."""
    inputs = loaded.tokenizer(text, return_tensors="pt")
    with torch.inference_mode():
        out = loaded.model(**inputs, output_attentions=True)
    return torch.stack([a[0] for a in out.attentions]).float().numpy()


# --- fidelity ----------------------------------------------------------------


@pytest.mark.fidelity
@pytest.mark.parametrize("which", ["minilm", "gpt2"])
def test_every_stored_cell_equals_a_direct_forward_pass(which, request, tmp_path):
    loaded = request.getfixturevalue(which)
    store_path = tmp_path / "atlas.zarr"
    summary = extract(sentences(MIXED), store_path, loaded, batch_size=len(MIXED), progress=False)
    assert summary.computed == len(MIXED)
    store = AtlasStore.open(store_path)
    lengths = {len(store[sid].tokens) for sid, _ in MIXED}
    assert max(lengths) > 3 * min(lengths)  # padding really happened in the shared batch
    for sid, text in MIXED:
        rec = store[sid]
        expected = direct(loaded, text)
        stored = rec.attention()
        assert stored.shape == expected.shape == (loaded.info["n_layers"], loaded.info["n_heads"],
                                                  len(rec.tokens), len(rec.tokens))
        assert np.abs(stored - expected).max() <= 1 / 510 + 1e-6, sid


@pytest.mark.fidelity
@pytest.mark.parametrize("batch_size", [2, 3], ids=["batch-2", "batch-3"])
def test_values_do_not_depend_on_the_batch_partners(gpt2, tmp_path, batch_size):
    pairs = random_pairs(12, seed=1)
    whole = tmp_path / "whole.zarr"
    extract(sentences(pairs), whole, gpt2, batch_size=len(pairs), progress=False)
    split = tmp_path / "split.zarr"
    extract(sentences(pairs), split, gpt2, batch_size=batch_size, progress=False)
    a, b = AtlasStore.open(whole), AtlasStore.open(split)
    for sid, _ in pairs:
        assert np.abs(a[sid].attention() - b[sid].attention()).max() <= 1 / 255 + 1e-6


def test_gpt2_maps_are_lower_triangular(gpt2_store):
    store = AtlasStore.open(gpt2_store)
    for rec in store:
        codes = rec.codes()  # (L, H, T, T)
        upper = np.triu(np.ones(codes.shape[-2:], dtype=bool), k=1)
        assert not codes[..., upper].any(), rec.id
        assert codes[..., ~upper].any(), rec.id


def test_encoder_special_tokens_have_no_word(minilm_store):
    store = AtlasStore.open(minilm_store)
    for rec in store:
        assert rec.tokens[0] == "[CLS]" and rec.tokens[-1] == "[SEP]"
        assert rec.word_index[0] == -1 and rec.word_index[-1] == -1
        assert (rec.word_index[1:-1] >= 0).all(), rec.id
    rec = store["pair-1"]
    assert rec.words[0] == "<MOT>"
    # "<MOT>" is cut into several pieces, all of them word 0
    assert list(rec.word_index[:4]) == [-1, 0, 0, 0]


# --- metadata ----------------------------------------------------------------


def test_store_metadata_names_model_tokenizer_version_and_quantization(minilm_store, gpt2_store,
                                                                       gpt2_dir):
    import pipeline

    minilm = AtlasStore.open(minilm_store)
    assert minilm.model["name"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert minilm.model["revision"] == "1110a243fdf4706b3f48f1d95db1a4f5529b4d41"
    assert minilm.model["weights_sha256"] == model_module.DEFAULT_MODEL_SHA256
    assert (minilm.model["n_layers"], minilm.model["n_heads"]) == (6, 12)
    assert minilm.model["tokenizer"] == "BertTokenizer"
    gpt2 = AtlasStore.open(gpt2_store)
    assert gpt2.model["name"] == gpt2_dir.name and gpt2.model["path"] == str(gpt2_dir)
    assert len(gpt2.model["weights_sha256"]) == 64
    assert (gpt2.model["n_layers"], gpt2.model["n_heads"]) == (2, 4)
    assert gpt2.model["causal"] is True and minilm.model["causal"] is False
    assert gpt2.model["tokenizer"] == "GPT2Tokenizer"
    for store in (minilm, gpt2):
        assert store.info["pipeline_version"] == pipeline.__version__
        assert store.info["quantization"]["dtype"] == "uint8"
        assert store.info["quantization"]["max_abs_error"] == pytest.approx(1 / 510)


def test_embedded_model_sha256_is_checked(monkeypatch):
    monkeypatch.setattr(model_module, "DEFAULT_MODEL_SHA256", "0" * 64)
    with pytest.raises(ModelError, match="SHA-256.*expected 0000"):
        load_model()


# --- truncation --------------------------------------------------------------


def test_a_sentence_longer_than_the_model_is_truncated_flagged_and_counted(gpt2, tmp_path, caplog):
    head = " ".join(VOCAB)  # about 20 tokens
    tail = " ".join(["horse"] * 80)  # far past the 64 positions
    text = f"{head} {tail} THE END"
    items = [
        {"id": "long", "text": text, "spans": [
            {"label": "HEAD", "start": 0, "end": len(head)},
            {"label": "TAIL", "start": len(head) + 1, "end": len(head) + 1 + len(tail)},
            {"label": "END", "start": len(text) - 7, "end": len(text)},
        ]},
        {"id": "short", "text": "Sit down ."},
    ]
    report = read_corpus(write_jsonl(tmp_path / "c.jsonl", items))
    summary = extract(report.sentences, tmp_path / "atlas.zarr", gpt2, progress=False)
    assert summary.truncated == 1
    assert "1 truncated" in str(summary)
    # the warning names the sentence and where it came from
    warning = next(r.getMessage() for r in caplog.records if "truncated" in r.getMessage())
    assert f"'long' ({tmp_path / 'c.jsonl'}:1)" in warning and "'short'" not in warning
    store = AtlasStore.open(tmp_path / "atlas.zarr")
    rec, short = store["long"], store["short"]
    assert rec.truncated and not short.truncated
    assert len(rec.tokens) == 64
    assert rec.attention().shape == (2, 4, 64, 64)
    assert len(rec.words) < len(report.sentences[0].words)
    assert rec.words[: len(VOCAB)] == list(VOCAB)
    # HEAD is whole, TAIL clipped to the last stored word, END (wholly cut off) is gone
    assert rec.spans == [("HEAD", 0, len(VOCAB)), ("TAIL", len(VOCAB), len(rec.words))]
    assert (rec.word_index >= 0).all() and rec.word_index.max() == len(rec.words) - 1


# --- incremental runs --------------------------------------------------------


def test_incremental_runs_compute_only_what_is_new(gpt2, tmp_path):
    store_path = tmp_path / "atlas.zarr"
    pairs = random_pairs(10, seed=2)
    first = extract(sentences(pairs), store_path, gpt2, batch_size=4, progress=False)
    assert (first.computed, first.reused, first.sentences) == (10, 0, 10)
    before = {sid: AtlasStore.open(store_path)[sid].codes() for sid, _ in pairs}

    again = extract(sentences(pairs), store_path, gpt2, batch_size=4, progress=False)
    assert (again.computed, again.reused, again.removed) == (0, 10, 0)

    added = random_pairs(13, seed=3)[10:]
    added = [(f"new{i}", t) for i, (_, t) in enumerate(added) if t not in dict(pairs).values()]
    grown = pairs[:5] + added + pairs[5:]  # new sentences in the middle of the corpus
    third = extract(sentences(grown), store_path, gpt2, batch_size=4, progress=False)
    assert third.computed == len(added) and third.reused == 10
    store = AtlasStore.open(store_path)
    assert store.ids == [sid for sid, _ in grown]
    for sid, codes in before.items():
        assert np.array_equal(store[sid].codes(), codes)

    shrunk = [p for p in grown if p[0] not in ("s0001", "s0007")]
    fourth = extract(sentences(shrunk), store_path, gpt2, batch_size=4, progress=False)
    assert (fourth.computed, fourth.removed) == (0, 2)
    store = AtlasStore.open(store_path)
    assert store.ids == [sid for sid, _ in shrunk]
    assert len(store) == len(shrunk)
    assert "s0001" not in store
    with pytest.raises(KeyError, match="s0001"):
        store["s0001"]


def test_changing_spans_or_meta_updates_the_record_without_recomputing(gpt2, tmp_path):
    text = "<CHI> painted a picture of a horse <CHI> my favorite animal is the"
    item = {"id": "p", "text": text, "spans": [{"label": "ENV", "start": 0, "end": 34}],
            "meta": {"speaker": "CHI"}}
    store_path = tmp_path / "atlas.zarr"
    first = read_corpus(write_jsonl(tmp_path / "a.jsonl", [item, {"id": "q", "text": "oh ."}]))
    extract(first.sentences, store_path, gpt2, progress=False)
    codes = AtlasStore.open(store_path)["p"].codes()

    changed = {**item, "spans": [{"label": "LAN", "start": 35, "end": 65}], "meta": {"age": 3}}
    second = read_corpus(write_jsonl(tmp_path / "b.jsonl", [changed, {"id": "q", "text": "oh ."}]))
    summary = extract(second.sentences, store_path, gpt2, progress=False)
    assert (summary.computed, summary.reused) == (0, 2)
    rec = AtlasStore.open(store_path)["p"]
    assert rec.spans == [("LAN", 7, 13)]
    assert rec.meta == {"age": 3}
    assert np.array_equal(rec.codes(), codes)


def test_a_new_id_for_a_known_text_reuses_its_codes(gpt2, tmp_path):
    store_path = tmp_path / "atlas.zarr"
    extract(sentences([("a", "Sit down .")]), store_path, gpt2, progress=False)
    summary = extract(sentences([("b", "Sit down ."), ("c", "Sit down .")]), store_path, gpt2,
                      progress=False)
    assert summary.computed == 0
    store = AtlasStore.open(store_path)
    assert store.ids == ["b", "c"]
    assert np.array_equal(store["b"].codes(), store["c"].codes())


def test_another_model_on_an_existing_store_is_refused_naming_both(minilm, gpt2_store, gpt2_dir,
                                                                   tmp_path):
    import shutil

    store_path = tmp_path / "atlas.zarr"
    shutil.copytree(gpt2_store, store_path)
    with pytest.raises(StoreError) as info:
        extract(sentences([("x", "oh .")]), store_path, minilm, progress=False)
    message = info.value.message
    assert "another model" in message
    assert repr(gpt2_dir.name) in message and "sentence-transformers/all-MiniLM-L6-v2" in message
    # one line per difference, not one very long line
    lines = message.splitlines()
    assert len(lines) >= 4, message
    for key in ("weights_sha256", "tokenizer_sha256", "max_length"):
        assert sum(key in line for line in lines) == 1, message  # each on its own line
    assert any(line.strip().startswith("weights_sha256: store has") for line in lines)
    assert lines[-1].startswith("A store holds one model")


def test_the_same_model_files_in_another_folder_are_the_same_model(gpt2_dir, gpt2, tmp_path):
    import shutil

    store_path = tmp_path / "atlas.zarr"
    extract(sentences([("a", "oh .")]), store_path, gpt2, progress=False)
    moved = load_model(str(shutil.copytree(gpt2_dir, tmp_path / "moved-gpt2")))
    assert moved.info["name"] != gpt2.info["name"]
    summary = extract(sentences([("a", "oh ."), ("b", "Sit down .")]), store_path, moved,
                      progress=False)
    assert (summary.computed, summary.reused) == (1, 1)


def test_inserting_a_line_appends_one_row_not_one_per_later_sentence(gpt2, tmp_path):
    items = [{"id": sid, "text": text} for sid, text in random_pairs(8, seed=7)]
    store_path = tmp_path / "atlas.zarr"
    first = read_corpus(write_jsonl(tmp_path / "a.jsonl", items))
    extract(first.sentences, store_path, gpt2, progress=False)
    assert AtlasStore.open(store_path).rows == 8
    # the same sentences one line lower, from another file
    second = read_corpus(write_jsonl(tmp_path / "b.jsonl", [{"id": "new", "text": "oh ."}, *items]))
    summary = extract(second.sentences, store_path, gpt2, progress=False)
    assert (summary.computed, summary.reused) == (1, 8)
    store = AtlasStore.open(store_path)
    assert store.rows == 9
    assert store.ids == ["new", *(item["id"] for item in items)]


@pytest.mark.parametrize(("commit_every", "commits_mid_run"), [(0, True), (3600, False)],
                         ids=["every-chunk", "hourly"])
def test_commits_while_streaming_follow_commit_every(gpt2, tmp_path, monkeypatch, commit_every,
                                                     commits_mid_run):

    items = [{"id": f"s{i}", "text": f"{i} " + " ".join(["word"] * (30 + i % 20))} for i in range(300)]
    sentences = read_corpus(write_jsonl(tmp_path / "c.jsonl", items)).sentences
    commits, original = [], StoreWriter.commit

    def counting(self):
        before = self.rows
        original(self)
        if self.rows != before:
            commits.append(self.rows)

    monkeypatch.setattr(StoreWriter, "commit", counting)
    extract(sentences, tmp_path / "atlas.zarr", gpt2, batch_size=4, progress=False,
            commit_every=commit_every)
    mid_run = [rows for rows in commits if 0 < rows < len(items)]
    assert bool(mid_run) == commits_mid_run, commits
    assert AtlasStore.open(tmp_path / "atlas.zarr").ids == [item["id"] for item in items]


# --- what the summary says ----------------------------------------------------


def test_repeated_texts_are_computed_once_and_counted_in_the_summary(gpt2, tmp_path):
    lines = ["oh yeah .", "Sit down .", "oh yeah .", "look here", "oh yeah .", "Sit down ."]
    corpus = tmp_path / "c.txt"
    corpus.write_text("\n".join(lines) + "\n")
    summary = extract(read_corpus(corpus).sentences, tmp_path / "atlas.zarr", gpt2, progress=False)
    assert (summary.sentences, summary.computed, summary.repeated, summary.reused) == (6, 3, 3, 0)
    assert "6 sentences in the store: 3 computed" in str(summary)
    assert "3 repeat a text computed in this run" in str(summary)
    store = AtlasStore.open(tmp_path / "atlas.zarr")
    assert len(store) == 6 and len({store[i].row for i in range(6)}) == 6  # a row per sentence
    np.testing.assert_array_equal(store[0].codes(), store[2].codes())


# --- an unchanged corpus needs no model ------------------------------------------


def test_an_unchanged_corpus_loads_no_model_and_imports_no_torch(gpt2_dir, tmp_path):
    import subprocess
    import sys

    store = tmp_path / "atlas.zarr"
    corpus = write_jsonl(tmp_path / "c.jsonl", [
        {"id": sid, "text": text, "meta": {"n": i}} for i, (sid, text) in enumerate(MIXED)])
    code = ("import sys; from pipeline.cli import main\n"
            "try:\n    main(sys.argv[1:])\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
            "print('torch' in sys.modules, 'transformers' in sys.modules)")
    args = ["-q", "extract", "--corpus", str(corpus), "--model", str(gpt2_dir),
            "--store", str(store)]
    first = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    assert first.stdout.split()[-2:] == ["True", "True"] and "6 computed" in first.stdout
    again = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert again.stdout.split()[-2:] == ["False", "False"], again.stdout  # neither imported
    assert "0 computed" in again.stdout and "6 reused" in again.stdout
    assert "model not loaded" in again.stdout
    # a measure the store lacks: the model must run, for that measure only
    added = subprocess.run([sys.executable, "-c", code, *args, "--measures", "rollout"],
                           capture_output=True, text=True)
    assert added.returncode == 0, added.stderr
    assert added.stdout.split()[-2:] == ["True", "True"] and "by measure: rollout 6" in added.stdout
    last = subprocess.run([sys.executable, "-c", code, *args, "--measures", "rollout"],
                          capture_output=True, text=True)
    assert last.stdout.split()[-2:] == ["False", "False"] and "model not loaded" in last.stdout


def test_a_changed_sentence_loads_the_model_and_a_removed_one_needs_none(gpt2_dir, gpt2, tmp_path):
    from pipeline.model.loading import ModelSpec

    store = tmp_path / "atlas.zarr"
    spec = ModelSpec(str(gpt2_dir))
    extract(sentences(MIXED), store, gpt2, progress=False)
    removed = extract(sentences(MIXED[1:]), store, spec, progress=False)
    assert (removed.model_loaded, removed.reused, removed.removed) == (False, 5, 1)
    assert AtlasStore.open(store).ids == [sid for sid, _ in MIXED[1:]]
    changed = extract(sentences([("one", "oh no ."), *MIXED[1:]]), store, spec, progress=False)
    assert changed.model_loaded and (changed.computed, changed.reused) == (1, 5)
    assert AtlasStore.open(store)["one"].text == "oh no ."


def test_an_unchanged_rerun_writes_no_new_catalog(gpt2, tmp_path):
    store = tmp_path / "atlas.zarr"
    extract(sentences(MIXED), store, gpt2, progress=False)
    before = AtlasStore.open(store).info, sorted(p.name for p in (store / "catalog").iterdir())
    extract(sentences(MIXED), store, gpt2, progress=False)
    assert (AtlasStore.open(store).info, sorted(p.name for p in (store / "catalog").iterdir())) == before
