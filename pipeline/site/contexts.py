"""What the site shows, as data: what it reads from a store, page contexts and safe file names.

Everything here is a pure function of the store's contents (no clock, no
randomness), so the same store gives a byte-identical site.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import urllib.parse
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from pipeline import __version__
from pipeline.errors import SiteError
from pipeline.measures import MEASURES, get_measure, stored_measures
from pipeline.site.gold import sentence_arcs
from pipeline.site.names import head_page_pattern
from pipeline.site.parts import PartView, get_part_views, parts_payload, store_parts, target_payload
from pipeline.site.series_sentence import series_payload

log = logging.getLogger(__name__)

SLUG_CHARS = 40
SLUG_HASH = 12  # hex digits of the id's sha256 at the end of a page name
PAGE_NAME_MAX = SLUG_CHARS + 1 + SLUG_HASH  # the longest page name (ASCII)
MODEL_CARD = ("name", "revision", "weights_sha256", "tokenizer", "max_length", "architecture")


def rel_url(path: str, root: str) -> str:
    """A site path (e.g. "sentences/x.html") as a URL relative to a page `root` ("" or "../")."""
    return root + urllib.parse.quote(path, safe="/")


class SiteSentence(Protocol):
    """One stored sentence, as much of it as the site reads (pipeline.store.SentenceRecord has it)."""

    @property
    def id(self) -> str: ...
    @property
    def text(self) -> str: ...
    @property
    def words(self) -> list[str]: ...
    @property
    def spans(self) -> list[tuple[str, int, int]]: ...  # (label, first_word, last_word_exclusive)
    @property
    def meta(self) -> dict[str, Any]: ...
    @property
    def truncated(self) -> bool: ...
    @property
    def tokens(self) -> list[str]: ...

    def word_maps(self, measure: str) -> tuple[np.ndarray, np.ndarray]:
        """Word maps (layer, head, from, to) and special shares (layer, head, from), float32."""
        ...


class SiteStore(Protocol):
    """What the site reads from a store (pipeline.store.AtlasStore has it; so does
    pipeline.testing.FakeStore)."""

    @property
    def ids(self) -> list[str]: ...  # in corpus order
    @property
    def model(self) -> dict[str, Any]: ...  # name, n_layers, n_heads, causal, ...
    @property
    def info(self) -> dict[str, Any]: ...  # measures, pipeline_version, quantization, ...

    def __len__(self) -> int: ...
    def __getitem__(self, key: int | str) -> SiteSentence: ...

    def storage_order(self) -> list[int]:
        """Every sentence position once, in the order that reads the store fastest."""
        ...


@dataclass(frozen=True)
class MeasureView:
    """A measure as the site offers it: its name, colour-bar title and domain, maps per layer,
    and where its data and specs are (the data script's name after the page name, the specs'
    keys in assets/specs.js)."""

    name: str
    title: str
    domain: tuple[float, float]
    heads: int  # 1 for per-layer measures (rollout): the grid is one column
    suffix: str  # data/<page><suffix>.js: "" for the site's default measure, ".<name>" else
    # keys of window.atlasSpecs (assets/specs.js):
    detail: str  # the detail spec with this measure's colour bar
    grid: str  # the grid spec for `heads` columns
    figure: str = "figure"  # the downloadable figure (assets/figure.js)
    head_pages: bool = False  # the site has its head pages (heads/<name>/, the corpus view)
    parts: tuple[PartView, ...] = ()  # an encoder-decoder model's parts of it (pipeline.site.parts)


@dataclass(frozen=True)
class SiteContext:
    """What every page shows about the site: the model card, the measure and its colour domain."""

    title: str
    model: dict[str, Any]  # name, revision, weights_sha256, n_layers, n_heads, causal, ...
    n_layers: int
    n_heads: int
    causal: bool
    measure: str  # the store's measure name, e.g. "attention"
    measure_label: str  # the colour bar's title, e.g. "saliency"
    domain: tuple[float, float]
    pipeline_version: str
    quantization: dict[str, Any]
    measures: tuple[MeasureView, ...] = ()  # the stored measures the pages offer, default first
    series: Any = None  # a series site: pipeline.site.series_view.SeriesView; None: one model
    gold: bool = False  # the corpus has gold dependency arcs (.conllu): pipeline.site.gold
    parts: tuple[str, ...] = ()  # an encoder-decoder model's parts (the default first); () else


@dataclass(frozen=True)
class SpanRow:
    """A span as the page lists it: label, 1-based first and last word, and its words."""

    label: str
    first: int
    last: int
    text: str


@dataclass(frozen=True)
class SentenceContext:
    """A sentence page: its words and spans, neighbours, and the JSON its script reads."""

    site: SiteContext
    position: int  # 0-based, in corpus order
    number: int  # 1-based, as shown
    total: int
    id: str
    text: str
    words: list[str]
    spans: list[tuple[str, int, int]]  # (label, first_word, last_word_exclusive)
    span_rows: list[SpanRow]
    meta: list[tuple[str, Any]]  # sorted (key, value as stored): the filters meta_value, meta_full
    truncated: bool
    n_tokens: int
    page: str  # file name stem
    prev_href: str | None  # the neighbours' pages, relative to this one
    next_href: str | None
    payload: dict[str, Any] = field(repr=False)  # embedded as JSON for assets/sentence.js
    root: str = "../"
    target: dict[str, Any] | None = None  # an encoder-decoder model's target (parts.target_payload)


def slugify(sid: str) -> str:
    """A safe, unique file name stem for an id: [A-Za-z0-9_-] prefix + a hash of the whole id."""
    digest = id_hash(sid)[:SLUG_HASH]
    prefix = re.sub(r"[^A-Za-z0-9_-]+", "-", sid)[:SLUG_CHARS].strip("-_")
    return f"{prefix}-{digest}" if prefix else digest


def id_hash(sid: str) -> str:
    """The SHA-256 of an id (UTF-8), in hex: the end of its page name, and the order in which
    sentences beyond the corpus view's exemplars get pages when the site has a size limit."""
    return hashlib.sha256(sid.encode("utf-8", "surrogatepass")).hexdigest()


def get_page_names(ids: list[str]) -> list[str]:
    """File name stems for ids, in order; two ids never share one (even case-insensitively)."""
    names = [slugify(sid) for sid in ids]
    seen: dict[str, int] = {}
    for i, (sid, name) in enumerate(zip(ids, names, strict=True)):
        other = seen.setdefault(name.lower(), i)
        if other != i:  # a repeated id, or a 48-bit hash collision: never silently merged
            raise SiteError(f"sentences {other + 1} ({ids[other]!r}) and {i + 1} ({sid!r}) would "
                            f"share the page {name!r}; ids must be unique")
    return names


def get_span_tracks(spans: list[tuple[str, int, int]]) -> list[int]:
    """A bracket row per span so that overlapping spans never share a row (greedy, in order)."""
    ends: list[int] = []  # per track, the last word (exclusive) taken so far
    tracks = []
    for _, first, last in spans:
        track = next((t for t, end in enumerate(ends) if end <= first), len(ends))
        if track == len(ends):
            ends.append(last)
        else:
            ends[track] = max(ends[track], last)
        tracks.append(track)
    return tracks


def get_spans(rec: SiteSentence, n_words: int) -> list[tuple[str, int, int, int]]:
    """The spans drawn over the first `n_words` words (the stored maps' width), each with its
    row of brackets: (label, first_word, last_word_exclusive, track)."""
    spans = [(str(label), int(a), int(min(b, n_words))) for label, a, b in rec.spans if a < n_words]
    return [(*span, track) for span, track in zip(spans, get_span_tracks(spans), strict=True)]


def get_measure_views(store: SiteStore, default: str, label: str,
                      domain: tuple[float, float]) -> tuple[MeasureView, ...]:
    """Every measure the store holds, the site's default first (with the configured title and
    domain); the others with their registry titles and domains."""
    stored = stored_measures(store.info)
    names = [default, *(m for m in MEASURES if m in stored and m != default)]
    views = []
    for name in names:
        measure = get_measure(name)
        heads = 1 if measure.per_layer else int(store.model["n_heads"])
        is_default = name == default
        detail = "detail" if is_default else f"detail-{name}"
        grid = "grid" if heads == int(store.model["n_heads"]) else "grid-layers"
        figure = "figure" if is_default else f"figure-{name}"
        views.append(MeasureView(
            name=name, title=label if is_default else measure.title,
            domain=tuple(float(x) for x in (domain if is_default else measure.domain)),
            heads=heads, suffix="" if is_default else f".{name}",
            detail=detail, grid=grid, figure=figure,
            parts=get_part_views(store, name, measure.per_layer, detail, grid, figure)))
    return tuple(views)


def get_site_context(store: SiteStore, *, measure: str, measure_label: str,
                     domain: tuple[float, float], series: Any = None) -> SiteContext:
    """The site-wide context from the store's model and info (`series`: a SeriesView, for the
    site of a series built from this store, its reference checkpoint)."""
    model = dict(store.model)
    model.pop("path", None)  # a local folder: says nothing to a reader, leaks the build machine
    for key in MODEL_CARD:  # the card shows these when the store has them
        model.setdefault(key, None)
    info = store.info
    name = model.get("name") or "unknown model"
    return SiteContext(
        title=f"Attention Atlas: {name}", model=model, n_layers=int(model["n_layers"]),
        n_heads=int(model["n_heads"]), causal=bool(model.get("causal", False)), measure=measure,
        measure_label=measure_label, domain=(float(domain[0]), float(domain[1])),
        pipeline_version=str(info.get("pipeline_version", __version__)),
        quantization=dict(info.get("quantization") or {}),
        measures=get_measure_views(store, measure, measure_label, domain), series=series,
        parts=tuple(p for p in store_parts(store) if p != "self"))


def get_sentence_context(rec: SiteSentence, position: int, names: list[str], site: SiteContext,
                         n_words: int, neighbours: tuple[int | None, int | None] | None = None,
                         n_target_words: int | None = None) -> SentenceContext:
    """A sentence page's context; `n_words` is the width of its stored maps (`n_target_words`:
    of an encoder-decoder model's decoder maps). Previous and next are the neighbours in the
    corpus, or the positions `neighbours` gives (None: no link): a site without a page for
    every sentence links the nearest that have one."""
    if neighbours is None:
        neighbours = (position - 1 if position > 0 else None,
                      position + 1 if position + 1 < len(names) else None)
    before, after = neighbours
    page = names[position]
    words = list(rec.words[:n_words])
    spans_tracks = get_spans(rec, n_words)
    spans = [(label, a, b) for label, a, b, _ in spans_tracks]
    meta = sorted((str(k), v) for k, v in rec.meta.items())  # as stored: the page formats them
    payload = {  # what sentence.js reads; the page lists the meta
        "id": rec.id, "words": words, "page": page,
        "spans": [list(span) for span in spans_tracks],
        "data": f"../data/{page}.js",
        # the measures this page offers (the default first): its data script and the keys of
        # its specs in assets/specs.js (window.atlasSpecs)
        "measures": [{"name": m.name, "title": m.title, "heads": m.heads,
                      "data": f"../data/{page}{m.suffix}.js", "detail": m.detail, "grid": m.grid,
                      "headPage": "../" + head_page_pattern(m.name) if m.head_pages else None,
                      "figure": m.figure, **parts_payload(m, page)}
                     for m in site.measures],
    }
    specials = special_tokens(rec.tokens, getattr(rec, "word_index", None))
    if specials:  # the special tokens the note names ("[CLS], [SEP]", "<s>, </s>", ...)
        payload["specials"] = specials
    target = target_payload(rec, n_target_words) if site.parts else None
    if target is not None:  # an encoder-decoder model's: the rows of decoder and cross
        payload["target"] = target
    if site.series is not None:  # the checkpoints it offers (pipeline.site.series_sentence)
        payload["series"] = series_payload(site.series, site.measures, page)
    arcs = sentence_arcs(rec, n_words)
    if arcs:  # gold dependency arcs (.conllu): only a sentence that has them carries them
        payload["arcs"] = arcs
    rows = [SpanRow(label, a + 1, b, " ".join(words[a:b])) for label, a, b in spans]
    return SentenceContext(
        site=site, position=position, number=position + 1, total=len(names), id=rec.id,
        text=rec.text, words=words, spans=spans, span_rows=rows, meta=meta,
        truncated=bool(rec.truncated), n_tokens=len(rec.tokens), page=page,
        prev_href=f"{names[before]}.html" if before is not None else None,
        next_href=f"{names[after]}.html" if after is not None else None,
        payload=payload, target=target,
    )


def special_tokens(tokens, word_index) -> list[str]:
    """The distinct tokens of a sentence that belong to no word (its model's special tokens),
    in order of first appearance; [] when the record has no word index (a fake store's)."""
    if word_index is None:
        return []
    return list(dict.fromkeys(t for t, w in zip(tokens, word_index, strict=True) if w < 0))


def dumps(value: Any) -> str:
    """Compact, key-sorted JSON with non-ASCII kept (deterministic and small)."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))

