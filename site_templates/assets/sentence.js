// The sentence page: binds the site's shared grid and detail specs (assets/specs.js) to this
// sentence's maps (data/<page>.js, read by maps.js). A classic script, like every script of the
// site, so that the page also works opened from disk.
// The address's fragment is the page's state: `#l4h7`, then any other `key=value` parts (the
// measure, `m=grad`; the index's list: search, filters, order), which previous / next carry along.
// The measure selector (attention, rollout, ...: only those the store holds, the default first)
// redraws both charts from that measure's data script (data/<page>.<m>.js) and specs.
(() => {
  const { toValue, fetchBytes, parseMaps, loadScript } = window.atlasMaps;
  const L = window.atlasList;
  const $ = (id) => document.getElementById(id);
  const page = JSON.parse($("atlas-sentence").textContent);
  const state = {
    layer: 1, head: 1, params: [], maps: null, grid: null, detail: null, size: 0, step: 0,
    window: null, // [firstRow, lastRow, firstColumn, lastColumn) of a long sentence, else null
    list: null, timings: {},
    measure: page.measures[0].name, // the measure on show (`m` in the fragment; none: the default)
    figure: page.measures[0].figure, // its figure's key in window.atlasSpecs (assets/figure.js)
    loaded: {}, // measure -> its maps (a promise), read once
    headBefore: null, // the head chosen before a per-layer measure (one map per layer) showed
    switches: 0, // measure switches asked for
  };
  window.atlas = state; // for tests and the benchmark: state.select(l, h), state.ready

  const MIN_CELL = 10; // px: the detail's cells, so that its word labels are at least 9 px
  const DETAIL_PX = 440; // the detail's side when there is room
  const DETAIL_MIN = 150;
  const GRID_MIN_STEP = 12;
  const clamp = (x, lo, hi) => Math.min(hi, Math.max(lo, x));

  // ---- the fragment ----
  function readFragment() {
    let head = null;
    const rest = [];
    for (const [key, value] of L.split(location.hash)) {
      const match = value === null && /^l(\d+)h(\d+)$/.exec(key);
      if (match && !head) head = [Number(match[1]), Number(match[2])];
      else if (!match) rest.push([key, value]);
    }
    return { head, rest };
  }
  const fragment = () => L.join([[`l${state.layer}h${state.head}`, null], ...state.params]);

  // another part of the page (a measure selector, say) reads and sets its own key of the fragment
  const param = (key) => (state.params.find(([k]) => k === key) || [null, null])[1];
  function setParam(key, value) {
    state.params = state.params.filter(([k]) => k !== key);
    if (value !== null && value !== undefined && value !== "") state.params.push([key, String(value)]);
    writeFragment();
  }

  function writeFragment() {
    const hash = `#${fragment()}`;
    if (location.hash !== hash) history.replaceState(null, "", hash);
    updateNav();
  }

  // ---- measures ----
  const DEFAULT = page.measures[0].name;
  const measureView = (name) => page.measures.find((m) => m.name === name);

  // the measure the fragment names: `m` (none, or one this page does not offer: the default)
  const wantedMeasure = () => (measureView(param("m")) ? param("m") : DEFAULT);

  // the fragment names the measure on show, and only when it is not the default (an unknown
  // or needless `m` is corrected in the address)
  function syncMeasureParam() {
    const value = state.measure === DEFAULT ? null : state.measure;
    if (param("m") !== value) setParam("m", value);
  }

  // a measure's maps, read once (the default's data script is already on the page)
  function loadMeasure(name) {
    if (!state.loaded[name]) state.loaded[name] = fetchBytes(measureView(name).data).then(parseMaps);
    return state.loaded[name];
  }

  // switch both charts to another measure, keeping the layer and (where it has heads) the head
  async function showMeasure(name, layer = state.layer, head = null) {
    const view = measureView(name);
    if (!view) throw new Error(`this page has no measure ${name}`);
    const turn = ++state.switches; // a later switch, asked while this one loads, wins
    const maps = await loadMeasure(name);
    if (turn !== state.switches) return;
    if (head === null) {
      if (state.maps.H > 1 && maps.H === 1) state.headBefore = state.head;
      head = state.maps.H === 1 && state.headBefore ? state.headBefore : state.head;
    }
    state.measure = name;
    state.figure = view.figure;
    state.maps = maps;
    $("measure").value = name;
    $("figure").dataset.measure = name;
    await drawCharts(clamp(layer, 1, maps.L), clamp(head, 1, maps.H));
    syncMeasureParam();
    describe(state.layer, state.head);
    writeFragment();
  }

  // ---- colours and data ----
  // code -> RGBA as one 32-bit word, through the detail's own colour scale (viridis, clamped)
  function colourTable(scale) {
    const ctx = document.createElement("canvas").getContext("2d", { willReadFrequently: true });
    const table = new Uint32Array(256);
    for (let code = 0; code < 256; code++) {
      ctx.clearRect(0, 0, 1, 1);
      ctx.fillStyle = scale(toValue(code));
      ctx.fillRect(0, 0, 1, 1);
      table[code] = new Uint32Array(ctx.getImageData(0, 0, 1, 1).data.buffer)[0];
    }
    return table;
  }

  // one head's W x W map drawn into a canvas of W x W pixels
  function paint(canvas, k) {
    const { W, codes } = state.maps;
    canvas.width = W;
    canvas.height = W;
    const ctx = canvas.getContext("2d");
    const image = ctx.createImageData(W, W);
    const pixels = new Uint32Array(image.data.buffer);
    for (let i = 0; i < W * W; i++) pixels[i] = state.colours[codes[k * W * W + i]];
    ctx.putImageData(image, 0, 0);
  }

  // one W x W thumbnail per head, as data: URLs for the grid's image marks
  function gridRows() {
    const { L: layers, H } = state.maps;
    const canvas = document.createElement("canvas");
    const rows = [];
    for (let l = 0; l < layers; l++) {
      for (let h = 0; h < H; h++) {
        paint(canvas, l * H + h);
        rows.push({ layer: l + 1, head: h + 1, url: canvas.toDataURL() });
      }
    }
    return rows;
  }

  // the selected head's word pairs in the window: rows = from-word, columns = to-word (by index)
  // (`win`: [firstRow, lastRow, firstColumn, lastColumn), null: every word)
  function detailRows(layer, head, win = state.window) {
    const { H, W, codes, special } = state.maps;
    const [r0, r1, c0, c1] = win || [0, W, 0, W];
    const k = (layer - 1) * H + (head - 1);
    const rows = [];
    for (let f = r0; f < r1; f++) {
      const share = toValue(special[k * W + f]);
      for (let t = c0; t < c1; t++) {
        rows.push({ from: f, to: t, value: toValue(codes[(k * W + f) * W + t]), special: share, layer, head });
      }
    }
    return rows;
  }

  function bind(spec, datasets, params) {
    spec.datasets = datasets;
    for (const param of spec.params || []) {
      if (param.name in params) param.value = params[param.name];
    }
    return spec;
  }

  // ---- sizes: both charts fit the page's width (a phone's too) ----
  const roomFor = () => $("figure").clientWidth;

  function gridStep(spec) {
    const base = spec.width.step;
    const fit = Math.floor((roomFor() - 60) / state.maps.H); // 60 px: the layer axis and title
    return clamp(fit, GRID_MIN_STEP, base);
  }

  function setGridStep(spec, step) {
    spec.width = { step };
    spec.height = { step };
    for (const layer of spec.layer) {
      if (layer.mark.type === "image") Object.assign(layer.mark, { width: step - 4, height: step - 4 });
    }
    return spec;
  }

  // the detail's side: what the page's width leaves beside the labels, brackets and colour bar
  function detailSize(tracks) {
    const chrome = 150 + tracks * 24; // word labels and title, bracket rows, colour bar
    return clamp(roomFor() - chrome, DETAIL_MIN, DETAIL_PX);
  }

  // how many words fit along the detail's side at MIN_CELL pixels each
  const capacity = () => Math.max(1, Math.floor(state.size / MIN_CELL));

  // ---- the window of a long sentence and the overview it is chosen on ----
  function setWindow(r0, r1, c0, c1) {
    const { W } = state.maps;
    const cap = capacity();
    const fit = (a, b) => { // at most `cap` words, inside the sentence
      const n = clamp(b - a, 1, Math.min(W, cap));
      const first = clamp(a, 0, W - n);
      return [first, first + n];
    };
    const [fr0, fr1] = fit(r0, r1);
    const [fc0, fc1] = fit(c0, c1);
    state.window = W > cap ? [fr0, fr1, fc0, fc1] : null;
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
    paint(canvas, (state.layer - 1) * state.maps.H + (state.head - 1));
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
    const { W } = state.maps;
    const [r0, r1, c0, c1] = state.window;
    box.hidden = false;
    note.hidden = false;
    note.textContent = `${W} words: rows ${r0 + 1}\u2013${r1} and columns ${c0 + 1}\u2013${c1} are ` +
      "drawn at full size. Drag on the small map (or tap it) to choose others.";
    Object.assign($("brush").style, {
      left: `${(100 * c0) / W}%`, width: `${(100 * (c1 - c0)) / W}%`,
      top: `${(100 * r0) / W}%`, height: `${(100 * (r1 - r0)) / W}%`,
    });
  }

  // the word (row, column) under a pointer on the overview
  function overviewCell(event) {
    const box = $("overview-map").getBoundingClientRect();
    const { W } = state.maps;
    const column = clamp(Math.floor(((event.clientX - box.left) / box.width) * W), 0, W - 1);
    const row = clamp(Math.floor(((event.clientY - box.top) / box.height) * W), 0, W - 1);
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
    state.detail.signal("rows", rows).signal("cols", cols);
    state.detail.change("pairs", state.detail.changeset().remove(() => true)
      .insert(detailRows(state.layer, state.head)));
    showWindow();
    await state.detail.runAsync();
  }

  // ---- selection ----
  function describe(layer, head) {
    const { H, W, special } = state.maps;
    const k = (layer - 1) * H + (head - 1);
    let sum = 0;
    for (let f = 0; f < W; f++) sum += special[k * W + f];
    const share = W ? toValue(sum / W) : 0;
    const { title } = measureView(state.measure);
    const unit = H === 1 ? "layer" : "head";
    $("detail-title").textContent = H === 1 ? `layer ${layer}, all heads (${state.measure})`
      : `layer ${layer}, head ${head}` + (state.measure === "attention" ? "" : ` (${state.measure})`);
    $("special-note").textContent = share > 0
      ? `Special tokens ([CLS]/[SEP]) receive ${(100 * share).toFixed(1)}% of this ${unit}'s ${title}, ` +
        "averaged over the words; each word's share is in the tooltip. Rows show the rest."
      : `No ${title} goes to special tokens in this ${unit}.`;
    $("figure").dataset.selected = `l${layer}h${head}`;
    if ($("overview")) paint($("overview-map"), k);
    headLink(layer, head);
  }

  // the head page of the head on show (the corpus view), where the site has one for the measure
  function headLink(layer, head) {
    const link = $("head-page");
    const pattern = measureView(state.measure).headPage;
    if (!link) return;
    link.hidden = !pattern;
    if (pattern) {
      link.href = pattern.replace("{layer}", layer).replace("{head}", head);
      link.textContent = state.maps.H === 1 ? `layer ${layer} across the corpus` : `layer ${layer}, head ${head} across the corpus`;
    }
  }

  async function select(layer, head, { hash = true } = {}) {
    const { L: layers, H } = state.maps;
    state.layer = clamp(Math.round(layer) || 1, 1, layers);
    state.head = clamp(Math.round(head) || 1, 1, H);
    if (H > 1) state.headBefore = null; // a head chosen: a per-layer measure's visit is over
    state.grid.signal("selLayer", state.layer).signal("selHead", state.head);
    describe(state.layer, state.head);
    if (hash) writeFragment();
    else updateNav();
    await Promise.all([state.grid.runAsync(), redrawDetail()]);
  }

  // the grid cell under a pointer (mouse or touch), from the view's own scales: Vega's click
  // item comes from the last hover, which a tap never makes
  function gridCell(event) {
    const view = state.grid;
    const box = view.container().querySelector("canvas").getBoundingClientRect();
    const [ox, oy] = view.origin(); // of the plot, inside the padding
    const { left, top } = view.padding();
    const at = (scale, v) => scale.domain().find((d) => v >= scale(d) && v < scale(d) + scale.step());
    const head = at(view.scale("x"), event.clientX - box.left - left - ox);
    const layer = at(view.scale("y"), event.clientY - box.top - top - oy);
    return layer && head ? [layer, head] : null;
  }

  // ---- previous / next ----
  function go(rel) {
    const link = $(rel);
    if (link && link.hasAttribute("href")) location.href = link.href;
  }

  function setLink(id, name) {
    const link = $(id);
    if (name) link.setAttribute("href", `${encodeURIComponent(name)}.html#${fragment()}`);
    else link.removeAttribute("href");
  }

  const corpus = { prev: $("prev").getAttribute("href"), next: $("next").getAttribute("href"),
    position: $("position").textContent };
  const CORPUS_NOTE = "Previous and next (keys [ ]) keep the selected head and follow the corpus order.";

  function updateNav() {
    const listPairs = state.params.filter(([key]) => L.isListKey(key));
    $("to-index").setAttribute("href", `../index.html${listPairs.length ? `#${L.join(listPairs)}` : ""}`);
    if (state.list) {
      const { shown, at } = state.list;
      setLink("prev", at > 0 ? shown[at - 1].page : null);
      setLink("next", at >= 0 && at + 1 < shown.length ? shown[at + 1].page : null);
    } else {
      for (const id of ["prev", "next"]) {
        const link = $(id);
        if (link.hasAttribute("href")) link.setAttribute("href", `${link.getAttribute("href").split("#")[0]}#${fragment()}`);
      }
    }
  }

  // with the index's list in the address: step through that list, as filtered and sorted there
  // previous / next in corpus order: the page's own links
  function corpusNav(note) {
    state.list = null;
    for (const id of ["prev", "next"]) {
      if (corpus[id]) $(id).setAttribute("href", corpus[id]);
      else $(id).removeAttribute("href");
    }
    $("position").textContent = corpus.position;
    $("position").removeAttribute("title");
    $("list-note").textContent = note;
    updateNav();
  }

  async function loadList() {
    const listPairs = state.params.filter(([key]) => L.isListKey(key));
    if (!listPairs.length) {
      corpusNav(CORPUS_NOTE);
      return;
    }
    try {
      if (!window.atlasIndexData) await loadScript("../data/_index.js");
    } catch (error) { // the sentence is drawn all the same
      corpusNav(`The index's list could not be read (${error.message}): ${CORPUS_NOTE}`);
      return;
    }
    const how = L.parse(listPairs);
    const shown = L.apply(L.rows(window.atlasIndexData), how);
    const at = shown.findIndex((row) => row.page === page.page);
    state.list = { shown, at };
    const where = at >= 0 ? `${(at + 1).toLocaleString("en")} / ${shown.length.toLocaleString("en")}`
      : `not in the list of ${shown.length.toLocaleString("en")}`;
    $("position").textContent = where;
    $("position").title = `in the index's list: ${L.describe(how)}`;
    $("list-note").textContent = `Previous and next (keys [ ]) keep the selected head and follow the ` +
      `index's list: ${shown.length.toLocaleString("en")} sentences ${L.describe(how)}.`;
    updateNav();
  }

  function onKey(event) {
    if (event.altKey || event.ctrlKey || event.metaKey || event.target.closest("input, textarea, select")) return;
    if (event.key === "[" || event.key === "]") {
      go(event.key === "[" ? "prev" : "next");
      return;
    }
    const moves = { ArrowLeft: [0, -1], ArrowRight: [0, 1], ArrowUp: [-1, 0], ArrowDown: [1, 0] };
    const move = moves[event.key];
    if (!move) return;
    event.preventDefault();
    select(state.layer + move[0], state.head + move[1]);
  }

  function onHashChange() {
    const { head, rest } = readFragment();
    const listBefore = L.join(state.params.filter(([key]) => L.isListKey(key)));
    state.params = rest;
    if (L.join(rest.filter(([key]) => L.isListKey(key))) !== listBefore) loadList();
    const [layer, headNumber] = head || [state.layer, state.head];
    const measure = wantedMeasure();
    if (measure !== state.measure) {
      showMeasure(measure, layer, head ? headNumber : null).catch(failed);
      return;
    }
    syncMeasureParam(); // an unknown `m` (or the default's) leaves the address
    select(layer, headNumber);
  }

  // a tap shows the detail's tooltip: Vega shows it on pointer moves, which a tap does not make
  // (and a touch pointer leaves as it lifts), so the tap's click moves a pointer there; a touch
  // anywhere else hides it. The detail's canvas is looked up each time: a measure switch
  // draws a new one.
  function tapTooltips(box) {
    const touch = (event) => event.pointerType && event.pointerType !== "mouse";
    const canvas = () => box.querySelector("canvas");
    box.addEventListener("click", (event) => {
      if (!touch(event) || event.target !== canvas()) return;
      const { clientX, clientY } = event;
      canvas().dispatchEvent(new PointerEvent("pointermove", { clientX, clientY, bubbles: true, pointerType: "mouse" }));
    });
    document.addEventListener("pointerdown", (event) => {
      if (touch(event) && event.target !== canvas()) canvas()?.dispatchEvent(new PointerEvent("pointerout", { bubbles: true }));
    });
  }

  // ---- drawing ----
  async function embedGrid(spec) {
    const options = { mode: "vega-lite", actions: false, renderer: "canvas" };
    state.step = gridStep(spec);
    const grid = await window.vegaEmbed("#grid", bind(setGridStep(structuredClone(spec), state.step),
      { cells: state.cells }, { selLayer: state.layer, selHead: state.head }), options);
    if (state.grid) state.grid.finalize();
    state.grid = grid.view;
  }

  async function resizeDetail(size) {
    state.size = size;
    state.detail.width(size).height(size);
    setWindow(...(state.window || [0, state.maps.W, 0, state.maps.W]));
    await redrawDetail();
  }

  // the colour bar and labels take what they need: shrink the map until the chart fits
  async function fitDetail() {
    const canvas = $("detail").querySelector("canvas");
    const over = canvas.getBoundingClientRect().width - roomFor();
    if (over > 1 && state.size > DETAIL_MIN) await resizeDetail(Math.max(DETAIL_MIN, state.size - Math.ceil(over)));
  }

  // assets/vega.js runs after this script (see sentence.html): resolves once it has
  const vegaReady = new Promise((resolve, reject) => {
    const script = [...document.scripts].find((s) => s.src.endsWith("/assets/vega.js"));
    if (window.vegaEmbed || !script) resolve();
    script?.addEventListener("load", () => resolve());
    script?.addEventListener("error", () => reject(new Error("assets/vega.js could not be loaded")));
  });

  // both charts for the measure on show (state.maps, its specs), the given head selected: on
  // load, and again on a measure switch (another colour bar, another grid)
  async function drawCharts(layer, head) {
    const specs = window.atlasSpecs;
    const view = measureView(state.measure);
    const { W } = state.maps;
    state.layer = layer;
    state.head = head;
    state.size = detailSize(state.tracks);
    setWindow(...(state.window || [0, W, 0, W]));
    const detailSpec = structuredClone(specs[view.detail]);
    detailSpec.width = state.size;
    detailSpec.height = state.size;
    const options = { mode: "vega-lite", actions: false, renderer: "canvas" };
    const detail = await window.vegaEmbed("#detail", bind(detailSpec,
      { pairs: detailRows(state.layer, state.head), spans: state.spans },
      { words: page.words, tracks: state.tracks, ...windowSignals() }), options);
    if (state.detail) state.detail.finalize();
    state.detail = detail.view;
    if (!state.timings.detail) state.timings.detail = performance.now();
    state.colours = colourTable(state.detail.scale("color")); // the thumbnails use the detail's colours
    state.cells = gridRows();
    state.gridSpec = specs[view.grid];
    await embedGrid(state.gridSpec);
    await fitDetail();
    showWindow();
  }

  function failed(error) {
    const note = $("load-error");
    note.hidden = false;
    note.textContent = `Could not draw this sentence: ${error.message}`;
  }

  async function main() {
    const { head, rest } = readFragment();
    state.params = rest;
    state.measure = wantedMeasure();
    state.figure = measureView(state.measure).figure;
    state.maps = await loadMeasure(state.measure);
    state.timings.loaded = performance.now(); // scripts and data in
    const { L: layers, H } = state.maps;
    const [layer, headNumber] = head || [1, 1];
    state.spans = page.spans.map(([label, first, last, track], i) => ({ i, label, first, last, track }));
    state.tracks = state.spans.reduce((n, s) => Math.max(n, s.track + 1), 0);
    const picker = $("measure");
    picker.value = state.measure;
    $("figure").dataset.measure = state.measure;
    await vegaReady;
    await drawCharts(clamp(layer, 1, layers), clamp(headNumber, 1, H));
    $("grid").addEventListener("click", (event) => {
      const cell = gridCell(event);
      if (cell) select(...cell);
    });
    tapTooltips($("detail"));
    picker.addEventListener("change", () => showMeasure(picker.value).catch(failed));
    document.addEventListener("keydown", onKey);
    window.addEventListener("hashchange", onHashChange);
    let resizing = null;
    window.addEventListener("resize", () => {
      clearTimeout(resizing);
      resizing = setTimeout(async () => {
        if (gridStep(state.gridSpec) !== state.step) await embedGrid(state.gridSpec);
        if (detailSize(state.tracks) !== state.size) await resizeDetail(detailSize(state.tracks));
        await fitDetail();
      }, 150);
    });
    describe(state.layer, state.head);
    if (head || param("m") !== null) { // a head out of range, an unknown measure: corrected
      syncMeasureParam();
      writeFragment();
    } else {
      updateNav();
    }
    state.timings.drawn = performance.now(); // ms since navigation started
    $("figure").setAttribute("aria-busy", "false");
    state.navReady = loadList();
    await state.navReady;
    document.documentElement.dataset.ready = "true";
  }

  state.select = select;
  state.zoom = zoom;
  state.param = param;
  state.setParam = setParam;
  state.showMeasure = showMeasure; // for tests: state.showMeasure("rollout")
  state.detailRows = detailRows; // for assets/figure.js: the rows of any window, or of the whole map
  state.ready = main().catch((error) => {
    failed(error);
    document.documentElement.dataset.ready = "error";
    throw error;
  });
})();
