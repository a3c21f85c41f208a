"""Reading a store: `AtlasStore` (the read API of the README) and the `SentenceRecord`s it returns.

Maps are read per measure and part (`part=`, keyword): `self` in a self store; `encoder`,
`decoder` or `cross` in an encoder-decoder's (`part=None`: `self` or `encoder`), each a stream
of the store (pipeline/store/streams.py)."""

from __future__ import annotations

import functools
import importlib
import os
from pathlib import Path

import numpy as np
import zarr

from pipeline.errors import StoreError
from pipeline.measures import DEFAULT_MEASURE, check_stored
from pipeline.store.head_stats import HeadStats
from pipeline.store.layout import (
    RECORD_CHUNK,
    SCALE,
    chunks_of,
    crc32,
    dequantize,
    finished_run,
    gather,
    measure_heads,
    no_finished_run,
    open_group_meta,
    read_chunk,
    read_index,
    read_measure_index,
    row_shape,
    stream_row_size,
)
from pipeline.store.location import StoreLocation
from pipeline.store.sentence import StoredSentence
from pipeline.store.streams import (
    is_pair_store,
    measure_parts,
    resolve_stream,
    split_stream,
    store_parts,
    store_streams,
)
from pipeline.words import word_attention, word_maps


def _notebook():
    """pipeline.site.notebook, which shows records and stores in a notebook. The store may not
    import the site (the import contracts: docs/architecture.md); a notebook's display asks for
    it by name, at that moment, so reading a store imports nothing of the site."""
    return importlib.import_module("pipeline.site.notebook")


class SentenceRecord:
    """One stored sentence as read from a store: its words, tokens, spans and (lazily) its maps.

    In an encoder-decoder's store, `words`, `tokens` and `spans` are the source's and the
    `target_*` fields the target's (the target tokens: the decoder's inputs, its start token
    first); in a self store `target` is None and the target's fields empty."""

    def __init__(self, store: AtlasStore, row: int, sentence: StoredSentence) -> None:
        self._store, self.row, self.sentence = store, row, sentence
        self.id, self.key, self.text = sentence.id, sentence.key, sentence.text
        self.tokens: list[str] = list(sentence.tokens)
        self.word_ranges: list[tuple[int, int]] = list(sentence.word_ranges)
        self.words: list[str] = sentence.words
        self.word_index = np.asarray(sentence.word_index, dtype=np.int32)  # (T,), -1 = special
        self.spans: list[tuple[str, int, int]] = list(sentence.spans)
        self.meta: dict = sentence.meta
        self.truncated: bool = sentence.truncated
        # gold dependency arcs (dependent, head or -1, relation) over the words: .conllu only
        self.arcs: list[tuple[int, int, str]] = list(sentence.arcs)
        self.target: str | None = sentence.target
        self.target_tokens: list[str] = list(sentence.target_tokens)
        self.target_word_ranges: list[tuple[int, int]] = list(sentence.target_word_ranges)
        self.target_words: list[str] = sentence.target_words
        self.target_word_index = np.asarray(sentence.target_word_index, dtype=np.int32)  # (T_t,)
        self.target_spans: list[tuple[str, int, int]] = list(sentence.target_spans)
        self.target_generated: bool = sentence.target_generated
        self.target_truncated: bool = sentence.target_truncated

    def __repr__(self) -> str:
        return f"SentenceRecord(id={self.id!r}, words={len(self.words)}, tokens={len(self.tokens)})"

    def codes(self, measure: str = DEFAULT_MEASURE, *, part: str | None = None) -> np.ndarray:
        """The stored uint8 codes, (L, H, T, T); H == 1 for per-layer measures (rollout). In an
        encoder-decoder's store, of a part: encoder (L, H, T_s, T_s), decoder (L_d, H_d, T_t,
        T_t), cross (L_d, H_d, T_t, T_s) (rows: target tokens, columns: source tokens)."""
        return self._store._codes(self.row, measure, part)

    def attention(self, measure: str = DEFAULT_MEASURE, *, part: str | None = None) -> np.ndarray:
        """Token-level maps of a measure (and part), float32 (L, H, rows, columns): rows attend
        ("from"), columns are attended ("to"); H == 1 for per-layer measures. `store.measures`
        lists the stored measures, `store.measure_parts(measure)` their parts."""
        return dequantize(self.codes(measure, part=part))

    def _sides(self, measure: str, part: str | None) -> dict:
        """The word index and word count of a part's rows and of its columns."""
        part = split_stream(self._store.stream(measure, part))[1]
        source = (self.word_index, len(self.words))
        target = (self.target_word_index, len(self.target_words))
        rows = target if part in ("decoder", "cross") else source
        columns = target if part == "decoder" else source
        return {"word_index": rows[0], "n_words": rows[1],
                **({"column_index": columns[0], "n_column_words": columns[1]}
                   if part == "cross" else {})}

    def word_maps(self, measure: str = DEFAULT_MEASURE, *, part: str | None = None
                  ) -> tuple[np.ndarray, np.ndarray]:
        """Both word-level results in one pass: word_attention() and special_share()."""
        return word_maps(self.attention(measure, part=part), **self._sides(measure, part))

    def word_attention(self, measure: str = DEFAULT_MEASURE, *, part: str | None = None
                       ) -> np.ndarray:
        """Word-level maps, float32 (L, H, W, W), per Clark et al. (2019); see pipeline.words.
        Computed from the codes directly, without the special share (`word_maps` has both).
        `part="cross"`: (L_d, H_d, W_t, W_s), target words as rows, source words as columns."""
        return word_attention(self.codes(measure, part=part), scale=1.0 / SCALE,
                              **self._sides(measure, part))

    def special_share(self, measure: str = DEFAULT_MEASURE, *, part: str | None = None
                      ) -> np.ndarray:
        """Share of each from-word's attention that went to special tokens, float32 (L, H, W)."""
        return self.word_maps(measure, part=part)[1]

    # ---- in a notebook (pipeline.site.notebook) ----
    def show(self, layer: int = 1, head: int = 1, measure: str = DEFAULT_MEASURE, **options):
        """The sentence's figure of one head (1-based), as `attention-atlas figure` draws it,
        which a notebook shows (SVG); `options`: measure_label, domain, width, grid, note, font."""
        return _notebook().record_figure(self, layer, head, measure, **options)

    def view(self, layer: int = 1, head: int = 1, measure: str | None = None,
             part: str | None = None):
        """The sentence's page, interactive, in a notebook's output cell (the site's own: the
        grid, the detail, the measure selector, several rows at once), opened at a head (and an
        encoder-decoder store's `part`: encoder, decoder or cross)."""
        return _notebook().record_view(self._store, self, layer=layer, head=head, measure=measure,
                                       part=part)

    def _repr_svg_(self) -> str:
        return self.show().svg

    def _repr_html_(self) -> str:
        return _notebook().record_html(self.show())

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict[str, str]:
        """Both displays from one drawing (IPython asks for this first)."""
        figure = self.show()
        return {"image/svg+xml": figure.svg, "text/html": _notebook().record_html(figure)}


class AtlasStore:
    """Read access to a store: `len(store)`, `store.ids`, `store[id]`, `store[i]`, iteration."""

    def __init__(self, path: Path | str | StoreLocation, group: zarr.Group, meta: dict) -> None:
        self.location = StoreLocation.of(path)
        self.path = self.location.path  # the folder, or the URL (for a store at an fsspec URL)
        self._group, self._meta = group, meta
        commit = meta["commit"]
        self._rows = commit["rows"]
        # a garbled zarr.json or index chunk must not surface as a zarr or JSON traceback
        self._hint = "the index (index/*, catalog) is damaged; run `attention-atlas verify`"
        pair = is_pair_store(meta)
        names = ("n_tokens", *(("n_target_tokens",) if pair else ()), "id", "key")
        index = read_index(group, commit, path, names=names, hint=self._hint)
        self._n_tokens = index["n_tokens"]
        self._n_target = index["n_target_tokens"] if pair else np.zeros_like(self._n_tokens)
        self._measure_index = functools.cache(self._read_measure_index)
        self._catalog = np.asarray(index["catalog"], dtype=np.int64)
        self._row_ids, self._row_keys = index["id"], index["key"]
        self.ids: list[str] = [str(self._row_ids[r]) for r in self._catalog]
        self._position = {sid: i for i, sid in enumerate(self.ids)}
        self._records = functools.lru_cache(maxsize=8)(self._record_chunk)
        self._chunks = functools.lru_cache(maxsize=4)(functools.partial(read_chunk, group))

    @classmethod
    def open(cls, path: str | os.PathLike | StoreLocation) -> AtlasStore:
        """Open a store for reading: a local folder, a file:// URL or another fsspec URL
        (`s3://bucket/atlas.zarr`, ...). A missing, foreign or damaged store raises StoreError,
        as does one whose first run was interrupted (it has no corpus order to read by)."""
        location = StoreLocation.of(path)
        group, meta = open_group_meta(location, mode="r")
        if not finished_run(meta["commit"]):
            raise StoreError(no_finished_run(location.path, meta["commit"]))
        return cls(location, group, meta)

    @property
    def model(self) -> dict:
        """The model that wrote the store: name, revision, weights_sha256, n_layers, n_heads, ..."""
        return self._meta["model"]

    @property
    def measures(self) -> list[str]:
        """The measures the store holds for every sentence, e.g. ["attention", "rollout"]."""
        return list(self._meta["measures"])

    @property
    def parts(self) -> list[str]:
        """The kinds of map the store holds: ["self"] (a model with one stack), or ["encoder",
        "decoder", "cross"] (an encoder-decoder)."""
        return store_parts(self._meta)

    @property
    def encoder_decoder(self) -> bool:
        """Whether the store holds an encoder-decoder's pairs (source -> target)."""
        return is_pair_store(self._meta)

    def measure_parts(self, measure: str = DEFAULT_MEASURE) -> list[str]:
        """The parts the store holds of a measure (rollout: ["encoder"] in an encoder-decoder's)."""
        self._check_measure(measure)
        return measure_parts(self._meta, measure)

    def stream(self, measure: str = DEFAULT_MEASURE, part: str | None = None) -> str:
        """The stream (arrays measures/<stream>/, statistics stats/<stream>) of a measure's part:
        the measure's name in a self store, `<measure>.<part>` in an encoder-decoder's.
        StoreError for a measure or part the store lacks, naming those it holds."""
        self._check_measure(split_stream(measure)[0])
        return resolve_stream(self._meta, measure, part, str(self.path))

    @property
    def streams(self) -> list[str]:
        """Every (measure, part) the store holds, by stream name: ["attention", "rollout"] in a
        self store; ["attention.encoder", "attention.decoder", "attention.cross",
        "rollout.encoder"] in an encoder-decoder's (`pipeline.store.streams.split_stream`)."""
        return store_streams(self._meta)

    def grid(self, measure: str = DEFAULT_MEASURE, part: str | None = None) -> tuple[int, int]:
        """(layers, maps per layer) of a measure's part: its grid of heads (the decoder's layers
        for `decoder` and `cross`; one map per layer for rollout)."""
        stream = self.stream(measure, part)
        return row_shape(self._meta, stream, 0)[:2]

    def measure_heads(self, measure: str, part: str | None = None) -> int:
        """Maps per layer of a stored measure (and part): 1 for per-layer measures (rollout),
        else the stack's heads."""
        return measure_heads(self._meta, self.stream(measure, part))

    def _check_measure(self, measure: str) -> None:
        """StoreError for a measure the store does not hold, naming the ones it holds (and, for
        a name that is no measure at all, the registry's)."""
        check_stored(measure, self._meta["measures"], str(self.path), StoreError)

    def _read_measure_index(self, measure: str) -> tuple[np.ndarray, np.ndarray]:
        return read_measure_index(self._group, self._meta, measure, self.path, self._hint)

    @property
    def commit(self) -> dict:
        """The commit this reader sees: rows, catalog size and the catalog array's name."""
        return dict(self._meta["commit"])

    @property
    def catalog_rows(self) -> np.ndarray:
        """The rows of the current corpus, in corpus order (int64 (S,))."""
        return self._catalog

    def head_stats(self, measure: str = DEFAULT_MEASURE, part: str | None = None) -> HeadStats:
        """The corpus view's statistics of every head for a measure (and part)
        (pipeline.store.head_stats)."""
        return HeadStats(self, measure, part=part)

    def view(self, measure: str | None = None):
        """The corpus view (every head's statistics across the corpus, as the site's index shows
        it), interactive, in a notebook's output cell."""
        return _notebook().store_view(self, measure=measure)

    def stats_frame(self, measure: str | None = None, stat: str | None = None):
        """Every head's statistics as a pandas DataFrame (measure, statistic, layer, head, value,
        rank), as `attention-atlas stats --format csv` gives them; one measure or all."""
        return _notebook().stats_frame(self, measure, stat)

    @property
    def info(self) -> dict:
        """Everything the store says about itself (schema, pipeline version, quantization, ...)."""
        return {k: v for k, v in self._meta.items() if k != "commit"}

    @property
    def rows(self) -> int:
        """Committed rows, including rows no longer in the corpus."""
        return self._rows

    def __len__(self) -> int:
        return len(self.ids)

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def __contains__(self, sid: object) -> bool:
        return sid in self._position

    def __getitem__(self, key: int | str) -> SentenceRecord:
        if isinstance(key, str):
            if key not in self._position:
                raise KeyError(f"no sentence with id {key!r} in {self.path}")
            key = self._position[key]
        if not -len(self) <= key < len(self):
            raise IndexError(f"sentence {key} out of range: the store holds {len(self)}")
        return self.record(int(self._catalog[key]))

    def storage_order(self, measure: str = DEFAULT_MEASURE, part: str | None = None) -> list[int]:
        """Sentence positions sorted by where their codes of a measure lie: reading in this
        order decompresses each chunk once (corpus order jumps between chunks)."""
        if split_stream(measure)[0] not in self._meta["measures"]:
            measure, part = self._meta["measures"][0], None
        offsets = self._measure_index(self.stream(measure, part))[0]
        return sorted(range(len(self)), key=lambda i: int(offsets[self._catalog[i]]))

    def record(self, row: int) -> SentenceRecord:
        """The sentence stored in a row (current or not)."""
        start = row - row % RECORD_CHUNK
        try:
            sentence = StoredSentence.from_json(self._records(start)[row - start])
        except (ValueError, IndexError, KeyError, TypeError) as exc:
            raise StoreError(f"{self.path}: row {row}'s record is damaged ({exc}); "
                             "run `attention-atlas verify --store ...`") from exc
        return SentenceRecord(self, row, sentence)

    def row_span(self, row: int, measure: str = DEFAULT_MEASURE, part: str | None = None
                 ) -> tuple[int, int]:
        """(start, end) of a row's codes in measures/<stream>/codes; (-1, -1) when absent."""
        stream = self.stream(measure, part)
        start = int(self._measure_index(stream)[0][row])
        if start < 0:
            return -1, -1
        return start, start + stream_row_size(self._meta, stream, int(self._n_tokens[row]),
                                              int(self._n_target[row]))

    def row_offset(self, row: int, measure: str = DEFAULT_MEASURE, part: str | None = None) -> int:
        """Where a row's codes of a measure (and part) start (-1: not computed): sorting rows by
        it reads each chunk once."""
        return int(self._measure_index(self.stream(measure, part))[0][row])

    def row_identity(self, row: int, measure: str = DEFAULT_MEASURE, part: str | None = None
                     ) -> tuple[str, str, int]:
        """A row's id, content key and CRC-32 of its codes of a measure (and part): what values
        derived from them depend on."""
        return (str(self._row_ids[row]), str(self._row_keys[row]),
                int(self._measure_index(self.stream(measure, part))[1][row]))

    def _record_chunk(self, start: int) -> list[str]:
        stop = min(start + RECORD_CHUNK, self._rows)
        return list(self._group["index/record"][start:stop])

    def _codes(self, row: int, measure: str, part: str | None = None) -> np.ndarray:
        stream = self.stream(measure, part)
        start, end = self.row_span(row, stream)
        sid = str(self._row_ids[row])
        if start < 0:  # a row outside the current corpus, stored before the measure was added
            raise StoreError(f"{self.path}: sentence {sid!r} (row {row}) has no {stream!r} codes")
        try:
            flat = gather(start, end, lambda k: self._chunks(stream, k))
        except Exception as exc:  # a chunk that does not decompress
            chunks = ", ".join(map(str, chunks_of(start, end)))
            raise StoreError(f"{self.path}: sentence {sid!r} (row {row}) lies in a damaged chunk "
                             f"(chunk {chunks} of measures/{stream}/codes): {exc}; "
                             "run `attention-atlas verify --store ... --repair`") from exc
        if crc32(flat) != int(self._measure_index(stream)[1][row]):
            raise StoreError(f"{self.path}: sentence {sid!r} (row {row}) fails "
                             "its checksum; run `attention-atlas verify --store ... --repair`")
        return flat.reshape(row_shape(self._meta, stream, int(self._n_tokens[row]),
                                      int(self._n_target[row])))
