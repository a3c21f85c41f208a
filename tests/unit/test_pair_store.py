"""Encoder-decoder stores (issue 26) on synthetic codes through the real writer, no model: the
streams <measure>.<part>, the rectangular cross rows, the read API with `part=`, and that a
self store reads and writes as before."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.errors import StoreError
from pipeline.store import AtlasStore
from pipeline.store.layout import open_group_meta
from pipeline.testing import synthetic_sentence, write_store
from pipeline.testing.seq2seq import pair_model, pair_rows, write_pair_store

MEASURES = ("attention", "rollout")


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    """(path, rows, model) of a pair store with attention (three parts) and rollout (encoder)."""
    path = tmp_path_factory.mktemp("pairs") / "atlas.zarr"
    model = pair_model()
    rows = pair_rows(6, model, MEASURES, seed=1)
    write_pair_store(path, rows, model, MEASURES)
    return path, rows, model


def test_a_pair_store_has_three_parts_and_a_stream_per_measure_and_part(pairs):
    path, _, _ = pairs
    store = AtlasStore.open(path)
    assert store.parts == ["encoder", "decoder", "cross"] and store.encoder_decoder
    assert store.measures == ["attention", "rollout"]
    assert store.measure_parts("attention") == ["encoder", "decoder", "cross"]
    assert store.measure_parts("rollout") == ["encoder"]
    assert store.streams == ["attention.encoder", "attention.decoder", "attention.cross",
                             "rollout.encoder"]
    assert (store.grid(), store.grid(part="cross"), store.grid("rollout")) == ((2, 2), (3, 2), (2, 1))
    assert store.measure_heads("rollout") == 1 and store.stream("attention", "cross") == "attention.cross"
    meta = open_group_meta(path, "r")[1]
    assert meta["schema"] == 3
    streams = ["attention.encoder", "attention.decoder", "attention.cross", "rollout.encoder"]
    assert list(meta["commit"]["codes_end"]) == streams
    assert meta["measure_heads"] == {"attention.encoder": 2, "attention.decoder": 2,
                                     "attention.cross": 2, "rollout.encoder": 1}
    assert meta["measure_parts"] == {"attention": ["encoder", "decoder", "cross"],
                                     "rollout": ["encoder"]}
    group = open_group_meta(path, "r")[0]
    assert all(f"measures/{s}/codes" in group for s in streams)
    assert "measures/attention/codes" not in group
    assert list(group["index/n_target_tokens"][:]) == [r[0].n_target_tokens for r in pairs[1]]


def test_every_part_reads_back_within_half_a_code_step_in_its_shape(pairs):
    path, rows, model = pairs
    store = AtlasStore.open(path)
    for (sentence, maps), rec in zip(rows, store, strict=True):
        t_s, t_t = sentence.n_tokens, sentence.n_target_tokens
        shapes = {"encoder": (2, 2, t_s, t_s), "decoder": (3, 2, t_t, t_t),
                  "cross": (3, 2, t_t, t_s)}
        for part, shape in shapes.items():
            got = rec.attention(part=part)
            assert got.shape == shape
            assert np.abs(got - maps[f"attention.{part}"]).max() <= 1 / 510 + 1e-7
        assert rec.attention().shape == shapes["encoder"]  # part=None: the encoder
        assert rec.attention("rollout").shape == (2, 1, t_s, t_s)
        assert rec.codes("attention.cross").shape == shapes["cross"]  # a stream's name


def test_a_pairs_record_has_its_target_side(pairs):
    store = AtlasStore.open(pairs[0])
    rec = store["pair-1"]
    assert rec.words[0] == "<SRC>" and rec.target_words[0] == "<TGT>"
    assert rec.target == "<TGT> qui est-ce ? <CHI> oh oui ."
    assert rec.target_tokens[0] == "<pad>" and rec.target_tokens[-1] == "</s>"
    assert list(rec.target_word_index) == [-1, *range(10), -1]
    assert rec.spans == [("<SRC>", 0, 4), ("CHI", 4, 8)]
    assert rec.target_spans == [("<TGT>", 0, 6), ("CHI", 6, 10)]
    assert not rec.target_generated and store["generated"].target_generated
    assert store["xss/script"].target_words[1] == "<script>"


def test_cross_word_maps_take_rows_from_the_target_and_columns_from_the_source(pairs):
    store = AtlasStore.open(pairs[0])
    rec = store["pair-1"]
    cross = rec.attention(part="cross")  # (L_d, H, T_t, T_s)
    words, special = rec.word_maps(part="cross")
    w_t, w_s = len(rec.target_words), len(rec.words)
    assert words.shape == (3, 2, w_t, w_s) and special.shape == (3, 2, w_t)
    # one token per word: target word i is token i + 1, source word j is token j
    np.testing.assert_allclose(words, cross[:, :, 1:-1, :-1], atol=1e-6)
    np.testing.assert_allclose(special, cross[:, :, 1:-1, -1], atol=1e-6)
    np.testing.assert_allclose(rec.word_attention(part="cross"), words, atol=1e-6)
    decoder = rec.word_attention(part="decoder")
    assert decoder.shape == (3, 2, w_t, w_t)
    np.testing.assert_allclose(decoder, rec.attention(part="decoder")[:, :, 1:-1, 1:-1], atol=1e-6)
    assert rec.word_attention().shape == (2, 2, w_s, w_s)


def test_a_part_the_store_or_measure_lacks_names_the_parts_there_are(pairs, tmp_path):
    store = AtlasStore.open(pairs[0])
    rec = store[0]
    with pytest.raises(StoreError, match="has the parts encoder, decoder, cross"):
        rec.attention(part="self")
    with pytest.raises(StoreError, match="'rollout' has the parts encoder"):
        rec.attention("rollout", part="cross")
    with pytest.raises(StoreError, match="holds no measure 'grad'"):
        rec.attention("grad", part="cross")
    self_store = write_store(tmp_path / "self.zarr",
                             [(synthetic_sentence("a", ["x", "y"]), np.full((1, 2, 4, 4), .25))], 1, 2)
    self_rec = AtlasStore.open(self_store)["a"]
    opened = AtlasStore.open(self_store)
    assert (opened.parts, opened.streams, opened.grid(), opened.encoder_decoder) == (
        ["self"], ["attention"], (1, 2), False)
    assert self_rec.attention(part="self").shape == self_rec.attention().shape == (1, 2, 4, 4)
    assert self_rec.target is None and self_rec.target_words == [] and not self_rec.target_generated
    with pytest.raises(StoreError, match="it has the parts self"):
        self_rec.attention(part="cross")
    meta = open_group_meta(self_store, "r")[1]
    assert meta["schema"] == 2 and "parts" not in meta and "measure_parts" not in meta


def test_the_plain_zarr_recipe_for_a_cross_map_of_docs_store_md_reads_the_same_values(pairs):
    import zarr

    path, _, _ = pairs
    g = zarr.open_group(str(path), mode="r")
    meta = g.attrs["atlas"]
    commit = meta["commit"]
    rows = g[commit["catalog_array"]][: commit["catalog"]]
    r = int(rows[0])
    s = "attention.cross"
    Ld, Hm = meta["model"]["n_decoder_layers"], meta["measure_heads"][s]
    Ts, Tt = int(g["index/n_tokens"][r]), int(g["index/n_target_tokens"][r])
    offset = int(g[f"measures/{s}/offset"][r])
    cross = g[f"measures/{s}/codes"][offset: offset + Ld * Hm * Tt * Ts].reshape(Ld, Hm, Tt, Ts) / 255
    np.testing.assert_allclose(cross, AtlasStore.open(path)[0].attention(part="cross"), atol=1e-6)


def test_a_pairs_record_round_trips_and_a_self_record_keeps_its_json():
    from dataclasses import replace

    from pipeline.records import Sentence, Span
    from pipeline.store import StoredSentence
    from pipeline.testing.seq2seq import pair_sentence

    pair = pair_sentence("p", "a b", "c d e", [("S", 0, 1)], [("T", 1, 3)])
    assert StoredSentence.from_json(pair.to_json()) == pair
    plain = synthetic_sentence("a", ["x", "y"])
    assert "target" not in plain.to_json() and StoredSentence.from_json(plain.to_json()) == plain
    source = Sentence("p", "a b", pair.word_ranges, (Span("S", 0, 1),))
    assert plain.encodes(Sentence("a", "x y", plain.word_ranges, target="ignored"))  # one stack
    assert not pair.encodes(source)  # a given target's record: not a sentence to generate for
    assert replace(pair, target_generated=True).encodes(source)
    given = Sentence("p", "a b", pair.word_ranges, (Span("S", 0, 1),), target="c d e",
                     target_word_ranges=pair.target_word_ranges)
    assert not pair.encodes(given)  # its target spans differ
    assert replace(pair, target_spans=()).encodes(given)
    assert not replace(pair, target_spans=(), target_truncated=True).encodes(given)
