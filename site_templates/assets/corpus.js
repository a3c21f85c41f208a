// The index's corpus view: every head as one cell coloured by a statistic's corpus value
// (data/_corpus.js, written by pipeline.site.corpus_view from the store's statistics), a selector for
// the statistic (and the measure), exact values in tooltips; a cell opens its head page. An
// encoder-decoder's site has a view per measure and part (data/_corpus.js's `parts`; each view's
// `measure` its head pages' folder, attention.cross, `of` its measure): a part selector, the part in the
// address as on the sentence pages (#p=cross; none for the first, encoder), which the list's
// sentence links carry (index.js).
// A classic script (the site also works opened from disk); runs after vega.js and specs.js. On a
// series' site it only lends its statistic selector to series-corpus.js.
(() => {
  const $ = (id) => document.getElementById(id);
  const GROUPS = [["statistics", (k) => !k.includes(":")], ["span mass", (k) => k.startsWith("span:")],
    ["dependency accuracy", (k) => k.startsWith("dep:")]];

  // the statistic selector of a measure's statistics (m.stats), grouped as GROUPS
  function fillStats(m) {
    const select = $("corpus-stat");
    select.replaceChildren();
    for (const [title, test] of GROUPS) {
      const stats = m.stats.filter((s) => test(s.key));
      if (!stats.length) continue;
      const group = Object.assign(document.createElement("optgroup"), { label: title });
      for (const s of stats) group.append(new Option(s.label, s.key)); // text, never markup
      select.append(group);
    }
  }

  // ---- the grid's size: its cells fit the index's width (assets/grid-fit.js) ----
  const G = window.atlasGridFit;
  const LEGEND = 140; // px: a colour bar at the grid's right, with its title (the statistic's label)
  const WIDE = 600; // px: below this the colour bar goes under the grid, across
  const CHROME = 46; // px: the layer numbers, the corner title, the padding

  // the grid's layout for a measure m ({layers, heads}) on this page: its cells, whether it
  // scrolls sideways, where the colour bar goes; the spec set to it (before drawing)
  function fitGrid(spec, m) {
    const room = $("corpus-grid").parentElement.clientWidth;
    const wide = room >= WIDE;
    const step = G.cellStep(room - (wide ? LEGEND : 0), m.heads, CHROME, spec.width.step);
    const layout = { layers: m.layers, heads: m.heads, step, wide, scrolls: step * m.heads + CHROME > room };
    spec.width = { step };
    spec.height = { step };
    for (const { scale } of [spec.encoding.x, spec.encoding.y]) { // a cell less its gap: a tap target
      if (step * (1 - scale.paddingInner) < G.TAP) scale.paddingInner = (step - G.TAP) / step;
    }
    G.axes(spec.encoding, layout.scrolls);
    if (!wide) { // under the grid, across the phone's width (a .conllu corpus's baseline legend too)
      Object.assign(spec.encoding.color.legend, { orient: "bottom", direction: "horizontal",
        gradientLength: Math.min(320, room - 2 * CHROME) });
      for (const layer of spec.layer || []) {
        for (const channel of Object.values(layer.encoding || {})) if (channel.legend) channel.legend.orient = "bottom";
      }
      spec.config = { ...spec.config, legend: { ...spec.config.legend, layout: { bottom: { direction: "vertical", anchor: "start" } } } };
    }
    return layout;
  }

  // after drawing: the scrolling grid's rail and note (assets/grid-fit.js)
  const placeGrid = (view, layout) => G.place($("corpus-grid"), view, layout);

  // the colour scale of a grid of corpus values: from the statistic's natural floor (0 for
  // shares, distances and entropies) to the largest head, so that near-equal heads look
  // near-equal; `stretch` (the page's checkbox): from the smallest head to the largest, which
  // shows small differences as large ones. [lo, hi], never empty.
  function colourDomain([low, high], floor, stretch) {
    let [lo, hi] = stretch ? [low, high] : [Math.min(floor ?? 0, low), high];
    if (!(hi > lo)) [lo, hi] = stretch ? [lo - 0.5, lo + 0.5] : [lo, lo + 1];
    return [lo, hi];
  }

  // what the description says of the scale on show
  const scaleText = (stretch, floor) => (stretch ? "Colours are stretched from the smallest head to " +
    "the largest, so that small differences look large." : `Colours run from ${floor ?? 0}, the ` +
    "statistic's floor, to the largest head.");

  // shared with a series' corpus view (series-corpus.js), which draws in this one's place
  window.atlasCorpusStats = { fillStats, colourDomain, scaleText, fitGrid, placeGrid };
  if (window.atlasSeries) return;

  const data = window.atlasCorpus;
  const specs = window.atlasSpecs;
  const state = { view: null, measure: null, stat: null, part: null };
  window.atlasCorpusView = state; // for tests: state.show(measure, key, part), state.ready
  const parts = data.parts || null; // an encoder-decoder's: ["encoder", "decoder", "cross"]
  // a view by an encoder-decoder's measure and part, or by its name (its head pages' folder:
  // attention, attention.cross), else the measure's first part (rollout has the encoder only)
  const measureData = (name, part) => (parts && data.measures.find((m) => m.of === name && m.part === part))
    || data.measures.find((m) => m.measure === name) || data.measures.find((m) => m.of === name)
    || data.measures[0];
  const partParam = () => new Map(window.atlasList.split(location.hash)).get("p") || (parts && parts[0]);

  // an encoder-decoder's part on show: its selector (the measure's parts enabled) and the address
  function showPart(m) {
    const select = $("corpus-part");
    select.value = m.part;
    const has = new Set(data.measures.filter((x) => x.of === m.of).map((x) => x.part));
    for (const option of select.options) option.disabled = !has.has(option.value);
    const L = window.atlasList;
    const pairs = L.split(location.hash).filter(([key]) => key !== "p");
    if (m.part !== parts[0]) pairs.push(["p", m.part]);
    const hash = pairs.length ? `#${L.join(pairs)}` : "";
    if (location.hash === hash) return;
    history.replaceState(null, "", hash || location.pathname + location.search);
    window.dispatchEvent(new HashChangeEvent("hashchange")); // the list's links carry the part (index.js)
  }

  // 1 for the highest value among the heads; ties share the better rank
  function ranks(values) {
    const flat = values.flat().filter((v) => v !== null).sort((a, b) => b - a);
    return (v) => (v === null ? null : flat.indexOf(v) + 1);
  }

  function rows(m, s) {
    const rank = ranks(s.values);
    const out = [];
    s.values.forEach((row, l) => row.forEach((value, h) => {
      const href = data.pattern.replace("{measure}", encodeURIComponent(m.measure))
        .replace("{layer}", l + 1).replace("{head}", h + 1) + `#s=${encodeURIComponent(s.key)}`;
      out.push({ layer: l + 1, head: h + 1, value, rank: rank(value), href });
    }));
    return out;
  }

  async function show(measure, key, part = state.part) {
    const m = measureData(measure, part);
    if (state.measure !== m.measure) fillStats(m);
    // the statistic kept where the view has it; else prev, or a cross part's diagonal
    const s = m.stats.find((x) => x.key === key) || m.stats.find((x) => x.key === "prev" || x.key === "diagonal") || m.stats[0];
    state.measure = m.measure;
    state.stat = s.key;
    state.part = m.part || null;
    $("corpus-stat").value = s.key;
    if ($("corpus-measure")) $("corpus-measure").value = m.of || m.measure;
    if (parts) showPart(m);
    const stretch = $("corpus-stretch").checked;
    $("corpus-description").textContent = `${s.label}: ${s.description}${s.note ? ` (${s.note})` : ""}. ` +
      `Across the ${m.part ? `${m.part === "encoder" ? "encoder" : "decoder"}'s ` : ""}` +
      `${m.heads === 1 ? "layers" : "heads"}: ${s.range[0]} to ${s.range[1]}. ${scaleText(stretch, s.floor)}`;
    const spec = structuredClone(specs.corpus[`${m.layers}x${m.heads}`]);
    const domain = colourDomain(s.range, s.floor, stretch);
    spec.encoding.color.scale.domain = domain;
    window.atlasScales.legendTicks(spec.encoding.color.legend, domain, 4); // both ends' values
    spec.encoding.color.title = s.label;
    for (const tip of spec.encoding.tooltip) if (tip.field === "value") tip.title = s.label;
    if (m.heads === 1) spec.encoding.x.title = "all heads";
    spec.datasets = { heads: rows(m, s) };
    if (window.atlasCorpusMarks) window.atlasCorpusMarks(spec, m, s); // gold-corpus.js: a relation's baseline
    state.layout = fitGrid(spec, m);
    const result = await window.vegaEmbed("#corpus-grid", spec, { mode: "vega-lite", actions: false, renderer: "svg" });
    if (state.view) state.view.finalize();
    state.view = result.view;
    placeGrid(state.view, state.layout);
    $("corpus-grid").setAttribute("aria-busy", "false");
  }

  function main() {
    if (!data || !specs || !window.vegaEmbed) throw new Error("the corpus view's scripts did not load");
    const first = data.measures[0];
    $("corpus-stat").addEventListener("change", (e) => show(state.measure, e.target.value));
    $("corpus-measure")?.addEventListener("change", (e) => show(e.target.value, state.stat));
    if (parts) { // an encoder-decoder's: the part chosen here, or in the address (back, a link)
      $("corpus-part").addEventListener("change", (e) => show(measureData(state.measure).of, state.stat, e.target.value));
      window.addEventListener("hashchange", () => {
        if (partParam() !== state.part) show(measureData(state.measure).of, state.stat, partParam());
      });
    }
    let resizing = null;
    window.addEventListener("resize", () => { // a phone turned: redrawn when the layout changes
      clearTimeout(resizing);
      resizing = setTimeout(() => {
        const m = measureData(state.measure);
        const now = fitGrid(structuredClone(specs.corpus[`${m.layers}x${m.heads}`]), m);
        if (["step", "wide", "scrolls"].some((k) => now[k] !== state.layout[k])) show(state.measure, state.stat);
        else placeGrid(state.view, state.layout); // the note of the heads in view
      }, 150);
    });
    $("corpus-stretch").addEventListener("change", () => show(state.measure, state.stat));
    if (parts) return show(first.of, "prev", partParam());
    return show(first.measure, first.stats.find((s) => s.key === "prev") ? "prev" : first.stats[0].key);
  }

  state.show = show;
  state.ready = Promise.resolve().then(main).catch((error) => {
    const note = $("corpus-error");
    note.hidden = false;
    note.textContent = `Could not draw the corpus view: ${error.message}`;
    throw error;
  });
})();
