"""The sentence data file (pipeline/site_format.py): the golden file, the documented bytes, round trips.

tests/golden/sentence.bin is decoded here and, in a browser, by assets/maps.js
(tests/browser/test_pages.py); sentence.json holds the values it was written
from and the codes both readers must find.
"""

from __future__ import annotations

import gzip
import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

from pipeline.site_format import (
    decode_codes,
    decode_maps,
    decode_script,
    encode_maps,
    encode_script,
)
from pipeline.store import dequantize
from pipeline.testing import random_maps

GOLDEN = Path(__file__).parent / "golden"
TOLERANCE = 1 / 510 + 1e-6


@pytest.fixture(scope="module")
def golden() -> dict:
    return json.loads((GOLDEN / "sentence.json").read_text(encoding="utf-8"))


def test_golden_file_is_what_encode_maps_writes(golden):
    maps = np.array(golden["values"]["maps"], np.float32)
    special = np.array(golden["values"]["special"], np.float32)
    assert maps.shape == (golden["layers"], golden["heads"], golden["words"], golden["words"])
    assert encode_maps(maps, special) == (GOLDEN / "sentence.bin").read_bytes()


def test_golden_file_decodes_to_the_expected_codes(golden):
    blob = (GOLDEN / "sentence.bin").read_bytes()
    codes, special = decode_codes(blob)
    assert codes.tolist() == golden["codes"]["maps"] and special.tolist() == golden["codes"]["special"]
    maps, shares = decode_maps(blob)
    assert maps.dtype == shares.dtype == np.float32
    np.testing.assert_array_equal(maps, dequantize(np.array(golden["codes"]["maps"], np.uint8)))
    values = np.clip(np.array(golden["values"]["maps"]), 0, 1)  # outside [0, 1]: clipped
    assert np.abs(maps - values).max() <= TOLERANCE
    assert np.abs(shares - np.array(golden["values"]["special"])).max() <= TOLERANCE


def test_bytes_are_as_documented(golden):
    blob = (GOLDEN / "sentence.bin").read_bytes()
    assert blob[:10] == bytes.fromhex("1f8b 0800 0000 0000 00ff")  # the fixed gzip header
    body = gzip.decompress(blob)
    assert struct.unpack("<II", blob[-8:]) == (zlib.crc32(body), len(body))
    L, H, W = golden["layers"], golden["heads"], golden["words"]  # noqa: N806 - the docs' names
    assert body[:12] == b"ATLS" + struct.pack("<HHHH", 1, L, H, W)
    assert len(body) == 12 + L * H * W * W + L * H * W
    assert list(body[12:12 + W]) == golden["codes"]["maps"][0][0][0]  # layer 1, head 1, from word 1
    assert list(body[12 + L * H * W * W:]) == np.ravel(golden["codes"]["special"]).tolist()


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


@pytest.mark.parametrize("damage", ["magic", "version", "short", "long"])
def test_foreign_or_damaged_files_are_refused(golden, damage):
    body = bytearray(gzip.decompress((GOLDEN / "sentence.bin").read_bytes()))
    if damage == "magic":
        body[:4] = b"PK\x03\x04"
    elif damage == "version":
        body[4:6] = struct.pack("<H", 2)
    elif damage == "short":
        del body[-1]
    else:
        body += b"\x00"
    with pytest.raises(ValueError, match="not an atlas sentence file"):
        decode_maps(bytes(body))


def test_golden_script_carries_the_golden_file():
    """tests/golden/sentence.js is sentence.bin as the site ships it (maps.js reads it in a browser)."""
    blob = (GOLDEN / "sentence.bin").read_bytes()
    script = (GOLDEN / "sentence.js").read_bytes()
    assert encode_script(blob) == script
    assert decode_script(script) == blob


def test_script_bytes_are_as_documented():
    script = encode_script(bytes([0b10000000, 0b00000001, 0xFF]))  # 24 bits: two 15-bit groups
    assert script[:2] == b"\xff\xfe"  # UTF-16LE byte-order mark
    text = script.decode("utf-16")
    # bits 100000000000000|111111111 + 6 zero bits -> groups 0x4000, 0x7FC0 -> U+3000 + each
    assert text == 'atlasData("\u7000\uafc0",3);\n'
    assert len(encode_script(bytes(15 * 100))) == 2 * (1 + len('atlasData("') + 8 * 100 + len('",1500);\n'))


@pytest.mark.parametrize("size", [0, 1, 2, 14, 15, 16, 29, 30, 31, 1000, 4097])
def test_script_round_trip(size):
    blob = np.random.default_rng(size).integers(0, 256, size, dtype=np.uint8).tobytes()
    script = encode_script(blob)
    assert decode_script(script) == blob
    chars = script.decode("utf-16").split('"')[1]
    assert all(0x3000 <= ord(c) <= 0xAFFF for c in chars)  # no quote, backslash, line break, surrogate
    assert len(chars) == -(-8 * size // 15)


def test_bad_scripts_are_refused():
    with pytest.raises(ValueError, match="not an atlas data script"):
        decode_script("window.x = 1;".encode("utf-16"))
    with pytest.raises(ValueError, match="outside U\\+3000"):
        decode_script('atlasData("ab",1);'.encode("utf-16"))
