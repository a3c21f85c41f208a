"""Golden output of a series' site: a fixed tiny series (pipeline.testing.series.series_stores: three
checkpoints of one corpus, the last of another shape; maps in exact arithmetic, so the same
on every machine) gives the same site, byte for byte, file by file (tests/golden/series-checksums.json).

A change to the site's assets or templates moves them: regenerate them with
`ATLAS_UPDATE_GOLDEN=1 pytest tests/integration/test_golden_series.py` and say why in the commit.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from pipeline.site.data_format import decode_script
from pipeline.site.series_site import build_series_site
from pipeline.testing.series import series_stores

pytestmark = pytest.mark.fidelity

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "series-checksums.json"
UPDATE = bool(os.environ.get("ATLAS_UPDATE_GOLDEN"))


def site_checksums(site: Path) -> dict[str, str]:
    """Every file of a site by relative path, as tests/integration/test_golden.py sums them: a
    sentence's data script (data/<page>.js, series/<label>/<page>.js) by the data file it
    carries (<page>.bin); the Vega bundle (vl-convert's) left out."""
    sums = {}
    for path in sorted(p for p in site.rglob("*") if p.is_file()):
        rel = path.relative_to(site).as_posix()
        if rel.startswith(("data/", "series/")) and not path.name.startswith("_"):
            sums[rel.removesuffix(".js") + ".bin"] = hashlib.sha256(
                decode_script(path.read_bytes())).hexdigest()
        elif rel != "assets/vega.js":
            sums[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return sums


def golden_series(folder: Path):
    """The golden series: steps 0, 100 and 10,000 (a log-step axis), 12 sentences, models of
    2 x 3, 2 x 3 and 3 x 2 heads (the grid covers 3 x 3)."""
    return series_stores(folder, [0, 100, 10000], n=12, shapes=[(2, 3), (2, 3), (3, 2)])


@pytest.fixture(scope="module")
def golden_site(tmp_path_factory) -> Path:
    """The golden series' site, built once for the tests of this file."""
    folder = tmp_path_factory.mktemp("golden-series")
    build_series_site(golden_series(folder / "stores"), folder / "site", max_site_bytes=None,
                      progress=False)
    return folder / "site"


def test_the_site_of_a_series_is_byte_identical_to_the_golden_checksums(golden_site):
    got = site_checksums(golden_site)
    assert "data/_series.js" in got and "assets/series-corpus.js" in got
    if UPDATE:
        GOLDEN.write_text(json.dumps(got, indent=1, sort_keys=True) + "\n")
    expected = json.loads(GOLDEN.read_text())
    changed = sorted(k for k in expected.keys() | got.keys() if expected.get(k) != got.get(k))
    assert not changed, (f"the series' site differs from the golden checksums in {changed} (if "
                         "that is meant: ATLAS_UPDATE_GOLDEN=1 pytest "
                         "tests/integration/test_golden_series.py)")


def test_the_same_series_gives_the_same_site_twice(golden_site, tmp_path):
    """Stores made again and the site built again: the same files, byte for byte."""
    build_series_site(golden_series(tmp_path / "stores"), tmp_path / "again", max_site_bytes=None,
                      progress=False)
    assert site_checksums(tmp_path / "again") == site_checksums(golden_site)
