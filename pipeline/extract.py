"""Extraction: batched forward passes -> per-sentence 8-bit attention -> the store.

Sentences are tokenized once, sorted by length and cut into batches (right
padding, an attention mask, inference mode). Each batch's attention is
quantized on the device and handed to a writer thread that slices it per
sentence and appends it to the store, so compression and disk writes overlap
the next forward pass and memory stays flat whatever the corpus size.
"""

from __future__ import annotations

import hashlib
import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from pipeline.model import LoadedModel
from pipeline.records import Sentence, Skip
from pipeline.store_write import StoreLock, StoreWriter, dump_record
from pipeline.words import align_tokens, merge_tokenless

log = logging.getLogger(__name__)

ATTENTION_BUDGET = 512 << 20  # bytes of float32 attention one batch may hold, all layers


@dataclass(frozen=True)
class Encoded:
    """A sentence tokenized and aligned: what the store records besides the attention."""

    sentence: Sentence
    key: str  # content key: the attention depends on the text alone (for one model)
    input_ids: list[int]  # (T,)
    record: dict  # the JSON record stored for the row

    @property
    def n_tokens(self) -> int:
        """T, the number of model tokens."""
        return len(self.input_ids)


@dataclass
class ExtractSummary:
    """What an extraction did, for the closing summary line."""

    sentences: int = 0
    computed: int = 0
    reused: int = 0
    removed: int = 0
    truncated: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    store_bytes: int = 0
    seconds: float = 0.0

    def __str__(self) -> str:
        skipped = sum(self.skipped.values())
        why = "; ".join(f"{n} {reason}" for reason, n in self.skipped.items())
        rate = self.computed / self.seconds if self.seconds else 0.0
        return (f"{self.sentences} sentences in the store: {self.computed} computed "
                f"({rate:.1f}/s), {self.reused} reused, {self.removed} removed, "
                f"{self.truncated} truncated, {skipped} skipped{f' ({why})' if why else ''}; "
                f"store {self.store_bytes / 1e6:.1f} MB; {self.seconds:.1f} s")


def content_key(text: str) -> str:
    """The content key of a text: its SHA-256 (the model is fixed per store)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def encode(sentences: list[Sentence], tokenizer, max_length: int) -> tuple[list[Encoded], list[Skip]]:
    """Tokenize every sentence, align tokens to words, and build its stored record."""
    batch = tokenizer([s.text for s in sentences], truncation=True, max_length=max_length,
                      return_offsets_mapping=True, return_special_tokens_mask=True)
    encoded, skips = [], []
    for i, sentence in enumerate(sentences):
        ids, offsets = batch["input_ids"][i], [tuple(o) for o in batch["offset_mapping"][i]]
        special = [bool(m) or a == b for m, (a, b) in zip(batch["special_tokens_mask"][i], offsets,
                                                          strict=True)]
        if all(special):
            skips.append(Skip(sentence.source, "no tokens", "the tokenizer kept nothing of it",
                              sentence.id))
            continue
        # words past the last token were cut off by truncation (max_length)
        covered = max(b for (a, b), sp in zip(offsets, special, strict=True) if not sp)
        words = tuple(w for w in sentence.word_ranges if w[0] < covered)
        truncated = len(words) < len(sentence.word_ranges)
        word_index, tokenless = align_tokens(words, offsets, special)
        words, new_of_old = merge_tokenless(words, tokenless)
        if tokenless:
            word_index = [new_of_old[w] if w >= 0 else -1 for w in word_index]
        spans = []
        for span in sentence.spans:
            if span.first >= len(new_of_old):
                continue  # the span lies wholly in the truncated tail
            last = new_of_old[min(span.last, len(new_of_old)) - 1] + 1
            spans.append((span.label, new_of_old[span.first], last))
        key = content_key(sentence.text)
        record = {
            "id": sentence.id, "key": key, "text": sentence.text,
            "tokens": tokenizer.convert_ids_to_tokens(ids), "word_ranges": [list(w) for w in words],
            "word_index": word_index, "spans": spans, "meta": sentence.meta,
            "truncated": truncated,  # not the corpus file:line: a line inserted above would
            # change every later record and append a new index row for each, every run
        }
        encoded.append(Encoded(sentence, key, list(ids), record))
    return encoded, skips


def plan_batches(items: list[Encoded], batch_size: int, n_layers: int, n_heads: int) -> list[list[str]]:
    """Sort by length and cut into batches of at most batch_size and ATTENTION_BUDGET bytes."""
    batches, current, longest = [], [], 0
    for item in sorted(items, key=lambda e: (e.n_tokens, e.key)):
        t = max(longest, item.n_tokens)
        if current and (len(current) >= batch_size
                        or (len(current) + 1) * n_layers * n_heads * t * t * 4 > ATTENTION_BUDGET):
            batches.append(current)
            current, t = [], item.n_tokens
        current.append(item.key)
        longest = t
    if current:
        batches.append(current)
    return batches


def forward_codes(loaded: LoadedModel, batch: list[Encoded]) -> tuple[np.ndarray, list[int]]:
    """One padded forward pass -> uint8 codes (B, L, H, T, T) and each sentence's T."""
    lengths = [e.n_tokens for e in batch]
    t_max = max(lengths)
    pad = loaded.tokenizer.pad_token_id
    ids = torch.full((len(batch), t_max), pad, dtype=torch.long)
    mask = torch.zeros((len(batch), t_max), dtype=torch.long)
    for b, e in enumerate(batch):  # right padding
        ids[b, : e.n_tokens] = torch.tensor(e.input_ids)
        mask[b, : e.n_tokens] = 1
    with torch.inference_mode():
        out = loaded.model(input_ids=ids.to(loaded.device), attention_mask=mask.to(loaded.device),
                           output_attentions=True)
        # each layer (B, H, T, T) -> float32 -> codes, quantized on the device: 4x less to copy
        codes = torch.stack([(a.float().clamp_(0, 1) * 255).round_().to(torch.uint8)
                             for a in out.attentions], dim=1)  # (B, L, H, T, T)
    return codes.cpu().numpy(), lengths


def _writer_loop(work: queue.Queue, writer: StoreWriter, rows: dict, errors: list) -> None:
    """Writer thread: slice each batch per sentence (unpadded) and append it to the store."""
    while (item := work.get()) is not None:
        if errors:
            continue  # drain after a failure; the main thread reports it
        codes, batch, wanted, progress = item
        try:
            for b, e in enumerate(batch):
                if e.key in wanted and e.key not in rows:
                    t = e.n_tokens
                    rows[e.key] = writer.add(e.record, codes[b, :, :, :t, :t])  # (L, H, T, T)
            progress.update(sum(e.key in wanted for e in batch))
        except BaseException as exc:  # surfaced by the main thread
            errors.append(exc)


def dir_bytes(path: Path) -> int:
    """Bytes of all files under a folder."""
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def extract(sentences: list[Sentence], store_path: str | Path, loaded: LoadedModel, *,
            batch_size: int = 64, lock_wait: float = 0.0, progress: bool = True,
            skipped: list[Skip] = (), commit_every: float = 2.0) -> ExtractSummary:
    """Run the corpus through the model into the store; only new or changed sentences are computed."""
    started, store_path = time.perf_counter(), Path(store_path)
    summary = ExtractSummary(skipped={})
    info = loaded.info
    encoded, skips = encode(sentences, loaded.tokenizer, info["max_length"])
    for skip in [*skipped, *skips]:
        summary.skipped[skip.reason] = summary.skipped.get(skip.reason, 0) + 1
    summary.truncated = sum(e.record["truncated"] for e in encoded)
    if summary.truncated:
        log.warning("%d sentences are longer than the model's %d tokens and were truncated",
                    summary.truncated, info["max_length"])
    with StoreLock(store_path, wait=lock_wait):
        writer = StoreWriter(store_path, info, loaded.fingerprint, commit_every=commit_every)
        rows: dict[str, int] = {}  # content key -> row, for this run's corpus
        catalog, to_compute = [], {}
        # gather: decide per sentence whether it is unchanged, reusable or to be computed
        for e in encoded:
            old = writer.current.get(e.sentence.id)
            record_json = dump_record(e.record)
            same_text = writer.by_key.get(e.key)
            if old is not None and writer.record_json(old) == record_json:
                catalog.append(("row", old))  # unchanged since the last run
            elif same_text is not None and writer.record_json(same_text) == record_json:
                catalog.append(("row", same_text))  # stored by an interrupted run
            elif same_text is not None:
                catalog.append(("row", writer.reuse(e.record, same_text)))  # new id, spans or meta
            else:
                catalog.append(("new", e))
                to_compute.setdefault(e.key, e)
                continue
            summary.reused += 1
        summary.removed = len(set(writer.current) - {e.sentence.id for e in encoded})
        batches = _resume_or_plan(writer, to_compute, encoded, batch_size, info)
        if to_compute:
            writer.save_plan(batches)
        by_key = {e.key: e for e in encoded}
        _run_batches(loaded, writer, batches, by_key, set(to_compute), rows, progress)
        summary.computed = len(to_compute)
        writer.flush()
        # a text that occurs under several ids was computed once: the others share its codes
        final = [ref if kind == "row" else
                 rows[ref.key] if writer.record_json(rows[ref.key]) == dump_record(ref.record) else
                 writer.reuse(ref.record, rows[ref.key]) for kind, ref in catalog]
        writer.finish(final)
        writer.clear_plan()
    summary.sentences = len(catalog)
    summary.store_bytes = dir_bytes(store_path)
    summary.seconds = time.perf_counter() - started
    return summary


def _resume_or_plan(writer: StoreWriter, to_compute: dict, encoded: list[Encoded],
                    batch_size: int, info: dict) -> list[list[str]]:
    """This run's batches: an interrupted run's plan first (the same batches, so the same
    values bit for bit), then the sentences it did not cover."""
    known = {e.key for e in encoded}
    old = [b for b in writer.load_plan() if any(k in to_compute for k in b)]
    old = [[k for k in b if k in known] for b in old]  # members that left the corpus can't be rerun
    covered = {k for b in old for k in b}
    rest = [e for k, e in to_compute.items() if k not in covered]
    return old + plan_batches(rest, batch_size, info["n_layers"], info["n_heads"])


def _run_batches(loaded, writer, batches, by_key, wanted, rows, progress) -> None:
    """Forward each batch holding wanted sentences; the writer thread stores them."""
    work: queue.Queue = queue.Queue(maxsize=2)
    errors: list[BaseException] = []
    bar = tqdm(total=len(wanted), unit="sent", desc="extract", disable=not progress,
               dynamic_ncols=True, smoothing=0.1)
    thread = threading.Thread(target=_writer_loop, args=(work, writer, rows, errors), daemon=True)
    thread.start()
    try:
        for keys in batches:
            if errors:
                break
            if not any(k in wanted and k not in rows for k in keys):
                continue
            batch = [by_key[k] for k in keys]
            codes, _ = forward_codes(loaded, batch)
            work.put((codes, batch, wanted, bar))
    finally:
        work.put(None)
        thread.join()
        bar.close()
    if errors:
        raise errors[0]
