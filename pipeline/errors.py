"""The exception family: every error the user can cause names its source and cause.

Rooted in `click.ClickException`, so the CLI prints the message (no traceback)
and exits with the class's exit code.
"""

from __future__ import annotations

import click


class AtlasError(click.ClickException):
    """Base of every user-facing error; exit code 1."""

    exit_code = 1


class ConfigError(AtlasError):
    """A bad `atlas.toml` key or value, or a bad flag value; exit code 2."""

    exit_code = 2


class CorpusError(AtlasError):
    """A corpus file that cannot be read: names the file, the line and the cause; exit code 3."""

    exit_code = 3

    def __init__(self, path: object, line: int | None, cause: str) -> None:
        self.path, self.line, self.cause = str(path), line, cause
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {cause}")


class ModelError(AtlasError):
    """A model that cannot be loaded (unknown name, missing files, bad weights); exit code 4."""

    exit_code = 4


class StoreError(AtlasError):
    """A store that is missing, damaged, foreign, or written by another model; exit code 5."""

    exit_code = 5


class StaleStatsError(StoreError):
    """A store's statistics were computed for an earlier corpus (`attention-atlas stats` brings
    them up to date); exit code 5."""


class LockError(AtlasError):
    """Another process holds the store's lock; exit code 6."""

    exit_code = 6


class SiteError(AtlasError):
    """The site cannot be built or written; exit code 7."""

    exit_code = 7


class EngineError(AtlasError):
    """The extraction engine failed (a Ray worker died past its retries, a lost cluster); what
    was committed before is kept, and the next run completes the store; exit code 8."""

    exit_code = 8


class SeriesError(AtlasError):
    """A series that cannot be made or read: no checkpoint under a folder, two with one step, a bad
    label, a missing or garbled series.json, a missing store, tokenizers that differ where one is
    needed; names the folder, file or models; exit code 9."""

    exit_code = 9


class Interrupted(KeyboardInterrupt):
    """Ctrl-C (SIGINT) during a run, saying what was kept and how to go on. Still a
    KeyboardInterrupt, so Python callers stop as before; the CLI prints its message alone and
    exits 130, as a shell gives a process that SIGINT ended."""

    exit_code = 130
