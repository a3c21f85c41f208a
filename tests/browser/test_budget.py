"""A site with a size limit in a browser: the index says how many sentences the corpus has and
how many have pages, its list (search, links, sentence pages' previous / next) holds only those,
and the head pages show their sentences from it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pipeline.errors import SiteError
from pipeline.site.build import build_site
from pipeline.testing import read_index, synthetic_store

pytestmark = pytest.mark.browser

N = 150


@pytest.fixture(scope="module")
def partial_site(tmp_path_factory):
    """The synthetic store's site within a limit that holds about two thirds of it."""
    root = tmp_path_factory.mktemp("budget-browser")
    store = synthetic_store(root / "atlas.zarr", N, 1, 2, seed=3, lengths=5)  # 1 x 2 heads
    full = build_site(store, root / "full", max_site_bytes=None, progress=False)
    budget = full.bytes - (full.bytes - 10**6) // 4
    summary = build_site(store, root / "site", max_site_bytes=budget, progress=False)
    assert 0 < summary.with_pages < N
    return (root / "site").resolve(), summary


def test_the_index_counts_the_corpus_and_lists_the_sentences_with_pages(watched, partial_site,
                                                                        artifacts):
    site, summary = partial_site
    m = summary.with_pages
    listed = read_index(site)
    page = watched.page
    page.goto(f"file://{site}/index.html")
    watched.wait_ready()
    assert page.locator("#n-sentences").inner_text() == f"{N:,}"
    assert page.locator("#n-pages").inner_text().startswith(f"{m:,} (the site's limit: ")
    assert f"{N:,} sentences in the corpus, {m:,} with pages (budget" in page.locator("#pages-note").inner_text()
    assert page.locator("#count").inner_text() == f"{m:,} sentences with pages (of {N:,} in the corpus)"
    page.screenshot(path=str(artifacts / "budget-index.png"), full_page=True)
    page.screenshot(path="/tmp/budget-index.png", full_page=True)
    # the list shows corpus numbers, and only sentences with a page
    numbers = page.eval_on_selector_all("#sentence-table tbody td.num:first-child",
                                        "cells => cells.map(c => Number(c.textContent))")
    assert numbers == [row["n"] + 1 for row in listed[:50]]
    assert numbers != list(range(1, 51))  # some sentences have no page
    missing = next(f"s{k:03d}" for k in range(N) if k not in {row["n"] for row in listed})
    page.fill("#search", missing)
    page.wait_for_function("document.querySelector('#count').textContent.startsWith('0 of')")
    # search, then open a sentence: its previous / next follow the list of those with pages
    target = listed[len(listed) // 2]
    page.fill("#search", "w")
    page.locator("#sentence-table th[data-key=words] button").click()
    page.fill("#search", target["id"])
    page.wait_for_function(f"document.querySelector('#count').textContent.startsWith('1 of {m:,}')")
    page.locator("#sentence-table tbody a").first.click()
    page.wait_for_url(f"**/sentences/{target['page']}.html*")
    watched.wait_ready()
    assert page.locator("#sentence-text").inner_text() == target["text"]
    page.goto(f"file://{site}/sentences/{target['page']}.html#l1h2")
    watched.wait_ready()
    at = listed.index(target)
    for rel, neighbour in (("prev", listed[at - 1]), ("next", listed[at + 1])):
        href = page.locator(f"#{rel}").get_attribute("href")
        assert href.split("#")[0] == f"{neighbour['page']}.html"
    page.locator("#next").click()
    page.wait_for_url(f"**/sentences/{listed[at + 1]['page']}.html#l1h2")
    watched.wait_ready()
    watched.assert_clean_file()


def test_a_head_page_shows_its_sentences_from_the_partial_index(watched, partial_site):
    site, _ = partial_site
    page = watched.page
    page.goto(f"file://{site}/heads/attention/l1h1.html#s=entropy")
    watched.wait_ready()
    top = page.locator("#top li")
    assert top.count() == 10
    page.wait_for_function("[...document.querySelectorAll('#top canvas')].every(c => c.width > 0)")
    by_position = {row["n"]: row for row in read_index(site)}
    entry = page.evaluate("JSON.parse(document.getElementById('atlas-head').textContent)"
                          ".stats.find(s => s.key === 'entropy')")
    hrefs = page.eval_on_selector_all("#top li a", "as => as.map(a => a.getAttribute('href'))")
    texts = page.eval_on_selector_all("#top .exemplar-text", "ts => ts.map(t => t.textContent)")
    assert [position for position, _ in entry["top"]] != list(range(10))
    for (position, _), href, text in zip(entry["top"], hrefs, texts, strict=True):
        name = href.split("/")[-1].split(".html")[0]
        assert (Path(site) / "sentences" / f"{name}.html").is_file()
        # the sentence at that corpus position, not the row at that place in the index
        assert (by_position[position]["page"], by_position[position]["text"]) == (name, text)
    watched.assert_clean_file()


@pytest.fixture(scope="module")
def cut_site(tmp_path_factory):
    """The synthetic store's site within a limit just above its fixed part: a few of the
    sentences the head pages name have pages, the others none."""
    root = tmp_path_factory.mktemp("budget-cut")
    store = synthetic_store(root / "atlas.zarr", N, 1, 2, seed=3, lengths=5)  # 1 x 2 heads
    with pytest.raises(SiteError) as info:
        build_site(store, root / "tiny", max_site_bytes=1000, progress=False)
    fixed = int(re.search(r"--max-site-bytes (\d+) or more", info.value.message).group(1))
    summary = build_site(store, root / "site", max_site_bytes=fixed + 200_000, progress=False)
    return (root / "site").resolve(), summary


def test_a_head_page_names_sentences_without_a_page_as_text(watched, cut_site, artifacts):
    site, summary = cut_site
    by_position = {row["n"]: row for row in read_index(site)}
    page = watched.page
    page.goto(f"file://{site}/heads/attention/l1h2.html#s=entropy")
    watched.wait_ready()
    payload = page.evaluate("JSON.parse(document.getElementById('atlas-head').textContent)")
    linked = unlinked = 0
    for entry in payload["stats"]:
        page.evaluate("key => window.atlasHead.show(key)", entry["key"])
        for end in ("top", "bottom"):
            items = page.locator(f"#{end} li")
            assert items.count() == len(entry[end])
            for k, (position, value) in enumerate(entry[end]):
                li = items.nth(k)
                shown = "—" if value is None else f"{value:.4f}"
                assert li.locator(".num").inner_text() == shown
                if position in by_position:  # a link to its page at this head
                    href = li.locator("a").get_attribute("href")
                    assert href.split("#")[0].endswith(f"/{by_position[position]['page']}.html")
                    linked += 1
                else:  # its corpus number and value, no link
                    assert li.locator("a").count() == 0
                    assert li.get_attribute("class") == "no-page"
                    assert li.locator(".exemplar-text").inner_text() == (
                        f"sentence {position + 1:,} of the corpus (no page: the site's size limit)")
                    unlinked += 1
        # no dead link anywhere on the page
        for href in page.eval_on_selector_all("a[href]", "as => as.map(a => a.href)"):
            if href.startswith("file://"):
                assert Path(href[len("file://"):].split("#")[0]).is_file(), href
    assert linked and unlinked
    page.evaluate("key => window.atlasHead.show(key)", "entropy")
    page.wait_for_function("[...document.querySelectorAll('#top canvas')].every(c => c.width > 0)")
    page.screenshot(path=str(artifacts / "budget-head-no-pages.png"), full_page=True)
    watched.assert_clean_file()
    # the index says how many of the head pages' sentences have pages
    page.goto(f"file://{site}/index.html")
    watched.wait_ready()
    note = page.locator("#n-exemplar-pages").inner_text()
    assert re.fullmatch(r"[\d,]+ of [\d,]+ with pages", note)
    with_pages, named = (int(x.replace(",", "")) for x in re.findall(r"[\d,]+", note))
    assert with_pages == summary.with_pages < named
    watched.assert_clean_file()
