"""An encoder-decoder model's parts on the sentence page: encoder (source x source), decoder
(target x target) and cross (target rows x source columns), per measure.

A store of a self model (`store.parts == ["self"]`, or no `parts` at all) has none of this:
its pages, data and specs are what they were, byte for byte. An encoder-decoder store's page
offers each measure's parts (a measure without one, rollout's decoder say, falls back to the
page's default part, the first: encoder), each with its own data script (data/<page><m><p>.js:
`<m>` the measure's suffix, `<p>` "" for the default part, ".decoder" or ".cross" else), detail
spec (its rows' words and spans: the target's for decoder and cross) and grid (the decoder's
layers and heads for decoder and cross).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipeline.site.names import head_page_pattern
from pipeline.store.streams import part_layers_heads

SELF = "self"
PAIR_DEFAULT = "encoder"  # an encoder-decoder store's first part, what a page and a figure open on
PARTS_SCRIPT = "sentence-parts.js"  # assets/: the part selector, on an encoder-decoder model's site only
PART_TITLES = {"encoder": "encoder (source \u00d7 source)", "decoder": "decoder (target \u00d7 target)",
               "cross": "cross (target \u00d7 source)"}


@dataclass(frozen=True)
class PartView:
    """One part of one measure as the page offers it: its data script's suffix (after the
    measure's), its maps' layers and heads, and its specs' keys in assets/specs.js."""

    name: str  # "encoder", "decoder" or "cross"
    suffix: str  # "" for the site's default part (the first), ".<name>" else
    layers: int
    heads: int  # 1 for a per-layer measure (rollout)
    detail: str
    grid: str
    figure: str


def store_parts(store: Any) -> list[str]:
    """The parts a store holds: ["self"] for a self model (and a store that predates parts)."""
    return list(getattr(store, "parts", None) or [SELF])


def measure_parts(store: Any, measure: str) -> list[str]:
    """The parts one measure has in the store, in the store's order."""
    parts = store_parts(store)
    if parts == [SELF]:
        return parts
    return [p for p in parts if p in store.measure_parts(measure)]


def grid_key(model: dict[str, Any], layers: int, heads: int, per_layer: bool, default: str) -> str:
    """The grid spec's key of a part of `layers` x `heads` maps: the measure's own (`default`)
    where that is the encoder's shape, else one of its own ("grid-<L>x<H>")."""
    same = layers == int(model["n_layers"]) and heads == (1 if per_layer else int(model["n_heads"]))
    return default if same else f"grid-{layers}x{heads}"


def get_part_views(store: Any, name: str, per_layer: bool, detail: str, grid: str,
                   figure: str) -> tuple[PartView, ...]:
    """The parts of measure `name` as its page offers them (none for a self model's store);
    `detail`, `grid`, `figure`: the measure's spec keys, which its default part keeps."""
    parts = store_parts(store)
    if parts == [SELF]:
        return ()
    views = []
    for part in measure_parts(store, name):
        layers, heads = part_layers_heads(store.model, part)
        heads = 1 if per_layer else heads
        own = "" if part == parts[0] else f".{part}"
        views.append(PartView(name=part, suffix=own, layers=layers, heads=heads,
                              detail=detail + own,
                              grid=grid_key(store.model, layers, heads, per_layer, grid),
                              figure=figure + own))
    return tuple(views)


def target_payload(rec: Any, n_words: int | None = None) -> dict[str, Any] | None:
    """The page's target (the words of its rows on decoder and cross, and their spans with
    their bracket rows, cut to the maps' `n_words`), or None for a sentence without one."""
    from pipeline.site.contexts import get_span_tracks, special_tokens  # contexts imports this

    target = getattr(rec, "target", None)
    if target is None:
        return None
    words = list(rec.target_words)[:n_words]
    n = len(words)
    spans = [(str(label), int(a), int(min(b, n))) for label, a, b in rec.target_spans if a < n]
    tracks = get_span_tracks(spans)
    payload = {"text": target, "words": words, "generated": bool(rec.target_generated),
               "spans": [[*span, track] for span, track in zip(spans, tracks, strict=True)]}
    specials = special_tokens(rec.target_tokens, rec.target_word_index)
    if specials:  # the decoder's start token and EOS, which its special-token note names
        payload["specials"] = specials
    return payload


def parts_payload(view: Any, page: str) -> dict[str, Any]:
    """A measure's parts as its page's JSON lists them ({} for a self model's): each part's
    data script, spec keys, layers and heads, and its head pages' address (None without)."""
    if not view.parts:
        return {}
    return {"parts": [{"name": p.name, "title": PART_TITLES[p.name],
                       "data": f"../data/{page}{view.suffix}{p.suffix}.js", "detail": p.detail,
                       "grid": p.grid, "figure": p.figure, "layers": p.layers, "heads": p.heads,
                       # its head pages (heads/attention.cross/: pipeline.site.head_pages)
                       "headPage": "../" + head_page_pattern(view.name, p.name)
                                   if view.head_pages else None}
                      for p in view.parts]}


def part_sides(rec: Any, part: str, n_rows: int, n_columns: int) -> tuple[tuple[list, list], ...]:
    """((row words, row spans), (column words, column spans)) of a part's maps of `n_rows` x
    `n_columns` words: the source's on the encoder's side, the target's on the decoder's (the
    rows of cross, both of decoder); spans as the charts take them ({i, label, first, last,
    track}), cut to the maps."""
    from pipeline.site.contexts import get_span_tracks  # contexts imports this module

    def side(target: bool, n: int) -> tuple[list, list]:
        words = list(rec.target_words if target else rec.words)[:n]
        spans = [(str(label), int(a), int(min(b, n)))
                 for label, a, b in (rec.target_spans if target else rec.spans) if a < n]
        return words, [{"i": i, "label": label, "first": a, "last": b, "track": track}
                       for i, ((label, a, b), track) in enumerate(zip(spans, get_span_tracks(spans),
                                                                      strict=True))]

    return side(part in ("decoder", "cross"), n_rows), side(part == "decoder", n_columns)
