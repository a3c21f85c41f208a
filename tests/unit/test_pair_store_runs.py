"""Encoder-decoder stores across runs, on synthetic codes through the real writer (no model):
incremental reruns, a changed target, a measure added, a run killed midway, verify and repair
of a stream, and the writer's refusals."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from pipeline.errors import StoreError
from pipeline.extract.encode import content_key
from pipeline.records import Sentence, Span
from pipeline.store import CODES_CHUNK, AtlasStore
from pipeline.store.layout import open_group_meta, quantize
from pipeline.store.lock import StoreLock
from pipeline.store.verify import verify_store
from pipeline.store.writer import StoreWriter
from pipeline.testing.seq2seq import (
    pair_maps,
    pair_model,
    pair_rows,
    pair_sentence,
    write_pair_store,
)

MODEL = pair_model()
FINGERPRINT = {"weights_sha256": MODEL["weights_sha256"], "revision": None,
               "tokenizer_sha256": None, "max_length": 512}
PAIR_STREAMS = ("encoder", "decoder", "cross")


def corpus_sentence(stored, *, given: bool = True) -> Sentence:
    """The corpus Sentence a stored pair came from (without target: one to generate)."""
    spans = tuple(Span(*s) for s in stored.spans)
    if not given:
        return Sentence(stored.id, stored.text, stored.word_ranges, spans, stored.meta)
    return Sentence(stored.id, stored.text, stored.word_ranges, spans, stored.meta,
                    target=stored.target, target_word_ranges=stored.target_word_ranges,
                    target_spans=tuple(Span(*s) for s in stored.target_spans))


def codes_of(maps: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """{stream: uint8 codes} of float maps."""
    return {s: quantize(v) for s, v in maps.items()}


def writer(path, measures=("attention",), **kw) -> StoreWriter:
    """A writer on a pair store (inside a StoreLock)."""
    return StoreWriter(path, MODEL, FINGERPRINT, measures=measures, **kw)


def check_values(path, rows) -> None:
    """Every stream of every row reads back within half a code step."""
    store = AtlasStore.open(path)
    for sentence, maps in rows:
        rec = store[sentence.id]
        for stream, values in maps.items():
            assert np.abs(rec.attention(stream) - values).max() <= 1 / 510 + 1e-7, stream


def test_a_rerun_reuses_every_pair_and_a_changed_target_is_a_new_row(tmp_path):
    path = tmp_path / "atlas.zarr"
    rows = pair_rows(5, MODEL, seed=2)
    write_pair_store(path, rows, MODEL)
    commit = open_group_meta(path, "r")[1]["commit"]
    with StoreLock(path):
        w = writer(path)
        for r, (sentence, _) in enumerate(rows):
            assert (w.place(sentence), w.missing(sentence.key)) == (r, ())
            assert w.unchanged(corpus_sentence(sentence, given=not sentence.target_generated)) == r
        generated = next(s for s, _ in rows if s.target_generated)
        # a generated target matches a sentence without target, not one that gives it
        assert w.unchanged(corpus_sentence(generated, given=True)) is None
        assert w.stored(content_key(generated.text)).target == generated.target
        changed = pair_sentence("pair-1", rows[0][0].text, "une autre cible", rows[0][0].spans)
        assert w.unchanged(corpus_sentence(changed)) is None and w.place(changed) is None
        assert w.missing(changed.key) == ("attention",)
        maps = pair_maps(np.random.default_rng(9), MODEL, changed, ("attention",))
        new = w.add(changed, codes_of(maps))
        assert new == 5
        w.finish([new, 1, 2, 3, 4])
    store = AtlasStore.open(path)
    assert (store.rows, len(store), store["pair-1"].target) == (6, 5, "une autre cible")
    check_values(path, [(changed, maps), *rows[1:]])
    after = open_group_meta(path, "r")[1]["commit"]
    for stream, end in commit["codes_end"].items():  # only the changed pair's codes were added:
        assert after["codes_end"][stream] == end + CODES_CHUNK  # one (padded) chunk per stream
    assert verify_store(path).ok


def test_a_measure_added_midway_resumes_after_a_crash_and_fills_its_three_streams(tmp_path):
    path = tmp_path / "atlas.zarr"
    rows = pair_rows(6, MODEL, seed=3)
    write_pair_store(path, rows, MODEL)
    rng = np.random.default_rng(4)
    grad = {s.key: pair_maps(rng, MODEL, s, ("grad",)) for s, _ in rows}
    with StoreLock(path):  # the run adding grad dies after committing half of it
        w = writer(path, ("attention", "grad"))
        assert w.streams == ("attention.encoder", "attention.decoder", "attention.cross",
                             "grad.encoder", "grad.decoder", "grad.cross")
        for sentence, _ in rows[:3]:
            assert w.missing(sentence.key) == ("grad",)
            assert w.missing_streams(sentence.key) == tuple(f"grad.{p}" for p in PAIR_STREAMS)
            w.add(sentence, codes_of(grad[sentence.key]))
        w.flush()
    assert verify_store(path).ok  # a measure being added is checked, not listed
    assert AtlasStore.open(path).measures == ["attention"]
    with StoreLock(path):
        w = writer(path, ("attention", "grad"))
        assert [w.missing(s.key) for s, _ in rows] == [()] * 3 + [("grad",)] * 3
        for sentence, _ in rows[3:]:
            w.add(sentence, codes_of(grad[sentence.key]))
        w.finish([w.place(s) for s, _ in rows])
    store = AtlasStore.open(path)
    assert store.measure_parts("grad") == list(PAIR_STREAMS)
    check_values(path, [(s, {**maps, **grad[s.key]}) for s, maps in rows])
    assert verify_store(path).ok


def test_a_pair_run_killed_midway_resumes_computing_only_the_rest(tmp_path):
    path = tmp_path / "atlas.zarr"
    rows = pair_rows(6, MODEL, ("attention", "rollout"), seed=5)
    measures = ("attention", "rollout")
    with StoreLock(path):  # commits three pairs, queues two more, and dies
        w = writer(path, measures)
        for sentence, maps in rows[:5]:
            w.add(sentence, codes_of(maps))
            if sentence is rows[2][0]:
                w.flush()
    with StoreLock(path):
        w = writer(path, measures)
        placed = [w.place(s) for s, _ in rows]
        assert placed == [0, 1, 2, None, None, None]
        for i, (sentence, maps) in enumerate(rows):
            if placed[i] is None:
                placed[i] = w.add(sentence, codes_of(maps))
        w.finish(placed)
    assert AtlasStore.open(path).rows == 6
    check_values(path, rows)
    assert verify_store(path).ok


def test_verify_finds_a_damaged_cross_chunk_and_repair_drops_its_pairs(tmp_path):
    path = tmp_path / "atlas.zarr"
    rows = pair_rows(4, MODEL, seed=6)
    write_pair_store(path, rows, MODEL)
    (path / "measures/attention.cross/codes/c/0").unlink()  # reads as zeros
    report = verify_store(path)
    assert not report.ok and "chunk 0 of measures/attention.cross/codes" in str(report)
    assert report.damaged_rows == {0, 1, 2, 3}
    with pytest.raises(StoreError, match="fails its checksum"):
        AtlasStore.open(path)[0].attention(part="cross")
    AtlasStore.open(path)[0].attention(part="decoder")  # the other streams are intact
    assert verify_store(path, repair=True).repaired
    assert len(AtlasStore.open(path)) == 0
    write_pair_store(path, rows, MODEL)  # the next run computes them again
    check_values(path, rows)
    assert verify_store(path).ok


def test_the_writer_refuses_codes_that_are_not_a_pairs(tmp_path):
    path = tmp_path / "atlas.zarr"
    (sentence, maps), = pair_rows(1, MODEL, seed=7)
    codes = codes_of(maps)
    with StoreLock(path):
        w = writer(path)
        assert w.encoder_decoder and w.parts == list(PAIR_STREAMS)
        assert w.row_shape("attention.cross", sentence) == (3, 2, sentence.n_target_tokens,
                                                            sentence.n_tokens)
        transposed = {**codes, "attention.cross": codes["attention.cross"].swapaxes(2, 3)}
        with pytest.raises(StoreError, match=r"'attention.cross' codes of shape .*, its row's is"):
            w.add(sentence, transposed)
        with pytest.raises(StoreError, match="no stream of this run; its streams: attention.enc"):
            w.add(sentence, {"attention": codes["attention.encoder"]})
        with pytest.raises(StoreError, match="needs"):
            w.add(sentence, {"attention.encoder": codes["attention.encoder"]})
        with pytest.raises(StoreError, match="no target"):
            w.add(replace(pair_sentence("x", "a b", "c"), target=None), {})
        w.add(sentence, codes)
        w.flush()
        regenerated = pair_sentence(sentence.id + "-2", sentence.text, "something else entirely",
                                    generated=True)
        stored = pair_sentence(sentence.id, sentence.text, sentence.target, generated=True)
        assert w.place(stored) is None
        w.add(stored, codes_of(pair_maps(np.random.default_rng(0), MODEL, stored, ("attention",))))
        w.flush()
        with pytest.raises(StoreError, match="a generated target must be the stored one"):
            w.place(regenerated)


def test_the_ray_engine_refuses_a_pair_store_cleanly(tmp_path):
    from pipeline.errors import EngineError
    from pipeline.extract.engines.ray_engine import RayEngine

    with StoreLock(tmp_path / "atlas.zarr"):
        w = writer(tmp_path / "atlas.zarr")
        with pytest.raises(EngineError, match="does not run encoder-decoder models yet"):
            RayEngine().run([], {}, {}, w, progress=False)


def test_a_pair_run_killed_after_writing_chunks_resumes_at_each_streams_codes_end(
        tmp_path, monkeypatch):
    """Small chunks (1 KiB), so that a run writes and commits several per stream and then dies
    with chunks written above what it committed; the next run writes over them."""
    import zarr

    import pipeline.store.chunks as chunks_module
    import pipeline.store.layout as layout_module
    import pipeline.store.verify as verify_module

    for module in (chunks_module, layout_module, verify_module):
        monkeypatch.setattr(module, "CODES_CHUNK", 1024)
    path = tmp_path / "atlas.zarr"
    rows = pair_rows(12, MODEL, seed=8)
    with StoreLock(path):  # commits after each written chunk, then dies
        w = writer(path, commit_every=0.0)
        for sentence, maps in rows[:10]:
            w.add(sentence, codes_of(maps))
    meta = open_group_meta(path, "r")[1]
    committed, ends = meta["commit"]["rows"], meta["commit"]["codes_end"]
    assert 0 < committed < 10 and all(end % 1024 == 0 for end in ends.values())
    group = zarr.open_group(str(path), mode="r+")
    cross = group["measures/attention.cross/codes"]  # a chunk it wrote but never committed
    cross.resize((ends["attention.cross"] + 1024,))
    cross[ends["attention.cross"]:] = 255
    with StoreLock(path):
        w = writer(path)
        assert {s: b.written for s, b in w._codes.items()} == ends
        placed = [w.place(s) for s, _ in rows]
        assert placed == [*range(committed), *[None] * (12 - committed)]
        for i, (sentence, maps) in enumerate(rows):
            if placed[i] is None:
                placed[i] = w.add(sentence, codes_of(maps))
        w.finish(placed)
    check_values(path, rows)
    assert verify_store(path).ok
