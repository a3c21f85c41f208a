"""Encoder-decoder models (T5, BART, Marian, ...): a pair's target generated when the corpus
gives none, and one padded, teacher-forced forward pass per batch giving the codes of every
stream (measure, part).

The parts: `encoder` (source x source), `decoder` (target x target), `cross` (target rows x
source columns). Teacher forcing feeds decoder inputs [decoder start] + the target's ids
(pipeline/extract/encode.py), so the decoder side's log-likelihood, which `grad`
differentiates, is S = sum_t log p(x_{t+1} | x_<=t, source) over them. Padding leaks into
nothing: padded source tokens are masked as keys of the encoder and of the cross-attention,
padded target tokens as keys of the decoder, they are no term of S, and padded queries are
cut off when each pair is sliced out (`row_codes`).

Imports torch (as pipeline/extract/forward.py does).
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Sequence

import numpy as np
import torch

from pipeline.errors import ModelError
from pipeline.extract.encode import Encoded
from pipeline.extract.forward import as_matrix, module_at, norm_hook, quantize, right_padded
from pipeline.measures import PAIR_PARTS, Computed, get_measure, parts_of
from pipeline.model.families import check_family
from pipeline.model.loading import LoadedModel
from pipeline.store.streams import stream_name, streams_of

log = logging.getLogger(__name__)

def row_codes(codes: dict[str, np.ndarray], b: int, e: Encoded,
              measures: Sequence[str]) -> dict[str, np.ndarray]:
    """Pair b's codes, unpadded, of each stream of `measures`: encoder (L_e, H, T_s, T_s),
    decoder (L_d, H, T_t, T_t), cross (L_d, H, T_t, T_s)."""
    sides = {"encoder": (e.n_tokens, e.n_tokens), "decoder": (e.n_target_tokens,) * 2,
             "cross": (e.n_target_tokens, e.n_tokens)}
    out = {}
    for name in streams_of(measures, PAIR_PARTS):
        rows, cols = sides[name.rsplit(".", 1)[1]]
        out[name] = codes[name][b, :, :, :rows, :cols]
    return out


def generate_targets(loaded: LoadedModel, texts: list[str], max_new_tokens: int,
                     batch_size: int) -> list[str]:
    """Each text's greedy output (no sampling, one beam, at most max_new_tokens new tokens),
    decoded without special tokens: the target a pair gets when the corpus gives none."""
    model, tokenizer = loaded.model, loaded.tokenizer
    limit = loaded.info.get("max_length") or 512
    config = copy.deepcopy(model.generation_config)
    # greedy whatever the checkpoint's generation_config asks (beams, sampling); max_new_tokens
    # decides the length, within the decoder's positions
    config.update(do_sample=False, num_beams=1, max_new_tokens=min(max_new_tokens, limit - 1),
                  max_length=None, num_return_sequences=1, temperature=None, top_p=None,
                  top_k=None, early_stopping=False, length_penalty=1.0, no_repeat_ngram_size=0)
    order = sorted(range(len(texts)), key=lambda i: (len(texts[i]), i))
    targets: list[str] = [""] * len(texts)
    for start in range(0, len(order), batch_size):
        chunk = order[start:start + batch_size]
        enc = tokenizer([texts[i] for i in chunk], padding=True, truncation=True,
                        max_length=limit, return_tensors="pt")
        with torch.inference_mode():
            out = model.generate(input_ids=enc["input_ids"].to(loaded.device),
                                 attention_mask=enc["attention_mask"].to(loaded.device),
                                 generation_config=config)
        for i, text in zip(chunk, tokenizer.batch_decode(out, skip_special_tokens=True),
                           strict=True):
            targets[i] = text.strip()
    return targets


class PairNorms:
    """Forward hooks on every attention module's value projection giving ||f_{l,h}(x_j)||
    (B, H, T_kv) per layer and part (pipeline/extract/forward.py's `norm_hook`): the encoder's
    and the decoder's self-attention read their own stack's inputs, the cross-attention the
    encoder's output (its value projection is applied to it), so a cross map's column j is
    weighted by source token j's f(x_j). Where the projections are: the family's entry."""

    def __init__(self, loaded: LoadedModel, names: list[str]) -> None:
        model = loaded.model
        who = f"{loaded.info.get('name')!r} ({loaded.info.get('architecture')})"
        family = check_family(getattr(model.config, "model_type", None), who, names)
        if not family.encoder_decoder:
            raise ModelError(f"model {who}: the measure {names[0]!r} of an encoder-decoder needs "
                             f"its family's cross-attention, and {family.name} is no "
                             "encoder-decoder family")
        self.norms: dict[str, list] = {part: [] for part in PAIR_PARTS}
        self._handles = []
        found = {"encoder": self._modules(model.get_encoder(), family, None),
                 "decoder": self._modules(model.get_decoder(), family, False),
                 "cross": self._modules(model.get_decoder(), family, True)}
        info = loaded.info
        sizes = {"encoder": (info["n_layers"], info["n_heads"]),
                 "decoder": (info["n_decoder_layers"], info["n_decoder_heads"]),
                 "cross": (info["n_decoder_layers"], info["n_decoder_heads"])}
        for part, modules in found.items():
            n_layers, n_heads = sizes[part]
            if len(modules) != n_layers:
                raise ModelError(f"model {who}: the measure {names[0]!r} looks for "
                                 f"{family.name}'s `{family.value}` and `{family.output}` in each "
                                 f"of its {n_layers} {part} attention modules and finds "
                                 f"{len(modules)}")
            for value, output in modules:
                self._handles.append(value.register_forward_hook(norm_hook(
                    family.layout, as_matrix(output), as_matrix(value), n_heads, who,
                    self.norms[part].append)))

    @staticmethod
    def _modules(root, family, cross: bool | None) -> list:
        """(value, output projection) of each attention module under `root`, in order; cross:
        only the cross-attention modules (True), only the others (False), all (None)."""
        found = []
        for name, module in root.named_modules():
            value, output = module_at(module, family.value), module_at(module, family.output)
            if value is None or output is None:
                continue
            if cross is None or cross == (family.cross in name.split(".")):
                found.append((value, output))
        return found

    def remove(self) -> None:
        """Take the hooks off the model."""
        for handle in self._handles:
            handle.remove()


def target_log_likelihood(logits, decoder_ids, decoder_mask):
    """S summed over the batch: sum over t of log p(x_{t+1} | x_<=t, source) over the decoder
    inputs, padded targets left out (the last real row predicts nothing)."""
    logp = torch.log_softmax(logits[:, :-1].float(), dim=-1)
    target = logp.gather(-1, decoder_ids[:, 1:, None]).squeeze(-1)  # (B, T_t - 1)
    return (target * decoder_mask[:, 1:]).sum()


def pair_codes(loaded: LoadedModel, batch: list[Encoded],
               measures: Sequence[str]) -> dict[str, np.ndarray]:
    """One padded, teacher-forced forward pass (one backward pass when `grad` is asked) ->
    uint8 codes of every stream of `measures` (store.streams.streams_of): encoder (B, L_e, H, T_s, T_s),
    decoder (B, L_d, H, T_t, T_t), cross (B, L_d, H, T_t, T_s), T_s and T_t the longest of
    the batch (H = 1 for rollout)."""
    if any(e.target_ids is None for e in batch):
        raise ModelError("an encoder-decoder's pairs need their targets' decoder inputs")
    pad = loaded.tokenizer.pad_token_id
    ids, mask = right_padded([e.input_ids for e in batch], pad)
    decoder_ids, decoder_mask = right_padded([e.target_ids for e in batch], pad)
    device = loaded.device
    inputs = {"input_ids": ids.to(device), "attention_mask": mask.to(device),
              "decoder_input_ids": decoder_ids.to(device),
              "decoder_attention_mask": decoder_mask.to(device),
              "output_attentions": True, "use_cache": False}
    wanted = [get_measure(m) for m in measures]
    needs = {m.needs for m in wanted}
    hooks = PairNorms(loaded, [m.name for m in wanted if m.needs == "norms"]) \
        if "norms" in needs else None
    grads = None
    try:
        if "grads" in needs:  # one backward pass: no inference_mode here
            with torch.enable_grad():
                out = loaded.model(**inputs)
                grads = _attention_grads(out, inputs)
        else:
            with torch.inference_mode():
                out = loaded.model(**inputs)
    finally:
        if hooks is not None:
            hooks.remove()
    maps = {"encoder": out.encoder_attentions, "decoder": out.decoder_attentions,
            "cross": out.cross_attentions}
    codes = {}
    with torch.inference_mode():
        for m in wanted:
            for part in parts_of(m.name, PAIR_PARTS):
                computed = Computed(
                    attentions=[a.detach().float() for a in maps[part]],
                    value_norms=hooks.norms[part] if m.needs == "norms" else None,
                    attention_grads=grads[part] if m.needs == "grads" else None)
                codes[stream_name(m.name, part)] = torch.stack(
                    [quantize(a) for a in m.compute(computed)], dim=1).cpu().numpy()
    return codes


def _attention_grads(out, inputs: dict) -> dict[str, list]:
    """dS/dA of every part's attention, float32, from one backward pass (S: the target's
    teacher-forced log-likelihood, `target_log_likelihood`)."""
    parts = {"encoder": list(out.encoder_attentions), "decoder": list(out.decoder_attentions),
             "cross": list(out.cross_attentions)}
    flat = [a for part in PAIR_PARTS for a in parts[part]]
    s = target_log_likelihood(out.logits, inputs["decoder_input_ids"],
                              inputs["decoder_attention_mask"])
    grads = torch.autograd.grad(s, flat, allow_unused=True)
    grads = [torch.zeros_like(a) if g is None else g.detach().float()
             for a, g in zip(flat, grads, strict=True)]
    result, start = {}, 0
    for part in PAIR_PARTS:
        result[part] = grads[start:start + len(parts[part])]
        start += len(parts[part])
    return result
