"""Reliability: crashes, damaged stores, concurrent runs, and bad models and stores."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path

import numpy as np
import pytest
import torch

from pipeline.corpus import read_corpus
from pipeline.extract.run import extract
from pipeline.model.loading import load_model
from pipeline.store import CODES_CHUNK, AtlasStore
from pipeline.store.lock import lock_path
from pipeline.store.verify import verify_store
from pipeline.testing import TINY, random_corpus, wait_for, write_jsonl

TINY_IDS = [item["id"] for item in TINY]


# One torch thread: on 2 cores a tiny model runs several times faster so, and the
# runs here are about the store, not the speed.
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def cli(*args: object) -> list[str]:
    """The command line of `python -m pipeline ARGS`."""
    return [sys.executable, "-m", "pipeline", *map(str, args)]


def commit_of(store: Path) -> dict:
    """The store's last commit, read straight from its zarr.json (written atomically)."""
    try:
        return json.loads((store / "zarr.json").read_text())["attributes"]["atlas"]["commit"]
    except (OSError, ValueError, KeyError):
        return {"rows": 0}




# --- crash safety ------------------------------------------------------------


def test_sigkill_at_random_points_then_rerun_equals_an_uninterrupted_run(gpt2_16_dir, tmp_path):
    # 2 layers x 16 heads: 32 maps per sentence, so 480 sentences fill several 4 MiB chunks
    # and a run commits several times before it ends. Each run spends ~3.5 s starting up
    # (torch, transformers): three kills, each once the run computes, and a final run.
    model_dir = gpt2_16_dir
    items = random_corpus(480, seed=5, words=(20, 58))
    corpus = write_jsonl(tmp_path / "corpus.jsonl", items)
    store = tmp_path / "crashed" / "atlas.zarr"
    command = cli("-q", "extract", "--corpus", corpus, "--store", store, "--model", model_dir,
                  "--batch-size", 2, "--commit-every", 0)  # a commit after every chunk
    # the uninterrupted reference run, in a thread beside the runs that get killed (2 cores)
    reference = tmp_path / "reference" / "atlas.zarr"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in the killed runs: the same kernels, the same bits
    clean_run = ThreadPoolExecutor(1).submit(
        extract, read_corpus(corpus).sentences, reference, load_model(str(model_dir)),
        batch_size=2, progress=False)
    try:
        rng = random.Random(20240611)
        lock = lock_path(store)
        rows_at_kill, started_ns = [], 0
        plan = store / "atlas-plan.json"  # saved when a run has its model and starts computing
        for kill in range(3):
            proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    env=ENV)
            wait_for(lambda p=proc, t=started_ns: lock.exists() and lock.read_text().strip() == f"pid {p.pid}"
                     and plan.exists() and plan.stat().st_mtime_ns > t, proc)
            started_ns = plan.stat().st_mtime_ns
            if kill % 2:  # after this run's next commit, so that some work survives the kill
                rows = commit_of(store)["rows"]
                wait_for(lambda r=rows: commit_of(store)["rows"] > r, proc)
            time.sleep(rng.uniform(0.0, 0.25))  # at a random point of the run
            assert proc.poll() is None, "the run finished before its kill: make the corpus larger"
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            rows_at_kill.append(commit_of(store)["rows"])
        final = subprocess.run(command, capture_output=True, text=True, timeout=120, env=ENV)
        assert final.returncode == 0, final.stderr
        computed = int(final.stdout.split(" computed")[0].rsplit(" ", 1)[-1])
        assert computed < len(items), f"no work survived the kills: {rows_at_kill}"
    finally:
        wait([clean_run], timeout=120)
        torch.set_num_threads(threads)
    clean_run.result()
    crashed, clean = AtlasStore.open(store), AtlasStore.open(reference)
    assert crashed.ids == clean.ids == [item["id"] for item in items]
    assert len(set(crashed.ids)) == len(crashed.ids)
    for sid in clean.ids:
        assert np.array_equal(crashed[sid].codes(), clean[sid].codes()), sid
    report = verify_store(store)
    assert report.ok, str(report)
    assert not (store / "atlas-plan.json").exists()


def test_a_resumed_run_repeats_the_interrupted_runs_batches(gpt2, tmp_path, monkeypatch):
    import pipeline.extract.forward as forward_module
    from pipeline.store.writer import PLAN_FILE, StoreWriter

    items = random_corpus(400, seed=6, words=(40, 58))  # three chunks: commits happen mid-run
    sentences = read_corpus(write_jsonl(tmp_path / "c.jsonl", items)).sentences
    store = tmp_path / "atlas.zarr"
    original_add, added = StoreWriter.add, []

    def dying_add(self, record, codes):
        if len(added) == 250:  # the run dies (a crash, not Ctrl-C, which commits what it has)
            raise RuntimeError("died")  # with its plan saved and 1-2 chunks committed
        added.append(record.key)
        return original_add(self, record, codes)

    monkeypatch.setattr(StoreWriter, "add", dying_add)
    with pytest.raises(RuntimeError, match="died"):  # commit_every=0: a commit after every chunk
        extract(sentences, store, gpt2, batch_size=2, progress=False, commit_every=0)
    monkeypatch.undo()
    plan = json.loads((store / PLAN_FILE).read_text())["batches"]
    committed = commit_of(store)["rows"]
    assert 0 < committed < 250

    forwarded: list[list[str]] = []
    original_forward = forward_module.forward_codes

    def recording_forward(loaded, batch, *args):
        forwarded.append([e.key for e in batch])
        return original_forward(loaded, batch, *args)

    monkeypatch.setattr(forward_module, "forward_codes", recording_forward)
    summary = extract(sentences, store, gpt2, batch_size=5, progress=False)  # another batch size
    assert summary.computed == len(items) - committed
    assert forwarded and all(batch in plan for batch in forwarded)  # the old batches, as they were
    assert not (store / PLAN_FILE).exists()

    monkeypatch.undo()
    clean = tmp_path / "clean.zarr"
    extract(sentences, clean, gpt2, batch_size=2, progress=False)
    resumed, reference = AtlasStore.open(store), AtlasStore.open(clean)
    assert resumed.ids == reference.ids
    for sid in reference.ids:
        assert np.array_equal(resumed[sid].codes(), reference[sid].codes()), sid


def test_a_run_killed_while_creating_the_store_leaves_nothing_that_blocks_the_next(
        gpt2, tmp_path, monkeypatch):
    import zarr

    store = tmp_path / "atlas.zarr"
    original, calls = zarr.Group.create_array, []

    def create_array(self, *args, **kwargs):
        calls.append(args)
        if len(calls) == 3:  # the process dies halfway through creating the arrays
            raise KeyboardInterrupt
        return original(self, *args, **kwargs)

    monkeypatch.setattr(zarr.Group, "create_array", create_array)
    sentences = read_corpus(write_jsonl(tmp_path / "c.jsonl", [{"id": "a", "text": "oh ."}])).sentences
    with pytest.raises(KeyboardInterrupt):
        extract(sentences, store, gpt2, progress=False)
    monkeypatch.undo()
    summary = extract(sentences, store, gpt2, progress=False)
    assert summary.computed == 1
    assert AtlasStore.open(store).ids == ["a"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".atlas.zarr.lock", "atlas.zarr", "c.jsonl"]


# --- verify and repair -------------------------------------------------------


@pytest.fixture(scope="module")
def chunked(tmp_path_factory, gpt2):
    """(corpus, store): 400 long sentences through the tiny GPT-2, three 4 MiB codes chunks."""
    folder = tmp_path_factory.mktemp("chunked")
    corpus = write_jsonl(folder / "corpus.jsonl", random_corpus(400, seed=4, words=(40, 58)))
    store = folder / "atlas.zarr"
    extract(read_corpus(corpus).sentences, store, gpt2, progress=False)
    assert AtlasStore.open(store).info["codes_chunk"] == CODES_CHUNK
    assert AtlasStore.open(store)._meta["commit"]["chunks"]["attention"] == 3
    return corpus, store


def rows_in_chunk(store: AtlasStore, k: int) -> list[int]:
    """Rows whose codes lie (partly) in codes chunk k."""
    return [r for r in range(store.rows)
            if store.row_span(r)[0] < (k + 1) * CODES_CHUNK and store.row_span(r)[1] > k * CODES_CHUNK]


def flip_bytes(path: Path, start: int, stop: int) -> None:
    """Invert bytes [start, stop) of a file."""
    data = bytearray(path.read_bytes())
    data[start:stop] = bytes(b ^ 0xFF for b in data[start:stop])
    path.write_bytes(bytes(data))


def damage_chunk_header(store: Path) -> tuple[str, int]:
    flip_bytes(store / "measures/attention/codes/c/1", 0, 16)  # no longer decompresses
    return "chunk 1 of measures/attention/codes", 1


def damage_chunk_body(store: Path) -> tuple[str, int]:
    flip_bytes(store / "measures/attention/codes/c/1", 5000, 5100)  # decompresses to wrong bytes
    return "chunk 1 of measures/attention/codes", 1


def delete_chunk(store: Path) -> tuple[str, int]:
    (store / "measures/attention/codes/c/0").unlink()  # reads as zeros
    return "chunk 0 of measures/attention/codes", 0


def set_index(store: Path, name: str, row: int, value) -> str:
    """Overwrite one index entry (index/NAME, or a measure's: measures/M/NAME); returns the row's id."""
    import zarr

    group = zarr.open_group(str(store), mode="a")
    group[name if "/" in name else f"index/{name}"][row] = value
    return str(group["index/id"][row])


def garble_record(store: Path) -> tuple[str, None]:
    sid = set_index(store, "record", 7, '{"id": "s0007", "tok')
    return f"row 7 (id {sid!r}): bad record", None


def offset_out_of_range(store: Path) -> tuple[str, None]:
    sid = set_index(store, "measures/attention/offset", 9, 1 << 40)
    return f"row 9 (id {sid!r}): measure 'attention': offset 1099511627776 with", None


def wrong_row_crc(store: Path) -> tuple[str, None]:
    sid = set_index(store, "measures/attention/crc32", 11, 12345)
    return f"row 11 (id {sid!r}) fails its CRC-32 in measure 'attention'", None


DAMAGE = {"chunk-header": damage_chunk_header, "chunk-body": damage_chunk_body,
          "chunk-deleted": delete_chunk, "record-garbled": garble_record,
          "offset-out-of-range": offset_out_of_range, "row-crc": wrong_row_crc}


@pytest.mark.parametrize("damage", list(DAMAGE), ids=list(DAMAGE))
def test_verify_names_the_damage_and_repair_then_extract_restores_it(chunked, gpt2_dir, tmp_path,
                                                                      damage):
    from click.testing import CliRunner

    from pipeline.cli import main
    from pipeline.errors import StoreError

    corpus, good = chunked
    store = tmp_path / "atlas.zarr"
    shutil.copytree(good, store)
    runner = CliRunner()
    ok = runner.invoke(main, ["verify", "--store", str(store)])
    assert ok.exit_code == 0 and ok.output.strip().endswith("OK"), ok.output

    where, chunk = DAMAGE[damage](store)
    reference = AtlasStore.open(good)
    damaged = rows_in_chunk(reference, chunk) if chunk is not None else [int(where.split()[1])]
    result = runner.invoke(main, ["verify", "--store", str(store)])
    assert result.exit_code == 1, result.output
    assert where in result.output
    if chunk is not None:
        assert f"{len(damaged)} sentence(s) stored there are damaged" in result.output
    # reading a damaged sentence never returns wrong values
    hurt = AtlasStore.open(store)
    first = reference.record(damaged[0]).id
    with pytest.raises(StoreError, match=f"{first}|row {damaged[0]}"):
        hurt[first].attention() if damage != "record-garbled" else hurt[first]

    repaired = runner.invoke(main, ["verify", "--store", str(store), "--repair"])
    assert repaired.exit_code == 0, repaired.output
    assert f"repaired: {len(damaged)} damaged sentence(s) dropped" in repaired.output
    assert len(AtlasStore.open(store)) == len(reference) - len(damaged)

    rerun = runner.invoke(main, ["-q", "extract", "--corpus", str(corpus), "--store", str(store),
                                 "--model", str(gpt2_dir)])
    assert rerun.exit_code == 0, rerun.output
    assert f"{len(damaged)} computed" in rerun.output
    again = runner.invoke(main, ["verify", "--store", str(store)])
    assert again.exit_code == 0 and again.output.strip().endswith("OK"), again.output
    restored = AtlasStore.open(store)
    assert restored.ids == reference.ids
    for row in damaged:  # recomputed in other batches than the reference's: to a code step
        sid = reference.record(row).id
        got, want = restored[sid].codes().astype(int), reference[sid].codes().astype(int)
        assert got.shape == want.shape and np.abs(got - want).max() <= 1, sid


def test_verify_on_a_garbled_index_array_names_it(chunked, tmp_path):
    from click.testing import CliRunner

    from pipeline.cli import main
    from pipeline.errors import StoreError

    store = tmp_path / "atlas.zarr"
    shutil.copytree(chunked[1], store)
    meta = store / "index" / "n_tokens" / "zarr.json"
    meta.write_text(meta.read_text()[:40])
    result = CliRunner().invoke(main, ["verify", "--store", str(store)])
    assert result.exit_code == StoreError.exit_code, result.output
    assert "index/n_tokens is missing or its metadata is damaged" in result.output
    assert "Traceback" not in result.output
    with pytest.raises(StoreError, match="index .* is damaged"):
        AtlasStore.open(store)
    # a measure's own index (read when the measure is first read)
    shutil.rmtree(store)
    shutil.copytree(chunked[1], store)
    meta = store / "measures" / "attention" / "offset" / "zarr.json"
    meta.write_text(meta.read_text()[:40])
    result = CliRunner().invoke(main, ["verify", "--store", str(store)])
    assert result.exit_code == StoreError.exit_code, result.output
    assert "measures/attention/offset is missing or cannot be read" in result.output
    with pytest.raises(StoreError, match="measures/attention/offset is missing"):
        AtlasStore.open(store)[0].attention()


# --- concurrency -------------------------------------------------------------

HOLD_LOCK = """
import sys, time
from pathlib import Path
from pipeline.store.lock import StoreLock
store = Path(sys.argv[1])
with StoreLock(store):
    print("locked", flush=True)
    time.sleep(float(sys.argv[2]))
    # what the holder saw last: whether a waiting run had written anything meanwhile
    (store.parent / "holder-saw").write_text(str(store.exists()))
"""


def hold_lock(store: Path, seconds: float) -> subprocess.Popen:
    """A child process that holds the store's lock for `seconds` (returns once it holds it)."""
    proc = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(store), str(seconds)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_a_locked_store_is_refused_at_once_and_waited_for_with_wait(tiny_corpus, gpt2_dir,
                                                                    tmp_path):
    from click.testing import CliRunner

    from pipeline.cli import main
    from pipeline.errors import LockError

    store = tmp_path / "atlas.zarr"
    args = ["-q", "extract", "--corpus", str(tiny_corpus), "--store", str(store),
            "--model", str(gpt2_dir)]
    holder = hold_lock(store, 30)
    try:
        refused = CliRunner().invoke(main, args)
        assert refused.exit_code == LockError.exit_code != 0, refused.output
        assert f"{store} is locked by pid {holder.pid}" in refused.output
        assert "--wait" in refused.output
        assert not store.exists()  # nothing was written beside the lock holder
    finally:
        holder.kill()
        holder.wait()

    holder = hold_lock(store, 1.5)
    waited = CliRunner().invoke(main, [*args, "--wait", "60"])
    assert waited.exit_code == 0, waited.output
    assert holder.wait(timeout=5) == 0  # it had released the lock and ended normally
    # the waiting run wrote nothing while the holder held the lock
    assert (tmp_path / "holder-saw").read_text() == "False"
    assert f"{len(TINY_IDS)} sentences in the store" in waited.output
    assert verify_store(store).ok


def test_concurrent_writers_queue_behind_the_lock_and_never_interleave(gpt2, tmp_path):
    import threading

    store = tmp_path / "atlas.zarr"
    corpora = [random_corpus(60, seed=s, words=(30, 58)) for s in (10, 11)]
    corpora[1] = [{**item, "id": f"b{i}"} for i, item in enumerate(corpora[1])]
    sentences = [read_corpus(write_jsonl(tmp_path / f"c{i}.jsonl", c)).sentences
                 for i, c in enumerate(corpora)]
    done: list[tuple[int, float]] = []
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            extract(sentences[i], store, gpt2, batch_size=4, lock_wait=60, progress=False)
            done.append((i, time.monotonic()))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    last = max(done, key=lambda d: d[1])[0]
    final = AtlasStore.open(store)
    assert final.ids == [item["id"] for item in corpora[last]]
    assert final.rows == sum(len(c) for c in corpora)  # both runs' rows, each written whole
    assert verify_store(store).ok


# --- bad models and stores ---------------------------------------------------


def model_without(gpt2_dir: Path, tmp_path: Path, name: str) -> Path:
    """A copy of the tiny GPT-2's folder without one file."""
    folder = tmp_path / f"gpt2-without-{name}"
    shutil.copytree(gpt2_dir, folder)
    (folder / name).unlink()
    return folder


def foreign_zarr(tmp_path: Path) -> Path:
    import zarr

    group = zarr.open_group(str(tmp_path / "foreign.zarr"), mode="w")
    group.create_array("data", shape=(3,), dtype="int32")
    group.attrs["made_by"] = "someone else"
    return tmp_path / "foreign.zarr"


def corrupt_root(store: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "atlas.zarr"
    shutil.copytree(store, copy)
    (copy / "zarr.json").write_text('{"zarr_format": 3, "node_type": "gr')
    return copy


def not_a_store(tmp_path: Path) -> Path:
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("buy milk")
    return tmp_path / "notes"


def a_file(tmp_path: Path) -> Path:
    (tmp_path / "atlas.zarr").write_text("not a folder")
    return tmp_path / "atlas.zarr"


# (model or None for the GPT-2, store or None for a new one) -> (exit code, message parts)
BAD_INPUTS = {
    "unknown-model": (lambda d, s, t: ("no-such-org/no-such-model", None), 4,
                      ["'no-such-org/no-such-model': no such folder", "HF_HUB_OFFLINE is set"]),
    "model-folder-missing": (lambda d, s, t: (t / "no-such-folder", None), 4, ["no such folder"]),
    "model-without-config": (lambda d, s, t: (model_without(d, t, "config.json"), None), 4,
                             ["is missing config.json"]),
    "model-without-weights": (lambda d, s, t: (model_without(d, t, "model.safetensors"), None), 4,
                              ["is missing weights"]),
    "model-without-tokenizer": (lambda d, s, t: (model_without(d, t, "tokenizer.json"), None), 4,
                                ["is missing tokenizer files"]),
    "model-damaged-weights": (lambda d, s, t: (truncated_weights(d, t), None), 4,
                              ["cannot load model", "SafetensorError"]),
    "store-of-another-model": (lambda d, s, t: (None, s), 5,
                               ["was written by another model", "all-MiniLM-L6-v2"]),
    "store-zarr-json-corrupt": (lambda d, s, t: (None, corrupt_root(s, t)), 5,
                                ["is not a readable Zarr store"]),
    "store-foreign-zarr": (lambda d, s, t: (None, foreign_zarr(t)), 5,
                           ["is a Zarr store, but not an Attention Atlas store"]),
    "store-not-a-store": (lambda d, s, t: (None, not_a_store(t)), 5,
                          ["is a folder, but not a store"]),
    "store-is-a-file": (lambda d, s, t: (None, a_file(t)), 5, ["is a file"]),
    "store-parent-is-a-file": (lambda d, s, t: (None, a_file(t) / "atlas.zarr"), 5,
                               ["cannot write the store", "File exists"]),
}


def truncated_weights(gpt2_dir: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "gpt2-damaged"
    shutil.copytree(gpt2_dir, folder)
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    return folder


@pytest.mark.parametrize("case", list(BAD_INPUTS), ids=list(BAD_INPUTS))
def test_bad_models_and_stores_fail_naming_the_thing_and_the_cause(case, tiny_corpus, gpt2_dir,
                                                                   minilm_store, tmp_path):
    from click.testing import CliRunner

    from pipeline.cli import main

    make, exit_code, parts = BAD_INPUTS[case]
    model, store = make(gpt2_dir, minilm_store, tmp_path)
    store = store or tmp_path / "new" / "atlas.zarr"
    before = sorted(p.name for p in store.iterdir()) if store.is_dir() else None
    result = CliRunner().invoke(main, ["-q", "extract", "--corpus", str(tiny_corpus),
                                       "--store", str(store), "--model", str(model or gpt2_dir)])
    assert result.exit_code == exit_code, result.output
    assert "Traceback" not in result.output and result.exception.__class__ is SystemExit
    for part in parts:
        assert part in result.output, result.output
    assert str(model or store) in result.output
    if before is not None:
        assert sorted(p.name for p in store.iterdir()) == before  # nothing written into it


@pytest.mark.parametrize("command", ["build", "verify"])
@pytest.mark.parametrize("case", ["missing", "foreign", "not-a-store", "file"])
def test_reading_commands_refuse_what_is_not_a_store(command, case, tmp_path):
    from click.testing import CliRunner

    from pipeline.cli import main

    store = {"missing": lambda: tmp_path / "nothing.zarr", "foreign": lambda: foreign_zarr(tmp_path),
             "not-a-store": lambda: not_a_store(tmp_path), "file": lambda: a_file(tmp_path)}[case]()
    args = [command, "--store", str(store)] + (["--site", str(tmp_path / "site")]
                                              if command == "build" else [])
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 5, result.output
    assert str(store) in result.output and "Traceback" not in result.output
    if case == "missing":  # says what makes a store
        assert "run `attention-atlas extract` (or `run`) first" in result.output
    assert not (tmp_path / "site").exists()


def test_a_corpus_error_surfaces_with_file_and_line_and_exit_code_3(gpt2_dir, tmp_path):
    from click.testing import CliRunner

    from pipeline.cli import main

    corpus = tmp_path / "bad.jsonl"
    corpus.write_text('{"id": "a", "text": "oh ."}\n{"id": "b", "text": 5}\n')
    result = CliRunner().invoke(main, ["-q", "extract", "--corpus", str(corpus), "--store",
                                       str(tmp_path / "atlas.zarr"), "--model", str(gpt2_dir)])
    assert result.exit_code == 3, result.output
    assert f"{corpus}:2:" in result.output and "not a string" in result.output
    assert not (tmp_path / "atlas.zarr").exists()


def test_on_error_skip_counts_skips_in_the_summary(gpt2_dir, tmp_path):
    from click.testing import CliRunner

    from pipeline.cli import main

    corpus = tmp_path / "bad.jsonl"
    corpus.write_text('{"id": "a", "text": "oh ."}\n{"id": "b", "text": 5}\nnot json\n'
                      '{"id": "a", "text": "again"}\n{"id": "c", "text": "Sit down ."}\n')
    result = CliRunner().invoke(main, ["-q", "extract", "--corpus", str(corpus), "--store",
                                       str(tmp_path / "atlas.zarr"), "--model", str(gpt2_dir),
                                       "--on-error", "skip"])
    assert result.exit_code == 0, result.output
    assert "2 sentences in the store: 2 computed" in result.output
    assert "3 skipped (" in result.output
    for reason in ("1 bad json", "1 bad text", "1 duplicate id"):
        assert reason in result.output.split("3 skipped (")[1].split(")")[0]
    assert AtlasStore.open(tmp_path / "atlas.zarr").ids == ["a", "c"]
