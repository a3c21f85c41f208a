"""Extraction: the corpus through the model into the store, computing only what is not stored.

Reads like a script: gather (encode every sentence and ask the store which are
already stored, and where), then compute the rest in sorted, budgeted batches
(pipeline.extract.batches) on an engine (pipeline.extract.engines: pipeline.extract.forward in this process,
or a Ray cluster), then write the corpus order. When the
model is given as a `ModelSpec` and the store already holds every sentence for
this model (checked from the model's files), nothing is loaded and torch is
never imported: a nightly run on an unchanged corpus only reads and compares.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path

from pipeline.errors import Interrupted, StoreError
from pipeline.extract.batches import resume_or_plan
from pipeline.extract.encode import Encoded, content_key, encode
from pipeline.extract.engines import Engine, LocalEngine
from pipeline.measures import DEFAULT_MEASURE, parse_measures
from pipeline.model.families import check_family, model_type_in
from pipeline.model.identity import DEFAULT_MAX_NEW_TOKENS, ModelIdentity, fingerprint
from pipeline.model.loading import LoadedModel, ModelSpec
from pipeline.records import Sentence, Skip
from pipeline.store.layout import finished_run, open_group_meta
from pipeline.store.location import StoreLocation
from pipeline.store.lock import StoreLock
from pipeline.store.writer import StoreWriter, model_mismatch
from pipeline.words import split_words

log = logging.getLogger(__name__)

TRUNCATED_NAMED = 5  # how many truncated sentences the warning names


@dataclass
class ExtractSummary:
    """What an extraction did, for the closing summary line."""

    sentences: int = 0
    computed: int = 0
    repeated: int = 0  # sentences whose text another sentence of this run computed
    reused: int = 0
    removed: int = 0
    truncated: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    store_bytes: int = 0
    seconds: float = 0.0
    model_loaded: bool = True
    added: dict[str, int] = field(default_factory=dict)  # per measure, texts it was computed for
    generated: int = 0  # an encoder-decoder's targets generated in this run
    targets_ignored: int = 0  # targets given to a model that is not an encoder-decoder

    def __str__(self) -> str:
        skipped = sum(self.skipped.values())
        why = "; ".join(f"{n} {reason}" for reason, n in self.skipped.items())
        rate = self.computed / self.seconds if self.seconds else 0.0
        repeated = f", {self.repeated} repeat a text computed in this run" if self.repeated else ""
        if any(n != self.computed for n in self.added.values()):  # a measure added to stored texts
            repeated += " (by measure: " + ", ".join(f"{m} {n}" for m, n in self.added.items()
                                                     if n) + ")"
        if self.generated:
            repeated += f", {self.generated} target(s) generated"
        if self.targets_ignored:
            repeated += (f", {self.targets_ignored} target(s) ignored (the model is no "
                         "encoder-decoder)")
        return (f"{self.sentences} sentences in the store: {self.computed} computed "
                f"({rate:.1f}/s){repeated}, {self.reused} reused, {self.removed} removed, "
                f"{self.truncated} truncated, {skipped} skipped{f' ({why})' if why else ''}; "
                f"store {self.store_bytes / 1e6:.1f} MB; {self.seconds:.1f} s"
                f"{'' if self.model_loaded else '; model not loaded: nothing to compute'}")


def extract(sentences: list[Sentence], store_path: str | Path | StoreLocation,
            model: LoadedModel | ModelSpec, *,
            batch_size: int = 64, lock_wait: float = 0.0, progress: bool = True,
            skipped: list[Skip] = (), commit_every: float = 2.0,
            measures: str | tuple[str, ...] = (DEFAULT_MEASURE,),
            engine: Engine | None = None,
            max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS) -> ExtractSummary:
    """Run the corpus through the model into the store; only new or changed sentences, and
    measures the store lacks, are computed. The store keeps every measure it holds: a run
    computes the union of `measures` and the store's for whatever it computes. The store: a
    local folder, a file:// URL or another fsspec URL (pipeline.store.location). `engine`:
    where the forward passes run (pipeline.extract.engines; default: this process).

    An encoder-decoder model (T5, BART, Marian, ...) takes each sentence as a pair, source ->
    target: a sentence without target gets the model's greedy output, at most
    `max_new_tokens` tokens (generated once: the store keeps it, and a rerun reuses it)."""
    started, store_path = time.perf_counter(), StoreLocation.of(store_path)
    measures = parse_measures(measures)
    summary = ExtractSummary(skipped=dict(sorted(Counter(s.reason for s in skipped).items())))
    # from the model's files, before the lock makes any folder: a model that exists nowhere,
    # or that this pipeline cannot run (an encoder-decoder), fails here, leaving nothing behind
    identity = model.identify() if isinstance(model, ModelSpec) else None
    if identity is not None and identity.path:  # `norm` of a family it does not know: refused now
        check_family(model_type_in(identity.path), repr(identity.name), measures)
    before = None  # rows committed when this run took the lock
    try:
        with StoreLock(store_path, wait=lock_wait):
            before = _commit(store_path).get("rows", 0)
            writer, rows = _unchanged_store(sentences, store_path, identity, commit_every,
                                            measures, max_new_tokens)
            if writer is not None:  # every sentence stored as it is: only the order to write
                summary.sentences = summary.reused = len(rows)
                summary.model_loaded = False
                if not writer.encoder_decoder:
                    _warn_ignored_targets(sentences, writer.model, summary)
                summary.removed = len(set(writer.current) - {s.id for s in sentences})
                writer.finish(rows)
            else:
                _extract_loaded(sentences, store_path, model, summary, batch_size=batch_size,
                                progress=progress, commit_every=commit_every, measures=measures,
                                engine=engine or LocalEngine(), max_new_tokens=max_new_tokens)
    except KeyboardInterrupt:  # Ctrl-C: say what the store keeps, and that a rerun resumes
        raise Interrupted(_interrupted(store_path, before, summary)) from None
    summary.store_bytes = store_path.bytes_used()
    summary.seconds = time.perf_counter() - started
    return summary


def _unchanged_store(sentences: list[Sentence], store_path: StoreLocation,
                     identity: ModelIdentity | None, commit_every: float,
                     measures: tuple[str, ...], max_new_tokens: int) -> tuple[
        StoreWriter | None, list[int]]:
    """A writer on the store and each sentence's row, when the store holds every sentence as it
    is for this model, with every measure asked for (decided from the model's identity, read
    from its files without loading it; None: not known before loading); else (None, [])."""
    if identity is None or not store_path.is_store():
        return None, []
    _, meta = open_group_meta(store_path, mode="r")
    known = identity.fingerprint_with(max_new_tokens)
    if model_mismatch(store_path.path, meta["model"], {}, known):
        return None, []  # loading the model decides (and names the difference)
    if not set(measures) <= set(meta["measures"]):
        return None, []  # a measure to add: the model must run
    writer = StoreWriter(store_path, meta["model"], known, commit_every=commit_every,
                         measures=measures)
    rows = [writer.unchanged(s) for s in sentences]
    return (writer, rows) if None not in rows else (None, [])


def _extract_loaded(sentences: list[Sentence], store_path: StoreLocation, model, summary: ExtractSummary,
                    *, batch_size: int, progress: bool, commit_every: float,
                    measures: tuple[str, ...], engine: Engine, max_new_tokens: int) -> None:
    """The full path: load the model, encode (an encoder-decoder's targets generated where
    neither the corpus nor the store has one), place, compute what is missing (the engine),
    write the catalog."""
    if store_path.is_store():  # the store's measures are kept: computed too
        _, meta = open_group_meta(store_path, mode="r")
        measures = parse_measures([*measures, *meta["measures"]])
    loaded = engine.load(model, measures)
    info = loaded.info
    check_family(info.get("model_type") or getattr(loaded.model.config, "model_type", None),
                 f"{info.get('name')!r} ({info.get('architecture')})", measures)
    if loaded.encoder_decoder:  # its generated targets depend on max_new_tokens
        info = {**info, "max_new_tokens": max_new_tokens}
    writer = StoreWriter(store_path, info, fingerprint(info), commit_every=commit_every,
                         measures=measures)
    if loaded.encoder_decoder:
        sentences, generated = _with_targets(sentences, loaded, writer, max_new_tokens,
                                             batch_size, summary)
        encoded, skips = encode(sentences, loaded.tokenizer, info["max_length"],
                                decoder_start=info["decoder_start_token_id"], generated=generated)
    else:
        _warn_ignored_targets(sentences, info, summary)
        encoded, skips = encode(sentences, loaded.tokenizer, info["max_length"])
    summary.skipped = dict(sorted((Counter(summary.skipped) + Counter(s.reason for s in skips)).items()))
    _warn_truncated(encoded, info["max_length"], summary)
    # gather: where each sentence is stored, or None when its codes must be computed; and
    # which measures each text still needs (all for a new text; those added for a stored one)
    placed = [writer.place(e.stored) for e in encoded]
    to_compute: dict[str, Encoded] = {}
    wanted: dict[str, tuple[str, ...]] = {}
    for e, row in zip(encoded, placed, strict=True):
        missing = writer.missing(e.key)
        if row is None or missing:
            to_compute.setdefault(e.key, e)
            wanted[e.key] = missing
    summary.reused = sum(row is not None and e.key not in wanted
                         for e, row in zip(encoded, placed, strict=True))
    summary.computed = len(to_compute)
    summary.added = {m: sum(m in w for w in wanted.values()) for m in writer.measures}
    summary.repeated = len(encoded) - summary.reused - summary.computed
    summary.removed = len(set(writer.current) - {e.sentence.id for e in encoded})
    summary.sentences = len(encoded)
    if to_compute:
        batches = resume_or_plan(writer.load_plan(), to_compute, {e.key for e in encoded},
                                 batch_size, *maps_per_token_pair(info))
        writer.save_plan(batches)
        try:
            engine.run(batches, {e.key: e for e in encoded}, wanted, writer, progress)
        except KeyboardInterrupt:  # keep what was computed: the rows queued so far, committed
            writer.flush()
            raise
    writer.flush()
    # a text that occurs under several ids was computed once: the others share its codes
    rows = [row if row is not None else writer.place(e.stored)
            for e, row in zip(encoded, placed, strict=True)]
    writer.finish(rows)
    writer.clear_plan()


def maps_per_token_pair(info: dict) -> tuple[int, int]:
    """(layers, heads) whose product is the float32 maps a batch holds per (query, key) pair,
    for the batch budget: an encoder-decoder's encoder, decoder and cross-attention all count."""
    if not info.get("encoder_decoder"):
        return info["n_layers"], info["n_heads"]
    return (info["n_layers"] + 2 * info["n_decoder_layers"],
            max(info["n_heads"], info["n_decoder_heads"]))


def _with_targets(sentences: list[Sentence], loaded: LoadedModel, writer: StoreWriter,
                  max_new_tokens: int, batch_size: int, summary: ExtractSummary) -> tuple[
        list[Sentence], set[str]]:
    """Every sentence with a target: its own, else the one the store keeps for its text (a
    target generated by an earlier run, with this model and max_new_tokens), else the model's
    greedy output; and the ids of those whose target was generated."""
    generated, texts = set(), {}
    for s in sentences:
        if s.target is None:
            generated.add(s.id)
            stored = writer.stored(content_key(s.text))
            texts.setdefault(s.text, stored.target if stored is not None
                             and stored.target_generated else None)
    new = [text for text, target in texts.items() if target is None]
    if new:
        from pipeline.extract.pairs import generate_targets  # torch: only when generating

        log.info("generating %d target(s) (greedy, at most %d new tokens)", len(new),
                 max_new_tokens)
        texts.update(zip(new, generate_targets(loaded, new, max_new_tokens, batch_size),
                         strict=True))
        summary.generated = len(new)
    return [s if s.target is not None else
            replace(s, target=texts[s.text], target_word_ranges=split_words(texts[s.text]),
                    target_spans=()) for s in sentences], generated


def _warn_ignored_targets(sentences: list[Sentence], info: dict, summary: ExtractSummary) -> None:
    """Count (and warn once of) the targets a model that is not an encoder-decoder ignores."""
    summary.targets_ignored = sum(s.target is not None for s in sentences)
    if summary.targets_ignored:
        log.warning("%d sentence(s) carry a target, which %s (%s) ignores: only an "
                    "encoder-decoder model (T5, BART, Marian, ...) reads a target",
                    summary.targets_ignored, info.get("name"), info.get("architecture"))


def forget_changed_model(store: StoreLocation, model: str | None, revision: str | None, *,
                         wait: float = 0.0, label: str = "",
                         max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS) -> bool:
    """Remove a series' store whose model changed, so that it is computed afresh; True if it did.

    A series' store is the cache of its label: when the label's model is another now (a
    checkpoint retrained into the same folder, or an encoder-decoder's max_new_tokens
    changed), as its files tell without loading it, the store is removed with a warning.
    (The store of one model refuses another: exit 5.)"""
    import shutil

    from pipeline.model.identity import identify_model

    identity = identify_model(model, revision) if store.is_store() else None
    if identity is None:  # no store yet, or a hub model not downloaded: loading it decides
        return False
    with StoreLock(store, wait=wait):
        stored = open_group_meta(store, mode="r")[1]["model"]
        why = model_mismatch(store.path, stored, {"name": identity.name},
                             identity.fingerprint_with(max_new_tokens))
        if why:
            log.warning("%s (%s) is another model now: its store is computed afresh\n%s",
                        label or store, model, why.rsplit("\n", 1)[0])
            shutil.rmtree(store.path)
    return bool(why)


def _commit(store: StoreLocation) -> dict:
    """The store's last commit; {} when there is no store yet (or none that can be read)."""
    try:
        return open_group_meta(store, mode="r")[1]["commit"] if store.is_store() else {}
    except StoreError:
        return {}


def _interrupted(store: StoreLocation, rows_before: int | None, summary: ExtractSummary) -> str:
    """What an interrupted run kept, and that the same command resumes it (one line)."""
    commit = _commit(store)
    kept = 0 if rows_before is None else commit.get("rows", 0) - rows_before
    of = f" (of {summary.computed} to compute)" if summary.computed else ""
    kept = (f"{store} keeps the {kept} sentence(s) this run computed and committed{of}"
            if kept > 0 else f"nothing new was committed to {store}")
    if not commit:
        until = ""
    elif finished_run(commit):
        until = f"; until then `build` shows the last finished run ({commit['catalog']} sentences)"
    else:
        until = "; until then the store has no finished run to build from"
    return f"interrupted: {kept}; rerun the same command to resume: it computes only the rest{until}"


def _warn_truncated(encoded: list[Encoded], max_length: int, summary: ExtractSummary) -> None:
    """Count the truncated sentences (a pair's source or target) and name the first few, with
    where they came from."""
    cut = [e.sentence for e in encoded if e.stored.truncated or e.stored.target_truncated]
    summary.truncated = len(cut)
    if cut:
        named = ", ".join(f"{s.id!r} ({s.source[0]}:{s.source[1]})" if s.source[0] else repr(s.id)
                          for s in cut[:TRUNCATED_NAMED])
        more = f" and {len(cut) - TRUNCATED_NAMED} more" if len(cut) > TRUNCATED_NAMED else ""
        log.warning("%d sentence(s) longer than the model's %d tokens were truncated: %s%s",
                    len(cut), max_length, named, more)
