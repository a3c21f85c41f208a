"""docs/architecture.md quotes the import contracts that `nox -s lint` checks, word for word."""

from __future__ import annotations

import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_the_architecture_quotes_the_import_contracts_as_pyproject_states_them():
    pyproject = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    start = pyproject.index("[tool.importlinter]\n")
    block = pyproject[start:pyproject.index("\n[tool.", start + 1)].rstrip("\n")
    assert f"```toml\n{block}\n```" in (REPO / "docs" / "architecture.md").read_text(encoding="utf-8")
    contracts = tomllib.loads(pyproject)["tool"]["importlinter"]["contracts"]
    assert [c["type"] for c in contracts] == ["layers", "forbidden"]
    # every top-level module and package of pipeline/ has its layer, or is named as ignored
    layers = {name.strip() for layer in contracts[0]["layers"] for name in layer.split("|")}
    tops = {p.stem for p in (REPO / "pipeline").glob("*.py")} | {
        p.parent.name for p in (REPO / "pipeline").glob("*/__init__.py")}
    assert tops - {"__init__"} == layers | set(contracts[0]["exhaustive_ignores"])
