// A head page of a series: every statistic of this head over training (its value and its rank
// among the heads at each checkpoint, small lines in a table), and for the chosen statistic
// (#s=...) a chart of its value and rank over the steps beside the head that leads it, and
// which head leads at each checkpoint (roles move between heads). Data: data/_series.js.
// A classic script (the site also works opened from disk), after head.js.
(() => {
  const $ = (id) => document.getElementById(id);
  const page = JSON.parse($("atlas-head").textContent);
  const data = window.atlasSeries;
  const lines = window.atlasSeriesLines;
  const cps = data.checkpoints;
  const m = data.measures.find((x) => x.measure === page.measure);
  const state = { view: null, stat: null };
  window.atlasSeriesHead = state; // for tests: state.ready, state.rows(key), state.leaders(key)
  const fmt = (v) => (v === null ? "—" : v.toFixed(4));
  const here = (l, h) => l === page.layer && h === page.head;

  // this head's value and rank at each checkpoint: [{label, step, value, rank, ranked}]
  function rows(s) {
    return s.values.map((grid, c) => {
      const value = grid[page.layer - 1]?.[page.head - 1] ?? null;
      const ranked = grid.flat().filter((v) => v !== null).length;
      return { checkpoint: cps[c].label, step: cps[c].step, value, rank: lines.ranker(grid)(value), ranked };
    });
  }

  // the head with the highest value at each checkpoint (the first in layer, head order on a tie)
  function leaders(s) {
    return s.values.map((grid) => {
      let best = null;
      grid.forEach((row, l) => row.forEach((v, h) => {
        if (v !== null && (best === null || v > best.value)) best = { layer: l + 1, head: h + 1, value: v };
      }));
      return best;
    });
  }

  function headLink(l, h, key) {
    if (l > m.headPages[0] || h > m.headPages[1]) return null;
    return `l${l}h${h}.html#s=${encodeURIComponent(key)}`;
  }

  function fillTable() {
    const x = lines.xs(data);
    const body = $("series-stats").querySelector("tbody");
    body.replaceChildren(...m.stats.map((s) => {
      const r = rows(s);
      const [lo, hi] = lines.extent(s.values);
      const tr = document.createElement("tr");
      tr.dataset.key = s.key;
      const name = document.createElement("td");
      name.append(Object.assign(document.createElement("a"), { href: `#s=${encodeURIComponent(s.key)}`, textContent: s.label }));
      const value = Object.assign(document.createElement("td"), { className: "spark-cell" });
      value.append(lines.sparkline(r.map((p) => p.value), x, lo, hi, { w: 104, h: 26, dots: true, mark: data.reference }));
      value.title = r.map((p) => `${p.checkpoint}: ${fmt(p.value)}`).join("\n");
      const rank = Object.assign(document.createElement("td"), { className: "spark-cell" });
      const most = Math.max(...r.map((p) => p.ranked), 1);
      rank.append(lines.sparkline(r.map((p) => (p.rank === null ? null : -p.rank)), x, -most, -1,
        { w: 104, h: 26, dots: true, mark: data.reference }));
      rank.title = r.map((p) => `${p.checkpoint}: rank ${p.rank ?? "—"} of ${p.ranked}`).join("\n");
      const [first, last] = [r[0], r[r.length - 1]];
      const ends = Object.assign(document.createElement("td"), { className: "num about" }); // hidden on phones, as "about"
      ends.textContent = `${fmt(first.value)} → ${fmt(last.value)} (rank ${first.rank ?? "—"} → ${last.rank ?? "—"})`;
      tr.append(name, value, rank, ends);
      return tr;
    }));
  }

  function chartSpec(s) {
    const r = rows(s);
    const known = cps.every((c) => c.step !== null);
    const logx = known && data.logStep;
    const x = known
      ? { field: "step", type: "quantitative", title: logx ? "step (log scale)" : "step", scale: logx ? { type: "symlog" } : {},
        axis: { values: cps.map((c) => c.step), labelExpr: "datum.value >= 1000 ? format(datum.value, '~s') : format(datum.value, 'd')", labelOverlap: "greedy", grid: false } }
      : { field: "checkpoint", type: "ordinal", title: "checkpoint", sort: cps.map((c) => c.label) };
    const width = Math.max(220, Math.min(520, document.documentElement.clientWidth - 130));
    const line = (y, extra = {}) => ({
      mark: { type: "line", point: true, ...extra.mark },
      encoding: { x, y, color: { field: "who", type: "nominal", title: null, scale: { domain: ["this head", "the leading head"], range: ["#3b1f6e", "#21918c"] }, legend: { orient: "bottom" } },
        strokeDash: { field: "who", type: "nominal", legend: null, scale: { domain: ["this head", "the leading head"], range: [[1, 0], [4, 3]] } },
        tooltip: [{ field: "checkpoint" }, { field: "who", title: "head" }, { field: "value", format: ".4f", title: s.label }, { field: "rank" }] },
    });
    return {
      vconcat: [
        { width, height: 150, data: { name: "points" }, ...line({ field: "value", type: "quantitative", title: s.label, scale: { zero: false } }) },
        { width, height: 110, data: { name: "points" }, transform: [{ filter: "datum.who === 'this head'" }],
          ...line({ field: "rank", type: "quantitative", title: "rank (1 = highest)", scale: { reverse: true, domain: [1, Math.max(2, ...r.map((p) => p.ranked))], nice: false }, axis: { tickMinStep: 1 } }) },
      ],
      config: { font: "system-ui, sans-serif", view: { stroke: null }, axis: { labelFontSize: 11, titleFontWeight: "normal" } },
    };
  }

  async function show(key) {
    const s = m.stats.find((x) => x.key === key) || m.stats[0];
    state.stat = s.key;
    for (const tr of $("series-stats").querySelectorAll("tbody tr")) {
      if (tr.dataset.key === s.key) tr.setAttribute("aria-current", "true");
      else tr.removeAttribute("aria-current");
    }
    const r = rows(s);
    const lead = leaders(s);
    const points = r.map((p) => ({ ...p, who: "this head" }));
    lead.forEach((b, c) => {
      if (b) points.push({ checkpoint: cps[c].label, step: cps[c].step, value: b.value, rank: 1, who: "the leading head" });
    });
    $("leaders-title").textContent = `Which head leads ${s.label}`;
    $("leaders").replaceChildren(...lead.map((b, c) => {
      const li = document.createElement("li");
      li.append(`${cps[c].label}: `);
      if (!b) { li.append("—"); return li; }
      const text = `layer ${b.layer}, head ${b.head}`;
      const href = headLink(b.layer, b.head, s.key);
      li.append(href ? Object.assign(document.createElement("a"), { href, textContent: text }) : text);
      li.append(` (${fmt(b.value)})${here(b.layer, b.head) ? " — this head" : ""}`);
      if (here(b.layer, b.head)) li.className = "this-head";
      return li;
    }));
    const spec = chartSpec(s);
    spec.datasets = { points };
    const result = await window.vegaEmbed("#training-chart", spec, { mode: "vega-lite", actions: false, renderer: "svg" });
    if (state.view) state.view.finalize();
    state.view = result.view;
    $("training-chart").setAttribute("aria-busy", "false");
  }

  const chosen = () => new URLSearchParams(location.hash.slice(1)).get("s");

  async function main() {
    if (!data || !m) throw new Error("the series' statistics (data/_series.js) did not load");
    fillTable();
    await show(chosen());
    window.addEventListener("hashchange", () => show(chosen()));
  }

  state.rows = (key) => rows(m.stats.find((s) => s.key === key));
  state.leaders = (key) => leaders(m.stats.find((s) => s.key === key));
  state.show = show;
  state.ready = main().catch((error) => {
    const note = $("load-error");
    note.hidden = false;
    note.textContent = `Could not draw this head over training: ${error.message}`;
    throw error;
  });
})();
