// A head page: one head (or layer, for a per-layer measure) over the whole corpus. The page
// lists every statistic with the head's value and rank (static HTML); this script draws the
// chosen statistic's distribution over the sentences (a histogram, its axis over this head's
// own range) and the sentences where it is highest and lowest, each with this head's word map
// (from the sentence's data script) labelled with its words, and a link to the sentence page
// opened at this head. The fragment names the statistic: #s=prev. A classic script, so that
// the page also works opened from disk.
(() => {
  const $ = (id) => document.getElementById(id);
  const page = JSON.parse($("atlas-head").textContent);
  const { fetchBytes, parseMaps } = window.atlasMaps;
  const state = { view: null, stat: null };
  window.atlasHead = state; // for tests: state.show(key), state.ready
  // the measure's colour bar as the sentence pages draw it (assets/paint.js, maps.js's viridis)
  const colours = window.atlasPaint.codeColours(page.domain);

  // A sentence's words as the default word rule splits its text (pipeline/words.py: a <tag>, a
  // run of letters, marks, digits and _ with inner apostrophes, or any other grapheme: a character
  // with its marks, an emoji with its modifiers and joined emoji, a flag), when that gives as many
  // words as the store holds; else null (a corpus with words of its own, e.g. CoNLL-U forms: its
  // maps are drawn without them). The head page carries numbers only; the texts are the index's
  // (data/_index.js).
  const WORD = new RegExp(["<[^\\s<>\\p{Cc}\\p{Cf}]+>", "[\\p{L}\\p{M}\\p{N}_]+(?:['\u2019][\\p{L}\\p{M}\\p{N}_]+)*",
    "\\p{Regional_Indicator}{2}", "[^\\s\\p{Cc}\\p{Cf}](?:[\\p{M}\\p{Emoji_Modifier}\\uFE0F]|\\u200D[^\\s\\p{Cc}\\p{Cf}])*"].join("|"), "gu");
  const wordsOf = (text, count) => {
    const words = text.match(WORD) || [];
    return words.length === count ? words : null;
  };

  // an exemplar's map: about MAP_PX square, in cells of CELL_MAX px at most; a sentence of up to
  // LABELLED words keeps cells of LABEL_CELL px (the map grows), which carry its words; a longer
  // one gets cells of at least CELL_MIN px, without words (its pairs' titles still name them)
  const MAP_PX = 140;
  const CELL_MAX = 14;
  const LABEL_CELL = 9;
  const LABELLED = 32;
  const CELL_MIN = 3;
  const LABEL_CHARS = 12; // a longer word is cut, with an ellipsis (the title has it whole)

  // this head's word map of one sentence into a canvas: R rows (attending words) of W columns
  // (attended words; R = W but on an encoder-decoder's cross page: target rows, source columns),
  // cells of `cell` px, the rows' words along the left and the columns' along the top where the
  // cells can carry them; a pointer over a cell names its two words and value (the canvas's title)
  async function drawMap(canvas, name, words, rowWords = words) {
    const maps = parseMaps(await fetchBytes(page.data.replace("{page}", encodeURIComponent(name))));
    const k = (page.layer - 1) * maps.H + (Math.min(page.head, maps.H) - 1);
    const { W, codes } = maps;
    const R = maps.R || W;
    const side = Math.max(W, R);
    const fit = Math.min(CELL_MAX, Math.floor(MAP_PX / Math.max(1, side)));
    const cell = side <= LABELLED ? Math.max(LABEL_CELL, fit) : Math.max(CELL_MIN, Math.floor((LABELLED * LABEL_CELL) / side));
    const shown = words && rowWords && cell >= LABEL_CELL ? [words.slice(0, W), rowWords.slice(0, R)] : null;
    const small = document.createElement("canvas"); // one pixel per word pair, then scaled up
    window.atlasPaint.paint(small, maps, k, colours);
    const ctx = canvas.getContext("2d");
    const font = `${Math.min(10, cell)}px system-ui, sans-serif`;
    ctx.font = font;
    const cut = (w) => (w.length > LABEL_CHARS ? `${w.slice(0, LABEL_CHARS - 1)}\u2026` : w);
    const room = (list) => Math.ceil(Math.max(...list.map((w) => ctx.measureText(cut(w)).width))) + 4;
    const [top, margin] = shown ? shown.map(room) : [0, 0]; // the columns' labels, the rows'
    const [wide, high] = [margin + W * cell, top + R * cell];
    const scale = window.devicePixelRatio || 1;
    Object.assign(canvas, { width: Math.ceil(wide * scale), height: Math.ceil(high * scale) });
    Object.assign(canvas.style, { width: `${wide}px`, height: `${high}px` });
    Object.assign(canvas.dataset, { margin, top, cell, words: W, rows: R, labelled: shown ? "1" : "0" });
    ctx.scale(scale, scale);
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(small, margin, top, W * cell, R * cell);
    if (shown) {
      Object.assign(ctx, { font, fillStyle: "#222", textBaseline: "middle", textAlign: "right" });
      shown[1].forEach((w, i) => ctx.fillText(cut(w), margin - 3, top + (i + 0.5) * cell));
      ctx.rotate(-Math.PI / 2); // the columns' words read upwards, ending above their column
      ctx.textAlign = "left";
      shown[0].forEach((w, i) => ctx.fillText(cut(w), -top + 3, margin + (i + 0.5) * cell));
      ctx.setTransform(1, 0, 0, 1, 0, 0);
    }
    const describe = (event) => {
      const box = canvas.getBoundingClientRect();
      const px = wide / box.width; // the page may draw it smaller (a phone)
      const col = Math.floor(((event.clientX - box.left) * px - margin) / cell);
      const row = Math.floor(((event.clientY - box.top) * px - top) / cell);
      if (row < 0 || col < 0 || row >= R || col >= W) return;
      const from = rowWords ? rowWords[row] : `word ${row + 1}`;
      const to = words ? words[col] : `word ${col + 1}`;
      canvas.title = `${from} \u2192 ${to}: ${window.atlasMaps.toValue(codes[(k * R + row) * W + col]).toFixed(4)}`;
    };
    canvas.addEventListener("pointermove", describe);
  }

  // a sentence of the corpus by position: id, page name, text (the site's index data, which
  // lists the sentences with a page: every one, or, on a site with a size limit, those it holds,
  // each with its corpus position in the column "n"); null when it has no page
  let byPosition = null;
  function sentence(position) {
    const { columns, rows } = window.atlasIndexData;
    const n = columns.indexOf("n");
    if (n >= 0 && !byPosition) byPosition = new Map(rows.map((row) => [row[n], row]));
    const row = n >= 0 ? byPosition.get(position) : rows[position];
    if (!row) return null;
    return ["id", "page", "text", "words"].map((c) => row[columns.indexOf(c)]);
  }

  // a sentence the site's size limit left without a page: its corpus number and value, no link
  function unlinked(position, value) {
    const li = Object.assign(document.createElement("li"), { className: "no-page" });
    const row = Object.assign(document.createElement("span"), { className: "unlinked" });
    const blank = Object.assign(document.createElement("span"), { className: "mini-map" });
    const number = Object.assign(document.createElement("span"), { className: "num" });
    number.textContent = value === null ? "—" : value.toFixed(4);
    const label = Object.assign(document.createElement("span"), { className: "exemplar-text" });
    label.textContent = `sentence ${(position + 1).toLocaleString("en")} of the corpus (no page: the site's size limit)`;
    row.append(blank, number, label);
    li.append(row);
    return li;
  }

  function item(position, value) {
    const found = sentence(position);
    if (!found) return unlinked(position, value);
    const [id, name, text, count] = found;
    const li = document.createElement("li");
    const link = Object.assign(document.createElement("a"), {
      href: page.sentence.replace("{page}", encodeURIComponent(name)),
      title: `open ${id} at this head`,
    });
    // 0 x 0 until its map is drawn (a canvas is otherwise 300 x 150)
    const canvas = Object.assign(document.createElement("canvas"), { className: "exemplar-map", width: 0, height: 0 });
    canvas.setAttribute("aria-label", `this head's word map of ${id}`);
    const label = document.createElement("span");
    label.className = "exemplar-text";
    // an encoder-decoder's decoder or cross page: the pair, source → target
    const shown = page.targets && page.targets[position] !== undefined ? `${text} \u2192 ${page.targets[position]}` : text;
    label.textContent = shown.length > 160 ? `${shown.slice(0, 159)}…` : shown; // data, never markup
    const number = document.createElement("span");
    number.className = "num";
    number.textContent = value === null ? "—" : value.toFixed(4);
    const about = Object.assign(document.createElement("span"), { className: "exemplar-about" });
    about.append(number, label);
    link.append(canvas, about);
    li.append(link);
    // the page's own list first: a sentence whose words the default rule does not find in its text
    // (an encoder-decoder's decoder page: the target's); a cross page's rows are the target's
    const words = (page.words && page.words[position]) || (page.part === "decoder" ? null : wordsOf(text, count));
    const rows = page.rowWords ? page.rowWords[position] || null : words;
    drawMap(canvas, name, words, rows).catch(() => canvas.replaceWith(document.createTextNode("")));
    return li;
  }

  async function show(key) {
    const s = page.stats.find((x) => x.key === key) || page.stats[0];
    state.stat = s.key;
    for (const row of document.querySelectorAll("#head-stats tbody tr")) {
      if (row.dataset.key === s.key) row.setAttribute("aria-current", "true");
      else row.removeAttribute("aria-current");
    }
    const ranked = s.rank ? `rank ${s.rank} of ${s.ranked}` : "undefined for this head";
    $("chosen").textContent = `${s.label}: ${s.value === null ? "—" : s.value.toFixed(4)} (${ranked})`;
    $("top").replaceChildren(...s.top.map(([ref, v]) => item(ref, v)));
    $("bottom").replaceChildren(...s.bottom.map(([ref, v]) => item(ref, v)));
    const spec = structuredClone(window.atlasSpecs.histogram);
    // narrower on a phone: the plot and its axes (70 px) within the page's width; the section's,
    // not the chart's (drawn once, the chart's box is as wide as its last drawing)
    spec.width = Math.max(160, Math.min(spec.width, $("histogram").parentElement.clientWidth - 70));
    spec.encoding.x.title = s.label;
    spec.encoding.x.scale = { ...spec.encoding.x.scale, domain: [s.edges[0], s.edges[s.edges.length - 1]] };
    spec.datasets = { bins: s.hist.map((n, i) => ({ lo: s.edges[i], hi: s.edges[i + 1], sentences: n })) };
    const result = await window.vegaEmbed("#histogram", spec, { mode: "vega-lite", actions: false, renderer: "svg" });
    if (state.view) state.view.finalize();
    state.view = result.view;
    $("histogram").setAttribute("aria-busy", "false");
    for (const link of document.querySelectorAll(".head-links a")) { // the neighbours: this statistic
      link.setAttribute("href", `${link.getAttribute("href").split("#")[0]}#s=${encodeURIComponent(s.key)}`);
    }
  }

  const chosen = () => new URLSearchParams(location.hash.slice(1)).get("s");

  async function main() {
    await show(chosen());
    if (chosen() !== state.stat) history.replaceState(null, "", `#s=${encodeURIComponent(state.stat)}`);
    window.addEventListener("hashchange", () => show(chosen()));
    document.documentElement.dataset.ready = "true";
  }

  state.show = show;
  state.ready = main().catch((error) => {
    const note = $("load-error");
    note.hidden = false;
    note.textContent = `Could not draw this head's sentences: ${error.message}`;
    document.documentElement.dataset.ready = "error";
    throw error;
  });
})();
