"""The notebook of the docs (docs/notebook.ipynb), executed once for the file in a real kernel
(nbclient, ipykernel) over a store of the bundled corpus's first sentences through a tiny GPT-2:
its outputs hold the figures, views and tables it promises, and its HTML export (nbconvert),
opened in chromium from disk, shows the views offline, where a click selects a head."""

from __future__ import annotations

import html
import json
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbconvert import HTMLExporter

from pipeline.corpus import bundled_corpus_path, read_corpus
from pipeline.extract.run import extract
from pipeline.site.notebook import record_view
from pipeline.stats.compute import update_stats
from pipeline.store import AtlasStore
from pipeline.testing import FakeStore, write_jsonl

pytestmark = pytest.mark.browser

NOTEBOOK = Path(__file__).resolve().parents[2] / "docs" / "notebook.ipynb"
SENTENCES = 4  # the bundled corpus's first sentences


@pytest.fixture(scope="module")
def executed(tmp_path_factory, gpt2, gpt2_dir):
    """(the executed notebook's code cells by their source's first line, its HTML export, the
    store it read)."""
    folder = tmp_path_factory.mktemp("notebook")
    lines = bundled_corpus_path().read_text(encoding="utf-8").splitlines()[:SENTENCES]
    corpus = write_jsonl(folder / "first.jsonl", [json.loads(line) for line in lines])
    store = folder / "atlas.zarr"
    extract(read_corpus(corpus).sentences, store, gpt2, progress=False)
    update_stats(store)
    nb = nbformat.read(NOTEBOOK, as_version=4)
    with pytest.MonkeyPatch.context() as env:  # the kernel inherits them
        env.setenv("ATLAS_STORE", str(store))
        env.setenv("ATLAS_MODEL", str(gpt2_dir))
        env.setenv("HF_HUB_OFFLINE", "1")
        NotebookClient(nb, timeout=180, kernel_name="python3",
                       resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()
    export = folder / "notebook.html"
    export.write_text(HTMLExporter().from_notebook_node(nb)[0], encoding="utf-8")
    cells = {c.source.splitlines()[-1]: c for c in nb.cells if c.cell_type == "code"}
    return cells, export, AtlasStore.open(store)


def only(cell) -> dict:
    """A cell's one output's data (no stream, no error beside it)."""
    assert [o.output_type for o in cell.outputs] == ["execute_result"], cell.outputs
    return cell.outputs[0]["data"]


def test_the_notebook_shows_figures_views_and_tables(executed):
    cells, _, store = executed
    rec = store[0]
    figure = only(cells["rec"])  # a record: its figure, layer 1 head 1, as SVG and in HTML
    assert figure["image/svg+xml"].startswith("<svg") and "layer 1, head 1" in figure["image/svg+xml"]
    assert html.escape(rec.words[1]) in figure["image/svg+xml"]
    assert figure["image/svg+xml"] in figure["text/html"] and "<figcaption" in figure["text/html"]
    shown = only(cells["rec.show(layer=2, head=3)"])
    assert set(shown) == {"text/plain", "image/svg+xml"} and "layer 2, head 3" in shown["image/svg+xml"]
    for line, title in [("rec.view(layer=2, head=1)", rec.text), ("store.view()", "Heads across the corpus")]:
        view = only(cells[line])["text/html"]
        assert view.startswith('<div class="attention-atlas-view"') and "<iframe" in view
        assert html.escape(html.escape(title)) in view  # escaped in the page, again in srcdoc
    ids = [line.split('id="', 1)[1].split('"', 1)[0] for line in
           (only(cells[k])["text/html"] for k in ("rec.view(layer=2, head=1)", "store.view()", "seen"))]
    assert len(set(ids)) == 3  # each view its own element
    # the statistics as a DataFrame: every head of every statistic, the prev ranks as computed
    frame = store.stats_frame()
    assert len(frame) == frame.statistic.nunique() * 2 * 4 and set(frame.measure) == {"attention"}
    best = frame[frame.statistic == "prev"].sort_values("rank").iloc[0]
    top = only(cells['prev.sort_values("rank").head(3)'])
    assert "<table" in top["text/html"]
    assert top["text/plain"].splitlines()[1].split()[1:5] == ["attention", "prev", str(best["layer"]), str(best["head"])]
    pivot = only(cells['prev.pivot(index="layer", columns="head", values="value").round(3)'])
    assert len(pivot["text/plain"].splitlines()) == 2 + 2  # two header lines, two layers
    # look: the tiny GPT-2 on the sentence typed, its words and its codes (L, H, T, T)
    assert "<iframe" in only(cells["seen"])["text/html"]
    words = only(cells["seen.record.words, seen.record.spans, seen.codes().shape"])["text/plain"]
    assert "'painted'" in words and "('ENV', 0, 7), ('LAN', 7, 13)" in words and "(2, 4, " in words


def view_frame(page, n: int):
    """The n-th view of the exported notebook (its iframes in order), once its page is drawn."""
    frame = page.locator("iframe").nth(n)
    frame.scroll_into_view_if_needed()
    inner = frame.element_handle().content_frame()
    inner.wait_for_function("document.documentElement.dataset.ready", timeout=20_000)
    assert inner.evaluate("document.documentElement.dataset.ready") == "true"
    return frame, inner


GRID_CELL = """([l, h]) => {  // a grid cell's centre, from the canvas's top left
  const view = window.atlas.grid;
  const [ox, oy] = view.origin();
  const { left, top } = view.padding();
  const x = view.scale("x"), y = view.scale("y");
  return { x: left + ox + x(h) + x.bandwidth() / 2, y: top + oy + y(l) + y.bandwidth() / 2 };
}"""


def test_the_exported_notebook_shows_the_views_offline_and_a_click_selects_a_head(
        executed, chromium, artifacts):
    export = executed[1]
    context = chromium.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    requests, errors = [], []
    page.on("request", lambda r: requests.append((r.frame.url, r.url)))
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error"
            and not m.location.get("url", "").startswith("http") else None)
    page.route("http*://**", lambda route: route.abort())  # nbconvert's template asks a CDN
    page.goto(export.as_uri())
    frame, inner = view_frame(page, 0)  # rec.view(layer=2, head=1)
    assert inner.evaluate("document.getElementById('figure').dataset.selected") == "l2h1"
    assert inner.evaluate("location.href") == "about:srcdoc#l2h1"  # the address works in srcdoc
    height = frame.bounding_box()["height"]
    assert height > 900 and abs(height - inner.evaluate("document.body.scrollHeight")) < 40
    inner.locator("#grid canvas").click(position=inner.evaluate(GRID_CELL, [1, 4]))
    inner.wait_for_function("window.atlas.layer === 1 && window.atlas.head === 4")
    assert inner.locator("#detail-title").inner_text() == "layer 1, head 4"
    inner.locator("#grid canvas").press("ArrowDown")
    inner.wait_for_function("window.atlas.layer === 2 && window.atlas.head === 4")
    frame.screenshot(path=str(artifacts / "notebook-view.png"))
    _, corpus = view_frame(page, 1)  # store.view(): the corpus view, no list
    assert corpus.locator("#corpus-stat option").count() > 10
    assert not corpus.locator("#sentence-table").is_visible()
    corpus.locator("#corpus-grid .mark-rect path").first.click()  # a head page: none here
    corpus.wait_for_selector("#notebook-note")
    assert "store[id].view()" in corpus.locator("#notebook-note").inner_text()
    assert corpus.url == "about:srcdoc"
    _, seen = view_frame(page, 2)  # look(...): opened at layer 2, head 3
    assert seen.evaluate("[window.atlas.layer, window.atlas.head]") == [2, 3]
    views = [f for f in page.frames if f.url.startswith("about:srcdoc")]
    assert len(views) == 3
    outside = [(where, url) for where, url in requests if where.startswith("about:srcdoc")
               and not url.startswith(("data:", "blob:"))]
    assert not outside and not errors, (outside, errors)
    page.screenshot(path=str(artifacts / "notebook-export.png"), full_page=False)
    context.close()


def test_a_saved_view_switches_measures_from_its_own_data(chromium, tmp_path):
    """A view of a store of three measures, saved as a file: each measure's data is in it."""
    store = FakeStore([("a", "the child painted a horse", [("CHI", 0, 2)]), ("b", "x y", [])], 2, 3,
                      measures=("attention", "rollout", "norm"))
    path = record_view(store, store[0], layer=2, head=3).save(tmp_path / "view.html")
    page = chromium.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("requestfailed", lambda r: errors.append(r.url))
    page.goto(path.as_uri())
    page.wait_for_function("document.documentElement.dataset.ready === 'true'")
    for measure in ("rollout", "norm"):
        page.select_option("#measure", measure)
        page.wait_for_function(f"document.getElementById('figure').dataset.measure === '{measure}'")
    assert page.evaluate("[atlas.layer, atlas.head, location.hash]") == [2, 3, "#l2h3&m=norm"]
    assert page.locator("#detail-title").inner_text() == "layer 2, head 3 (norm)" and not errors
    page.close()
