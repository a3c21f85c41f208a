"""The site's per-sentence data file, `data/<page>.bin`: the one description of its bytes.

A data file is one gzip member (RFC 1952) with a fixed header, so the same maps
give the same bytes on any machine:

    bytes 0-9     1f 8b 08 00 00 00 00 00 00 ff   gzip, deflate, no flags, mtime 0, OS unknown
    bytes 10-     raw deflate of the body (level 6, Z_RLE; any inflater reads it)
    last 8        CRC-32 of the body, then its length mod 2**32, both <u4

The body, little-endian, for a sentence of W words through a model of L layers
and H heads:

    offset          size        field
    0               4           magic, the ASCII bytes "ATLS"
    4               2           <u2 format version, 1
    6               2           <u2 L, layers
    8               2           <u2 H, heads
    10              2           <u2 W, words
    12              L*H*W*W     uint8 codes of the word maps, (layer, head, from word, to word), C order
    12 + L*H*W*W    L*H*W       uint8 codes of the special shares, (layer, head, from word), C order

A code is the store's 8-bit quantization: code = round(value * 255) with the
value clipped to [0, 1] (pipeline.store.quantize), read back as value = code / 255
(pipeline.store.dequantize), so a decoded value lies within 1/510 of the store's.
A word map's row is the attending word ("from"), its column the attended word
("to"); the special share is the part of a from-word's attention that went to
special tokens ([CLS], [SEP]), so a row of the map plus its share sums to 1.

Two readers, kept in step with this description: decode_maps below, and
parseMaps in site_templates/assets/maps.js (the browser). tests/golden/sentence.bin
is a tiny file both decode.

The site ships these bytes as a script, `data/<page>.js`, because a page opened
from disk (file://) may load scripts but not fetch files. The script is UTF-16LE
with a byte-order mark (which browsers obey whatever a server says), one call:

    atlasData("<chars>", N);

N is the number of bytes; the bytes, as one bit string (most significant bit
first, zero-padded at the end), are cut into 15-bit groups, and each group g is the
character U+3000 + g (U+3000..U+AFFF: no surrogate, quote, backslash or line break),
so the data takes 16/15 of its size plus a few dozen bytes (base64 would take 4/3).
encode_script and decode_script below, and atlasData in maps.js, implement it.
"""

from __future__ import annotations

import gzip
import struct
import zlib

import numpy as np

from pipeline.store import dequantize, quantize

MAGIC = b"ATLS"
FORMAT = 1
HEADER = struct.Struct("<4sHHHH")  # magic, version, L, H, W
# Deflate with run-length matching only: attention codes are mostly small values with runs
# and few long repeats, so on real maps this is 8% smaller than gzip -6 and 5 times faster.
DEFLATE = dict(level=6, method=zlib.DEFLATED, wbits=-15, memLevel=9, strategy=zlib.Z_RLE)
GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"  # no name, mtime 0, OS unknown


def encode_maps(maps: np.ndarray, special: np.ndarray) -> bytes:
    """Word maps (L, H, W, W) and special shares (L, H, W) -> a data file's bytes."""
    n_layers, n_heads, n_words, _ = maps.shape
    assert special.shape == (n_layers, n_heads, n_words), (maps.shape, special.shape)
    header = HEADER.pack(MAGIC, FORMAT, n_layers, n_heads, n_words)
    return gzip_bytes(header + quantize(maps).tobytes() + quantize(special).tobytes())


def gzip_bytes(data: bytes) -> bytes:
    """A gzip member with a fixed header, so the same data gives the same bytes anywhere."""
    deflate = zlib.compressobj(**DEFLATE)
    body = deflate.compress(data) + deflate.flush()
    return GZIP_HEADER + body + struct.pack("<II", zlib.crc32(data), len(data) & 0xFFFFFFFF)


SCRIPT_CALL = "atlasData"  # the function a data script calls (site_templates/assets/maps.js)
SCRIPT_BASE = 0x3000  # the character of the 15-bit group 0
SCRIPT_BITS = 15


def encode_script(blob: bytes) -> bytes:
    """A data file's bytes -> the script that carries them: UTF-16LE, BOM, `atlasData("...", N);`."""
    bits = np.unpackbits(np.frombuffer(blob, np.uint8))  # (8 N,), most significant bit first
    bits = np.concatenate([bits, np.zeros(-len(bits) % SCRIPT_BITS, np.uint8)])
    weights = 1 << np.arange(SCRIPT_BITS - 1, -1, -1, dtype=np.uint16)  # (15,)
    groups = bits.reshape(-1, SCRIPT_BITS).astype(np.uint16) @ weights  # (ceil(8 N / 15),)
    chars = (groups + SCRIPT_BASE).astype("<u2").tobytes()
    return ("\ufeff" + SCRIPT_CALL + '("').encode("utf-16-le") + chars + \
        f'",{len(blob)});\n'.encode("utf-16-le")


def decode_script(script: bytes) -> bytes:
    """The inverse of encode_script: a data script's bytes -> the data file's bytes."""
    text = script.decode("utf-16")  # the BOM names the byte order
    head = SCRIPT_CALL + '("'
    if not text.startswith(head) or '",' not in text:
        raise ValueError(f"not an atlas data script (starts {text[:20]!r})")
    chars, _, tail = text[len(head):].rpartition('",')
    size = int(tail.rstrip().removesuffix(");"))
    groups = np.frombuffer(chars.encode("utf-16-le"), "<u2").astype(np.int64) - SCRIPT_BASE
    if groups.size and (groups.min() < 0 or groups.max() >= 1 << SCRIPT_BITS):
        raise ValueError("an atlas data script holds a character outside U+3000..U+AFFF")
    bits = (groups[:, None] >> np.arange(SCRIPT_BITS - 1, -1, -1)) & 1  # (groups, 15)
    return np.packbits(bits.astype(np.uint8).ravel())[:size].tobytes()


def decode_codes(blob: bytes) -> tuple[np.ndarray, np.ndarray]:
    """A data file (gzipped or already inflated) -> uint8 codes: maps (L, H, W, W), shares (L, H, W)."""
    body = gzip.decompress(blob) if blob[:2] == GZIP_HEADER[:2] else blob
    magic, version, n_layers, n_heads, n_words = HEADER.unpack_from(body)
    size = n_layers * n_heads * n_words * n_words
    if magic != MAGIC or version != FORMAT or len(body) != HEADER.size + size + n_layers * n_heads * n_words:
        raise ValueError(f"not an atlas sentence file (magic {magic!r}, version {version}, "
                         f"{len(body)} bytes for {n_layers} x {n_heads} x {n_words})")
    codes = np.frombuffer(body, np.uint8, offset=HEADER.size)
    maps = codes[:size].reshape(n_layers, n_heads, n_words, n_words)
    special = codes[size:].reshape(n_layers, n_heads, n_words)
    return maps, special


def decode_maps(blob: bytes) -> tuple[np.ndarray, np.ndarray]:
    """The inverse of encode_maps, as float32 values: maps (L, H, W, W), shares (L, H, W)."""
    maps, special = decode_codes(blob)
    return dequantize(maps), dequantize(special)
