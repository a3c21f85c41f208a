// The sentence page's colour scale: the measure's fixed domain (the default, as in the reference
// figure: 0 to 0.3 for attention; pipeline/measures.py) or one fitted to the head on show, 0 to
// its largest value (`s=fit` in the address, which head changes and previous / next keep). With
// the fixed domain the colour bar marks a clamped end ("≥ 0.3") whenever the head on show has
// values beyond it, and a note says how many; the tooltip gives every cell's value. Fitted, each
// grid thumbnail runs from 0 to its own largest value. A series' difference of two checkpoints has
// a scale of its own (series-sentence.js): the control waits while it shows. After
// sentence-nav.js; sentence.js calls its hooks (colourParams, colourSignals, headColours).
(() => {
  const S = window.atlasSentence;
  const { $, state } = S;
  const { toValue } = window.atlasMaps;
  const FIT = "fit";
  const FIXED = "fixed";
  state.scale = FIXED; // the scale on show; the address's (`s`) once drawn

  const wanted = () => (S.param("s") === FIT ? FIT : FIXED);
  const adjustable = () => state.maps && !state.maps.minus; // not a difference of checkpoints

  // the measure's fixed colour bar: its detail spec's params (pipeline/site/colours.py)
  function fixedParams() {
    const spec = window.atlasSpecs[S.chartView(state.measure).detail];
    const value = (name) => (spec.params || []).find((p) => p.name === name)?.value;
    return { colourDomain: value("colourDomain"), colourTicks: value("colourTicks"), colourLabels: value("colourLabels") };
  }

  // map k's smallest and largest codes
  function extent(k) {
    const { W, R = W, codes } = state.maps;
    let lo = 255;
    let hi = 0;
    for (let i = k * W * R; i < (k + 1) * W * R; i++) {
      if (codes[i] < lo) lo = codes[i];
      if (codes[i] > hi) hi = codes[i];
    }
    return W ? [lo, hi] : [0, 0];
  }
  const fitted = (top) => [0, Math.max(top, 1) / 255]; // as colours.fit_domain: a code step at least
  const shownHead = () => (state.layer - 1) * state.maps.H + (state.head - 1);

  // the colour bar's params for the head on show (colours.colour_params), {} for a difference
  function colourParams() {
    if (!adjustable()) return {};
    state.scale = wanted();
    const [lo, hi] = extent(shownHead());
    if (state.scale === FIT) {
      const domain = fitted(hi);
      const { values, labels } = window.atlasScales.ticks(domain);
      return { colourDomain: domain, colourTicks: values, colourLabels: labels, clamped: [false, false] };
    }
    const fixed = fixedParams();
    const [low, high] = fixed.colourDomain;
    return { ...fixed, clamped: [toValue(lo) < low - 1e-9, toValue(hi) > high + 1e-9] };
  }

  // a head chosen: its colour bar on the drawn detail (run with the detail's redraw)
  function colourSignals() {
    const params = colourParams();
    for (const [name, value] of Object.entries(params)) state.detail.signal(name, value);
  }

  // fitted: each thumbnail (and the overview) from 0 to its own largest value; else null (the
  // detail's colours, state.colours)
  const tables = new Map();
  function headColours(k) {
    if (!adjustable() || state.scale !== FIT) return null;
    const top = extent(k)[1];
    if (!tables.has(top)) tables.set(top, window.atlasPaint.codeColours(fitted(top)));
    return tables.get(top);
  }

  // the control and its note: how many of the head's cells the fixed domain clamps
  function describeScale() {
    const picker = $("scale");
    if (!picker) return;
    picker.disabled = !adjustable();
    picker.value = state.scale;
    const note = $("scale-note");
    if (!adjustable()) {
      note.textContent = "";
      return;
    }
    const { W, R = W, codes } = state.maps;
    const [low, high] = fixedParams().colourDomain;
    picker.options[0].textContent = `fixed: ${low} to ${high}`;
    const k = shownHead();
    const unit = state.maps.H === 1 ? "layer" : "head";
    const top = toValue(extent(k)[1]);
    if (state.scale === FIT) {
      note.textContent = `Colours run from 0 to this ${unit}'s largest value, ${top.toFixed(4)}; ` +
        "each map of the grid's from 0 to its own largest.";
      return;
    }
    let above = 0;
    let below = 0;
    for (let i = k * W * R; i < (k + 1) * W * R; i++) {
      if (toValue(codes[i]) > high + 1e-9) above++;
      else if (toValue(codes[i]) < low - 1e-9) below++;
    }
    const cells = (n) => `${n} ${n === 1 ? "cell" : "cells"}`;
    const parts = [];
    if (above) parts.push(`${cells(above)} above ${high} (up to ${top.toFixed(4)}) drawn in the top colour`);
    if (below) parts.push(`${cells(below)} below ${low} drawn in the bottom colour`);
    note.textContent = parts.length ? `This ${unit} has ${parts.join(" and ")}; the tooltip gives ` +
      "each value, or fit the scale to it." : "";
  }

  // the address names a fitted scale, and nothing else of it (sentence-state.js's syncMeasureParam)
  function syncScaleParam() {
    const value = S.param("s") === FIT ? FIT : null;
    if (S.param("s") !== value) S.setParam("s", value);
  }
  const scaleChanged = () => adjustable() && wanted() !== state.scale; // the address, by hand

  $("scale")?.addEventListener("change", (event) => {
    S.setParam("s", event.target.value === FIT ? FIT : null);
    S.showMeasure(state.measure, state.layer, state.head).catch(S.failed);
  });

  Object.assign(S, { colourParams, colourSignals, headColours, describeScale, syncScaleParam, scaleChanged });
  state.colourParams = colourParams; // for assets/figure.js: the download's colour bar
})();
