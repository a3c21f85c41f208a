"""Where a store lives: a local folder, a `file://` URL, or any other fsspec URL (`s3://`, `gs://`,
`memory://`, ...); the one owner of naming, opening, locking and creating a store there.

A local path and a `file://` URL are the same location (the same folder, lock and guarantees).
Any other scheme goes through fsspec: zarr's own `FsspecStore` reads and writes the arrays, and
this module the few things zarr does not do: the side files (the plan), the lock, creating a
store so that it appears whole, and the bytes it takes. What is atomic where is in docs/store.md,
"Where a store can live":

- local: the commit (the group's zarr.json) is an atomic file replace; a new store is built in
  a sibling folder and renamed into place; the lock is an OS file lock beside the store.
- object storage: the commit is one PUT of zarr.json (an object is replaced whole, never seen
  half-written); a prefix cannot be renamed, so a new store is written with its root zarr.json
  last (until then it is no store); the lock is a lock object beside the store, created only if
  absent, plus an OS file lock keyed by the URL on this machine.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import socket
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path

import filelock
import zarr

from pipeline.errors import LockError, StoreError
from pipeline.sizes import folder_bytes

GROUP_META = "zarr.json"  # the group's metadata: holds attrs["atlas"], so the commit
CREATING = ".atlas-creating"  # object storage: a store being created (no root zarr.json yet)
LOCAL_SCHEMES = ("file",)
POLL = 0.25  # seconds between tries of a remote lock while waiting


class StoreLocation:
    """A store's location: `StoreLocation.of("build/atlas.zarr")`, `.of("file:///abs/atlas.zarr")`,
    `.of("s3://bucket/atlas.zarr", storage_options={...})`.

    `local` is the folder for a local path or `file://` URL (None otherwise); `str()` is the
    location as it was given, for messages.
    """

    def __init__(self, text: str, local: Path | None, url: str | None = None,
                 storage_options: dict | None = None) -> None:
        self.text, self.local, self.url = text, local, url
        self.storage_options = dict(storage_options or {})
        self._fs = None
        self._root = ""

    @classmethod
    def of(cls, where: str | os.PathLike | StoreLocation,
           storage_options: dict | None = None) -> StoreLocation:
        """Parse a local path or a URL; a StoreLocation passes through. StoreError for a URL that
        names no usable location (an unknown scheme, a backend that is not installed, ...)."""
        if isinstance(where, StoreLocation):
            return where
        text = os.fspath(where)
        if "://" not in text:
            return cls(text, Path(text))
        scheme = text.split("://", 1)[0].lower()
        if scheme in LOCAL_SCHEMES:
            return cls(text, _file_url_path(text))
        location = cls(text, None, text.rstrip("/"), storage_options)
        location._connect(scheme)
        return location

    def _connect(self, scheme: str) -> None:
        """The fsspec filesystem and root path of a URL, or StoreError naming what to install."""
        import fsspec
        from fsspec.registry import known_implementations

        try:
            fsspec.get_filesystem_class(scheme)
        except ValueError:
            raise StoreError(f"{self.text}: unknown URL scheme {scheme!r}; a store is a local path, "
                             "a file:// URL, or a URL fsspec knows (s3://, gs://, az://, "
                             "memory://, ...)") from None
        except ImportError as exc:
            package = known_implementations.get(scheme, {}).get("class", "").split(".")[0]
            raise StoreError(f"{self.text}: stores at {scheme}:// URLs need the package "
                             f"{package or 'that implements it'}; install it "
                             f"(pip install {package}) ({exc})") from None
        try:
            self._fs, self._root = fsspec.url_to_fs(self.url, **self.storage_options)
        except Exception as exc:  # bad options, a malformed URL: the backend's own words
            raise StoreError(f"{self.text}: cannot open this location "
                             f"({type(exc).__name__}: {exc})") from exc
        self._root = self._root.rstrip("/")
        if "/" not in self._root.strip("/"):
            raise StoreError(f"{self.text}: a store needs a folder of its own below the bucket "
                             f"or root, e.g. {self.url}/atlas.zarr")

    # --- what it is ------------------------------------------------------------------

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"StoreLocation({self.text!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, StoreLocation) and self.key == other.key

    def __hash__(self) -> int:
        return hash(self.key)

    @property
    def key(self) -> str:
        """What identifies the location: the absolute folder, or the URL."""
        return str(self.local.absolute()) if self.local is not None else self.url

    @property
    def is_local(self) -> bool:
        """A local folder (a plain path or a file:// URL): today's guarantees hold."""
        return self.local is not None

    @property
    def path(self) -> Path | str:
        """The local folder, or the URL: what messages and `AtlasStore.path` show."""
        return self.local if self.local is not None else self.text

    @property
    def name(self) -> str:
        """The store's own name (its last component)."""
        return self.local.name if self.local is not None else self._root.rsplit("/", 1)[-1]

    def _key(self, name: str) -> str:
        """The full fsspec path of a file inside the store (object storage)."""
        return f"{self._root}/{name}"

    def exists(self) -> bool:
        """Anything at the location (a folder, a file, or on object storage any object under it)."""
        if self.local is not None:
            return self.local.exists()
        return bool(self._fs.exists(self._root))

    def is_file(self) -> bool:
        """A file where the store's folder should be."""
        if self.local is not None:
            return self.local.exists() and not self.local.is_dir()
        return bool(self._fs.isfile(self._root))

    def is_store(self) -> bool:
        """A Zarr group is here (its zarr.json): a store, or something foreign to be refused."""
        if self.local is not None:
            return (self.local / GROUP_META).is_file()
        return bool(self._fs.isfile(self._key(GROUP_META)))

    def _half_created(self) -> bool:
        """Object storage: what a creation killed before publishing left (no root zarr.json)."""
        return (self.local is None and self._fs.isfile(self._key(CREATING))
                and not self.is_store())

    def has_content(self) -> bool:
        """Something other than nothing (or a half-made store of ours) is at the location: open
        it as a store (and refuse it if it is none); else a new store is created here."""
        if self.local is not None:
            return self.local.is_dir() and any(self.local.iterdir())
        return self.exists() and not self._half_created()

    def bytes_used(self) -> int:
        """Bytes of every file of the store."""
        if self.local is not None:
            return folder_bytes(self.local)
        return int(self._fs.du(self._root, total=True)) if self.exists() else 0

    # --- zarr ------------------------------------------------------------------------

    def zarr_store(self, read_only: bool = False):
        """zarr's own store class for the location: LocalStore, or FsspecStore for a URL."""
        if self.local is not None:
            return zarr.storage.LocalStore(self.local, read_only=read_only)
        return zarr.storage.FsspecStore.from_url(self.url, storage_options=self.storage_options,
                                                 read_only=read_only)

    def open_group(self, mode: str) -> zarr.Group:
        """The store's root group (mode "r" or "a"), through zarr's store class for the location."""
        if self.local is not None:
            return zarr.open_group(str(self.local), mode=mode)
        return zarr.open_group(self.zarr_store(read_only=mode == "r"), mode=mode)

    def create(self, build: Callable[[zarr.Group], None]) -> zarr.Group:
        """Create a store that appears whole or not at all: `build(group)` fills a new group
        (arrays and attrs), which is then published here; returns the group, open for writing.

        Local: built in a sibling folder and renamed into place (atomic; replaces an empty
        folder). Object storage: built in memory, then every object written with the root
        zarr.json last, so a creation killed halfway leaves no store, only objects beside a
        marker that the next creation clears.
        """
        if self.local is not None:
            building = self.local.parent / f".{self.local.name}.creating"
            shutil.rmtree(building, ignore_errors=True)  # left by a run killed while creating
            build(zarr.open_group(str(building), mode="w"))
            os.rename(building, self.local)  # atomic; replaces an empty folder at the path
            return self.open_group("a")
        if self._half_created():
            self._fs.rm(self._root, recursive=True)
        objects: dict = {}
        build(zarr.open_group(zarr.storage.MemoryStore(objects), mode="w"))
        self._fs.pipe_file(self._key(CREATING), b"")
        for name in sorted(objects, key=lambda n: n == GROUP_META):  # the root zarr.json last
            self._fs.pipe_file(self._key(name), objects[name].to_bytes())
        self._fs.rm_file(self._key(CREATING))
        return self.open_group("a")

    # --- side files (the plan) ---------------------------------------------------------

    def read_text(self, name: str) -> str | None:
        """A small file inside the store, or None when it is absent or unreadable."""
        try:
            if self.local is not None:
                return (self.local / name).read_text(encoding="utf-8")
            return self._fs.cat_file(self._key(name)).decode("utf-8")
        except (OSError, UnicodeDecodeError):
            return None

    def write_text(self, name: str, text: str) -> None:
        """Write a small file inside the store whole: an atomic replace locally, one PUT on
        object storage (readers see the old object or the new one)."""
        data = text.encode("utf-8")
        if self.local is None:
            self._fs.pipe_file(self._key(name), data)
            return
        tmp = self.local / (name + ".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, self.local / name)

    def remove(self, name: str) -> None:
        """Delete a file inside the store, if it is there."""
        if self.local is not None:
            (self.local / name).unlink(missing_ok=True)
        elif self._fs.exists(self._key(name)):
            self._fs.rm_file(self._key(name))

    # --- the lock ----------------------------------------------------------------------

    def lock_file(self) -> Path:
        """The OS lock file: beside a local store (inside it would be wiped when the store is
        created); for a URL, one keyed by the URL in this user's cache folder."""
        if self.local is not None:
            return self.local.parent / f".{self.local.name}.lock"
        digest = hashlib.sha256(self.url.encode()).hexdigest()[:24]
        cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        return cache / "attention-atlas" / "locks" / f"{digest}.lock"

    @property
    def filesystem(self):
        """The fsspec filesystem of a store at a URL (None for a local store)."""
        return self._fs

    def lock_object(self) -> str | None:
        """Object storage: the lock object's fsspec path, beside the store (None when local)."""
        if self.local is not None:
            return None
        parent, name = self._root.rsplit("/", 1)
        return f"{parent}/.{name}.lock"

    def lock(self, wait: float = 0.0) -> StoreLock:
        """The store's exclusive writer lock (a context manager)."""
        return StoreLock(self, wait)


def _file_url_path(url: str) -> Path:
    """The local folder a file:// URL names, or StoreError."""
    parts = urllib.parse.urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        raise StoreError(f"{url}: a file:// URL names an absolute local path, with no host: "
                         f"file:///abs/path/atlas.zarr (this one names the host {parts.netloc!r})")
    if parts.query or parts.fragment:
        raise StoreError(f"{url}: a file:// URL of a store has no query or fragment")
    path = urllib.parse.unquote(parts.path)
    if not path.startswith("/") or path == "/":
        raise StoreError(f"{url}: a file:// URL names an absolute folder: file:///abs/path/atlas.zarr")
    return Path(path)


class StoreLock:
    """An exclusive lock on a store, for its one writer; a second writer waits (`wait` seconds)
    or gets a LockError naming the holder.

    Local store: an OS file lock (filelock) beside the store, released by the OS when the process
    dies; the holder writes its pid into it. Store at a URL: an OS file lock keyed by the URL on
    this machine, and a lock object beside the store (`.<name>.lock`, holding host, pid and
    time), created only if absent (fsspec's `pipe_file(mode="create")`: on S3 one PUT with
    `If-None-Match: *`, refused by the server with 412 when it exists) and deleted on release.
    A lock object left by a killed run on this machine is taken over (whoever holds the OS lock
    for the URL here is its only writer here); one from another machine is refused, naming it.
    """

    def __init__(self, store: str | os.PathLike | StoreLocation, wait: float = 0.0) -> None:
        self.location = StoreLocation.of(store)
        self.store, self.path = self.location.path, self.location.lock_file()
        self.wait = wait
        self._lock = filelock.FileLock(str(self.path), timeout=wait)
        self._object: str | None = None

    def __enter__(self) -> StoreLock:
        started = time.monotonic()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._lock.acquire()
        except filelock.Timeout:
            holder = self.path.read_text(errors="replace").strip() or "another process"
            raise LockError(f"{self.store} is locked by {holder}; another run is writing it. "
                            "Wait for it to finish, or pass --wait SECONDS to queue behind it"
                            ) from None
        except OSError as exc:  # a parent that is a file, a read-only folder, ...
            raise StoreError(f"cannot write the store {self.store}: {exc.strerror or exc} "
                             f"({exc.filename})") from exc
        self.path.write_text(f"pid {os.getpid()}\n")
        if self.location.lock_object() is not None:
            try:
                self._take_object(max(0.0, self.wait - (time.monotonic() - started)))
            except BaseException:
                self._lock.release()
                raise
        return self

    def _take_object(self, wait: float) -> None:
        """Create the lock object beside a store at a URL (waiting up to `wait` seconds)."""
        fs, key = self.location._fs, self.location.lock_object()
        host = socket.gethostname()
        mine = json.dumps({"host": host, "pid": os.getpid(), "since": time.time()}).encode()
        deadline = time.monotonic() + wait
        while True:
            try:
                fs.pipe_file(key, mine, mode="create")  # S3: one PUT with If-None-Match: *
                self._object = key
                return
            except FileExistsError:
                pass
            except Exception as exc:  # no bucket, no credentials, no access: the backend's words
                raise StoreError(f"cannot write the store {self.store}: cannot create its lock "
                                 f"object {self.location.url.split('://')[0]}://{key} "
                                 f"({type(exc).__name__}: {exc})") from exc
            holder = _read_holder(fs, key)
            if not holder and not fs.exists(key):  # released in between: try again at once
                continue
            if holder.get("host") == host:  # left by a killed run here: we hold the OS lock
                fs.pipe_file(key, mine)
                self._object = key
                return
            if time.monotonic() >= deadline:
                who = (f"pid {holder.get('pid')} on {holder.get('host')} since "
                       f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(holder['since']))}"
                       if "since" in holder else "another run")
                raise LockError(f"{self.store} is locked by {who} (the lock object "
                                f"{self.location.url.split('://')[0]}://{key}); another run is "
                                "writing it. Wait for it to finish, or pass --wait SECONDS to queue "
                                "behind it; if that run is dead, delete the lock object")
            time.sleep(min(POLL, max(0.0, deadline - time.monotonic())))

    def __exit__(self, *exc) -> None:
        try:
            if self._object is not None:
                with contextlib.suppress(FileNotFoundError):
                    self.location._fs.rm_file(self._object)
                self._object = None
        finally:
            self._lock.release()


def _read_holder(fs, key: str) -> dict:
    """What a lock object says about its holder ({} when it is unreadable or gone)."""
    try:
        holder = json.loads(fs.cat_file(key))
    except (OSError, ValueError):
        return {}
    return holder if isinstance(holder, dict) else {}
