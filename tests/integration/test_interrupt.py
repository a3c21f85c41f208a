"""Interrupted runs: Ctrl-C (SIGINT) or SIGKILL during a first or a later `extract`, then the
reading commands (`build`, `stats`, `figure`, `verify`) through the CLI, as a user runs them."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.cli import main
from pipeline.corpus import read_corpus
from pipeline.extract.run import extract
from pipeline.model.loading import ModelSpec
from pipeline.store import AtlasStore
from pipeline.testing import random_corpus, wait_for, write_jsonl

# One torch thread: on 2 cores a tiny model runs several times faster so.
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
FIRST = 20  # sentences of the finished run a later run starts from
# 2 layers x 16 heads, 20-58 words cut at 64 tokens: the batches go shortest first, so the
# first 4 MiB chunk (the first commit) holds the 123 shortest sentences and later ones about
# 36 each; with 120 sentences the first commit was the last, and a Ctrl-C sent after it raced
# the end of the run
N = 360
RERUN = "rerun `attention-atlas extract`"


# `python -m pipeline` with Python's Ctrl-C handler, as in a terminal, even where these tests run
# with SIGINT ignored: a job started in the background (`pytest ... &`) passes that on, and
# Python then installs no handler, so the runs here would ignore their Ctrl-C and finish
MAIN = ("import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
        "from pipeline.cli import main; main(sys.argv[1:])")


def cli(*args: object) -> list[str]:
    """The command line of `python -m pipeline ARGS`, Ctrl-C handled as in a terminal."""
    return [sys.executable, "-c", MAIN, *map(str, args)]


def rows_of(store: Path) -> int:
    """The rows of the store's last commit, read straight from its zarr.json (written atomically)."""
    try:
        return json.loads((store / "zarr.json").read_text())["attributes"]["atlas"]["commit"]["rows"]
    except (OSError, ValueError, KeyError):
        return 0




@pytest.fixture(scope="module")
def setup(tmp_path_factory, gpt2_16_dir):
    """(model folder, the corpus of N sentences, a store holding a finished run of its first
    FIRST sentences). Read-only: copy the store to change it."""
    folder = tmp_path_factory.mktemp("interrupt")
    model = gpt2_16_dir
    items = random_corpus(N, seed=19, words=(20, 58))
    corpus = write_jsonl(folder / "corpus.jsonl", items)
    first = write_jsonl(folder / "first.jsonl", items[:FIRST])
    finished = folder / "finished" / "atlas.zarr"
    extract(read_corpus(first).sentences, finished, ModelSpec(str(model)), progress=False)
    return model, corpus, finished


def interrupted_run(setup, tmp_path: Path, later: bool, sig: signal.Signals,
                    after_commit: bool) -> tuple[Path, subprocess.CompletedProcess]:
    """`extract` of the whole corpus into a new store (later: a copy of the finished one),
    sent `sig` once it computes: after_commit, once it has committed rows of its own (a commit
    after every chunk); else at once, before its first commit (none until the run ends).
    Returns the store and the run's (returncode, stdout, stderr)."""
    model, corpus, finished = setup
    store = tmp_path / "atlas.zarr"
    if later:
        shutil.copytree(finished, store)
    start = rows_of(store)
    plan = store / "atlas-plan.json"  # saved once the run holds the lock and starts computing
    proc = subprocess.Popen(cli("-q", "extract", "--corpus", corpus, "--store", store, "--model",
                                model, "--batch-size", 2,
                                "--commit-every", 0 if after_commit else 3600),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    wait_for(lambda: plan.exists(), proc)
    if after_commit:
        wait_for(lambda: rows_of(store) > start, proc)
    assert proc.poll() is None, "the run finished before its signal: make the corpus larger"
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    return store, subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def assert_readers(store: Path, tmp_path: Path, finished: int | None) -> None:
    """build, stats, figure and verify through the CLI: no traceback; with a finished run of
    `finished` sentences they work on it, else each says in one line to rerun extract (exit 5;
    verify checks the rows and says the same)."""
    commands = {"verify": ["verify"], "stats": ["stats"],
                "build": ["build", "--site", tmp_path / "site"],
                "figure": ["figure", "--sentence", 0, "--layer", 1, "--head", 1,
                           "-o", tmp_path / "fig.svg"]}
    # all at once, to overlap their start-up; those that take the store's lock queue for it
    procs = {name: subprocess.Popen(cli("-q", *args, "--store", store,
                                        *(["--wait", 120] if name != "figure" else [])),
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                    env=ENV)
             for name, args in commands.items()}
    printed = {}
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=180)
        result = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
        printed[name] = said = result.stdout + result.stderr
        assert "Traceback" not in said, f"{name}:\n{said}"
        if finished is None and name == "verify":
            assert result.returncode == 0, said
            assert "no finished run yet" in result.stdout and "OK" in result.stdout
        elif finished is None:
            assert result.returncode == 5, f"{name}:\n{said}"
            assert result.stdout == "" and len(result.stderr.strip().splitlines()) == 1, said
            assert "holds no finished run" in result.stderr and RERUN in result.stderr
        else:
            assert result.returncode == 0, f"{name}:\n{said}"
    if finished is not None:  # the site, the statistics and the figure of the finished run
        assert f": {finished} sentences, " in printed["verify"] and "OK" in printed["verify"]
        assert f"stats: {finished} sentences" in printed["stats"]
        assert f"build: {finished} sentences" in printed["build"]
        assert len(AtlasStore.open(store)) == finished
        assert (tmp_path / "site" / "index.html").is_file() and (tmp_path / "fig.svg").is_file()
    else:
        assert not (tmp_path / "site").exists() and not (tmp_path / "fig.svg").exists()


def assert_interrupted_message(result: subprocess.CompletedProcess, store: Path) -> None:
    """Ctrl-C: exit 130, one line saying what the store keeps and that a rerun resumes."""
    assert result.returncode == 130, result.stderr
    assert "Traceback" not in result.stderr and "Aborted!" not in result.stderr
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith(f"interrupted: {store} keeps the "), result.stderr
    assert "sentence(s) this run computed and committed (of " in line
    assert "rerun the same command to resume: it computes only the rest" in line


def test_ctrl_c_during_a_first_run_says_what_it_kept_and_the_readers_say_to_rerun(
        setup, tmp_path):
    store, result = interrupted_run(setup, tmp_path, later=False, sig=signal.SIGINT,
                                    after_commit=True)
    assert_interrupted_message(result, store)
    assert "until then the store has no finished run to build from" in result.stderr
    assert_readers(store, tmp_path, finished=None)
    # that the rerun resumes, computing only the rest: test_reliability.py's
    # test_a_resumed_run_repeats_the_interrupted_runs_batches


def test_sigkill_before_a_first_runs_first_commit_leaves_a_store_the_readers_explain(
        setup, tmp_path):
    store, result = interrupted_run(setup, tmp_path, later=False, sig=signal.SIGKILL,
                                    after_commit=False)
    assert result.returncode == -signal.SIGKILL
    assert (store / "zarr.json").is_file() and rows_of(store) == 0  # made, nothing committed
    assert_readers(store, tmp_path, finished=None)


def test_ctrl_c_during_a_later_run_leaves_the_last_finished_run_readable(setup, tmp_path):
    store, result = interrupted_run(setup, tmp_path, later=True, sig=signal.SIGINT,
                                    after_commit=True)
    assert rows_of(store) > FIRST  # the interrupted run committed rows of its own
    assert_interrupted_message(result, store)
    assert f"until then `build` shows the last finished run ({FIRST} sentences)" in result.stderr
    assert_readers(store, tmp_path, finished=FIRST)


def test_a_store_with_no_finished_run_is_refused_by_the_reader_and_explained_by_verify(
        gpt2, tiny_corpus, tmp_path, monkeypatch):
    from pipeline.errors import Interrupted, StoreError
    from pipeline.store.verify import verify_store
    from pipeline.store.writer import StoreWriter

    def interrupted_finish(self, rows):  # Ctrl-C once every row is committed, before the order
        self.flush()
        raise KeyboardInterrupt

    monkeypatch.setattr(StoreWriter, "finish", interrupted_finish)
    store, sentences = tmp_path / "atlas.zarr", read_corpus(tiny_corpus).sentences
    with pytest.raises(Interrupted, match=f"keeps the {len(sentences)} sentence"):
        extract(sentences, store, gpt2, progress=False)
    commit = json.loads((store / "zarr.json").read_text())["attributes"]["atlas"]["commit"]
    assert commit["rows"] == len(sentences) and commit["catalog"] == 0
    with pytest.raises(StoreError, match=f"holds no finished run.*the {len(sentences)} sentence"):
        AtlasStore.open(store)
    report = verify_store(store, repair=True)
    assert report.ok and not report.finished and str(report) == (
        f"{store}: no finished run yet (its first `extract` was interrupted: rerun it to finish), "
        f"{len(sentences)} rows, 1 chunks checked: OK")
    # nothing to repair, and no catalog written: it would make the run look finished
    assert json.loads((store / "zarr.json").read_text())["attributes"]["atlas"]["commit"] == commit


def test_ctrl_c_in_any_command_exits_130_with_one_line(gpt2_store, tmp_path, monkeypatch):
    import pipeline.stats.compute

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline.stats.compute, "update_stats", interrupted)
    result = CliRunner().invoke(main, ["-q", "stats", "--store", str(gpt2_store)])
    assert result.exit_code == 130
    assert result.output == "interrupted: run the command again to go on\n"


def test_ctrl_c_before_a_run_commits_says_nothing_new_was_committed(gpt2_dir, tiny_corpus,
                                                                    tmp_path, monkeypatch):
    from pipeline.store.writer import StoreWriter

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(StoreWriter, "add", interrupted)
    store = tmp_path / "atlas.zarr"
    result = CliRunner().invoke(main, ["-q", "extract", "--corpus", str(tiny_corpus), "--store",
                                       str(store), "--model", str(gpt2_dir)])
    assert result.exit_code == 130
    assert result.output == (f"interrupted: nothing new was committed to {store}; rerun the same "
                             "command to resume: it computes only the rest; until then the store "
                             "has no finished run to build from\n")


def test_ctrl_c_mid_run_commits_every_row_computed_so_far(gpt2, tmp_path, monkeypatch):
    """Ctrl-C keeps what was computed, not only what the last timed commit wrote: the rows
    queued in a chunk not yet full are written and committed before the run stops, and the
    rerun computes only the rest, to the codes of an uninterrupted run."""
    import numpy as np

    from pipeline.errors import Interrupted
    from pipeline.store.writer import StoreWriter

    sentences = read_corpus(write_jsonl(tmp_path / "c.jsonl", random_corpus(60, seed=3, words=(5, 30)))).sentences
    original_add, added = StoreWriter.add, []

    def ctrl_c_add(self, record, codes):
        if len(added) == 23:
            raise KeyboardInterrupt
        added.append(record.key)
        return original_add(self, record, codes)

    monkeypatch.setattr(StoreWriter, "add", ctrl_c_add)
    store = tmp_path / "atlas.zarr"
    with pytest.raises(Interrupted, match="keeps the 23 sentence"):  # commit_every: never timed
        extract(sentences, store, gpt2, batch_size=4, progress=False, commit_every=3600)
    commit = json.loads((store / "zarr.json").read_text())["attributes"]["atlas"]["commit"]
    assert commit["rows"] == 23 and commit["catalog"] == 0
    monkeypatch.undo()
    summary = extract(sentences, store, gpt2, batch_size=4, progress=False)
    assert summary.computed == len(sentences) - 23 and summary.reused == 23
    clean = tmp_path / "clean.zarr"
    extract(sentences, clean, gpt2, batch_size=4, progress=False)
    resumed, reference = AtlasStore.open(store), AtlasStore.open(clean)
    assert resumed.ids == reference.ids
    for sid in reference.ids:  # the same machine and batches: equal codes
        assert np.array_equal(resumed[sid].codes(), reference[sid].codes()), sid
