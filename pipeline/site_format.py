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
