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

  // map k of a maps' codes (R x W each, as parseMaps gives them, R = W but for a cross-attention
  // map; a difference's codes are offset by its `offset`, 255, into its colours) drawn into a
  // canvas of W x R pixels
  function paint(canvas, { W, R = W, codes, offset = 0 }, k, colours) {
    canvas.width = W;
    canvas.height = R;
    const ctx = canvas.getContext("2d");
    const image = ctx.createImageData(W, R);
    const pixels = new Uint32Array(image.data.buffer);
    for (let i = 0; i < W * R; i++) pixels[i] = colours[codes[k * W * R + i] + offset];
    ctx.putImageData(image, 0, 0);
  }

  // every map of a maps' L x H heads drawn into one canvas of (H * W) x (L * W) pixels, head
  // (l, h)'s at ((h - 1) * W, (l - 1) * W), each in the colours `coloursOf(k)` gives it: the
  // sentence page's grid of thumbnails in one putImageData (144 canvases, each with its own
  // context, took 15-20 ms of a cold page)
  // (a map of R rows, R = W but for a cross-attention map, is R pixels tall)
  function paintSheet(canvas, { L, H, W, R = W, codes, offset = 0 }, coloursOf) {
    canvas.width = H * W;
    canvas.height = L * R;
    const ctx = canvas.getContext("2d");
    const image = ctx.createImageData(H * W, L * R);
    const pixels = new Uint32Array(image.data.buffer);
    for (let k = 0; k < L * H; k++) {
      const colours = coloursOf(k);
      const corner = Math.floor(k / H) * R * H * W + (k % H) * W; // its top left pixel
      for (let row = 0, at = k * W * R; row < R; row++) {
        const line = corner + row * H * W;
        for (let column = 0; column < W; column++, at++) pixels[line + column] = colours[codes[at] + offset];
      }
    }
    ctx.putImageData(image, 0, 0);
  }

  window.atlasPaint = { codeColours, differenceColours, paint, paintSheet };
})();
