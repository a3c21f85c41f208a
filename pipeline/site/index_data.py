"""The index page's data: each sentence's line (data/_index.js), the corpus summary and the
metadata filters, and how metadata values are shown (the Jinja filters meta_value, meta_full)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pipeline.site.contexts import SiteContext, SiteSentence, dumps

FILTER_VALUES = 12  # a meta key with 2 to this many distinct values gets a filter on the index


@dataclass(frozen=True)
class IndexRow:
    """One sentence's line in the index (and in data/_index.js)."""

    id: str
    page: str  # file name stem under sentences/ and data/
    text: str
    n_words: int
    labels: tuple[str, ...]  # its span labels, in order of first appearance
    truncated: bool
    meta: tuple[tuple[str, str], ...] = ()  # sorted (key, value as text), as the page lists them


@dataclass(frozen=True)
class IndexContext:
    """The index page: the model card, a corpus summary, and where the sentence list lives."""

    site: SiteContext
    n_sentences: int
    n_words: int
    n_truncated: int
    spans_by_label: list[tuple[str, int]]  # (label, spans with it), sorted by label
    filters: list[tuple[str, list[str]]] = field(default_factory=list)  # (meta key, its values)
    root: str = ""  # relative path from this page to the site's root
    n_pages: int | None = None  # sentences with a page (None: every sentence)
    budget: str = ""  # the site's size limit as shown, e.g. "1 GB"
    n_exemplars: int = 0  # sentences the head pages name (the corpus view's exemplars)
    n_exemplar_pages: int = 0  # of those, the ones with a page

    @property
    def partial(self) -> bool:
        """Some sentences have no page (the site's size limit)."""
        return self.n_pages is not None and self.n_pages < self.n_sentences


def get_meta_text(meta: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    """A sentence's meta as sorted (key, value as text): strings as they are, others as JSON."""
    return tuple(sorted((str(k), meta_full(v)) for k, v in meta.items()))


def meta_value(value: Any, digits: int = 4) -> str:
    """A metadata value as a sentence page shows it (a Jinja filter): a fraction to `digits`
    significant digits (55.55966241606604 -> 55.56), anything else as meta_full gives it."""
    if not isinstance(value, float) or not np.isfinite(value) or value == 0:
        return meta_full(value)
    if 1e-4 <= abs(value) < 1e15:  # positional, never an exponent: 1234567.8 -> 1235000
        return np.format_float_positional(value, precision=digits, fractional=False, trim="-")
    return f"{value:.{digits}g}"


def meta_full(value: Any) -> str:
    """A metadata value whole (a Jinja filter: the title; the index): a string as it is, else JSON."""
    return value if isinstance(value, str) else dumps(value)


def get_index_row(rec: SiteSentence, page: str) -> IndexRow:
    """A sentence's index line."""
    labels = tuple(dict.fromkeys(label for label, _, _ in rec.spans))
    return IndexRow(id=rec.id, page=page, text=rec.text, n_words=len(rec.words),
                    labels=labels, truncated=bool(rec.truncated), meta=get_meta_text(rec.meta))


def get_meta_values(rows: list[IndexRow]) -> dict[str, list[str]]:
    """Every meta key of the corpus (sorted) -> its distinct values (sorted)."""
    values: dict[str, set[str]] = {}
    for row in rows:
        for key, value in row.meta:
            values.setdefault(key, set()).add(value)
    return {key: sorted(values[key]) for key in sorted(values)}


def get_index_context(site: SiteContext, rows: list[IndexRow], span_counts: Counter[str], *,
                      n_pages: int | None = None, budget: str = "",
                      n_exemplars: int = 0) -> IndexContext:
    """The index page's context from every sentence's index line (the whole corpus, whether
    or not a sentence has a page: `n_pages` of them do); a meta key with 2 to FILTER_VALUES
    distinct values gets a filter."""
    filters = [(key, values) for key, values in get_meta_values(rows).items()
               if 2 <= len(values) <= FILTER_VALUES]
    return IndexContext(
        site=site, n_sentences=len(rows), n_words=sum(r.n_words for r in rows),
        n_truncated=sum(r.truncated for r in rows), spans_by_label=sorted(span_counts.items()),
        filters=filters, n_pages=n_pages, budget=budget, n_exemplars=n_exemplars,
    )


INDEX_COLUMNS = ["id", "page", "text", "words", "labels", "truncated", "meta"]


def get_index_data(rows: list[IndexRow], listed: list[int] | None = None,
                   partial: bool | None = None) -> dict[str, Any]:
    """The index's data: one compact array per sentence with a page, in corpus order. Meta
    values are numbered per key over the whole corpus (`meta`: {"keys": [...], "values":
    [[...], ...]}); a row's meta is one number per key, -1 where it has none.

    `rows`: every sentence's line; `listed`: the positions of those with a page (None: all).
    A partial site (some sentences without a page; `partial` forces the form) adds a column
    "n", each row's 0-based position in the corpus, and "sentences", the corpus's size."""
    listed = list(range(len(rows))) if listed is None else listed
    partial = len(listed) < len(rows) if partial is None else partial
    values = get_meta_values(rows)
    keys = list(values)
    number = {key: {v: n for n, v in enumerate(vs)} for key, vs in values.items()}
    data = []
    for n in listed:
        r = rows[n]
        own = dict(r.meta)
        codes = [number[k][own[k]] if k in own else -1 for k in keys]
        data.append([r.id, r.page, r.text, r.n_words, list(r.labels), int(r.truncated), codes,
                     *([n] if partial else [])])
    out = {"columns": INDEX_COLUMNS + (["n"] if partial else []),
           "meta": {"keys": keys, "values": list(values.values())}, "rows": data}
    if partial:
        out["sentences"] = len(rows)
    return out
