"""Build the static site from a store (Jinja pages + Vega-Lite specs) and publish it atomically.

Layout of a built site (all links relative, nothing loaded from outside it). Every
file a page reads is a classic script, so the site works opened from disk (file://),
where browsers refuse fetch() and module scripts, as well as served:

    index.html                 model card, corpus summary, searchable list (reads data/_index.js)
    sentences/<page>.html      one page per sentence: words, spans, meta as safe JSON
    data/<page>.js             its word-level maps + special shares, 8-bit codes, gzipped, as
                               a script (the format: pipeline/site/data_format.py), of the default
                               measure; data/<page>.<m>.js: the same for each other measure m
    data/_index.js             one compact row per sentence: id, page, text, words, labels, meta
    assets/vega.js             Vega + Vega-Lite + vega-embed, from vl_convert.javascript_bundle
    assets/sentence-page.js    the sentence page's scripts in one file (SENTENCE_SCRIPTS)
    assets/specs-vega.js       the details a sentence page draws on load compiled to Vega
                               (vl-convert), so that no browser compiles them (assets/embed.js
                               binds them); its grid is drawn without Vega (assets/grid-draw.js)
    assets/specs.js            the chart specs, shared by every sentence (window.atlasSpecs):
                               "grid" (layers x heads), "grid-layers" (one column, for per-layer
                               measures such as rollout), "detail" (word x word, the default
                               measure's colour bar) and "detail-<m>" for each other measure m,
                               "figure" / "figure-<m>" (both side by side: the download of
                               assets/figure.js)
    assets/*.js, *.css         the page scripts and style, copied from site_templates/assets
    .atlas-site                marker: this folder is an atlas site and may be replaced

The site keeps within a size limit (max_site_bytes, default GitHub Pages' 1 GB): when
not every sentence's page fits, choose_pages gives pages to the corpus view's exemplars in
rank order, then to the others by the SHA-256 of their ids, as many as fit (docs/site.md).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import shutil
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import jinja2

from pipeline.errors import SiteError
from pipeline.measures import DEFAULT_MEASURE, check_stored, get_measure, stored_measures
from pipeline.site.contexts import (
    SiteContext,
    SiteStore,
    dumps,
    get_page_names,
    get_sentence_context,
    get_site_context,
    id_hash,
    rel_url,
)
from pipeline.site.corpus_view import (
    exemplar_order,
    sentence_cases,
)
from pipeline.site.data_format import js_global, script_dumps
from pipeline.site.head_pages import (
    corpus_views,
    current_stats,
    part_cases,
    write_corpus_view,
)
from pipeline.site.index_data import (
    IndexRow,
    get_index_context,
    get_index_data,
    get_index_row,
    meta_full,
    meta_value,
)
from pipeline.site.pages import (
    SentenceWriter,
    choose_pages,
    figure_html,
    index_row_bytes,
    sentence_room,
)
from pipeline.site.series_corpus import SERIES_DATA, series_data
from pipeline.site.series_plan import list_firsts, plan_site
from pipeline.site.site_assets import build_assets, templates_dir, write_specs
from pipeline.sizes import DEFAULT_SITE_BYTES, folder_bytes, format_size
from pipeline.store import AtlasStore
from pipeline.store.location import StoreLocation
from pipeline.words import split_words

log = logging.getLogger(__name__)

MARKER = ".atlas-site"
INDEX_DATA = "data/_index.js"  # no page is named _index: page names never start with "_"


@dataclass(frozen=True)
class BuildSummary:
    """What a build wrote: pages (HTML files), sentences (the corpus's, and those with a page),
    files, bytes (and the budget they had), seconds, and where."""

    site_dir: Path
    sentences: int
    pages: int
    files: int
    bytes: int
    seconds: float
    sentence_pages: int | None = None  # sentences with a page (None: every sentence)
    budget: int | None = None  # the site's size limit in bytes (None: none)

    @property
    def with_pages(self) -> int:
        """Sentences that have a page."""
        return self.sentences if self.sentence_pages is None else self.sentence_pages

    @property
    def bytes_per_sentence(self) -> float:
        """Site bytes per sentence with a page, shared assets included."""
        return self.bytes / max(1, self.with_pages)

    def __str__(self) -> str:
        rate = self.with_pages / self.seconds if self.seconds else 0.0
        limit = f"limit {format_size(self.budget)}" if self.budget is not None else "no limit"
        return (f"{self.sentences:,} sentences, {self.with_pages:,} with pages, {self.pages:,} pages, "
                f"{self.files:,} files, {self.bytes / 1e6:.1f} MB ({limit}; "
                f"{self.bytes_per_sentence / 1e3:.1f} kB/sentence) in {self.seconds:.1f} s "
                f"({rate:.0f} sentences/s)")


class PageLoader(jinja2.FileSystemLoader):
    """The site's templates without the indentation of their lines: every page is that much
    smaller (no template holds <pre> or <textarea>, where it would show; the corpus's text is
    not touched)."""

    def get_source(self, environment: jinja2.Environment, template: str):
        """The template's source, each line's leading spaces and tabs left out."""
        source, filename, uptodate = super().get_source(environment, template)
        return re.sub(r"(?m)^[ \t]+", "", source), filename, uptodate


def get_environment(folder: Path | None = None) -> jinja2.Environment:
    """The Jinja environment: autoescaping on, undefined names are errors, formatting filters."""
    env = jinja2.Environment(
        loader=PageLoader(str(folder or templates_dir())),
        autoescape=jinja2.select_autoescape(), undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True,
    )
    env.filters.update(
        url=rel_url,
        thousands=lambda n: f"{int(n):,}",
        fixed=lambda x, digits=2: f"{float(x):.{digits}f}",
        short_hash=lambda h: str(h)[:12],
        meta_value=meta_value,  # a sentence's metadata: numbers to 4 significant digits
        meta_full=meta_full,  # ... and in full, for the title
    )
    # `tojson` (JSON safe inside <script>: Jinja escapes < > & ') writes compact, key-sorted
    # JSON with non-ASCII kept, like every other JSON file of the site
    env.policies["json.dumps_function"] = script_dumps
    env.policies["json.dumps_kwargs"] = {"ensure_ascii": False, "sort_keys": True,
                                         "separators": (",", ":")}
    return env


def open_store(store: str | os.PathLike | StoreLocation | SiteStore) -> SiteStore:
    """Open a store by path or URL (StoreError when it is bad); an open store passes through."""
    if isinstance(store, str | os.PathLike | StoreLocation):
        return AtlasStore.open(store)
    return store


def check_target(site_dir: Path) -> None:
    """Refuse to replace a file or a non-empty folder that is not an atlas site."""
    if site_dir.is_symlink() or (site_dir.exists() and not site_dir.is_dir()):
        kind = "a symbolic link" if site_dir.is_symlink() else "a file"
        raise SiteError(f"{site_dir} is {kind}, not a folder; give a folder path for the site "
                        "(it is replaced as a whole on every build)")
    if site_dir.is_dir() and any(site_dir.iterdir()) and not (site_dir / MARKER).is_file():
        raise SiteError(f"{site_dir} is a non-empty folder that is not an Attention Atlas site "
                        f"(no {MARKER} file); refusing to replace it: choose another --site")


def build_site(store: str | os.PathLike | SiteStore, site_dir: str | os.PathLike, *,
               measure: str = DEFAULT_MEASURE, measure_label: str | None = None,
               domain: tuple[float, float] | None = None,
               max_site_bytes: int | None = DEFAULT_SITE_BYTES,
               progress: bool = True, series=None, pages: bool = True) -> BuildSummary:
    """Build the site for a store (a path, or an open store) beside site_dir, then swap it in.

    The colour bar's title and domain default to the measure's (pipeline.measures).
    `max_site_bytes` (default: GitHub Pages' 1 GB; None: no limit) bounds the sum of the
    site's file sizes: when every sentence's page does not fit, the corpus view's exemplars
    get pages in rank order, then other sentences in the order of their ids' SHA-256, as many
    as fit (choose_pages); the index and the statistics still cover every sentence. SiteError
    when even the site's fixed part (assets, index, corpus view) does not fit. `series` (a
    pipeline.site.series_view.SeriesView whose reference checkpoint is `store`) makes it the
    site of a series (pipeline.site.series_site.build_series_site). `pages=False`: no sentence
    pages, only what every site has (a notebook's corpus view: pipeline.site.notebook).
    """
    started = time.perf_counter()
    site_dir = Path(site_dir)
    check_target(site_dir)
    store = open_store(store)
    check_stored(measure, stored_measures(store.info), "the store", SiteError)
    measure_label = measure_label or get_measure(measure).title
    domain = domain or get_measure(measure).domain
    if not float(domain[0]) < float(domain[1]):
        raise SiteError(f"colour domain {domain!r} must be (low, high) with low < high")
    if max_site_bytes is not None and (isinstance(max_site_bytes, bool)
                                       or not isinstance(max_site_bytes, int) or max_site_bytes < 1):
        raise SiteError(f"max_site_bytes = {max_site_bytes!r}: expected a number of bytes >= 1 "
                        "(pipeline.sizes.parse_size reads \"1GB\", \"500MB\", \"2.5GiB\")")
    site_dir.parent.mkdir(parents=True, exist_ok=True)
    leftovers = sorted(site_dir.parent.glob(f".{site_dir.name}.tmp-*"))
    leftovers += sorted(site_dir.parent.glob(f".{site_dir.name}.old-*"))
    if leftovers:  # from a build that was killed; another build may still be writing one
        log.warning("folders left by interrupted builds (delete them when no build runs): %s",
                    ", ".join(str(p) for p in leftovers))
    tmp = Path(tempfile.mkdtemp(prefix=f".{site_dir.name}.tmp-", dir=site_dir.parent))
    try:
        os.chmod(tmp, 0o755)  # mkdtemp makes it private; a site is for serving
        site = get_site_context(store, measure=measure, measure_label=measure_label, domain=domain,
                                series=series)
        sentences, with_pages = _build_into(store, tmp, site, budget=max_site_bytes,
                                            progress=progress, pages=pages)
        files = sorted(p for p in tmp.rglob("*") if p.is_file())
        size = folder_bytes(tmp)
        if max_site_bytes is not None and size > max_site_bytes:  # choose_pages counts above it
            raise SiteError(f"the site came to {size:,} bytes, over its limit of "
                            f"{max_site_bytes:,}: a bug in its accounting (please report it)")
        pages = sum(p.suffix == ".html" for p in files)
        publish(tmp, site_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    summary = BuildSummary(site_dir, sentences, pages, len(files), size,
                           time.perf_counter() - started, with_pages, max_site_bytes)
    log.debug("built %s: %s", site_dir, summary)  # the CLI prints the summary
    return summary


def _build_into(store: SiteStore, out: Path, site: SiteContext, *, budget: int | None,
                progress: bool, pages: bool = True) -> tuple[int, int]:
    """Write the whole site into `out`; returns the number of sentences and of those with a
    page."""
    # Gather: the site's structure (file names, every sentence's index line, the corpus view),
    # no arrays yet.
    env = get_environment()
    names = get_page_names(list(store.ids))
    for sub in ("assets", "sentences", "data"):  # and heads/, for the corpus view
        (out / sub).mkdir()
    stats = current_stats(store, [v.name for v in site.measures])
    # sentence pages link the heads' pages, where the corpus view will have them
    site = dataclasses.replace(site, measures=tuple(
        dataclasses.replace(v, head_pages=not isinstance(stats[v.name], str)) for v in site.measures))
    storage = store.storage_order()  # each chunk is decompressed once
    rows: list[IndexRow | None] = [None] * len(names)
    span_counts: Counter[str] = Counter()
    spans: list[list] = [[] for _ in names]
    gold = False  # a corpus with gold dependency arcs (.conllu): pipeline.site.gold
    own_words: dict[int, list[str]] = {}  # words the default rule does not find in the text
    targets = [None] * len(names) if getattr(store, "encoder_decoder", False) else None
    for i in storage:  # the index and its summary cover every sentence, with a page or not
        rec = store[i]
        rows[i] = get_index_row(rec, names[i])
        ranges = getattr(rec, "word_ranges", None)  # (a test's fake sentence has words only)
        if ranges is not None and tuple(map(tuple, ranges)) != split_words(rec.text):
            own_words[i] = rec.words  # e.g. CoNLL-U forms
        spans[i] = rec.spans
        span_counts.update(label for label, _, _ in rec.spans)
        gold = gold or bool(getattr(rec, "arcs", ()))
        if targets is not None:  # an encoder-decoder's target side: its decoder and cross rows
            targets[i] = (list(rec.target_words), list(rec.target_spans), rec.target)
    site = dataclasses.replace(site, gold=gold)
    # the cases behind each sentence's values order the corpus view's ties
    cases = sentence_cases([row.n_words for row in rows], spans)
    cases = cases if targets is None else part_cases(cases, targets)  # an encoder-decoder's parts
    views, missing = corpus_views(stats, site, cases)
    named = exemplar_order([corpus for _, corpus in views])
    # Write: what every site has (assets, the corpus view), then the sentences (choose_pages:
    # as many as the budget holds), then the index of those with a page.
    # the figure's markup, the same on every page of a one-model site: held once (a series' pages
    # keep theirs: its checkpoints are chosen below)
    frame = None
    if site.series is None and names:
        first = store[storage[0]]
        frame = figure_html(env.get_template("sentence.html"), get_sentence_context(
            first, storage[0], names, site, rows[storage[0]].n_words))
    build_assets(out, site, frame)
    corpus = write_corpus_view(out, env, views, missing, site, len(names), own_words, targets)
    if site.series is not None and views:  # every checkpoint's statistics (assets/series-*.js)
        (out / SERIES_DATA).write_text(js_global("atlasSeries", series_data(site.series, views, cases)),
                                       encoding="utf-8")
    (out / MARKER).write_text(dumps({"generator": "attention-atlas", "format": 1}) + "\n")
    (out / ".nojekyll").write_text("")  # GitHub Pages: serve the files as they are
    ctx = get_index_context(site, rows, span_counts, n_exemplars=len(named),
                            budget=format_size(budget) if budget is not None else "")
    # what the sentences may take: the budget less the fixed part (SiteError when negative)
    room = None if budget is None else sentence_room(out, env, ctx, rows, corpus, budget)
    # the order in which sentences get pages: the exemplars in rank order, then the others by
    # id hash
    order = named + sorted(set(range(len(names))) - set(named), key=lambda i: id_hash(rows[i].id))
    if site.series is not None:  # which checkpoints get sentence data (docs/site.md, "A series")
        site = plan_site(site, names, rows, env, order,
                         list_firsts([corpus for _, corpus in views]), room)
        write_specs(out, site)  # the checkpoints figures of those chosen (no larger)
    chosen = choose_pages(SentenceWriter(store, out, site, names, env, storage, rows, progress,
                                         frame), order, room, index_row_bytes(rows)) if pages else []
    n_named = len(set(named).intersection(chosen))
    if pages and n_named < len(named):
        log.warning("the site's limit of %s holds the pages of %s of the %s sentences that the "
                    "head pages name (the others are named without a link)", format_size(budget),
                    f"{n_named:,}", f"{len(named):,}")
    ctx = dataclasses.replace(ctx, n_pages=len(chosen), n_exemplar_pages=n_named)
    _build_index(out, env, ctx, rows, chosen, corpus)
    return len(names), len(chosen)


def _build_index(out: Path, env: jinja2.Environment, ctx, rows: list[IndexRow],
                 listed: list[int], corpus: dict) -> None:
    """The index page: the corpus view (when the store has statistics) and the list of the
    sentences with a page (`listed`, positions in corpus order)."""
    (out / INDEX_DATA).write_text(js_global("atlasIndexData", get_index_data(rows, listed)),
                                  encoding="utf-8")
    html = env.get_template("index.html").render(page=ctx, site=ctx.site, root=ctx.root,
                                                  corpus=corpus)
    (out / "index.html").write_text(html, encoding="utf-8")


def publish(tmp: Path, site_dir: Path) -> None:
    """Swap a finished build in: move the old site aside, move the new one in, delete the old."""
    old = None
    if site_dir.exists():
        old = site_dir.parent / f".{site_dir.name}.old-{tmp.name.rsplit('-', 1)[-1]}"
        os.rename(site_dir, old)
    try:
        os.rename(tmp, site_dir)
    except BaseException:
        if old is not None:
            os.rename(old, site_dir)  # put the previous site back as it was
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)

