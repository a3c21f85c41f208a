"""Output stays byte-identical: the store's values and every site file, against committed checksums.

The checksums in golden/checksums.json were taken before the store became a
package (issue 9) and must not move with a refactor. Where a change means to
alter the output, regenerate them with `ATLAS_UPDATE_GOLDEN=1 pytest tests/test_golden.py`
and say why in the commit.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest
import vl_convert
import zarr

from pipeline.site import charts
from pipeline.site.build import build_site, get_vega_script
from pipeline.site.data_format import decode_script

GOLDEN = Path(__file__).parent / "golden" / "checksums.json"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def store_checksums(path: Path) -> dict[str, str]:
    """Each array's values and the metadata (less the machine-specific model path), by name."""
    group = zarr.open_group(str(path), mode="r")
    sums = {}

    def walk(node, prefix: str) -> None:
        for name, child in sorted(node.members()):
            key = f"{prefix}{name}"
            if isinstance(child, zarr.Group):
                walk(child, key + "/")
                continue
            values = child[:]
            if values.dtype.kind in "OUT":
                sums[key] = _sha(json.dumps([str(v) for v in values], ensure_ascii=False).encode())
            else:
                sums[key] = _sha(np.ascontiguousarray(values).tobytes()) + f" {values.dtype}"

    walk(group, "")
    meta = dict(group.attrs)["atlas"]
    meta["model"] = {k: v for k, v in meta["model"].items() if k != "path"}
    sums["attrs"] = _sha(json.dumps(meta, sort_keys=True).encode())
    return sums


def site_checksums(site: Path) -> dict[str, str]:
    """Every file of a site by relative path; the Vega bundle is vl-convert's, checked apart.
    A sentence's data script is checked by the data file it carries, data/<page>.bin (the
    checksums of the maps' bytes from before the site shipped them as scripts)."""
    sums = {}
    for path in sorted(p for p in site.rglob("*") if p.is_file()):
        rel = path.relative_to(site).as_posix()
        if rel.startswith("data/") and rel != "data/_index.js":
            sums[rel.removesuffix(".js") + ".bin"] = _sha(decode_script(path.read_bytes()))
        elif rel != "assets/vega.js":
            sums[rel] = _sha(path.read_bytes())
    return sums


@pytest.mark.parametrize("which", ["minilm_store", "gpt2_store"])
def test_store_and_site_are_byte_identical_to_the_golden_checksums(which, request, tmp_path):
    store = request.getfixturevalue(which)
    build_site(store, tmp_path / "site", progress=False)
    bundle = (tmp_path / "site" / "assets" / "vega.js").read_text(encoding="utf-8")
    version = charts.vega_lite_version()
    expected_bundle = get_vega_script(version if version in vl_convert.get_vegalite_versions() else None)
    assert bundle == expected_bundle
    got = {"store": store_checksums(store), "site": site_checksums(tmp_path / "site")}
    golden = json.loads(GOLDEN.read_text()) if GOLDEN.exists() else {}
    if os.environ.get("ATLAS_UPDATE_GOLDEN"):
        golden[which] = got
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(json.dumps(golden, indent=1, sort_keys=True) + "\n")
    expected = golden[which]
    for part in ("store", "site"):
        changed = sorted(k for k in expected[part].keys() | got[part].keys()
                         if expected[part].get(k) != got[part].get(k))
        assert not changed, f"{which}: {part} differs from the golden checksums in {changed}"
