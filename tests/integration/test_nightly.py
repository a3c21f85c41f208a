"""The nightly publication, run here: the workflow's own steps, with local stand-ins for GitHub's actions."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from pipeline.config import load_config, model_cache_key
from pipeline.testing import TINY, make_gpt2, write_jsonl

REPO = Path(__file__).resolve().parents[2]
WORKFLOW = REPO / ".github/workflows/pages.yml"
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
SUMMARY = re.compile(r"^extract: (\d+) sentences in the store: (\d+) computed .*?, (\d+) reused, "
                     r"(\d+) removed", re.M)


@dataclass
class Run:
    """What one workflow run did: each step's exit code and output, the step outputs, the upload."""

    workspace: Path
    uploaded: Path
    codes: dict[str, int] = field(default_factory=dict)  # step name -> exit code (run steps)
    logs: dict[str, str] = field(default_factory=dict)  # step name -> stdout + stderr
    outputs: dict[str, dict[str, str]] = field(default_factory=dict)  # step id -> its outputs
    restored: str | None = None  # the cache entry restored, if any
    failed: str | None = None  # the step that failed, which ends the job as on GitHub

    def extract_counts(self) -> tuple[int, int, int, int]:
        """The extract summary line's (in the store, computed, reused, removed)."""
        match = SUMMARY.search(self.logs["Extract (only new or changed sentences are computed)"])
        assert match, self.logs
        return tuple(int(n) for n in match.groups())

    def pages(self) -> list[str]:
        """The uploaded site's sentence pages."""
        return sorted(p.name for p in (self.uploaded / "sentences").glob("*.html"))


class Nightly:
    """Runs pages.yml's jobs in order on fresh workspaces; only the cache folder persists."""

    def __init__(self, repo: Path, root: Path) -> None:
        self.repo, self.root = repo, root
        self.cache = root / "cache"
        self.cache.mkdir(parents=True)
        self.runs = 0
        self.workflow = yaml.safe_load(WORKFLOW.read_text())
        # Never run a step that installs packages here: only the one marked `install` may, and
        # it is skipped.
        runs = {s.get("id"): s["run"] for job in self.workflow["jobs"].values()
                for s in job["steps"] if "run" in s}
        assert "install" in runs, "pages.yml has no step with `id: install` to skip"
        assert not any("pip install" in run for id_, run in runs.items() if id_ != "install")

    def entries(self) -> list[str]:
        """The cache's keys, oldest first."""
        return [p.name for p in sorted(self.cache.iterdir(), key=lambda p: int((p / "order").read_text()))]

    def run(self) -> Run:
        """One workflow run, as on a fresh runner (a new workspace and run id)."""
        self.runs += 1
        folder = self.root / f"run-{self.runs}"
        run = Run(workspace=folder / "workspace", uploaded=folder / "uploaded")
        for job in self.workflow["jobs"].values():
            for step in job["steps"]:
                self._step(run, step)
                if run.failed:
                    return run
        return run

    def _expand(self, run: Run, value):
        """Evaluate the `${{ ... }}` expressions the workflow uses; any other one fails the test."""
        if isinstance(value, dict):
            return {k: self._expand(run, v) for k, v in value.items()}
        if not isinstance(value, str):
            return value

        def evaluate(match: re.Match) -> str:
            """One expression's value: runner.os, github.run_id or steps.ID.outputs.NAME."""
            expression = match.group(1)
            if expression == "runner.os":
                return "Linux"
            if expression == "github.run_id":
                return str(1000 + self.runs)
            output = re.fullmatch(r"steps\.([\w-]+)\.outputs\.([\w-]+)", expression)
            if output and output.group(2) in run.outputs.get(output.group(1), {}):
                return run.outputs[output.group(1)][output.group(2)]
            pytest.fail(f"the stand-in runner cannot evaluate ${{{{ {expression} }}}}")

        return EXPRESSION.sub(evaluate, value)

    def _step(self, run: Run, step: dict) -> None:
        """One step: a shell script, or the local stand-in for the action it uses."""
        name = step.get("name") or step.get("uses")
        unknown = set(step) - {"name", "id", "uses", "with", "run", "shell", "env"}
        assert not unknown, f"the stand-in runner does not emulate {unknown} (step {name!r})"
        args = self._expand(run, step.get("with", {}))
        action = step.get("uses", "").split("@")[0]
        if "run" in step:
            if step.get("id") != "install":  # the package is already installed here
                self._shell(run, name, step)
        elif action == "actions/checkout":
            shutil.copytree(self.repo, run.workspace)
        elif action in ("actions/setup-python", "actions/configure-pages"):
            pass
        elif action == "actions/cache/restore":
            self._restore(run, args)
        elif action == "actions/cache/save":
            self._save(run, args)
        elif action == "actions/upload-pages-artifact":
            site = run.workspace / args["path"]
            assert site.is_dir(), f"upload-pages-artifact: {args['path']} does not exist"
            shutil.copytree(site, run.uploaded)
        elif action == "actions/deploy-pages":
            assert run.uploaded.is_dir(), "deploy-pages: no artifact was uploaded"
        else:
            pytest.fail(f"no stand-in for the action {step['uses']}")

    def _shell(self, run: Run, name: str, step: dict) -> None:
        """Run a step's script as GitHub does (bash -e, or with pipefail for `shell: bash`)."""
        outputs = run.workspace.parent / f"output-{len(run.codes)}"
        outputs.touch()
        env = {**os.environ, **self._expand(run, step.get("env", {})),
               "GITHUB_OUTPUT": str(outputs), "GITHUB_WORKSPACE": str(run.workspace),
               "RUNNER_OS": "Linux", "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1",
               # the console script of this Python, running this checkout's package (the
               # venv's editable install may point at another checkout)
               "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
               "PYTHONPATH": str(REPO)}
        shell = (["bash", "--noprofile", "--norc", "-eo", "pipefail"] if step.get("shell") == "bash"
                 else ["bash", "-e"])
        script = run.workspace.parent / "step.sh"
        script.write_text(self._expand(run, step["run"]))
        done = subprocess.run([*shell, str(script)], cwd=run.workspace, env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300)
        run.codes[name], run.logs[name] = done.returncode, done.stdout
        if "id" in step:
            lines = outputs.read_text().splitlines()
            assert all("=" in line for line in lines), lines  # no multi-line values here
            run.outputs[step["id"]] = dict(line.split("=", 1) for line in lines)
        if done.returncode:
            run.failed = name

    def _restore(self, run: Run, args: dict) -> None:
        """actions/cache/restore: the exact key, else the newest entry starting with a restore key."""
        # GitHub's cache also versions an entry by its path: another path never matches.
        same_path = [k for k in self.entries() if (self.cache / k / "path").read_text() == args["path"]]
        prefixes = [line.strip() for line in args.get("restore-keys", "").splitlines() if line.strip()]
        hit = args["key"] if args["key"] in same_path else None
        for prefix in prefixes:
            hit = hit or next((k for k in reversed(same_path) if k.startswith(prefix)), None)
        if hit:
            shutil.copytree(self.cache / hit / "data", run.workspace / args["path"])
        run.restored = hit

    def _save(self, run: Run, args: dict) -> None:
        """actions/cache/save: copy the path into the cache under the key (an existing key is kept)."""
        entry = self.cache / args["key"]
        assert (run.workspace / args["path"]).is_dir(), f"cache/save: {args['path']} does not exist"
        if not entry.exists():
            shutil.copytree(run.workspace / args["path"], entry / "data")
            (entry / "path").write_text(args["path"])
            (entry / "order").write_text(str(len(list(self.cache.iterdir()))))


def _model_name(site: Path) -> str:
    """The model the uploaded site names, on its index and on every sentence page."""
    pages = [site / "index.html", *sorted((site / "sentences").glob("*.html"))]
    names = {name for page in pages for name in ("tiny-a", "tiny-b")
             if name in page.read_text(encoding="utf-8")}
    assert len(names) == 1, names
    return names.pop()


@pytest.fixture()
def repo(tmp_path) -> Path:
    """A repository to publish: atlas.toml, a tiny corpus and two tiny random GPT-2 folders."""
    repo = tmp_path / "repo"
    (repo / "data").mkdir(parents=True)
    write_jsonl(repo / "data/tiny.jsonl", TINY[:3])
    make_gpt2(repo / "models/tiny-a")
    make_gpt2(repo / "models/tiny-b", n_layer=3)  # another model: 3 layers, not 2
    (repo / "atlas.toml").write_text('corpus = "data/tiny.jsonl"\nmodel = "models/tiny-a"\n')
    return repo


def test_nightly_runs_reuse_the_store_and_a_change_of_model_starts_a_new_one(repo, tmp_path):
    """Three nights: first run, an added sentence (the three others reused through the cache),
    a change of model. (An unchanged corpus computing nothing: tests/integration/test_extract.py.)"""
    nightly = Nightly(repo, tmp_path / "runner")

    first = nightly.run()
    assert first.failed is None, first.logs
    key_a = first.outputs["config"]["model_key"]
    assert first.outputs["config"]["store"] == "build/atlas.zarr"
    assert first.restored is None
    assert first.extract_counts() == (3, 3, 0, 0)
    assert len(first.pages()) == 3 and _model_name(first.uploaded) == "tiny-a"
    assert nightly.entries() == [f"atlas-store-Linux-{key_a}-1001"]

    write_jsonl(repo / "data/tiny.jsonl", TINY[:4])
    added = nightly.run()
    assert added.failed is None, added.logs
    assert added.restored == f"atlas-store-Linux-{key_a}-1001"  # through the restore key
    assert added.extract_counts() == (4, 1, 3, 0)
    assert len(added.pages()) == 4 and set(first.pages()) < set(added.pages())

    (repo / "atlas.toml").write_text('corpus = "data/tiny.jsonl"\nmodel = "models/tiny-b"\n')
    changed = nightly.run()
    assert changed.failed is None, changed.logs  # no exit 5: the old model's store is not restored
    key_b = changed.outputs["config"]["model_key"]
    assert key_b != key_a and changed.restored is None
    assert changed.extract_counts() == (4, 4, 0, 0)
    assert changed.pages() == added.pages() and _model_name(changed.uploaded) == "tiny-b"
    assert nightly.entries() == [f"atlas-store-Linux-{key_a}-{n}" for n in (1001, 1002)] + [
        f"atlas-store-Linux-{key_b}-1003"]


def test_a_bad_config_fails_the_config_step_before_the_cache(tmp_path):
    """An unknown key in atlas.toml stops the run at the config step, with exit 2."""
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "atlas.toml").write_text('modle = "gpt2"\n')
    run = Nightly(repo, tmp_path / "runner").run()
    name = "Read the settings (paths, and the model's key for the cache)"
    assert run.failed == name and run.codes[name] == 2 and "unknown key 'modle'" in run.logs[name]


def test_the_model_key_follows_name_revision_and_local_weights(tmp_path, monkeypatch):
    """model_cache_key: stable, and changed by the model, its revision, or new weights in its folder."""
    monkeypatch.chdir(tmp_path)
    default = model_cache_key(load_config(overrides={}))
    assert re.fullmatch(r"[0-9a-f]{16}", default)
    assert model_cache_key(load_config(overrides={"model": "default"})) == default
    assert model_cache_key(load_config(overrides={"out": "elsewhere"})) == default
    hub = model_cache_key(load_config(overrides={"model": "gpt2"}))
    assert hub not in (default, model_cache_key(load_config(overrides={"model": "gpt2",
                                                                       "revision": "v2"})))
    folder = make_gpt2(tmp_path / "mine")
    before = model_cache_key(load_config(overrides={"model": "mine"}))
    assert before == model_cache_key(load_config(overrides={"model": "mine"}))
    make_gpt2(folder, n_embd=16)  # retrained into the same folder
    assert model_cache_key(load_config(overrides={"model": "mine"})) != before


STORE_SUMMARY = re.compile(r"^extract: \d+ sentences in the store: (\d+) computed .*?, (\d+) reused"
                           r".* -> \S*/(\S+)\.zarr$", re.M)


def _computed_by_label(run: Run) -> dict[str, tuple[int, int]]:
    """Each store's (computed, reused) from a series run's extract summaries, by label."""
    log = run.logs["Extract (only new or changed sentences are computed)"]
    return {m.group(3): (int(m.group(1)), int(m.group(2))) for m in STORE_SUMMARY.finditer(log)}


@pytest.fixture()
def series_repo(tmp_path) -> Path:
    """A repository publishing a series: atlas.toml's `checkpoints`, a Trainer's output folder
    with two checkpoints (and its other files), a corpus of three sentences."""
    repo = tmp_path / "repo"
    (repo / "data").mkdir(parents=True)
    write_jsonl(repo / "data/tiny.jsonl", TINY[:3])
    for step in (10, 2):
        make_gpt2(repo / f"training/checkpoint-{step}", seed=step)
    (repo / "training/trainer_state.json").write_text("{}")
    (repo / "atlas.toml").write_text('corpus = "data/tiny.jsonl"\ncheckpoints = "training"\n')
    return repo


def test_nightly_runs_of_a_series_compute_only_a_new_or_retrained_checkpoint(series_repo, tmp_path):
    """Two nights of a training run: two checkpoints; then a third appears and one is retrained
    in place, and only those two are computed."""
    nightly = Nightly(series_repo, tmp_path / "runner")

    first = nightly.run()
    assert first.failed is None, first.logs
    config = first.outputs["config"]
    assert config["store"] == "build/stores" and config["series"] == "step-2 step-10"
    assert config["manifest"] == "build/series.json"
    key = config["model_key"]
    assert first.restored is None
    assert _computed_by_label(first) == {"step-2": (3, 0), "step-10": (3, 0)}
    verified = first.logs["Verify the store (each store of a series)"]
    assert verified.count(": 3 sentences") == 2 and verified.count("OK") == 2
    assert (first.uploaded / "index.html").is_file()
    assert nightly.entries() == [f"atlas-store-Linux-{key}-1001"]

    make_gpt2(series_repo / "training/checkpoint-100", seed=100)  # training went on
    make_gpt2(series_repo / "training/checkpoint-10", seed=11)  # and step 10 was retrained
    second = nightly.run()
    assert second.failed is None, second.logs
    assert second.outputs["config"]["model_key"] == key  # the same series: its cache carries over
    assert second.outputs["config"]["identity_key"] != config["identity_key"]
    assert second.restored == f"atlas-store-Linux-{key}-1001"
    assert _computed_by_label(second) == {"step-2": (0, 3), "step-10": (3, 0), "step-100": (3, 0)}
    assert "step-10 (training/checkpoint-10) is another model now" in second.logs[
        "Extract (only new or changed sentences are computed)"]
    manifest = json.loads((second.workspace / "build/series.json").read_text())
    assert [m["label"] for m in manifest["models"]] == ["step-2", "step-10", "step-100"]
    assert (second.uploaded / "index.html").is_file()
    assert nightly.entries() == [f"atlas-store-Linux-{key}-{n}" for n in (1001, 1002)]
