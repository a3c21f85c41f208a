// The index's corpus view of a series (in place of corpus.js's, whose statistic selector it uses): every head as one cell coloured
// by a statistic's corpus value at the chosen checkpoint (default: the reference), or by its
// change between two checkpoints (B minus A, a diverging scale symmetric around 0), or, over
// training, as a small line of the statistic over the steps (one y scale for every cell). A
// cell opens its head page (the reference's heads; a head only another model has is not linked).
// Data: data/_series.js (pipeline.site.series_corpus). A classic script, after vega.js and corpus.js.
(() => {
  const $ = (id) => document.getElementById(id);
  const data = window.atlasSeries;
  const lines = window.atlasSeriesLines;
  const cps = data.checkpoints;
  const state = { view: null, measure: null, stat: null, mode: "checkpoint", a: data.reference, b: data.reference };
  window.atlasSeriesView = state; // for tests: state.show(measure, key), state.setMode(mode, a, b), state.ready
  // corpus.js: the statistic selector, the colour scale of one checkpoint's values
  const { fillStats, colourDomain, scaleText } = window.atlasCorpusStats;
  const measureData = (name) => data.measures.find((m) => m.measure === name) || data.measures[0];
  const name = (k) => cps[k].label + (k === data.reference ? " (reference)" : "");

  function fillCheckpoints() {
    for (const id of ["series-a", "series-b"]) {
      $(id).replaceChildren(...cps.map((c, k) => new Option(name(k), String(k))));
    }
  }

  // a head's page, or null where the reference model lacks the head
  function headHref(m, l, h, key) {
    if (l > m.headPages[0] || h > m.headPages[1]) return null;
    return data.pattern.replace("{measure}", encodeURIComponent(m.measure)).replace("{layer}", l)
      .replace("{head}", h) + `#s=${encodeURIComponent(key)}`;
  }

  // the grid on show: the chosen checkpoint's values, or B - A
  function values(s) {
    if (state.mode !== "change") return s.values[state.a];
    const [a, b] = [s.values[state.a], s.values[state.b]];
    return b.map((row, l) => row.map((v, h) => (v === null || a[l][h] === null ? null : v - a[l][h])));
  }

  async function drawGrid(m, s) {
    const grid = values(s);
    const rank = lines.ranker(grid);
    const rows = [];
    grid.forEach((row, l) => row.forEach((value, h) => {
      rows.push({ layer: l + 1, head: h + 1, value, rank: rank(value), href: headHref(m, l + 1, h + 1, s.key) });
    }));
    const spec = structuredClone(data.specs[`${m.layers}x${m.heads}`]);
    let [lo, hi] = lines.extent(grid);
    let title = `${s.label} at ${cps[state.a].label}`;
    if (state.mode === "change") {
      const most = Math.max(Math.abs(lo), Math.abs(hi)) || 1e-6;
      spec.encoding.color.scale = { scheme: "blueorange", domain: [-most, most], clamp: true };
      title = `${s.label}: ${cps[state.b].label} − ${cps[state.a].label}`;
      $("corpus-description").textContent = `${s.label}, the change from ${cps[state.a].label} to ` +
        `${cps[state.b].label} (orange: higher at ${cps[state.b].label}; blue: lower; blank: a head one ` +
        `of the two models lacks). Across the heads: ${lo.toFixed(4)} to ${hi.toFixed(4)}.`;
    } else {
      const stretch = $("corpus-stretch").checked;
      const domain = colourDomain([lo, hi], s.floor, stretch);
      spec.encoding.color.scale.domain = domain;
      window.atlasScales.legendTicks(spec.encoding.color.legend, domain, 4); // both ends' values
      $("corpus-description").textContent = `${s.label} at ${cps[state.a].label}: ${s.description}` +
        `${s.note ? ` (${s.note})` : ""}. Across the ${m.heads === 1 ? "layers" : "heads"}: ` +
        `${lo.toFixed(4)} to ${hi.toFixed(4)}. ${scaleText(stretch, s.floor)}`;
    }
    spec.encoding.color.title = title;
    for (const tip of spec.encoding.tooltip) if (tip.field === "value") tip.title = title;
    if (m.heads === 1) spec.encoding.x.title = "all heads";
    spec.datasets = { heads: rows };
    const layout = window.atlasCorpusStats.fitGrid(spec, m); // the one-model view's sizes (corpus.js)
    const result = await window.vegaEmbed("#corpus-grid", spec, { mode: "vega-lite", actions: false, renderer: "svg" });
    if (state.view) state.view.finalize();
    state.view = result.view;
    window.atlasCorpusStats.placeGrid(state.view, layout);
  }

  function drawTraining(m, s) {
    const x = lines.xs(data);
    const [lo, hi] = lines.extent(s.values);
    const box = $("series-training");
    box.style.setProperty("--heads", m.heads);
    const cells = [Object.assign(document.createElement("span"), { className: "corner", textContent: "l \\ h", title: "layer \\ head" })];
    for (let h = 1; h <= m.heads; h++) {
      cells.push(Object.assign(document.createElement("span"), { className: "axis", textContent: String(h) }));
    }
    for (let l = 1; l <= m.layers; l++) {
      cells.push(Object.assign(document.createElement("span"), { className: "axis", textContent: String(l) }));
      for (let h = 1; h <= m.heads; h++) {
        const line = s.values.map((grid) => grid[l - 1][h - 1]);
        const href = headHref(m, l, h, s.key);
        const cell = document.createElement(href ? "a" : "span");
        cell.className = "cell";
        if (!line.some((v) => v !== null)) {
          cell.classList.add("empty");
          cell.title = `layer ${l}, head ${h}: no model of the series has it`;
        } else {
          const fmt = (v) => (v === null ? "—" : v.toFixed(4));
          cell.title = `layer ${l}, head ${h}: ${s.label} ` +
            line.map((v, k) => `${cps[k].label} ${fmt(v)}`).join(", ");
          cell.append(lines.sparkline(line, x, lo, hi, { mark: data.reference }));
        }
        if (href) cell.href = href;
        cell.dataset.layer = l;
        cell.dataset.head = h;
        cells.push(cell);
      }
    }
    box.replaceChildren(...cells);
    $("corpus-description").textContent = `${s.label} (${s.description}${s.note ? `; ${s.note}` : ""}) ` +
      `over training in every head: each cell's line runs over ${lines.axisText(data)}, from ` +
      `${lo.toFixed(4)} (bottom) to ${hi.toFixed(4)} (top), the same in every cell; the ring is the ` +
      `reference, ${cps[data.reference].label}. A cell opens its head's page.`;
  }

  async function show(measure, key) {
    const m = measureData(measure);
    if (state.measure !== m.measure) fillStats(m);
    const s = m.stats.find((x) => x.key === key) || m.stats[0];
    state.measure = m.measure;
    state.stat = s.key;
    $("corpus-stat").value = s.key;
    if ($("corpus-measure")) $("corpus-measure").value = m.measure;
    $("series-mode").value = state.mode;
    $("series-a").value = String(state.a);
    $("series-b").value = String(state.b);
    const training = state.mode === "training";
    $("series-a-pick").hidden = training;
    $("series-b-pick").hidden = state.mode !== "change";
    $("series-a-title").textContent = state.mode === "change" ? "From" : "Checkpoint";
    $("corpus-grid").hidden = training;
    $("series-training").hidden = !training;
    $("corpus-grid").setAttribute("aria-busy", "true");
    if (training) drawTraining(m, s);
    else await drawGrid(m, s);
    $("corpus-grid").setAttribute("aria-busy", "false");
  }

  // change the mode and the checkpoints (a: the one shown, or A of B - A), then redraw
  function setMode(mode, a = state.a, b = state.b) {
    if (mode === "change" && state.mode !== "change" && a === b) a = 0; // from the first to B
    Object.assign(state, { mode, a: Number(a), b: Number(b) });
    return show(state.measure, state.stat);
  }

  function main() {
    if (!data || !data.specs || !window.vegaEmbed) throw new Error("the corpus view's scripts did not load");
    fillCheckpoints();
    const first = data.measures[0];
    $("corpus-stat").addEventListener("change", (e) => show(state.measure, e.target.value));
    $("corpus-measure")?.addEventListener("change", (e) => show(e.target.value, state.stat));
    $("series-mode").addEventListener("change", (e) => setMode(e.target.value));
    $("series-a").addEventListener("change", (e) => setMode(state.mode, e.target.value));
    $("series-b").addEventListener("change", (e) => setMode(state.mode, state.a, e.target.value));
    $("corpus-stretch").addEventListener("change", () => show(state.measure, state.stat));
    return show(first.measure, first.stats.find((s) => s.key === "prev") ? "prev" : first.stats[0].key);
  }

  state.show = show;
  state.setMode = setMode;
  state.ready = Promise.resolve().then(main).catch((error) => {
    const note = $("corpus-error");
    note.hidden = false;
    note.textContent = `Could not draw the corpus view: ${error.message}`;
    throw error;
  });
})();
