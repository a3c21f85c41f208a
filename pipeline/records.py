"""Records that pass between stages: frozen dataclasses with named shapes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Span:
    """A labelled run of words: words[first:last] (last exclusive)."""

    label: str
    first: int
    last: int


Arc = tuple[int, int, str]  # (dependent word, head word or -1 for the root, relation)


@dataclass(frozen=True)
class Sentence:
    """One corpus sentence, as read and validated by `pipeline.corpus`.

    `word_ranges` are the words' character ranges into `text` (end exclusive), in
    order and non-overlapping; `spans` index into them. `arcs` are the sentence's
    dependency arcs where the corpus has them (`.conllu`): (dependent, head, relation)
    over word indices, head -1 for the root. `source` is the file and 1-based line
    the sentence came from, for error messages. `target` is the target of a source
    -> target pair (`.jsonl` "target", for encoder-decoder models; None: the model
    generates one), with its words' character ranges and its spans over them, as for
    the text.
    """

    id: str
    text: str
    word_ranges: tuple[tuple[int, int], ...]
    spans: tuple[Span, ...] = ()
    meta: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    source: tuple[str, int] = ("", 0)
    arcs: tuple[Arc, ...] = ()
    target: str | None = None
    target_word_ranges: tuple[tuple[int, int], ...] = ()
    target_spans: tuple[Span, ...] = ()

    @property
    def words(self) -> list[str]:
        """The words as strings, in order."""
        return [self.text[a:b] for a, b in self.word_ranges]

    @property
    def target_words(self) -> list[str]:
        """The target's words as strings, in order ([] without a target)."""
        return [self.target[a:b] for a, b in self.target_word_ranges] if self.target else []


@dataclass(frozen=True)
class Skip:
    """A corpus item that was left out, and why; counted in the run's summary."""

    source: tuple[str, int]
    reason: str  # a short category, e.g. "duplicate id"; summaries count by it
    detail: str = ""  # the particulars, e.g. which id and where it was first seen
    id: str | None = None


@dataclass
class CorpusReport:
    """What reading a corpus produced: the sentences, in corpus order, and the skips."""

    sentences: list[Sentence]
    skipped: list[Skip] = field(default_factory=list)

    def skip_counts(self) -> dict[str, int]:
        """Skips counted by reason, sorted by reason."""
        counts: dict[str, int] = {}
        for skip in self.skipped:
            counts[skip.reason] = counts.get(skip.reason, 0) + 1
        return dict(sorted(counts.items()))
