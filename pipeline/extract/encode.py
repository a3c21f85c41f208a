"""Encoding: tokenize sentences and align their tokens to words, giving what a store row records.

Needs the tokenizer only (no model, no torch).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from pipeline.records import Sentence, Skip
from pipeline.store import StoredSentence
from pipeline.words import align_tokens, merge_tokenless


@dataclass(frozen=True)
class Encoded:
    """A sentence tokenized and aligned: its model input and what the store records of it."""

    sentence: Sentence
    stored: StoredSentence
    input_ids: tuple[int, ...]  # (T,): an encoder-decoder's source
    # an encoder-decoder's decoder inputs (T_t,): [decoder start] + the target's ids; else None
    target_ids: tuple[int, ...] | None = None

    @property
    def key(self) -> str:
        """The content key: the codes depend on the text alone (for one model)."""
        return self.stored.key

    @property
    def n_tokens(self) -> int:
        """T, the number of model tokens (an encoder-decoder's: the source's)."""
        return len(self.input_ids)

    @property
    def n_target_tokens(self) -> int:
        """T_t, the decoder's inputs (0 for a model that is not an encoder-decoder)."""
        return len(self.target_ids) if self.target_ids is not None else 0

    @property
    def longest(self) -> int:
        """The longer side, source or target: what batching sorts and budgets by."""
        return max(self.n_tokens, self.n_target_tokens)


def content_key(text: str) -> str:
    """The content key of a text: its SHA-256 (the model is fixed per store)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def encode(sentences: list[Sentence], tokenizer, max_length: int) -> tuple[list[Encoded], list[Skip]]:
    """Tokenize every sentence, align tokens to words, and build its StoredSentence."""
    batch = tokenizer([s.text for s in sentences], truncation=True, max_length=max_length,
                      return_offsets_mapping=True, return_special_tokens_mask=True)
    encoded, skips = [], []
    for i, sentence in enumerate(sentences):
        ids, offsets = batch["input_ids"][i], [tuple(o) for o in batch["offset_mapping"][i]]
        special = [bool(m) or a == b for m, (a, b) in zip(batch["special_tokens_mask"][i], offsets,
                                                          strict=True)]
        if all(special):
            skips.append(Skip(sentence.source, "no tokens", "the tokenizer kept nothing of it",
                              sentence.id))
            continue
        # words past the last token were cut off by truncation (max_length)
        covered = max(b for (a, b), sp in zip(offsets, special, strict=True) if not sp)
        words = tuple(w for w in sentence.word_ranges if w[0] < covered)
        truncated = len(words) < len(sentence.word_ranges)
        word_index, tokenless = align_tokens(words, offsets, special)
        words, new_of_old = merge_tokenless(words, tokenless)
        if tokenless:
            word_index = [new_of_old[w] if w >= 0 else -1 for w in word_index]
        spans = []
        for span in sentence.spans:
            if span.first >= len(new_of_old):
                continue  # the span lies wholly in the truncated tail
            last = new_of_old[min(span.last, len(new_of_old)) - 1] + 1
            spans.append((span.label, new_of_old[span.first], last))
        arcs = remap_arcs(sentence.arcs, new_of_old)
        # not the corpus file:line: a line inserted above would change every later record
        stored = StoredSentence(
            id=sentence.id, key=content_key(sentence.text), text=sentence.text,
            tokens=tuple(tokenizer.convert_ids_to_tokens(ids)), word_ranges=tuple(words),
            word_index=tuple(word_index), spans=tuple(spans), meta=sentence.meta,
            truncated=truncated, arcs=arcs)
        encoded.append(Encoded(sentence, stored, tuple(ids)))
    return encoded, skips


def remap_arcs(arcs: tuple[tuple[int, int, str], ...], new_of_old: list[int]) -> tuple[
        tuple[int, int, str], ...]:
    """Dependency arcs over the stored words: an arc whose dependent or head was cut by
    truncation is dropped, as is one whose two ends were merged into one word."""
    kept = []
    for dep, head, rel in arcs:
        if dep >= len(new_of_old) or head >= len(new_of_old):
            continue
        new_dep, new_head = new_of_old[dep], (new_of_old[head] if head >= 0 else -1)
        if new_dep != new_head:
            kept.append((new_dep, new_head, rel))
    return tuple(kept)
