"""The registry of measures: what a map shows, how it is computed, its shape and its colour bar.

A measure is one (L, H, T, T) array of values in [0, 1] per sentence (H == 1 for
per-layer measures), computed during extraction from the model's exact
(unquantized) attention and activations, and stored as 8-bit codes under
measures/<name>/ in the store. The store, extraction, the site and the command
line all read this registry; adding a measure means adding an entry here.

The `compute` functions take a `Computed` (what pipeline/extract/forward.py gathered from
one padded forward pass) and use tensor methods only: this module never imports
torch. pipeline/extract/forward.py runs the hooks (`needs="norms"`) and the backward pass
(`needs="grads"`) a measure asks for. Without a backward pass it calls the measures listed in
its LAYER_BY_LAYER with one layer at a time (a `Computed` of one layer, as it comes) and
those in FROM_HEAD_MEANS with each layer's mean over heads, so that a batch never holds
every layer's attention; any other measure gets every layer's attention at once.

Definitions (A[l, h, i, j]: attention of query token i to key token j in layer l,
head h; x_j the input of layer l at token j):

    attention  A itself.
    rollout    Abnar & Zuidema (2020): Â_l = 0.5 mean_h A[l] + 0.5 I; R_1 = Â_1,
               R_l = Â_l R_{l-1}; one map per layer, (L, 1, T, T).
    norm       Kobayashi et al. (2020): ||A[l,h,i,j] f_{l,h}(x_j)||, f_{l,h}(x) =
               (x W_V^h + b_V^h) W_O^h (output bias left out) = A[l,h,i,j] ||f_{l,h}(x_j)||;
               each row divided by its sum.
    grad       max(0, A ⊙ ∂S/∂A), S = Σ_t log p(token_{t+1} | tokens_{≤t}) under the
               model's causal language-model head (for an encoder-decoder, the target's
               log-likelihood, teacher-forced, given the source); each row divided by its sum.

Parts: a model with one stack has one kind of map, part `self`; an encoder-decoder has three,
`encoder` (source x source), `decoder` (target x target) and `cross` (target rows x source
columns). `Measure.parts` says which of the three a measure has (rollout: the encoder only);
`parts_of` gives a measure's parts in a store of given parts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pipeline.errors import AtlasError, ConfigError


@dataclass(frozen=True)
class Computed:
    """What one padded forward pass gives the measures (tensors, batch first).

    attentions: per layer (B, H, T, T), the attention probabilities, float32.
    value_norms: per layer (B, H, T), ||f_{l,h}(x_j)|| (only when a measure needs "norms").
    attention_grads: per layer (B, H, T, T), ∂S/∂A (only when a measure needs "grads").
    """

    attentions: Sequence[Any]
    value_norms: Sequence[Any] | None = None
    attention_grads: Sequence[Any] | None = None


@dataclass(frozen=True)
class Measure:
    """One measure: its name, what it is, how it is computed, its shape and its colour bar."""

    name: str
    description: str
    # Computed -> one (B, H, T, T) tensor per layer (H = 1 when per_layer), values in [0, 1]
    compute: Callable[[Computed], Sequence[Any]]
    shape: str  # the stored array per sentence, e.g. "(layer, head, query, key)"
    title: str  # the colour bar's default title
    # the colour bar's default domain; values above it are clamped (and the colour bar says so):
    # the smallest top, in steps of 0.1, above which lie at most 2 % of the cells of the bundled
    # corpus through the embedded MiniLM and 4 % of a random GPT-2's beyond its first three
    # rows (bench/measure_domains.py; docs/site.md, "Colour domains")
    domain: tuple[float, float]
    per_layer: bool = False  # one map per layer (H = 1) rather than one per head
    needs: str | None = None  # "norms" (hooks on the attention modules), "grads" (a backward pass)
    normalisation: str = "none: rows of the attention already sum to 1"
    reference: str = ""
    parts: tuple[str, ...] = ("encoder", "decoder", "cross")  # in an encoder-decoder store

    def heads(self, n_heads: int) -> int:
        """Maps per layer in the store: 1 for a per-layer measure, else the model's heads."""
        return 1 if self.per_layer else n_heads


def normalise_rows(x: Any) -> Any:
    """Each row (last axis) divided by its sum; an all-zero row stays zero."""
    total = x.sum(dim=-1, keepdim=True)
    return x / (total + (total == 0))


def _attention(c: Computed) -> Sequence[Any]:
    """The attention weights the model returns (output_attentions=True): softmax rows, sum 1."""
    return c.attentions


def _rollout(c: Computed) -> list[Any]:
    """Abnar & Zuidema (2020), `compute_joint_attention`: Â_l = 0.5 Ā_l + 0.5 I, R_l = Â_l R_{l-1}."""
    out, joint = [], None
    for a in c.attentions:
        hat = a.mean(dim=1) * 0.5  # (B, T, T)
        hat.diagonal(dim1=-2, dim2=-1).add_(0.5)
        joint = hat if joint is None else hat @ joint
        out.append(joint.unsqueeze(1))  # (B, 1, T, T)
    return out


def _norm(c: Computed) -> list[Any]:
    """Kobayashi et al. (2020): A[l,h,i,j] * ||f_{l,h}(x_j)||, rows normalised."""
    return [normalise_rows(a * n.unsqueeze(-2)) for a, n in zip(c.attentions, c.value_norms,
                                                                  strict=True)]


def _grad(c: Computed) -> list[Any]:
    """Gradient x attention: max(0, A * dS/dA), rows normalised."""
    return [normalise_rows((a * g).clamp(min=0)) for a, g in zip(c.attentions, c.attention_grads,
                                                                 strict=True)]


ROW_SUM = "each row divided by its sum (an all-zero row stays zero)"
MEASURES: dict[str, Measure] = {
    "attention": Measure(
        name="attention",
        description="raw attention weights, word level (Clark et al. 2019)",
        compute=_attention,
        shape="(layer, head, query, key)",
        title="attention",
        domain=(0.0, 0.3),
    ),
    "rollout": Measure(
        name="rollout",
        description="attention rollout (Abnar & Zuidema 2020): attention joined across layers, "
                    "residual as 0.5 I",
        compute=_rollout,
        shape="(layer, 1, query, key)",
        title="rollout",
        domain=(0.0, 0.6),
        per_layer=True,
        normalisation="none: rows of Â and of their products sum to 1",
        reference="samiraabnar/attention_flow, compute_joint_attention",
        parts=("encoder",),  # the decoder's rollout would need the encoder's: not defined here
    ),
    "norm": Measure(
        name="norm",
        description="norm of the weighted value vectors, ||A f(x)|| (Kobayashi et al. 2020)",
        compute=_norm,
        shape="(layer, head, query, key)",
        title="norm",
        domain=(0.0, 0.5),
        needs="norms",
        normalisation=ROW_SUM,
        reference="gorokoba560/norm-analysis-of-transformer, BertNormOutput",
    ),
    "grad": Measure(
        name="grad",
        description="gradient x attention of the sentence's log-likelihood (causal LMs)",
        compute=_grad,
        shape="(layer, head, query, key)",
        title="saliency",
        domain=(0.0, 0.5),
        needs="grads",
        normalisation=ROW_SUM,
    ),
}
DEFAULT_MEASURE = "attention"
SELF = "self"  # the one part of a model with one stack (encoders, decoders)
PAIR_PARTS = ("encoder", "decoder", "cross")  # the parts of an encoder-decoder, in this order
PARTS = (SELF, *PAIR_PARTS)


def parts_of(measure: str, parts: Sequence[str] = (SELF,)) -> list[str]:
    """The parts a measure has in a store of `parts`: ["self"] in a self store, else those of
    PAIR_PARTS the measure defines (rollout: ["encoder"]); UnknownMeasureError for no measure."""
    defined = get_measure(measure).parts
    if list(parts) == [SELF]:
        return [SELF]
    return [p for p in parts if p in defined]


class UnknownMeasureError(ConfigError):
    """A measure name that is not in the registry; the message lists the valid ones."""


def list_measures() -> list[str]:
    """Names of every registered measure, in the registry's order (attention first)."""
    return list(MEASURES)


def get_measure(name: str) -> Measure:
    """The registered measure of that name, or UnknownMeasureError listing the valid names."""
    try:
        return MEASURES[name]
    except KeyError:
        raise UnknownMeasureError(f"unknown measure {name!r}; valid measures: "
                                  f"{', '.join(list_measures())}") from None


def needs_lm_head(names: Sequence[str]) -> bool:
    """Whether any of the measures needs a backward pass (`needs="grads"`): of the sentence's
    log-likelihood, which only a causal language-model head defines."""
    return any(get_measure(name).needs == "grads" for name in names)


def stored_measures(info: dict) -> list[str]:
    """The measures a store holds, from its metadata (`store.info`): attention when it names none."""
    return list(info.get("measures") or [DEFAULT_MEASURE])


def check_stored(measure: str, stored: Sequence[str], where: str,
                 error: type[AtlasError] = ConfigError) -> None:
    """`error` unless `stored` (what the store at `where` holds) has the measure: the message names
    what it holds and how to add the measure (or, for no measure at all, the registry's)."""
    if measure in stored:
        return
    if measure in MEASURES:
        why = f"extract with --measures {','.join([*stored, measure])} to add it"
    else:
        why = f"{measure!r} is no measure at all; valid measures: {', '.join(MEASURES)}"
    raise error(f"{where} holds no measure {measure!r}; it holds: {', '.join(stored)} ({why})")


def parse_measures(value: str | Sequence[str]) -> tuple[str, ...]:
    """'attention,rollout' or a list of names -> the names, registry order, each once;
    UnknownMeasureError for a name not in the registry."""
    names = value.split(",") if isinstance(value, str) else list(value)
    names = [str(n).strip() for n in names if str(n).strip()]
    if not names:
        raise UnknownMeasureError(f"no measure named; valid measures: {', '.join(list_measures())}")
    for name in names:
        get_measure(name)
    return tuple(m for m in MEASURES if m in names)
