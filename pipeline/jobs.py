"""The main job's steps for the command line: extract, statistics and the site, for one model
or for each model of a series (docs/series.md), each step's summary printed. The commands in
pipeline.cli parse the flags and call these; the stages do the work."""

from __future__ import annotations

import logging

import click

from pipeline.config import Config

log = logging.getLogger("pipeline")


def extract(cfg: Config, progress: bool) -> None:
    """Read the corpus, then extract it into the store of the model, or of each model of a series
    in order (then write the series' manifest); print each summary."""
    from pipeline.corpus import bundled_corpus_path, read_corpus
    from pipeline.extract.engines import make_engine

    engine = make_engine(cfg.engine, ray_address=cfg.ray_address, workers=cfg.workers,
                         gpus_per_worker=cfg.gpus_per_worker)  # without Ray: how to install it
    corpus = cfg.corpus or str(bundled_corpus_path())
    report = read_corpus(corpus, on_error=cfg.on_error)  # it logs each skip, with file:line
    if not cfg.series:
        _extract_one(cfg, report, engine, cfg.model, cfg.revision, cfg.store_path, progress)
        return
    from pipeline.extract.run import forget_changed_model
    from pipeline.series import write_manifest
    from pipeline.store.location import StoreLocation

    members = cfg.series_members()
    for m in members:
        store = StoreLocation.of(m.store(cfg.out))
        forget_changed_model(store, m.model, m.revision, wait=cfg.wait, label=m.label,
                             max_new_tokens=cfg.max_new_tokens)
        _extract_one(cfg, report, engine, m.model, m.revision, store, progress, m.label)
    path = write_manifest(cfg.out, members)
    click.echo(f"series: {len(members)} models ({', '.join(m.label for m in members)}) -> {path}")


def _extract_one(cfg: Config, report, engine, model: str | None, revision: str | None, store,
                 progress: bool, label: str | None = None) -> None:
    """Extract the corpus into one model's store and print the summary."""
    from pipeline.extract.run import extract
    from pipeline.model.loading import ModelSpec

    if label:
        log.info("series: %s (%s)", label, model)
    spec = ModelSpec(model, revision=revision, device=cfg.device, dtype=cfg.dtype)
    summary = extract(report.sentences, store, spec, batch_size=cfg.batch_size,
                      lock_wait=cfg.wait, progress=progress, skipped=report.skipped,
                      commit_every=cfg.commit_every, measures=cfg.measures, engine=engine,
                      max_new_tokens=cfg.max_new_tokens)
    click.echo(f"extract: {summary} -> {store}")


def series_stores(cfg: Config, detect: bool) -> list | None:
    """The stores of the series the settings name; with `detect`, of OUT/series.json when the
    settings name no model and no --store; None: one model, as ever."""
    from pathlib import Path

    from pipeline.series import manifest_path, read_manifest

    if cfg.series:
        return [m.store(cfg.out) for m in cfg.series_members()]
    if detect and cfg.model is None and cfg.store is None and manifest_path(cfg.out).is_file():
        return [Path(cfg.out) / e["store"] for e in read_manifest(cfg.out)]
    return None


def stats(cfg: Config, progress: bool, detect: bool = False, err: bool = False) -> None:
    """Bring the per-head statistics (the corpus view) of the store, or of every store of a
    series, up to date and print the summary (to stderr with `err`: stdout holds data)."""
    from pipeline.stats.compute import update_stats

    for store in series_stores(cfg, detect) or [cfg.store_path]:
        summary = update_stats(store, wait=cfg.wait, progress=progress)
        click.echo(f"stats: {summary} -> {store}", err=err)
    if cfg.series:  # the identities are the stores': written again, as extract wrote them
        from pipeline.series import write_manifest

        write_manifest(cfg.out, cfg.series_members())


def stats_report(cfg: Config, progress: bool, *, fmt: str = "table", measure: str | None = None,
                 part: str | None = None, stat: str | None = None, top: int | None = None,
                 output: str | None = None) -> None:
    """The `stats` command: bring the statistics up to date (as `stats`), then print every
    head's value and rank of each statistic (pipeline.site.stats_table) as a table, CSV or JSON,
    for one measure or all, one part of an encoder-decoder's or all, one statistic or all, the
    `top` highest heads or all; to `output` (a file) or stdout (the summaries then go to stderr
    unless it is the table)."""
    from pathlib import Path

    from pipeline.errors import StoreError
    from pipeline.measures import check_stored
    from pipeline.site.stats_table import choose, store_table, to_csv, to_json, to_table
    from pipeline.store import AtlasStore

    stats(cfg, progress, detect=True, err=output is None and fmt != "table")
    members = series_stores(cfg, detect=True)
    tables = []
    for store in members or [cfg.store_path]:
        opened = AtlasStore.open(store)
        measures = [measure] if measure else opened.measures
        for m in measures:
            check_stored(m, opened.measures, str(opened.path), StoreError)
        label = Path(str(store)).stem if members else None  # OUT/stores/<label>.zarr
        tables.append(choose(store_table(_report_stats(opened, measures, part, measure is None),
                                         len(opened), label), stat))
    text = {"table": to_table, "csv": to_csv, "json": to_json}[fmt](tables, top)
    if output is None:
        click.echo(text, nl=False)
        return
    Path(output).write_text(text, encoding="utf-8", newline="")
    rows = sum(len(c.heads(top)) for t in tables for c in t.columns)
    click.echo(f"stats: {fmt} of {rows:,} head values -> {output}")


def _report_stats(store, measures: list[str], part: str | None, every: bool) -> dict:
    """{measure: HeadStats} of a self store; an encoder-decoder's: {stream: HeadStats} of each
    measure's parts, or of `part` alone (measures without it left out when `every` measure is
    asked for; StoreError naming the parts when none has it, or the one asked for lacks it)."""
    from pipeline.errors import StoreError

    if not store.encoder_decoder:
        if part is not None:
            raise StoreError(f"{store.path} holds no part {part!r}: its model has one stack "
                             "(part self); --part is for an encoder-decoder's store")
        return {m: store.head_stats(m) for m in measures}
    found = {}
    for m in measures:
        parts = store.measure_parts(m)
        if part is not None and part not in parts and every:
            continue
        for p in ([part] if part is not None else parts):
            found[store.stream(m, p)] = store.head_stats(m, part=p)
    if not found:
        raise StoreError(f"{store.path}: no measure has the part {part!r}")
    return found


def build(cfg: Config, progress: bool, detect: bool = False) -> None:
    """Bring the statistics up to date, build the site from the store (or the series' site from
    its stores) and print the summary."""
    stats(cfg, progress, detect)
    options = {"measure": cfg.measure, "measure_label": cfg.colour_title,
               "domain": cfg.colour_domain, "max_site_bytes": cfg.max_site_bytes,
               "progress": progress}
    if series_stores(cfg, detect) is None:
        from pipeline.site.build import build_site

        summary = build_site(cfg.store_path, cfg.site_path, **options)
    else:
        from pipeline.series import Series
        from pipeline.site.series_site import build_series_site  # the site of a series

        series = Series.open(cfg.out)
        if not series.same_tokenizer:  # the corpus view and the head pages compare any models
            log.warning("%s; the site compares them on the corpus view", series.tokenizers_differ())
        summary = build_series_site(series, cfg.site_path, **options)
    click.echo(f"build: {summary} -> {cfg.site_path}")
