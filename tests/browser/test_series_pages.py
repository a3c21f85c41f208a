"""The site of a series in a browser: the corpus view's checkpoint selector, its change mode and
its over-training grid (a tap on a phone opens a head page), and the head pages' statistics over
training. Screenshots go to tests/artifacts/series-*.png."""

from __future__ import annotations

import pytest

from pipeline.site.series_site import build_series_site
from pipeline.site.serve import start
from pipeline.testing import read_js_global
from pipeline.testing.series import series_stores

pytestmark = pytest.mark.browser

DESKTOP = {"viewport": {"width": 1400, "height": 1000}, "device_scale_factor": 1}
PHONE = {"viewport": {"width": 390, "height": 844}, "has_touch": True, "is_mobile": True,
         "device_scale_factor": 2}


@pytest.fixture(scope="module")
def series_site(tmp_path_factory):
    """Four checkpoints (steps 0 to 1000) of 30 sentences; the last model has 12 heads a layer,
    the others 8: the grid covers 6 x 12."""
    root = tmp_path_factory.mktemp("series-browser")
    series = series_stores(root, [0, 10, 100, 1000], n=30, shapes=[(6, 8)] * 3 + [(6, 12)])
    build_series_site(series, root / "site", max_site_bytes=None, progress=False)
    return root / "site"


@pytest.fixture(scope="module")
def origin(series_site):
    running = start({"/series/": series_site})
    yield running.origin
    running.stop()


@pytest.fixture(scope="module")
def data(series_site):
    return read_js_global(series_site / "data" / "_series.js", "atlasSeries")


def open_page(chromium, url, options):
    context = chromium.new_context(**options)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url)
    return context, page, errors


def open_index(chromium, url, options):
    context, page, errors = open_page(chromium, url, options)
    page.wait_for_function("window.atlasSeriesView && window.atlasSeriesView.stat")
    page.evaluate("window.atlasSeriesView.ready")
    return context, page, errors


def show_mode(page, mode: str) -> None:
    """Choose the corpus view's mode and wait until the view has taken it."""
    page.select_option("#series-mode", mode)
    page.wait_for_function(f"window.atlasSeriesView.mode === '{mode}'")


GRID = "window.atlasSeriesView.view.data('heads').map((d) => [d.layer, d.head, d.value])"


def stat_values(data, key):
    return next(s for s in data["measures"][0]["stats"] if s["key"] == key)["values"]


def test_the_checkpoint_selector_colours_the_grid_by_the_chosen_checkpoint(chromium, origin, data,
                                                                         artifacts):
    context, page, errors = open_index(chromium, f"{origin}/series/index.html", DESKTOP)
    try:
        assert page.input_value("#series-a") == "3"  # the reference
        # corpus.js lends its statistic selector and leaves the grid to the series' view
        assert page.evaluate("window.atlasCorpusView === undefined && !!window.atlasCorpusStats")
        prev = stat_values(data, "prev")
        assert page.evaluate(GRID) == [[y + 1, h + 1, prev[3][y][h]] for y in range(6) for h in range(12)]
        page.select_option("#series-a", "0")
        page.wait_for_function("window.atlasSeriesView.a === 0")
        page.wait_for_timeout(200)
        got = page.evaluate(GRID)
        assert got == [[y + 1, h + 1, prev[0][y][h]] for y in range(6) for h in range(12)]
        assert all(v is None for l_, h, v in got if h > 8)  # heads the first model lacks
        assert "prev at step-0" in page.text_content("#corpus-description")
        page.locator(".corpus-view").screenshot(path=str(artifacts / "series-checkpoint.png"))
        assert not errors, errors
    finally:
        context.close()


def test_the_change_mode_shows_b_minus_a_on_a_scale_symmetric_around_zero(chromium, origin, data,
                                                                        artifacts):
    context, page, errors = open_index(chromium, f"{origin}/series/index.html", DESKTOP)
    try:
        show_mode(page, "change")
        page.wait_for_timeout(200)
        assert page.input_value("#series-a") == "0" and page.input_value("#series-b") == "3"
        assert page.is_visible("#series-b-pick")
        prev = stat_values(data, "prev")
        got = page.evaluate(GRID)
        for layer, head, value in got:
            a, b = prev[0][layer - 1][head - 1], prev[3][layer - 1][head - 1]
            if a is None or b is None:
                assert value is None
            else:
                assert value == pytest.approx(b - a, abs=1e-12)
        most = max(abs(v) for _, _, v in got if v is not None)
        assert page.evaluate("window.atlasSeriesView.view.scale('color').domain()") == \
            pytest.approx([-most, most])
        # training moved the previous-word role: the first head lost it, the reference's last
        # head (of the first model: layer 6, head 8) gained it
        assert got[0][2] < 0 and got[5 * 12 + 7][2] == pytest.approx(
            prev[3][5][7] - prev[0][5][7])
        page.select_option("#series-a", "1")
        page.wait_for_function("window.atlasSeriesView.a === 1")
        page.wait_for_timeout(200)
        layer, head, value = page.evaluate(GRID)[0]
        assert value == pytest.approx(prev[3][0][0] - prev[1][0][0], abs=1e-12)
        page.locator(".corpus-view").screenshot(path=str(artifacts / "series-change.png"))
        assert not errors, errors
    finally:
        context.close()


def test_the_over_training_grid_draws_every_head_and_a_tap_opens_its_page(chromium, origin, data,
                                                                         artifacts):
    context, page, errors = open_index(chromium, f"{origin}/series/index.html", PHONE)
    try:
        show_mode(page, "training")
        assert page.is_hidden("#corpus-grid") and page.is_visible("#series-training")
        assert page.locator("#series-training .cell").count() == 6 * 12
        assert page.locator("#series-training a.cell").count() == 6 * 12  # the reference's heads
        assert page.locator("#series-training .cell svg polyline").count() == 6 * 8
        # the page fits the phone: nothing scrolls sideways
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        box = page.locator("#series-training").bounding_box()
        assert box["width"] <= 390
        page.locator(".corpus-view").screenshot(path=str(artifacts / "series-training-phone.png"))
        cell = page.locator('#series-training a.cell[data-layer="6"][data-head="8"]')
        cell.scroll_into_view_if_needed()
        cbox = cell.bounding_box()
        assert cbox["width"] >= 20 and cbox["height"] >= 12  # tappable
        with page.expect_navigation():
            page.touchscreen.tap(cbox["x"] + cbox["width"] / 2, cbox["y"] + cbox["height"] / 2)
        assert page.url.endswith("/series/heads/attention/l6h8.html#s=prev")
        assert not errors, errors
    finally:
        context.close()


@pytest.mark.parametrize("options", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_a_head_page_draws_every_statistic_over_training_and_the_leading_head(
        chromium, origin, data, artifacts, options):
    url = f"{origin}/series/heads/attention/l6h8.html#s=prev"
    context, page, errors = open_page(chromium, url, options)
    try:
        page.wait_for_function("window.atlasSeriesHead && window.atlasSeriesHead.stat")
        page.evaluate("window.atlasSeriesHead.ready")
        stats = data["measures"][0]["stats"]
        assert page.locator("#series-stats tbody tr").count() == len(stats)
        assert page.locator("#series-stats tbody tr svg.spark").count() == 2 * len(stats)
        rows = page.evaluate("window.atlasSeriesHead.rows('prev')")
        prev = stat_values(data, "prev")
        assert [r["value"] for r in rows] == [prev[c][5][7] for c in range(4)]
        for c, r in enumerate(rows):  # its rank among the heads the checkpoint has
            ranked = [v for row in prev[c] for v in row if v is not None]
            assert r["ranked"] == len(ranked) == (48 if c < 3 else 72)
            assert r["rank"] == 1 + sum(v > r["value"] for v in ranked)
        # the leader of prev moves: layer 1, head 1 at step 0; this head (6, 8) at step 100
        leaders = page.locator("#leaders li").all_text_contents()
        assert leaders[0].startswith("step-0: layer 1, head 1")
        assert leaders[2].startswith("step-100: layer 6, head 8") and "this head" in leaders[2]
        assert page.locator("#training-chart svg").count() == 1
        assert page.locator("#series-stats tr[aria-current]").get_attribute("data-key") == "prev"
        # another statistic from the table
        page.click('#series-stats a[href="#s=self"]')
        page.wait_for_function("window.atlasSeriesHead.stat === 'self'")
        assert "self" in page.text_content("#leaders-title")
        if options is PHONE:
            assert page.evaluate("document.documentElement.scrollWidth") <= 390
        name = "desktop" if options is DESKTOP else "phone"
        page.screenshot(path=str(artifacts / f"series-head-{name}.png"), full_page=True)
        assert not errors, errors
    finally:
        context.close()


def test_the_series_views_work_opened_from_disk(chromium, series_site):
    context, page, errors = open_index(chromium, (series_site / "index.html").as_uri(), DESKTOP)
    try:
        show_mode(page, "training")
        assert page.locator("#series-training .cell svg").count() == 6 * 12
        page.goto((series_site / "heads" / "attention" / "l1h1.html").as_uri())
        page.wait_for_function("window.atlasSeriesHead && window.atlasSeriesHead.stat")
        assert page.locator("#leaders li").count() == 4
        assert not errors, errors
    finally:
        context.close()
