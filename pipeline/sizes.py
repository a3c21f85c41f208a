"""Sizes in bytes as people write them ("1GB", "500 MB", "2.5GiB") and read them ("1 GB").

Vocabulary shared by the settings (pipeline.config: the site's size limit), the site
(pipeline.site: its size limit and what it reports) and the store (its bytes on disk).
"""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Any

from pipeline.errors import ConfigError

# sizes: decimal units (GitHub's "1 GB" is 10**9 bytes), binary ones with an i; case does not matter
SIZE_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
              "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}
SIZE_EXAMPLES = "a size such as 1GB, 500MB, 2.5GiB or a whole number of bytes"
DEFAULT_SITE_BYTES = 10**9  # GitHub Pages' limit on a published site: 1 GB


def parse_size(value: Any) -> int:
    """A size in bytes from an int (bytes) or a string: "1GB", "500 MB", "2.5GiB", "750kB",
    "123456" (units: B, kB, MB, GB, TB = powers of 1000; KiB, MiB, GiB, TiB = powers of 1024;
    any case). A fraction of a byte is dropped. ConfigError, naming the value, when it is not
    a size or not positive."""
    if isinstance(value, int) and not isinstance(value, bool):
        number = Decimal(value)
    elif isinstance(value, str):
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?|\.\d+)\s*([A-Za-z]*)\s*", value)
        unit = SIZE_UNITS.get(match.group(2).lower()) if match else None
        if unit is None:
            known = "B, kB, MB, GB, TB, KiB, MiB, GiB, TiB"
            why = (f"unknown unit {match.group(2)!r} (units: {known})" if match
                   else f"expected {SIZE_EXAMPLES}")
            raise ConfigError(f"{value!r} is not a size: {why}")
        if unit == 1 and "." in match.group(1):
            raise ConfigError(f"{value!r} is not a size: a number of bytes is a whole number")
        number = Decimal(match.group(1)) * unit
    else:
        raise ConfigError(f"{value!r} is not a size: expected {SIZE_EXAMPLES}")
    size = int(number)  # whole bytes, rounded down: a budget is never exceeded by rounding
    if size < 1:
        raise ConfigError(f"{value!r} is not a size: it must be at least 1 byte")
    return size


def format_size(size: int) -> str:
    """A size as people read it: "1 GB", "500 MB", "2.68 GB", "900 B" (decimal units)."""
    for unit, name in ((10**12, "TB"), (10**9, "GB"), (10**6, "MB"), (10**3, "kB")):
        if size >= unit:
            return f"{float(f'{size / unit:.3g}'):g} {name}"
    return f"{size} B"



def folder_bytes(folder: str | Path) -> int:
    """The sum of the sizes of the files under a local folder (what a site's limit counts)."""
    return sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file())
