// The sentence page: binds the site's shared grid and detail specs to this sentence's maps.
// Data: the page's JSON (words, spans, meta, measures) and data/<page>[.<measure>].bin (maps.js).
// The measure selector (attention, rollout, ...) redraws both charts from that measure's file
// and specs; the address names the head and the measure: #l8h8&m=grad (no m: the default).
// vega.js (Vega, Vega-Lite, vega-embed) is imported while the specs and the data download.
import { fetchBytes, parseMaps, toValue } from "./maps.js";

const page = JSON.parse(document.getElementById("atlas-sentence").textContent);
const assets = new URL("./", import.meta.url);
const $ = (id) => document.getElementById(id);
const state = { layer: 1, head: 1, maps: null, grid: null, detail: null, timings: {},
  measure: page.measures[0].name, loaded: {} };
window.atlas = state; // for tests and the benchmark: state.select(l, h), state.ready

const clamp = (x, lo, hi) => Math.min(hi, Math.max(lo, x));

async function fetchJSON(name) {
  const response = await fetch(new URL(name, assets));
  if (!response.ok) throw new Error(`${name}: HTTP ${response.status}`);
  return response.json();
}

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

// one W x W thumbnail per head, as data: URLs for the grid's image marks
function gridRows({ L, H, W, codes }, table) {
  const canvas = Object.assign(document.createElement("canvas"), { width: W, height: W });
  const ctx = canvas.getContext("2d");
  const image = ctx.createImageData(W, W);
  const pixels = new Uint32Array(image.data.buffer);
  const rows = [];
  for (let l = 0; l < L; l++) {
    for (let h = 0; h < H; h++) {
      const at = (l * H + h) * W * W;
      for (let i = 0; i < W * W; i++) pixels[i] = table[codes[at + i]];
      ctx.putImageData(image, 0, 0);
      rows.push({ layer: l + 1, head: h + 1, url: canvas.toDataURL() });
    }
  }
  return rows;
}

// the selected head's word pairs: rows = from-word, columns = to-word (keyed by index)
function detailRows({ H, W, codes, special }, layer, head) {
  const k = (layer - 1) * H + (head - 1);
  const rows = new Array(W * W);
  for (let f = 0; f < W; f++) {
    const share = toValue(special[k * W + f]);
    for (let t = 0; t < W; t++) {
      rows[f * W + t] = { from: f, to: t, value: toValue(codes[(k * W + f) * W + t]), special: share, layer, head };
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

// "#l8h8&m=grad" -> [8, 8, "grad"]; the measure is undefined when the address names none
// (or one this page does not offer)
function parseHash() {
  const match = /^#l(\d+)h(\d+)(?:&m=([A-Za-z0-9_-]+))?$/.exec(location.hash);
  if (!match) return null;
  const measure = page.measures.some((m) => m.name === match[3]) ? match[3] : undefined;
  return [Number(match[1]), Number(match[2]), measure];
}

// --- measures: the selector, each measure's data and specs, the address -------------------

const view = (name) => page.measures.find((m) => m.name === name);

function hashOf(layer, head) {
  return `#l${layer}h${head}` + (state.measure === page.measures[0].name ? "" : `&m=${state.measure}`);
}

// a measure's maps and specs, fetched once
function loadMeasure(name) {
  if (!state.loaded[name]) {
    const m = view(name);
    state.loaded[name] = Promise.all([fetchJSON(m.grid), fetchJSON(m.detail),
      fetchBytes(new URL(m.data, document.baseURI))])
      .then(([grid, detail, bytes]) => ({ grid, detail, maps: parseMaps(bytes) }));
  }
  return state.loaded[name];
}

// switch both charts to another measure, keeping the layer (and the head, where it has heads)
async function showMeasure(name, layer = state.layer, head = state.head) {
  if (!view(name)) return;
  const { grid, detail, maps } = await loadMeasure(name);
  state.measure = name;
  state.figure = view(name).figure; // assets/figure.js draws this measure's figure
  $("measure").value = name;
  $("figure").dataset.measure = name;
  await draw(structuredClone(grid), structuredClone(detail), maps, layer, head);
  history.replaceState(null, "", hashOf(state.layer, state.head));
}

function setupMeasures() {
  const select = $("measure");
  select.value = state.measure;
  select.addEventListener("change", () => showMeasure(select.value));
}

function describe(layer, head) {
  const { H, W, special } = state.maps;
  const k = (layer - 1) * H + (head - 1);
  let sum = 0;
  for (let f = 0; f < W; f++) sum += special[k * W + f];
  const share = W ? toValue(sum / W) : 0;
  $("detail-title").textContent = H === 1 ? `layer ${layer}, all heads (${state.measure})`
    : `layer ${layer}, head ${head}` + (state.measure === "attention" ? "" : ` (${state.measure})`);
  $("special-note").textContent = share > 0
    ? `Special tokens ([CLS]/[SEP]) receive ${(100 * share).toFixed(1)}% of this ` +
      `${H === 1 ? "layer" : "head"}'s ${view(state.measure).title}, ` +
      "averaged over the words; each word's share is in the tooltip. Rows show the rest."
    : `No ${view(state.measure).title} goes to special tokens in this ${H === 1 ? "layer" : "head"}.`;
  $("figure").dataset.selected = `l${layer}h${head}`;
}

async function select(layer, head, { hash = true } = {}) {
  const { L, H } = state.maps;
  layer = clamp(Math.round(layer) || 1, 1, L);
  head = clamp(Math.round(head) || 1, 1, H);
  state.layer = layer;
  state.head = head;
  state.grid.signal("selLayer", layer).signal("selHead", head);
  const rows = detailRows(state.maps, layer, head);
  state.detail.change("pairs", state.detail.changeset().remove(() => true).insert(rows));
  describe(layer, head);
  if (hash && location.hash !== hashOf(layer, head)) history.replaceState(null, "", hashOf(layer, head));
  await Promise.all([state.grid.runAsync(), state.detail.runAsync()]);
}

function onKey(event) {
  if (event.altKey || event.ctrlKey || event.metaKey || event.target.closest("input, textarea, select")) return;
  const moves = { ArrowLeft: [0, -1], ArrowRight: [0, 1], ArrowUp: [-1, 0], ArrowDown: [1, 0] };
  const move = moves[event.key];
  if (!move) return;
  event.preventDefault();
  select(state.layer + move[0], state.head + move[1]);
}

// embed both charts for one measure's maps (again on a switch), the given head selected
async function draw(gridSpec, detailSpec, maps, layer, head) {
  const { vegaEmbed } = window;
  state.maps = maps;
  const { L, H } = maps;
  state.layer = clamp(layer, 1, L);
  state.head = clamp(head, 1, H);
  const spans = page.spans.map(([label, first, last, track], i) => ({ i, label, first, last, track }));
  const tracks = spans.reduce((n, s) => Math.max(n, s.track + 1), 0);
  const options = { mode: "vega-lite", actions: false, renderer: "canvas" };
  if (state.detail) state.detail.finalize();
  if (state.grid) state.grid.finalize();
  const detail = await vegaEmbed("#detail", bind(detailSpec,
    { pairs: detailRows(maps, state.layer, state.head), spans }, { words: page.words, tracks }), options);
  state.detail = detail.view;
  state.timings.detail = performance.now();
  const table = colourTable(state.detail.scale("color")); // the thumbnails use the detail's colours
  const grid = await vegaEmbed("#grid", bind(gridSpec, { cells: gridRows(maps, table) },
    { selLayer: state.layer, selHead: state.head }), options);
  state.grid = grid.view;
  state.grid.addEventListener("click", (_, item) => {
    const datum = item && item.datum;
    if (datum && datum.layer && datum.head) select(datum.layer, datum.head);
  });
  describe(state.layer, state.head);
}

async function main() {
  const [layer, head, measure] = parseHash() || [1, 1, undefined];
  state.measure = measure || state.measure;
  state.figure = view(state.measure).figure;
  const [, loaded] = await Promise.all([import("./vega.js"), loadMeasure(state.measure)]);
  state.timings.loaded = performance.now(); // scripts, specs and data in
  $("figure").dataset.measure = state.measure;
  await draw(loaded.grid, loaded.detail, loaded.maps, layer, head);
  setupMeasures();
  document.addEventListener("keydown", onKey);
  window.addEventListener("hashchange", () => {
    const chosen = parseHash();
    if (!chosen) return;
    const [l, h, m] = chosen;
    const name = m || page.measures[0].name;
    if (name !== state.measure) showMeasure(name, l, h);
    else select(l, h, { hash: false });
  });
  if (parseHash()) history.replaceState(null, "", hashOf(state.layer, state.head));
  state.timings.drawn = performance.now(); // ms since navigation started
  $("figure").setAttribute("aria-busy", "false");
  document.documentElement.dataset.ready = "true";
}

state.select = select;
state.showMeasure = showMeasure; // for tests: state.showMeasure("rollout")
state.ready = main().catch((error) => {
  const note = $("load-error");
  note.hidden = false;
  note.textContent = location.protocol === "file:"
    ? "This page reads its data with fetch, which browsers refuse for file:// pages: serve the folder " +
      "(e.g. `attention-atlas serve SITE`) and open it over http."
    : `Could not draw this sentence: ${error.message}`;
  document.documentElement.dataset.ready = "error";
  throw error;
});
