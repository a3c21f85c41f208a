"""The site's per-sentence data file, shipped as `data/<page>.js`: the one description of its bytes.

A data file is one gzip member (RFC 1952) with a fixed header, so the same maps
give the same bytes on any machine:

    bytes 0-9     1f 8b 08 00 00 00 00 00 00 ff   gzip, deflate, no flags, mtime 0, OS unknown
    bytes 10-     raw deflate of the body (level 6, Z_RLE; any inflater reads it)
    last 8        CRC-32 of the body, then its length mod 2**32, both <u4

The body, little-endian, for a sentence of W words through a model of L layers
and H heads (H = 1 for per-layer measures):

    offset          size        field
    0               4           magic, the ASCII bytes "ATLS"
    4               2           <u2 format version, 2
    6               2           <u2 L, layers
    8               2           <u2 H, heads
    10              2           <u2 W, words
    12              1           u8 layout of the maps' codes: 0 or 1, below
    13              1           u8 layout of the special shares' codes: 0 or 1, below
    14              L*H*W*W     the word maps' codes
    14 + L*H*W*W    L*H*W       the special shares' codes

Version 3, for a rectangular map (an encoder-decoder model's cross-attention: R target words
attending to C source words; written only when R != C, so square maps keep version 2):

    0               4           magic, "ATLS"
    4               2           <u2 format version, 3
    6               2           <u2 L
    8               2           <u2 H
    10              2           <u2 R, rows (attending words)
    12              2           <u2 C, columns (attended words)
    14              1           u8 layout of the maps' codes
    15              1           u8 layout of the special shares' codes
    16              L*H*R*C     the word maps' codes, (layer, head, row, column)
    16 + L*H*R*C    L*H*R       the special shares' codes, one per row

with the layouts below read with R rows of C columns (layout 1: R*C pairs of L*H codes).

Layout of the maps, 0: the codes of the word maps, (layer, head, from word, to
word), in C order. Layout 1: word pair by word pair, (from word, to word) in C
order, each pair's L*H codes in (layer, head) order, each written as its
difference from the code before it in that run (mod 256; the first as it is).
Heads that attend alike (untrained models, heads that all look at the first word)
make those differences mostly 0, which deflate packs into runs.

Layout of the special shares, 0: their codes, (layer, head, from word), in C
order. Layout 1: the same order, each written as its difference (mod 256) from
255 minus the sum of its row's codes (the map's codes from that word): a row plus
its share sums to 1, so on a model with special tokens the difference is a
rounding error of a few codes.

The encoder chooses the layouts that should pack smaller (for the maps, the one
whose bytes have the lower order-0 entropy over every 7th word pair; for the
shares, the one whose codes lie nearer 0); the readers follow the two bytes.

A code is the store's 8-bit quantization: code = round(value * 255) with the
value clipped to [0, 1] (pipeline.store.quantize), read back as value = code / 255
(pipeline.store.dequantize), so a decoded value lies within 1/510 of the store's.
A word map's row is the attending word ("from"), its column the attended word
("to"); the special share is the part of a from-word's attention that went to
special tokens ([CLS], [SEP]), so a row of the map plus its share sums to 1.

Two readers, kept in step with this description: decode_codes below, and
parseMaps in site_templates/assets/maps.js (the browser). tests/golden/sentence.bin
(layouts 0 and 1) and tests/golden/sentence-pairs.bin (layouts 1 and 0) are tiny
files both decode.

The site ships these bytes as a script, `data/<page>.js`, because a page opened
from disk (file://) may load scripts but not fetch files. The script is UTF-16LE
with a byte-order mark (which browsers obey whatever a server says), one call:

    atlasData("<units>", N);

N is the number of bytes. The bytes, zero-padded to an even length, are read as
big-endian 16-bit values, and each value is one UTF-16 code unit of the string,
except the values a string literal cannot hold as they are or that a decoder would
not pass: NUL, line feed, carriage return, quote, backslash, U+2028, U+2029 and the
surrogates U+D800..U+DFFF. These 2,055 values, in that order, are ESCAPED; value
ESCAPED[k] is written as the surrogate pair (U+D800 + k // 1024, U+DC00 + k % 1024),
which a decoder passes and no plain value can start. On compressed bytes that is
1 + 2055 / 65536, about 3 % more than the bytes (base64 would add a third).
encode_script and decode_script below, and atlasData in maps.js, implement it.
"""

from __future__ import annotations

import gzip
import json
import struct
import zlib

import numpy as np

from pipeline.store import dequantize, quantize

MAGIC = b"ATLS"
FORMAT = 2
HEADER = struct.Struct("<4sHHHHBB")  # magic, version, L, H, W, maps' layout, shares' layout
RECT_FORMAT = 3  # a rectangular map (cross-attention): rows and columns differ
RECT_HEADER = struct.Struct("<4sHHHHHBB")  # magic, version, L, H, R, C, maps', shares' layouts
PLAIN, PAIRS = 0, 1  # the maps' layouts: as they are; by word pair, differences along the heads
RESIDUAL = 1  # the shares' layout: differences from 255 minus the row's sum
# Deflate with run-length matching only: attention codes are mostly small values with runs
# and few long repeats, so on real maps this is 8% smaller than gzip -6 and 5 times faster.
DEFLATE = dict(level=6, method=zlib.DEFLATED, wbits=-15, memLevel=9, strategy=zlib.Z_RLE)
GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"  # no name, mtime 0, OS unknown
SAMPLE = 7  # the layout is chosen on every 7th word pair: as well as on all, and faster


def encode_maps(maps: np.ndarray, special: np.ndarray) -> bytes:
    """Word maps (L, H, R, C) and special shares (L, H, R) -> a data file's bytes (R = C = W for
    a square map)."""
    return encode_codes(quantize(maps), quantize(special))


def encode_codes(codes: np.ndarray, special: np.ndarray,
                 layouts: tuple[int, int] | None = None) -> bytes:
    """uint8 codes of the maps (L, H, R, C) and shares (L, H, R) -> a data file's bytes, each in
    the layout that should pack smaller (or in `layouts`: the maps', the shares'); version 2
    for a square map (R = C), 3 for a rectangular one."""
    n_layers, n_heads, n_rows, n_columns = codes.shape
    assert special.shape == (n_layers, n_heads, n_rows), (codes.shape, special.shape)
    residual = _residual(codes, special)
    layout, shares = layouts or (PAIRS if _pairs_pack_smaller(codes) else PLAIN,
                                 RESIDUAL if _spread(residual) < _spread(special) else PLAIN)
    header = (HEADER.pack(MAGIC, FORMAT, n_layers, n_heads, n_rows, layout, shares)
              if n_rows == n_columns else
              RECT_HEADER.pack(MAGIC, RECT_FORMAT, n_layers, n_heads, n_rows, n_columns, layout, shares))
    return gzip_bytes(b"".join((header, (_pairs(codes) if layout == PAIRS else codes).tobytes(),
                                (residual if shares == RESIDUAL else special).tobytes())))


def _pairs(codes: np.ndarray) -> np.ndarray:
    """Layout 1 of the maps: (R, C, L*H), each code less the one before it along L*H (mod 256)."""
    n_layers, n_heads, n_rows, n_columns = codes.shape
    runs = codes.transpose(2, 3, 0, 1).reshape(n_rows, n_columns, n_layers * n_heads)
    out = runs.copy()
    np.subtract(runs[..., 1:], runs[..., :-1], out=out[..., 1:])  # uint8: wraps mod 256
    return out


def _residual(codes: np.ndarray, special: np.ndarray) -> np.ndarray:
    """Layout 1 of the shares: each less 255 minus its row's sum of codes (mod 256), that is
    each plus the sum plus 1 (mod 256: the sums are taken in uint8, which wraps)."""
    return special + codes.sum(axis=-1, dtype=np.uint8) + np.uint8(1)


def _pairs_pack_smaller(codes: np.ndarray) -> bool:
    """Whether layout 1 of the maps should pack smaller than layout 0: whether its bytes have the
    lower order-0 entropy, each taken over every SAMPLE-th word pair (all of its L*H codes)."""
    n_layers, n_heads, n_rows, n_columns = codes.shape
    runs = codes.reshape(n_layers * n_heads, n_rows * n_columns)[:, ::SAMPLE]  # (L*H, pairs)
    differences = runs.copy()
    np.subtract(runs[1:], runs[:-1], out=differences[1:])  # uint8: wraps mod 256
    return _entropy(differences) < _entropy(runs)


def _entropy(codes: np.ndarray) -> float:
    """The order-0 entropy of the bytes, in bits per byte."""
    counts = np.bincount(codes.reshape(-1), minlength=256)
    p = counts[counts > 0] / max(1, counts.sum())
    return float(-(p * np.log2(p)).sum())


def _spread(codes: np.ndarray) -> int:
    """How far codes lie from 0 (mod 256: 255 is 1 away)."""
    return int(np.minimum(codes, 0 - codes).sum(dtype=np.int64))  # uint8: 0 - c wraps to 256 - c


def gzip_bytes(data: bytes) -> bytes:
    """A gzip member with a fixed header, so the same data gives the same bytes anywhere."""
    deflate = zlib.compressobj(**DEFLATE)
    body = deflate.compress(data) + deflate.flush()
    return GZIP_HEADER + body + struct.pack("<II", zlib.crc32(data), len(data) & 0xFFFFFFFF)


SCRIPT_CALL = "atlasData"  # the function a data script calls (site_templates/assets/maps.js)
# the 16-bit values written as surrogate pairs: ESCAPED[k] -> (0xD800 + k // 1024, 0xDC00 + k % 1024)
ESCAPED = np.array([0x00, 0x0A, 0x0D, 0x22, 0x5C, 0x2028, 0x2029, *range(0xD800, 0xE000)], np.uint16)


# each 16-bit value's place in ESCAPED, -1 for the values written as they are
_PLACE = np.full(65536, -1, np.int16)
_PLACE[ESCAPED] = np.arange(len(ESCAPED))


def encode_script(blob: bytes) -> bytes:
    """A data file's bytes -> the script that carries them: UTF-16LE, BOM, `atlasData("...", N);`."""
    values = np.frombuffer(blob + b"\0" * (len(blob) % 2), ">u2")  # (ceil(N / 2),)
    place = _PLACE[values]
    at = np.flatnonzero(place >= 0)  # the escaped values
    k = place[at].astype(np.uint16)  # their places in ESCAPED
    units = values.astype("<u2")
    units[at] = 0xD800 + (k >> 10)  # the pair's first unit in the value's place,
    units = np.insert(units, at + 1, 0xDC00 + (k & 0x3FF))  # its second after it
    return ("\ufeff" + SCRIPT_CALL + '("').encode("utf-16-le") + units.tobytes() + \
        f'",{len(blob)});\n'.encode("utf-16-le")


def decode_script(script: bytes) -> bytes:
    """The inverse of encode_script: a data script's bytes -> the data file's bytes."""
    if script[:2] != b"\xff\xfe":
        raise ValueError("not an atlas data script (no UTF-16LE byte-order mark)")
    head, tail = (SCRIPT_CALL + '("').encode("utf-16-le"), '",'.encode("utf-16-le")
    body = script[2:]
    end = body.rfind(tail)
    if not body.startswith(head) or end < 0:
        raise ValueError(f"not an atlas data script (starts {body[:40].decode('utf-16-le', 'replace')!r})")
    size = int(body[end + len(tail):].decode("utf-16-le").strip().removesuffix(");"))
    units = np.frombuffer(body[len(head):end], "<u2").astype(np.int64)
    high = (units >= 0xD800) & (units < 0xDC00)
    at = np.flatnonzero(high)
    if at.size and (at[-1] + 1 >= len(units) or not ((units[at + 1] >= 0xDC00) & (units[at + 1] < 0xE000)).all()):
        raise ValueError("an atlas data script holds a broken escape (a surrogate not in a pair)")
    values = units.copy()
    k = ((units[at] - 0xD800) << 10) | (units[at + 1] - 0xDC00)
    if k.size and k.max() >= len(ESCAPED):
        raise ValueError("an atlas data script holds an escape of no value")
    values[at] = ESCAPED[k]
    low = np.zeros(len(units), bool)
    low[at + 1] = True
    return values[~low].astype(">u2").tobytes()[:size]


def decode_codes(blob: bytes) -> tuple[np.ndarray, np.ndarray]:
    """A data file (gzipped or already inflated) -> uint8 codes: maps (L, H, R, C), shares
    (L, H, R) (R = C = W for a square map, version 2)."""
    body = gzip.decompress(blob) if blob[:2] == GZIP_HEADER[:2] else blob
    if len(body) < HEADER.size:
        raise ValueError(f"not an atlas sentence file ({len(body)} bytes, no header)")
    version = struct.unpack_from("<H", body, 4)[0]
    if version == RECT_FORMAT and len(body) >= RECT_HEADER.size:
        magic, version, n_layers, n_heads, n_rows, n_columns, layout, shares = RECT_HEADER.unpack_from(body)
        start = RECT_HEADER.size
    else:
        magic, version, n_layers, n_heads, n_rows, layout, shares = HEADER.unpack_from(body)
        n_columns, start = n_rows, HEADER.size
    size = n_layers * n_heads * n_rows * n_columns
    if (magic != MAGIC or version not in (FORMAT, RECT_FORMAT) or layout not in (PLAIN, PAIRS)
            or shares not in (PLAIN, RESIDUAL)
            or len(body) != start + size + n_layers * n_heads * n_rows):
        raise ValueError(f"not an atlas sentence file (magic {magic!r}, version {version}, layouts "
                         f"{layout} and {shares}, {len(body)} bytes for {n_layers} x {n_heads} x "
                         f"{n_rows} x {n_columns})")
    codes = np.frombuffer(body, np.uint8, offset=start)
    maps = codes[:size]
    if layout == PAIRS:  # undo the differences along each pair's L*H run, then the order
        runs = np.cumsum(maps.reshape(n_rows, n_columns, n_layers * n_heads), axis=-1, dtype=np.uint8)
        maps = runs.reshape(n_rows, n_columns, n_layers, n_heads).transpose(2, 3, 0, 1)
    maps = np.ascontiguousarray(maps.reshape(n_layers, n_heads, n_rows, n_columns))
    special = codes[size:].reshape(n_layers, n_heads, n_rows)
    if shares == RESIDUAL:  # uint8 arithmetic wraps mod 256
        special = special - maps.sum(axis=-1, dtype=np.uint8) - np.uint8(1)
    return maps, special


def decode_maps(blob: bytes) -> tuple[np.ndarray, np.ndarray]:
    """The inverse of encode_maps, as float32 values: maps (L, H, R, C), shares (L, H, R)."""
    maps, special = decode_codes(blob)
    return dequantize(maps), dequantize(special)


def script_dumps(value, **kwargs) -> str:
    """json.dumps for `tojson`, with U+2028 and U+2029 escaped too: Jinja keeps them, and
    they are line breaks to editors and to JavaScript before ES2019."""
    return json.dumps(value, **kwargs).replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def js_global(name: str, value) -> str:
    """A script that sets window[name] to a JSON value (how a file:// page reads data), as
    JSON.parse('...'): browsers parse a JSON string much faster than the same object literal."""
    return f"window.{name}=JSON.parse('{_js_quoted(value)}');\n"


def _js_quoted(value) -> str:
    """A JSON value as js_global writes it inside its '...' (each character on its own: the
    bytes of an array are the bytes of its items, commas and brackets)."""
    text = script_dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return text.replace("\\", "\\\\").replace("'", "\\'")  # JSON has no raw line breaks
