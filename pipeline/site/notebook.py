"""A store in a notebook (Jupyter, VS Code, Colab): a sentence's figure, its interactive page, the
corpus view and the statistics as a DataFrame, offline and without a server.

    store = AtlasStore.open("build/atlas.zarr")
    store[0]                                   # the figure (SVG): layer 1, head 1
    store[0].show(layer=4, head=2)             # another head, measure, colour domain, ...
    store[0].view()                            # the sentence page: grid, detail, several rows
    store.view()                               # the corpus view (the index's heads)
    store.stats_frame()                        # every head's statistics, a pandas DataFrame

`SentenceRecord` and `AtlasStore` (pipeline/store/reader.py) call these functions when a
notebook asks: the store cannot import the site (the import contracts), so it names this module
and imports it then. The figure is `attention-atlas figure`'s (pipeline.site.figure); a view is
the site's own page, built from the store into a temporary folder by `build_site` (a store of the
one sentence for a sentence's view) and inlined into one document (pipeline.site.inline).
"""

from __future__ import annotations

import hashlib
import html
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.errors import ConfigError
from pipeline.measures import DEFAULT_MEASURE
from pipeline.site.build import build_site
from pipeline.site.contexts import SiteSentence, SiteStore, get_page_names
from pipeline.site.figure import FigureError, FigureOptions, check_head, figure_bytes
from pipeline.site.inline import iframe, inline_page

SENTENCE_HEIGHT = 900  # px: a view's iframe before its page sets its height
CORPUS_HEIGHT = 760
# the corpus view in a notebook has no sentence pages: no list, no count of pages
UNLISTED = (".sentences, #n-pages, .corpus-card dt:has(+ #n-pages), #n-exemplar-pages, "
            ".corpus-card dt:has(+ #n-exemplar-pages) { display: none; }\n")
SVG_IDS = re.compile(r'(id="|url\(#|href="#)((gradient_|clip|pattern_)\d+)(?=["\)])')


@dataclass(frozen=True)
class Figure:
    """A sentence's figure as a notebook shows it (SVG); `svg` its text, `save` writes it as
    .svg, .pdf or .png."""

    svg: str = field(repr=False)
    caption: str = ""

    def _repr_svg_(self) -> str:
        return self.svg

    def __repr__(self) -> str:
        return f"Figure({self.caption!r}, {len(self.svg):,} characters of SVG)"

    def save(self, path: str | Path, scale: float = 2.0) -> Path:
        """Write the figure: the extension picks SVG, PDF or PNG (`scale`: PNG pixels per pixel)."""
        import vl_convert

        path = Path(path)
        fmt = path.suffix.lower().lstrip(".")
        data = {"svg": lambda: self.svg.encode("utf-8"), "pdf": lambda: vl_convert.svg_to_pdf(self.svg),
                "png": lambda: vl_convert.svg_to_png(self.svg, scale=scale)}.get(fmt)
        if data is None:
            raise FigureError(f"{path}: the extension decides the format: .svg, .pdf or .png")
        path.write_bytes(data())
        return path


@dataclass(frozen=True)
class View:
    """An interactive page of the site in a notebook's output cell (an iframe of its own); `html`
    the self-contained document, `save` writes it as a file that any browser opens."""

    html: str = field(repr=False)
    title: str = ""
    height: int = SENTENCE_HEIGHT

    def _repr_html_(self) -> str:
        return iframe(self.html, title=self.title, height=self.height)

    def __repr__(self) -> str:
        return f"View({self.title!r}, {len(self.html):,} characters of HTML)"

    def save(self, path: str | Path) -> Path:
        """Write the page as one HTML file (it needs nothing beside it)."""
        path = Path(path)
        path.write_text(self.html, encoding="utf-8")
        return path


def scoped_svg(svg: str) -> str:
    """Vega's SVG names its gradients and clip paths gradient_0, clip0, ...: in a notebook (and
    its HTML export) every figure lies in one document, where a second figure's url(#clip0) would
    find the first's. The ids get a prefix from the figure's own bytes: equal figures, equal ids."""
    prefix = "a" + hashlib.sha256(svg.encode("utf-8")).hexdigest()[:8] + "-"
    return SVG_IDS.sub(lambda m: m[1] + prefix + m[2], svg)


def record_figure(rec: SiteSentence, layer: int = 1, head: int = 1,
                  measure: str = DEFAULT_MEASURE, **options: Any) -> Figure:
    """A sentence's figure for one head, as `attention-atlas figure` draws it: `options` are
    pipeline.site.figure.FigureOptions' (measure_label, domain, width, grid, note, font, and
    part: an encoder-decoder store's encoder, decoder or cross)."""
    try:
        opts = FigureOptions(measure=measure, **options)
    except TypeError as exc:  # an option that is no FigureOptions field
        raise ConfigError(f"show(): {exc}; the options: measure_label, domain, width, grid, note, "
                          "font, part") from None
    opts.check()
    if opts.part is not None and getattr(rec, "target", None) is None:
        raise ConfigError(f"show(part={opts.part!r}): {rec.id!r} is a model of one stack's sentence; "
                          "leave part out")
    maps, special = rec.word_maps(measure) if opts.part is None else rec.word_maps(measure, part=opts.part)
    check_head(maps, layer, head, measure)
    svg = figure_bytes(rec, maps, special, layer, head, opts, "svg").decode("utf-8")
    unit = "all heads" if maps.shape[1] == 1 else f"head {head}"
    part = f", {opts.part}" if opts.part else ""
    return Figure(scoped_svg(svg), f"{rec.id}: layer {layer}, {unit} ({measure}{part})")


def record_html(figure: Figure) -> str:
    """A record's default display as HTML: its figure (layer 1, head 1) and a caption."""
    return (f"<figure style=\"margin: 0\">{figure.svg}<figcaption style=\"color: #555; font-size: "
            f"0.85em\">{html.escape(figure.caption)}. <code>.show(layer=, head=, measure=)</code>: "
            "another head; <code>.view()</code>: the interactive page.</figcaption></figure>")


class OneSentence:
    """A store of one of a store's sentences, as the site reads a store (SiteStore): what a
    sentence's view builds its page from (no statistics, so no corpus view)."""

    def __init__(self, store: SiteStore, rec: SiteSentence) -> None:
        self.ids, self.model, self.info, self._rec = [rec.id], store.model, store.info, rec
        self.parts = list(getattr(store, "parts", None) or ["self"])  # an encoder-decoder store's
        self._store = store

    def measure_parts(self, measure: str) -> list[str]:
        """The parts of a measure, as the store has them (an encoder-decoder store's)."""
        return self._store.measure_parts(measure)

    def __len__(self) -> int:
        return 1

    def __getitem__(self, key: int | str) -> SiteSentence:
        if key not in (0, -1, self._rec.id):
            raise KeyError(key)
        return self._rec

    def storage_order(self) -> list[int]:
        """The one sentence."""
        return [0]


def _measure(store: SiteStore, measure: str | None) -> str:
    """The measure a view opens with: the one asked for, else the default where stored, else the
    store's first."""
    stored = list(store.info.get("measures") or [DEFAULT_MEASURE])
    return measure or (DEFAULT_MEASURE if DEFAULT_MEASURE in stored else stored[0])


def record_view(store: SiteStore, rec: SiteSentence, *, layer: int = 1, head: int = 1,
                measure: str | None = None, part: str | None = None) -> View:
    """A sentence's page, interactive, in a notebook: the site's page of a store of this one
    sentence, opened at `layer`, `head` with `measure` on show (the default measure first in its
    selector; the others as on the site), and an encoder-decoder store's `part` (None: encoder)."""
    shown = _measure(store, measure)
    with tempfile.TemporaryDirectory(prefix="atlas-view-") as tmp:
        build_site(OneSentence(store, rec), Path(tmp) / "site", measure=shown, progress=False,
                   max_site_bytes=None)
        page = get_page_names([rec.id])[0]
        document = inline_page(Path(tmp) / "site", f"sentences/{page}.html",
                               fragment=f"l{int(layer)}h{int(head)}" + (f"&p={part}" if part else ""))
    return View(document, f"{rec.id}: {rec.text[:80]}", SENTENCE_HEIGHT)


def store_view(store: SiteStore, *, measure: str | None = None) -> View:
    """The corpus view of a store (the index's heads across the corpus, its statistic and
    measure selectors, the CSV), in a notebook; the sentence list stays out (no pages)."""
    with tempfile.TemporaryDirectory(prefix="atlas-view-") as tmp:
        build_site(store, Path(tmp) / "site", measure=_measure(store, measure), progress=False,
                   max_site_bytes=None, pages=False)
        document = inline_page(Path(tmp) / "site", "index.html", style=UNLISTED)
    return View(document, f"{store.model.get('name')}: heads across the corpus", CORPUS_HEIGHT)


def stats_frame(store, measure: str | None = None, stat: str | None = None):
    """Every head's statistics as a pandas DataFrame, one row per measure, statistic and head:
    measure, statistic, layer, head (1-based), value, rank (1 = the highest; 0 where undefined),
    as `attention-atlas stats --format csv` gives them (values in full here); an
    encoder-decoder's store: a column part after measure, a row per part too."""
    try:
        import pandas as pd
    except ImportError:
        raise ConfigError('stats_frame() needs pandas: pip install "attention-atlas[notebook]"') from None
    from pipeline.site.head_pages import current_stats
    from pipeline.site.stats_table import COLUMNS, PART_COLUMNS, choose, store_table

    measures = [measure] if measure else list(store.info.get("measures") or [])
    found = current_stats(store, measures)
    missing = {m: why for m, why in found.items() if isinstance(why, str)}
    if missing:
        where = getattr(store, "path", "the store")
        raise ConfigError(f"{where}: no statistics of {', '.join(missing)} "
                          f"({'; '.join(missing.values())}): run `attention-atlas stats --store "
                          f"{where}`")
    parts = {f"{m}.{p}": one for m, each in found.items() if isinstance(each, dict)
             for p, one in each.items()}  # an encoder-decoder's: per stream
    table = choose(store_table(parts or found, len(store)), stat)
    rows = [(c.measure, *([c.part] if parts else []), c.key, layer, head, value, rank)
            for c in table.columns for layer, head, value, rank in c.heads()]
    return pd.DataFrame(rows, columns=PART_COLUMNS if parts else COLUMNS)
