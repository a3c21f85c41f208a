// Reads a sentence's data file, data/<page>.js. Its bytes are described once, in
// pipeline/site/data_format.py (which writes them); keep this reader in step with that description.
// tests/golden/sentence.bin is a tiny file that both readers must decode to the same codes.
// The bytes come as a script, atlasData("<chars>", N), because a page opened from disk may load
// scripts but not fetch files; this classic script defines atlasData and window.atlasMaps.
// It also holds the site's palettes, one table each (VIRIDIS, viridis; BLUE_ORANGE, blueOrange for
// a series' differences): every map painted on a canvas (the grid's thumbnails, the overview, a
// head page's small maps) takes its colours from them.
(() => {
  const SCALE = 255; // code = round(value * 255), as pipeline.store.quantize writes it
  const HEADER = 14; // "ATLS", <u2 version, L, H, W>, u8 layouts of the maps and of the shares
  const FORMAT = 2;
  const RECT_FORMAT = 3; // a rectangular map: <u2 R, C> in W's place, the layouts 2 bytes on
  // a data script's string holds the bytes as big-endian 16-bit values, one UTF-16 unit each,
  // except ESCAPED[k] (NUL, LF, CR, quote, backslash, U+2028, U+2029, U+D800..U+DFFF), written as
  // the surrogate pair (0xD800 + k >> 10, 0xDC00 + k & 1023): pipeline/site/data_format.py
  const SMALL = [0x00, 0x0a, 0x0d, 0x22, 0x5c, 0x2028, 0x2029];
  const escaped = (k) => (k < SMALL.length ? SMALL[k] : 0xd800 + k - SMALL.length);
  const loaded = new Map(); // a data script's URL -> its bytes (still gzipped)
  // Vega's palettes, stop for stop (vega-scale's schemes as RRGGBB), which the charts draw for
  // `scheme: viridis` (31 colours: every map) and `scheme: blueorange` (11 colours: a series'
  // difference of two checkpoints, symmetric around 0); tests/browser/test_pages.py and
  // test_series_sentence.py check each against Vega's own scale
  const stops = (hex) => hex.match(/.{6}/g).map((rgb) => [0, 2, 4].map((at) => parseInt(rgb.slice(at, at + 2), 16)));
  const VIRIDIS = stops("440154470e61481a6c482575472f7d443a834144873d4e8a39568c35608d31688e2d708e2a788e27818e23" +
    "888e21918d1f988b1fa08822a8842ab07f35b77943bf7154c56866cc5d7ad1518fd744a5db36bcdf27d2e21be9e51afde725");
  const BLUE_ORANGE = stops("134b852f78b35da2cb9dcae1d2e5eff2f0ebfce0bafbbf74e8932fc5690d994a07");

  // a code back to its value (pipeline.store.dequantize), within 1/510 of the store's
  const toValue = (code) => code / SCALE;

  // t in [0, 1] (clamped) -> [r, g, b], as Vega computes it: linear in RGB between the two
  // stops around t (d3's piecewise interpolateRgb), each channel rounded
  const ramp = (table) => (t) => {
    const n = table.length - 1;
    const x = Math.min(1, Math.max(0, t)) * n;
    const i = Math.max(0, Math.min(n - 1, Math.floor(x)));
    const [a, b] = [table[i], table[i + 1]];
    return a.map((v, k) => Math.round(v + (x - i) * (b[k] - v)));
  };
  const viridis = ramp(VIRIDIS);
  const blueOrange = ramp(BLUE_ORANGE);

  // a data script's string -> its N bytes (pipeline.site.data_format.decode_script)
  function unpack(units, size) {
    const out = new Uint8Array(size);
    let at = 0;
    for (let i = 0; i < units.length && at < size; i++) {
      let value = units.charCodeAt(i);
      if (value >= 0xd800 && value < 0xdc00) value = escaped(((value - 0xd800) << 10) | (units.charCodeAt(++i) - 0xdc00));
      out[at++] = value >> 8;
      if (at < size) out[at++] = value & 0xff;
    }
    return out;
  }

  // called by a data script as it runs: its bytes, keyed by the script's own URL
  window.atlasData = (chars, size) => {
    loaded.set(document.currentScript.src, unpack(chars, size));
  };

  // load a classic script once (a data file, or data/_index.js); resolves when it has run
  function loadScript(url) {
    const href = new URL(url, document.baseURI).href;
    const present = [...document.scripts].find((s) => s.src === href);
    if (present && (loaded.has(href) || present.dataset.done)) return Promise.resolve(href);
    return new Promise((resolve, reject) => {
      const script = present || Object.assign(document.createElement("script"), { src: href });
      script.addEventListener("load", () => { script.dataset.done = "1"; resolve(href); });
      script.addEventListener("error", () => reject(new Error(`${url} could not be loaded`)));
      if (!present) document.head.append(script);
    });
  }

  // gzip bytes inflated; bytes that are not gzip pass through
  async function inflate(bytes) {
    if (bytes[0] !== 0x1f || bytes[1] !== 0x8b) return bytes;
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
    return new Uint8Array(await new Response(stream).arrayBuffer());
  }

  // a data script's bytes, inflated (loading the script unless the page already ran it)
  async function fetchBytes(url) {
    const href = new URL(url, document.baseURI).href;
    if (!loaded.has(href)) await loadScript(href);
    if (!loaded.has(href)) throw new Error(`${url} holds no sentence data`);
    return inflate(loaded.get(href));
  }

  // inflated bytes -> { L, H, W, R, codes (L, H, R, W), special (L, H, R) }, codes as flat
  // Uint8Arrays: R rows (attending words) of W columns (attended words), R = W but for a
  // cross-attention map (version 3: target rows, source columns). The maps' layout 1, by word
  // pair with differences along the heads, and the shares' layout 1, differences from 255 minus
  // the row's sum, undone (pipeline/site/data_format.py)
  function parseMaps(bytes) {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const magic = String.fromCharCode(...bytes.subarray(0, 4));
    const rect = bytes.length >= HEADER + 2 && view.getUint16(4, true) === RECT_FORMAT;
    const start = rect ? HEADER + 2 : HEADER;
    const [version, L, H, R] = [4, 6, 8, 10].map((at) => (bytes.length >= HEADER ? view.getUint16(at, true) : 0));
    const W = rect ? view.getUint16(12, true) : R;
    const [layout, shares] = bytes.length >= start ? [bytes[start - 2], bytes[start - 1]] : [-1, -1];
    const size = L * H * R * W;
    if (magic !== "ATLS" || version !== (rect ? RECT_FORMAT : FORMAT) || layout > 1 || shares > 1 || bytes.length !== start + size + L * H * R) {
      throw new Error("the sentence's data file is not in the expected format");
    }
    let codes = bytes.subarray(start, start + size);
    if (layout === 1) {
      const stored = codes;
      const run = L * H;
      codes = new Uint8Array(size);
      for (let pair = 0, at = 0; pair < R * W; pair++) { // pair = row * W + column
        let code = 0;
        for (let k = 0; k < run; k++, at++) {
          code = (code + stored[at]) & 255;
          codes[k * R * W + pair] = code;
        }
      }
    }
    let special = bytes.subarray(start + size);
    if (shares === 1) {
      const stored = special;
      special = new Uint8Array(L * H * R);
      for (let row = 0; row < L * H * R; row++) {
        let sum = 0;
        for (let t = 0; t < W; t++) sum += codes[row * W + t];
        special[row] = (stored[row] + 255 - sum) & 255;
      }
    }
    return { L, H, W, R, codes, special };
  }

  window.atlasMaps = { SCALE, VIRIDIS, BLUE_ORANGE, toValue, viridis, blueOrange, unpack, loadScript, inflate, fetchBytes, parseMaps };
})();
