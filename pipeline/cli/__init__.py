"""The command line: parse flags, load the config, call the stages. Nothing else lives here."""

from __future__ import annotations

import logging
import os
import sys

import click

from pipeline import __version__, jobs
from pipeline.cli.options import (
    QUIET,
    AtlasGroup,
    command_config,
    model_options,
    setting_option,
    setting_options,
)

log = logging.getLogger("pipeline")






@click.group(cls=AtlasGroup,
             context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="attention-atlas")
@click.option("--config", "config_path", type=click.Path(dir_okay=False),
              help="Settings file [default: ./atlas.toml when present].")
@click.option("-q", "--quiet", is_flag=True, help="No progress bars; warnings and the summary only.")
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
@click.pass_context
def main(ctx: click.Context, config_path: str | None, quiet: bool, verbose: bool) -> None:
    """Attention Atlas: every attention head of a transformer, over a whole corpus, as a static site.

    `attention-atlas run` with no arguments runs the bundled example corpus through
    the embedded default model into build/atlas.zarr and build/site/.
    """
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    ctx.obj = {"config": config_path, "progress": not quiet}


@main.command()
@setting_options("corpus")
@model_options
@setting_options("out", "store", "site", "revision", "batch_size", "device", "dtype",
          "on_error", "wait", "commit_every", "measures", "max_new_tokens", "engine",
          "ray_address", "workers", "gpus_per_worker", "measure", "domain", "measure_label",
          "max_site_bytes")
@QUIET
@click.pass_context
def run(ctx: click.Context, **flags) -> None:
    """Extract the corpus into the store, then build the site (the main job).

    Only new or changed sentences are computed; sentences gone from the corpus
    leave the site. Preview the result with `attention-atlas serve build/site`.
    With --checkpoints DIR, or --model given more than once, a series: each model
    into OUT/stores/<label>.zarr, OUT/series.json, and one site (docs/series.md).
    """
    cfg = command_config(ctx, **flags)
    jobs.extract(cfg, ctx.obj["progress"])
    jobs.build(cfg, ctx.obj["progress"])
    click.echo(f"open: {cfg.site_path / 'index.html'} (works from disk), "
               f"or serve: attention-atlas serve {cfg.site_path}")


@main.command()
@setting_options("corpus")
@model_options
@setting_options("out", "store", "revision", "batch_size", "device", "dtype",
          "on_error", "wait", "commit_every", "measures", "max_new_tokens", "engine",
          "ray_address", "workers", "gpus_per_worker")
@QUIET
@click.pass_context
def extract(ctx: click.Context, **flags) -> None:
    """Run a corpus through a model and store every layer x head attention map.

    With --checkpoints DIR, or --model given more than once, each model of the
    series into its own store, OUT/stores/<label>.zarr, and OUT/series.json.
    """
    jobs.extract(command_config(ctx, **flags), ctx.obj["progress"])


@main.command()
@setting_options("out", "store", "site", "measure", "domain", "measure_label", "max_site_bytes", "wait")
@QUIET
@click.pass_context
def build(ctx: click.Context, **flags) -> None:
    """Build the static site from a store (the model is not needed).

    Brings the per-head statistics up to date first (as `stats` does). An OUT
    holding series.json gets the site of its series.
    """
    jobs.build(command_config(ctx, **flags), ctx.obj["progress"], detect=True)


@main.command()
@setting_options("out", "store", "checkpoints", "wait")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table",
              show_default=True, help="table: each statistic's highest heads, for the terminal; "
                                      "csv or json: every head's value and rank.")
@click.option("--measure", "report_measure", metavar="M",
              help="Only this measure's statistics [default: every stored measure].")
@click.option("--part", "report_part", type=click.Choice(["encoder", "decoder", "cross"]),
              help="An encoder-decoder's store: only this part's statistics [default: every "
                   "part].")
@click.option("--stat", metavar="NAME",
              help="Only this statistic (prev, entropy, ...; span:MOT>CHI; dep:nsubj) "
                   "[default: all].")
@click.option("--top", type=click.IntRange(min=1), metavar="K",
              help="Only the K highest heads of each statistic [default: 5 in the table, every "
                   "head in csv and json].")
@click.option("-o", "--output", metavar="FILE",
              help="Write the table, CSV or JSON to FILE instead of stdout.")
@QUIET
@click.pass_context
def stats(ctx: click.Context, fmt: str, report_measure: str | None, report_part: str | None,
          stat: str | None, top: int | None, output: str | None, **flags) -> None:
    """Compute every head's statistics over the corpus and print them (no model needed).

    Entropy, distance, self/previous/next word, special tokens, punctuation,
    confidence, span mass between span labels and, for .conllu corpora, dependency
    accuracy per relation, for every stored measure; for an encoder-decoder, per part
    (encoder, decoder, cross: cross-attention has alignment entropy, the diagonal and
    copies instead of the positions within one sentence). Only sentences not computed
    before are computed; `build` and `run` do this too. Then every head's value and
    rank (1 = the highest) of each statistic: a table of the highest heads, or CSV /
    JSON of every head (the site's download). Read them in Python with
    `store.head_stats()`. A series (--checkpoints, atlas.toml's, or OUT/series.json):
    every store of it.
    """
    jobs.stats_report(command_config(ctx, **flags), ctx.obj["progress"], fmt=fmt, measure=report_measure,
                      part=report_part, stat=stat, top=top, output=output)


@main.command()
@click.argument("site_dir", type=click.Path(file_okay=False), default="build/site")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, help="Port to listen on.")
def serve(site_dir: str, host: str, port: int) -> None:
    """Preview a built site at http://HOST:PORT/ (a plain static server; Ctrl-C stops it)."""
    from pipeline.site.serve import serve as serve_site

    serve_site(site_dir, host=host, port=port,  # announced once it is a site, and listening
               ready=lambda url: click.echo(f"serving {site_dir} at {url} (Ctrl-C to stop)"))


@main.command()
@setting_options("out", "store")
@click.option("--repair", is_flag=True, help="Drop damaged sentences so the next run recomputes them.")
@setting_options("wait")
@QUIET
@click.pass_context
def verify(ctx: click.Context, repair: bool, **flags) -> None:
    """Check a store: counts, offsets, metadata and every chunk's checksum.

    Exits 0 when the store is sound, 1 when it has problems (each one named).
    A series (atlas.toml's, or OUT/series.json): every store of it.
    """
    from pipeline.store.verify import verify_store

    cfg = command_config(ctx, **flags)
    failed = False
    for store in jobs.series_stores(cfg, detect=True) or [cfg.store_path]:
        report = verify_store(store, repair=repair, wait=cfg.wait)
        click.echo(str(report))
        failed = failed or (not report.ok and not report.repaired)
    if failed:
        ctx.exit(1)


@main.command("config")
@setting_options("corpus")
@model_options
@setting_options("out", "store", "site", "revision")
@click.pass_context
def show_config(ctx: click.Context, **flags) -> None:
    """Print the resolved settings as key=value lines: corpus, model, paths and the model's key.

    Defaults are filled in (the bundled corpus, the embedded model as `default`).
    `model_key` is a short hash of the model's name, revision and, for a local
    folder, its weight and tokenizer files: the nightly workflow appends these
    lines to $GITHUB_OUTPUT and keys its cached store on `model_key`. For a
    series, `store` is the folder of its stores and `model_key` names the series
    (docs/series.md).
    """
    from pipeline.config import resolved_settings
    from pipeline.errors import ConfigError

    for key, value in resolved_settings(command_config(ctx, **flags)).items():
        if "\n" in value or "\r" in value:  # one line per key, or $GITHUB_OUTPUT is misread
            raise ConfigError(f"{key} = {value!r}: a line break cannot be printed as key=value")
        click.echo(f"{key}={value}")


@main.command()
@setting_options("out", "store")
@click.option("--sentence", metavar="ID|INDEX",
              help="The sentence: its id, or its 0-based position in the corpus (an id wins).")
@click.option("--layer", type=int, metavar="N", help="The selected layer, 1-based as on the site.")
@click.option("--head", type=int, metavar="N", help="The selected head, 1-based as on the site.")
@click.option("-o", "--output", required=True, metavar="FILE",
              help="The file; its extension picks the format: .svg (text stays text), .pdf "
                   "(vector) or .png. With --batch, a pattern naming each file, e.g. "
                   "'figures/{id}-l{layer}h{head}.pdf' ({id}: the sentence id made safe for a "
                   "file name; also {index}, {measure}).")
@setting_options("measure", "domain")
@setting_option("measure_label", "--label")
@click.option("--words-only", is_flag=True,
              help="Leave out the note on the attention that goes to special tokens.")
@click.option("--no-grid", is_flag=True, help="The word x word map alone, without the grid.")
@click.option("--part", type=click.Choice(["encoder", "decoder", "cross"]),
              help="An encoder-decoder store's part: encoder (source x source), decoder (target "
                   "x target) or cross (target rows x source columns) [default: encoder].")
@click.option("--font", metavar="FAMILY",
              help="Font family of every text [default: Liberation Sans, which vl-convert ships, "
                   "so the figure lays out alike on every machine].")
@click.option("--width", type=int, metavar="PX",
              help="The word x word map's side in pixels; the grid scales with it [default: 440; "
                   "with --series each checkpoint's map 200, the --stat plot's width 420].")
@click.option("--scale", type=float, default=2.0, show_default=True,
              help="PNG pixels per figure pixel.")
@click.option("--batch", type=click.Path(dir_okay=False), metavar="FILE",
              help="A file of 'SENTENCE LAYER HEAD' lines: one figure each, named by -o's pattern.")
@click.option("--series", "series_dir", type=click.Path(file_okay=False), metavar="OUT",
              help="A series of checkpoints (the OUT of `run --checkpoints`): draw the head of "
                   "--sentence, --layer, --head in each of --checkpoints, or with --stat the "
                   "statistic of --heads over training.")
@click.option("--checkpoints", metavar="LIST",
              help="With --series: the checkpoints to draw, labels or steps, comma-separated "
                   "(e.g. step-0,step-100) [default: all].")
@click.option("--stat", metavar="NAME",
              help="With --series: draw this statistic over training, one line per head of "
                   "--heads (prev, first, induction, ...; span:MOT>CHI; dep:nsubj).")
@click.option("--heads", metavar="LIST",
              help="With --stat: the heads, l<layer>h<head> comma-separated, 1-based (l1h2,l3h4).")
@click.option("--columns", type=int, metavar="N",
              help="With --series: checkpoints' maps per row, at most [default: 4].")
@QUIET
@click.pass_context
def figure(ctx: click.Context, sentence: str | None, layer: int | None, head: int | None,
           output: str, words_only: bool, no_grid: bool, part: str | None, font: str | None,
           width: int | None,
           scale: float, batch: str | None, series_dir: str | None, checkpoints: str | None,
           stat: str | None, heads: str | None, columns: int | None, **flags) -> None:
    """Write the sentence figure for a paper: the layer x head grid with the selected head
    outlined, its word x word map with the spans bracketed, and the colour bar.

    With --series, the figures of a series of checkpoints instead: one head of one sentence
    across checkpoints (one map each, one colour bar), or with --stat chosen heads'
    statistic over training (a line per head over the steps). Rendered from the site's own
    chart specs by vl-convert (no browser, no network); the same store and arguments give
    byte-identical SVG.
    """
    from pathlib import Path

    from pipeline.errors import ConfigError
    from pipeline.site.build import open_store
    from pipeline.site.figure import FigureOptions, FigureRequest, read_batch, write_figures

    cfg = command_config(ctx, **flags)
    single = {"--sentence": sentence, "--layer": layer, "--head": head}
    series_only = {"--checkpoints": checkpoints, "--stat": stat, "--heads": heads,
                   "--columns": columns}
    if series_dir:
        from pipeline.site.series_figure import draw_series_figure

        path = draw_series_figure(series_dir, single, series_only, Path(output), cfg, font=font,
                              width=width, scale=scale, batch=batch or words_only or no_grid)
        click.echo(f"figure: {path} ({path.stat().st_size:,} bytes)")
        return
    given = [name for name, value in series_only.items() if value is not None]
    if given:
        raise ConfigError(f"{', '.join(given)}: only with --series OUT (a series of checkpoints)")
    if batch:
        if any(v is not None for v in single.values()):
            raise ConfigError("give either --batch FILE or --sentence, --layer and --head")
        requests = read_batch(Path(batch), output)
    else:
        missing = [name for name, value in single.items() if value is None]
        if missing:
            raise ConfigError(f"missing {', '.join(missing)} (or give --batch FILE)")
        requests = [FigureRequest(sentence, layer, head, Path(output))]
    options = FigureOptions(measure=cfg.measure, measure_label=cfg.measure_label,
                            domain=cfg.domain, note=not words_only, grid=not no_grid,
                            width=width or 440, scale=scale, part=part,
                            **({"font": font} if font else {}))
    written = write_figures(open_store(cfg.store_path), requests, options,
                            progress=ctx.obj["progress"])
    for path in written:
        click.echo(f"figure: {path} ({path.stat().st_size:,} bytes)")
