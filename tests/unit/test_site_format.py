"""The sentence data file (pipeline/site/data_format.py): the golden file, the documented bytes, round trips.

tests/golden/sentence.bin (the maps' and the shares' layout 1) and sentence-plain.bin (both
layouts 0) are decoded here and, in a browser, by assets/maps.js (tests/browser/test_pages.py);
sentence.json and sentence-plain.json hold the values each was written from and the codes both
readers must find.
"""

from __future__ import annotations

import gzip
import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

from pipeline.site.data_format import (
    decode_codes,
    decode_maps,
    decode_script,
    encode_codes,
    encode_maps,
    encode_script,
)
from pipeline.store import dequantize, quantize
from pipeline.testing import random_maps

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
TOLERANCE = 1 / 510 + 1e-6


GOLDENS = {"sentence": (1, 1), "sentence-plain": (0, 0)}  # golden file -> its two layouts


@pytest.fixture(scope="module", params=sorted(GOLDENS))
def golden(request) -> dict:
    return {"name": request.param,
            **json.loads((GOLDEN / f"{request.param}.json").read_text(encoding="utf-8"))}


def test_golden_file_is_what_encode_maps_writes(golden):
    maps = np.array(golden["values"]["maps"], np.float32)
    special = np.array(golden["values"]["special"], np.float32)
    assert maps.shape == (golden["layers"], golden["heads"], golden["words"], golden["words"])
    assert encode_maps(maps, special) == (GOLDEN / f"{golden['name']}.bin").read_bytes()


def test_golden_file_decodes_to_the_expected_codes(golden):
    blob = (GOLDEN / f"{golden['name']}.bin").read_bytes()
    codes, special = decode_codes(blob)
    assert codes.tolist() == golden["codes"]["maps"] and special.tolist() == golden["codes"]["special"]
    maps, shares = decode_maps(blob)
    assert maps.dtype == shares.dtype == np.float32
    np.testing.assert_array_equal(maps, dequantize(np.array(golden["codes"]["maps"], np.uint8)))
    values = np.clip(np.array(golden["values"]["maps"]), 0, 1)  # outside [0, 1]: clipped
    assert np.abs(maps - values).max() <= TOLERANCE
    assert np.abs(shares - np.array(golden["values"]["special"])).max() <= TOLERANCE


def test_bytes_are_as_documented(golden):
    blob = (GOLDEN / f"{golden['name']}.bin").read_bytes()
    assert blob[:10] == bytes.fromhex("1f8b 0800 0000 0000 00ff")  # the fixed gzip header
    body = gzip.decompress(blob)
    assert struct.unpack("<II", blob[-8:]) == (zlib.crc32(body), len(body))
    L, H, W = golden["layers"], golden["heads"], golden["words"]  # noqa: N806 - the docs' names
    layout, shares = GOLDENS[golden["name"]]
    assert body[:14] == b"ATLS" + struct.pack("<HHHHBB", 2, L, H, W, layout, shares)
    assert len(body) == 14 + L * H * W * W + L * H * W
    codes = np.array(golden["codes"]["maps"], np.int64)  # (L, H, W, W)
    special = np.array(golden["codes"]["special"], np.int64)  # (L, H, W)
    stored = np.frombuffer(body, np.uint8, offset=14).astype(np.int64)
    maps, shares_stored = stored[:L * H * W * W], stored[L * H * W * W:]
    if layout == 0:  # (layer, head, from, to) as they are
        assert maps.tolist() == codes.ravel().tolist()
    else:  # word pair by word pair, each pair's L * H codes as differences along them
        runs = codes.transpose(2, 3, 0, 1).reshape(W * W, L * H)
        assert maps.tolist() == np.diff(runs, axis=1, prepend=0).ravel().__mod__(256).tolist()
    if shares == 0:
        assert shares_stored.tolist() == special.ravel().tolist()
    else:  # less 255 minus the row's sum
        assert shares_stored.tolist() == ((special - (255 - codes.sum(-1))) % 256).ravel().tolist()


@pytest.mark.parametrize(("layers", "heads", "words", "causal"),
                         [(1, 1, 1, False), (2, 3, 4, False), (6, 12, 25, False), (2, 4, 9, True),
                          (3, 2, 0, False)], ids=["1x1x1", "2x3x4", "6x12x25", "causal", "no-words"])
def test_round_trip_within_half_a_code(layers, heads, words, causal):
    maps, special = random_maps(np.random.default_rng(words), layers, heads, words, causal)
    blob = encode_maps(maps, special)
    got, got_special = decode_maps(blob)
    assert got.shape == maps.shape and got_special.shape == special.shape
    assert np.abs(got - maps).max(initial=0) <= TOLERANCE
    assert np.abs(got_special - special).max(initial=0) <= TOLERANCE
    assert encode_maps(maps, special) == blob  # deterministic
    assert decode_codes(gzip.decompress(blob))[0].shape == maps.shape  # an inflated body reads too


def test_each_layout_reads_back_and_the_chosen_packs_smaller():
    """Both layouts of the maps and of the shares give the codes back exactly; the encoder takes
    layout 1 for heads that attend alike with special tokens (each row and its share sum to 1)
    and layout 0 for unlike heads without them, and what it takes is the smaller."""
    rng = np.random.default_rng(7)
    unlike = random_maps(rng, 4, 6, 12, causal=True)
    unlike = (unlike[0] / unlike[0].sum(-1, keepdims=True), np.zeros_like(unlike[1]))  # no specials
    uniform = np.tril(np.ones((12, 12), np.float32)) / np.arange(2, 14, dtype=np.float32)[:, None]
    alike = (np.broadcast_to(uniform, (4, 6, 12, 12)) + rng.normal(0, 0.002, (4, 6, 12, 12)),
             np.broadcast_to(1 / np.arange(2, 14, dtype=np.float32), (4, 6, 12)))
    for (maps, special), chosen in ((unlike, (0, 0)), (alike, (1, 1))):
        codes, shares = quantize(maps), quantize(special)
        sizes = {}
        for layouts in ((0, 0), (0, 1), (1, 0), (1, 1)):
            blob = encode_codes(codes, shares, layouts)
            assert gzip.decompress(blob)[12:14] == bytes(layouts)
            got, got_shares = decode_codes(blob)
            np.testing.assert_array_equal(got, codes)
            np.testing.assert_array_equal(got_shares, shares)
            sizes[layouts] = len(blob)
        assert encode_codes(codes, shares) == encode_codes(codes, shares, chosen)
        assert sizes[chosen] == min(sizes.values()), sizes


@pytest.mark.parametrize("damage", ["magic", "version", "layout", "short", "long", "empty"])
def test_foreign_or_damaged_files_are_refused(damage):
    body = bytearray(gzip.decompress((GOLDEN / "sentence.bin").read_bytes()))
    if damage == "magic":
        body[:4] = b"PK\x03\x04"
    elif damage == "version":
        body[4:6] = struct.pack("<H", 1)  # the first format: no layouts
    elif damage == "layout":
        body[12] = 2
    elif damage == "empty":
        body = b"ATLS"
    elif damage == "short":
        del body[-1]
    else:
        body += b"\x00"
    with pytest.raises(ValueError, match="not an atlas sentence file"):
        decode_maps(bytes(body))


@pytest.mark.parametrize("name", sorted(GOLDENS))
def test_golden_script_carries_the_golden_file(name):
    """tests/golden/<name>.js is <name>.bin as the site ships it (maps.js reads it in a browser)."""
    blob = (GOLDEN / f"{name}.bin").read_bytes()
    script = (GOLDEN / f"{name}.js").read_bytes()
    assert encode_script(blob) == script
    assert decode_script(script) == blob


def test_script_bytes_are_as_documented():
    # 0x4142 as it is; 0x0022 (quote) and 0xD83D (a surrogate) escaped; 0xFF padded to 0xFF00
    script = encode_script(bytes([0x41, 0x42, 0x00, 0x22, 0xD8, 0x3D, 0xFF]))
    assert script[:2] == b"\xff\xfe"  # UTF-16LE byte-order mark
    text = script[2:].decode("utf-16-le")  # strict: every escape is a valid surrogate pair
    quote, surrogate = 3, 7 + 0x3D  # their places in ESCAPED; the pair of place k is U+10000 + k
    assert text == f'atlasData("\u4142{chr(0x10000 + quote)}{chr(0x10000 + surrogate)}\uff00",7);\n'
    assert len(encode_script(bytes(range(0x30, 0x50)))) == 2 * (1 + len('atlasData("') + 16 + len('",32);\n'))


@pytest.mark.parametrize("size", [0, 1, 2, 3, 14, 15, 16, 1000, 4097, 65536 * 2])
def test_script_round_trip(size):
    if size == 65536 * 2:  # every 16-bit value once, the escaped ones included
        blob = np.arange(65536, dtype=">u2").tobytes()
    else:
        blob = np.random.default_rng(size).integers(0, 256, size, dtype=np.uint8).tobytes()
    script = encode_script(blob)
    assert decode_script(script) == blob
    text = script[2:].decode("utf-16-le")  # strict: no lone surrogate
    string = text[len('atlasData("'):text.rindex('",')]
    assert not set(string) & {"\0", "\n", "\r", '"', "\\", "\u2028", "\u2029"}
    if size >= 1000:  # about 3 % more than the bytes on random (or compressed) data
        assert len(script) < 1.05 * size + 60


def test_bad_scripts_are_refused():
    with pytest.raises(ValueError, match="not an atlas data script"):
        decode_script("window.x = 1;".encode("utf-16"))
    with pytest.raises(ValueError, match="byte-order mark"):
        decode_script(b'atlasData("ab",1);')
    with pytest.raises(ValueError, match="broken escape"):
        decode_script(("\ufeffatlasData(\"a" + "\ud800" + 'b",3);').encode("utf-16-le", "surrogatepass"))
    with pytest.raises(ValueError, match="no value"):
        decode_script(("\ufeffatlasData(\"" + "\udbff\udfff" + '",2);').encode("utf-16-le", "surrogatepass"))
