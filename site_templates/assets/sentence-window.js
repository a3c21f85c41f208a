// The sentence page's sizes, and the window of a long sentence: the detail draws at most the
// words that fit at MIN_CELL pixels each, and an overview (the whole map, the window outlined)
// chooses which. Also the detail's rows (the selected head's word pairs in the window), which
// assets/figure.js reads too. After sentence-state.js (window.atlasSentence).
(() => {
  const S = window.atlasSentence;
  const { $, state, clamp } = S;
  const { toValue } = window.atlasMaps;

  const MIN_CELL = 10; // px: the detail's cells, so that its word labels are at least 9 px
  const DETAIL_PX = 440; // the detail's side when there is room
  const DETAIL_MIN = 150;
  const G = window.atlasGridFit;
  const GAP = 40; // px: .figure's gap between the grid and the detail (atlas.css)
  const BESIDE = 400; // px: the least room worth drawing the grid in beside the detail
  const GRID_CHROME = 46; // px: the grid chart's layer numbers, corner title and padding

  // the selected head's word pairs in the window: rows = from-word, columns = to-word (by index)
  // (`win`: [firstRow, lastRow, firstColumn, lastColumn), null: every word); R rows of W columns
  // (R = W but for an encoder-decoder model's cross part: target rows, source columns)
  function detailRows(layer, head, win = state.window) {
    const { H, W, R, codes, special } = state.maps;
    const [r0, r1, c0, c1] = win || [0, R, 0, W];
    const k = (layer - 1) * H + (head - 1);
    const rows = [];
    for (let f = r0; f < r1; f++) {
      const share = toValue(special[k * R + f]);
      for (let t = c0; t < c1; t++) {
        rows.push({ from: f, to: t, value: toValue(codes[(k * R + f) * W + t]), special: share, layer, head });
      }
    }
    return rows;
  }

  // ---- sizes: both charts fit the page's width (a phone's too) ----
  const roomFor = () => $("figure").clientWidth;

  // the grid beside the detail where the page leaves it BESIDE px (a desktop's), else above it at
  // the page's width; its cells sized to that room by assets/grid-fit.js, scrolling sideways
  // where a big model's heads do not fit at a tap target's size
  function gridLayout(spec) {
    const { H } = state.maps;
    const room = roomFor();
    const detail = $("detail").querySelector("canvas");
    const detailWidth = detail ? detail.getBoundingClientRect().width : state.size + 150 + state.tracks * 24;
    const beside = room - Math.ceil(detailWidth) - GAP;
    const box = beside >= BESIDE ? beside : room;
    const step = G.cellStep(box, H, GRID_CHROME, spec.width.step);
    return { step, box, beside: box !== room, scrolls: step * H + GRID_CHROME > box };
  }

  // the drawn grid placed: its box's width, the rail and note of a scrolling grid, the selected
  // head in view; a detail beside the grid stays in view down a tall grid (atlas.css)
  function placeGrid() {
    const { step, box, beside, scrolls } = state.gridLayout;
    $("grid").style.maxWidth = `${box}px`;
    $("figure").classList.toggle("beside", beside);
    G.place($("grid"), state.grid, { layers: state.maps.L, heads: state.maps.H, step, scrolls });
    revealHead();
  }

  const revealHead = () => G.reveal($("grid"), state.grid, state.head, state.step);

  // the detail's side: what the page's width leaves beside the labels, brackets and colour bar
  function detailSize(tracks) {
    const chrome = 150 + tracks * 24; // word labels and title, bracket rows, colour bar
    return clamp(roomFor() - chrome, DETAIL_MIN, DETAIL_PX);
  }

  // how many words fit along the detail's side at MIN_CELL pixels each
  const capacity = () => Math.max(1, Math.floor(state.size / MIN_CELL));

  // the detail's [width, height]: its side for the longer of the rows and columns drawn, so
  // that a rectangular map (cross: target x source) keeps square cells
  function detailBox() {
    const { W, R } = state.maps;
    const [r0, r1, c0, c1] = state.window || [0, R, 0, W];
    const n = Math.max(1, r1 - r0, c1 - c0);
    return [Math.round((state.size * Math.max(1, c1 - c0)) / n), Math.round((state.size * Math.max(1, r1 - r0)) / n)];
  }

  // ---- the window of a long sentence and the overview it is chosen on ----
  function setWindow(r0, r1, c0, c1) {
    const { W, R } = state.maps;
    const cap = capacity();
    const fit = (a, b, size) => { // at most `cap` words, inside the sentence
      const n = clamp(b - a, 1, Math.min(size, cap));
      const first = clamp(a, 0, size - n);
      return [first, first + n];
    };
    const [fr0, fr1] = fit(r0, r1, R);
    const [fc0, fc1] = fit(c0, c1, W);
    state.window = Math.max(W, R) > cap ? [fr0, fr1, fc0, fc1] : null;
  }

  // the overview (the whole map, the window outlined) and its note, made the first time they show
  function overviewBox() {
    if ($("overview")) return;
    const box = Object.assign(document.createElement("div"), { id: "overview", className: "overview" });
    const canvas = Object.assign(document.createElement("canvas"), { id: "overview-map" });
    canvas.setAttribute("aria-label", "the whole map; drag to choose the rows and columns drawn below");
    box.append(canvas, Object.assign(document.createElement("div"), { id: "brush", className: "brush" }));
    const note = Object.assign(document.createElement("p"), { id: "window-note", className: "note" });
    $("detail").before(box, note);
    bindOverview();
    S.paint(canvas, (state.layer - 1) * state.maps.H + (state.head - 1));
  }

  function showWindow() {
    if (!state.window && !$("overview")) return;
    overviewBox();
    const box = $("overview");
    const note = $("window-note");
    if (!state.window) {
      box.hidden = true;
      note.hidden = true;
      return;
    }
    const { W, R } = state.maps;
    const [r0, r1, c0, c1] = state.window;
    box.hidden = false;
    note.hidden = false;
    note.textContent = `${W === R ? W : `${R} \u00d7 ${W}`} words: rows ${r0 + 1}\u2013${r1} and columns ${c0 + 1}\u2013${c1} are ` +
      "drawn at full size. Drag on the small map (or tap it) to choose others.";
    Object.assign($("brush").style, {
      left: `${(100 * c0) / W}%`, width: `${(100 * (c1 - c0)) / W}%`,
      top: `${(100 * r0) / R}%`, height: `${(100 * (r1 - r0)) / R}%`,
    });
  }

  // the word (row, column) under a pointer on the overview
  function overviewCell(event) {
    const box = $("overview-map").getBoundingClientRect();
    const { W, R } = state.maps;
    const column = clamp(Math.floor(((event.clientX - box.left) / box.width) * W), 0, W - 1);
    const row = clamp(Math.floor(((event.clientY - box.top) / box.height) * R), 0, R - 1);
    return [row, column];
  }

  function bindOverview() {
    const canvas = $("overview-map");
    let start = null;
    canvas.addEventListener("pointerdown", (event) => {
      start = overviewCell(event);
      canvas.setPointerCapture(event.pointerId);
      event.preventDefault();
    });
    canvas.addEventListener("pointerup", (event) => {
      if (!start) return;
      const end = overviewCell(event);
      const cap = capacity();
      let [r0, r1] = [Math.min(start[0], end[0]), Math.max(start[0], end[0]) + 1];
      let [c0, c1] = [Math.min(start[1], end[1]), Math.max(start[1], end[1]) + 1];
      if (r1 - r0 < 3 && c1 - c0 < 3) { // a tap: a full window around it
        r0 = end[0] - Math.floor(cap / 2);
        c0 = end[1] - Math.floor(cap / 2);
        [r1, c1] = [r0 + cap, c0 + cap];
      }
      start = null;
      zoom(r0, r1, c0, c1);
    });
  }

  async function zoom(r0, r1, c0, c1) {
    setWindow(r0, r1, c0, c1);
    await redrawDetail();
  }

  function windowSignals() {
    const [r0, r1, c0, c1] = state.window || [0, 0, 0, 0];
    return { rows: [r0, r1], cols: [c0, c1] };
  }

  async function redrawDetail() {
    const { rows, cols } = windowSignals();
    const [width, height] = detailBox(); // a window of a rectangular map may change its shape
    if (state.detail.width() !== width || state.detail.height() !== height) state.detail.width(width).height(height);
    state.detail.signal("rows", rows).signal("cols", cols);
    state.detail.change("pairs", state.detail.changeset().remove(() => true)
      .insert(detailRows(state.layer, state.head)));
    showWindow();
    await state.detail.runAsync();
    S.detailDrawn?.(); // several rows' mean under the map (sentence-rows.js)
  }

  async function resizeDetail(size) {
    state.size = size;
    setWindow(...(state.window || [0, state.maps.R, 0, state.maps.W]));
    await redrawDetail();
  }

  // the colour bar and labels take what they need: shrink the map until the chart fits
  async function fitDetail() {
    const canvas = $("detail").querySelector("canvas");
    const over = canvas.getBoundingClientRect().width - roomFor();
    if (over > 1 && state.size > DETAIL_MIN) await resizeDetail(Math.max(DETAIL_MIN, state.size - Math.ceil(over)));
  }

  Object.assign(S, { detailRows, detailBox, gridLayout, placeGrid, revealHead, detailSize, setWindow, showWindow, zoom, windowSignals,
    redrawDetail, resizeDetail, fitDetail });
})();
