"""A series: checkpoints of one training run, or any models, on one corpus (docs/series.md).

Each model keeps its own store, in today's format, at OUT/stores/<label>.zarr, and
OUT/series.json (the manifest) names their order, labels, steps and identities.
Imports the store and the shared vocabulary only (no torch), so the site may read a
series.

    members   Member, discover_checkpoints (a folder of checkpoint-<step>/), explicit_members
              (models given one by one), labels
    manifest  OUT/series.json: write_manifest, read_manifest
    reader    Series: Series.open(OUT), labels, steps, stores, stats(name, measure)
"""

from pipeline.series.manifest import MANIFEST, manifest_path, read_manifest, write_manifest
from pipeline.series.members import (
    LABEL,
    Member,
    check_label,
    discover_checkpoints,
    explicit_members,
    label_of,
    store_path,
)
from pipeline.series.reader import Series

__all__ = ["LABEL", "MANIFEST", "Member", "Series", "check_label", "discover_checkpoints",
           "explicit_members", "label_of", "manifest_path", "read_manifest", "store_path",
           "write_manifest"]
