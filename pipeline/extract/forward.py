"""The forward passes: one padded batch at a time through the model, quantized on the device,
handed to a writer thread that slices each sentence out and appends it to the store.

Compression and disk writes overlap the next forward pass, and memory stays flat
whatever the corpus size. The only stage besides pipeline/model/loading.py that imports torch.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence

import numpy as np
import torch
from tqdm import tqdm

from pipeline.errors import ModelError
from pipeline.extract.encode import Encoded
from pipeline.measures import DEFAULT_MEASURE, MEASURES, Computed, get_measure
from pipeline.model.loading import LoadedModel
from pipeline.store.layout import SCALE


def forward_codes(loaded: LoadedModel, batch: list[Encoded],
                  measures: Sequence[str] = (DEFAULT_MEASURE,)) -> dict[str, np.ndarray]:
    """One padded forward pass -> uint8 codes (B, L, H, T, T) of each measure, T the longest
    (H = 1 for per-layer measures). Padding leaks into no measure: padded keys get no attention,
    padded positions are no target of the log-likelihood, and padded queries are cut off later."""
    t_max = max(e.n_tokens for e in batch)
    pad = loaded.tokenizer.pad_token_id
    ids = torch.full((len(batch), t_max), pad, dtype=torch.long)
    mask = torch.zeros((len(batch), t_max), dtype=torch.long)
    for b, e in enumerate(batch):  # right padding
        ids[b, : e.n_tokens] = torch.tensor(e.input_ids)
        mask[b, : e.n_tokens] = 1
    ids, mask = ids.to(loaded.device), mask.to(loaded.device)
    wanted = [get_measure(m) for m in measures]
    needs = {m.needs for m in wanted}
    hooks = ValueNorms(loaded, [m.name for m in wanted if m.needs == "norms"]) \
        if "norms" in needs else None
    grads = None
    try:
        if "grads" in needs:  # one backward pass: no inference_mode here
            with torch.enable_grad():
                out = loaded.model(input_ids=ids, attention_mask=mask, output_attentions=True)
                grads = attention_grads(loaded, out, ids, mask)
        else:
            with torch.inference_mode():
                out = loaded.model(input_ids=ids, attention_mask=mask, output_attentions=True)
    finally:
        if hooks is not None:
            hooks.remove()
    with torch.inference_mode():
        computed = Computed(attentions=[a.detach().float() for a in out.attentions],
                            value_norms=hooks.norms if hooks is not None else None,
                            attention_grads=grads)
        # each layer (B, H, T, T) -> float32 -> codes (store/layout.py's quantize, on the
        # device: 4x less to copy back)
        return {m.name: torch.stack([(a.float().clamp(0, 1) * SCALE).round_().to(torch.uint8)
                                     for a in m.compute(computed)], dim=1).cpu().numpy()
                for m in wanted}  # (B, L, H, T, T)


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

    The value vectors are read where the attention module computes them (BERT: the
    `value` Linear; GPT-2: the value third of `c_attn`), and W_O^h are the rows of the
    output projection (BERT: `output.dense`; GPT-2: `c_proj`) that take head h's input.
    """

    def __init__(self, loaded: LoadedModel, names: list[str]) -> None:
        model = loaded.model
        self.norms: list = []
        self._handles = []
        n_heads = loaded.info["n_heads"]
        found = []
        for module in model.modules():
            if _is_bert_attention(module):  # BertAttention, RobertaAttention, ...
                found.append((module.self.value, module.output.dense.weight.t(), "linear"))
            elif _is_gpt2_attention(module):
                found.append((module.c_attn, module.c_proj.weight, "c_attn"))
        if not found or len(found) != loaded.info["n_layers"]:
            raise ModelError(f"model {loaded.info.get('name')!r} ({loaded.info.get('architecture')})"
                             f": the measure {names[0]!r} needs the value vectors and the output "
                             "projection of each attention module, which are read for the BERT "
                             "and GPT-2 families only")
        for source, w_out, kind in found:  # w_out: (D_in, D_out) as x @ w_out
            d = w_out.shape[0] // n_heads
            per_head = w_out.detach().float().reshape(n_heads, d, w_out.shape[1])  # W_O^h (H, d, D)
            # ||v W_O^h||^2 = v (W_O^h W_O^h^T) v^T: a d x d Gram matrix per head, so the
            # (B, H, T, D) products are never formed (D / d times fewer operations)
            gram = per_head @ per_head.transpose(1, 2)  # (H, d, d)

            def hook(_module, _inputs, output, gram=gram, kind=kind, d=d):
                v = output[..., 2 * n_heads * d:] if kind == "c_attn" else output  # (B, T, H*d)
                v = v.detach().reshape(*v.shape[:2], n_heads, d).float()  # (B, T, H, d)
                squared = (torch.einsum("bthd,hde->bthe", v, gram) * v).sum(-1)  # (B, T, H)
                self.norms.append(squared.clamp_(min=0).sqrt_().transpose(1, 2))  # (B, H, T)

            self._handles.append(source.register_forward_hook(hook))

    def remove(self) -> None:
        """Take the hooks off the model."""
        for handle in self._handles:
            handle.remove()


def _is_bert_attention(module) -> bool:
    """A BERT-family attention block: `self.value` (Linear) and `output.dense` (Linear)."""
    return (hasattr(module, "self") and hasattr(module.self, "value")
            and hasattr(module, "output") and hasattr(module.output, "dense"))


def _is_gpt2_attention(module) -> bool:
    """A GPT-2-family attention block: `c_attn` (Conv1D, D -> 3D) and `c_proj` (Conv1D)."""
    return (hasattr(module, "c_attn") and hasattr(module, "c_proj")
            and not getattr(module, "is_cross_attention", False)
            and module.c_attn.weight.shape[1] == 3 * module.c_proj.weight.shape[0])


def run_batches(loaded: LoadedModel, batches: list[list[str]], by_key: dict[str, Encoded],
                wanted: dict[str, tuple[str, ...]], add: Callable[[Encoded, dict[str, np.ndarray]], int],
                progress: bool) -> dict[str, int]:
    """Forward each batch holding wanted sentences; a writer thread calls add(encoded, {measure:
    codes (L, H, T, T)}) once per wanted key, with the measures wanted for it. Returns the row
    add() gave each key."""
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
                        rows[e.key] = add(e, {m: codes[m][b, :, :, :t, :t]  # (L, H, T, T)
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
            work.put((forward_codes(loaded, batch, measures), batch))
    finally:
        work.put(None)
        thread.join()
        bar.close()
    if errors:
        raise errors[0]
    return rows
