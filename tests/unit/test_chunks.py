"""The chunk buffer on synthetic codes (no model): whole chunks only, what `codes_end` means,
the padded last chunk, and a writer resumed after an interrupted run."""

from __future__ import annotations

import numpy as np
import pytest
import zarr

from pipeline.errors import StoreError
from pipeline.store import AtlasStore
from pipeline.store.chunks import ChunkBuffer, in_written_chunks
from pipeline.store.layout import CODES_CHUNK, crc32, open_group_meta
from pipeline.store.lock import StoreLock
from pipeline.store.verify import verify_store
from pipeline.store.writer import StoreWriter
from pipeline.testing import synthetic_sentence

C = CODES_CHUNK


def arrays(tmp_path, size: int = 0) -> tuple[zarr.Array, zarr.Array]:
    """A codes array and a chunk_crc32 array, as a measure has them."""
    group = zarr.open_group(str(tmp_path / "codes.zarr"), mode="w")
    codes = group.create_array("codes", shape=(size,), chunks=(C,), dtype="uint8", fill_value=0)
    crcs = group.create_array("crc", shape=(0,), chunks=(64,), dtype="uint32", fill_value=0)
    return codes, crcs


def rows(sizes: list[int], seed: int = 0) -> list[np.ndarray]:
    """Random codes of the given sizes, as (1, 1, 1, n) rows."""
    rng = np.random.default_rng(seed)
    return [rng.integers(1, 256, n, dtype=np.uint8).reshape(1, 1, 1, n) for n in sizes]


def test_only_whole_chunks_are_written_and_their_crcs_recorded(tmp_path):
    codes, crcs = arrays(tmp_path)
    buffer = ChunkBuffer(lambda: codes, 0, crcs=lambda: crcs)
    data = rows([C // 2, C // 2 + 10, C // 3, C])  # 2.33 chunks + 10 bytes
    placed = []
    for r in data[:2]:
        placed.append(buffer.append(r))
        assert buffer.written == 0 and codes.shape == (0,)  # appending writes nothing
    assert buffer.full and buffer.buffered == C + 10
    assert buffer.write() == 1
    assert (buffer.written, buffer.buffered, codes.shape, buffer.chunks) == (C, 10, (C,), 1)
    placed += [buffer.append(r) for r in data[2:]]
    assert buffer.write() == 1 and buffer.buffered == C // 3 + 10  # never a part of a chunk
    assert codes.shape == (2 * C,) and buffer.written == 2 * C
    assert buffer.write() == 0  # less than a chunk left: nothing to write yet
    flat = np.concatenate([r.reshape(-1) for r in data])
    assert np.array_equal(codes[:], flat[:2 * C])
    assert list(crcs[:]) == [crc32(flat[:C]), crc32(flat[C:2 * C])]
    # each row: where it starts, its own CRC-32, where it ends
    starts = np.cumsum([0] + [r.size for r in data[:-1]])
    assert placed == [(int(s), crc32(r.reshape(-1)), int(s) + r.size)
                      for s, r in zip(starts, data, strict=True)]


def test_the_last_chunk_is_padded_with_zeros_at_the_end(tmp_path):
    codes, crcs = arrays(tmp_path)
    buffer = ChunkBuffer(lambda: codes, 0, crcs=lambda: crcs)
    (data,) = rows([C + 123])
    buffer.append(data)
    assert buffer.write(final=True) == 2
    assert (buffer.written, buffer.buffered, buffer.chunks) == (2 * C, 0, 2)
    stored = codes[:]
    assert np.array_equal(stored[:C + 123], data.reshape(-1)) and not stored[C + 123:].any()
    assert crcs[1] == crc32(stored[C:])
    assert buffer.write(final=True) == 0  # nothing buffered: nothing more


def test_codes_end_covers_a_row_only_once_every_chunk_under_it_is_written(tmp_path):
    codes, crcs = arrays(tmp_path)
    buffer = ChunkBuffer(lambda: codes, 0, crcs=lambda: crcs)
    first = buffer.append(rows([C - 5])[0])
    second = buffer.append(rows([10], seed=1)[0])  # crosses into the second chunk
    assert not buffer.holds(first[2]) and not buffer.holds(second[2])
    buffer.write()
    assert buffer.holds(first[2]) and not buffer.holds(second[2])  # its tail is buffered
    buffer.write(final=True)
    assert buffer.holds(second[2])
    assert in_written_chunks(0, C, C) and not in_written_chunks(C - 5, 10, C)
    assert not in_written_chunks(-1, 1, C)  # ABSENT: no codes


def test_chunks_another_process_wrote_land_only_where_the_written_ones_end(tmp_path):
    codes, crcs = arrays(tmp_path, size=4 * C)
    buffer = ChunkBuffer(lambda: codes, C, crcs=lambda: crcs, chunks=1)
    with pytest.raises(StoreError, match=f"from {2 * C} land where the store's codes end at {C}"):
        buffer.land(2 * C, 3 * C, [7])  # a later region before the one in between
    with pytest.raises(StoreError, match="1 chunks written, not the planned 2"):
        buffer.land(C, 3 * C, [7])
    assert buffer.written == C and buffer.chunks == 1  # a refused landing changes nothing
    buffer.land(C, 3 * C, [7, 8])
    assert (buffer.written, buffer.chunks, list(crcs[1:3])) == (3 * C, 3, [7, 8])
    assert buffer.append(rows([3])[0])[0] == 3 * C  # the next codes follow the landed chunks
    with pytest.raises(StoreError, match="with codes buffered"):
        buffer.land(3 * C, 4 * C, [9])


def test_a_region_buffer_keeps_within_its_region_and_returns_its_crcs(tmp_path):
    codes, _ = arrays(tmp_path, size=3 * C)
    seen: list[str] = []
    buffer = ChunkBuffer(lambda: codes, C, end=3 * C, before_chunk=lambda: seen.append("before"),
                         after_chunk=lambda: seen.append("after"), name="region")
    (data,) = rows([C + 1])
    buffer.append(data)
    buffer.write(final=True)
    assert seen == ["before", "after"] * 2 and codes.shape == (3 * C,)  # reserved: not grown
    assert buffer.chunk_crcs == [crc32(codes[C:2 * C]), crc32(codes[2 * C:])]
    with pytest.raises(StoreError, match="runs past its region's end"):
        buffer.append(rows([1])[0])
    with pytest.raises(StoreError, match="not chunk-aligned"):
        ChunkBuffer(lambda: codes, 5)
    with pytest.raises(StoreError, match="codes with 2 maps per layer, the store keeps 3"):
        ChunkBuffer(lambda: codes, 0, heads=3).append(np.zeros((1, 2, 2, 2), np.uint8))


# --- a writer resumed after an interrupted run -------------------------------------------

N_LAYERS, N_HEADS, WORDS = 2, 4, 298  # 300 tokens: 720,000 bytes a row, ~5.8 rows a chunk
INFO = {"name": "synthetic", "revision": None, "weights_sha256": "0" * 64,
        "tokenizer_sha256": None, "n_layers": N_LAYERS, "n_heads": N_HEADS, "causal": False,
        "max_length": 512, "tokenizer": "synthetic"}
FINGERPRINT = {"weights_sha256": "0" * 64, "revision": None, "tokenizer_sha256": None,
               "max_length": 512}


def sentence(i: int):
    """Sentence i: WORDS words of its own, so each has its own content key."""
    return synthetic_sentence(f"s{i}", [f"w{i}x{j}" for j in range(WORDS)])


def codes_of(i: int) -> np.ndarray:
    """Sentence i's codes: random, from its number."""
    t = WORDS + 2
    return np.random.default_rng(i).integers(0, 256, (N_LAYERS, N_HEADS, t, t), dtype=np.uint8)


def test_a_writer_resumes_at_codes_end_after_an_interrupted_run(tmp_path):
    store = tmp_path / "atlas.zarr"
    with StoreLock(store):  # a run that commits after each chunk, then dies
        writer = StoreWriter(store, INFO, FINGERPRINT, commit_every=0.0)
        for i in range(14):
            assert writer.place(sentence(i)) is None
            writer.add(sentence(i), codes_of(i))
    _, meta = open_group_meta(store, mode="r")
    commit = meta["commit"]
    end, chunks = commit["codes_end"]["attention"], commit["chunks"]["attention"]
    row = codes_of(0).size
    assert end % C == 0 and chunks == end // C == 2  # whole chunks only: 10,080,000 bytes added
    assert commit["rows"] == end // row == 11  # the rows whose codes end below codes_end
    # the killed run also wrote a chunk it never committed: garbage above codes_end
    group = zarr.open_group(str(store), mode="r+")
    group["measures/attention/codes"].resize((end + C,))
    group["measures/attention/codes"][end:end + C] = 255

    with StoreLock(store):  # the next run: reuses what is committed, computes the rest
        writer = StoreWriter(store, INFO, FINGERPRINT)
        assert writer._codes["attention"].written == end  # new codes start at codes_end
        placed = [writer.place(sentence(i)) for i in range(16)]
        assert placed[:11] == list(range(11)) and placed[11:] == [None] * 5
        for i in range(11, 16):
            placed[i] = writer.add(sentence(i), codes_of(i))
        writer.finish(placed)

    atlas = AtlasStore.open(store)
    assert len(atlas) == 16
    for i in range(16):
        assert np.array_equal(atlas[f"s{i}"].codes(), codes_of(i)), i
    assert atlas[11].sentence.id == "s11" and atlas.row_offset(11) == end  # over the garbage
    report = verify_store(store)
    assert report.ok, report.problems
    _, meta = open_group_meta(store, mode="r")
    assert meta["commit"]["codes_end"]["attention"] == end + C * -(-5 * row // C)
