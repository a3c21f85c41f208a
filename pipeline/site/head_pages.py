"""The corpus view's files: data/_corpus.js for the index's grid, and a page per head and
measure under heads/<measure>/ (what they show: pipeline.site.corpus_view), from the
statistics a store holds for its current corpus."""

from __future__ import annotations

import logging
from pathlib import Path

import jinja2

from pipeline.errors import StaleStatsError, StoreError
from pipeline.site.contexts import MeasureView, SiteContext, SiteStore
from pipeline.site.corpus_view import Cases, CorpusView, measure_view
from pipeline.site.data_format import js_global
from pipeline.site.names import HEAD_PAGE, head_page_name
from pipeline.site.stats_table import STATS_CSV, site_table, to_csv

log = logging.getLogger(__name__)

CORPUS_DATA = "data/_corpus.js"  # the corpus view's statistics, every head (pipeline.site.corpus_view)


def current_stats(store: SiteStore, measures) -> dict[str, object]:
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
                              if isinstance(exc, StaleStatsError) else "the store has no statistics")
    return found


def corpus_views(stats: dict[str, object], site: SiteContext, cases: Cases
                  ) -> tuple[list[tuple[MeasureView, CorpusView]], list[str]]:
    """Each measure's corpus view where the store holds its statistics (ties ordered by the
    corpus's `cases`), and why not for the others."""
    views, missing = [], []
    for view in site.measures:
        if isinstance(stats[view.name], str):
            missing.append(stats[view.name])
            continue
        views.append((view, measure_view(stats[view.name], view.title, cases)))
    return views, missing


def write_corpus_view(out: Path, env: jinja2.Environment,
                       views: list[tuple[MeasureView, CorpusView]], missing: list[str],
                       site: SiteContext, n_sentences: int) -> dict:
    """The corpus view: data/_corpus.js for the index, and a page per head and measure under
    heads/<measure>/. Returns what the index says of it: {"measures": [...]} or {"missing": why}.

    Only from statistics the store holds for its current corpus (`attention-atlas stats`;
    `build` and `run` bring them up to date first): a store without them gets no corpus view,
    and the index says how to make one. The statistics cover every sentence, whether or not it
    has a page; the head pages name sentences by position (the exemplars): assets/head.js links
    those with a page and names the others as text.
    """
    if not views:
        return {"measures": [], "missing": missing[0] if missing else "no statistics",
                "sentences": n_sentences}
    template = env.get_template("head.html")
    for view, corpus in views:
        about = {sel.key: (sel.description, sel.note) for sel in corpus.stats}
        for (layer, head), payload in corpus.heads.items():
            # {page} is filled in by head.js from the index data (data/_index.js)
            payload = {**payload, "data": f"../../data/{{page}}{view.suffix}.js",
                       "sentence": f"../../sentences/{{page}}.html#l{layer}h{head}"
                                   + (f"&m={view.name}" if view.suffix else ""),
                       "domain": list(view.domain)}
            html = template.render(page=payload, site=site, root="../../", measure=view.name,
                                   about=about, csv=STATS_CSV)
            page = out / head_page_name(view.name, layer, head)
            page.parent.mkdir(parents=True, exist_ok=True)
            page.write_text(html, encoding="utf-8")
    data = {"measures": [corpus.index for _, corpus in views], "pattern": HEAD_PAGE}
    (out / CORPUS_DATA).write_text(js_global("atlasCorpus", data), encoding="utf-8")
    # every head's value and rank, as `attention-atlas stats --format csv` prints them
    table = site_table([(view.name, corpus.shape, corpus.stats) for view, corpus in views],
                       n_sentences)
    (out / STATS_CSV).write_text(to_csv([table]), encoding="utf-8", newline="")
    return {"measures": [view.name for view, _ in views], "sentences": n_sentences, "missing": "",
            "csv": STATS_CSV}
