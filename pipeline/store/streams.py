"""Streams: the (measure, part) pairs a store keeps codes of, their names and their row shapes.

A self store (one stack: encoders, decoders) has one stream per measure, named as the measure
(`attention`, `rollout`): schema 2, unchanged. An encoder-decoder store (schema 3) has one
stream per measure and part, `<measure>.<part>` (`attention.encoder`, `attention.decoder`,
`attention.cross`, `rollout.encoder`), each with its own arrays under measures/<stream>/.
Which parts a measure has: `pipeline.measures.parts_of`. The row shapes:

    self      (L, H_m, T, T)
    encoder   (L_e, H_m, T_s, T_s)     L_e, H: the model's n_layers, n_heads
    decoder   (L_d, H_m, T_t, T_t)     L_d, H_d: n_decoder_layers, n_decoder_heads
    cross     (L_d, H_m, T_t, T_s)     rows: the target's tokens, columns: the source's

H_m is 1 for per-layer measures (rollout), else the stack's heads.
"""

from __future__ import annotations

from collections.abc import Sequence

from pipeline.errors import StoreError
from pipeline.measures import DEFAULT_MEASURE, PAIR_PARTS, SELF, get_measure, parts_of

SEPARATOR = "."


def stream_name(measure: str, part: str = SELF) -> str:
    """A stream's name: the measure's for part `self`, else `<measure>.<part>`."""
    return measure if part == SELF else f"{measure}{SEPARATOR}{part}"


def split_stream(stream: str) -> tuple[str, str]:
    """(measure, part) of a stream's name."""
    measure, dot, part = stream.partition(SEPARATOR)
    return (measure, part) if dot else (measure, SELF)


def store_parts(meta: dict) -> list[str]:
    """The parts of a store: ["self"] (also when its metadata names none), or PAIR_PARTS."""
    return list(meta.get("parts", [SELF]))


def is_pair_store(meta: dict) -> bool:
    """Whether a store holds an encoder-decoder's three parts."""
    return store_parts(meta) != [SELF]


def measure_parts(meta: dict, measure: str) -> list[str]:
    """The parts a store keeps of one measure (its metadata's `measure_parts`, else the
    registry's for the store's parts)."""
    listed = meta.get("measure_parts", {}).get(measure)
    return list(listed) if listed is not None else parts_of(measure, store_parts(meta))


def streams_of(measures: Sequence[str], parts: Sequence[str]) -> list[str]:
    """The streams of measures in a store of `parts`: per measure, in the order of `parts`."""
    return [stream_name(m, p) for m in measures for p in parts_of(m, parts)]


def store_streams(meta: dict) -> list[str]:
    """The streams of the measures a store lists."""
    return [stream_name(m, p) for m in meta["measures"] for p in measure_parts(meta, m)]


def default_part(meta: dict) -> str:
    """The part `part=None` means: `self` in a self store, `encoder` in an encoder-decoder one."""
    return store_parts(meta)[0]


def resolve_stream(meta: dict, measure: str = DEFAULT_MEASURE, part: str | None = None,
                   where: str = "the store") -> str:
    """The stream of (measure, part) in a store, or StoreError naming the parts it has (the
    measure is checked by the caller). `measure` may be a stream's name itself."""
    if SEPARATOR in measure and part is None:
        measure, part = split_stream(measure)
    part = default_part(meta) if part is None else part
    have = measure_parts(meta, measure)
    if part not in have:
        parts = store_parts(meta)
        why = (f"measure {measure!r} has the parts {', '.join(have)}" if part in parts
               else f"it has the parts {', '.join(parts)}")
        raise StoreError(f"{where} holds no part {part!r} of {measure!r}: {why}")
    return stream_name(measure, part)


def part_layers_heads(model: dict, part: str) -> tuple[int, int]:
    """(layers, heads) of the stack a part's maps come from."""
    if part in ("decoder", "cross"):
        return int(model["n_decoder_layers"]), int(model["n_decoder_heads"])
    return int(model["n_layers"]), int(model["n_heads"])


def stream_heads_default(model: dict, stream: str) -> int:
    """Maps per layer of a stream, from the registry: 1 for per-layer measures, else its
    stack's heads."""
    measure, part = split_stream(stream)
    return get_measure(measure).heads(part_layers_heads(model, part)[1])


def stream_shape(model: dict, stream: str, n_tokens: int, n_target_tokens: int = 0,
                 heads: int | None = None) -> tuple[int, int, int, int]:
    """A row's shape in a stream: (L, H_m, rows, columns) (see the module's docstring);
    `heads`: the stream's maps per layer (None: from the registry)."""
    part = split_stream(stream)[1]
    layers = part_layers_heads(model, part)[0]
    heads = stream_heads_default(model, stream) if heads is None else heads
    rows = n_target_tokens if part in ("decoder", "cross") else n_tokens
    columns = n_target_tokens if part == "decoder" else n_tokens
    return layers, heads, rows, columns


def stream_size(model: dict, stream: str, n_tokens: int, n_target_tokens: int = 0,
                heads: int | None = None) -> int:
    """Bytes of codes in a row of a stream."""
    layers, heads, rows, columns = stream_shape(model, stream, n_tokens, n_target_tokens, heads)
    return layers * heads * rows * columns


__all__ = ["PAIR_PARTS", "SELF", "default_part", "is_pair_store", "measure_parts",
           "resolve_stream", "split_stream", "store_parts", "store_streams", "stream_name",
           "stream_shape", "stream_size", "streams_of"]

