"""Reading the corpus view's statistics from a store: `store.head_stats(measure, part)` (the
layout and how they are computed: pipeline.stats.compute, docs/store.md). A stream's statistics
live in stats/<stream>: stats/<measure> in a self store, stats/<measure>.<part> in an
encoder-decoder's."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.errors import StaleStatsError, StoreError
from pipeline.measures import DEFAULT_MEASURE, check_stored
from pipeline.store.layout import PER_SENTENCE, catalog_name, stats_group
from pipeline.store.streams import split_stream


@dataclass(frozen=True)
class Dependency:
    """Dependency accuracy of every head for one relation, pooled over the corpus."""

    accuracy: np.ndarray  # float64 (L, H): correct arcs / arcs
    arcs: int
    baseline_accuracy: float  # the best fixed offset's accuracy
    baseline_offset: int  # that offset k: dependent + k == head


class HeadStats:
    """A measure's statistics for every head: `stats[name]` the corpus mean (L, H), and more.
    `part`: of an encoder-decoder's store (None: `self`, or `encoder`)."""

    def __init__(self, store, measure: str = DEFAULT_MEASURE, *, part: str | None = None) -> None:
        check_stored(measure, store.measures, str(store.path), StoreError)
        self.stream = stream = store.stream(measure, part)
        self.part = split_stream(stream)[1]
        name = stats_group(stream)
        root = store.location.open_group("r")
        state = dict(root[name].attrs).get("stats") if name in root else None
        if not state or "commit" not in state:
            raise StoreError(f"{store.path} has no statistics for measure {stream!r}; "
                             f"run `attention-atlas stats --store {store.path}`")
        commit = state["commit"]
        if commit["catalog_array"] != catalog_name(store.commit) or commit["catalog"] != len(store):
            raise StaleStatsError(f"{store.path}: the statistics of {stream!r} were computed for "
                                  f"an earlier corpus; run `attention-atlas stats --store {store.path}`")
        self._store, self._group, self.measure = store, root[name], measure
        self.names: list[str] = list(state["statistics"])
        self.shape: tuple[int, int] = tuple(state["shape"])
        self._span_defined = self._group["span_defined"][...]
        self._all_pairs = [tuple(p) for p in state["span_pairs"]]
        # pairs of the current corpus (the vocabulary keeps those of removed sentences too)
        self.span_pairs: list[tuple[str, str]] = [
            p for i, p in enumerate(self._all_pairs) if self._span_defined[i].max(initial=0) > 0]
        self.span_labels: list[str] = sorted({a for a, _ in self.span_pairs})
        self.relations: list[str] = list(state["relations"])
        self.offsets: list[int] = list(state["offsets"])
        self._mean = self._group["mean"][...]
        self._defined = self._group["defined"][...]

    def __getitem__(self, name: str) -> np.ndarray:
        """The corpus mean of a statistic, float64 (L, H); NaN where no sentence defines it."""
        return self._mean[self._k(name)]

    def defined(self, name: str) -> np.ndarray:
        """How many sentences define the statistic, per head, int64 (L, H)."""
        return self._defined[self._k(name)]

    def per_sentence(self, name: str) -> np.ndarray:
        """The statistic of every sentence, float32 (S, L, H) in `store.ids` order; NaN = undefined."""
        return self._group[f"{PER_SENTENCE}/{self.names[self._k(name)]}"][...]

    def span_mass(self, a: str, b: str) -> np.ndarray:
        """Corpus span mass a -> b, float64 (L, H): the attention words in spans `a` pay spans `b`."""
        return self._group["span_mean"][self._pair(a, b)]

    def span_mass_per_sentence(self, a: str, b: str) -> np.ndarray:
        """Span mass a -> b of every sentence, float32 (S, L, H); NaN where a or b is absent."""
        return self._group[f"{PER_SENTENCE}/span_mass"].get_orthogonal_selection(
            (slice(None), self._pair(a, b)))

    @property
    def dependency(self) -> dict[str, Dependency]:
        """relation -> Dependency, pooled over the corpus's arcs (relations with arcs only)."""
        if not self.relations:
            return {}
        correct = self._group["corpus_dep_correct"][...]
        arcs = self._group["corpus_dep_arcs"][...]
        offset = self._group["corpus_dep_offset"][...]
        out = {}
        for q, rel in enumerate(self.relations):
            if arcs[q] == 0:
                continue
            best = int(np.argmax(offset[q]))  # the first on a tie
            out[rel] = Dependency(correct[q] / arcs[q], int(arcs[q]),
                                  float(offset[q, best] / arcs[q]), int(self.offsets[best]))
        return out

    def dependency_per_sentence(self, relation: str) -> np.ndarray:
        """Each sentence's dependency accuracy for a relation, float32 (S, L, H): its correct arcs
        / its arcs of that relation; NaN where the sentence has none."""
        q = self._relation(relation)
        rows = self._store.catalog_rows
        correct = self._group["dep_correct"].get_orthogonal_selection((slice(None), q))[rows]
        arcs = self.dependency_arcs(relation)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(arcs[:, None, None] > 0,
                            correct / np.maximum(arcs, 1)[:, None, None], np.nan).astype(np.float32)

    def dependency_arcs(self, relation: str) -> np.ndarray:
        """Each sentence's arcs of a relation, int64 (S,) in `store.ids` order: the cases behind
        its dependency accuracy."""
        q = self._relation(relation)
        arcs = self._group["dep_arcs"].get_orthogonal_selection((slice(None), q))
        return arcs[self._store.catalog_rows].astype(np.int64)

    def _relation(self, relation: str) -> int:
        if relation not in self.relations:
            raise KeyError(f"no relation {relation!r} in the corpus; relations: "
                           f"{', '.join(self.relations) or 'none (not a .conllu corpus)'}")
        return self.relations.index(relation)

    def _k(self, name: str) -> int:
        if name not in self.names:
            raise KeyError(f"no statistic {name!r}; the statistics are: {', '.join(self.names)}")
        return self.names.index(name)

    def _pair(self, a: str, b: str) -> int:
        if (a, b) not in self.span_pairs:
            raise KeyError(f"no span pair {a!r} -> {b!r} in the corpus; span labels: "
                           f"{', '.join(self.span_labels) or 'none'}")
        return self._all_pairs.index((a, b))
