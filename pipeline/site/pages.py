"""Sentence pages: writing a sentence's files (a data script per measure, its page), and which
sentences get one within the site's size limit (`choose_pages`; the rule: docs/site.md).

pipeline.site.build gathers the site and writes what every site has; this module writes the
sentences, a block at a time, counting what each writes against the limit.
"""

from __future__ import annotations

import bisect
import dataclasses
import json
import logging
import os
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import jinja2
import numpy as np
from tqdm import tqdm

from pipeline.errors import SiteError
from pipeline.site.contexts import (
    PAGE_NAME_MAX,
    SentenceContext,
    SiteContext,
    SiteStore,
    get_sentence_context,
    rel_url,
)
from pipeline.site.data_format import _js_quoted, encode_maps, encode_script, js_global
from pipeline.site.index_data import IndexRow, get_index_data
from pipeline.site.parts import PARTS_SCRIPT
from pipeline.site.series_sentence import checkpoint_measures, checkpoint_record
from pipeline.site.series_view import SERIES_DATA, series_data_path
from pipeline.sizes import format_size

log = logging.getLogger(__name__)

WORKERS = min(4, os.cpu_count() or 1)  # threads encoding and writing sentences' files


@dataclass
class Written:
    """A sentence whose files are written: what the budget counts of them, its maps' width,
    and the neighbours its previous / next link to."""

    cost: int
    n_words: int
    neighbours: tuple[int | None, int | None]
    n_target_words: int | None = None  # an encoder-decoder model's: its decoder maps' width


LINK = ('href="', '" ')  # around a previous / next link's address (site_templates/_sentence_nav.html)
# Where a page's figure markup (sentence.html's block "figure") was: assets/sentence-page.js puts
# the site's one copy there (window.atlasFrame) before the page's scripts run
FRAME_SLOT = '<div id="figure-frame" hidden></div>'
FRAME_GLOBAL = "window.atlasFrame = "  # the line of assets/sentence-page.js that holds the figure
# The sentence page's own scripts, in the order they run, as one file (assets/sentence-page.js):
# one request instead of a dozen; the series' scripts only on a series' site, the gold trees' only
# on the site of a corpus with arcs (gold-sentence.js does nothing on a page without), the parts'
# only on an encoder-decoder model's site.
SENTENCE_SCRIPTS = ("maps.js", "list.js", "paint.js", "embed.js", "grid-fit.js", "grid-draw.js",
                    "detail-draw.js", "sentence-state.js", "sentence-parts.js", "sentence-window.js",
                    "sentence-nav.js", "scales.js", "sentence-scale.js", "sentence-rows.js",
                    "series-sentence.js", "gold-sentence.js", "gold-detail.js", "sentence.js",
                    "figure.js", "series-figures.js")


def write_sentence_scripts(assets: Path, out: Path, *, series: bool, gold: bool,
                           frame: str | None = None, parts: bool = False) -> None:
    """out/sentence-page.js: SENTENCE_SCRIPTS from `assets` one after the other (each its own
    closure; "series-*" only with `series`, "gold-*" only with `gold`, "sentence-parts.js" only
    with `parts`), after the figure's markup (`frame`, when the pages leave it to the site) put
    in the page's slot."""
    names = [n for n in SENTENCE_SCRIPTS
             if (series or not n.startswith("series-")) and (gold or not n.startswith("gold-"))
             and (parts or n != PARTS_SCRIPT)]
    text = "".join(f"// --- assets/{name}\n" + (assets / name).read_text(encoding="utf-8") for name in names)
    if frame is not None:
        text = (f"// --- the figure's markup, the same on every sentence page: into its slot\n"
                f"{FRAME_GLOBAL}{json.dumps(frame)};\n"
                "(() => {\n  const slot = document.getElementById(\"figure-frame\");\n"
                "  if (slot) slot.outerHTML = window.atlasFrame;\n})();\n" + text)
    (out / "sentence-page.js").write_text(text, encoding="utf-8")


def figure_html(template: jinja2.Template, ctx: SentenceContext) -> str:
    """A sentence page's figure markup (the template's block "figure") as its page renders it."""
    context = template.new_context({"page": ctx, "site": ctx.site, "root": ctx.root})
    return "".join(template.blocks["figure"](context))


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


class SentenceWriter:
    """Writes sentences' files (their data scripts and pages) and removes them: what
    choose_pages asks for, one block of sentences at a time."""

    def __init__(self, store: SiteStore, out: Path, site: SiteContext, names: list[str],
                 env: jinja2.Environment, storage: list[int], rows: list[IndexRow],
                 progress: bool, frame: str | None = None) -> None:
        self.store, self.out, self.site, self.names, self.rows = store, out, site, names, rows
        self.frame = frame  # the site's figure markup, which pages leave to assets/sentence-page.js
        self.template = env.get_template("sentence.html")
        # a series: the other checkpoints whose maps the pages carry, with the measures each holds
        self.checkpoints = checkpoint_measures(site.series, site.measures)
        for checkpoint, _ in self.checkpoints:
            (out / SERIES_DATA / checkpoint.label).mkdir(parents=True, exist_ok=True)
        self.rank = {p: r for r, p in enumerate(storage)}
        self.longest = max(map(len, names), default=0)  # page names are ASCII
        self.bar = tqdm(total=len(names), unit="sentence", desc="site", disable=not progress)

    def write(self, block: list[int], around: list[int]) -> dict[int, Written]:
        """Write the sentences of `block` (in storage order: each chunk decompressed once),
        each linked to its nearest neighbours among `around` (sorted positions, the block's
        included). Returns what was written of each."""
        written: dict[int, Written] = {}
        with ThreadPoolExecutor(WORKERS) as pool:
            pending: deque = deque()
            todo = sorted(block, key=self.rank.__getitem__)
            for n, i in enumerate(todo):
                rec = self.store[i]
                # per measure: word maps (L, H, W, W) and special shares (L, H, W)
                maps = self.data_maps(rec, self.names[i])
                n_words = maps[0][1].shape[-1]
                n_target = next((m.shape[-2] for path, m, _ in maps if path.endswith(".cross.js")), None)
                near = _neighbours(around, i)
                ctx = get_sentence_context(rec, i, self.names, self.site, n_words, near, n_target)
                pending.append((i, n_words, near, n_target, pool.submit(
                    build_sentence, self.out, ctx, maps, self.template, self.longest, self.frame)))
                while len(pending) > 2 * WORKERS or (pending and n == len(todo) - 1):
                    i_, n_words_, near_, n_target_, future = pending.popleft()
                    written[i_] = Written(future.result(), n_words_, near_, n_target_)  # re-raises here
                    self.bar.update()
        return written

    def data_maps(self, rec, page: str) -> list[tuple[str, np.ndarray, np.ndarray]]:
        """A sentence's data scripts: (path in the site, word maps (L, H, W, W), special shares
        (L, H, W)) per measure, data/<page><suffix>.js; on a series site also each other
        checkpoint's with sentence data, series/<label>/<page><suffix>.js per measure it holds."""
        maps = [(f"data/{page}{view.suffix}.js", *rec.word_maps(view.name))
                if not view.parts else
                (f"data/{page}{view.suffix}{part.suffix}.js", *rec.word_maps(view.name, part=part.name))
                for view in self.site.measures for part in (view.parts or [None])]
        for checkpoint, views in self.checkpoints:
            other = checkpoint_record(self.site.series, checkpoint, rec.id)
            maps += [(series_data_path(checkpoint.label, page, view.suffix),
                      *other.word_maps(view.name)) for view in views]
        return maps

    def relink(self, i: int, n_words: int, near: tuple[int | None, int | None],
               n_target: int | None = None) -> None:
        """Write a sentence's page again, with other neighbours (its data stays)."""
        ctx = get_sentence_context(self.store[i], i, self.names, self.site, n_words, near, n_target)
        write_page(self.out, ctx, self.template, self.frame)

    def remove(self, i: int) -> None:
        """Remove a sentence's files (it gets no page after all)."""
        for view in self.site.measures:
            for part in view.parts or [None]:
                own = part.suffix if part else ""
                (self.out / "data" / f"{self.names[i]}{view.suffix}{own}.js").unlink()
        for checkpoint, views in self.checkpoints:
            for view in views:
                (self.out / series_data_path(checkpoint.label, self.names[i], view.suffix)).unlink()
        (self.out / "sentences" / f"{self.names[i]}.html").unlink()

    def estimate(self, i: int) -> float:
        """A rough size of a sentence's files before any is written, from its words: its maps'
        codes at their raw size (compression and the script's ~3 % roughly cancel) and a
        page. Only the size of a block of work depends on it, never which sentences get pages."""
        words = self.rows[i].n_words
        views = [*self.site.measures, *(v for _, vs in self.checkpoints for v in vs)]
        cells = sum(self.site.n_layers * view.heads * (words * words + words) * max(1, len(view.parts))
                    for view in views)
        return cells + 4000 + 4 * len(self.rows[i].text)


def _neighbours(around: list[int], i: int) -> tuple[int | None, int | None]:
    """The positions before and after i in the sorted list `around` (which holds i)."""
    at = bisect.bisect_left(around, i)
    return (around[at - 1] if at > 0 else None,
            around[at + 1] if at + 1 < len(around) else None)


MIN_BLOCK = 64  # sentences: fewer in a block would read the store's chunks over and over


def choose_pages(writer: SentenceWriter, order: list[int], room: int | None,
                 index_bytes: list[int]) -> list[int]:
    """Write the pages of the sentences that fit, and return their positions (sorted).

    The rule (docs/site.md): sentences get pages in `order` (the corpus view's exemplars in
    rank order, then the others by the SHA-256 of their ids) for as long as the next one's
    files, with its line in the index, fit in `room` (the budget less the site's fixed part;
    None: no limit); the first that does not fit ends it.

    A sentence is counted by what it writes: its data scripts as encoded, its page with links
    to the site's longest page name (page_cost), its index line. Those are only known once encoded, so the
    sentences are written a block at a time, in storage order, the block sized by an estimate
    from those written so far; a block's sentences beyond the first that does not fit are
    removed, and pages whose neighbours changed are written again. The result is the rule's
    whatever the blocks (the same store and limit give the same site).
    """
    chosen: list[int] = []  # in `order`
    done: dict[int, Written] = {}
    used = 0
    k = 0
    scale = 1.0  # measured bytes per estimated byte
    full = False
    while k < len(order) and not full:
        if room is None:
            stop = len(order)
        else:  # the next sentences that the estimate says fit
            left = room - used
            stop = k
            while stop < len(order) and left > 0:
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
            writer.relink(i, done[i].n_words, near, done[i].n_target_words)
    log.debug("pages for %d of %d sentences (%d written)", len(final), len(order), len(done))
    return final


def build_sentence(out: Path, ctx: SentenceContext, maps: list, template: jinja2.Template,
                   longest: int = PAGE_NAME_MAX, frame: str | None = None) -> int:
    """Write one sentence's data files (one script per measure, and per other checkpoint of a
    series: `maps` holds (path in the site, word maps, special shares) each) and page; returns the
    bytes the budget counts of them (the page by page_cost, links to names of `longest`
    characters)."""
    size = 0
    for path, word_maps, special in maps:
        blob = encode_script(encode_maps(word_maps, special))
        (out / path).write_bytes(blob)
        size += len(blob)
    return size + page_cost(write_page(out, ctx, template, frame), ctx, longest)


def write_page(out: Path, ctx: SentenceContext, template: jinja2.Template,
               frame: str | None = None) -> int:
    """Write a sentence's page, the site's figure markup `frame` left to assets/sentence-page.js
    where the page holds it (a complete element, so the page the browser ends up with is the
    same); returns its bytes."""
    html = template.render(page=ctx, site=ctx.site, root=ctx.root)
    if frame is not None and html.count(frame) == 1:  # the script puts back exactly this text
        html = html.replace(frame, FRAME_SLOT)
    data = html.encode("utf-8")
    (out / "sentences" / f"{ctx.page}.html").write_bytes(data)
    return len(data)


def sentence_room(out: Path, env: jinja2.Environment, ctx, rows: list[IndexRow], corpus: dict,
                  budget: int) -> int:
    """What the sentences may take within the budget: the budget less the site's fixed part (the
    files in `out`: assets, corpus view, head pages; and the most that index.html and
    data/_index.js can take). SiteError, naming a limit that holds it, when that is negative."""
    fixed = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())

    def fixed_part(limit: int) -> int:  # the index shows the limit: its size varies with it
        return fixed + index_bytes(env, dataclasses.replace(ctx, budget=format_size(limit)),
                                   rows, corpus)

    room = budget - fixed_part(budget)
    if room < 0:
        need = budget - room
        while fixed_part(need) > need:
            need = fixed_part(need)
        raise SiteError(f"a site limit of {format_size(budget)} ({budget:,} bytes) cannot hold "
                        f"even the assets, the index and the corpus view with its head pages "
                        f"({budget - room:,} bytes, before any sentence page); give "
                        f"--max-site-bytes {need} or more")
    return room


def index_bytes(env: jinja2.Environment, ctx, rows: list[IndexRow], corpus: dict) -> int:
    """The most that index.html and data/_index.js without any row can take, whichever
    sentences get pages (the rows: index_row_bytes)."""
    # index.html says how many sentences have a page (at most one less than the corpus's) and
    # how many of the exemplars do (at most all)
    partial = dataclasses.replace(ctx, n_pages=max(0, len(rows) - 1),
                                  n_exemplar_pages=ctx.n_exemplars)
    html = env.get_template("index.html").render(page=partial, site=ctx.site, root=ctx.root,
                                                 corpus=corpus)
    empty = get_index_data(rows, [], partial=True)
    return len(html.encode("utf-8")) + len(js_global("atlasIndexData", empty).encode("utf-8"))


def index_row_bytes(rows: list[IndexRow]) -> list[int]:
    """Each sentence's line in data/_index.js, in bytes: at most this, with its comma."""
    data = get_index_data(rows, partial=True)["rows"]
    return [len(_js_quoted(row).encode("utf-8")) + 1 for row in data]
