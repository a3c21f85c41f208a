// The sentence page's grid of heads drawn on one canvas, without a Vega view: a cold page spent
// 95-105 ms drawing its 144 thumbnails through Vega (mostly Vega's code compiled the first
// time), now a few ms. It draws what the shared grid spec (assets/specs.js: grid, grid-layers;
// pipeline/site/charts.py, which the downloaded figure still draws with Vega) describes, as Vega
// lays it out: each thumbnail at its band's start, step - 4 px square, the selected head
// outlined, head numbers above (with their title), layer numbers at the left (their title in the
// corner above them), or, for a grid that scrolls sideways, no layer numbers (assets/grid-fit.js
// puts a rail at the box's left edge) and the head title at the start. The returned view answers
// the part of a Vega view's interface that grid-fit.js, sentence.js, figure.js and the tests use
// (container, padding, origin, scale, signal, data, runAsync, finalize), plus cellAt, the cell
// under a pointer. A classic script: window.atlasGrid.
(() => {
  const PAD = 5; // px around the chart (Vega's autosize padding)
  const LABEL_PAD = 2; // px between the cells and the axes' numbers (Vega's labelPadding)
  const TITLE_GAP = 4; // px between the head numbers and their title

  // a band scale over 1..n (Vega's, paddings 0): its start, bandwidth and step
  function band(n, step) {
    const scale = (v) => (v - 1) * step;
    return Object.assign(scale, { bandwidth: () => step, step: () => step,
      domain: () => Array.from({ length: n }, (_, i) => i + 1) });
  }

  // the axes' text as the spec sets it (its first layer's encoding and config), and how it shows
  function axesOf(spec, scrolls) {
    const { x, y } = spec.layer[0].encoding;
    const config = spec.config || {};
    const axis = config.axis || {};
    const size = axis.labelFontSize || 11;
    return { font: config.font || "sans-serif", size, ink: axis.labelColor || "#222",
      headTitle: x.title, headLabels: x.axis.labels !== false,
      layerTitle: scrolls ? null : y.title, layerLabels: !scrolls,
      titleStart: scrolls, selected: spec.layer[1].mark.stroke, outline: spec.layer[1].mark.strokeWidth };
  }

  // a sheet's thumbnails (w x h pixels each) as rows {layer, head, canvas, url}: the head's own
  // canvas and its data: URL, each copied out of the sheet when first read (the downloaded
  // figure's SVG holds the URLs; the tests read both)
  function cellsOf(sheet, layers, heads, [w, h]) {
    const rows = [];
    for (let l = 1; l <= layers; l++) {
      for (let k = 1; k <= heads; k++) {
        let own = null;
        rows.push({ layer: l, head: k,
          get canvas() {
            if (!own) {
              own = Object.assign(document.createElement("canvas"), { width: w, height: h });
              own.getContext("2d").drawImage(sheet, (k - 1) * w, (l - 1) * h, w, h, 0, 0, w, h);
            }
            return own;
          },
          get url() { return this.canvas.toDataURL(); } });
      }
    }
    return rows;
  }

  // the grid of a sheet of thumbnails drawn into `box` at `step` px a cell: the sheet is a canvas
  // of heads x layers maps of w x h pixels each, head (l, h)'s at ((h - 1) * w, (l - 1) * h)
  // (paint.js's paintSheet; a map need not be square: a thumbnail fills its square cell); `spec`:
  // the shared grid spec it follows; `selected`: [layer, head]. Returns the grid's view.
  function draw(box, sheet, { layers, heads, step, scrolls, spec, selected }) {
    const a = axesOf(spec, scrolls);
    const canvas = document.createElement("canvas");
    canvas.className = "marks";
    const ctx = canvas.getContext("2d");
    const fonts = { label: `${a.size}px ${a.font}`, title: `bold ${a.size}px ${a.font}` };
    const width = (text, font) => { ctx.font = font; return ctx.measureText(text).width; };
    const [plotW, plotH] = [heads * step, layers * step];
    // room above and left of the cells for the axes (Vega's origin)
    const labelsTop = a.headLabels ? LABEL_PAD + a.size : LABEL_PAD;
    const top = labelsTop + TITLE_GAP + a.size;
    const layerNumbers = a.layerLabels ? Math.max(...band(layers, step).domain().map((l) => width(String(l), fonts.label))) : 0;
    const headTitle = width(a.headTitle || "", fonts.title);
    let left = Math.max(a.layerLabels ? layerNumbers + LABEL_PAD : 0, a.layerTitle ? width(a.layerTitle, fonts.title) : 0,
      a.titleStart ? 0 : headTitle / 2 - plotW / 2);
    left = Math.ceil(left + (left > 0 ? 1 : 0));
    const right = Math.max(0, Math.ceil((a.titleStart ? headTitle : headTitle / 2 + plotW / 2) - plotW));
    const [cssW, cssH] = [PAD + left + plotW + right + PAD, PAD + top + plotH + PAD];
    const ratio = window.devicePixelRatio || 1;
    Object.assign(canvas, { width: Math.round(cssW * ratio), height: Math.round(cssH * ratio) });
    Object.assign(canvas.style, { width: `${cssW}px`, height: `${cssH}px` });
    const x = band(heads, step);
    const y = band(layers, step);
    const sel = { selLayer: selected[0], selHead: selected[1] };
    const [w, h] = [sheet.width / heads, sheet.height / layers]; // one map's pixels
    const cells = cellsOf(sheet, layers, heads, [w, h]);
    const view = { drawn: 0 };

    function paint() {
      ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
      ctx.clearRect(0, 0, cssW, cssH);
      ctx.translate(PAD + left + 0.5, PAD + top + 0.5); // Vega's axes and marks sit half a pixel in
      ctx.fillStyle = a.ink;
      if (a.headLabels) {
        ctx.font = fonts.label;
        Object.assign(ctx, { textAlign: "center", textBaseline: "bottom" });
        for (let h = 1; h <= heads; h++) ctx.fillText(String(h), x(h) + step / 2, -LABEL_PAD);
      }
      if (a.headTitle) {
        ctx.font = fonts.title;
        Object.assign(ctx, { textAlign: a.titleStart ? "left" : "center", textBaseline: "bottom" });
        ctx.fillText(a.headTitle, a.titleStart ? 0 : plotW / 2, -(labelsTop + TITLE_GAP));
      }
      if (a.layerLabels) {
        ctx.font = fonts.label;
        Object.assign(ctx, { textAlign: "right", textBaseline: "middle" });
        for (let l = 1; l <= layers; l++) ctx.fillText(String(l), -LABEL_PAD, y(l) + step / 2);
      }
      if (a.layerTitle) {
        ctx.font = fonts.title;
        Object.assign(ctx, { textAlign: "right", textBaseline: "bottom" });
        ctx.fillText(a.layerTitle, 0, -6);
      }
      ctx.imageSmoothingEnabled = false; // one pixel per word pair, as the spec's smooth: false
      view.drawn = 0;
      for (let l = 1; l <= layers; l++) {
        for (let k = 1; k <= heads; k++) {
          ctx.drawImage(sheet, (k - 1) * w, (l - 1) * h, w, h, x(k) - 0.5, y(l) - 0.5, step - 4, step - 4);
          view.drawn++;
        }
      }
      Object.assign(ctx, { strokeStyle: a.selected, lineWidth: a.outline });
      ctx.strokeRect(x(sel.selHead), y(sel.selLayer), step, step);
    }

    // the (layer, head) under a pointer's client coordinates, or null
    function cellAt(clientX, clientY) {
      const r = canvas.getBoundingClientRect();
      const h = Math.floor((clientX - r.left - PAD - left) / step) + 1;
      const l = Math.floor((clientY - r.top - PAD - top) / step) + 1;
      return l >= 1 && l <= layers && h >= 1 && h <= heads ? [l, h] : null;
    }

    // a pointer over a cell: the hand, and its name as the canvas's tooltip
    function hover(event) {
      const cell = cellAt(event.clientX, event.clientY);
      canvas.style.cursor = cell ? "pointer" : "";
      const tip = cell ? `layer ${cell[0]}, head ${cell[1]}` : "";
      if (canvas.title !== tip) canvas.title = tip;
    }
    canvas.addEventListener("pointermove", hover);

    Object.assign(view, {
      canvas, cellAt,
      container: () => box,
      padding: () => ({ top: PAD, bottom: PAD, left: PAD, right: PAD }),
      origin: () => [left, top],
      width: () => plotW,
      height: () => plotH,
      scale: (name) => (name === "x" ? x : name === "y" ? y : undefined),
      signal(name, value) {
        if (value === undefined) return sel[name];
        sel[name] = value;
        return view;
      },
      data: (name) => (name === "cells" ? cells : undefined),
      runAsync: async () => { paint(); return view; },
      finalize: () => canvas.removeEventListener("pointermove", hover),
    });
    paint();
    box.replaceChildren(canvas);
    return view;
  }

  window.atlasGrid = { draw };
})();
