"""Encoding: tokenize sentences and align their tokens to words, giving what a store row records.

An encoder-decoder's sentence is a pair: its source (the text) and its target, each side
aligned to its own words; the target's side is the decoder's inputs, [decoder start] + the
target's tokens. Needs the tokenizer only (no model, no torch).
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection
from dataclasses import dataclass

from pipeline.records import Sentence, Skip
from pipeline.store import StoredSentence
from pipeline.words import align_tokens, is_separator, merge_tokenless, split_words

SPACE_MARKS = "\u2581\u0120 "  # how SentencePiece (▁) and byte-level BPE (Ġ) write a space


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
        """The content key: the codes depend on the text alone (for one model), a pair's on its
        text and given target (a generated target: on the text alone; see content_key)."""
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


def content_key(text: str, target: str | None = None) -> str:
    """The content key of a text (the model is fixed per store): its SHA-256; a pair's with a
    given target: that of text NUL target (a generated target depends on the text alone)."""
    keyed = text if target is None else text + "\x00" + target
    return hashlib.sha256(keyed.encode("utf-8")).hexdigest()[:32]


@dataclass(frozen=True)
class Side:
    """One side of a sentence tokenized and aligned to its words (the source, or a target)."""

    ids: tuple[int, ...]  # (T,)
    tokens: tuple[str, ...]  # (T,)
    word_ranges: tuple[tuple[int, int], ...]  # (W,) after merging and truncation
    word_index: tuple[int, ...]  # (T,) -1 for special tokens
    spans: tuple[tuple[str, int, int], ...]
    new_of_old: list[int]  # each given word's index among word_ranges
    truncated: bool


def tokenize(tokenizer, texts: list[str], max_length: int, *, target: bool = False) -> list[
        tuple[list[int], list[tuple[int, int]], list[bool]]]:
    """Each text's (ids, character offsets, special) as the model takes it (a pair's target:
    `text_target`). A fast tokenizer gives the offsets; a slow one's (Marian's) are found by
    `find_offsets`."""
    fast = getattr(tokenizer, "is_fast", False)
    texts = list(texts)
    kwargs = {"text_target" if target else "text": texts, "truncation": True,
              "max_length": max_length, "return_special_tokens_mask": True,
              "return_offsets_mapping": fast}
    batch = tokenizer(**kwargs)
    out = []
    for i, text in enumerate(texts):
        ids, mask = list(batch["input_ids"][i]), [bool(m) for m in batch["special_tokens_mask"][i]]
        if fast:
            offsets = [tuple(o) for o in batch["offset_mapping"][i]]
            special = [m or a == b for m, (a, b) in zip(mask, offsets, strict=True)]
        else:
            offsets = find_offsets(tokenizer, text, ids, mask)
            special = mask
        out.append((ids, offsets, special))
    return out


def find_offsets(tokenizer, text: str, ids: list[int], special: list[bool]) -> list[
        tuple[int, int]]:
    """Character offsets of a slow tokenizer's tokens (it gives none), found in the text in
    order: each token's surface (convert_tokens_to_string), with or without its leading space,
    where only separators (whitespace, control, format characters) lie between it and the
    previous token, or anywhere on after a token that was not found. A token not found (an
    unknown token, a byte of a character, text the tokenizer normalised) gets the characters
    between its found neighbours, less separators at either end (none: zero width, so it goes
    to the next word, as a lone space token does); special tokens get (0, 0)."""
    lower = text.lower() if len(text.lower()) == len(text) else text
    found: list[tuple[int, int] | None] = []
    pos, lost = 0, False  # lost: a token with a surface was not found since the last match
    for token, is_special in zip(tokenizer.convert_ids_to_tokens(ids), special, strict=True):
        if is_special:
            found.append((0, 0))
            continue
        surface = tokenizer.convert_tokens_to_string([token])
        place = None
        if "\ufffd" not in surface:  # not a byte of a character
            for needle in dict.fromkeys(n for n in (surface, surface.lstrip()) if n):
                for haystack, wanted in ((text, needle), (lower, needle.lower())):
                    j = haystack.find(wanted, pos)
                    if j >= 0 and (lost or all(is_separator(c) for c in text[pos:j])):
                        place = (j, j + len(wanted))
                        break
                if place:
                    break
        found.append(place)
        if place:
            pos, lost = place[1], False
        elif surface.strip() or token.strip(SPACE_MARKS):  # not a lone space token
            lost = True
    offsets: list[tuple[int, int]] = []
    for k, place in enumerate(found):
        if place is None:  # between the found neighbours
            start = max([f[1] for f, sp in zip(found[:k], special, strict=False)
                         if f is not None and not sp] or [0])
            after = [f[0] for f, sp in zip(found[k + 1:], special[k + 1:], strict=True)
                     if f is not None and not sp]
            end = max(after[0] if after else len(text), start)
            while start < end and is_separator(text[start]):
                start += 1
            while end > start and is_separator(text[end - 1]):
                end -= 1
            place = (start, end)
        offsets.append(place)
    return offsets


def align(words: tuple[tuple[int, int], ...], spans, tokenized, tokenizer) -> Side | None:
    """A side aligned to its words (pipeline/words.py's rule: each token to the word it overlaps
    most; words past the last token cut by truncation, words without a token merged into a
    neighbour, spans and their words remapped); None when the tokenizer kept no token."""
    ids, offsets, special = tokenized
    if all(special):
        return None
    covered = max(b for (a, b), sp in zip(offsets, special, strict=True) if not sp)
    kept = tuple(w for w in words if w[0] < covered)
    word_index, tokenless = align_tokens(kept, offsets, special)
    merged, new_of_old = merge_tokenless(kept, tokenless)
    if tokenless:
        word_index = [new_of_old[w] if w >= 0 else -1 for w in word_index]
    remapped = []
    for span in spans:
        if span.first >= len(new_of_old):
            continue  # the span lies wholly in the truncated tail
        last = new_of_old[min(span.last, len(new_of_old)) - 1] + 1
        remapped.append((span.label, new_of_old[span.first], last))
    return Side(tuple(ids), tuple(tokenizer.convert_ids_to_tokens(ids)), tuple(merged),
                tuple(word_index), tuple(remapped), new_of_old, len(kept) < len(words))


def encode(sentences: list[Sentence], tokenizer, max_length: int, *,
           decoder_start: int | None = None, generated: Collection[str] = ()) -> tuple[
        list[Encoded], list[Skip]]:
    """Tokenize every sentence, align tokens to words, and build its StoredSentence.

    decoder_start: an encoder-decoder's decoder start token; every sentence then carries its
    target (given, or generated: its id in `generated`), whose decoder inputs are
    [decoder_start] + tokenizer(text_target=target).input_ids, cut to max_length."""
    sources = tokenize(tokenizer, [s.text for s in sentences], max_length)
    targets = [None] * len(sentences)
    if decoder_start is not None:
        targets = tokenize(tokenizer, [s.target or "" for s in sentences], max_length - 1,
                           target=True)
    encoded, skips = [], []
    for sentence, source, target in zip(sentences, sources, targets, strict=True):
        side = align(sentence.word_ranges, sentence.spans, source, tokenizer)
        if side is None:
            skips.append(Skip(sentence.source, "no tokens", "the tokenizer kept nothing of it",
                              sentence.id))
            continue
        fields: dict = {}
        target_ids = None
        key = content_key(sentence.text)
        if target is not None:
            words = sentence.target_word_ranges or split_words(sentence.target or "")
            tside = align(words, sentence.target_spans, target, tokenizer)
            if tside is None:
                skips.append(Skip(sentence.source, "empty target", "the target has no token "
                                  "but special ones (a generated target: the model generated "
                                  "nothing)", sentence.id))
                continue
            was_generated = sentence.id in generated
            target_ids = (decoder_start, *tside.ids)
            fields = {"target": sentence.target,
                      "target_tokens": (tokenizer.convert_ids_to_tokens(decoder_start),
                                        *tside.tokens),
                      "target_word_ranges": tside.word_ranges,
                      "target_word_index": (-1, *tside.word_index),
                      "target_spans": tside.spans, "target_generated": was_generated,
                      "target_truncated": tside.truncated}
            if not was_generated:
                key = content_key(sentence.text, sentence.target)
        # not the corpus file:line: a line inserted above would change every later record
        stored = StoredSentence(
            id=sentence.id, key=key, text=sentence.text, tokens=side.tokens,
            word_ranges=side.word_ranges, word_index=side.word_index, spans=side.spans,
            meta=sentence.meta, truncated=side.truncated,
            arcs=remap_arcs(sentence.arcs, side.new_of_old), **fields)
        encoded.append(Encoded(sentence, stored, side.ids, target_ids))
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
