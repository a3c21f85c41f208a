"""The registry of measures: what a map shows, how it is computed, its shape and its colour bar.

A measure is one (L, H, T, T) array of values in [0, 1] per sentence (H == 1 for
per-layer measures), computed from one forward pass and stored as 8-bit codes
under measures/<name>/ in the store. The store, extraction, the site and the
command line all read this registry; adding a measure means adding an entry here
(and, if it needs more than the forward pass's outputs, its computation).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pipeline.errors import ConfigError


@dataclass(frozen=True)
class Measure:
    """One measure: its name, what it is, how it is computed, its shape and its colour bar."""

    name: str
    description: str
    # model outputs -> one (B, H, T, T) tensor per layer; called under torch.inference_mode()
    compute: Callable[[Any], Sequence[Any]]
    shape: str  # the stored array per sentence, e.g. "(layer, head, query, key)"
    title: str  # the colour bar's default title
    domain: tuple[float, float]  # the colour bar's default domain; values above it are clamped


def _attention(outputs: Any) -> Sequence[Any]:
    """The attention weights the model returns (output_attentions=True): softmax rows, sum 1."""
    return outputs.attentions


MEASURES: dict[str, Measure] = {
    "attention": Measure(
        name="attention",
        description="raw attention weights, word level (Clark et al. 2019)",
        compute=_attention,
        shape="(layer, head, query, key)",
        title="saliency",
        domain=(0.0, 0.3),
    ),
}
DEFAULT_MEASURE = "attention"


class UnknownMeasureError(ConfigError):
    """A measure name that is not in the registry; the message lists the valid ones."""


def list_measures() -> list[str]:
    """Names of every registered measure, sorted."""
    return sorted(MEASURES)


def get_measure(name: str) -> Measure:
    """The registered measure of that name, or UnknownMeasureError listing the valid names."""
    try:
        return MEASURES[name]
    except KeyError:
        raise UnknownMeasureError(f"unknown measure {name!r}; valid measures: "
                                  f"{', '.join(list_measures())}") from None
