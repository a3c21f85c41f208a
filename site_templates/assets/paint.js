// Word maps painted on canvases, one pixel per word pair, in the colours of the site's viridis
// table (assets/maps.js; a series' differences in its diverging one): the sentence page's grid
// thumbnails (one sheet of them) and overview, and a head page's small maps. Shared by both pages
// (after maps.js); a classic script: window.atlasPaint.
(() => {
  const { toValue, viridis, blueOrange } = window.atlasMaps;

  // code -> RGBA (one 32-bit word, in the byte order of ImageData) through a colour bar's
  // domain, clamped: what Vega draws for the code's value on the chart with that domain (its
  // scale maps a value to (value - lo) * (1 / (hi - lo)), as computed here)
  function codeColours([lo, hi]) {
    const bytes = new Uint8Array(4 * 256);
    const k = 1 / (hi - lo);
    for (let code = 0; code < 256; code++) bytes.set([...viridis((toValue(code) - lo) * k), 255], 4 * code);
    return new Uint32Array(bytes.buffer);
  }

  // the same for a difference of two maps' codes (-255..255, at index code + 255), on the
  // diverging palette over a domain symmetric around 0
  function differenceColours([lo, hi]) {
    const bytes = new Uint8Array(4 * 511);
    const k = 1 / (hi - lo);
    for (let code = -255; code <= 255; code++) bytes.set([...blueOrange((toValue(code) - lo) * k), 255], 4 * (code + 255));
    return new Uint32Array(bytes.buffer);
  }

  // map k of a maps' codes (W x W each, as parseMaps gives them; a difference's codes are
  // offset by its `offset`, 255, into its colours) drawn into a W x W canvas
  function paint(canvas, { W, codes, offset = 0 }, k, colours) {
    canvas.width = W;
    canvas.height = W;
    const ctx = canvas.getContext("2d");
    const image = ctx.createImageData(W, W);
    const pixels = new Uint32Array(image.data.buffer);
    for (let i = 0; i < W * W; i++) pixels[i] = colours[codes[k * W * W + i] + offset];
    ctx.putImageData(image, 0, 0);
  }

  // every map of a maps' L x H heads drawn into one canvas of (H * C) x (L * R) pixels, head
  // (l, h)'s R x C map (rows x columns: W x W unless the maps say otherwise, as a part of an
  // encoder-decoder may) at ((h - 1) * C, (l - 1) * R), each in the colours `coloursOf(k)` gives
  // it: the sentence page's grid of thumbnails in one putImageData (144 canvases, each with its
  // own context, took 15-20 ms of a cold page)
  function paintSheet(canvas, { L, H, W, rows = W, cols = W, codes, offset = 0 }, coloursOf) {
    canvas.width = H * cols;
    canvas.height = L * rows;
    const ctx = canvas.getContext("2d");
    const image = ctx.createImageData(H * cols, L * rows);
    const pixels = new Uint32Array(image.data.buffer);
    for (let k = 0; k < L * H; k++) {
      const colours = coloursOf(k);
      const corner = Math.floor(k / H) * rows * H * cols + (k % H) * cols; // its top left pixel
      for (let row = 0, at = k * rows * cols; row < rows; row++) {
        const line = corner + row * H * cols;
        for (let column = 0; column < cols; column++, at++) pixels[line + column] = colours[codes[at] + offset];
      }
    }
    ctx.putImageData(image, 0, 0);
  }

  window.atlasPaint = { codeColours, differenceColours, paint, paintSheet };
})();
