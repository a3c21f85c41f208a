"""A store's one writer: `StoreLock`, an exclusive lock that a second writer waits for or is refused
by, naming the holder. Readers take no lock.

The location supplies the pieces (pipeline/store/location.py): every location has an OS lock file
(`lock_file()`: beside a local store; keyed by the URL on this machine for a store at a URL), and
a store at a URL also a lock object beside it (`lock_object()`; a local folder has none), taken
by a conditional put. What it guarantees on which backend is in docs/store.md, "The lock".
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from pathlib import Path

import filelock

from pipeline.errors import LockError, StoreError
from pipeline.store.location import FsspecLocation, StoreLocation

POLL = 0.25  # seconds between tries of a lock object while waiting


def lock_path(store: str | os.PathLike | StoreLocation) -> Path:
    """The OS lock file of a store: beside a local one (see StoreLocation.lock_file)."""
    return StoreLocation.of(store).lock_file()


class StoreLock:
    """An exclusive lock on a store, for its one writer; a second writer waits (`wait` seconds)
    or gets a LockError naming the holder.

    The OS file lock (filelock) is released by the OS when the process dies; the holder writes
    its pid into it. A store at a URL is also locked by its `LockObject`, taken after the OS lock
    (whoever holds the OS lock for the URL is its only writer on this machine).
    """

    def __init__(self, store: str | os.PathLike | StoreLocation, wait: float = 0.0) -> None:
        self.location = StoreLocation.of(store)
        self.store, self.path = self.location.path, self.location.lock_file()
        self.wait = wait
        self._lock = filelock.FileLock(str(self.path), timeout=wait)
        key = self.location.lock_object()
        self._object = None if key is None else LockObject(self.location, key)

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
        if self._object is not None:
            try:
                self._object.take(max(0.0, self.wait - (time.monotonic() - started)))
            except BaseException:
                self._lock.release()
                raise
        return self

    def __exit__(self, *exc) -> None:
        try:
            if self._object is not None:
                self._object.release()
        finally:
            self._lock.release()


class LockObject:
    """The lock object beside a store at a URL (`.<name>.lock`, holding host, pid and time),
    created only if absent (fsspec's `pipe_file(mode="create")`: on S3 one PUT with
    `If-None-Match: *`, refused by the server with 412 when it exists) and deleted on release.
    One left by a killed run on this machine is taken over (the caller holds the OS lock for the
    URL here); one from another machine is refused, naming it."""

    def __init__(self, location: FsspecLocation, key: str) -> None:
        self.store, self.fs, self.key = location.path, location.filesystem, key
        self.url = location.url_of(key)
        self.held = False

    def take(self, wait: float) -> None:
        """Create the lock object (waiting up to `wait` seconds), or LockError naming its holder."""
        host = socket.gethostname()
        mine = json.dumps({"host": host, "pid": os.getpid(), "since": time.time()}).encode()
        deadline = time.monotonic() + wait
        while True:
            try:
                self.fs.pipe_file(self.key, mine, mode="create")  # S3: one PUT, If-None-Match: *
                self.held = True
                return
            except FileExistsError:
                pass
            except Exception as exc:  # no bucket, no credentials, no access: the backend's words
                raise StoreError(f"cannot write the store {self.store}: cannot create its lock "
                                 f"object {self.url} ({type(exc).__name__}: {exc})") from exc
            holder = self.holder()
            if not holder and not self.fs.exists(self.key):  # released in between: again at once
                continue
            if holder.get("host") == host:  # left by a killed run here: we hold the OS lock
                self.fs.pipe_file(self.key, mine)
                self.held = True
                return
            if time.monotonic() >= deadline:
                who = (f"pid {holder.get('pid')} on {holder.get('host')} since "
                       f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(holder['since']))}"
                       if "since" in holder else "another run")
                raise LockError(f"{self.store} is locked by {who} (the lock object {self.url}); "
                                "another run is writing it. Wait for it to finish, or pass "
                                "--wait SECONDS to queue behind it; if that run is dead, delete "
                                "the lock object")
            time.sleep(min(POLL, max(0.0, deadline - time.monotonic())))

    def holder(self) -> dict:
        """What the lock object says about its holder ({} when it is unreadable or gone)."""
        try:
            holder = json.loads(self.fs.cat_file(self.key))
        except (OSError, ValueError):
            return {}
        return holder if isinstance(holder, dict) else {}

    def release(self) -> None:
        """Delete the lock object, if this lock took it."""
        if self.held:
            with contextlib.suppress(FileNotFoundError):
                self.fs.rm_file(self.key)
            self.held = False
