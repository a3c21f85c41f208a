// The sentence page's charts: binds the site's shared grid and detail specs (assets/specs.js) to
// this sentence's maps (data/<page>.js, read by maps.js), draws them, and answers a click, a tap
// or a key by selecting a head. The last of the page's scripts (after sentence-state.js, its
// state and address; sentence-window.js, the sizes and a long sentence's window;
// sentence-nav.js, previous / next), it starts the page: window.atlas.ready.
(() => {
  const S = window.atlasSentence;
  const { $, page, state, clamp } = S;
  const { toValue } = window.atlasMaps;
  const P = window.atlasPaint;

  // ---- the grid's thumbnails, in the detail's colours ----
  // one head's W x W map drawn into a canvas of W x W pixels (a fitted scale: in its own
  // colours, sentence-scale.js)
  const paint = (canvas, k) => P.paint(canvas, state.maps, k, S.headColours?.(k) || state.colours);

  // one W x W thumbnail per head: a canvas, which the grid's image marks draw as it is (see
  // canvasImages), and its data: URL on demand (the downloaded figure's SVG holds it): a
  // 32 x 32 model's 1,024 thumbnails are neither encoded nor decoded to be shown
  function gridRows() {
    const { L: layers, H } = state.maps;
    const rows = [];
    for (let l = 0; l < layers; l++) {
      for (let h = 0; h < H; h++) {
        const canvas = document.createElement("canvas");
        paint(canvas, l * H + h);
        rows.push({ layer: l + 1, head: h + 1, canvas, get url() { return this.canvas.toDataURL(); } });
      }
    }
    return rows;
  }

  // the grid's compiled Vega spec, its image marks drawing each row's canvas (Vega draws an
  // item's `image` when it has no `url` to load)
  function canvasImages(vg) {
    for (const mark of vg.marks || []) {
      const update = mark.type === "image" && mark.encode && mark.encode.update;
      if (update && update.url) {
        delete update.url;
        update.image = { field: "canvas" };
      }
      canvasImages(mark);
    }
    return vg;
  }

  function bind(spec, datasets, params) {
    spec.datasets = datasets;
    for (const param of spec.params || []) {
      if (param.name in params) param.value = params[param.name];
    }
    return spec;
  }

  // the grid's spec at the cell size of its layout (sentence-window.js: gridLayout)
  function setGridStep(spec, { step, scrolls }) {
    spec.width = { step };
    spec.height = { step };
    for (const layer of spec.layer) {
      if (layer.mark.type === "image") Object.assign(layer.mark, { width: step - 4, height: step - 4 });
      window.atlasGridFit.axes(layer.encoding, scrolls);
    }
    return spec;
  }

  // ---- selection ----
  function describe(layer, head) {
    const { H, R, special } = state.maps;
    const k = (layer - 1) * H + (head - 1);
    let sum = 0;
    for (let f = 0; f < R; f++) sum += special[k * R + f];
    const share = R ? toValue(sum / R) : 0;
    const { title } = S.measureView(state.measure);
    const unit = H === 1 ? "layer" : "head";
    const part = state.part ? `${state.part} ` : ""; // an encoder-decoder model's part (sentence-parts.js)
    $("detail-title").textContent = H === 1 ? `${part}layer ${layer}, all heads (${state.measure})`
      : `${part}layer ${layer}, head ${head}` + (state.measure === "attention" ? "" : ` (${state.measure})`);
    $("special-note").textContent = share > 0
      ? `Special tokens ([CLS]/[SEP]) receive ${(100 * share).toFixed(1)}% of this ${unit}'s ${title}, ` +
        "averaged over the words; each word's share is in the tooltip. Rows show the rest."
      : `No ${title} goes to special tokens in this ${unit}.`;
    $("figure").dataset.selected = `l${layer}h${head}`;
    if (S.describeSeries) S.describeSeries(layer, head); // a series: the checkpoints on show
    if (S.describeScale) S.describeScale(); // the colour scale: fixed or fitted, what it clamps
    if ($("overview")) paint($("overview-map"), k);
    headLink(layer, head);
  }

  // the head page of the head on show (the corpus view), where the site has one for the measure
  function headLink(layer, head) {
    const link = $("head-page");
    const pattern = S.chartView(state.measure).headPage;
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
    S.revealHead();
    if (S.colourSignals) S.colourSignals(); // the head's colour bar (sentence-scale.js)
    describe(state.layer, state.head);
    if (hash) S.writeFragment();
    else S.updateNav();
    await Promise.all([state.grid.runAsync(), S.redrawDetail()]);
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
  // charts drawn from the site's shared specs, compiled to Vega at build time (assets/embed.js)
  async function embedGrid(spec) {
    const options = { actions: false, renderer: "canvas", patch: canvasImages };
    state.gridLayout = S.gridLayout(spec);
    state.step = state.gridLayout.step;
    const grid = await window.atlasEmbed.embed("#grid", state.gridKey, bind(setGridStep(structuredClone(spec), state.gridLayout),
      { cells: state.cells }, { selLayer: state.layer, selHead: state.head }), options);
    if (state.grid) state.grid.finalize();
    state.grid = grid.view;
    S.placeGrid();
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
    const view = S.chartView(state.measure);
    const { W, R } = state.maps;
    state.layer = layer;
    state.head = head;
    state.size = S.detailSize(state.tracks);
    S.setWindow(...(state.window || [0, R, 0, W]));
    const detailSpec = (S.detailSpec && S.detailSpec(view)) || structuredClone(specs[view.detail]);
    [detailSpec.width, detailSpec.height] = S.detailBox();
    const options = { actions: false, renderer: "canvas" };
    // an encoder-decoder model's part: rows and columns with words and spans of their own
    const sides = S.sides ? S.sides() : null;
    const words = sides ? { words: sides.colWords, tracks: sides.colTracks, rowWords: sides.rowWords, rowTracks: sides.rowTracks }
      : { words: page.words, tracks: state.tracks };
    const spans = sides ? { spans: sides.colSpans, rowSpans: sides.rowSpans } : { spans: state.spans };
    const detail = await window.atlasEmbed.embed("#detail", view.detail, bind(detailSpec,
      { pairs: S.detailRows(state.layer, state.head), ...spans },
      { ...words, ...S.windowSignals(), ...(S.colourParams?.() || {}) }), options);
    if (state.detail) state.detail.finalize();
    state.detail = detail.view;
    if (!state.timings.detail) state.timings.detail = performance.now();
    // the thumbnails in the detail's colours: its colour bar's domain, through maps.js's viridis
    state.colours = (S.colourTable || P.codeColours)(state.detail.scale("color").domain());
    state.cells = gridRows();
    state.gridSpec = specs[view.grid];
    if (!state.gridSpec) throw new Error(`assets/specs.js has no grid ${view.grid}`);
    state.gridKey = view.grid;
    await embedGrid(state.gridSpec);
    await S.fitDetail();
    S.showWindow();
    S.detailDrawn?.(); // several rows' mean under the map (sentence-rows.js)
  }

  function failed(error) {
    const note = $("load-error");
    note.hidden = false;
    note.textContent = `Could not draw this sentence: ${error.message}`;
  }

  async function main() {
    const { head, rest } = S.readFragment();
    state.params = rest;
    state.measure = S.wantedMeasure();
    state.spans = page.spans.map(([label, first, last, track], i) => ({ i, label, first, last, track }));
    state.tracks = state.spans.reduce((n, s) => Math.max(n, s.track + 1), 0);
    if (S.readParts) S.readParts(); // an encoder-decoder page: the part the address names, the target's spans
    state.figure = S.chartView(state.measure).figure;
    state.maps = await S.loadMeasure(state.measure);
    if (S.showPart) S.showPart(state.measure);
    if (S.showSeries) S.showSeries(state.maps);
    state.timings.loaded = performance.now(); // scripts and data in
    const { L: layers, H } = state.maps;
    const [layer, headNumber] = head || [1, 1];
    const picker = $("measure");
    picker.value = state.measure;
    $("figure").dataset.measure = state.measure;
    await vegaReady;
    await drawCharts(clamp(layer, 1, layers), clamp(headNumber, 1, H));
    $("grid").addEventListener("click", (event) => {
      const cell = event.target.closest(".layer-rail") ? null : gridCell(event);
      if (cell) select(...cell);
    });
    tapTooltips($("detail"));
    picker.addEventListener("change", () => S.showMeasure(picker.value).catch(failed));
    document.addEventListener("keydown", S.onKey);
    window.addEventListener("hashchange", S.onHashChange);
    let resizing = null;
    window.addEventListener("resize", () => {
      clearTimeout(resizing);
      resizing = setTimeout(async () => {
        const layout = S.gridLayout(state.gridSpec);
        if (layout.step !== state.step || layout.scrolls !== state.gridLayout.scrolls) await embedGrid(state.gridSpec);
        else { // the same cells in another box
          state.gridLayout = layout;
          S.placeGrid();
        }
        if (S.detailSize(state.tracks) !== state.size) await S.resizeDetail(S.detailSize(state.tracks));
        await S.fitDetail();
      }, 150);
    });
    describe(state.layer, state.head);
    if (head || S.param("m") !== null || S.param("s") !== null || S.param("p") !== null || (S.seriesNamed && S.seriesNamed())) { // a head out of range, an unknown measure, scale or part: corrected
      S.syncMeasureParam();
      S.writeFragment();
    } else {
      S.updateNav();
    }
    state.timings.drawn = performance.now(); // ms since navigation started
    $("figure").setAttribute("aria-busy", "false");
    state.navReady = S.loadList();
    await state.navReady;
    document.documentElement.dataset.ready = "true";
  }

  Object.assign(S, { paint, describe, select, drawCharts, failed });
  state.select = select;
  state.zoom = S.zoom;
  state.param = S.param;
  state.setParam = S.setParam;
  state.showMeasure = S.showMeasure; // for tests: state.showMeasure("rollout")
  state.detailRows = S.detailRows; // for assets/figure.js: the rows of any window, or of the whole map
  state.ready = main().catch((error) => {
    failed(error);
    document.documentElement.dataset.ready = "error";
    throw error;
  });
})();
