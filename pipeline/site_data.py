"""What the site shows, as data: page contexts, safe file names, and each sentence's binary maps.

Everything here is a pure function of the store's contents (no clock, no
randomness), so the same store gives a byte-identical site.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import re
import struct
import zlib
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pipeline import __version__
from pipeline.errors import SiteError
from pipeline.store import quantize

log = logging.getLogger(__name__)

# Per-sentence binary: MAGIC, then <u2 version, n_layers, n_heads, n_words>, then the
# word maps' codes (L, H, W, W) row-major, then the special shares' codes (L, H, W);
# code = round(value * 255), so a decoded value is within 1/510 of the store's.
MAGIC = b"ATLS"
FORMAT = 1
HEADER = struct.Struct("<4sHHHH")
# Deflate with run-length matching only: attention codes are mostly small values with runs
# and few long repeats, so on real maps this is 8% smaller than gzip -6 and 5 times faster.
DEFLATE = dict(level=6, method=zlib.DEFLATED, wbits=-15, memLevel=9, strategy=zlib.Z_RLE)
GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"  # no name, mtime 0, OS unknown
SLUG_CHARS = 40
MODEL_CARD = ("name", "revision", "weights_sha256", "tokenizer", "max_length", "architecture")


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


@dataclass(frozen=True)
class IndexRow:
    """One sentence's line in the index (and in index.json)."""

    id: str
    page: str  # file name stem under sentences/ and data/
    text: str
    n_words: int
    labels: tuple[str, ...]  # its span labels, in order of first appearance
    truncated: bool


@dataclass(frozen=True)
class IndexContext:
    """The index page: the model card, a corpus summary, and where the sentence list lives."""

    site: SiteContext
    n_sentences: int
    n_words: int
    n_truncated: int
    spans_by_label: list[tuple[str, int]]  # (label, spans with it), sorted by label
    root: str = ""  # relative path from this page to the site's root


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
    meta: list[tuple[str, str]]  # sorted (key, value as text)
    truncated: bool
    n_tokens: int
    page: str  # file name stem
    prev_href: str | None  # the neighbours' pages, relative to this one
    next_href: str | None
    payload: dict[str, Any] = field(repr=False)  # embedded as JSON for assets/sentence.js
    root: str = "../"


def slugify(sid: str) -> str:
    """A safe, unique file name stem for an id: [A-Za-z0-9_-] prefix + a hash of the whole id."""
    digest = hashlib.sha256(sid.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    prefix = re.sub(r"[^A-Za-z0-9_-]+", "-", sid)[:SLUG_CHARS].strip("-_")
    return f"{prefix}-{digest}" if prefix else digest


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


def get_site_context(store, *, measure: str, measure_label: str,
                     domain: tuple[float, float]) -> SiteContext:
    """The site-wide context from the store's model and info."""
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
    )


def get_index_row(rec, page: str) -> IndexRow:
    """A sentence's index line."""
    labels = tuple(dict.fromkeys(label for label, _, _ in rec.spans))
    return IndexRow(id=rec.id, page=page, text=rec.text, n_words=len(rec.words),
                    labels=labels, truncated=bool(rec.truncated))


def get_index_context(site: SiteContext, rows: list[IndexRow],
                      span_counts: Counter[str]) -> IndexContext:
    """The index page's context from every sentence's index line."""
    return IndexContext(
        site=site, n_sentences=len(rows), n_words=sum(r.n_words for r in rows),
        n_truncated=sum(r.truncated for r in rows), spans_by_label=sorted(span_counts.items()),
    )


def get_index_json(rows: list[IndexRow]) -> bytes:
    """index.json: column names and one compact array per sentence, in corpus order."""
    columns = ["id", "page", "text", "words", "labels", "truncated"]
    data = [[r.id, r.page, r.text, r.n_words, list(r.labels), int(r.truncated)] for r in rows]
    return dumps({"columns": columns, "rows": data}).encode("utf-8")


def get_sentence_context(rec, position: int, names: list[str], site: SiteContext,
                         n_words: int) -> SentenceContext:
    """A sentence page's context; `n_words` is the width of its stored maps."""
    page = names[position]
    words = list(rec.words[:n_words])
    spans = [(str(label), int(a), int(min(b, n_words))) for label, a, b in rec.spans if a < n_words]
    tracks = get_span_tracks(spans)
    meta = sorted((str(k), v if isinstance(v, str) else dumps(v)) for k, v in rec.meta.items())
    payload = {
        "id": rec.id, "words": words, "meta": dict(sorted(rec.meta.items())),
        "spans": [[label, a, b, t] for (label, a, b), t in zip(spans, tracks, strict=True)],
        "data": f"../data/{page}.bin", "layers": site.n_layers, "heads": site.n_heads,
        "causal": site.causal, "measure": site.measure_label, "domain": list(site.domain),
        "truncated": bool(rec.truncated),
    }
    rows = [SpanRow(label, a + 1, b, " ".join(words[a:b])) for label, a, b in spans]
    return SentenceContext(
        site=site, position=position, number=position + 1, total=len(names), id=rec.id,
        text=rec.text, words=words, spans=spans, span_rows=rows, meta=meta,
        truncated=bool(rec.truncated), n_tokens=len(rec.tokens), page=page,
        prev_href=f"{names[position - 1]}.html" if position > 0 else None,
        next_href=f"{names[position + 1]}.html" if position + 1 < len(names) else None,
        payload=payload,
    )


def get_word_maps(rec, measure: str = "attention") -> tuple[np.ndarray, np.ndarray]:
    """A record's word maps (L, H, W, W) and special shares (L, H, W)."""
    if hasattr(rec, "word_maps"):
        return rec.word_maps(measure)  # one pass gives both
    return rec.word_attention(), rec.special_share()


def encode_maps(maps: np.ndarray, special: np.ndarray) -> bytes:
    """Word maps (L, H, W, W) and special shares (L, H, W) -> the gzipped 8-bit binary."""
    n_layers, n_heads, n_words, _ = maps.shape
    assert special.shape == (n_layers, n_heads, n_words), (maps.shape, special.shape)
    header = HEADER.pack(MAGIC, FORMAT, n_layers, n_heads, n_words)
    body = header + quantize(maps).tobytes() + quantize(special).tobytes()
    return gzip_bytes(body)


def gzip_bytes(data: bytes) -> bytes:
    """A gzip member with a fixed header, so the same data gives the same bytes anywhere."""
    deflate = zlib.compressobj(**DEFLATE)
    body = deflate.compress(data) + deflate.flush()
    return GZIP_HEADER + body + struct.pack("<II", zlib.crc32(data), len(data) & 0xFFFFFFFF)


def decode_maps(blob: bytes) -> tuple[np.ndarray, np.ndarray]:
    """The inverse of encode_maps, as float32 values: (L, H, W, W) maps, (L, H, W) shares."""
    body = gzip.decompress(blob) if blob[:2] == b"\x1f\x8b" else blob
    magic, version, n_layers, n_heads, n_words = HEADER.unpack_from(body)
    if magic != MAGIC or version != FORMAT:
        raise ValueError(f"not an atlas sentence file (magic {magic!r}, version {version})")
    codes = np.frombuffer(body, np.uint8, offset=HEADER.size)
    size = n_layers * n_heads * n_words * n_words
    maps = codes[:size].reshape(n_layers, n_heads, n_words, n_words)
    special = codes[size:].reshape(n_layers, n_heads, n_words)
    return maps.astype(np.float32) / 255, special.astype(np.float32) / 255


def dumps(value: Any) -> str:
    """Compact, key-sorted JSON with non-ASCII kept (deterministic and small)."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def script_json(value: Any) -> str:
    """JSON safe inside a <script> element: no `<`, `>`, `&` or line separators to break out."""
    text = dumps(value)
    for char, escape in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                         ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(char, escape)
    return text
