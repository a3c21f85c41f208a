"""Properties of the word rule and of reading corpora, for any Unicode text."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.corpus import read_corpus
from pipeline.records import Span
from pipeline.words import is_separator, split_words

FAST = settings(max_examples=200, deadline=None)
# A line of a corpus file: any characters but the line ends ("\r" before "\n" is CRLF).
LINE = st.text(
    st.characters(exclude_categories=["Cs"], exclude_characters="\n\r"), min_size=1, max_size=80
)
SENTENCE = LINE.filter(lambda t: t.strip() and split_words(t) and not t.startswith("\ufeff"))


@FAST
@given(st.text(max_size=200))
def test_split_words_covers_every_non_separator_exactly_once(text):
    words = split_words(text)
    owner = [0] * len(text)
    previous_end = 0
    for a, b in words:
        assert previous_end <= a < b <= len(text)  # in order, non-overlapping, non-empty
        assert not is_separator(text[a]) and not is_separator(text[b - 1])
        for i in range(a, b):
            owner[i] += 1
        previous_end = b
    for char, n in zip(text, owner, strict=True):
        assert n == (0 if is_separator(char) else 1), (char, text)


@st.composite
def sentences_with_spans(draw):
    """A text with words and valid spans: (text, [(label, start, end)], [expected Span])."""
    text = draw(SENTENCE)
    words = split_words(text)
    n = len(words)
    cuts = sorted(draw(st.sets(st.integers(0, n), max_size=6)))
    runs = [(f, last) for f, last in zip(cuts, cuts[1:], strict=False) if draw(st.booleans())]
    spans, expected, floor = [], [], 0
    for first, last in runs:
        # start in the gap before the first word, end in the gap after the last: same words.
        low = max(floor, words[first - 1][1] if first else 0)
        start = draw(st.integers(low, words[first][0]))
        end = draw(st.integers(words[last - 1][1], words[last][0] if last < n else len(text)))
        label = draw(st.text(min_size=1, max_size=8).filter(str.strip))
        spans.append({"label": label, "start": start, "end": end})
        expected.append(Span(label, first, last))
        floor = end
    return text, spans, expected


@FAST
@given(st.lists(SENTENCE, min_size=1, max_size=5))
def test_txt_round_trips_text(lines):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "c.txt"
        path.write_bytes(("\n".join(lines) + "\n").encode("utf-8"))
        sentences = read_corpus(path).sentences
    assert [s.text for s in sentences] == lines
    assert [s.word_ranges for s in sentences] == [split_words(line) for line in lines]
    assert len({s.id for s in sentences}) == len(lines)


@FAST
@given(st.lists(sentences_with_spans(), min_size=1, max_size=4))
def test_jsonl_round_trips_text_and_spans(items):
    lines = [
        json.dumps({"id": f"i{k}", "text": text, "spans": spans}, ensure_ascii=False)
        for k, (text, spans, _) in enumerate(items)
    ]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "c.jsonl"
        path.write_bytes(("\n".join(lines) + "\n").encode("utf-8"))
        sentences = read_corpus(path).sentences
    assert [s.text for s in sentences] == [text for text, _, _ in items]
    assert [list(s.spans) for s in sentences] == [expected for _, _, expected in items]
