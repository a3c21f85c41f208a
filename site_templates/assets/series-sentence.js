// The sentence page of a series of checkpoints (or of models on one corpus): the checkpoint
// selector beside the measure selector, and the difference view, this checkpoint's maps minus
// another's. Only on a series site's pages (sentence.html loads it after sentence-nav.js and
// before sentence.js, which calls the hooks it sets on window.atlasSentence).
// The address names them: `c=<label>` the checkpoint on show (absent: the reference, the one the
// site is built from, whose maps are the page's own data/ scripts; the others' are under
// series/<label>/), `d=<label>` the one subtracted (absent: no difference). Previous / next and
// head changes keep them, as they keep `m`. A difference is drawn on a diverging scale (maps.js's
// BLUE_ORANGE, Vega's `blueorange`) symmetric around 0, from -m to m, m the largest |difference|
// over the sentence's maps (every head, so that the grid's thumbnails share the detail's bar).
(() => {
  const S = window.atlasSentence;
  const { $, page, state } = S;
  const series = page.series;
  if (!series) return;
  const { SCALE, fetchBytes, parseMaps, toValue } = window.atlasMaps;
  const P = window.atlasPaint;
  const checkpoint = (label) => series.checkpoints.find((c) => c.label === label);
  // a checkpoint's data script of a measure (null: it has none on this page)
  const dataUrl = (label, measure) => (checkpoint(label) || { data: {} }).data[measure] || null;
  state.checkpoint = series.current; // the checkpoint on show
  state.minus = null; // the checkpoint subtracted from it (the difference view), or null
  state.figureTag = ""; // the figure's file name names them

  // the checkpoint and the one subtracted that the address names, for a measure: an unknown
  // label, or one without the measure's maps, is the reference (c) or none (d); d = c is none
  function wanted(measure) {
    let c = S.param("c");
    if (c === null || !dataUrl(c, measure)) c = series.current;
    let d = S.param("d");
    if (d === null || d === c || !dataUrl(d, measure)) d = null;
    return { c, d };
  }

  // ---- maps: a checkpoint's, or the difference of two ----
  const bytes = {}; // data script URL -> its maps (a promise), read once
  const loadUrl = (url) => (bytes[url] = bytes[url] || fetchBytes(url).then(parseMaps));
  const views = {}; // "measure c d" -> the maps shown for them (a promise)

  // a's codes minus b's, -255..255 (a value's difference: code / 255, within 2/510 of the stored
  // values' difference), painted through a table offset by 255
  function difference(a, b, [c, d]) {
    if (a.L !== b.L || a.H !== b.H || a.W !== b.W) {
      throw new Error(`${c} (${a.L} x ${a.H} maps of ${a.W} words) and ${d} (${b.L} x ${b.H} of ` +
        `${b.W}) cannot be subtracted`);
    }
    const codes = new Int16Array(a.codes.length);
    let most = 0;
    for (let i = 0; i < codes.length; i++) {
      codes[i] = a.codes[i] - b.codes[i];
      most = Math.max(most, Math.abs(codes[i]));
    }
    const special = new Int16Array(a.special.length);
    for (let i = 0; i < special.length; i++) special[i] = a.special[i] - b.special[i];
    return { L: a.L, H: a.H, W: a.W, R: a.R, codes, special, offset: SCALE, most };
  }

  // the maps of a measure for the checkpoints the address names (sentence-state.js's loadMeasure)
  function loadSeriesMaps(measure) {
    const { c, d } = wanted(measure);
    const key = `${measure} ${c} ${d || ""}`;
    if (!views[key]) {
      views[key] = (async () => {
        const own = await loadUrl(dataUrl(c, measure));
        const maps = d ? difference(own, await loadUrl(dataUrl(d, measure)), [c, d]) : { ...own };
        return Object.assign(maps, { checkpoint: c, minus: d });
      })();
    }
    return views[key];
  }

  // the maps now on show name their checkpoints: the selectors, the figure (sentence-state.js)
  function showSeries(maps) {
    state.checkpoint = maps.checkpoint;
    state.minus = maps.minus;
    const own = S.measureView(state.measure);
    if (maps.minus) state.figure = own.figure + series.figure;
    state.figureTag = (maps.checkpoint === series.current ? "" : `-${maps.checkpoint}`) +
      (maps.minus ? `-minus-${maps.minus}` : "");
    $("checkpoint").value = maps.checkpoint;
    $("minus").value = maps.minus || "";
    for (const option of $("checkpoint").options) option.disabled = !dataUrl(option.value, state.measure);
    for (const option of $("minus").options) {
      option.disabled = option.value !== "" && (option.value === maps.checkpoint || !dataUrl(option.value, state.measure));
    }
    $("figure").dataset.checkpoint = maps.checkpoint;
    $("figure").dataset.minus = maps.minus || "";
  }

  // the address names what is on show, and only what is not the default, after the measure
  // (`#l8h8&m=grad&c=step-2000&d=step-100`; sentence-state.js calls this as it sets `m`)
  function syncSeriesParams() {
    const c = state.checkpoint === series.current ? null : state.checkpoint;
    const want = [...(c ? [["c", c]] : []), ...(state.minus ? [["d", state.minus]] : [])];
    const rest = state.params.filter(([key]) => key !== "c" && key !== "d");
    const params = [...rest, ...want];
    if (JSON.stringify(params) !== JSON.stringify(state.params)) {
      state.params = params;
      S.writeFragment();
    }
  }

  // the address names other checkpoints than those on show (sentence-nav.js's hashchange)
  function seriesChanged(measure) {
    const { c, d } = wanted(measure);
    return c !== state.checkpoint || d !== state.minus;
  }
  const seriesNamed = () => S.param("c") !== null || S.param("d") !== null;

  // ---- the difference's colours: its detail spec, figure and thumbnails ----
  const most = () => Math.max(1, state.maps.most) / SCALE; // m: the colour bar is [-m, m]

  function walk(node, visit) {
    if (!node || typeof node !== "object") return;
    visit(node);
    for (const value of Object.values(node)) walk(value, visit);
  }

  // a difference spec (sentence.js's detail, figure.js's figure) given this difference's colour
  // bar: domain [-m, m], ticks, and a title naming the measure, the two checkpoints and m
  function recolour(spec, narrow = false) {
    const m = most();
    const { title } = S.measureView(state.measure);
    const label = `${state.checkpoint} \u2212 ${state.minus}`;
    // one line where there is room (a phone's colour bar has ~130 px beside the map)
    const lines = narrow ? [`${title}:`, `${state.checkpoint} \u2212`, state.minus, "\u00b1 the largest", "|difference|"]
      : [`${title}: ${label}`, "\u00b1 the largest |difference|", "in this sentence"];
    walk(spec, (node) => {
      const enc = node.encoding;
      if (enc && enc.color && enc.color.scale) {
        enc.color.scale.domain = [-m, m];
        enc.color.title = lines;
        if (enc.color.legend) Object.assign(enc.color.legend, { values: [-m, 0, m], format: ".3f" });
      }
      for (const tip of (enc && Array.isArray(enc.tooltip) ? enc.tooltip : [])) {
        if (tip.field === "value") Object.assign(tip, { title: `${title}, ${label}`, format: "+.4f" });
        if (tip.field === "special") tip.title = `from-word to special tokens, ${label}`;
      }
    });
    return spec;
  }

  const NARROW = 600; // px: a page narrower than this breaks the colour bar's title into more lines
  const detailSpec = () => (state.maps.minus
    ? recolour(structuredClone(window.atlasSpecs[series.detail]), $("figure").clientWidth < NARROW) : null);
  const detailKey = (view) => (state.maps.minus ? series.detail : view.detail); // the shared spec detailSpec copies
  const colourTable = (domain) => (state.maps.minus ? P.differenceColours(domain) : P.codeColours(domain));
  const prepareFigure = (spec) => (state.maps.minus ? recolour(spec) : spec);

  // the detail's title names the checkpoint (and the one subtracted); a difference's note says
  // what its colours are and how the special tokens' share moved (sentence.js's describe)
  function describeSeries(layer, head) {
    const title = $("detail-title");
    const [c, d] = [state.checkpoint, state.minus];
    title.textContent += d ? ` \u00b7 ${c} \u2212 ${d}` : ` \u00b7 ${c}`;
    if (!d) return;
    const { H, W, special } = state.maps;
    const k = (layer - 1) * H + (head - 1);
    let sum = 0;
    for (let f = 0; f < W; f++) sum += special[k * W + f];
    const moved = W ? toValue(sum / W) : 0;
    const unit = H === 1 ? "layer" : "head";
    const { title: measure } = S.measureView(state.measure);
    $("special-note").textContent = `${c}'s ${measure} minus ${d}'s: orange where ${c} gives a pair ` +
      `more, blue where less (the scale runs to \u00b1${most().toFixed(3)}, the largest difference in this ` +
      "sentence). " + (Math.abs(moved) >= 0.0005
      ? `Special tokens${(S.page.specials || []).length ? ` (${S.page.specials.join(", ")})` : ""} receive ${moved > 0 ? "+" : "\u2212"}${(100 * Math.abs(moved)).toFixed(1)} ` +
        `points of this ${unit}'s ${measure}, averaged over the words.`
      : `The special tokens' share of this ${unit}'s ${measure} is the same in both.`);
  }

  // ---- the selectors ----
  function choose(key, value) {
    S.setParam(key, value);
    S.showMeasure(state.measure, state.layer, state.head).catch(S.failed);
  }
  $("checkpoint").addEventListener("change", (event) => {
    const c = event.target.value;
    choose("c", c === series.current ? null : c);
  });
  $("minus").addEventListener("change", (event) => choose("d", event.target.value || null));

  Object.assign(S, { loadSeriesMaps, showSeries, syncSeriesParams, seriesChanged, seriesNamed,
    detailSpec, detailKey, colourTable, describeSeries });
  Object.assign(state, { prepareFigure, series });
})();
