// A gold tree's layers on the sentence page's canvas detail (assets/detail-draw.js), as
// gold-sentence.js adds them to the detail's spec (two layers on the dataset `gold`, rows {kind:
// "gold" | "best", from, to, ...}): each gold head outlined (dimmed where its relation is not the
// chosen one), each arc's argmax marked with a dot (a hit) or a cross (a miss), as Vega draws
// them, each with its tooltip. Copied to the site of a corpus with arcs only (in its
// assets/sentence-page.js, before sentence.js); a classic script: window.atlasGoldDetail.
(() => {
  const DATA = "gold";

  // whether `layers` (the spec's layers after the detail's own) are a gold tree's
  const fits = (layers) => layers.length === 2 && layers.every((l) => l.data?.name === DATA);

  // Vega's symbol of `shape` ("circle", "cross") and `size` (sqrt(size) px across) at (x, y), turned by `angle`
  function symbol(ctx, shape, size, x, y, angle) {
    ctx.save();
    ctx.translate(x, y);
    ctx.rotate((angle * Math.PI) / 180);
    ctx.beginPath();
    if (shape === "circle") {
      ctx.arc(0, 0, Math.sqrt(size) / 2, 0, 2 * Math.PI); // Vega's circle: r = sqrt(size) / 2
    } else { // Vega's cross: arms r / 2.5 wide
      const r = Math.sqrt(size) / 2;
      const w = r / 2.5;
      [[-r, -w], [-r, w], [-w, w], [-w, r], [w, r], [w, w], [r, w], [r, -w], [w, -w], [w, -r], [-w, -r], [-w, -w]]
        .forEach(([u, v], i) => (i ? ctx.lineTo(u, v) : ctx.moveTo(u, v)));
      ctx.closePath();
    }
    ctx.fill();
    ctx.stroke();
    ctx.restore();
  }

  // the layers `[outline, marks]` of a bound spec as drawn: `data` the dataset's first rows;
  // the returned overlay paints, picks and describes them in a layout L (detail-draw.js's:
  // scales x, y; window r0, nr, c0, nc) from the view's current rows (`rows()`)
  function overlay([outline, marks]) {
    const g = { stroke: outline.mark.stroke, width: outline.mark.strokeWidth, dim: outline.encoding.strokeOpacity.condition.value,
      fill: marks.mark.fill, ink: marks.mark.stroke, inkWidth: marks.mark.strokeWidth, angle: marks.mark.angle || 0,
      hit: marks.encoding.size.condition.value, miss: marks.encoding.size.value, shapes: marks.encoding.shape.scale };
    const shapeOf = (d) => g.shapes.range[g.shapes.domain.indexOf(d.result)];
    const size = (d) => (d.hit ? g.hit : g.miss);
    const opacity = (d) => (d.dim ? g.dim : 1);
    // the rows in the window: [outlines, marks]
    function split(L, rows) {
      const shown = (d) => d.from >= L.r0 && d.from < L.r0 + L.nr && d.to >= L.c0 && d.to < L.c0 + L.nc;
      const inside = (rows || []).filter(shown);
      return [inside.filter((d) => d.kind === "gold"), inside.filter((d) => d.kind === "best")];
    }
    const centre = (L, d) => [L.x(d.to) + L.x.bandwidth() / 2, L.y(d.from) + L.y.bandwidth() / 2];
    return {
      dataset: DATA,
      values: structuredClone(outline.data.values),
      reach: g.width / 2 + 1, // px an outline's stroke on the first row reaches above the map
      paint(ctx, L, rows) {
        const [outlines, bests] = split(L, rows);
        ctx.save();
        Object.assign(ctx, { strokeStyle: g.stroke, lineWidth: g.width, lineJoin: "miter" });
        for (const d of outlines) {
          ctx.globalAlpha = opacity(d);
          ctx.strokeRect(L.x(d.to), L.y(d.from), L.x.bandwidth(), L.y.bandwidth());
        }
        Object.assign(ctx, { globalAlpha: 1, fillStyle: g.fill, strokeStyle: g.ink, lineWidth: g.inkWidth });
        for (const d of bests) symbol(ctx, shapeOf(d), size(d), ...centre(L, d), g.angle);
        ctx.restore();
      },
      // the topmost of the layers' rows at cell (from, to), (u, v) px from its centre, and its
      // tooltip's fields: the mark (within its radius), else the outline; null for neither
      pick(L, rows, from, to, u, v) {
        const [outlines, bests] = split(L, rows);
        const mark = bests.find((m) => m.from === from && m.to === to);
        if (mark && Math.hypot(u, v) <= Math.sqrt(size(mark)) / 2) return [mark, marks.encoding.tooltip];
        const line = outlines.find((m) => m.from === from && m.to === to);
        return line ? [line, outline.encoding.tooltip] : null;
      },
      // what Vega's scenegraph holds for them
      scene(L, rows) {
        const [outlines, bests] = split(L, rows);
        return [{ marktype: "rect", role: "mark", name: "layer_5_marks", items: outlines.map((d) => ({ datum: d, strokeOpacity: opacity(d) })) },
          { marktype: "symbol", role: "mark", name: "layer_6_marks", items: bests.map((d) => ({ datum: d, shape: shapeOf(d) })) }];
      },
      // them as SVG elements
      svg(L, rows) {
        const [outlines, bests] = split(L, rows);
        const out = outlines.map((d) => `<rect x="${L.x(d.to)}" y="${L.y(d.from)}" width="${L.x.bandwidth()}" height="${L.y.bandwidth()}" ` +
          `fill="none" stroke="${g.stroke}" stroke-width="${g.width}" stroke-opacity="${opacity(d)}"/>`);
        for (const d of bests) {
          const r = Math.sqrt(size(d)) / 2;
          const w = r / 2.5;
          const shape = shapeOf(d) === "circle" ? `<circle r="${Math.sqrt(size(d)) / 2}"`
            : `<path d="M${-r},${-w}H${-w}V${-r}H${w}V${-w}H${r}V${w}H${w}V${r}H${-w}V${w}H${-r}Z"`;
          out.push(`<g transform="translate(${centre(L, d).join(",")}) rotate(${g.angle})">${shape} fill="${g.fill}" stroke="${g.ink}" stroke-width="${g.inkWidth}"/></g>`);
        }
        return out;
      },
    };
  }

  window.atlasGoldDetail = { fits, overlay };
})();
