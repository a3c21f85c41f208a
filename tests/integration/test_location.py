"""Stores at URLs (pipeline/store/location.py): a `file://` URL is the local folder, with the same
files, lock and guarantees; fsspec's `memory://` stands in for object storage's code path
(zarr's FsspecStore, the lock object, the root zarr.json written last); bad URLs are named."""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import fsspec
import pytest
from click.testing import CliRunner

from pipeline.cli import main
from pipeline.errors import LockError, StoreError
from pipeline.store import AtlasStore
from pipeline.store.location import CREATING, FsspecLocation, LocalLocation, StoreLocation
from pipeline.store.lock import StoreLock
from pipeline.store.verify import verify_store
from pipeline.testing import TINY, write_jsonl

MEMORY = fsspec.filesystem("memory")


def files_of(root: Path) -> dict[str, bytes]:
    """Every file under a folder: relative path -> bytes."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def objects_of(root: str) -> dict[str, bytes]:
    """Every object under a memory:// prefix: relative key -> bytes."""
    return {key[len(root) + 1:]: MEMORY.cat_file(key)
            for key in MEMORY.find(root) if key.startswith(root + "/")}


@pytest.fixture
def memory_url():
    """A fresh memory:// location (fsspec's in-process filesystem), removed afterwards."""
    folder = f"/atlas-test-{uuid.uuid4().hex[:12]}"
    yield f"memory://{folder.lstrip('/')}/atlas.zarr"
    if MEMORY.exists(folder):
        MEMORY.rm(folder, recursive=True)


def pipeline_commands(corpus: Path, model: Path, store: str, site: Path) -> list[str]:
    """extract, stats, build and verify through the CLI with --store STORE; their outputs."""
    outputs = []
    for args in (["extract", "--corpus", str(corpus), "--model", str(model)], ["stats"],
                 ["build", "--site", str(site)], ["verify"]):
        result = CliRunner().invoke(main, ["-q", *args, "--store", store])
        assert result.exit_code == 0, (args, result.output)
        outputs.append(result.output)
    return outputs


@pytest.fixture(scope="module")
def reference(tmp_path_factory, tiny_corpus, gpt2_dir):
    """The tiny corpus through the CLI into a plain local path: (store folder, site folder)."""
    root = tmp_path_factory.mktemp("plain")
    store, site = root / "atlas.zarr", root / "site"
    pipeline_commands(tiny_corpus, gpt2_dir, str(store), site)
    return store, site


def test_a_file_url_gives_the_same_store_and_site_as_the_plain_path(reference, tiny_corpus,
                                                                      gpt2_dir, tmp_path):
    store, site = tmp_path / "atlas.zarr", tmp_path / "site"
    url = store.absolute().as_uri()
    assert url.startswith("file:///")
    outputs = pipeline_commands(tiny_corpus, gpt2_dir, url, site)
    assert outputs[0].startswith(f"extract: {len(TINY)} sentences in the store: {len(TINY)} computed")
    assert outputs[0].rstrip().endswith(f"-> {url}")  # the location as it was given
    assert outputs[3].startswith(f"{store}: {len(TINY)} sentences") and outputs[3].rstrip().endswith(
        "checked: OK")
    assert files_of(store) == files_of(reference[0])  # the same folder, file for file, byte for byte
    assert files_of(site) == files_of(reference[1])
    assert (tmp_path / ".atlas.zarr.lock").is_file()  # the lock beside the store, as for a path
    assert AtlasStore.open(url).ids == AtlasStore.open(store).ids == [t["id"] for t in TINY]


def test_a_memory_url_goes_through_fsspec_and_stores_the_same_objects(reference, tiny_corpus,
                                                                        gpt2_dir, memory_url,
                                                                        tmp_path):
    site = tmp_path / "site"
    pipeline_commands(tiny_corpus, gpt2_dir, memory_url, site)
    store = AtlasStore.open(memory_url)
    assert type(store.location.zarr_store()).__name__ == "FsspecStore"
    assert store.path == memory_url and not store.location.is_local
    root = "/" + memory_url.split("://", 1)[1]
    assert objects_of(root) == files_of(reference[0])  # no plan, no marker: the same store
    assert files_of(site) == files_of(reference[1])
    folder = root.rsplit("/", 1)[0]
    assert MEMORY.ls(folder, detail=False) == [root]  # the lock object was deleted on release
    assert store.head_stats()["prev"].shape == (2, 4)
    assert store.location.bytes_used() == sum(map(len, files_of(reference[0]).values()))


def test_an_unchanged_corpus_at_a_file_url_imports_no_torch(gpt2_dir, tmp_path):
    corpus = write_jsonl(tmp_path / "c.jsonl", TINY[:2])
    code = ("import sys; from pipeline.cli import main\n"
            "try:\n    main(sys.argv[1:])\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
            "print('torch' in sys.modules)")
    args = ["-q", "extract", "--corpus", str(corpus), "--model", str(gpt2_dir),
            "--store", (tmp_path / "atlas.zarr").as_uri()]
    first = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    assert first.stdout.split()[-1] == "True" and "2 computed" in first.stdout
    again = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert again.stdout.split()[-1] == "False" and "model not loaded" in again.stdout


# --- the lock ---------------------------------------------------------------------------


def test_a_path_and_its_file_url_share_one_lock(tiny_corpus, gpt2_dir, tmp_path):
    store = tmp_path / "atlas.zarr"
    args = ["-q", "extract", "--corpus", str(tiny_corpus), "--model", str(gpt2_dir)]
    for held, given in ((store, store.as_uri()), (store.as_uri(), str(store))):
        with StoreLock(held):
            refused = CliRunner().invoke(main, [*args, "--store", given])
            assert refused.exit_code == LockError.exit_code, refused.output
            assert f"is locked by pid {os.getpid()}" in refused.output
            assert not store.exists()  # nothing written beside the holder
    assert CliRunner().invoke(main, [*args, "--store", store.as_uri()]).exit_code == 0
    with StoreLock(store.as_uri()):  # a second run of any writing command is refused too
        for command in (["stats"], ["verify"]):
            refused = CliRunner().invoke(main, ["-q", *command, "--store", store.as_uri()])
            assert refused.exit_code == LockError.exit_code, refused.output


def test_a_store_at_a_url_is_locked_by_a_lock_object_beside_it(memory_url):
    location = StoreLocation.of(memory_url)
    key = location.lock_object()
    assert key == "/" + memory_url.split("://", 1)[1].replace("atlas.zarr", ".atlas.zarr.lock")
    with StoreLock(memory_url):
        holder = json.loads(MEMORY.cat_file(key))
        assert (holder["host"], holder["pid"]) == (socket.gethostname(), os.getpid())
        with pytest.raises(LockError, match=f"is locked by pid {os.getpid()}"):
            StoreLock(memory_url).__enter__()  # this machine: the OS lock keyed by the URL
    assert not MEMORY.exists(key)

    # another machine's run holds the lock object: refused, naming it, after waiting
    MEMORY.pipe_file(key, json.dumps({"host": "elsewhere", "pid": 41, "since": 0}).encode())
    waiting = StoreLock(memory_url, wait=0.3)
    with pytest.raises(LockError, match=r"locked by pid 41 on elsewhere since .*lock object "
                                        r"memory:///.*\.atlas\.zarr\.lock.*delete the lock object"):
        waiting.__enter__()
    assert json.loads(MEMORY.cat_file(key))["host"] == "elsewhere"  # left as it was
    MEMORY.rm_file(key)

    # left by a killed run on this machine (it can hold no OS lock now): taken over
    MEMORY.pipe_file(key, json.dumps({"host": socket.gethostname(), "pid": 1, "since": 0}).encode())
    with StoreLock(memory_url):
        assert json.loads(MEMORY.cat_file(key))["pid"] == os.getpid()
    assert not MEMORY.exists(key)


def test_a_creation_killed_halfway_on_object_storage_leaves_no_store(memory_url, tiny_corpus,
                                                                     gpt2_dir, monkeypatch):
    root = "/" + memory_url.split("://", 1)[1]
    writes = []
    real = type(MEMORY).pipe_file

    def dies_after_five(self, path, value, *args, **kwargs):
        if path.startswith(root + "/"):
            writes.append(path)
            if len(writes) > 5:
                raise KeyboardInterrupt  # the run is killed
        return real(self, path, value, *args, **kwargs)

    monkeypatch.setattr(type(MEMORY), "pipe_file", dies_after_five)
    args = ["-q", "extract", "--corpus", str(tiny_corpus), "--model", str(gpt2_dir),
            "--store", memory_url]
    CliRunner().invoke(main, args)
    monkeypatch.undo()
    assert writes[0] == f"{root}/{CREATING}" and MEMORY.isfile(f"{root}/{CREATING}")
    assert not MEMORY.exists(f"{root}/zarr.json")  # the root zarr.json comes last: no store yet
    with pytest.raises(StoreError, match="is a folder, but not a store"):
        AtlasStore.open(memory_url)
    again = CliRunner().invoke(main, args)  # the next run clears what was left and creates it
    assert again.exit_code == 0, again.output
    assert len(AtlasStore.open(memory_url)) == len(TINY)
    assert not MEMORY.exists(f"{root}/{CREATING}")


def test_a_foreign_prefix_at_a_url_is_refused_not_replaced(memory_url, tiny_corpus, gpt2_dir):
    root = "/" + memory_url.split("://", 1)[1]
    MEMORY.pipe_file(f"{root}/notes.txt", b"mine")
    result = CliRunner().invoke(main, ["-q", "extract", "--corpus", str(tiny_corpus), "--model",
                                       str(gpt2_dir), "--store", memory_url])
    assert result.exit_code == StoreError.exit_code, result.output
    assert f"{memory_url} is a folder, but not a store" in result.output
    assert MEMORY.cat_file(f"{root}/notes.txt") == b"mine"


# --- bad locations ------------------------------------------------------------------------


@pytest.mark.parametrize(("scheme", "package"), [("gs", "gcsfs")])  # s3fs: the test extra's
def test_a_scheme_whose_backend_is_not_installed_names_the_package(scheme, package):
    assert importlib.util.find_spec(package) is None, f"{package} is installed here"
    result = CliRunner().invoke(main, ["verify", "--store", f"{scheme}://bucket/atlas.zarr"])
    assert result.exit_code == StoreError.exit_code
    assert (f"{scheme}://bucket/atlas.zarr: stores at {scheme}:// URLs need the package {package}; "
            f"install it (pip install {package})") in result.output


@pytest.mark.parametrize(("url", "message"), [
    ("nosuch://bucket/atlas.zarr", "unknown URL scheme 'nosuch'"),
    ("file://server/data/atlas.zarr", "names the host 'server'"),
    ("file://atlas.zarr", "names the host 'atlas.zarr'"),
    ("file:///", "names an absolute folder"),
    ("file:///tmp/atlas.zarr?x=1", "no query or fragment"),
    ("memory://atlas.zarr", "a store needs a folder of its own below the bucket"),
])
def test_bad_urls_are_named(url, message):
    with pytest.raises(StoreError, match=message) as caught:
        StoreLocation.of(url)
    assert str(caught.value.message).startswith(url)
    result = CliRunner().invoke(main, ["stats", "--store", url])
    assert result.exit_code == StoreError.exit_code and message in result.output


def test_a_missing_store_at_a_url_is_named(memory_url):
    with pytest.raises(StoreError, match=f"no store at {memory_url}; run `attention-atlas extract"):
        verify_store(memory_url)
    assert not MEMORY.exists(StoreLocation.of(memory_url).lock_object())


@pytest.mark.parametrize("setting", ["out", "site"])
def test_out_and_site_stay_local_folders(setting):
    result = CliRunner().invoke(main, ["build", f"--{setting}", "s3://bucket/build"])
    assert result.exit_code == 2
    assert "a local folder, not a URL (a store may live at a URL: give it with --store)" in result.output


def test_a_location_is_its_folder_however_named(tmp_path):
    plain, url = StoreLocation.of(tmp_path / "atlas.zarr"), StoreLocation.of(
        (tmp_path / "atlas.zarr").as_uri())
    assert plain == url and plain.lock_file() == url.lock_file() == tmp_path / ".atlas.zarr.lock"
    assert str(url) == (tmp_path / "atlas.zarr").as_uri() and url.path == tmp_path / "atlas.zarr"
    spaced = StoreLocation.of((tmp_path / "my atlas.zarr").as_uri())  # percent-encoded
    assert spaced.path == tmp_path / "my atlas.zarr"


# --- one class per backend ----------------------------------------------------------------


@pytest.mark.parametrize("form", ["relative", "path", "file-url", "file-localhost"])
def test_a_path_or_a_file_url_is_a_local_location(form, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "atlas.zarr"
    given = {"relative": "atlas.zarr", "path": folder, "file-url": folder.as_uri(),
             "file-localhost": f"file://localhost{folder}"}[form]
    location = StoreLocation.of(given)
    assert type(location) is LocalLocation and location.is_local
    assert location.key == str(folder) and location.name == "atlas.zarr"  # absolute, for workers
    assert location.lock_object() is None and location.filesystem is None  # the OS lock is all
    assert location.shared_by_processes
    assert type(location.zarr_store()).__name__ == "LocalStore"
    assert StoreLocation.of(location) is location  # a location passes through
    assert repr(location) == f"LocalLocation({str(given)!r})"


@pytest.mark.parametrize("scheme", ["memory", "s3"])
def test_any_other_url_is_an_fsspec_location(scheme):
    url = f"{scheme}://bucket/data/atlas.zarr/"  # a trailing slash names the same store
    location = StoreLocation.of(url)
    assert type(location) is FsspecLocation and not location.is_local
    assert location.key == url.rstrip("/") and location.name == "atlas.zarr"
    assert location.lock_object().endswith("bucket/data/.atlas.zarr.lock")
    assert location.lock_file() != StoreLocation.of(url.replace("data", "other")).lock_file()
    assert location.shared_by_processes == (scheme != "memory")  # memory:// is this process's
    assert StoreLocation.of(url) == location and str(location) == url
    assert repr(location) == f"FsspecLocation({url!r})"


def test_a_location_is_one_of_its_backends():
    with pytest.raises(TypeError, match="abstract"):
        StoreLocation("atlas.zarr")


@pytest.mark.parametrize("backend", ["local", "memory"])
def test_side_files_are_written_whole_read_and_removed_alike(backend, tmp_path, memory_url):
    if backend == "local":
        (tmp_path / "atlas.zarr").mkdir()
    location = StoreLocation.of(tmp_path / "atlas.zarr" if backend == "local" else memory_url)
    assert location.read_text("plan.json") is None  # absent
    location.write_text("plan.json", "{\"rows\": 1}")
    location.write_text("plan.json", "{\"rows\": 2}")  # replaced whole
    assert location.read_text("plan.json") == "{\"rows\": 2}"
    assert location.bytes_used() == len("{\"rows\": 2}")  # no temporary file left
    if backend == "local":
        (tmp_path / "atlas.zarr" / "odd.json").write_bytes(b"\xff")
    else:
        MEMORY.pipe_file("/" + memory_url.split("://", 1)[1] + "/odd.json", b"\xff")
    assert location.read_text("odd.json") is None  # unreadable
    location.remove("plan.json")
    location.remove("plan.json")  # absent: nothing to do
    assert location.read_text("plan.json") is None
