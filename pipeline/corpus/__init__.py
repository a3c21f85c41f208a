"""Corpus: read .txt / .jsonl / .conllu files into validated `Sentence` records.

Strict by default: the first bad item raises `CorpusError` naming the file, its
1-based line and the cause. With `on_error="skip"` a bad item becomes a `Skip`
and reading goes on; problems with the whole file (missing, unknown format,
invalid UTF-8, no sentences at all) always raise. `readers` finds the items of
each format, `validate` turns each into a `Sentence`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal

import pipeline
from pipeline.corpus.readers import READERS, Problem, Reader, list_readers, reader_for
from pipeline.corpus.validate import Ids, build_sentence
from pipeline.errors import CorpusError
from pipeline.records import CorpusReport, Skip

__all__ = ["READERS", "Reader", "bundled_corpus_path", "list_readers", "read_corpus"]

log = logging.getLogger(__name__)


def read_corpus(path: str | Path, *, on_error: Literal["raise", "skip"] = "raise") -> CorpusReport:
    """Read and validate a corpus file into sentences (in file order) and skipped items."""
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', not {on_error!r}")
    path = Path(path)
    reader = reader_for(path)
    ids, sentences, skipped = Ids(), [], []
    for item in reader(path):
        try:
            if isinstance(item, Problem):
                raise item
            sentences.append(build_sentence(item, path, ids))
        except Problem as problem:
            named = problem.id is None or problem.id in problem.detail
            where = "" if named else f" (sentence {problem.id!r})"
            if on_error == "raise":
                raise CorpusError(path, problem.line, f"{problem}{where}") from None
            log.warning("%s:%d: skipped: %s", path, problem.line, problem)
            skipped.append(
                Skip((str(path), problem.line), problem.reason, problem.detail, problem.id)
            )
    if not sentences:
        raise CorpusError(path, None, _why_empty(path, skipped))
    # Repeated texts are legal (their derived ids get -2, -3...), but often a mistake: say so.
    repeats = len(sentences) - len({s.text for s in sentences})
    said = f" ({repeats} repeat an earlier text)" if repeats else ""
    log.info("read %d sentences from %s%s; %s", len(sentences), path, said, _skip_summary(skipped))
    return CorpusReport(sentences, skipped)


def _skip_summary(skipped: list[Skip]) -> str:
    """`N skipped (reason: n, ...)`, for the closing log line and error messages."""
    counts = CorpusReport([], skipped).skip_counts()
    reasons = ", ".join(f"{reason}: {n}" for reason, n in counts.items())
    return f"{len(skipped)} skipped" + (f" ({reasons})" if reasons else "")


def _why_empty(path: Path, skipped: list[Skip]) -> str:
    """The cause for a file that gave no sentences."""
    if skipped:
        return f"no sentences: all items were skipped, {_skip_summary(skipped)}"
    if path.stat().st_size == 0:
        return "no sentences: the file is empty"
    return "no sentences: the file has only blank lines"


def bundled_corpus_path() -> Path:
    """The bundled example corpus: inside the installed package, else the repository's data/."""
    packaged = Path(pipeline.__file__).parent / "data" / "sarah_pairs.jsonl"
    if packaged.exists():
        return packaged
    return Path(pipeline.__file__).resolve().parent.parent / "data" / "sarah_pairs.jsonl"
