// "download figure (SVG / PNG)": the sentence figure of the head and measure on show, drawn in
// the browser from the figure spec that `attention-atlas figure` renders (pipeline/site/charts.py
// builds both from the page's own grid and detail). The spec comes from assets/specs.js
// (window.atlasSpecs[window.atlas.figure]: "figure", or "figure-<m>" for measure m), so nothing
// is fetched and the download works from a page opened from disk too. A classic script, run
// after sentence.js (window.atlas); the Vega code is the site's assets/vega.js, loaded when
// first needed (assets/embed.js's atlasVega).
// Data: the grid's thumbnails and the selected head from the page (window.atlas); the detail's
// rows from the measure's full maps, so a long sentence the page shows a window at a time is
// drawn whole when it fits the figure at FIGURE_MIN_CELL pixels a word, else the page's window.
(() => {
  const FIGURE_MIN_CELL = 7; // px: the figure's word labels stay legible (its font is cell - 1)
  const box = document.getElementById("figure-download");
  const plain = (rows) => JSON.parse(JSON.stringify(rows)); // no Vega ids or derived fields

  // the figure's detail side in pixels (the last chart of its concat, or the figure itself)
  const detailSide = (spec) => {
    const detail = spec.hconcat ? spec.hconcat[spec.hconcat.length - 1] : spec;
    return Math.min(detail.width, detail.height);
  };

  function figureSpec(atlas) {
    const spec = window.atlasSpecs && window.atlasSpecs[atlas.figure];
    if (!spec) throw new Error(`assets/specs.js has no figure ${atlas.figure}`);
    // a series' difference of two checkpoints: its colour bar (series-sentence.js)
    return atlas.prepareFigure ? atlas.prepareFigure(structuredClone(spec)) : structuredClone(spec);
  }

  async function figureView(atlas) {
    const spec = figureSpec(atlas);
    const { W, R } = atlas.maps;
    // the whole sentence when it fits, else the window the page shows
    const win = Math.max(W, R) * FIGURE_MIN_CELL <= detailSide(spec) ? null : atlas.window;
    const [r0, r1, c0, c1] = win || [0, 0, 0, 0];
    // an encoder-decoder model's part: the rows' words and spans their own (sentence-parts.js)
    const sides = atlas.sides ? atlas.sides() : null;
    const data = {
      cells: plain(atlas.grid.data("cells")),
      pairs: atlas.detailRows(atlas.layer, atlas.head, win),
      spans: plain(sides ? sides.colSpans : atlas.spans),
      ...(sides ? { rowSpans: plain(sides.rowSpans) } : {}),
    };
    const params = {
      selLayer: atlas.layer, selHead: atlas.head, words: atlas.detail.signal("words"),
      tracks: sides ? sides.colTracks : atlas.tracks, rows: [r0, r1], cols: [c0, c1],
      ...(sides ? { rowWords: sides.rowWords, rowTracks: sides.rowTracks } : {}),
      ...(atlas.colourParams ? atlas.colourParams() : {}), // the page's colour bar: fixed or fitted
    };
    return draw(spec, data, params);
  }

  // a spec bound to its datasets (spec.usermeta.datasets) and params, drawn off the page
  async function draw(spec, data, params) {
    spec.datasets = {};
    for (const name of spec.usermeta.datasets) {
      if (!(name in data)) throw new Error(`the figure needs a dataset ${name} the page lacks`);
      spec.datasets[name] = data[name];
    }
    for (const param of spec.params || []) {
      if (param.name in params) param.value = params[param.name];
    }
    const element = document.createElement("div");
    const options = { mode: "vega-lite", actions: false, renderer: "svg" };
    await window.atlasVega?.(); // loaded on demand where the page drew without it (embed.js)
    return (await window.vegaEmbed(element, spec, options)).view;
  }

  function save(url, name) {
    const link = Object.assign(document.createElement("a"), { href: url, download: name });
    document.body.append(link);
    link.click();
    link.remove();
  }

  // a drawn figure as a file: SVG, or PNG at twice its pixels (the command's --scale); the view
  // is finalized
  async function saveView(view, name, format) {
    try {
      if (format === "svg") {
        const url = URL.createObjectURL(new Blob([await view.toSVG()], { type: "image/svg+xml" }));
        save(url, name);
        setTimeout(() => URL.revokeObjectURL(url), 60_000);
      } else {
        save(await view.toImageURL("png", 2), name);
      }
    } finally {
      view.finalize();
    }
  }

  // the buttons of a download box: each makes its format's file (`make(format)`), saying why
  // not; returns what enables them
  function wire(downloads, make) {
    const all = [...downloads.querySelectorAll("button[data-format]")];
    const status = downloads.querySelector("[role=status]");
    for (const button of all) {
      button.addEventListener("click", async () => {
        status.textContent = "";
        all.forEach((b) => { b.disabled = true; });
        try {
          await make(button.dataset.format);
        } catch (error) {
          status.textContent = `could not make the figure: ${error.message}`;
        } finally {
          all.forEach((b) => { b.disabled = false; });
        }
      });
    }
    return () => all.forEach((b) => { b.disabled = false; });
  }

  async function download(format) {
    const atlas = window.atlas;
    await atlas.ready;
    const page = decodeURIComponent(location.pathname.split("/").pop().replace(/\.html$/, ""));
    const name = `figure-${page}-l${atlas.layer}h${atlas.head}-${atlas.measure}${atlas.partTag || ""}${atlas.figureTag || ""}.${format}`;
    await saveView(await figureView(atlas), name, format);
  }

  // shared with a series' downloads (series-figures.js); view: for tests, the figure drawn
  window.atlasFigure = { view: () => figureView(window.atlas), draw, saveView, wire };
  if (box && window.atlas) {
    const enable = wire(box, download);
    window.atlas.ready.then(enable, () => {});
  }
})();
