// The downloads of a series' two figures, drawn in the browser from the specs that
// `attention-atlas figure --series` renders (pipeline/site/series_charts.py), bound here to the
// page's own data as pipeline/site/series_figure.py binds them to the stores:
// - a sentence page's "this head across the checkpoints": the head on show, one map per checkpoint
//   whose maps the page carries for the measure (the spec's usermeta.checkpoints, in series order),
//   each from its data script (8-bit codes / 255, as the command draws them), the whole sentence;
//   the spec is assets/specs.js's, under the measure's figure key + ":checkpoints";
// - a head page's "over training": the chosen statistic of this head and, unless unticked, of the
//   heads that lead it at some checkpoint (in the order they first lead, MAX_LINES in all), from
//   data/_series.js (its values, 4 significant digits; its spec, `figure`).
// A classic script, on a series site's sentence pages and head pages, after figure.js (whose
// drawing, saving and buttons it shares) and series-head.js; the Vega code is assets/vega.js.
(() => {
  const CHECKPOINTS_FIGURE = ":checkpoints"; // pipeline/site/series_downloads.py
  const MAX_LINES = 6; // this head and up to five leaders: tableau10 tells them apart
  const plain = (rows) => JSON.parse(JSON.stringify(rows)); // no Vega ids or derived fields
  const fileSafe = (text) => text.replace(/[^A-Za-z0-9._-]+/g, "_");

  const { draw, saveView, wire } = window.atlasFigure; // figure.js: drawing, saving, buttons

  // ---- the sentence page: this head across the checkpoints ----
  async function checkpointsView(atlas) {
    const { fetchBytes, parseMaps, toValue } = window.atlasMaps;
    const key = window.atlasSentence.measureView(atlas.measure).figure + CHECKPOINTS_FIGURE;
    const stored = window.atlasSpecs && window.atlasSpecs[key];
    if (!stored) throw new Error(`assets/specs.js has no figure ${key}`);
    const spec = structuredClone(stored);
    const pairs = [];
    let words = null;
    for (const [panel, label] of spec.usermeta.checkpoints.entries()) {
      const checkpoint = atlas.series.checkpoints.find((c) => c.label === label);
      const url = checkpoint && checkpoint.data[atlas.measure];
      if (!url) throw new Error(`this page has no ${atlas.measure} maps of ${label}`);
      const { H, W, codes } = parseMaps(await fetchBytes(url));
      if (words === null) words = W;
      if (W !== words) throw new Error(`${label}'s maps have ${W} words, not ${words}`);
      const k = (atlas.layer - 1) * H + (Math.min(atlas.head, H) - 1);
      for (let f = 0; f < W; f++) {
        for (let t = 0; t < W; t++) pairs.push({ panel, from: f, to: t, value: toValue(codes[(k * W + f) * W + t]) });
      }
    }
    const params = { selLayer: atlas.layer, selHead: atlas.head, words: atlas.detail.signal("words"),
      tracks: atlas.tracks, rows: [0, 0], cols: [0, 0] };
    return draw(spec, { pairs, spans: plain(atlas.spans) }, params);
  }

  const sentenceBox = document.getElementById("checkpoints-download");
  if (sentenceBox && window.atlas) {
    const atlas = window.atlas;
    const enable = wire(sentenceBox, async (format) => {
      await atlas.ready;
      const page = decodeURIComponent(location.pathname.split("/").pop().replace(/\.html$/, ""));
      const name = `figure-${page}-l${atlas.layer}h${atlas.head}-${atlas.measure}-checkpoints.${format}`;
      await saveView(await checkpointsView(atlas), name, format);
    });
    atlas.ready.then(enable, () => {});
    window.atlasCheckpointsFigure = { view: () => checkpointsView(atlas) }; // for tests
  }

  // ---- the head page: over training ----
  const headBox = document.getElementById("training-download");
  const head = window.atlasSeriesHead;
  if (!headBox || !head) return;
  const page = JSON.parse(document.getElementById("atlas-head").textContent);
  const data = window.atlasSeries;

  // the heads drawn: this one, then (with `leaders`) those that lead the statistic, by first lead
  function chosenHeads(key, leaders) {
    const heads = [[page.layer, page.head]];
    if (leaders) {
      for (const best of head.leaders(key)) {
        if (best && heads.length < MAX_LINES && !heads.some(([l, h]) => l === best.layer && h === best.head)) {
          heads.push([best.layer, best.head]);
        }
      }
    }
    return heads;
  }

  // the figure's rows, head by head, checkpoint by checkpoint (series_figure.get_training_figure_data)
  function trainingRows(stat, heads) {
    return heads.flatMap(([l, h]) => data.checkpoints.map((c, i) => ({
      key: `L${l} H${h}`, step: c.step, label: c.label, value: stat.values[i][l - 1]?.[h - 1] ?? null,
    })));
  }

  // the y axis (and the tooltip's value) titled with the statistic, as the command titles it
  function titled(spec, title) {
    for (const layer of spec.layer) {
      layer.encoding.y.title = title;
      for (const tip of layer.encoding.tooltip || []) if (tip.field === "value") tip.title = title;
    }
    return spec;
  }

  async function trainingView(key = head.stat, leaders = document.getElementById("training-leaders").checked) {
    const m = data.measures.find((x) => x.measure === page.measure);
    const stat = m.stats.find((s) => s.key === key);
    if (!stat) throw new Error(`data/_series.js has no statistic ${key}`);
    const spec = titled(structuredClone(data.figure), stat.axis);
    return draw(spec, { lines: trainingRows(stat, chosenHeads(key, leaders)) }, {});
  }

  const enable = wire(headBox, async (format) => {
    await head.ready;
    const name = `training-l${page.layer}h${page.head}-${page.measure}-${fileSafe(head.stat)}.${format}`;
    await saveView(await trainingView(), name, format);
  });
  head.ready.then(enable, () => {});
  window.atlasTrainingFigure = { view: trainingView, heads: chosenHeads }; // for tests
})();
