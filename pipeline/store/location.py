"""Where a store lives: one class per backend behind one interface, the way zarr has `LocalStore`
and `FsspecStore` behind `Store`. `StoreLocation.of(...)` parses a location and picks its class:

- `LocalLocation`: a local folder, named by a plain path or a `file://` URL (the same folder, lock
  and guarantees). The commit (the group's zarr.json) is an atomic file replace; a new store is
  built in a sibling folder and renamed into place; the lock is an OS file lock beside the store.
- `FsspecLocation`: any other fsspec URL (`s3://`, `gs://`, `memory://`, ...). zarr's own
  `FsspecStore` reads and writes the arrays; the commit is one PUT of zarr.json (an object is
  replaced whole, never seen half-written); a prefix cannot be renamed, so a new store is
  written with its root zarr.json last (until then it is no store); the lock is an OS file lock
  keyed by the URL on this machine plus a lock object beside the store.

A location does what zarr does not: the side files (the plan), creating a store so that it
appears whole, the bytes it takes, and the pieces of the lock (pipeline/store/lock.py). What is
atomic where is in docs/store.md, "Where a store can live".
"""

from __future__ import annotations

import abc
import hashlib
import os
import shutil
import urllib.parse
from collections.abc import Callable
from pathlib import Path

import zarr

from pipeline.errors import StoreError
from pipeline.sizes import folder_bytes

GROUP_META = "zarr.json"  # the group's metadata: holds attrs["atlas"], so the commit
CREATING = ".atlas-creating"  # object storage: a store being created (no root zarr.json yet)
LOCAL_SCHEMES = ("file",)
IN_PROCESS_SCHEMES = ("memory",)  # fsspec filesystems that live in this process only


class StoreLocation(abc.ABC):
    """A store's location: `StoreLocation.of("build/atlas.zarr")`, `.of("file:///abs/atlas.zarr")`,
    `.of("s3://bucket/atlas.zarr", storage_options={...})`; a `LocalLocation` or an
    `FsspecLocation`. `str()` is the location as it was given, for messages; `path` is the local
    folder, or the URL (what messages and `AtlasStore.path` show).
    """

    is_local = False  # a local folder (a plain path or a file:// URL): today's guarantees hold
    shared_by_processes = True  # another process on this machine opens the same store by `key`
    filesystem = None  # the fsspec filesystem of a store at a URL (None for a local folder)
    path: Path | str

    def __init__(self, text: str) -> None:
        self.text = text

    @staticmethod
    def of(where: str | os.PathLike | StoreLocation,
           storage_options: dict | None = None) -> StoreLocation:
        """Parse a local path or a URL into its backend's class; a StoreLocation passes through.
        StoreError for a URL that names no usable location (an unknown scheme, a backend that
        is not installed, ...). `storage_options` are fsspec's, for a URL."""
        if isinstance(where, StoreLocation):
            return where
        text = os.fspath(where)
        if "://" not in text:
            return LocalLocation(text, Path(text))
        scheme = text.split("://", 1)[0].lower()
        if scheme in LOCAL_SCHEMES:
            return LocalLocation(text, _file_url_path(text))
        return FsspecLocation(text, scheme, storage_options)

    # --- what it is ------------------------------------------------------------------

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.text!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, StoreLocation) and self.key == other.key

    def __hash__(self) -> int:
        return hash(self.key)

    @property
    @abc.abstractmethod
    def key(self) -> str:
        """What identifies the location, and what another process reopens it by: the absolute
        folder, or the URL."""

    @property
    @abc.abstractmethod
    def name(self) -> str:
        """The store's own name (its last component)."""

    @abc.abstractmethod
    def exists(self) -> bool:
        """Anything at the location (a folder, a file, or on object storage any object under it)."""

    @abc.abstractmethod
    def is_file(self) -> bool:
        """A file where the store's folder should be."""

    @abc.abstractmethod
    def is_store(self) -> bool:
        """A Zarr group is here (its zarr.json): a store, or something foreign to be refused."""

    @abc.abstractmethod
    def has_content(self) -> bool:
        """Something other than nothing (or a half-made store of ours) is at the location: open
        it as a store (and refuse it if it is none); else a new store is created here."""

    @abc.abstractmethod
    def bytes_used(self) -> int:
        """Bytes of every file of the store."""

    # --- zarr ------------------------------------------------------------------------

    @abc.abstractmethod
    def zarr_store(self, read_only: bool = False) -> zarr.abc.store.Store:
        """zarr's own store class for the location: LocalStore, or FsspecStore for a URL."""

    @abc.abstractmethod
    def open_group(self, mode: str) -> zarr.Group:
        """The store's root group (mode "r" or "a"), through zarr's store class for the location."""

    @abc.abstractmethod
    def create(self, build: Callable[[zarr.Group], None]) -> zarr.Group:
        """Create a store that appears whole or not at all: `build(group)` fills a new group
        (arrays and attrs), which is then published here; returns the group, open for writing."""

    # --- side files (the plan) ---------------------------------------------------------

    def read_text(self, name: str) -> str | None:
        """A small file inside the store, or None when it is absent or unreadable."""
        try:
            return self._read_bytes(name).decode("utf-8")
        except (OSError, UnicodeDecodeError):
            return None

    @abc.abstractmethod
    def _read_bytes(self, name: str) -> bytes:
        """A file inside the store (OSError when it is absent)."""

    @abc.abstractmethod
    def write_text(self, name: str, text: str) -> None:
        """Write a small file inside the store whole (readers see the old one or the new)."""

    @abc.abstractmethod
    def remove(self, name: str) -> None:
        """Delete a file inside the store, if it is there."""

    # --- the lock's pieces (pipeline/store/lock.py) --------------------------------------

    @abc.abstractmethod
    def lock_file(self) -> Path:
        """The OS lock file of the store's writer, on this machine."""

    def lock_object(self) -> str | None:
        """The lock object's fsspec path, beside a store at a URL; None: a local folder has none
        (its OS lock is the whole lock)."""
        return None


class LocalLocation(StoreLocation):
    """A local folder, named by a plain path or a file:// URL: zarr's `LocalStore`; an atomic
    rename publishes a new store and an atomic replace each side file; an OS file lock beside it."""

    is_local = True

    def __init__(self, text: str, folder: Path) -> None:
        super().__init__(text)
        self.path = folder

    @property
    def key(self) -> str:
        """The absolute folder."""
        return str(self.path.absolute())

    @property
    def name(self) -> str:
        """The folder's name."""
        return self.path.name

    def exists(self) -> bool:
        """A folder or a file at the path."""
        return self.path.exists()

    def is_file(self) -> bool:
        """Something that is no folder at the path."""
        return self.path.exists() and not self.path.is_dir()

    def is_store(self) -> bool:
        """The folder holds a group's zarr.json."""
        return (self.path / GROUP_META).is_file()

    def has_content(self) -> bool:
        """A folder that is not empty."""
        return self.path.is_dir() and any(self.path.iterdir())

    def bytes_used(self) -> int:
        """Bytes of the files under the folder."""
        return folder_bytes(self.path)

    def zarr_store(self, read_only: bool = False) -> zarr.storage.LocalStore:
        """zarr's LocalStore of the folder."""
        return zarr.storage.LocalStore(self.path, read_only=read_only)

    def open_group(self, mode: str) -> zarr.Group:
        """The folder's root group."""
        return zarr.open_group(str(self.path), mode=mode)

    def create(self, build: Callable[[zarr.Group], None]) -> zarr.Group:
        """Build the store in a sibling folder and rename it into place (atomic; replaces an
        empty folder at the path)."""
        building = self.path.parent / f".{self.path.name}.creating"
        shutil.rmtree(building, ignore_errors=True)  # left by a run killed while creating
        build(zarr.open_group(str(building), mode="w"))
        os.rename(building, self.path)
        return self.open_group("a")

    def _read_bytes(self, name: str) -> bytes:
        """A file in the folder."""
        return (self.path / name).read_bytes()

    def write_text(self, name: str, text: str) -> None:
        """A temporary file, then an atomic replace."""
        tmp = self.path / (name + ".tmp")
        tmp.write_bytes(text.encode("utf-8"))
        os.replace(tmp, self.path / name)

    def remove(self, name: str) -> None:
        """Unlink the file, if it is there."""
        (self.path / name).unlink(missing_ok=True)

    def lock_file(self) -> Path:
        """Beside the store: inside it, it would be wiped when the store is created."""
        return self.path.parent / f".{self.path.name}.lock"


class FsspecLocation(StoreLocation):
    """A store at an fsspec URL (object storage, or any fsspec filesystem): zarr's `FsspecStore`;
    one PUT publishes each object, the root zarr.json last when a store is created; the lock is
    an OS file lock keyed by the URL on this machine plus a lock object beside the store."""

    def __init__(self, text: str, scheme: str, storage_options: dict | None = None) -> None:
        super().__init__(text)
        self.path, self.url, self.scheme = text, text.rstrip("/"), scheme
        self.storage_options = dict(storage_options or {})
        self.shared_by_processes = scheme not in IN_PROCESS_SCHEMES
        self.filesystem, self.root = self._connect()

    def _connect(self):
        """The fsspec filesystem and root path of the URL, or StoreError naming what to install."""
        import fsspec
        from fsspec.registry import known_implementations

        try:
            fsspec.get_filesystem_class(self.scheme)
        except ValueError:
            raise StoreError(f"{self.text}: unknown URL scheme {self.scheme!r}; a store is a local "
                             "path, a file:// URL, or a URL fsspec knows (s3://, gs://, az://, "
                             "memory://, ...)") from None
        except ImportError as exc:
            package = known_implementations.get(self.scheme, {}).get("class", "").split(".")[0]
            raise StoreError(f"{self.text}: stores at {self.scheme}:// URLs need the package "
                             f"{package or 'that implements it'}; install it "
                             f"(pip install {package}) ({exc})") from None
        try:
            fs, root = fsspec.url_to_fs(self.url, **self.storage_options)
        except Exception as exc:  # bad options, a malformed URL: the backend's own words
            raise StoreError(f"{self.text}: cannot open this location "
                             f"({type(exc).__name__}: {exc})") from exc
        root = root.rstrip("/")
        if "/" not in root.strip("/"):
            raise StoreError(f"{self.text}: a store needs a folder of its own below the bucket "
                             f"or root, e.g. {self.url}/atlas.zarr")
        return fs, root

    @property
    def key(self) -> str:
        """The URL."""
        return self.url

    @property
    def name(self) -> str:
        """The prefix's last component."""
        return self.root.rsplit("/", 1)[-1]

    def _key(self, name: str) -> str:
        """The full fsspec path of a file inside the store."""
        return f"{self.root}/{name}"

    def url_of(self, path: str) -> str:
        """An fsspec path of this filesystem as a URL, for messages."""
        return f"{self.url.split('://', 1)[0]}://{path}"

    def exists(self) -> bool:
        """Any object under the prefix."""
        return bool(self.filesystem.exists(self.root))

    def is_file(self) -> bool:
        """An object where the store's prefix should be."""
        return bool(self.filesystem.isfile(self.root))

    def is_store(self) -> bool:
        """The root zarr.json is there."""
        return bool(self.filesystem.isfile(self._key(GROUP_META)))

    def _half_created(self) -> bool:
        """What a creation killed before publishing left (the marker, no root zarr.json)."""
        return self.filesystem.isfile(self._key(CREATING)) and not self.is_store()

    def has_content(self) -> bool:
        """Objects under the prefix, other than a half-made store of ours."""
        return self.exists() and not self._half_created()

    def bytes_used(self) -> int:
        """Bytes of the objects under the prefix."""
        return int(self.filesystem.du(self.root, total=True)) if self.exists() else 0

    def zarr_store(self, read_only: bool = False) -> zarr.storage.FsspecStore:
        """zarr's FsspecStore of the URL."""
        return zarr.storage.FsspecStore.from_url(self.url, storage_options=self.storage_options,
                                                 read_only=read_only)

    def open_group(self, mode: str) -> zarr.Group:
        """The root group, through zarr's FsspecStore."""
        return zarr.open_group(self.zarr_store(read_only=mode == "r"), mode=mode)

    def create(self, build: Callable[[zarr.Group], None]) -> zarr.Group:
        """Build the store in memory, then write every object with the root zarr.json last, so a
        creation killed halfway leaves no store, only objects beside a marker that the next
        creation clears."""
        fs = self.filesystem
        if self._half_created():
            fs.rm(self.root, recursive=True)
        objects: dict = {}
        build(zarr.open_group(zarr.storage.MemoryStore(objects), mode="w"))
        fs.pipe_file(self._key(CREATING), b"")
        for name in sorted(objects, key=lambda n: n == GROUP_META):  # the root zarr.json last
            fs.pipe_file(self._key(name), objects[name].to_bytes())
        fs.rm_file(self._key(CREATING))
        return self.open_group("a")

    def _read_bytes(self, name: str) -> bytes:
        """An object under the prefix."""
        return self.filesystem.cat_file(self._key(name))

    def write_text(self, name: str, text: str) -> None:
        """One PUT: an object is replaced whole."""
        self.filesystem.pipe_file(self._key(name), text.encode("utf-8"))

    def remove(self, name: str) -> None:
        """Delete the object, if it is there."""
        if self.filesystem.exists(self._key(name)):
            self.filesystem.rm_file(self._key(name))

    def lock_file(self) -> Path:
        """One keyed by the URL in this user's cache folder: two runs on this machine exclude
        each other as they do locally."""
        digest = hashlib.sha256(self.url.encode()).hexdigest()[:24]
        cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        return cache / "attention-atlas" / "locks" / f"{digest}.lock"

    def lock_object(self) -> str:
        """Beside the store: `.<name>.lock` in the prefix's parent."""
        parent, name = self.root.rsplit("/", 1)
        return f"{parent}/.{name}.lock"


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
