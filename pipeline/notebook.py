"""`look`: a sentence typed now, through a model, shown in a notebook as the site shows a stored one.

    from pipeline import look
    look("<CHI> painted a picture of a horse <CHI> my favorite animal is the", model="default",
         spans={"ENV": (0, 34), "LAN": (35, 66)})

The sentence is validated as a corpus line is (pipeline.corpus.validate: its words, spans as
character offsets, end exclusive), extracted by `pipeline.extract.run.extract` into a store of
its own in a temporary folder (the same encoding, forward pass, quantization and writer as
`attention-atlas extract`: its codes are those a one-sentence corpus gets), read back through
`AtlasStore` and shown by `pipeline.site.notebook` (the site's sentence page, interactive). The
model is loaded once per process (`load`), so a later sentence takes about a second on a CPU.

A layer of its own (pyproject.toml's contracts): it imports extraction and the site, which do not
import each other. `from pipeline import look` reaches it through pipeline/__init__.py's
module `__getattr__`, so `import pipeline` stays light.
"""

from __future__ import annotations

import shutil
import tempfile
import warnings
import weakref
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pipeline.corpus.readers import ABSENT, Problem, RawItem
from pipeline.corpus.validate import Ids, build_sentence
from pipeline.errors import CorpusError
from pipeline.extract.run import extract
from pipeline.measures import parse_measures
from pipeline.model.loading import LoadedModel, ModelSpec
from pipeline.records import Sentence
from pipeline.site.notebook import View, record_view
from pipeline.store import AtlasStore, SentenceRecord

_LOADED: dict[tuple, LoadedModel] = {}  # models loaded by `load`, for the process's lifetime


def load(model: str | Path | None = "default", *, measures: str | Iterable[str] = "attention",
         revision: str | None = None, device: str = "auto", dtype: str = "auto") -> LoadedModel:
    """A model as `look` runs it (the embedded one for "default" or None; a hub id or a folder),
    loaded the first time and kept (with its language-model head where `measures` need it)."""
    name = None if model in (None, "default") else str(model)
    spec = ModelSpec(name, revision, device, dtype).for_measures(parse_measures(measures))
    key = (spec.name, spec.revision, spec.device, spec.dtype, spec.causal_lm)
    if key not in _LOADED:
        with warnings.catch_warnings():  # tqdm's, in a notebook without ipywidgets: no bar here
            warnings.filterwarnings("ignore", message="IProgress not found")
            _LOADED[key] = spec.load()
    return _LOADED[key]


def sentence(text: str, spans: Mapping[str, tuple[int, int]] | Iterable | None = None, *,
             id: str | None = None, meta: dict[str, Any] | None = None) -> Sentence:
    """A sentence as a corpus line gives it: `spans` {label: (start, end)} or [(label, start,
    end), ...] in characters, end exclusive; no id: derived from the text (as a corpus line
    without one). CorpusError names what is wrong."""
    pairs = spans.items() if isinstance(spans, Mapping) else ((s[0], s[1:]) for s in spans or ())
    raw_spans = []
    for label, where in pairs:
        try:
            start, end = where
        except (TypeError, ValueError):
            raise CorpusError("look()", None, f"span {label!r}: give (start, end) in characters, "
                              f"end exclusive; got {where!r}") from None
        raw_spans.append({"label": label, "start": start, "end": end})
    raw = RawItem(line=1, text=text, id=ABSENT if id is None else id, spans=raw_spans,
                  meta={} if meta is None else meta)
    try:
        return build_sentence(raw, Path("look"), Ids())
    except Problem as problem:
        raise CorpusError("look()", None, f"{problem.reason}: {problem.detail}") from None


class Look:
    """A sentence run through a model now: `record` (a SentenceRecord: codes, maps, words, as
    `extract` stored them), `store` (its one-sentence store, in a temporary folder removed with
    this object), `view` (the page, which a notebook shows); `show(layer=, head=)` its figure."""

    def __init__(self, folder: Path, store: AtlasStore, record: SentenceRecord, view: View) -> None:
        self.folder, self.store, self.record, self.view = folder, store, record, view
        self._cleanup = weakref.finalize(self, shutil.rmtree, folder, ignore_errors=True)

    def __repr__(self) -> str:
        return f"Look({self.record.text!r}, words={len(self.record.words)}, model={self.store.model['name']!r})"

    def _repr_html_(self) -> str:
        return self.view._repr_html_()

    def codes(self, measure: str = "attention"):
        """The stored uint8 codes, (L, H, T, T), as `SentenceRecord.codes`."""
        return self.record.codes(measure)

    def show(self, layer: int = 1, head: int = 1, measure: str = "attention", **options):
        """The figure of one head, as `SentenceRecord.show`."""
        return self.record.show(layer, head, measure, **options)


def look(text: str, model: str | Path | LoadedModel | None = "default", *,
         spans: Mapping[str, tuple[int, int]] | Iterable | None = None,
         measures: str | Iterable[str] = "attention", measure: str | None = None,
         layer: int = 1, head: int = 1, id: str | None = None, meta: dict[str, Any] | None = None,
         revision: str | None = None, device: str = "auto", dtype: str = "auto") -> Look:
    """Run one sentence through a model and show it as the site's sentence page (interactive),
    computed and quantized exactly as `attention-atlas extract` stores a one-sentence corpus.

    `model`: "default" (the embedded MiniLM), a hub id, a folder, or a LoadedModel; loaded once
    per process. `spans`: {label: (start, end)} in characters, end exclusive (as a .jsonl
    corpus gives them), or [(label, start, end), ...] for a label used twice. `measures`: what
    to compute, as `--measures` ("attention,rollout"); `measure`, `layer`, `head`: what the page
    opens with. Returns a `Look`: a notebook shows its page; `.record` has the codes."""
    wanted = parse_measures(measures)
    item = sentence(text, spans, id=id, meta=meta)
    loaded = model if isinstance(model, LoadedModel) else load(
        model, measures=wanted, revision=revision, device=device, dtype=dtype)
    folder = Path(tempfile.mkdtemp(prefix="atlas-look-"))
    try:
        extract([item], folder / "atlas.zarr", loaded, progress=False, measures=wanted)
        store = AtlasStore.open(folder / "atlas.zarr")
        if len(store) != 1:
            raise CorpusError("look()", None, f"the model could not encode {text[:80]!r}")
        record = store[0]
        view = record_view(store, record, layer=layer, head=head, measure=measure or wanted[0])
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return Look(folder, store, record, view)
