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

  // every head's W x W thumbnail in one canvas, a sheet (paint.js), which the grid
  // (assets/grid-draw.js) draws from; its rows ({layer, head, canvas, url}) copy a head's
  // thumbnail out of it on demand (the downloaded figure's SVG holds its data: URL): a 32 x 32
  // model's 1,024 thumbnails are neither encoded nor decoded to be shown
  function gridSheet() {
    const sheet = document.createElement("canvas");
    // (R rows of W columns: a cross-attention part's target x source, maps.js)
    P.paintSheet(sheet, { ...state.maps, rows: state.maps.R, cols: state.maps.W }, (k) => S.headColours?.(k) || state.colours);
    return sheet;
  }

  function bind(spec, datasets, params) {
    spec.datasets = datasets;
    for (const param of spec.params || []) {
      if (param.name in params) param.value = params[param.name];
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
    // the special tokens of the side the columns read: the target's on the decoder, else the
    // source's (pipeline.site.contexts.special_tokens; none named for a record without words)
    const specials = (state.part === "decoder" ? (S.page.target || {}).specials : S.page.specials) || [];
    const named = specials.length ? ` (${specials.join(", ")})` : "";
    $("special-note").textContent = share > 0
      ? `Special tokens${named} receive ${(100 * share).toFixed(1)}% of this ${unit}'s ${title}, ` +
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

  // a tap shows the detail's tooltip: the detail (Vega's or detail-draw.js's) shows it on pointer moves, which a tap does not make
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
  // the colour bar's domain that a bound detail spec draws: its colourDomain param, or the
  // domain its colour encoding names (a series' difference); null when neither
  function boundDomain(spec) {
    const param = (spec.params || []).find((p) => p.name === "colourDomain");
    if (param && Array.isArray(param.value)) return param.value;
    const named = [spec, ...(spec.layer || [])].map((node) => node.encoding?.color?.scale?.domain);
    return named.find(Array.isArray) || null;
  }

  // the grid's thumbnails in the detail's colours (its colour bar's domain, through maps.js's
  // viridis), drawn
  function drawThumbnails(view, domain) {
    state.colours = (S.colourTable || P.codeColours)(domain);
    state.sheet = gridSheet();
    state.gridSpec = window.atlasSpecs[view.grid];
    if (!state.gridSpec) throw new Error(`assets/specs.js has no grid ${view.grid}`);
    drawGrid(state.gridSpec);
  }

  // the grid fitted again to the room the detail leaves: redrawn at another cell size, or the
  // same cells placed in another box
  function refitGrid() {
    const layout = S.gridLayout(state.gridSpec);
    if (layout.step !== state.step || layout.scrolls !== state.gridLayout.scrolls) drawGrid(state.gridSpec);
    else {
      state.gridLayout = layout;
      S.placeGrid();
    }
  }

  // the grid of the measure on show, at the cell size of its layout (sentence-window.js), drawn
  // on a canvas (assets/grid-draw.js) as its shared spec describes it: no Vega view
  function drawGrid(spec) {
    state.gridLayout = S.gridLayout(spec);
    state.step = state.gridLayout.step;
    const { L: layers, H: heads } = state.maps;
    const { step, scrolls } = state.gridLayout;
    if (state.grid) state.grid.finalize();
    state.grid = window.atlasGrid.draw($("grid"), state.sheet,
      { layers, heads, step, scrolls, spec, selected: [state.layer, state.head] });
    state.cells = state.grid.data("cells");
    S.placeGrid();
  }

  // a script that runs after this one (see sentence.html): resolves once it has (at once where
  // `ran()` says so, or where the page has no such script: a notebook's inlined page)
  const scriptRan = (name, ran) => new Promise((resolve, reject) => {
    const script = [...document.scripts].find((s) => s.src.endsWith(`/assets/${name}`));
    if (ran() || !script) resolve();
    script?.addEventListener("load", () => resolve());
    script?.addEventListener("error", () => reject(new Error(`assets/${name} could not be loaded`)));
  });
  // the specs (assets/specs.js, then specs-vega.js), which a sentence's data may come before
  const specsReady = scriptRan("specs-vega.js", () => window.atlasSpecs && window.atlasVegaSpecs);

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
    // an encoder-decoder model's part: rows and columns with words and spans of their own
    const sides = S.sides ? S.sides() : null;
    const words = sides ? { words: sides.colWords, tracks: sides.colTracks, rowWords: sides.rowWords, rowTracks: sides.rowTracks }
      : { words: page.words, tracks: state.tracks };
    const spans = sides ? { spans: sides.colSpans, rowSpans: sides.rowSpans } : { spans: state.spans };
    const bound = bind(detailSpec, { pairs: S.detailRows(state.layer, state.head), ...spans },
      { ...words, ...S.windowSignals(), ...(S.colourParams?.() || {}) });
    // the grid first when the bound spec names its colours: it needs the maps alone
    const domain = boundDomain(bound);
    if (domain) drawThumbnails(view, domain);
    // the detail on a canvas (assets/detail-draw.js) where it draws the spec (every shared one),
    // else by Vega, whose code is loaded then (embed.js)
    const key = S.detailKey ? S.detailKey(view) : view.detail; // the shared spec it binds (a series' difference: its own)
    const detail = window.atlasDetail.drawable(key, bound)
      ? window.atlasDetail.draw($("detail"), key, bound)
      : (await window.atlasEmbed.embed("#detail", key, bound, { actions: false, renderer: "canvas" })).view;
    if (state.detail) state.detail.finalize();
    state.detail = detail;
    if (!state.timings.detail) state.timings.detail = performance.now();
    if (!domain) drawThumbnails(view, state.detail.scale("color").domain());
    else refitGrid(); // the detail's own width, which the grid's layout estimated
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
    await specsReady;
    await drawCharts(clamp(layer, 1, layers), clamp(headNumber, 1, H));
    $("grid").addEventListener("click", (event) => {
      const cell = event.target.closest(".layer-rail") ? null : state.grid.cellAt(event.clientX, event.clientY);
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
        refitGrid();
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
