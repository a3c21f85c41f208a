"""The forward passes: one padded batch at a time through the model, quantized on the device,
handed to a writer thread that slices each sentence out and appends it to the store.

Compression and disk writes overlap the next forward pass, and memory stays flat
whatever the corpus size. The only stage besides model.py that imports torch.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable

import numpy as np
import torch
from tqdm import tqdm

from pipeline.encode import Encoded
from pipeline.measures import DEFAULT_MEASURE, get_measure
from pipeline.model import LoadedModel
from pipeline.store.layout import SCALE


def forward_codes(loaded: LoadedModel, batch: list[Encoded],
                  measure: str = DEFAULT_MEASURE) -> np.ndarray:
    """One padded forward pass -> uint8 codes (B, L, H, T, T) of a measure, T the longest."""
    t_max = max(e.n_tokens for e in batch)
    pad = loaded.tokenizer.pad_token_id
    ids = torch.full((len(batch), t_max), pad, dtype=torch.long)
    mask = torch.zeros((len(batch), t_max), dtype=torch.long)
    for b, e in enumerate(batch):  # right padding
        ids[b, : e.n_tokens] = torch.tensor(e.input_ids)
        mask[b, : e.n_tokens] = 1
    with torch.inference_mode():
        out = loaded.model(input_ids=ids.to(loaded.device), attention_mask=mask.to(loaded.device),
                           output_attentions=True)
        # each layer (B, H, T, T) -> float32 -> codes (store/layout.py's quantize, on the
        # device: 4x less to copy back)
        codes = torch.stack([(a.float().clamp_(0, 1) * SCALE).round_().to(torch.uint8)
                             for a in get_measure(measure).compute(out)], dim=1)  # (B, L, H, T, T)
    return codes.cpu().numpy()


def run_batches(loaded: LoadedModel, batches: list[list[str]], by_key: dict[str, Encoded],
                wanted: set[str], add: Callable[[Encoded, np.ndarray], int],
                progress: bool) -> dict[str, int]:
    """Forward each batch holding wanted sentences; a writer thread calls add(encoded, codes
    (L, H, T, T)) once per wanted key. Returns the row add() gave each key."""
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
                        rows[e.key] = add(e, codes[b, :, :, :t, :t])  # (L, H, T, T)
                bar.update(sum(e.key in wanted for e in batch))
            except BaseException as exc:  # surfaced by the main thread
                errors.append(exc)

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    try:
        for keys in batches:
            if errors:
                break
            if not any(k in wanted and k not in rows for k in keys):
                continue
            batch = [by_key[k] for k in keys]
            work.put((forward_codes(loaded, batch), batch))
    finally:
        work.put(None)
        thread.join()
        bar.close()
    if errors:
        raise errors[0]
    return rows
