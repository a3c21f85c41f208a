"""A site's shared assets: Vega's bundle (assets/vega.js), the chart specs every page reads
(assets/specs.js, and specs-vega.js, compiled here rather than in every browser), the static
scripts and styles of site_templates/assets, and the sentence pages' one script bundle."""

from __future__ import annotations

import functools
import shutil
from pathlib import Path

import vl_convert

import pipeline
from pipeline.site import charts, corpus_charts
from pipeline.site.contexts import SiteContext
from pipeline.site.data_format import js_global
from pipeline.site.gold import DEPENDENCY_SPEC, GOLD_ASSETS, get_dependency_spec
from pipeline.site.head_pages import corpus_shapes
from pipeline.site.pages import write_sentence_scripts
from pipeline.site.parts import PARTS_SCRIPT, PartView
from pipeline.site.series_downloads import checkpoints_figure_specs
from pipeline.site.series_sentence import difference_specs

BUNDLE_SNIPPET = "window.vegaEmbed = vegaEmbed;"  # `vega` in a snippet is null with Vega 6: use the view API
SERIES_ASSETS = "series-"  # assets/series-*.js: copied to the site of a series only


def templates_dir() -> Path:
    """site_templates/: inside the package when installed from a wheel, else the repository's."""
    packaged = Path(pipeline.__file__).parent / "site_templates"
    return packaged if packaged.is_dir() else Path(pipeline.__file__).parent.parent / "site_templates"


@functools.lru_cache(maxsize=2)
def get_vega_bundle(vl_version: str | None) -> str:
    """Vega + Vega-Lite + vega-embed as one self-contained script (cached: it takes a second)."""
    return vl_convert.javascript_bundle(BUNDLE_SNIPPET, vl_version=vl_version)


def get_vega_script(vl_version: str | None) -> str:
    """assets/vega.js: the bundle is an ES module without imports or exports; wrapped in a
    function it runs as a classic script (which file:// pages may load) and keeps its names."""
    return f"(() => {{\n{get_vega_bundle(vl_version)}\n}})();\n"


def build_assets(out: Path, site: SiteContext, frame: str | None = None) -> None:
    """The shared assets: JS bundle, the chart specs (assets/specs.js), and the static files;
    `frame`: the sentence pages' figure markup (assets/sentence-page.js puts it in their slot)."""
    (out / "assets" / "vega.js").write_text(get_vega_script(charts.vl_convert_version()),
                                            encoding="utf-8")
    write_specs(out, site)
    for path in sorted((templates_dir() / "assets").iterdir()):
        if path.name.startswith(SERIES_ASSETS) and site.series is None:
            continue  # a series site's scripts: a site of one model stays as it was
        if path.name.startswith(GOLD_ASSETS) and not site.gold:
            continue  # gold trees' scripts: a corpus without arcs stays as it was
        if path.name == PARTS_SCRIPT and not site.parts:
            continue  # an encoder-decoder model's parts: a self model's site stays as it was
        if path.is_file():
            shutil.copyfile(path, out / "assets" / path.name)
    write_sentence_scripts(templates_dir() / "assets", out / "assets", series=site.series is not None,
                           gold=site.gold, frame=frame, parts=bool(site.parts))


def write_specs(out: Path, site: SiteContext) -> None:
    """assets/specs.js: the chart specs, shared by every page (window.atlasSpecs)."""
    specs = {"grid": charts.get_grid_spec(site.n_layers, site.n_heads),
             # the corpus view's: its grid for every head, or every layer (per-layer measures)
             "corpus": {f"{site.n_layers}x{h}": corpus_charts.get_corpus_grid_spec(site.n_layers, h)
                        for h in sorted({site.n_heads, 1})},
             "histogram": corpus_charts.get_histogram_spec()}
    for view in site.measures:  # a detail spec per measure (its colour bar); the per-layer grid
        per_layer = view.grid != "grid"
        # an encoder-decoder model's parts each have their own (pipeline.site.parts); a self
        # model's measure is one "part" of the measure's keys and shape
        for part in view.parts or [PartView("self", "", site.n_layers, view.heads, view.detail,
                                            view.grid, view.figure)]:
            specs[part.detail] = charts.get_detail_spec(measure_label=view.title, domain=view.domain,
                                                        part=part.name)
            if part.grid not in specs:
                specs[part.grid] = charts.get_grid_spec(part.layers, part.heads, per_layer=per_layer)
            # the page's download (assets/figure.js): the figure of this measure (and part)
            specs[part.figure] = charts.get_figure_spec(part.layers, part.heads,
                                                        measure_label=view.title, domain=view.domain,
                                                        per_layer=per_layer, part=part.name)
    specs.update(difference_specs(site))  # a series' difference views (series-sentence.js)
    specs.update(checkpoints_figure_specs(site))  # a series' figure of a head (series-figures.js)
    specs["corpus"].update({f"{L}x{h}": corpus_charts.get_corpus_grid_spec(L, h)  # an encoder-decoder's
                            for L, h in corpus_shapes(site)})  # decoder: its parts' corpus grids
    if site.gold:  # a head page's relations against their baselines (gold-head.js)
        specs[DEPENDENCY_SPEC] = get_dependency_spec()
    (out / "assets" / "specs.js").write_text(js_global("atlasSpecs", specs), encoding="utf-8")
    # what a sentence page draws with Vega on load (its details, an encoder-decoder model's parts'
    # too; its grid is drawn on a canvas by assets/grid-draw.js), compiled to Vega here rather
    # than in every browser
    drawn = sorted({*(view.detail for view in site.measures),
                    *(p.detail for view in site.measures for p in view.parts)})
    vega = {key: charts.to_vega(specs[key]) for key in drawn}
    (out / "assets" / "specs-vega.js").write_text(js_global("atlasVegaSpecs", vega), encoding="utf-8")
