"""Words: the word rule, token -> word alignment, and Clark et al. (2019) word-level maps."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.words import align_tokens, merge_tokenless, split_words, word_attention, word_maps


def words_of(text: str) -> list[str]:
    """The words split_words finds, as strings."""
    return [text[a:b] for a, b in split_words(text)]


# --- split_words -------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("<CHI> painted a picture", ["<CHI>", "painted", "a", "picture"]),
    ("<CHI>hi", ["<CHI>", "hi"]),
    ("< CHI >", ["<", "CHI", ">"]),
    ("who's that ?", ["who's", "that", "?"]),
    ("don’t", ["don’t"]),
    ("oh, yeah!", ["oh", ",", "yeah", "!"]),
    ("...", [".", ".", "."]),
    ("emoji 👍🏽 and 👨\u200d👩\u200d👧 x", ["emoji", "👍🏽", "and", "👨\u200d👩\u200d👧", "x"]),
    ("שלום עולם !", ["שלום", "עולם", "!"]),
    ("zero\u200bwidth", ["zero", "width"]),
    ("a\u200fb", ["a", "b"]),
    ("e\u0301te\u0301 42", ["e\u0301te\u0301", "42"]),
    ("  \t\n", []),
], ids=["tag", "tag-glued", "spaced-brackets", "apostrophe", "curly-apostrophe", "punctuation",
        "ellipsis", "emoji-modifier-and-zwj", "rtl", "zero-width-space", "rtl-mark",
        "combining-marks", "only-whitespace"])
def test_split_words(text, expected):
    assert words_of(text) == expected


@given(st.text(max_size=60))
@settings(max_examples=100, deadline=None)
def test_split_words_ranges_are_ordered_and_never_hold_a_separator_at_the_edge(text):
    ranges = split_words(text)
    ends = [0] + [b for _, b in ranges]
    for (a, b), prev_end in zip(ranges, ends, strict=False):
        assert prev_end <= a < b <= len(text)
        assert not text[a].isspace() and not text[b - 1].isspace()


# --- align_tokens ------------------------------------------------------------


def test_align_tokens_special_tokens_get_minus_one_and_others_a_word():
    # "<CHI> painted" as BERT cuts it: [CLS] < chi > painted [SEP]
    words = ((0, 5), (6, 13))
    offsets = [(0, 0), (0, 1), (1, 4), (4, 5), (6, 13), (0, 0)]
    special = [True, False, False, False, False, True]
    index, tokenless = align_tokens(words, offsets, special)
    assert index == [-1, 0, 0, 0, 1, -1]
    assert tokenless == []


def test_align_tokens_lone_space_token_goes_to_the_next_word():
    # GPT-2 style: "a  b" -> "a", " " (lone space), " b" with its space in the offsets
    words = ((0, 1), (3, 4))
    offsets = [(0, 1), (1, 2), (2, 4)]
    index, tokenless = align_tokens(words, offsets, [False] * 3)
    assert index == [0, 1, 1]
    assert tokenless == []


def test_align_tokens_trailing_token_past_the_last_word_goes_to_the_last_word():
    index, _ = align_tokens(((0, 1), (2, 3)), [(0, 1), (2, 3), (3, 4)], [False] * 3)
    assert index == [0, 1, 1]


def test_align_tokens_token_spanning_two_words_goes_to_the_larger_overlap():
    # one token "ab c" covering word "ab" (2 chars) and word "c" (1 char)
    index, tokenless = align_tokens(((0, 2), (3, 4)), [(0, 4)], [False])
    assert index == [0]
    assert tokenless == [1]


def test_align_tokens_reports_words_without_tokens():
    index, tokenless = align_tokens(((0, 1), (2, 3), (4, 5)), [(0, 1), (4, 5)], [False, False])
    assert index == [0, 2]
    assert tokenless == [1]


# --- merge_tokenless ---------------------------------------------------------


@pytest.mark.parametrize(("tokenless", "merged", "new_of_old"), [
    ([], ((0, 1), (2, 3), (4, 5)), [0, 1, 2]),
    ([1], ((0, 3), (4, 5)), [0, 0, 1]),
    ([2], ((0, 1), (2, 5)), [0, 1, 1]),
    ([0], ((0, 3), (4, 5)), [0, 0, 1]),
    ([0, 1], ((0, 5),), [0, 0, 0]),
], ids=["none", "middle-joins-left", "last-joins-left", "first-joins-right", "two-leading"])
def test_merge_tokenless(tokenless, merged, new_of_old):
    assert merge_tokenless(((0, 1), (2, 3), (4, 5)), tokenless) == (merged, new_of_old)


def test_merge_tokenless_refuses_when_no_word_has_a_token():
    with pytest.raises(ValueError, match="no word received a token"):
        merge_tokenless(((0, 1), (2, 3)), [0, 1])


# --- word_maps (Clark et al. 2019) ------------------------------------------


def test_word_maps_matches_a_hand_computed_example():
    # tokens: [CLS] who 's that [SEP]  -> words: who's (tokens 1, 2), that (token 3)
    word_index = np.array([-1, 0, 0, 1, -1])
    a = np.array([
        [0.5, 0.1, 0.1, 0.1, 0.2],
        [0.1, 0.2, 0.3, 0.3, 0.1],
        [0.2, 0.4, 0.1, 0.2, 0.1],
        [0.3, 0.1, 0.1, 0.4, 0.1],
        [0.2, 0.2, 0.2, 0.2, 0.2],
    ], dtype=np.float32)[None, None]  # (L=1, H=1, T=5, T=5)
    words, special = word_maps(a, word_index, 2)
    # to-word: sum over its tokens; from-word: mean over its tokens
    expected = np.array([
        [((0.2 + 0.3) + (0.4 + 0.1)) / 2, (0.3 + 0.2) / 2],
        [0.1 + 0.1, 0.4],
    ], dtype=np.float32)
    expected_special = np.array([((0.1 + 0.1) + (0.2 + 0.1)) / 2, 0.3 + 0.1], dtype=np.float32)
    assert words.shape == (1, 1, 2, 2) and words.dtype == np.float32
    np.testing.assert_allclose(words[0, 0], expected, atol=1e-6)
    np.testing.assert_allclose(special[0, 0], expected_special, atol=1e-6)
    np.testing.assert_allclose(words.sum(-1) + special, 1.0, atol=1e-6)


def test_word_maps_without_special_tokens_rows_sum_to_one():
    rng = np.random.default_rng(0)
    a = rng.random((2, 3, 6, 6)).astype(np.float32)
    a /= a.sum(-1, keepdims=True)
    words, special = word_maps(a, np.array([0, 0, 1, 2, 2, 2]), 3)
    assert words.shape == (2, 3, 3, 3)
    assert np.all(special == 0)
    np.testing.assert_allclose(words.sum(-1), 1.0, atol=1e-5)
    # one token per word on the middle word: its row is the token's row, summed per word
    np.testing.assert_allclose(words[:, :, 1, 0], a[:, :, 2, :2].sum(-1), atol=1e-6)


def test_rectangular_word_maps_take_each_sides_own_words():
    """Cross-attention (target rows x source columns): rows are the mean over a row word's
    tokens, columns the sum over a column word's tokens, each side with its own words."""
    rng = np.random.default_rng(0)
    rows, columns = np.array([-1, 0, 0, 1, -1]), np.array([0, 1, 1, -1, 2, 2])
    attention = rng.dirichlet(np.ones(6), size=(2, 3, 5)).astype(np.float32)  # (L, H, T_r, T_c)
    words, special = word_maps(attention, rows, 2, column_index=columns, n_column_words=3)
    want = np.zeros((2, 3, 2, 3), np.float32)
    want_special = np.zeros((2, 3, 2), np.float32)
    for i in range(2):
        mine = rows == i
        for j in range(3):
            want[:, :, i, j] = attention[:, :, mine][..., columns == j].sum(-1).mean(-1)
        want_special[:, :, i] = attention[:, :, mine][..., columns == -1].sum(-1).mean(-1)
    np.testing.assert_allclose(words, want, rtol=1e-5)
    np.testing.assert_allclose(special, want_special, rtol=1e-5)
    np.testing.assert_allclose(words.sum(-1) + special, 1.0, rtol=1e-5)
    codes = np.rint(attention * 255).astype(np.uint8)
    np.testing.assert_allclose(
        word_attention(codes, rows, 2, 1 / 255, column_index=columns, n_column_words=3),
        word_maps(codes / np.float32(255), rows, 2, column_index=columns, n_column_words=3)[0],
        rtol=1e-5)
    with pytest.raises(ValueError, match="n_column_words"):
        word_maps(attention, rows, 2, column_index=columns)
