"""Packaging, CI and publication: the wheel carries its templates and corpus; the workflow is complete."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """A wheel of this checkout, built without network (hatchling from the test extras)."""
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(out), str(REPO)], check=True)
    return next(out.glob("attention_atlas-*.whl"))


def test_wheel_carries_templates_and_corpus(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "pipeline/data/sarah_pairs.jsonl" in names
    assert "pipeline/data/LICENSE" in names
    assert "pipeline/data/README.md" in names
    assert not any(n.endswith(".conllu") for n in names)  # the source treebank stays in the repo
    assert any(n.startswith("pipeline/site_templates/") and n.endswith(".html") for n in names)
    assert {"pipeline/cli/__init__.py", "pipeline/cli/options.py"} <= names
    entry_points = zipfile.ZipFile(wheel).read(
        next(n for n in names if n.endswith("entry_points.txt"))).decode()
    assert "attention-atlas = pipeline.cli:main" in entry_points


def test_installed_wheel_finds_its_own_files(wheel, tmp_path):
    """Installed non-editable, the package finds templates and corpus inside itself, not the repo."""
    target = tmp_path / "site-packages"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target",
                    str(target), str(wheel)], check=True)
    code = ("from pipeline.corpus import bundled_corpus_path; from pipeline.site.site_assets import templates_dir; "
            "print(bundled_corpus_path()); print(templates_dir())")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                         env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"}, check=True)
    corpus, templates = (Path(line) for line in out.stdout.split())
    assert corpus.is_file() and target in corpus.parents
    assert templates.is_dir() and target in templates.parents


@pytest.fixture(scope="module")
def workflow() -> dict:
    """The Pages workflow, parsed."""
    return yaml.safe_load((REPO / ".github/workflows/pages.yml").read_text())


def _steps(workflow: dict) -> list[dict]:
    return [step for job in workflow["jobs"].values() for step in job["steps"]]


def test_workflow_runs_nightly_and_on_demand(workflow):
    triggers = workflow[True] if True in workflow else workflow["on"]  # YAML 1.1 reads `on` as True
    assert triggers["schedule"][0]["cron"].split()[2:] == ["*", "*", "*"]  # every day
    assert "workflow_dispatch" in triggers
    assert workflow["permissions"] == {"contents": "read", "pages": "write", "id-token": "write"}


def test_workflow_caches_the_store_and_builds_and_deploys(workflow):
    steps = _steps(workflow)
    uses = [s.get("uses", "") for s in steps]
    runs = "\n".join(s.get("run", "") for s in steps)
    restore = next(s for s in steps if s.get("uses", "").startswith("actions/cache/restore@"))
    save = next(s for s in steps if s.get("uses", "").startswith("actions/cache/save@"))
    assert restore["with"]["restore-keys"]  # falls back to the last night's store
    assert uses.index(restore["uses"]) < uses.index(save["uses"])
    assert "attention-atlas extract" in runs and "attention-atlas build" in runs
    assert any(u.startswith("actions/upload-pages-artifact@") for u in uses)
    assert any(u.startswith("actions/deploy-pages@") for u in uses)
    assert workflow["jobs"]["deploy"]["needs"] == "build"


def test_workflow_paths_and_cache_key_come_from_the_config_step(workflow):
    """The cache's path and key, and the uploaded site, are `attention-atlas config`'s outputs."""
    steps = _steps(workflow)
    config = next(s for s in steps if s.get("id") == "config")
    assert "attention-atlas config" in config["run"] and "$GITHUB_OUTPUT" in config["run"]
    restore = next(s for s in steps if s.get("uses", "").startswith("actions/cache/restore@"))
    save = next(s for s in steps if s.get("uses", "").startswith("actions/cache/save@"))
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-pages-artifact@"))
    assert steps.index(config) < steps.index(restore)
    assert restore["with"]["path"] == save["with"]["path"] == "${{ steps.config.outputs.store }}"
    assert upload["with"]["path"] == "${{ steps.config.outputs.site }}"
    assert restore["with"]["key"] == save["with"]["key"]
    # the fallback is only the same model's stores: another model's would make extract exit 5
    assert "${{ steps.config.outputs.model_key }}" in restore["with"]["restore-keys"]
    assert restore["with"]["key"].startswith(restore["with"]["restore-keys"])
    assert "build/" not in yaml.safe_dump(steps)  # no path hard-coded beside the config
    assert any(s.get("id") == "install" for s in steps)  # tests/integration/test_nightly.py skips it


def test_ci_runs_the_readme_test_command():
    readme = (REPO / "README.md").read_text()
    ci = (REPO / ".ci/run").read_text()
    command = "python3 -m venv .venv && . .venv/bin/activate && pip install nox && nox -s lint tests browser"
    assert command in readme and command in ci
