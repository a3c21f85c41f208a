"""A site with a size limit (--max-site-bytes): which sentences get pages, within the limit,
the same every build, with the index counting every sentence and no link to a missing page."""

from __future__ import annotations

import hashlib
import html.parser
import json
import re
import urllib.parse
from pathlib import Path

import pytest

from pipeline.errors import SiteError
from pipeline.site.build import build_site, get_environment
from pipeline.site.contexts import (
    PAGE_NAME_MAX,
    get_page_names,
    get_sentence_context,
    get_site_context,
)
from pipeline.site.corpus_view import exemplar_order, measure_view, sentence_cases
from pipeline.site.pages import build_sentence, page_cost
from pipeline.store import AtlasStore
from pipeline.testing import FakeStore, read_index, read_js_global, synthetic_store

N = 300


def files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def site_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """N synthetic sentences through 1 layer x 2 heads, with statistics (so a corpus view and
    its exemplars, about half the corpus), and the site of every sentence."""
    root = tmp_path_factory.mktemp("budget")
    store = synthetic_store(root / "atlas.zarr", N, 1, 2, seed=7, lengths=7, span_every=3)
    full = build_site(store, root / "full", max_site_bytes=None, progress=False)
    atlas = AtlasStore.open(store)
    cases = sentence_cases([len(rec.words) for rec in atlas], [rec.spans for rec in atlas])
    named = exemplar_order([measure_view(atlas.head_stats(), "attention", cases)])  # rank order
    assert 0 < len(named) < N * 2 // 3
    return store, root, full, named


def index_payload(site: Path) -> str:
    return (site / "index.html").read_text()


def fixed_part(store, tmp_path) -> int:
    """The smallest limit the error for a tiny one says will do: the site's fixed part."""
    with pytest.raises(SiteError) as info:
        build_site(store, tmp_path / "tiny", max_site_bytes=200_000, progress=False)
    return int(re.search(r"--max-site-bytes (\d+) or more", info.value.message).group(1))


@pytest.fixture(scope="module")
def budgeted(corpus):
    """The site within a limit between the exemplars' site and the whole one."""
    store, root, full, named = corpus
    # a third of the sentences' own files (page, data) left out: the fixed part (assets, the
    # corpus view, head pages) measured, not assumed, so that the limit holds every exemplar
    pages = [*(full.site_dir / "sentences").glob("*.html"),
             *(p for p in (full.site_dir / "data").glob("*.js") if not p.name.startswith("_"))]
    budget = full.bytes - sum(p.stat().st_size for p in pages) // 3
    summary = build_site(store, root / "budgeted", max_site_bytes=budget, progress=False)
    return budget, summary, root / "budgeted"


def test_the_site_stays_within_its_limit_and_says_so(corpus, budgeted):
    _, _, full, _ = corpus
    budget, summary, site = budgeted
    assert full.with_pages == N and full.bytes > budget
    assert summary.bytes == site_bytes(site) <= budget
    assert summary.sentences == N and 0 < summary.with_pages < N
    assert len(list((site / "sentences").glob("*.html"))) == summary.with_pages
    # a data script per page, besides the index's and the corpus view's
    assert len(list((site / "data").glob("*.js"))) == summary.with_pages + 2
    text = str(summary)
    assert f"{N:,} sentences, {summary.with_pages:,} with pages" in text
    assert f"(limit {budget / 1e6:.3g} MB;" in text


def test_exemplars_first_then_a_prefix_of_the_id_hash_order(corpus, budgeted):
    store, _, full, named = corpus
    _, summary, site = budgeted
    ids = AtlasStore.open(store).ids
    with_pages = [row["n"] for row in read_index(site)]
    assert with_pages == sorted(with_pages)
    assert set(named) <= set(with_pages)  # every sentence a head page names
    rest = sorted(set(range(N)) - set(named), key=lambda i: hashlib.sha256(ids[i].encode()).hexdigest())
    extra = len(with_pages) - len(named)
    assert extra > 0 and set(with_pages) == set(named) | set(rest[:extra])
    # it stopped at the first that did not fit: that one's files would have overflowed
    nxt = get_page_names([ids[rest[extra]]])[0]
    full_site = full.site_dir
    nxt_bytes = sum(p.stat().st_size for p in [full_site / "sentences" / f"{nxt}.html",
                                                full_site / "data" / f"{nxt}.js"])
    budget = budgeted[0]
    assert summary.bytes + nxt_bytes > budget - summary.with_pages * 2 * 20


def test_two_builds_with_the_same_limit_are_identical(corpus, budgeted, tmp_path):
    store, *_ = corpus
    budget, _, site = budgeted
    build_site(store, tmp_path / "again", max_site_bytes=budget, progress=False)
    assert files(tmp_path / "again") == files(site)


def test_the_index_counts_every_sentence_and_lists_those_with_pages(corpus, budgeted):
    store, root, full, _ = corpus
    _, summary, site = budgeted
    index = (site / "index.html").read_text()
    m = summary.with_pages
    limit = f"{budgeted[0] / 1e6:.3g} MB"
    assert f"{N:,} sentences in the corpus, {m:,} with pages (budget {limit})" in index
    assert f'<dd id="n-pages">{m:,} (the site' in index
    named = len(corpus[3])  # this limit holds every exemplar
    assert f"({named:,} of these {named:,} have pages;" in index
    assert f'<dd id="n-exemplar-pages">{named:,} of {named:,} with pages</dd>' in index
    assert f'<dd id="n-sentences">{N:,}</dd>' in index
    # the corpus summary (words, spans by label) and the statistics cover every sentence
    words = re.compile(r"<dt>words</dt><dd>([\d,]+)</dd>")
    assert words.search(index).group(1) == words.search((root / "full" / "index.html").read_text()).group(1)
    spans = re.compile(r'<span class="label">MOT</span> ([\d,]+)')
    assert spans.search(index).group(1) == f"{N // 3:,}"
    assert (site / "data" / "_corpus.js").read_bytes() == (root / "full" / "data" / "_corpus.js").read_bytes()
    data = read_js_global(site / "data" / "_index.js", "atlasIndexData")
    assert data["sentences"] == N and data["columns"][-1] == "n" and len(data["rows"]) == m
    full_rows = {row["id"]: row for row in read_index(root / "full")}
    for row in read_index(site):  # the same lines as the whole site's, with their positions
        assert {k: v for k, v in row.items() if k != "n"} == full_rows[row["id"]]
        assert AtlasStore.open(store).ids[row["n"]] == row["id"]
    # the whole site's index is as it always was: no column "n", no count of the corpus
    whole = read_js_global(root / "full" / "data" / "_index.js", "atlasIndexData")
    assert "sentences" not in whole and "n" not in whole["columns"]
    assert "with pages" not in (root / "full" / "index.html").read_text()


class Links(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.hrefs = []

    def handle_starttag(self, tag, attrs):
        self.hrefs += [v for k, v in attrs if k in ("href", "src") and v]


def test_no_link_to_a_missing_page(budgeted):
    _, _, site = budgeted
    pages = sorted(site.rglob("*.html"))
    checked = 0
    for page in pages:
        parser = Links()
        parser.feed(page.read_text())
        for href in parser.hrefs:
            path = urllib.parse.unquote(href.split("#")[0])
            if path and not path.startswith("data:"):  # the favicon
                assert (page.parent / path).resolve().is_file(), f"{page}: {href}"
                checked += path.endswith(".html")
    assert checked > len(pages)
    # the head pages name sentences by corpus position: each is in the index, so has a page
    listed = {row["n"]: row for row in read_index(site)}
    for head in (site / "heads" / "attention").glob("*.html"):
        payload = json.loads(re.search(r'id="atlas-head">(.*?)</script>', head.read_text(), re.S).group(1))
        for entry in payload["stats"]:
            for position, _ in entry["top"] + entry["bottom"]:
                name = listed[position]["page"]
                assert (site / "sentences" / f"{name}.html").is_file()
                assert (site / "data" / f"{name}.js").is_file()


def test_previous_and_next_step_through_the_sentences_with_pages(budgeted):
    _, _, site = budgeted
    names = [row["page"] for row in read_index(site)]
    for k, name in enumerate(names):
        page = (site / "sentences" / f"{name}.html").read_text()
        prev = re.search(r'<a (?:href="([^"]*)" )?rel="prev"', page).group(1)
        nxt = re.search(r'<a (?:href="([^"]*)" )?rel="next"', page).group(1)
        assert prev == (f"{names[k - 1]}.html" if k else None)
        assert nxt == (f"{names[k + 1]}.html" if k + 1 < len(names) else None)


@pytest.fixture(scope="module")
def cut(corpus, tmp_path_factory):
    """Sites within limits between the fixed part and the exemplars' pages: (limit, summary,
    site) for limits that hold about a fifth, a half and most of the exemplars."""
    store, root, full, named = corpus
    base = fixed_part(store, tmp_path_factory.mktemp("fixed"))
    # what the exemplars take: the full site's files of each, roughly
    each = (full.bytes - base) / N
    out = []
    for share in (0.2, 0.5, 0.9):
        limit = base + int(share * len(named) * each)
        summary = build_site(store, root / f"cut-{share}", max_site_bytes=limit, progress=False)
        out.append((limit, summary, root / f"cut-{share}"))
    return base, out


def test_a_limit_below_the_exemplars_gives_them_pages_in_rank_order(corpus, cut):
    store, _, full, named = corpus
    _, sites = cut
    counts = []
    for limit, summary, site in sites:
        assert summary.bytes == site_bytes(site) <= limit
        with_pages = [row["n"] for row in read_index(site)]
        m = len(with_pages)
        counts.append(m)
        assert 0 < m < len(named)
        # exactly the first m of the rank order (each head's first of every statistic, top and
        # bottom, then the seconds, ...), nothing past it
        assert set(with_pages) == set(named[:m])
        # it stopped at the first that did not fit: that one's files would have overflowed
        nxt = get_page_names([AtlasStore.open(store).ids[named[m]]])[0]
        nxt_bytes = sum((full.site_dir / sub / f"{nxt}{ext}").stat().st_size
                        for sub, ext in (("sentences", ".html"), ("data", ".js")))
        assert summary.bytes + nxt_bytes > limit - m * 2 * 20
        # the index says how many of the exemplars have pages
        index = index_payload(site)
        assert f"({m:,} of these {len(named):,} have pages;" in index
        assert f'<dd id="n-exemplar-pages">{m:,} of {len(named):,} with pages</dd>' in index
        assert f"{N:,} sentences in the corpus, {m:,} with pages" in index
    assert counts == sorted(counts) and len(set(counts)) == 3
    # rank by rank: every head's first of every statistic before any second
    first = {entry[end][0][0] for head in (full.site_dir / "heads" / "attention").glob("*.html")
             for entry in head_json(head)["stats"] for end in ("top", "bottom") if entry[end]}
    for _, _, site in sites:
        with_pages = {row["n"] for row in read_index(site)}
        assert first <= with_pages if len(with_pages) >= len(first) else with_pages <= first


def head_json(path: Path) -> dict:
    return json.loads(re.search(r'id="atlas-head">(.*?)</script>', path.read_text(), re.S).group(1))


def test_head_pages_are_the_same_whatever_the_limit(corpus, cut):
    """The head pages and the corpus view are the site's fixed part: a head page names its
    sentences by position, and its script links those with a page (assets/head.js)."""
    _, root, _, _ = corpus
    _, sites = cut
    whole = files(root / "full")
    for _, _, site in sites:
        here = files(site)
        fixed = [k for k in whole if k.startswith(("heads/", "assets/", "data/_corpus"))]
        assert fixed and all(here[k] == whole[k] for k in fixed)
        for page in (site / "heads").rglob("*.html"):  # no link to a sentence in the HTML
            assert "sentences/" not in page.read_text().replace("../../sentences/{page}", "")


def test_exit_7_only_when_the_fixed_part_does_not_fit(corpus, cut, tmp_path):
    store, _, _, named = corpus
    base, _ = cut
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / ".atlas-site").write_text("{}")  # a previous site: left as it was
    with pytest.raises(SiteError) as info:  # a byte below the fixed part
        build_site(store, tmp_path / "site", max_site_bytes=base - 1, progress=False)
    message = info.value.message
    assert "cannot hold even the assets, the index and the corpus view with its head pages" in message
    assert f"give --max-site-bytes {base} or more" in message
    assert [p.name for p in (tmp_path / "site").iterdir()] == [".atlas-site"]
    assert not list(tmp_path.glob(".site.tmp-*"))  # nothing left behind
    # the fixed part itself builds: no sentence page fits, the head pages name them as text
    summary = build_site(store, tmp_path / "site", max_site_bytes=base, progress=False)
    assert summary.bytes <= base and summary.with_pages == 0
    assert f"(0 of these {len(named):,} have pages;" in index_payload(tmp_path / "site")
    assert read_index(tmp_path / "site") == []
    # a byte above: still no sentence (none takes a byte)
    assert build_site(store, tmp_path / "above", max_site_bytes=base + 1,
                      progress=False).with_pages == 0


def test_the_default_limit_builds_every_page_as_without_one(corpus, tmp_path):
    store, root, full, _ = corpus
    summary = build_site(store, tmp_path / "default", progress=False)  # 1 GB
    assert summary.budget == 10**9 and summary.with_pages == N
    assert files(tmp_path / "default") == files(root / "full")


def test_a_store_without_statistics_takes_sentences_by_id_hash(tmp_path):
    store = FakeStore([(f"id{k}", "a b c d", []) for k in range(40)])
    full = build_site(store, tmp_path / "full", max_site_bytes=None, progress=False)
    name = get_page_names(["id0"])[0]
    one = sum((tmp_path / "full" / sub / f"{name}{ext}").stat().st_size
              for sub, ext in (("sentences", ".html"), ("data", ".js")))
    budget = full.bytes - 10 * one  # about 30 of 40
    summary = build_site(store, tmp_path / "site", max_site_bytes=budget, progress=False)
    assert summary.bytes <= budget and 25 <= summary.with_pages < 31
    order = sorted(store.ids, key=lambda i: hashlib.sha256(i.encode()).hexdigest())
    assert {row["id"] for row in read_index(tmp_path / "site")} == set(order[:summary.with_pages])
    assert "No corpus view" in (tmp_path / "site" / "index.html").read_text()


def test_a_page_counts_as_if_its_links_were_to_the_longest_name(tmp_path):
    """page_cost: a page's bytes with either link present or absent equal its bytes with both
    links to the longest page name (what choose_pages counts before the neighbours are known)."""
    ids = ["a", "b", "x" * 300, "c"]  # the third page's name is as long as a name can be
    names = get_page_names(ids)
    assert len(names[2]) == PAGE_NAME_MAX
    store = FakeStore([(sid, "one two", []) for sid in ids])
    site = get_site_context(store, measure="attention", measure_label="attention", domain=(0, 1))
    template = get_environment().get_template("sentence.html")
    (tmp_path / "data").mkdir()
    (tmp_path / "sentences").mkdir()

    def cost(position, near):
        ctx = get_sentence_context(store[position], position, names, site, 2, near)
        maps = [(f"data/{names[position]}.js", *store[position].word_maps("attention"))]
        size = build_sentence(tmp_path, ctx, maps, template)
        data = (tmp_path / "data" / f"{names[position]}.js").stat().st_size
        page = (tmp_path / "sentences" / f"{names[position]}.html").stat().st_size
        return size - data, page, ctx

    longest, page, _ = cost(0, (2, 2))
    assert longest == page  # both links to the longest name: counted as it is
    for near in [(None, None), (1, None), (None, 3), (1, 3)]:
        counted, page, ctx = cost(0, near)
        assert counted == longest and page <= longest
        assert counted == page_cost(page, ctx)


def test_build_takes_the_limit_from_the_command_line(corpus, budgeted, tmp_path):
    from click.testing import CliRunner

    from pipeline.cli import main

    store, *_ = corpus
    budget, summary, site = budgeted
    args = ["build", "--store", str(store), "--site", str(tmp_path / "site"), "-q"]
    result = CliRunner().invoke(main, [*args, "--max-site-bytes", str(budget)])
    assert result.exit_code == 0, result.output
    assert f"build: {N:,} sentences, {summary.with_pages:,} with pages" in result.output
    assert files(tmp_path / "site") == files(site)
    result = CliRunner().invoke(main, [*args, "--max-site-bytes", "500kB"])
    assert result.exit_code == 7, result.output
    assert "Error: a site limit of 500 kB (500,000 bytes) cannot hold even the assets" in result.output
