"""The store: the read API, the flat layout, reading with plain zarr, quantization, determinism."""

from __future__ import annotations

import numpy as np
import pytest
import zarr

from pipeline.corpus import read_corpus
from pipeline.errors import StoreError
from pipeline.extract.run import extract
from pipeline.store import CODES_CHUNK, INDEX_ARRAYS, AtlasStore, dequantize, quantize
from pipeline.testing import TINY

TINY_IDS = [item["id"] for item in TINY]


# --- the read API (README.md, "The store") ------------------------------------


def test_len_ids_and_lookup_by_id_and_position(minilm_store):
    store = AtlasStore.open(minilm_store)
    assert len(store) == len(TINY)
    assert store.ids == TINY_IDS
    assert store["pair-2"].id == "pair-2"
    assert store[1].id == "pair-2"
    assert store[-1].id == TINY_IDS[-1]
    assert [rec.id for rec in store] == TINY_IDS
    assert "short" in store and "nope" not in store


@pytest.mark.parametrize(("key", "error", "match"), [
    ("nope", KeyError, "no sentence with id 'nope'"),
    (len(TINY), IndexError, "out of range"),
    (-len(TINY) - 1, IndexError, "out of range"),
], ids=["unknown-id", "past-the-end", "before-the-start"])
def test_lookup_errors(minilm_store, key, error, match):
    with pytest.raises(error, match=match):
        AtlasStore.open(minilm_store)[key]


def test_record_fields(minilm_store):
    rec = AtlasStore.open(minilm_store)["pair-2"]
    assert rec.text == TINY[1]["text"]
    assert rec.words == ["<CHI>", "painted", "a", "picture", "of", "a", "horse",
                         "<CHI>", "my", "favorite", "animal", "is", "the"]
    assert rec.spans == [("ENV", 0, 7), ("LAN", 7, 13)]
    assert rec.tokens[:4] == ["[CLS]", "<", "chi", ">"]
    assert rec.word_index.shape == (len(rec.tokens),)
    assert rec.word_index.tolist()[:5] == [-1, 0, 0, 0, 1]
    assert rec.truncated is False and rec.meta == {}


def test_attention_and_word_attention_shapes_and_sums(minilm_store):
    store = AtlasStore.open(minilm_store)
    assert (store.model["n_layers"], store.model["n_heads"]) == (6, 12)
    for rec in store:
        t, w = len(rec.tokens), len(rec.words)
        att = rec.attention()
        assert att.dtype == np.float32 and att.shape == (6, 12, t, t)
        assert att.min() >= 0 and att.max() <= 1
        # softmax rows sum to 1, up to the quantization error of each of the T cells
        np.testing.assert_allclose(att.sum(-1), 1.0, atol=t / 510 + 1e-5)
        words = rec.word_attention()
        assert words.dtype == np.float32 and words.shape == (6, 12, w, w)
        # Clark et al.: a word's row plus its share to special tokens keeps the row total, 1
        np.testing.assert_allclose(words.sum(-1) + rec.special_share(), 1.0, atol=t / 510 + 1e-5)


def test_an_unknown_measure_is_a_store_error_naming_the_valid_ones(minilm_store):
    with pytest.raises(StoreError, match="no measure 'rollout'.*attention"):
        AtlasStore.open(minilm_store)[0].attention("rollout")


# --- the flat layout ---------------------------------------------------------


def arrays(group: zarr.Group) -> set[str]:
    """Paths of every array in a group, recursively."""
    return {name for name, member in group.members(max_depth=None) if isinstance(member, zarr.Array)}


def test_layout_is_flat_arrays_plus_an_offset_index(minilm_store):
    group = zarr.open_group(str(minilm_store), mode="r")
    commit = group.attrs["atlas"]["commit"]
    expected = {"measures/attention/codes", "measures/attention/chunk_crc32",
                "measures/attention/offset", "measures/attention/crc32",
                *(f"index/{name}" for name in INDEX_ARRAYS), commit["catalog_array"]}
    assert arrays(group) == expected
    assert commit["catalog_array"].startswith("catalog/row")
    codes = group["measures/attention/codes"]
    assert codes.dtype == np.uint8 and codes.ndim == 1
    assert codes.chunks == (CODES_CHUNK,) == (4 * 1024 * 1024,)
    assert group.attrs["atlas"]["codes_chunk"] == CODES_CHUNK
    # index arrays have one entry per row; codes cover whole chunks
    assert all(group[f"index/{n}"].shape == (commit["rows"],) for n in INDEX_ARRAYS)
    assert all(group[f"measures/attention/{n}"].shape == (commit["rows"],) for n in ("offset", "crc32"))
    assert codes.shape[0] == commit["codes_end"]["attention"] == commit["chunks"]["attention"] * CODES_CHUNK


def test_codes_are_compressed_on_disk(minilm_store):
    group = zarr.open_group(str(minilm_store), mode="r")
    store = AtlasStore.open(minilm_store)
    used = sum(rec.codes().size for rec in store)  # uint8 bytes of real codes
    chunk_files = sorted((minilm_store / "measures" / "attention" / "codes").rglob("c/*"))
    assert len(chunk_files) == group.attrs["atlas"]["commit"]["chunks"]["attention"]
    on_disk = sum(p.stat().st_size for p in chunk_files if p.is_file())
    # real attention codes hold about 4.8 bits of entropy per byte: zstd gets them to ~60%,
    # about 15% of float32's bytes
    assert 0 < on_disk < 0.7 * used


# --- reading with plain zarr (the docs/store.md recipe) ------------------------


def test_plain_zarr_recipe_reads_the_same_values(minilm_store):
    group = zarr.open_group(str(minilm_store), mode="r")
    atlas = group.attrs["atlas"]
    commit, model = atlas["commit"], atlas["model"]
    n_layers, n_heads = model["n_layers"], model["n_heads"]
    scale = atlas["quantization"]["scale"]
    catalog = group[commit["catalog_array"]][: commit["catalog"]]
    ids = [str(group["index/id"][int(row)]) for row in catalog]
    store = AtlasStore.open(minilm_store)
    assert ids == store.ids
    for sid, row in zip(ids, catalog, strict=True):
        offset = int(group["measures/attention/offset"][row])
        n = int(group["index/n_tokens"][row])
        flat = group["measures/attention/codes"][offset: offset + n_layers * n_heads * n * n]
        values = flat.reshape(n_layers, n_heads, n, n) / scale  # (layer, head, query, key)
        np.testing.assert_array_equal(values.astype(np.float32), store[sid].attention())


# --- quantization ------------------------------------------------------------


def test_quantization_error_is_within_half_a_step():
    values = np.concatenate([np.linspace(0, 1, 100_001), np.random.default_rng(0).random(10_000)])
    codes = quantize(values)
    assert codes.dtype == np.uint8
    assert np.abs(dequantize(codes) - values).max() <= 1 / 510 + 1e-7
    assert quantize(np.array([-0.5, 0.0, 1.0, 1.5])).tolist() == [0, 0, 255, 255]
    assert dequantize(np.array([0, 255], np.uint8)).tolist() == [0.0, 1.0]


# --- determinism -------------------------------------------------------------


def test_two_fresh_extractions_are_byte_identical(tiny_corpus, gpt2, gpt2_store, tmp_path):
    again = tmp_path / "atlas.zarr"
    extract(read_corpus(tiny_corpus).sentences, again, gpt2, progress=False)
    a, b = zarr.open_group(str(gpt2_store), mode="r"), zarr.open_group(str(again), mode="r")
    assert a.attrs["atlas"]["commit"] == b.attrs["atlas"]["commit"]
    names = ["measures/attention/codes", "measures/attention/chunk_crc32",
             *(f"index/{n}" for n in INDEX_ARRAYS), a.attrs["atlas"]["commit"]["catalog_array"]]
    for name in names:
        x, y = a[name][:], b[name][:]
        assert x.dtype == y.dtype and x.shape == y.shape, name
        if x.dtype.kind in "iu":
            assert x.tobytes() == y.tobytes(), name
        else:
            assert [str(v) for v in x] == [str(v) for v in y], name
    chunk_dir = "measures/attention/codes/c"
    for path in sorted((gpt2_store / chunk_dir).rglob("*")):
        if path.is_file():
            assert path.read_bytes() == (again / chunk_dir / path.relative_to(gpt2_store / chunk_dir)
                                         ).read_bytes(), path.name


def test_a_command_ends_without_zarrs_exit_traceback_while_its_io_thread_is_busy(tmp_path):
    """zarr's exit handler gives its I/O thread 0.2 s, then closes the loop: on a busy
    machine that printed "Cannot close a running event loop" after a command that worked.
    The store's own handler (registered after zarr's, so run first) waits for the thread."""
    import subprocess
    import sys

    script = (
        "import sys, time\n"
        "import zarr\n"
        "if sys.argv[1] == 'atlas':\n"
        "    import pipeline.store.layout\n"
        "from zarr.core import sync\n"
        "zarr.open_group(sys.argv[2], mode='w').attrs['x'] = 1\n"
        "sync.loop[0].call_soon_threadsafe(time.sleep, 1.0)  # busy as the process exits\n")
    runs = {which: subprocess.run([sys.executable, "-c", script, which, str(tmp_path / which)],
                                  capture_output=True, text=True, timeout=120)
            for which in ("zarr", "atlas")}
    assert "Cannot close a running event loop" in runs["zarr"].stderr  # what it guards against
    assert runs["atlas"].returncode == 0 and runs["atlas"].stderr == ""
