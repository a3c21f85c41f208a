"""The corpus view's files: data/_corpus.js for the index's grid, and a page per head and
measure under heads/<measure>/ (what they show: pipeline.site.corpus_view), from the
statistics a store holds for its current corpus. An encoder-decoder's store has a view per
measure and part (encoder, decoder, cross), its head pages under heads/<measure>/ for the
encoder (as its sentence pages' data and links) and heads/<measure>.<part>/ for the others."""

from __future__ import annotations

import logging
from pathlib import Path

import jinja2

from pipeline.errors import StaleStatsError, StoreError
from pipeline.site.contexts import MeasureView, SiteContext, SiteStore
from pipeline.site.corpus_view import Cases, CorpusView, measure_view, sentence_cases
from pipeline.site.data_format import js_global
from pipeline.site.names import HEAD_PAGE, head_page_name
from pipeline.site.stats_table import STATS_CSV, site_table, to_csv

log = logging.getLogger(__name__)

CORPUS_DATA = "data/_corpus.js"  # the corpus view's statistics, every head (pipeline.site.corpus_view)


def current_stats(store: SiteStore, measures) -> dict[str, object]:
    """Each measure's statistics (HeadStats) where the store holds them for its current corpus,
    else why not (a sentence without the store's path: the site must not show it). An
    encoder-decoder's store: {part: HeadStats} of the measure's parts that have them."""
    head_stats = getattr(store, "head_stats", None)
    found: dict[str, object] = {}
    for measure in measures:
        if head_stats is None:
            found[measure] = "this store keeps no per-head statistics"
            continue
        parts = store.measure_parts(measure) if getattr(store, "encoder_decoder", False) else None
        try:
            found[measure] = (head_stats(measure) if parts is None else
                              {part: head_stats(measure, part=part) for part in parts})
        except StoreError as exc:
            log.warning("no corpus view of %r: %s", measure, exc)
            found[measure] = ("its statistics were computed for an earlier corpus"
                              if isinstance(exc, StaleStatsError) else "the store has no statistics")
    return found


def part_cases(cases: Cases, targets: list) -> dict[str, Cases]:
    """Each part's cases (what orders a head page's ties): the encoder's are the source's
    (`cases`), the decoder's and cross's the target's words and spans (their rows), from
    `targets`: (target words, target spans, target) per sentence, in corpus order."""
    target = sentence_cases([len(t[0]) for t in targets], [t[1] for t in targets])
    return {"self": cases, "encoder": cases, "decoder": target, "cross": target}


def corpus_views(stats: dict[str, object], site: SiteContext, cases: Cases | dict[str, Cases]
                  ) -> tuple[list[tuple[MeasureView, CorpusView]], list[str]]:
    """Each measure's corpus view where the store holds its statistics (ties ordered by the
    corpus's `cases`; per part for an encoder-decoder's: `part_cases`), and why not for the
    others; an encoder-decoder's measure has a view per part."""
    views, missing = [], []
    for view in site.measures:
        found = stats[view.name]
        if isinstance(found, str):
            missing.append(found)
            continue
        for one in found.values() if isinstance(found, dict) else [found]:
            of = cases[one.part] if isinstance(cases, dict) else cases
            views.append((view, measure_view(one, view.title, of)))
    return views, missing


def corpus_shapes(site: SiteContext) -> list[tuple[int, int]]:
    """The corpus view's grid shapes (layers, heads) beyond the site's own (every head, or
    every layer): an encoder-decoder's decoder, for its decoder and cross parts."""
    model = site.model
    if not model.get("encoder_decoder"):
        return []
    shape = (int(model["n_decoder_layers"]), int(model["n_decoder_heads"]))
    own = {(site.n_layers, site.n_heads), (site.n_layers, 1)}
    return [(shape[0], h) for h in sorted({shape[1], 1}) if (shape[0], h) not in own]


def _page_words(payload: dict, corpus: CorpusView, own_words: dict[int, list[str]],
                targets: list | None) -> dict:
    """A head page's payload with the words of its exemplars that head.js cannot split from the
    index's texts: `words` (the columns', by position: CoNLL-U forms; the target's on a decoder
    page) and, on a cross page, `rowWords` (the target's); on both, `targets` their targets'
    texts (shown beside the sources')."""
    refs = sorted({ref for entry in payload["stats"] for end in ("top", "bottom")
                   for ref, _ in entry[end]})
    if corpus.part in ("decoder", "cross") and targets is not None:
        rows = {str(ref): targets[ref][0] for ref in refs}
        extra = {"words": rows} if corpus.part == "decoder" else {"rowWords": rows}
        extra["targets"] = {str(ref): targets[ref][2] for ref in refs}
        if corpus.part == "cross":
            named = {str(ref): own_words[ref] for ref in refs if ref in own_words}
            extra = {**({"words": named} if named else {}), **extra}
        return {**payload, **extra}
    named = [ref for ref in refs if ref in own_words]
    if named:  # {position: words} of its exemplars that need them
        return {**payload, "words": {str(ref): own_words[ref] for ref in named}}
    return payload


def _part_links(view: MeasureView, corpus: CorpusView, site: SiteContext) -> tuple[str, str]:
    """A head page's data script (of the sentence's maps of its measure and part) and the
    address of a sentence page at this head, {page}, {layer} and {head} left to fill: the
    default part (the first) has the measure's script, the others `.<part>` after it."""
    parts = getattr(site, "parts", ()) or ("encoder", "decoder", "cross")
    own = "" if corpus.part in ("self", parts[0]) else f".{corpus.part}"
    fragment = ("&m=" + view.name if view.suffix else "") + ("&p=" + corpus.part if own else "")
    return f"../../data/{{page}}{view.suffix}{own}.js", fragment


def write_corpus_view(out: Path, env: jinja2.Environment,
                       views: list[tuple[MeasureView, CorpusView]], missing: list[str],
                       site: SiteContext, n_sentences: int,
                       own_words: dict[int, list[str]] | None = None,
                       targets: list | None = None) -> dict:
    """The corpus view: data/_corpus.js for the index, and a page per head and measure under
    heads/<measure>/. Returns what the index says of it: {"measures": [...]} or {"missing": why}.

    Only from statistics the store holds for its current corpus (`attention-atlas stats`;
    `build` and `run` bring them up to date first): a store without them gets no corpus view,
    and the index says how to make one. The statistics cover every sentence, whether or not it
    has a page; the head pages name sentences by position (the exemplars): assets/head.js links
    those with a page and names the others as text. `own_words`: by position, the words of the
    sentences whose words the default rule does not find in their text (CoNLL-U forms such as
    `n't`); a head page carries its exemplars' (`words`), so that their maps carry their words
    too (head.js splits the other texts itself). `targets`: an encoder-decoder's (target words,
    target spans, target) per sentence, in corpus order: the rows of its decoder and cross maps.
    """
    if not views:
        return {"measures": [], "missing": missing[0] if missing else "no statistics",
                "sentences": n_sentences}
    template = env.get_template("head.html")
    for view, corpus in views:
        about = {sel.key: (sel.description, sel.note) for sel in corpus.stats}
        data, fragment = _part_links(view, corpus, site)
        to_index = "#p=" + corpus.part if "&p=" in fragment else ""  # the corpus view at this part
        for (layer, head), payload in corpus.heads.items():
            # {page} is filled in by head.js from the index data (data/_index.js)
            payload = _page_words(payload, corpus, own_words or {}, targets)
            payload = {**payload, "data": data,
                       "sentence": f"../../sentences/{{page}}.html#l{layer}h{head}" + fragment,
                       "domain": list(view.domain)}
            html = template.render(page=payload, site=site, root="../../", measure=view.name,
                                   about=about, csv=STATS_CSV, part=corpus.part,
                                   to_index=to_index)
            page = out / head_page_name(corpus.name, layer, head)
            page.parent.mkdir(parents=True, exist_ok=True)
            page.write_text(html, encoding="utf-8")
    parts = list(dict.fromkeys(c.part for _, c in views if c.part != "self"))
    data = {"measures": [corpus.index for _, corpus in views], "pattern": HEAD_PAGE,
            **({"parts": parts} if parts else {})}
    (out / CORPUS_DATA).write_text(js_global("atlasCorpus", data), encoding="utf-8")
    # every head's value and rank, as `attention-atlas stats --format csv` prints them
    table = site_table([(view.name, corpus.shape, corpus.stats, corpus.part)
                        for view, corpus in views], n_sentences)
    (out / STATS_CSV).write_text(to_csv([table]), encoding="utf-8", newline="")
    if parts:  # an encoder-decoder's: its measures, their parts, the head pages' folders
        return {"measures": list(dict.fromkeys(view.name for view, _ in views)), "parts": parts,
                "names": [c.name for _, c in views], "sentences": n_sentences, "missing": "",
                "csv": STATS_CSV}
    return {"measures": [view.name for view, _ in views], "sentences": n_sentences, "missing": "",
            "csv": STATS_CSV}
