"""The forward passes: one padded batch at a time through the model, quantized on the device,
handed to a writer thread that slices each sentence out and appends it to the store.

Compression and disk writes overlap the next forward pass, and memory stays flat
whatever the corpus size. Without a backward pass, each layer's attention becomes codes as
the layer computes it (LayerCodes), so a long input holds one layer's float32 attention at a
time. With pipeline/extract/pairs.py (encoder-decoders) the only stage besides
pipeline/model/loading.py that imports torch.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Sequence

import numpy as np
import torch
from tqdm import tqdm

from pipeline.errors import ModelError
from pipeline.extract.encode import Encoded
from pipeline.measures import DEFAULT_MEASURE, MEASURES, Computed, get_measure
from pipeline.model.families import check_family
from pipeline.model.loading import EXACT, LoadedModel, use_exact_attention
from pipeline.store.layout import SCALE

log = logging.getLogger(__name__)


def right_padded(rows: Sequence[Sequence[int]], pad: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids right-padded with `pad` to the longest row, and their attention mask: (B, T)
    each, on the CPU. How every forward pass of the atlas pads (and the benchmarks, as it does)."""
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for b, r in enumerate(rows):
        ids[b, :len(r)] = torch.tensor(r)
        mask[b, :len(r)] = 1
    return ids, mask


def forward_codes(loaded: LoadedModel, batch: list[Encoded],
                  measures: Sequence[str] = (DEFAULT_MEASURE,)) -> dict[str, np.ndarray]:
    """One padded forward pass -> uint8 codes (B, L, H, T, T) of each measure, T the longest
    (H = 1 for per-layer measures). Padding leaks into no measure: padded keys get no attention,
    padded positions are no target of the log-likelihood, and padded queries are cut off later."""
    ids, mask = right_padded([e.input_ids for e in batch], loaded.tokenizer.pad_token_id)
    t_max = ids.shape[1]
    ids, mask = ids.to(loaded.device), mask.to(loaded.device)
    # a model set to SDPA (or flash) after loading would return no maps at all
    if getattr(loaded.model.config, "_attn_implementation", EXACT) != EXACT:
        log.info("%s", use_exact_attention(loaded.model))
    wanted = [get_measure(m) for m in measures]
    needs = {m.needs for m in wanted}
    hooks = ValueNorms(loaded, [m.name for m in wanted if m.needs == "norms"]) \
        if "norms" in needs else None
    layers = LayerCodes.attach(loaded, wanted, hooks, (len(batch), t_max))
    grads = None
    try:
        if layers is not None:  # each layer's codes as it computes them: no attention returned
            with torch.inference_mode():
                loaded.model(input_ids=ids, attention_mask=mask)
            return layers.finish()
        if "grads" in needs:  # one backward pass: no inference_mode here
            with torch.enable_grad():
                out = loaded.model(input_ids=ids, attention_mask=mask, output_attentions=True)
                grads = attention_grads(loaded, out, ids, mask)
        else:
            with torch.inference_mode():
                out = loaded.model(input_ids=ids, attention_mask=mask, output_attentions=True)
    finally:
        for attached in (hooks, layers):
            if attached is not None:
                attached.remove()
    with torch.inference_mode():
        computed = Computed(attentions=[a.detach().float() for a in out.attentions],
                            value_norms=hooks.norms if hooks is not None else None,
                            attention_grads=grads)
        return {m.name: torch.stack([quantize(a) for a in m.compute(computed)], dim=1).cpu().numpy()
                for m in wanted}  # (B, L, H, T, T)


def quantize(maps):
    """Values in [0, 1] -> uint8 codes (store/layout.py's quantize), on the device: 4x less to
    copy back."""
    return maps.float().clamp(0, 1).mul_(SCALE).round_().to(torch.uint8)  # one float copy


# What LayerCodes may compute layer by layer: per-head measures whose layer l depends on layer
# l's attention (and value norms) alone, and per-layer measures that need each layer's mean
# over heads alone (rollout: Â_l = 0.5 mean_h A_l + 0.5 I). A measure in neither (a new one,
# until it is added here) is computed from every layer's attention returned, as before.
LAYER_BY_LAYER = ("attention", "norm")
FROM_HEAD_MEANS = ("rollout",)


class LayerCodes:
    """Forward hooks on each layer's attention module that turn its attention (B, H, T, T) into
    the codes of every per-head measure (LAYER_BY_LAYER) as soon as the layer computes it, and
    keep only its mean over heads (B, 1, T, T) for the per-layer ones (FROM_HEAD_MEANS): a
    batch holds one layer's float32 attention at a time instead of all L (a 1,000-word
    document through a 12 x 12 model: about 0.1 GB instead of 1.2 GB). The values are those
    of output_attentions=True, bit for bit: the same modules' probabilities, the same
    measures' functions, layer by layer.

    Not for a backward pass (grad keeps every layer's attention, and its graph), nor for a
    model whose attention modules transformers does not name (`_can_record_outputs`): the
    caller returns every layer's attention then, as before.
    """

    def __init__(self, modules: list, index: int, wanted, norms: ValueNorms | None,
                 shape: tuple[int, int, int, int], device) -> None:
        batch, n_layers, n_heads, t = shape
        self.per_head = [m for m in wanted if not m.per_layer]
        self.per_layer = [m for m in wanted if m.per_layer]
        self.order = [m.name for m in wanted]
        self.codes = {m.name: torch.empty((batch, n_layers, n_heads, t, t), dtype=torch.uint8,
                                          device=device) for m in self.per_head}
        self.means: list = []
        self.norms = norms
        self.seen: set[int] = set()  # the layers whose hook ran
        self._handles = [module.register_forward_hook(self._hook(layer, index))
                         for layer, module in enumerate(modules)]

    @classmethod
    def attach(cls, loaded: LoadedModel, wanted, norms: ValueNorms | None,
               batch_tokens: tuple[int, int]) -> LayerCodes | None:
        """The hooks on the model, or None when they cannot give these measures (see above)."""
        if any(m.needs == "grads" or m.name not in (FROM_HEAD_MEANS if m.per_layer
                                                     else LAYER_BY_LAYER) for m in wanted):
            return None
        found = attention_modules(loaded.model, loaded.info["n_layers"])
        if found is None:
            return None
        (batch, t), n_heads = batch_tokens, loaded.info["n_heads"]
        return cls(*found, wanted, norms, (batch, loaded.info["n_layers"], n_heads, t),
                   loaded.device)

    def _hook(self, layer: int, index: int):
        """The hook on layer `layer`'s attention module; its output[index] is the attention."""
        def hook(_module, _inputs, output):
            attention = output[index]
            if attention is None:
                raise ModelError("the attention module returned no probabilities: eager "
                                 "attention is needed")
            attention = attention.detach().float()  # (B, H, T, T)
            for m in self.per_head:
                norms = [self.norms.norms[layer]] if m.needs == "norms" else None
                self.codes[m.name][:, layer] = quantize(m.compute(Computed([attention], norms))[0])
            if self.per_layer:
                self.means.append(attention.mean(dim=1, keepdim=True))  # (B, 1, T, T)
            self.seen.add(layer)
        return hook

    def finish(self) -> dict[str, np.ndarray]:
        """Every measure's codes (B, L, H, T, T), the per-layer ones computed now from the means."""
        if len(self.seen) != len(self._handles):  # a layer skipped: its codes would be garbage
            raise ModelError(f"the forward pass ran {len(self.seen)} of the model's "
                             f"{len(self._handles)} attention modules")
        for m in self.per_layer:
            self.codes[m.name] = torch.stack([quantize(a) for a in
                                              m.compute(Computed(self.means))], dim=1)
        return {name: self.codes[name].cpu().numpy() for name in self.order}

    def remove(self) -> None:
        """Take the hooks off the model."""
        for handle in self._handles:
            handle.remove()


def attention_modules(model, n_layers: int) -> tuple[list, int] | None:
    """Each layer's attention module, in order, and the index of its attention in the module's
    output, as transformers records them for output_attentions (a model's
    `_can_record_outputs["attentions"]`: a class, or an OutputRecorder with an index and a
    name suffix); None when the model names none, or not one per layer."""
    for _name, sub in model.named_modules():
        spec = (getattr(type(sub), "_can_record_outputs", None) or {}).get("attentions")
        if spec is None:
            continue
        target = getattr(spec, "target_class", spec)
        suffix = getattr(spec, "layer_name", None)
        if not isinstance(target, type):
            return None
        found = [m for n, m in sub.named_modules()
                 if isinstance(m, target) and (not suffix or n.endswith(suffix))]
        return (found, getattr(spec, "index", 1)) if len(found) == n_layers else None
    return None


def log_likelihood(logits, ids, mask):
    """S per sentence, summed over the batch: sum over t of log p(token_{t+1} | tokens_{<=t}),
    padded targets left out (right padding: a real target has a real context)."""
    logp = torch.log_softmax(logits[:, :-1].float(), dim=-1)
    target = logp.gather(-1, ids[:, 1:, None]).squeeze(-1)  # (B, T - 1)
    return (target * mask[:, 1:]).sum()


def attention_grads(loaded: LoadedModel, out, ids, mask) -> list:
    """dS/dA for every layer's attention probabilities, float32, from one backward pass."""
    logits = getattr(out, "logits", None)
    if logits is None or logits.shape[-1] < 2:
        raise ModelError(f"model {loaded.info.get('name')!r} ({loaded.info.get('architecture')}) "
                         "has no causal language-model head: the measure 'grad' needs one "
                         "(load it with causal_lm=True, e.g. a GPT-2 family model)")
    grads = torch.autograd.grad(log_likelihood(logits, ids, mask), list(out.attentions))
    return [g.detach().float() for g in grads]


class ValueNorms:
    """Forward hooks that give ||f_{l,h}(x_j)|| = ||(x_j W_V^h + b_V^h) W_O^h||, (B, H, T) per layer.

    The value vectors are read where each attention module computes them, and W_O^h are the
    rows of its output projection that take head h's input: where both are, and how the value
    projection lays out its heads, is the family's entry in pipeline/model/families.py. With
    grouped-query attention (KV < H value heads) head h reads value head h // (H / KV).
    """

    def __init__(self, loaded: LoadedModel, names: list[str]) -> None:
        model = loaded.model
        self.norms: list = []
        self._handles = []
        who = f"{loaded.info.get('name')!r} ({loaded.info.get('architecture')})"
        family = check_family(getattr(model.config, "model_type", None), who, names)
        n_heads = loaded.info["n_heads"]
        found = [(module_at(m, family.value), module_at(m, family.output))
                 for m in model.modules()
                 if module_at(m, family.value) is not None
                 and module_at(m, family.output) is not None
                 and not getattr(m, "is_cross_attention", False)]
        if len(found) != loaded.info["n_layers"]:
            raise ModelError(f"model {who}: the measure {names[0]!r} looks for {family.name}'s "
                             f"`{family.value}` and `{family.output}` in each of its "
                             f"{loaded.info['n_layers']} attention modules and finds "
                             f"{len(found)}")
        for source, output in found:
            self._handles.append(source.register_forward_hook(
                self._hook(family.layout, as_matrix(output), as_matrix(source), n_heads, who)))

    def _hook(self, layout: str, w_out, w_value, n_heads: int, who: str):
        """The hook on one value projection: see `norm_hook`."""
        return norm_hook(layout, w_out, w_value, n_heads, who, self.norms.append)

    def remove(self) -> None:
        """Take the hooks off the model."""
        for handle in self._handles:
            handle.remove()


def norm_hook(layout: str, w_out, w_value, n_heads: int, who: str, sink: Callable):
    """A forward hook on one value projection (weights as x @ w: w_out (H*d, D), w_value (D, *))
    that hands sink() ||f_h(x_j)|| (B, H, T_kv) for the positions it projects."""
    d, rest = divmod(w_out.shape[0], n_heads)
    width = w_value.shape[1] // 3 if layout != "values" else w_value.shape[1]
    n_kv, rest_kv = divmod(width, d) if d else (0, 1)
    if rest or rest_kv or not n_kv or n_heads % n_kv:
        raise ModelError(f"model {who}: an output projection of {w_out.shape[0]} inputs and "
                         f"{width} values do not make {n_heads} heads of one width")
    per_head = w_out.detach().float().reshape(n_heads, d, w_out.shape[1])  # W_O^h (H, d, D)
    # ||v W_O^h||^2 = v (W_O^h W_O^h^T) v^T: a d x d Gram matrix per head, so the
    # (B, H, T, D) products are never formed (D / d times fewer operations); query head
    # k * g + i reads value head k (g = H / KV), as the model's repeat_kv shares them
    gram = (per_head @ per_head.transpose(1, 2)).reshape(n_kv, n_heads // n_kv, d, d)

    def hook(_module, _inputs, output):
        out = output.detach()
        if layout == "qkv thirds":  # queries | keys | values, each H x d
            v = out[..., 2 * n_heads * d:]
        elif layout == "qkv per head":  # [q_h k_h v_h] for each head h
            v = out.reshape(*out.shape[:2], n_heads, 3 * d)[..., 2 * d:]
        else:
            v = out
        v = v.reshape(*v.shape[:2], n_kv, d).float()  # (B, T, KV, d)
        squared = torch.einsum("btkd,kgde,btke->btkg", v, gram, v)  # (B, T, KV, g)
        squared = squared.reshape(*v.shape[:2], n_heads)  # (B, T, H)
        sink(squared.clamp_(min=0).sqrt_().transpose(1, 2))  # (B, H, T)

    return hook


def module_at(module, path: str):
    """module.a.b for path "a.b", or None where a step is missing."""
    for name in path.split("."):
        module = getattr(module, name, None)
        if module is None:
            return None
    return module


def as_matrix(projection):
    """A projection's weight as x @ w: a Linear's transposed (out, in) -> (in, out); a Conv1D's
    (GPT-2) as it is."""
    return projection.weight.t() if isinstance(projection, torch.nn.Linear) else projection.weight


def run_batches(loaded: LoadedModel, batches: list[list[str]], by_key: dict[str, Encoded],
                wanted: dict[str, tuple[str, ...]], add: Callable[[Encoded, dict[str, np.ndarray]], int],
                progress: bool) -> dict[str, int]:
    """Forward each batch holding wanted sentences; a writer thread calls add(encoded, {measure:
    codes (L, H, T, T)}) once per wanted key, with the measures wanted for it (an
    encoder-decoder's: {stream: codes} of each of their streams, pipeline/extract/pairs.py).
    Returns the row add() gave each key."""
    from pipeline.extract.pairs import pair_codes, row_codes  # it imports this module

    pairs = loaded.encoder_decoder
    work: queue.Queue = queue.Queue(maxsize=2)
    rows: dict[str, int] = {}
    errors: list[BaseException] = []
    bar = tqdm(total=len(wanted), unit="sent", desc="extract", disable=not progress,
               dynamic_ncols=True, smoothing=0.1)

    def write() -> None:
        """Writer thread: slice each batch per sentence (unpadded) and hand it over."""
        while (item := work.get()) is not None:
            if errors:
                continue  # drain after a failure; the main thread reports it
            codes, batch = item
            try:
                for b, e in enumerate(batch):
                    if e.key in wanted and e.key not in rows:
                        t = e.n_tokens
                        rows[e.key] = add(e, row_codes(codes, b, e, wanted[e.key]) if pairs else
                                          {m: codes[m][b, :, :, :t, :t]  # (L, H, T, T)
                                           for m in wanted[e.key]})
                bar.update(sum(e.key in wanted for e in batch))
            except BaseException as exc:  # surfaced by the main thread
                errors.append(exc)

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    try:
        for keys in batches:
            if errors:
                break
            todo = [k for k in keys if k in wanted and k not in rows]
            if not todo:
                continue
            batch = [by_key[k] for k in keys]
            measures = [m for m in MEASURES if any(m in wanted[k] for k in todo)]
            work.put(((pair_codes if pairs else forward_codes)(loaded, batch, measures), batch))
    finally:
        work.put(None)
        thread.join()
        bar.close()
    if errors:
        raise errors[0]
    return rows
