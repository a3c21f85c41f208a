// The sentence page's state and its address (the first of its scripts; sentence.html loads them
// in order: sentence-state.js, sentence-window.js, sentence-nav.js, sentence-scale.js,
// sentence.js). Classic scripts, like every script of the site, so that the page also works opened
// from disk; they share their functions through window.atlasSentence (S), each calling another's
// as S.name(...) when it runs.
// The address's fragment is the page's state: `#l4h7`, then any other `key=value` parts (the
// measure, `m=grad`; a fitted colour scale, `s=fit`; the index's list: search, filters, order),
// which previous / next carry along.
// The measure selector (attention, rollout, ...: only those the store holds, the default first)
// redraws both charts from that measure's data script (data/<page>.<m>.js) and specs.
(() => {
  const { fetchBytes, parseMaps } = window.atlasMaps;
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
  const S = { $, page, state, clamp: (x, lo, hi) => Math.min(hi, Math.max(lo, x)) };
  window.atlasSentence = S;

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
    S.updateNav();
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
    if (S.syncSeriesParams) S.syncSeriesParams(); // a series: the checkpoints (series-sentence.js)
    if (S.syncPartParam) S.syncPartParam(); // an encoder-decoder page: the part, `p` (sentence-parts.js)
    if (S.syncScaleParam) S.syncScaleParam(); // the colour scale, `s=fit` (sentence-scale.js)
  }

  // the measure's view as the charts draw it: an encoder-decoder page's part on show brings its
  // own data script and spec keys (sentence-parts.js)
  const chartView = (name) => (S.partChart ? S.partChart(measureView(name)) : measureView(name));

  // a measure's maps, read once (the default's data script is already on the page); a series'
  // page: of the checkpoint the address names, or its difference with another (series-sentence.js)
  function loadMeasure(name) {
    if (S.loadSeriesMaps) return S.loadSeriesMaps(name);
    const { data } = chartView(name);
    if (!state.loaded[data]) state.loaded[data] = fetchBytes(data).then(parseMaps);
    return state.loaded[data];
  }

  // switch both charts to another measure, keeping the layer and (where it has heads) the head
  async function showMeasure(name, layer = state.layer, head = null) {
    if (!measureView(name)) throw new Error(`this page has no measure ${name}`);
    const view = chartView(name);
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
    if (S.showPart) S.showPart(name); // the part on show, its selector and note (sentence-parts.js)
    $("measure").value = name;
    $("figure").dataset.measure = name;
    if (S.showSeries) S.showSeries(maps);
    await S.drawCharts(S.clamp(layer, 1, maps.L), S.clamp(head, 1, maps.H));
    syncMeasureParam();
    S.describe(state.layer, state.head);
    writeFragment();
  }

  Object.assign(S, { readFragment, fragment, param, setParam, writeFragment, measureView, chartView, wantedMeasure,
    syncMeasureParam, loadMeasure, showMeasure });
})();
