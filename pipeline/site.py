"""Build the static site from a store (Jinja pages + Vega-Lite specs) and publish it atomically.

Layout of a built site (all links relative, nothing loaded from outside it). Every
file a page reads is a classic script, so the site works opened from disk (file://),
where browsers refuse fetch() and module scripts, as well as served:

    index.html                 model card, corpus summary, searchable list (reads data/_index.js)
    sentences/<page>.html      one page per sentence: words, spans, meta as safe JSON
    data/<page>.js             its word-level maps + special shares, 8-bit codes, gzipped, as
                               a script (the format: pipeline/site_format.py), of the default
                               measure; data/<page>.<m>.js: the same for each other measure m
    data/_index.js             one compact row per sentence: id, page, text, words, labels, meta
    assets/vega.js             Vega + Vega-Lite + vega-embed, from vl_convert.javascript_bundle
    assets/specs.js            the chart specs, shared by every sentence (window.atlasSpecs):
                               "grid" (layers x heads), "grid-layers" (one column, for per-layer
                               measures such as rollout), "detail" (word x word, the default
                               measure's colour bar) and "detail-<m>" for each other measure m,
                               "figure" / "figure-<m>" (both side by side: the download of
                               assets/figure.js)
    assets/*.js, *.css         the page scripts and style, copied from site_templates/assets
    .atlas-site                marker: this folder is an atlas site and may be replaced

The site keeps within a size limit (max_site_bytes, default GitHub Pages' 1 GB): when
not every sentence's page fits, choose_pages gives pages to the corpus view's exemplars,
then to the others by the SHA-256 of their ids, as many as fit (docs/site.md).
"""

from __future__ import annotations

import bisect
import dataclasses
import functools
import json
import logging
import os
import shutil
import tempfile
import time
import urllib.parse
from collections import Counter, deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import jinja2
import vl_convert
from tqdm import tqdm

import pipeline
from pipeline import charts
from pipeline.config import DEFAULT_SITE_BYTES, format_size
from pipeline.corpus_view import CorpusView, exemplars, measure_view
from pipeline.errors import SiteError, StoreError
from pipeline.measures import DEFAULT_MEASURE, get_measure
from pipeline.site_data import (
    PAGE_NAME_MAX,
    IndexRow,
    MeasureView,
    SentenceContext,
    SiteContext,
    SiteStore,
    dumps,
    get_index_context,
    get_index_data,
    get_index_row,
    get_page_names,
    get_sentence_context,
    get_site_context,
    id_hash,
)
from pipeline.site_format import encode_maps, encode_script
from pipeline.store import AtlasStore
from pipeline.store.location import StoreLocation

log = logging.getLogger(__name__)

MARKER = ".atlas-site"
WORKERS = min(4, os.cpu_count() or 1)
BUNDLE_SNIPPET = "window.vegaEmbed = vegaEmbed;"  # `vega` in a snippet is null with Vega 6: use the view API
INDEX_DATA = "data/_index.js"  # no page is named _index: page names never start with "_"
CORPUS_DATA = "data/_corpus.js"  # the corpus view's statistics, every head (pipeline.corpus_view)


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


def templates_dir() -> Path:
    """site_templates/: inside the package when installed from a wheel, else the repository's."""
    packaged = Path(pipeline.__file__).parent / "site_templates"
    return packaged if packaged.is_dir() else Path(pipeline.__file__).parent.parent / "site_templates"


def rel_url(path: str, root: str) -> str:
    """A site path (e.g. "sentences/x.html") as a URL relative to a page `root` ("" or "../")."""
    return root + urllib.parse.quote(path, safe="/")


def get_environment(folder: Path | None = None) -> jinja2.Environment:
    """The Jinja environment: autoescaping on, undefined names are errors, formatting filters."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(folder or templates_dir())),
        autoescape=jinja2.select_autoescape(), undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True,
    )
    env.filters.update(
        url=rel_url,
        thousands=lambda n: f"{int(n):,}",
        fixed=lambda x, digits=2: f"{float(x):.{digits}f}",
        short_hash=lambda h: str(h)[:12],
    )
    # `tojson` (JSON safe inside <script>: Jinja escapes < > & ') writes compact, key-sorted
    # JSON with non-ASCII kept, like every other JSON file of the site
    env.policies["json.dumps_function"] = script_dumps
    env.policies["json.dumps_kwargs"] = {"ensure_ascii": False, "sort_keys": True,
                                         "separators": (",", ":")}
    return env


def script_dumps(value, **kwargs) -> str:
    """json.dumps for `tojson`, with U+2028 and U+2029 escaped too: Jinja keeps them, and
    they are line breaks to editors and to JavaScript before ES2019."""
    return json.dumps(value, **kwargs).replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def js_global(name: str, value) -> str:
    """A script that sets window[name] to a JSON value (how a file:// page reads data), as
    JSON.parse('...'): browsers parse a JSON string much faster than the same object literal."""
    return f"window.{name}=JSON.parse('{_js_quoted(value)}');\n"


def _js_quoted(value) -> str:
    """A JSON value as js_global writes it inside its '...' (each character on its own: the
    bytes of an array are the bytes of its items, commas and brackets)."""
    text = script_dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return text.replace("\\", "\\\\").replace("'", "\\'")  # JSON has no raw line breaks


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
               progress: bool = True) -> BuildSummary:
    """Build the site for a store (a path, or an open store) beside site_dir, then swap it in.

    The colour bar's title and domain default to the measure's (pipeline.measures).
    `max_site_bytes` (default: GitHub Pages' 1 GB; None: no limit) bounds the sum of the
    site's file sizes: when every sentence's page does not fit, the corpus view's exemplars
    get pages, then other sentences in the order of their ids' SHA-256, as many as fit
    (choose_pages); the index and the statistics still cover every sentence. SiteError when
    even the exemplars do not fit.
    """
    started = time.perf_counter()
    site_dir = Path(site_dir)
    check_target(site_dir)
    store = open_store(store)
    stored = store.info.get("measures", [DEFAULT_MEASURE])
    if measure not in stored:
        raise SiteError(f"unknown measure {measure!r}; this store holds: {', '.join(stored)}")
    measure_label = measure_label or get_measure(measure).title
    domain = domain or get_measure(measure).domain
    if not float(domain[0]) < float(domain[1]):
        raise SiteError(f"colour domain {domain!r} must be (low, high) with low < high")
    if max_site_bytes is not None and (isinstance(max_site_bytes, bool)
                                       or not isinstance(max_site_bytes, int) or max_site_bytes < 1):
        raise SiteError(f"max_site_bytes = {max_site_bytes!r}: expected a number of bytes >= 1 "
                        "(pipeline.config.parse_size reads \"1GB\", \"500MB\", \"2.5GiB\")")
    site_dir.parent.mkdir(parents=True, exist_ok=True)
    leftovers = sorted(site_dir.parent.glob(f".{site_dir.name}.tmp-*"))
    leftovers += sorted(site_dir.parent.glob(f".{site_dir.name}.old-*"))
    if leftovers:  # from a build that was killed; another build may still be writing one
        log.warning("folders left by interrupted builds (delete them when no build runs): %s",
                    ", ".join(str(p) for p in leftovers))
    tmp = Path(tempfile.mkdtemp(prefix=f".{site_dir.name}.tmp-", dir=site_dir.parent))
    try:
        os.chmod(tmp, 0o755)  # mkdtemp makes it private; a site is for serving
        site = get_site_context(store, measure=measure, measure_label=measure_label, domain=domain)
        sentences, with_pages = _build_into(store, tmp, site, budget=max_site_bytes,
                                            progress=progress)
        files = sorted(p for p in tmp.rglob("*") if p.is_file())
        size = sum(p.stat().st_size for p in files)
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
    log.info("built %s: %s", site_dir, summary)
    return summary


def folder_bytes(folder: Path) -> int:
    """The sum of the sizes of the files under a folder (what a site's limit counts)."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def _build_into(store: SiteStore, out: Path, site: SiteContext, *, budget: int | None,
                progress: bool) -> tuple[int, int]:
    """Write the whole site into `out`; returns the number of sentences and of those with a
    page."""
    # Gather: the site's structure (file names, every sentence's index line, the corpus view),
    # no arrays yet.
    env = get_environment()
    names = get_page_names(list(store.ids))
    for sub in ("assets", "sentences", "data"):  # and heads/, for the corpus view
        (out / sub).mkdir()
    stats = _current_stats(store, [v.name for v in site.measures])
    # sentence pages link the heads' pages, where the corpus view will have them
    site = dataclasses.replace(site, measures=tuple(
        dataclasses.replace(v, head_pages=not isinstance(stats[v.name], str)) for v in site.measures))
    storage = store.storage_order()  # each chunk is decompressed once
    rows: list[IndexRow | None] = [None] * len(names)
    span_counts: Counter[str] = Counter()
    for i in storage:  # the index and its summary cover every sentence, with a page or not
        rec = store[i]
        rows[i] = get_index_row(rec, names[i])
        span_counts.update(label for label, _, _ in rec.spans)
    views, missing = _corpus_views(stats, site)
    named = sorted(set().union(*(exemplars(corpus) for _, corpus in views)))
    # Write: what every site has (assets, the corpus view), then the sentences (choose_pages:
    # as many as the budget holds), then the index of those with a page.
    _build_assets(out, site)
    corpus = _build_corpus_view(out, env, views, missing, site, len(names))
    (out / MARKER).write_text(dumps({"generator": "attention-atlas", "format": 1}) + "\n")
    (out / ".nojekyll").write_text("")  # GitHub Pages: serve the files as they are
    ctx = get_index_context(site, rows, span_counts,
                            budget=format_size(budget) if budget is not None else "")
    room = None
    if budget is not None:  # what the sentences may take: the budget less the fixed part
        room = budget - folder_bytes(out) - _index_bytes(env, ctx, rows, corpus)
        if room < 0:
            raise SiteError(f"a site limit of {format_size(budget)} ({budget:,} bytes) cannot hold "
                            f"even the assets, the index and the corpus view ({budget - room:,} "
                            "bytes, before any sentence page); raise --max-site-bytes")
    # the order in which sentences get pages: the exemplars, then the others by id hash
    order = named + sorted(set(range(len(names))) - set(named), key=lambda i: id_hash(rows[i].id))
    chosen = choose_pages(_SentenceWriter(store, out, site, names, env, storage, rows, progress),
                          order, len(named), room, _index_row_bytes(rows), budget)
    _build_index(out, env, dataclasses.replace(ctx, n_pages=len(chosen)), rows, chosen, corpus)
    return len(names), len(chosen)


@dataclass
class _Written:
    """A sentence whose files are written: what the budget counts of them, its maps' width,
    and the neighbours its previous / next link to."""

    cost: int
    n_words: int
    neighbours: tuple[int | None, int | None]


LINK = ('href="', '" ')  # around a previous / next link's address (site_templates/_sentence_nav.html)


def _link_bytes(href: str | None) -> int:
    """The bytes that a previous or next link's address adds to a sentence page (none without)."""
    return 0 if href is None else len(LINK[0]) + len(rel_url(href, "")) + len(LINK[1])


def page_cost(html_bytes: int, ctx: SentenceContext, longest: int = PAGE_NAME_MAX) -> int:
    """A sentence page's bytes as the budget counts them: with its previous and next links to
    a page name of `longest` characters (the longest of the site's, at most PAGE_NAME_MAX), so
    that the count holds whichever neighbours it ends up with (a site without every page links
    the nearest that have one)."""
    most = _link_bytes("x" * longest + ".html")
    return html_bytes + sum(most - _link_bytes(href) for href in (ctx.prev_href, ctx.next_href))


class _SentenceWriter:
    """Writes sentences' files (their data scripts and pages) and removes them: what
    choose_pages asks for, one block of sentences at a time."""

    def __init__(self, store: SiteStore, out: Path, site: SiteContext, names: list[str],
                 env: jinja2.Environment, storage: list[int], rows: list[IndexRow],
                 progress: bool) -> None:
        self.store, self.out, self.site, self.names, self.rows = store, out, site, names, rows
        self.template = env.get_template("sentence.html")
        self.rank = {p: r for r, p in enumerate(storage)}
        self.longest = max(map(len, names), default=0)  # page names are ASCII
        self.bar = tqdm(total=len(names), unit="sentence", desc="site", disable=not progress)

    def write(self, block: list[int], around: list[int]) -> dict[int, _Written]:
        """Write the sentences of `block` (in storage order: each chunk decompressed once),
        each linked to its nearest neighbours among `around` (sorted positions, the block's
        included). Returns what was written of each."""
        written: dict[int, _Written] = {}
        with ThreadPoolExecutor(WORKERS) as pool:
            pending: deque = deque()
            todo = sorted(block, key=self.rank.__getitem__)
            for n, i in enumerate(todo):
                rec = self.store[i]
                # per measure: word maps (L, H, W, W) and special shares (L, H, W)
                maps = [(view.suffix, *rec.word_maps(view.name)) for view in self.site.measures]
                n_words = maps[0][1].shape[-1]
                near = _neighbours(around, i)
                ctx = get_sentence_context(rec, i, self.names, self.site, n_words, near)
                pending.append((i, n_words, near, pool.submit(
                    _build_sentence, self.out, ctx, maps, self.template, self.longest)))
                while len(pending) > 2 * WORKERS or (pending and n == len(todo) - 1):
                    i_, n_words_, near_, future = pending.popleft()
                    written[i_] = _Written(future.result(), n_words_, near_)  # re-raises here
                    self.bar.update()
        return written

    def relink(self, i: int, n_words: int, near: tuple[int | None, int | None]) -> None:
        """Write a sentence's page again, with other neighbours (its data stays)."""
        ctx = get_sentence_context(self.store[i], i, self.names, self.site, n_words, near)
        _write_page(self.out, ctx, self.template)

    def remove(self, i: int) -> None:
        """Remove a sentence's files (it gets no page after all)."""
        for view in self.site.measures:
            (self.out / "data" / f"{self.names[i]}{view.suffix}.js").unlink()
        (self.out / "sentences" / f"{self.names[i]}.html").unlink()

    def estimate(self, i: int) -> float:
        """A rough size of a sentence's files before any is written, from its words: its maps'
        codes at their raw size (compression and the script's ~3 % roughly cancel) and a
        page. Only the size of a block of work depends on it, never which sentences get pages."""
        words = self.rows[i].n_words
        cells = sum(self.site.n_layers * view.heads * (words * words + words)
                    for view in self.site.measures)
        return cells + 4000 + 4 * len(self.rows[i].text)


def _neighbours(around: list[int], i: int) -> tuple[int | None, int | None]:
    """The positions before and after i in the sorted list `around` (which holds i)."""
    at = bisect.bisect_left(around, i)
    return (around[at - 1] if at > 0 else None,
            around[at + 1] if at + 1 < len(around) else None)


MIN_BLOCK = 64  # sentences: fewer in a block would read the store's chunks over and over


def choose_pages(writer: _SentenceWriter, order: list[int], n_named: int, room: int | None,
                 index_bytes: list[int], budget: int | None) -> list[int]:
    """Write the pages of the sentences that fit, and return their positions (sorted).

    The rule (docs/site.md): sentences get pages in `order` (the corpus view's exemplars,
    `order[:n_named]`, in corpus order; then the others by the SHA-256 of their ids) for as
    long as the next one's files, with its line in the index, fit in `room` (the budget less
    the site's fixed part; None: no limit); the first that does not fit ends it. Every
    exemplar must fit (SiteError otherwise): the head pages link them.

    A sentence is counted by what it writes: its data scripts as encoded, its page with links
    to the site's longest page name (page_cost), its index line. Those are only known once encoded, so the
    sentences are written a block at a time, in storage order, the block sized by an estimate
    from those written so far; a block's sentences beyond the first that does not fit are
    removed, and pages whose neighbours changed are written again. The result is the rule's
    whatever the blocks (the same store and limit give the same site).
    """
    chosen: list[int] = []  # in `order`
    done: dict[int, _Written] = {}
    used = 0
    k = 0
    scale = 1.0  # measured bytes per estimated byte
    full = False
    while k < len(order) and not full:
        if room is None:
            stop = len(order)
        else:  # the exemplars, and the next sentences that the estimate says fit
            left = room - used
            stop = k
            while stop < len(order) and (stop < n_named or left > 0):
                left -= scale * writer.estimate(order[stop]) + index_bytes[order[stop]]
                stop += 1
            stop = min(len(order), max(stop, k + MIN_BLOCK))
        block = order[k:stop]
        log.debug("writing %d sentences (from %d in the order)", len(block), k)
        around = sorted([*chosen, *block])
        written = writer.write(block, around)
        done.update(written)
        estimated = sum(writer.estimate(i) for i in block)
        for i in block:
            cost = written[i].cost + index_bytes[i]
            if room is not None and used + cost > room:
                if k < n_named:
                    _exemplars_do_not_fit(order[:n_named], done, index_bytes, room, budget)
                full = True
                break
            chosen.append(i)
            used += cost
            k += 1
        scale = sum(written[i].cost for i in block) / max(1.0, estimated)
    writer.bar.close()
    final = sorted(chosen)
    kept = set(chosen)
    for i in sorted(set(done) - kept):  # written, but beyond the first that did not fit
        writer.remove(i)
    for i in final:  # its neighbours are the nearest sentences with a page
        near = _neighbours(final, i)
        if done[i].neighbours != near:
            writer.relink(i, done[i].n_words, near)
    log.debug("pages for %d of %d sentences (%d written)", len(final), len(order), len(done))
    return final


def _exemplars_do_not_fit(named: list[int], done: dict[int, _Written], index_bytes: list[int],
                          room: int, budget: int) -> None:
    """The error when the corpus view's exemplars do not fit: how much they need."""
    need = budget - room + sum(done[i].cost + index_bytes[i] for i in named)
    raise SiteError(
        f"a site limit of {format_size(budget)} ({budget:,} bytes) cannot hold the pages of the "
        f"{len(named):,} sentences that the corpus view names (each head's top and bottom "
        f"sentences, which its head pages link): with the assets, the index and the corpus view "
        f"they take {need:,} bytes; give --max-site-bytes {need} or more")


def _index_bytes(env: jinja2.Environment, ctx, rows: list[IndexRow], corpus: dict) -> int:
    """The most that index.html and data/_index.js without any row can take, whichever
    sentences get pages (the rows: _index_row_bytes)."""
    # index.html says how many sentences have a page: at most one less than the corpus's
    partial = dataclasses.replace(ctx, n_pages=max(0, len(rows) - 1))
    html = env.get_template("index.html").render(page=partial, site=ctx.site, root=ctx.root,
                                                 corpus=corpus)
    empty = get_index_data(rows, [], partial=True)
    return len(html.encode("utf-8")) + len(js_global("atlasIndexData", empty).encode("utf-8"))


def _index_row_bytes(rows: list[IndexRow]) -> list[int]:
    """Each sentence's line in data/_index.js, in bytes: at most this, with its comma."""
    data = get_index_data(rows, partial=True)["rows"]
    return [len(_js_quoted(row).encode("utf-8")) + 1 for row in data]


@functools.lru_cache(maxsize=2)
def get_vega_bundle(vl_version: str | None) -> str:
    """Vega + Vega-Lite + vega-embed as one self-contained script (cached: it takes a second)."""
    return vl_convert.javascript_bundle(BUNDLE_SNIPPET, vl_version=vl_version)


def get_vega_script(vl_version: str | None) -> str:
    """assets/vega.js: the bundle is an ES module without imports or exports; wrapped in a
    function it runs as a classic script (which file:// pages may load) and keeps its names."""
    return f"(() => {{\n{get_vega_bundle(vl_version)}\n}})();\n"


def _build_assets(out: Path, site: SiteContext) -> None:
    """The shared assets: JS bundle, the chart specs (assets/specs.js), and the static files."""
    (out / "assets" / "vega.js").write_text(get_vega_script(charts.vl_convert_version()),
                                            encoding="utf-8")
    specs = {"grid": charts.get_grid_spec(site.n_layers, site.n_heads),
             # the corpus view's: its grid for every head, or every layer (per-layer measures)
             "corpus": {f"{site.n_layers}x{h}": charts.get_corpus_grid_spec(site.n_layers, h)
                        for h in sorted({site.n_heads, 1})},
             "histogram": charts.get_histogram_spec()}
    for view in site.measures:  # a detail spec per measure (its colour bar); the per-layer grid
        specs[view.detail] = charts.get_detail_spec(measure_label=view.title, domain=view.domain)
        per_layer = view.grid != "grid"
        if per_layer and view.grid not in specs:
            specs[view.grid] = charts.get_grid_spec(site.n_layers, view.heads, per_layer=True)
        # the page's download (assets/figure.js): the figure of this measure
        specs[view.figure] = charts.get_figure_spec(site.n_layers, view.heads,
                                                    measure_label=view.title, domain=view.domain,
                                                    per_layer=per_layer)
    (out / "assets" / "specs.js").write_text(js_global("atlasSpecs", specs), encoding="utf-8")
    for path in sorted((templates_dir() / "assets").iterdir()):
        if path.is_file():
            shutil.copyfile(path, out / "assets" / path.name)


def _build_sentence(out: Path, ctx: SentenceContext, maps: list, template: jinja2.Template,
                    longest: int = PAGE_NAME_MAX) -> int:
    """Write one sentence's data files (one script per measure) and page; returns the bytes the
    budget counts of them (the page by page_cost, links to names of `longest` characters)."""
    size = 0
    for suffix, word_maps, special in maps:
        blob = encode_script(encode_maps(word_maps, special))
        (out / "data" / f"{ctx.page}{suffix}.js").write_bytes(blob)
        size += len(blob)
    return size + page_cost(_write_page(out, ctx, template), ctx, longest)


def _write_page(out: Path, ctx: SentenceContext, template: jinja2.Template) -> int:
    """Write a sentence's page; returns its bytes."""
    html = template.render(page=ctx, site=ctx.site, root=ctx.root).encode("utf-8")
    (out / "sentences" / f"{ctx.page}.html").write_bytes(html)
    return len(html)


def _build_index(out: Path, env: jinja2.Environment, ctx, rows: list[IndexRow],
                 listed: list[int], corpus: dict) -> None:
    """The index page: the corpus view (when the store has statistics) and the list of the
    sentences with a page (`listed`, positions in corpus order)."""
    (out / INDEX_DATA).write_text(js_global("atlasIndexData", get_index_data(rows, listed)),
                                  encoding="utf-8")
    html = env.get_template("index.html").render(page=ctx, site=ctx.site, root=ctx.root,
                                                  corpus=corpus)
    (out / "index.html").write_text(html, encoding="utf-8")


def _current_stats(store: SiteStore, measures) -> dict[str, object]:
    """Each measure's statistics (HeadStats) where the store holds them for its current corpus,
    else why not (a sentence without the store's path: the site must not show it)."""
    head_stats = getattr(store, "head_stats", None)
    found: dict[str, object] = {}
    for measure in measures:
        if head_stats is None:
            found[measure] = "this store keeps no per-head statistics"
            continue
        try:
            found[measure] = head_stats(measure)
        except StoreError as exc:
            log.warning("no corpus view of %r: %s", measure, exc)
            found[measure] = ("its statistics were computed for an earlier corpus"
                              if "earlier corpus" in str(exc) else "the store has no statistics")
    return found


def _corpus_views(stats: dict[str, object], site: SiteContext
                  ) -> tuple[list[tuple[MeasureView, CorpusView]], list[str]]:
    """Each measure's corpus view where the store holds its statistics, and why not for the
    others."""
    views, missing = [], []
    for view in site.measures:
        if isinstance(stats[view.name], str):
            missing.append(stats[view.name])
            continue
        views.append((view, measure_view(stats[view.name], view.title)))
    return views, missing


def _build_corpus_view(out: Path, env: jinja2.Environment,
                       views: list[tuple[MeasureView, CorpusView]], missing: list[str],
                       site: SiteContext, n_sentences: int) -> dict:
    """The corpus view: data/_corpus.js for the index, and a page per head and measure under
    heads/<measure>/. Returns what the index says of it: {"measures": [...]} or {"missing": why}.

    Only from statistics the store holds for its current corpus (`attention-atlas stats`;
    `build` and `run` bring them up to date first): a store without them gets no corpus view,
    and the index says how to make one. The statistics cover every sentence, whether or not it
    has a page (the head pages name only sentences that have one: the exemplars).
    """
    if not views:
        return {"measures": [], "missing": missing[0] if missing else "no statistics",
                "sentences": n_sentences}
    template = env.get_template("head.html")
    for view, corpus in views:
        folder = out / "heads" / view.name
        folder.mkdir(parents=True)
        about = {sel.key: (sel.description, sel.note) for sel in corpus.stats}
        for (layer, head), payload in corpus.heads.items():
            # {page} is filled in by head.js from the index data (data/_index.js)
            payload = {**payload, "data": f"../../data/{{page}}{view.suffix}.js",
                       "sentence": f"../../sentences/{{page}}.html#l{layer}h{head}"
                                   + (f"&m={view.name}" if view.suffix else ""),
                       "domain": list(view.domain)}
            html = template.render(page=payload, site=site, root="../../", measure=view.name,
                                   about=about)
            (folder / f"l{layer}h{head}.html").write_text(html, encoding="utf-8")
    data = {"measures": [corpus.index for _, corpus in views],
            "pattern": "heads/{measure}/l{layer}h{head}.html"}
    (out / CORPUS_DATA).write_text(js_global("atlasCorpus", data), encoding="utf-8")
    return {"measures": [view.name for view, _ in views], "sentences": n_sentences, "missing": ""}


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

