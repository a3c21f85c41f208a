"""The stored sentence: what a store row records besides its codes (index/record, as JSON)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from pipeline.records import Sentence


@dataclass(frozen=True)
class StoredSentence:
    """A sentence as encoded for one model: its tokens, words and spans, as a row records them.

    `word_ranges` are the words' character ranges in `text` (after merging words
    that received no token, and cutting those past a truncation); `word_index`
    maps each of the T tokens to its word, -1 for special tokens; `spans` are
    (label, first_word, last_word_exclusive) over those words; `arcs` the dependency
    arcs (dependent, head or -1 for the root, relation) over those words, for
    corpora that have them (`.conllu`).

    For an encoder-decoder (a source -> target pair), `text` is the source and `target` the
    target (None for a model with one stack): `target_tokens` are the T_t DECODER INPUT
    tokens (the decoder's start token, then the target's tokens, ending with EOS), mapped
    to the target's words by `target_word_index` (-1 for special tokens); `target_spans`
    index the target's words. `target_generated`: the model generated the target (greedy);
    `target_truncated`: target words were cut by the model's length.
    """

    id: str
    key: str  # content key: the codes depend on the text alone (for one model)
    text: str
    tokens: tuple[str, ...]  # (T,)
    word_ranges: tuple[tuple[int, int], ...]  # (W,)
    word_index: tuple[int, ...]  # (T,)
    spans: tuple[tuple[str, int, int], ...]
    meta: dict[str, Any] = field(default_factory=dict)
    truncated: bool = False
    arcs: tuple[tuple[int, int, str], ...] = ()
    target: str | None = None
    target_tokens: tuple[str, ...] = ()  # (T_t,)
    target_word_ranges: tuple[tuple[int, int], ...] = ()  # (W_t,)
    target_word_index: tuple[int, ...] = ()  # (T_t,)
    target_spans: tuple[tuple[str, int, int], ...] = ()
    target_generated: bool = False
    target_truncated: bool = False

    @property
    def words(self) -> list[str]:
        """The words as strings, in order."""
        return [self.text[a:b] for a, b in self.word_ranges]

    @property
    def n_tokens(self) -> int:
        """T, the number of model tokens (the source's, for a pair)."""
        return len(self.tokens)

    @property
    def target_words(self) -> list[str]:
        """The target's words as strings, in order ([] without a target)."""
        return [self.target[a:b] for a, b in self.target_word_ranges] if self.target else []

    @property
    def n_target_tokens(self) -> int:
        """T_t, the number of decoder input tokens (0 without a target)."""
        return len(self.target_tokens)

    def to_json(self) -> str:
        """The JSON the store keeps in index/record: sorted keys, non-ASCII kept ("arcs" only
        when there are some, the target's fields only with a target, so records without
        syntax or target read as they always did)."""
        record = {
            "id": self.id, "key": self.key, "text": self.text, "tokens": list(self.tokens),
            "word_ranges": [list(w) for w in self.word_ranges], "word_index": list(self.word_index),
            "spans": [list(s) for s in self.spans], "meta": self.meta, "truncated": self.truncated,
        }
        if self.arcs:
            record["arcs"] = [list(a) for a in self.arcs]
        if self.target is not None:
            record |= {"target": self.target, "target_tokens": list(self.target_tokens),
                       "target_word_ranges": [list(w) for w in self.target_word_ranges],
                       "target_word_index": list(self.target_word_index),
                       "target_spans": [list(s) for s in self.target_spans],
                       "target_generated": self.target_generated,
                       "target_truncated": self.target_truncated}
        return json.dumps(record, ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> StoredSentence:
        """The inverse of to_json; raises ValueError, KeyError or TypeError on a damaged record."""
        d = json.loads(text)
        return cls(id=d["id"], key=d["key"], text=d["text"], tokens=tuple(d["tokens"]),
                   word_ranges=tuple((int(a), int(b)) for a, b in d["word_ranges"]),
                   word_index=tuple(int(i) for i in d["word_index"]),
                   spans=tuple((str(label), int(a), int(b)) for label, a, b in d["spans"]),
                   meta=d["meta"], truncated=bool(d["truncated"]),
                   arcs=tuple((int(dep), int(head), str(rel))
                              for dep, head, rel in d.get("arcs", ())),
                   **(_target_fields(d) if d.get("target") is not None else {}))

    def encodes(self, sentence: Sentence) -> bool:
        """True when encoding `sentence` with this store's model gives exactly this record.

        Decided without the tokenizer: same id, text, meta, words and spans, and
        no word merged or cut (those depend on the tokens, so they need the model).
        The tokens themselves depend on the text alone, for one model. A pair's record
        (with a target) encodes a sentence without target when its target was generated
        (the same model generates the same), else one with the same target, words and
        spans; a record without target (a model with one stack) ignores a given target.
        """
        return (self.id == sentence.id and self.text == sentence.text
                and not self.truncated and self.word_ranges == sentence.word_ranges
                and self.spans == tuple((s.label, s.first, s.last) for s in sentence.spans)
                and self.arcs == sentence.arcs
                and _same_json(self.meta, sentence.meta) and self._encodes_target(sentence))

    def _encodes_target(self, sentence: Sentence) -> bool:
        """The target's part of `encodes`."""
        if self.target is None:
            return True
        if sentence.target is None:
            return self.target_generated
        return (not self.target_generated and not self.target_truncated
                and self.target == sentence.target
                and self.target_word_ranges == sentence.target_word_ranges
                and self.target_spans == tuple((s.label, s.first, s.last)
                                               for s in sentence.target_spans))


def _target_fields(d: dict) -> dict[str, Any]:
    """A record's target fields, from its JSON."""
    return {"target": str(d["target"]), "target_tokens": tuple(d["target_tokens"]),
            "target_word_ranges": tuple((int(a), int(b)) for a, b in d["target_word_ranges"]),
            "target_word_index": tuple(int(i) for i in d["target_word_index"]),
            "target_spans": tuple((str(label), int(a), int(b)) for label, a, b in d["target_spans"]),
            "target_generated": bool(d["target_generated"]),
            "target_truncated": bool(d["target_truncated"])}


def _same_json(a: Any, b: Any) -> bool:
    """Equal as the store writes them: as JSON, where tuples and lists are alike."""
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
