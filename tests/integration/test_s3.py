"""Stores on S3 against a real S3 server: moto's (`moto[server]`, on 127.0.0.1), reached through
s3fs with the endpoint from `AWS_ENDPOINT_URL`, as a user would reach MinIO or AWS. The commands
give the local store's values and site; a run SIGKILLed mid-extract and rerun gives the values of
an uninterrupted run; of two runs at once on one URL, the lock object's conditional PUT
(`If-None-Match: *`) refuses one. moto and s3fs are in the `test` extra: without them these tests
fail, they are never skipped."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import numpy as np
import pytest
import s3fs
from click.testing import CliRunner
from moto.server import ThreadedMotoServer

from pipeline.cli import main
from pipeline.errors import LockError, StoreError
from pipeline.store import AtlasStore
from pipeline.store.location import StoreLocation
from pipeline.store.verify import verify_store
from pipeline.testing import TINY, random_corpus, wait_for, write_jsonl


class Requests(logging.Handler):
    """The server's request log (werkzeug's): one line per request, with its status."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(re.sub(r"\x1b\[[0-9;]*m", "", record.getMessage()))  # no colours

    def count(self, method: str, key: str, status: int) -> int:
        """Requests `METHOD /key` answered with `status`."""
        return sum(f'"{method} /{key} HTTP/1.1" {status} ' in line for line in self.lines)


class S3:
    """The server: the environment that points a process at it, its request log, a client."""

    def __init__(self, env: dict[str, str], requests: Requests) -> None:
        self.env, self.requests = env, requests
        self.fs = s3fs.S3FileSystem(skip_instance_cache=True)  # AWS_ENDPOINT_URL: the server

    def bucket(self) -> str:
        """A new, empty bucket."""
        name = f"atlas-{uuid.uuid4().hex[:12]}"
        self.fs.mkdir(name)
        return name

    def objects(self, prefix: str) -> dict[str, bytes]:
        """Every object under a prefix: relative key -> bytes."""
        self.fs.invalidate_cache()
        return {key[len(prefix) + 1:]: self.fs.cat_file(key) for key in self.fs.find(prefix)}


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    """moto's S3 server on 127.0.0.1 (a free port) for this module, this process's environment
    pointed at it (as the subprocesses' is), stopped and restored at the end."""
    log = logging.getLogger("werkzeug")
    requests, saved_log = Requests(), (log.level, log.propagate)
    log.addHandler(requests)
    log.setLevel(logging.INFO)
    log.propagate = False  # the request log is read here, not printed
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    nowhere = str(tmp_path_factory.mktemp("aws") / "none")
    env = {"AWS_ENDPOINT_URL": f"http://{host}:{port}", "AWS_ACCESS_KEY_ID": "testing",
           "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
           # only the server on 127.0.0.1: no profile, no instance metadata, no proxy
           "AWS_CONFIG_FILE": nowhere, "AWS_SHARED_CREDENTIALS_FILE": nowhere,
           "AWS_EC2_METADATA_DISABLED": "true", "NO_PROXY": "127.0.0.1", "no_proxy": "127.0.0.1"}
    dropped = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_REGION")
    saved = {name: os.environ.get(name) for name in (*env, *dropped)}
    for name in dropped:
        os.environ.pop(name, None)
    os.environ.update(env)
    try:
        yield S3(env, requests)
    finally:
        s3fs.S3FileSystem.clear_instance_cache()  # no client of a stopped server is reused
        server.stop()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        log.removeHandler(requests)
        log.setLevel(saved_log[0])
        log.propagate = saved_log[1]


@pytest.fixture(autouse=True)
def own_lock_folder(tmp_path, monkeypatch):
    """The OS locks keyed by URL in a folder of the test's own (not the user's cache)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def files_of(root: Path) -> dict[str, bytes]:
    """Every file under a folder: relative path -> bytes."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def machine(s3: S3, folder: Path, host: str | None = None) -> dict[str, str]:
    """The environment of a subprocess on a machine of its own: the server, one torch thread,
    its own OS lock folder (the OS lock keyed by the URL is per machine)."""
    return {**os.environ, **s3.env, "OMP_NUM_THREADS": "1", "XDG_CACHE_HOME": str(folder),
            **({"ATLAS_TEST_HOST": host} if host else {})}


# `python -m pipeline ARGS` as on another machine: socket.gethostname() names ATLAS_TEST_HOST (a
# lock object of this host's would be taken over as left by a killed run here)
AS_HOST = ("import os, runpy, socket, sys\n"
           "host = os.environ.get('ATLAS_TEST_HOST')\n"
           "if host:\n    socket.gethostname = lambda: host\n"
           "sys.argv[0] = 'attention-atlas'\n"
           "runpy.run_module('pipeline', run_name='__main__', alter_sys=True)\n")


def cli(*args: object) -> list[str]:
    """The command line of `python -m pipeline ARGS` (on ATLAS_TEST_HOST when set)."""
    return [sys.executable, "-c", AS_HOST, *map(str, args)]


def run_commands(store: str, corpus: Path, model: Path, site: Path, figure: Path) -> list[str]:
    """extract, stats, build, verify and figure through the CLI with --store STORE; outputs."""
    outputs = []
    for args in (["extract", "--corpus", corpus, "--model", model], ["stats"],
                 ["build", "--site", site], ["verify"],
                 ["figure", "--sentence", "pair-2", "--layer", 2, "--head", 3, "-o", figure]):
        result = CliRunner().invoke(main, ["-q", *map(str, args), "--store", store])
        assert result.exit_code == 0, (args, result.output)
        outputs.append(result.output)
    return outputs


def assert_same_sentences(store: AtlasStore, reference: AtlasStore) -> None:
    """The same corpus: ids, then each sentence's record, tokens, words and codes."""
    assert store.ids == reference.ids
    for sid in reference.ids:
        got, want = store[sid], reference[sid]
        assert got.sentence.to_json() == want.sentence.to_json(), sid
        assert (got.tokens, got.words, got.spans) == (want.tokens, want.words, want.spans), sid
        assert np.array_equal(got.codes(), want.codes()), sid


# --- the conditional PUT ------------------------------------------------------------------


def test_s3fs_creates_an_object_only_if_absent_on_the_server(s3):
    bucket = s3.bucket()
    key = f"{bucket}/.atlas.zarr.lock"
    outcomes: list[str] = []
    start = threading.Barrier(8, timeout=60)

    def create(i: int) -> None:
        fs = s3fs.S3FileSystem(skip_instance_cache=True)  # a client of its own, as a machine
        fs.connect()
        start.wait()
        try:
            fs.pipe_file(key, f"{i}".encode(), mode="create")
            outcomes.append(f"created {i}")
        except FileExistsError:
            outcomes.append("exists")

    threads = [threading.Thread(target=create, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    created = [o for o in outcomes if o != "exists"]
    assert len(outcomes) == 8 and len(created) == 1, outcomes
    assert s3.fs.cat_file(key) == created[0].split()[1].encode()  # the one that was created
    # the seven others were refused by the server (412 Precondition Failed): one conditional PUT
    assert s3.requests.count("PUT", key, 412) == 7 and s3.requests.count("PUT", key, 200) == 1


# --- the same values as a local store ---------------------------------------------------------


def test_the_commands_on_s3_give_the_local_stores_values_site_and_figure(s3, tiny_corpus,
                                                                       gpt2_dir, tmp_path):
    local, remote = tmp_path / "local", tmp_path / "s3"
    run_commands(str(local / "atlas.zarr"), tiny_corpus, gpt2_dir, local / "site",
                 local / "figure.svg")
    bucket = s3.bucket()
    url = f"s3://{bucket}/atlas.zarr"
    outputs = run_commands(url, tiny_corpus, gpt2_dir, remote / "site", remote / "figure.svg")
    assert outputs[0].startswith(f"extract: {len(TINY)} sentences in the store: {len(TINY)} "
                                 "computed") and outputs[0].rstrip().endswith(f"-> {url}")
    assert outputs[3].startswith(f"{url}: {len(TINY)} sentences") and outputs[3].rstrip().endswith(
        "checked: OK")
    assert outputs[4].startswith(f"figure: {remote / 'figure.svg'}")

    store = AtlasStore.open(url)
    assert type(store.location.filesystem).__name__ == "S3FileSystem"
    assert type(store.location.zarr_store()).__name__ == "FsspecStore"
    assert_same_sentences(store, AtlasStore.open(local / "atlas.zarr"))
    assert store.head_stats()["prev"].tolist() == AtlasStore.open(
        local / "atlas.zarr").head_stats()["prev"].tolist()
    # object for file, byte for byte: no plan, no creation marker, no lock object left
    assert s3.objects(f"{bucket}/atlas.zarr") == files_of(local / "atlas.zarr")
    assert s3.fs.ls(bucket, detail=False) == [f"{bucket}/atlas.zarr"]
    assert files_of(remote / "site") == files_of(local / "site")
    assert (remote / "figure.svg").read_bytes() == (local / "figure.svg").read_bytes()
    assert (remote / "figure.svg").read_text().startswith("<svg")
    assert store.location.bytes_used() == sum(map(len, files_of(local / "atlas.zarr").values()))
    # each writing command created the lock object (extract, stats, build's statistics, verify)
    # and deleted it when it finished
    lock = f"{bucket}/.atlas.zarr.lock"
    assert s3.requests.count("PUT", lock, 200) == s3.requests.count("DELETE", lock, 204) >= 4


# --- crashes ----------------------------------------------------------------------------------


def commit_rows(s3: S3, prefix: str) -> int:
    """Rows of the store's last commit, read from its root zarr.json (one object, whole)."""
    try:
        return json.loads(s3.fs.cat_file(f"{prefix}/zarr.json"))["attributes"]["atlas"]["commit"][
            "rows"]
    except (OSError, ValueError, KeyError):
        return 0




@contextlib.contextmanager
def one_torch_thread():
    """torch on one thread here, as in the subprocesses (OMP_NUM_THREADS=1): the same kernels,
    the same bits."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def test_sigkill_mid_extract_on_s3_then_rerun_equals_an_uninterrupted_run(s3, gpt2_16_dir, tmp_path):
    # 2 layers x 16 heads, sentences of 40 words or more cut at 64 tokens: ~32 sentences fill a
    # 4 MiB chunk, so a run with a commit after every chunk commits several times before it ends
    model = gpt2_16_dir
    items = random_corpus(100, seed=19, words=(40, 58))
    corpus = write_jsonl(tmp_path / "corpus.jsonl", items)
    bucket = s3.bucket()
    url, prefix = f"s3://{bucket}/atlas.zarr", f"{bucket}/atlas.zarr"
    args = ["-q", "extract", "--corpus", corpus, "--model", model, "--batch-size", 4,
            "--commit-every", 0]
    proc = subprocess.Popen(cli(*args, "--store", url), env=machine(s3, tmp_path / "cache"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        # the uninterrupted run, into a local folder, here while the killed run starts
        reference = tmp_path / "reference" / "atlas.zarr"
        with one_torch_thread():
            clean = CliRunner().invoke(main, list(map(str, [*args, "--store", reference])))
        assert clean.exit_code == 0, clean.output
        wait_for(lambda: commit_rows(s3, prefix) > 0, proc)  # some rows are committed
        time.sleep(0.2)
        assert proc.poll() is None, "the run finished before its kill: make the corpus larger"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    rows_at_kill = commit_rows(s3, prefix)
    assert 0 < rows_at_kill < len(items)
    # no process owns an object: the killed run's lock object is left behind...
    holder = json.loads(s3.fs.cat_file(f"{bucket}/.atlas.zarr.lock"))
    assert (holder["host"], holder["pid"]) == (socket.gethostname(), proc.pid)
    # ... and the next run on this machine takes it over, resumes and finishes
    with one_torch_thread():
        rerun = CliRunner().invoke(main, list(map(str, [*args, "--store", url])))
    assert rerun.exit_code == 0, rerun.output
    computed = int(rerun.output.split(" computed")[0].rsplit(" ", 1)[-1])
    assert computed <= len(items) - rows_at_kill, rerun.output  # the committed rows survived
    assert not s3.fs.exists(f"{bucket}/.atlas.zarr.lock")
    assert "atlas-plan.json" not in s3.objects(prefix)
    store = AtlasStore.open(url)
    assert store.ids == [item["id"] for item in items]
    assert_same_sentences(store, AtlasStore.open(reference))
    report = verify_store(url)
    assert report.ok, str(report)


# --- the lock ---------------------------------------------------------------------------------


def test_two_runs_at_once_on_one_url_one_is_refused_by_the_lock_object(s3, tiny_corpus,
                                                                        gpt2_dir, tmp_path):
    # two machines: each its own host name and OS lock folder, so that only the lock object on
    # S3 stands between them (on one machine the OS lock keyed by the URL refuses first)
    bucket = s3.bucket()
    url, key = f"s3://{bucket}/atlas.zarr", f"{bucket}/.atlas.zarr.lock"
    args = ["-q", "extract", "--corpus", tiny_corpus, "--model", gpt2_dir, "--store", url]
    procs = {host: subprocess.Popen(cli(*args), env=machine(s3, tmp_path / host, host),
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for host in ("machine-a", "machine-b")}
    outcomes = {host: (*proc.communicate(timeout=300), proc.returncode)
                for host, proc in procs.items()}
    codes = sorted(rc for _, _, rc in outcomes.values())
    assert codes == [0, LockError.exit_code], (
        outcomes if codes != [0, 0] else "both runs wrote: the lock object refused neither (or "
                                         "the second run started after the first had finished)")
    winner = next(host for host, (_, _, rc) in outcomes.items() if rc == 0)
    loser = next(host for host in outcomes if host != winner)
    message = outcomes[loser][1]
    assert (f"{url} is locked by pid {procs[winner].pid} on {winner} since " in message
            and f"(the lock object s3://{key})" in message), message
    assert "Traceback" not in message
    # the loser's PUT of the lock object was refused by the server: 412 Precondition Failed
    assert s3.requests.count("PUT", key, 412) == 1
    assert s3.requests.count("PUT", key, 200) == 1  # the winner's
    assert not s3.fs.exists(key)  # released by the winner
    assert AtlasStore.open(url).ids == [item["id"] for item in TINY]
    assert verify_store(url).ok


def test_a_lock_object_of_another_machine_refuses_a_run_before_it_writes(s3, tiny_corpus,
                                                                          gpt2_dir):
    bucket = s3.bucket()
    url, key = f"s3://{bucket}/atlas.zarr", f"{bucket}/.atlas.zarr.lock"
    s3.fs.pipe_file(key, json.dumps({"host": "elsewhere", "pid": 41, "since": 0}).encode())
    result = CliRunner().invoke(main, ["-q", "extract", "--corpus", str(tiny_corpus), "--model",
                                       str(gpt2_dir), "--store", url, "--wait", "0.5"])
    assert result.exit_code == LockError.exit_code, result.output
    assert re.search(rf"{re.escape(url)} is locked by pid 41 on elsewhere since .* \(the lock "
                     rf"object s3://{re.escape(key)}\).*delete the lock object", result.output)
    s3.fs.invalidate_cache()
    assert s3.fs.ls(bucket, detail=False) == [key]  # nothing written; the object left as it was
    assert json.loads(s3.fs.cat_file(key))["host"] == "elsewhere"
    assert s3.requests.count("PUT", key, 412) >= 2  # tried at once, and again while waiting
    assert StoreLocation.of(url).lock_object() == key


def test_a_missing_bucket_is_named_without_a_traceback(s3, tiny_corpus, gpt2_dir, tmp_path):
    url = f"s3://atlas-missing-{uuid.uuid4().hex[:8]}/atlas.zarr"
    written = CliRunner().invoke(main, ["-q", "extract", "--corpus", str(tiny_corpus), "--model",
                                        str(gpt2_dir), "--store", url])
    assert written.exit_code == StoreError.exit_code, written.output
    assert (f"cannot write the store {url}: cannot create its lock object "
            f"{url.replace('atlas.zarr', '.atlas.zarr.lock')} (FileNotFoundError: The specified "
            "bucket does not exist)") in written.output
    read = CliRunner().invoke(main, ["figure", "--store", url, "--sentence", "0", "--layer", "1",
                                     "--head", "1", "-o", str(tmp_path / "f.svg")])
    assert read.exit_code == StoreError.exit_code and f"no store at {url}" in read.output
    assert not (tmp_path / "f.svg").exists()
