// A series' small line charts (the index's over-training grid, the head pages' statistics over
// training): where each checkpoint lies on the step axis, and a line drawn as an SVG polyline.
// A classic script (the site also works opened from disk); reads data/_series.js.
(() => {
  const NS = "http://www.w3.org/2000/svg";

  // each checkpoint's place on the x axis, in [0, 1]: log(1 + step) when the steps span decades
  // (data.logStep), the step when every checkpoint has one, else its position in the series
  function xs(data) {
    const cps = data.checkpoints;
    const known = cps.every((c) => c.step !== null);
    const raw = cps.map((c, k) => (!known ? k : data.logStep ? Math.log10(1 + c.step) : c.step));
    const lo = Math.min(...raw);
    const span = Math.max(...raw) - lo;
    return raw.map((x) => (span > 0 ? (x - lo) / span : 0.5));
  }

  // how the x axis reads, e.g. "steps 0 to 20,000 (log scale)" or "checkpoints a to b"
  function axisText(data) {
    const cps = data.checkpoints;
    const first = cps[0];
    const last = cps[cps.length - 1];
    if (cps.every((c) => c.step !== null)) {
      const f = (n) => n.toLocaleString("en");
      return `steps ${f(first.step)} to ${f(last.step)}${data.logStep ? " (log scale)" : ""}`;
    }
    return `checkpoints in series order, ${first.label} to ${last.label}`;
  }

  // the points [x, y] of a line (y null: a gap), in a box of width w and height h; y from lo to hi
  function path(values, x, lo, hi, w, h, pad = 2) {
    const span = hi > lo ? hi - lo : 1;
    const runs = [[]];
    values.forEach((v, k) => {
      if (v === null || v === undefined) { if (runs[runs.length - 1].length) runs.push([]); return; }
      const px = pad + x[k] * (w - 2 * pad);
      const py = h - pad - ((v - lo) / span) * (h - 2 * pad);
      runs[runs.length - 1].push(`${px.toFixed(1)},${py.toFixed(1)}`);
    });
    return runs.filter((r) => r.length);
  }

  // an <svg> of one line (with a dot on each checkpoint when `dots`, and the point `mark` ringed)
  function sparkline(values, x, lo, hi, { w = 60, h = 36, dots = false, mark = null, cls = "spark" } = {}) {
    const svg = document.createElementNS(NS, "svg");
    svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
    svg.setAttribute("class", cls);
    svg.setAttribute("aria-hidden", "true");
    for (const run of path(values, x, lo, hi, w, h)) {
      if (run.length === 1) {
        const [cx, cy] = run[0].split(",");
        const dot = document.createElementNS(NS, "circle");
        Object.entries({ cx, cy, r: 1.6 }).forEach(([k, v]) => dot.setAttribute(k, v));
        svg.append(dot);
        continue;
      }
      const line = document.createElementNS(NS, "polyline");
      line.setAttribute("points", run.join(" "));
      svg.append(line);
      if (dots) for (const p of run) {
        const [cx, cy] = p.split(",");
        const dot = document.createElementNS(NS, "circle");
        Object.entries({ cx, cy, r: 1.4 }).forEach(([k, v]) => dot.setAttribute(k, v));
        svg.append(dot);
      }
    }
    if (mark !== null && values[mark] !== null && values[mark] !== undefined) {
      const [p] = path([values[mark]], [x[mark]], lo, hi, w, h);
      const [cx, cy] = p[0].split(",");
      const ring = document.createElementNS(NS, "circle");
      Object.entries({ cx, cy, r: 2.6, class: "mark" }).forEach(([k, v]) => ring.setAttribute(k, v));
      svg.append(ring);
    }
    return svg;
  }

  // the lowest and highest non-null value of nested arrays
  function extent(nested) {
    const flat = nested.flat(Infinity).filter((v) => v !== null);
    return flat.length ? [Math.min(...flat), Math.max(...flat)] : [0, 1];
  }

  // 1 for the highest value among the heads; ties share the better rank; null for null
  function ranker(grid) {
    const flat = grid.flat().filter((v) => v !== null).sort((a, b) => b - a);
    return (v) => (v === null ? null : flat.indexOf(v) + 1);
  }

  window.atlasSeriesLines = { xs, axisText, sparkline, extent, ranker };
})();
