"""The store's writer on synthetic codes (pipeline.testing.write_store: the real writer, no
model): its memory stays flat however long the corpus."""

from __future__ import annotations

import numpy as np

from pipeline.store import CODES_CHUNK, AtlasStore
from pipeline.store.writer import StoreWriter
from pipeline.testing import random_corpus, synthetic_sentence, write_store


def long_rows(n: int, seed: int):
    """n sentences of 40 to 57 words, one token per word, with random maps (2 layers x 8 heads):
    about 16 x 50^2 bytes of codes each, so 400 of them fill 3+ chunks. Made one at a time."""
    rng = np.random.default_rng(seed)
    for item in random_corpus(n, seed, words=(40, 58)):
        words = item["text"].split(" ")
        tokens = len(words) + 2
        yield synthetic_sentence(item["id"], words), rng.random((2, 8, tokens, tokens), np.float32)


def test_the_writer_never_buffers_more_than_one_chunk(tmp_path, monkeypatch):
    seen: list[int] = []
    chunks_at_add: list[int] = []
    original = StoreWriter.add

    def add(self, record, codes):
        row = original(self, record, codes)
        seen.append(self._codes["attention"].buffered)
        chunks_at_add.append(self._codes["attention"].chunks)
        return row

    monkeypatch.setattr(StoreWriter, "add", add)
    write_store(tmp_path / "atlas.zarr", long_rows(400, seed=4), 2, 8)
    assert len(seen) == 400
    assert max(seen) < CODES_CHUNK
    # whole chunks were written (and committed) while sentences were still coming in
    assert chunks_at_add[-1] >= 2
    assert len(AtlasStore.open(tmp_path / "atlas.zarr")) == 400
