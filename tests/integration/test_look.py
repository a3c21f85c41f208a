"""`look` (pipeline/notebook.py): a sentence typed now is what a one-sentence corpus through
`extract` stores, code for code, and its view is the site's page; bad input is a CorpusError."""

from __future__ import annotations

import html

import numpy as np
import pytest

from pipeline.corpus import read_corpus
from pipeline.errors import CorpusError
from pipeline.extract.run import extract
from pipeline.notebook import load, look, sentence
from pipeline.store import AtlasStore
from pipeline.testing import write_jsonl

TEXT = "<CHI> painted a picture of a horse <CHI> my favorite animal is the"
SPANS = {"ENV": (0, 34), "LAN": (35, 66)}


def test_look_stores_what_a_one_sentence_extract_stores(tmp_path, gpt2):
    seen = look(TEXT, gpt2, spans=SPANS, measures="attention,rollout", layer=2, head=3)
    corpus = write_jsonl(tmp_path / "one.jsonl", [{"text": TEXT, "spans": [
        {"label": label, "start": a, "end": b} for label, (a, b) in SPANS.items()]}])
    extract(read_corpus(corpus).sentences, tmp_path / "atlas.zarr", gpt2, progress=False,
            measures="attention,rollout")
    stored = AtlasStore.open(tmp_path / "atlas.zarr")[0]
    got = seen.record
    assert (got.id, got.text, got.tokens, got.words, got.spans, got.word_ranges) == (
        stored.id, stored.text, stored.tokens, stored.words, stored.spans, stored.word_ranges)
    assert got.spans == [("ENV", 0, 7), ("LAN", 7, 13)]
    assert seen.store.measures == ["attention", "rollout"]
    for measure in ("attention", "rollout"):
        assert got.codes(measure).dtype == np.uint8
        np.testing.assert_array_equal(got.codes(measure), stored.codes(measure))  # code for code
    assert seen.store.model["weights_sha256"] == AtlasStore.open(tmp_path / "atlas.zarr").model["weights_sha256"]
    # its view: the site's sentence page, opened at the head asked for, in an iframe of its own
    page = seen.view.html
    assert 'data-fragment="l2h3"' in page and "S.detailDrawn = " in page  # sentence-rows.js, inlined
    assert not any(f'{attr}="../{folder}/' in page for attr in ("src", "href") for folder in ("assets", "data"))
    assert html.escape(TEXT) in page
    shown = seen._repr_html_()
    assert shown.startswith('<div class="attention-atlas-view" id="atlas-view-') and "<iframe" in shown
    folder = seen.folder
    assert folder.is_dir()
    del seen, got
    import gc

    gc.collect()
    assert not folder.exists()  # its store goes with it


def test_the_model_is_loaded_once(gpt2_dir):
    assert load(gpt2_dir) is load(str(gpt2_dir), measures=["attention"])


def test_bad_sentences_are_corpus_errors_naming_the_cause():
    with pytest.raises(CorpusError, match=r"look\(\): bad span: span 1: \[0, 99\) is out of range"):
        sentence("a short one", {"X": (0, 99)})
    with pytest.raises(CorpusError, match="overlapping spans"):
        sentence("a b c d", [("A", 0, 3), ("B", 2, 7)])
    with pytest.raises(CorpusError, match=r"span 'A': give \(start, end\)"):
        sentence("a b", {"A": 3})
    with pytest.raises(CorpusError, match="empty text"):
        sentence("   ")
    s = sentence("a b c", [("A", 0, 1), ("A", 4, 5)], id="mine", meta={"k": 1})
    assert (s.id, [(x.label, x.first, x.last) for x in s.spans], s.meta) == ("mine", [("A", 0, 1), ("A", 2, 3)], {"k": 1})
