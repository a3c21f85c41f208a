// The sentence page's detail (the selected head's word x word map) drawn on one canvas, without a
// Vega view: a cold page spent 95-150 ms in the detail's first Vega draw and 22-33 ms running
// vega.js, which a page drawn this way need not load (assets/embed.js's atlasVega loads it when
// the figure is downloaded). It draws the bound shared detail spec (assets/specs.js: detail,
// detail-<m>, a part's; pipeline/site/charts.py, which the downloaded figure still draws with
// Vega) as Vega lays it out: the cells at their bands, the words on both axes (the columns'
// angled, both at the spec's font size for the cell), the axis titles, the spans' brackets and
// labels on both axes (a track of brackets each), the colour bar with the measure's title, its
// ticks and a clamped end's "≥" / "≤", a tooltip per cell; a gold tree's layers where
// gold-sentence.js adds them (assets/gold-detail.js draws them); and a series' difference of
// checkpoints (series-sentence.js: blueorange, the colour bar it sets). A spec that differs from
// the shared one in any other way is left to Vega (`drawable`). The returned view answers the
// part of a Vega view's interface that sentence-*.js, figure.js and the tests use (container,
// padding, origin, width, height, scale, signal, data, change, changeset, runAsync, finalize,
// scenegraph, toSVG). A classic script: window.atlasDetail.
(() => {
  const PAD = 5; // px around the chart (Vega's autosize padding)
  const TRACK_PX = 24; // one row of span brackets (charts.py TRACK_PX)
  const LABEL_PAD = 2; // px between the map and its axes' words (Vega's labelPadding)
  const TITLE_PAD = 4; // px between an axis's words and its title (Vega's titlePadding)
  const TITLE_PX = 11; // the axis and legend titles' font size (Vega's)
  const LEGEND_OFFSET = 18; // px between the map and the colour bar (Vega's legend offset)
  const LEGEND_TITLE = 16; // px from the colour bar's top to its gradient (title and padding)
  const LEGEND_LABEL = 10; // the colour bar's labels' font size (Vega's)
  const LEGEND_MIN_PX = 160; // a part's colour bar's least length (charts.py LEGEND_MIN_PX)
  const STOPS = 30; // the colour bar's gradient: viridis' 31 stops, blueorange's 11 (maps.js), exactly
  const LABEL_LIMIT = 110; // px: a longer word is cut with an ellipsis (the spec's labelLimit)
  const { viridis, blueOrange } = window.atlasMaps;
  const PALETTES = { viridis, blueorange: blueOrange }; // maps.js's tables of Vega's schemes
  const TITLE_LINE = 13; // px a line of a colour bar's title of several lines (a difference's)
  const clamp = (v, lo, hi) => Math.min(hi, Math.max(lo, v));
  const SIN = (deg) => Math.sin((deg * Math.PI) / 180);
  const COS = (deg) => Math.cos((deg * Math.PI) / 180);

  const BASE_LAYERS = 5; // the map, and a bracket path and label layer for each axis

  // whether this script draws the bound spec `spec` of the shared spec `key`: it differs from it
  // only where a page binds it (embed.js's test), with at most a gold tree's layers added, on the
  // measures' viridis scale; or, a series' difference of checkpoints (series-sentence.js), on
  // blueorange, where the page also sets its colour bar (domain, title, ticks) and tooltip
  function drawable(key, spec) {
    const colour = spec.layer?.[0]?.encoding?.color;
    const extra = spec.layer.slice(BASE_LAYERS); // a gold tree's layers (assets/gold-detail.js)
    const gold = extra.length === 0 || Boolean(window.atlasGoldDetail?.fits(extra));
    const own = { ...spec, layer: spec.layer.slice(0, BASE_LAYERS) };
    if (colour?.scale?.scheme === "blueorange") return gold && sameBut(key, own);
    return colour?.scale?.scheme === "viridis" && gold && Boolean(window.atlasEmbed.compiled(key, own));
  }

  // whether `spec` is the shared spec `key` but for its data, params' values, size, and its
  // map's colour and tooltip
  function sameBut(key, spec) {
    const base = window.atlasSpecs?.[key];
    const plain = (v) => {
      const { datasets, width, height, ...rest } = structuredClone(v);
      rest.params = (rest.params || []).map(({ value, ...p }) => p);
      const { color, tooltip, ...encoding } = rest.layer[0].encoding;
      rest.layer[0].encoding = encoding;
      return JSON.stringify(rest);
    };
    return Boolean(base) && plain(base) === plain(spec);
  }

  // d3's format of a value for ".3f", "+.4f" (a difference's): a minus sign, not a hyphen
  function fixed(value, format) {
    const [, sign, digits] = /^(\+?)\.(\d)f$/.exec(format);
    const text = Math.abs(value).toFixed(Number(digits));
    const zero = Number(text) === 0;
    return (value < 0 && !zero ? "\u2212" : sign && !(value < 0 && !zero) ? "+" : "") + text;
  }

  // a band scale over word indices first..first+n-1 along `size` px (Vega's, paddings 0)
  function band(first, n, size) {
    const step = size / n;
    const scale = (v) => (v - first) * step;
    return Object.assign(scale, { bandwidth: () => step, step: () => step,
      domain: () => Array.from({ length: n }, (_, i) => first + i), range: () => [0, size] });
  }

  // the spec's fixed parts: titles, the label angle, the tooltip's fields, the font and inks
  function look(spec) {
    const enc = spec.layer[0].encoding;
    const config = spec.config || {};
    const { scale, legend = {} } = enc.color;
    return { font: config.font || "sans-serif", ink: config.axis?.labelColor || "#222",
      xTitle: enc.x.title, yTitle: enc.y.title, angle: enc.x.axis?.labelAngle ?? -60,
      colourTitle: [].concat(enc.color.title), thickness: legend.gradientThickness || 14,
      palette: PALETTES[scale.scheme], domain: Array.isArray(scale.domain) ? scale.domain : null, // a difference's
      ticks: Array.isArray(legend.values) ? legend.values : null, tickFormat: legend.format,
      tooltip: enc.tooltip || [], bracket: spec.layer[1].mark.stroke || "#333333",
      rect: (spec.params || []).some((p) => p.name === "rowWords") };
  }

  // a tooltip's value as the spec formats it (".4f", ".1%", or as it is)
  function formatted(value, format) {
    if (value === null || value === undefined) return "";
    if (format === ".1%") return `${(100 * value).toFixed(1)}%`;
    if (/^\+?\.\df$/.test(format || "")) return fixed(Number(value), format);
    return String(value);
  }

  const escape = (text) => String(text).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

  // the detail drawn into `box` from the bound spec `spec` of shared spec `key`; returns its view
  function draw(box, key, spec) {
    const a = look(spec);
    const signals = Object.fromEntries((spec.params || []).map((p) => [p.name, p.value]));
    // a gold tree's layers, drawn by assets/gold-detail.js from its dataset
    const g = spec.layer.length > BASE_LAYERS ? window.atlasGoldDetail.overlay(spec.layer.slice(BASE_LAYERS)) : null;
    const data = { pairs: [], spans: [], rowSpans: [], ...structuredClone(spec.datasets || {}), ...(g ? { [g.dataset]: g.values } : {}) };
    let [width, height] = [spec.width, spec.height];
    const canvas = document.createElement("canvas");
    canvas.className = "marks";
    const ctx = canvas.getContext("2d");
    const cells = document.createElement("canvas"); // one pixel a cell, drawn scaled up
    let L = null; // the layout last drawn (scene)
    const view = {};
    window.atlasEmbed.drawn[key] = { spec, compiled: Boolean(window.atlasEmbed.compiled(key, spec)) }; // as embed.js records

    const measure = (text, font) => { ctx.font = font; return ctx.measureText(text).width; };
    const cut = (text, font) => { // the spec's labelLimit
      if (measure(text, font) <= LABEL_LIMIT) return text;
      let n = text.length;
      while (n > 1 && measure(`${text.slice(0, n)}\u2026`, font) > LABEL_LIMIT) n--;
      return `${text.slice(0, n)}\u2026`;
    };

    // the colour of a value: the domain's viridis, clamped (the spec's scale)
    function colourScale() {
      const [lo, hi] = a.domain || signals.colourDomain;
      const k = 1 / (hi - lo);
      const rgb = (v) => a.palette(clamp((v - lo) * k, 0, 1));
      return Object.assign((v) => `rgb(${rgb(v).join(", ")})`, { domain: () => [lo, hi], rgb });
    }

    // where everything goes: the scales, and a list of things to draw in the plot's coordinates
    function layout() {
      const words = signals.words;
      const rowWords = a.rect ? signals.rowWords : words;
      const tracks = signals.tracks;
      const rowTracks = a.rect ? signals.rowTracks : tracks;
      const win = ([s, e], n) => (e > s ? [s, e - s] : [0, n]);
      const [c0, nc] = win(signals.cols, words.length);
      const [r0, nr] = win(signals.rows, rowWords.length);
      const x = band(c0, nc, width);
      const y = band(r0, nr, height);
      const colour = colourScale();
      const fs = clamp(Math.floor(Math.min(width / nc, height / nr)) - 1, 5, 11);
      const label = `${fs}px ${a.font}`;
      const title = `${TITLE_PX}px ${a.font}`;
      const bold = `bold 10px ${a.font}`;
      const marks = []; // {kind: text | path | gradient, ...}
      const texts = { x: [], y: [], legend: [], spans: [] };
      const text = (role, t) => { marks.push({ kind: "text", ...t }); if (texts[role]) texts[role].push(t); };
      // the rows' words, right of the brackets
      const yOff = rowTracks * TRACK_PX + 3 + LABEL_PAD;
      let yWide = 0;
      for (const r of y.domain()) {
        const t = cut(String(rowWords[r]), label);
        yWide = Math.max(yWide, measure(t, label));
        text("y", { text: t, x: -yOff, y: y(r) + y.bandwidth() / 2, font: label, size: fs, fill: a.ink, align: "right", baseline: "middle", angle: 0 });
      }
      const yTitleX = -(yOff + yWide + TITLE_PAD);
      text("title", { text: a.yTitle, x: yTitleX, y: height / 2, font: title, size: TITLE_PX, fill: a.ink, align: "center", baseline: "bottom", angle: -90 });
      // the columns' words, angled, under the brackets
      const xOff = tracks * TRACK_PX + 3 + LABEL_PAD;
      let [xDeep, xLeft] = [0, 0];
      for (const c of x.domain()) {
        const t = cut(String(words[c]), label);
        const w = measure(t, label);
        const at = x(c) + x.bandwidth() / 2;
        xDeep = Math.max(xDeep, w * SIN(-a.angle) + (fs / 2) * COS(a.angle));
        xLeft = Math.max(xLeft, w * COS(a.angle) + (fs / 2) * SIN(-a.angle) - at);
        text("x", { text: t, x: at, y: height + xOff, font: label, size: fs, fill: a.ink, align: "right", baseline: "middle", angle: a.angle });
      }
      const xTitleY = height + xOff + xDeep + TITLE_PAD;
      text("title", { text: a.xTitle, x: width / 2, y: xTitleY, font: title, size: TITLE_PX, fill: a.ink, align: "center", baseline: "top", angle: 0 });
      // the spans' brackets: a track each, below the map and left of it
      const brackets = (spans, first, n, along, horizontal) => {
        for (const s of spans) {
          const [f, l] = [clamp(s.first - first, 0, n), clamp(s.last - first, 0, n)];
          if (f >= l) continue;
          const [p, q] = [(f * along) / n + 1.5, (l * along) / n - 1.5];
          const mid = ((f + l) * along) / (2 * n);
          const [tip, line] = horizontal ? [height + 3 + s.track * TRACK_PX, height + 8 + s.track * TRACK_PX]
            : [-3 - s.track * TRACK_PX, -8 - s.track * TRACK_PX];
          const pts = [[p, tip], [p, line], [q, line], [q, tip]];
          marks.push({ kind: "path", points: horizontal ? pts : pts.map(([u, v]) => [v, u]), stroke: a.bracket, width: 1.5, datum: s });
          text("spans", horizontal ? { text: s.label, x: mid, y: line + 2, font: bold, size: 10, fill: a.bracket, align: "center", baseline: "top", angle: 0 }
            : { text: s.label, x: line - 2, y: mid, font: bold, size: 10, fill: a.bracket, align: "center", baseline: "bottom", angle: -90 });
        }
      };
      brackets(data.spans, c0, nc, width, true);
      brackets(a.rect ? data.rowSpans : data.spans, r0, nr, height, false);
      // the colour bar: title, gradient (the top value at the top), ticks' labels
      const gx = width + LEGEND_OFFSET;
      const length = a.rect ? Math.max(height, LEGEND_MIN_PX) : height;
      const [lo, hi] = colour.domain();
      const legendFont = `${LEGEND_LABEL}px ${a.font}`;
      let legendWide = 0;
      a.colourTitle.forEach((line, i) => {
        legendWide = Math.max(legendWide, measure(line, title) - a.thickness - 4);
        text("title", { text: line, x: gx, y: i * TITLE_LINE, font: title, size: TITLE_PX, fill: a.ink, align: "left", baseline: "top", angle: 0 });
      });
      const gy = LEGEND_TITLE + (a.colourTitle.length - 1) * TITLE_LINE;
      marks.push({ kind: "gradient", x: gx, y: gy, width: a.thickness, height: length, colour });
      const clamped = signals.clamped || [false, false];
      // the ticks: the measure's (its params: fixed or fitted), or a difference's (the spec's)
      const ticks = a.ticks || signals.colourTicks || [];
      for (const [i, v] of ticks.entries()) {
        const mark = clamped[1] && v >= hi ? "\u2265 " : clamped[0] && v <= lo ? "\u2264 " : "";
        const t = a.ticks ? fixed(v, a.tickFormat) : mark + signals.colourLabels[i];
        legendWide = Math.max(legendWide, measure(t, legendFont));
        text("legend", { text: t, x: gx + a.thickness + 4, y: gy + length * (1 - (v - lo) / (hi - lo)), font: legendFont,
          size: LEGEND_LABEL, fill: a.ink, align: "left", baseline: v >= hi ? "top" : v <= lo ? "bottom" : "middle", angle: 0 });
      }
      // the chart's extent round the map (Vega's origin and autosize)
      const left = Math.ceil(Math.max(-yTitleX + TITLE_PX, xLeft, 0));
      const top = Math.ceil(Math.max(0, fs / 2 - y.bandwidth() / 2, g ? g.reach : 0));
      const right = Math.ceil(gx + a.thickness + 4 + legendWide - width);
      const bottom = Math.ceil(Math.max(xTitleY + TITLE_PX, gy + length + 1) - height);
      return { x, y, colour, marks, texts, fs, left, top, right, bottom, c0, nc, r0, nr, words, rowWords };
    }

    // the scene painted on the canvas, sized to it
    function paint() {
      L = layout();
      const [cssW, cssH] = [PAD + L.left + width + L.right + PAD, PAD + L.top + height + L.bottom + PAD];
      const ratio = window.devicePixelRatio || 1;
      Object.assign(canvas, { width: Math.round(cssW * ratio), height: Math.round(cssH * ratio) });
      Object.assign(canvas.style, { width: `${cssW}px`, height: `${cssH}px` });
      ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
      ctx.clearRect(0, 0, cssW, cssH);
      ctx.translate(PAD + L.left, PAD + L.top);
      // the cells: one pixel each, scaled up unsmoothed (no seams between cells)
      Object.assign(cells, { width: L.nc, height: L.nr });
      const cx = cells.getContext("2d");
      const image = cx.createImageData(L.nc, L.nr);
      for (const d of data.pairs) {
        const [i, j] = [d.from - L.r0, d.to - L.c0];
        if (i < 0 || i >= L.nr || j < 0 || j >= L.nc) continue;
        image.data.set([...L.colour.rgb(d.value), 255], 4 * (i * L.nc + j));
      }
      cx.putImageData(image, 0, 0);
      ctx.imageSmoothingEnabled = false;
      ctx.drawImage(cells, 0, 0, width, height);
      if (g) g.paint(ctx, L, data[g.dataset]);
      for (const m of L.marks) {
        if (m.kind === "gradient") {
          const g = ctx.createLinearGradient(0, m.y + m.height, 0, m.y);
          for (let s = 0; s <= STOPS; s++) g.addColorStop(s / STOPS, `rgb(${a.palette(s / STOPS).join(", ")})`);
          ctx.fillStyle = g;
          ctx.fillRect(m.x, m.y, m.width, m.height);
        } else if (m.kind === "path") {
          Object.assign(ctx, { strokeStyle: m.stroke, lineWidth: m.width, lineJoin: "miter" });
          ctx.beginPath();
          m.points.forEach(([u, v], i) => (i ? ctx.lineTo(u, v) : ctx.moveTo(u, v)));
          ctx.stroke();
        } else {
          ctx.save();
          ctx.translate(m.x, m.y);
          if (m.angle) ctx.rotate((m.angle * Math.PI) / 180);
          Object.assign(ctx, { font: m.font, fillStyle: m.fill, textAlign: m.align, textBaseline: m.baseline });
          ctx.fillText(m.text, 0, 0);
          ctx.restore();
        }
      }
    }

    // ---- the tooltip: the spec's fields for the cell under the pointer ----
    function tipElement() {
      let tip = document.getElementById("vg-tooltip-element");
      if (!tip) {
        tip = Object.assign(document.createElement("div"), { id: "vg-tooltip-element" });
        document.body.append(tip);
      }
      tip.classList.add("vg-tooltip", "atlas-tip");
      return tip;
    }
    function cellAt(clientX, clientY) {
      const r = canvas.getBoundingClientRect();
      const [u, v] = [clientX - r.left - PAD - L.left, clientY - r.top - PAD - L.top];
      if (u < 0 || v < 0 || u >= width || v >= height) return null;
      const [row, col] = [L.r0 + Math.floor(v / L.y.bandwidth()), L.c0 + Math.floor(u / L.x.bandwidth())];
      return data.pairs.find((d) => d.from === row && d.to === col) || null;
    }
    // the topmost mark's row and tooltip fields under the pointer: a gold tree's argmax mark (near
    // the cell's centre), its outline, or the cell
    function pick(event, d) {
      if (!g) return [d, a.tooltip];
      const r = canvas.getBoundingClientRect();
      const [u, v] = [event.clientX - r.left - PAD - L.left - L.x(d.to) - L.x.bandwidth() / 2,
        event.clientY - r.top - PAD - L.top - L.y(d.from) - L.y.bandwidth() / 2];
      return g.pick(L, data[g.dataset], d.from, d.to, u, v) || [d, a.tooltip];
    }
    function hover(event) {
      const cell = cellAt(event.clientX, event.clientY);
      if (!cell) { hide(); return; }
      const [d, fields] = pick(event, cell);
      const tip = tipElement();
      const row = { fromWord: L.rowWords[d.from], toWord: L.words[d.to], ...d };
      const table = document.createElement("table");
      for (const f of fields) {
        const tr = table.insertRow();
        Object.assign(tr.insertCell(), { className: "key" }).textContent = f.title ?? f.field; // words are data
        Object.assign(tr.insertCell(), { className: "value" }).textContent = formatted(row[f.field], f.format);
      }
      tip.replaceChildren(table);
      tip.classList.add("visible");
      const [w, h] = [tip.offsetWidth, tip.offsetHeight];
      tip.style.left = `${Math.max(0, event.clientX + 10 + w > innerWidth ? event.clientX - 10 - w : event.clientX + 10)}px`;
      tip.style.top = `${Math.max(0, event.clientY + 10 + h > innerHeight ? event.clientY - 10 - h : event.clientY + 10)}px`;
    }
    function hide() { document.getElementById("vg-tooltip-element")?.classList.remove("visible"); }
    canvas.addEventListener("pointermove", hover);
    canvas.addEventListener("pointerout", hide);

    // ---- what Vega's scenegraph would hold (for tests: items per mark, axes' and legend's text) ----
    function scenegraph() {
      const textNode = (role, list) => ({ marktype: "text", role, items: list.map((t) => ({ text: t.text, fontSize: t.size })) });
      const heat = { marktype: "rect", role: "mark", name: "layer_0_marks",
        items: data.pairs.filter((d) => d.to >= L.c0 && d.to < L.c0 + L.nc && d.from >= L.r0 && d.from < L.r0 + L.nr)
          .map((d) => ({ datum: d, x: L.x(d.to), y: L.y(d.from), width: L.x.bandwidth(), height: L.y.bandwidth(), fill: L.colour(d.value) })) };
      const paths = L.marks.filter((m) => m.kind === "path");
      return { root: { marktype: "group", role: "frame", items: [{ items: [
        heat,
        ...(g ? g.scene(L, data[g.dataset]) : []),
        { marktype: "line", role: "mark", items: paths.map((m) => ({ datum: m.datum, points: m.points })) },
        textNode("mark", L.texts.spans),
        { marktype: "group", role: "axis", items: [{ items: [textNode("axis-label", L.texts.x), textNode("axis-title", [{ text: a.xTitle, size: TITLE_PX }])] }] },
        { marktype: "group", role: "axis", items: [{ items: [textNode("axis-label", L.texts.y), textNode("axis-title", [{ text: a.yTitle, size: TITLE_PX }])] }] },
        { marktype: "group", role: "legend", items: [{ items: [
          { marktype: "rect", role: "legend-gradient", items: L.marks.filter((m) => m.kind === "gradient").map(({ x, y, width: w, height: h }) => ({ x, y, width: w, height: h })) },
          textNode("legend-label", L.texts.legend), textNode("legend-title", [{ text: a.colourTitle.length > 1 ? a.colourTitle : a.colourTitle[0], size: TITLE_PX }])] }] },
      ] }] } };
    }

    // the drawing as an SVG document: the same scene, a rect a cell
    async function toSVG() {
      const [w, h] = [PAD + L.left + width + L.right + PAD, PAD + L.top + height + L.bottom + PAD];
      // the SVG namespace as the HTML parser gives it: the site's code names no address
      const holder = document.createElement("div");
      holder.innerHTML = "<svg></svg>";
      const out = [`<svg xmlns="${holder.firstChild.namespaceURI}" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}">`,
        `<g transform="translate(${PAD + L.left},${PAD + L.top})">`];
      const [bw, bh] = [L.x.bandwidth(), L.y.bandwidth()];
      for (const d of scenegraph().root.items[0].items[0].items) out.push(`<rect x="${d.x}" y="${d.y}" width="${bw}" height="${bh}" fill="${d.fill}"/>`);
      if (g) out.push(...g.svg(L, data[g.dataset])); // a gold tree's outlines and argmax marks
      const anchor = { left: "start", center: "middle", right: "end" };
      const shift = { top: "0.79em", middle: "0.32em", bottom: "0" }; // Vega's own baseline offsets
      for (const m of L.marks) {
        if (m.kind === "gradient") {
          out.push(`<defs><linearGradient id="atlas-colour" x1="0" y1="1" x2="0" y2="0">${Array.from({ length: STOPS + 1 },
            (_, s) => `<stop offset="${s / STOPS}" stop-color="rgb(${a.palette(s / STOPS).join(", ")})"/>`).join("")}</linearGradient></defs>`,
          `<rect x="${m.x}" y="${m.y}" width="${m.width}" height="${m.height}" fill="url(#atlas-colour)"/>`);
        } else if (m.kind === "path") {
          out.push(`<path d="M${m.points.map((p) => p.join(",")).join("L")}" fill="none" stroke="${m.stroke}" stroke-width="${m.width}"/>`);
        } else {
          const weight = m.font.startsWith("bold") ? ' font-weight="bold"' : "";
          out.push(`<text transform="translate(${m.x},${m.y}) rotate(${m.angle})" font-family="${escape(a.font)}" font-size="${m.size}px"${weight} ` +
            `fill="${m.fill}" text-anchor="${anchor[m.align]}" dy="${shift[m.baseline]}">${escape(m.text)}</text>`);
        }
      }
      out.push("</g></svg>");
      return out.join("");
    }

    Object.assign(view, {
      canvas, cellAt,
      container: () => box,
      padding: () => ({ top: PAD, bottom: PAD, left: PAD, right: PAD }),
      origin: () => [L.left, L.top],
      width(value) { if (value === undefined) return width; width = value; return view; },
      height(value) { if (value === undefined) return height; height = value; return view; },
      scale: (name) => (name === "x" ? L.x : name === "y" ? L.y : name === "color" ? L.colour : undefined),
      signal(name, value) { if (value === undefined) return signals[name]; signals[name] = value; return view; },
      data: (name) => data[name],
      changeset: () => ({ all: false, rows: [], remove() { this.all = true; return this; }, insert(rows) { this.rows = rows; return this; } }),
      change(name, set) { data[name] = [...(set.all ? [] : data[name] || []), ...set.rows]; return view; },
      runAsync: async () => { paint(); return view; },
      scenegraph, toSVG,
      finalize: () => { canvas.removeEventListener("pointermove", hover); canvas.removeEventListener("pointerout", hide); hide(); },
    });
    paint();
    box.replaceChildren(canvas);
    return view;
  }

  window.atlasDetail = { drawable, draw };
})();
