"""Token -> word alignment over the real tokenizers (the embedded MiniLM's WordPiece, the tiny
GPT-2's byte-level BPE), for any text (the word rule and word maps: tests/unit/test_words.py)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from pipeline.extract.encode import encode
from pipeline.records import Sentence
from pipeline.words import split_words, word_maps


@pytest.fixture(scope="module")
def tokenizers(minilm, gpt2):
    """(name, tokenizer, max_length) of the embedded MiniLM and the tiny GPT-2."""
    return [(m.info["name"], m.tokenizer, m.info["max_length"]) for m in (minilm, gpt2)]


@given(text=st.text(max_size=80), seed=st.integers(0, 2**32 - 1))
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_alignment_properties_for_any_text(tokenizers, text, seed):
    words = split_words(text)
    assume(words)
    sentence = Sentence("s", text, words)
    rng = np.random.default_rng(seed)
    for name, tokenizer, max_length in tokenizers:
        encoded, skips = encode([sentence], tokenizer, max_length)
        if skips:  # nothing left after tokenization is a counted skip, not a record
            assert not encoded and skips[0].reason == "no tokens"
            continue
        stored = encoded[0].stored
        word_index, ranges = stored.word_index, stored.word_ranges
        n_tok, n_words = len(encoded[0].input_ids), len(ranges)
        assert len(word_index) == n_tok == len(stored.tokens), name
        assert all(w == -1 or 0 <= w < n_words for w in word_index), name
        assert set(w for w in word_index if w >= 0) == set(range(n_words)), name
        for (a0, b0), (a1, b1) in zip(ranges, ranges[1:], strict=False):
            assert a0 < b0 <= a1 < b1, (name, ranges)
        assert all(0 <= a < b <= len(text) for a, b in ranges), name
        attention = rng.random((1, 2, n_tok, n_tok)).astype(np.float32)
        attention /= attention.sum(-1, keepdims=True)  # row-stochastic, like softmax output
        maps, special = word_maps(attention, np.array(word_index), n_words)
        np.testing.assert_allclose(maps.sum(-1) + special, 1.0, atol=1e-5, err_msg=name)
