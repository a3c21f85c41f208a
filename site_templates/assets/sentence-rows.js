// Several words at once on the sentence page. Select rows of the detail, the attending words:
// click a word on the map's left (alone), shift-click (or ctrl / cmd) to add or remove one, tap to
// add or remove on a touch screen, or shift-click a cell; click a span's label (on either axis)
// for every word of that label. Under the map, an extra row shows their combined attention, the
// mean of the selected rows (as a word's own row is the mean over its tokens), in the map's
// colours, with the words it draws on most; a span label adds the span x span table of the head
// on show: the mean over the row label's words of what they pay to the column label's words, the
// corpus view's span mass for this sentence. Escape clears; the address keeps a span label
// (`span=ENV`), which previous / next carry to the next sentence that has it.
// After sentence-state.js and sentence-window.js; sentence.js and sentence-window.js call
// S.detailDrawn whenever the detail is drawn again (a head, a measure, a window, a size).
(() => {
  const S = window.atlasSentence;
  const { $, page, state } = S;
  const { toValue, viridis } = window.atlasMaps;
  const TRACK_PX = 24; // one row of span brackets (pipeline/site/charts.py TRACK_PX)
  const TOP = 5; // the words the note names
  const sel = { rows: new Set(), label: null }; // the selected rows; the span label they are
  state.rows = sel; // for tests

  // the rows' and the columns' words and spans: the sentence's, or an encoder-decoder model's
  // part's (the target's rows of cross and decoder: sentence-parts.js)
  const side = () => (S.sides ? S.sides() : { rowWords: page.words, rowSpans: state.spans, rowTracks: state.tracks,
    colWords: page.words, colSpans: state.spans, colTracks: state.tracks });

  // each span label's words (of every span with that label), in order of first appearance
  function labelWords(spans) {
    const out = new Map();
    for (const { label, first, last } of spans) {
      if (!out.has(label)) out.set(label, []);
      for (let i = first; i < last; i++) out.get(label).push(i);
    }
    return out;
  }
  const labels = { get rows() { return labelWords(side().rowSpans); }, get cols() { return labelWords(side().colSpans); } };

  // ---- where a pointer is on the detail: the plot's box and its scales ----
  function plot() {
    const view = state.detail;
    const canvas = $("detail").querySelector("canvas");
    if (!view || !canvas) return null;
    const box = canvas.getBoundingClientRect();
    const [ox, oy] = view.origin();
    const { left, top } = view.padding();
    return { x0: box.left + left + ox, y0: box.top + top + oy, width: view.width(),
      height: view.height(), x: view.scale("x"), y: view.scale("y") };
  }
  const at = (scale, v) => scale.domain().find((d) => v >= scale(d) && v < scale(d) + scale.step());
  const spanAt = (spans, word, track) => spans.find((s) => s.track === track && s.first <= word && word < s.last);

  function onClick(event) {
    const p = plot();
    if (!p) return;
    const [rx, ry] = [event.clientX - p.x0, event.clientY - p.y0];
    const touch = event.pointerType && event.pointerType !== "mouse";
    const extend = event.shiftKey || event.ctrlKey || event.metaKey || touch;
    const track = (d) => Math.floor((d - 3) / TRACK_PX); // the bracket row at d px from the map
    const { rowSpans, rowTracks, colSpans, colTracks } = side();
    if (ry >= 0 && ry < p.height && rx < 0) { // left of the map: a span's bracket, or a word
      const row = at(p.y, ry);
      if (row === undefined) return;
      const span = -rx > 3 && track(-rx) < rowTracks ? spanAt(rowSpans, row, track(-rx)) : null;
      if (span) pickLabel(span.label, extend);
      else pickRow(row, extend);
    } else if (rx >= 0 && rx < p.width && ry >= 0 && ry < p.height) { // a cell: its row, with shift
      if (event.shiftKey && !touch) pickRow(at(p.y, ry), true);
    } else if (rx >= 0 && rx < p.width && ry >= p.height + 3 && track(ry - p.height) < colTracks) {
      const span = spanAt(colSpans, at(p.x, rx), track(ry - p.height)); // a bracket under the map
      if (span) pickLabel(span.label, extend);
    }
  }

  function pickRow(row, extend) {
    if (row === undefined) return;
    if (extend) {
      if (sel.rows.has(row)) sel.rows.delete(row);
      else sel.rows.add(row);
    } else {
      sel.rows = sel.rows.size === 1 && sel.rows.has(row) ? new Set() : new Set([row]);
    }
    sel.label = null;
    changed();
  }

  function pickLabel(label, extend) {
    const words = labels.rows.get(label) || []; // the rows of the label (a column's label: the rows' words of that label)
    if (!extend && sel.label === label) sel.rows = new Set(); // the same label again: cleared
    else sel.rows = new Set([...(extend ? sel.rows : []), ...words]);
    sel.label = sel.rows.size && (!extend || sel.rows.size === words.length) ? label : null;
    changed();
  }

  function clear() {
    sel.rows = new Set();
    sel.label = null;
    changed();
  }

  function changed() {
    state.rows = sel;
    S.setParam("span", sel.label); // a span label stays in the address; words do not
    update();
  }

  // ---- what the selection gives for the head on show ----
  const shownHead = () => (state.layer - 1) * state.maps.H + (state.head - 1);
  const selected = () => [...sel.rows].filter((r) => r < state.maps.R).sort((a, b) => a - b);

  // the mean of the selected rows (codes, as fractions of a code), and of their special shares
  function combined() {
    const { W, R, codes, special } = state.maps;
    const k = shownHead();
    const rows = selected();
    const mean = new Float64Array(W);
    let share = 0;
    for (const f of rows) {
      for (let t = 0; t < W; t++) mean[t] += codes[(k * R + f) * W + t];
      share += special[k * R + f];
    }
    for (let t = 0; t < W; t++) mean[t] /= rows.length;
    return { rows, mean, share: share / rows.length };
  }

  // label a -> label b: the mean over a's words of the sum over b's words (span_mass_batch);
  // a the rows' labels, b the columns' (the same but for an encoder-decoder model's cross part)
  function spanMass() {
    const { W, R, codes } = state.maps;
    const k = shownHead();
    const [rows, cols] = [labels.rows, labels.cols];
    return [...rows.keys()].map((a) => [...cols.keys()].map((b) => {
      let sum = 0;
      for (const f of rows.get(a)) for (const t of cols.get(b)) sum += codes[(k * R + f) * W + t];
      return toValue(sum / rows.get(a).length);
    }));
  }

  // ---- drawing: the panel under the map, the selected rows outlined on it ----
  const el = (tag, props = {}) => Object.assign(document.createElement(tag), props);

  function panel() {
    if ($("rows")) return $("rows");
    const box = el("div", { id: "rows", className: "rows" });
    const strip = el("div", { className: "rows-strip" });
    strip.append(el("span", { id: "rows-label", className: "rows-label" }),
      el("canvas", { id: "rows-map" }));
    const note = el("p", { id: "rows-note", className: "note" });
    note.setAttribute("aria-live", "polite");
    const about = el("p", { id: "span-note", className: "note" });
    box.append(strip, note, about, el("table", { id: "span-table", className: "span-table" }));
    $("detail").after(box);
    $("detail").parentElement.append(el("div", { id: "rows-marks", className: "rows-marks" }));
    $("rows-map").addEventListener("mousemove", (event) => hover(event));
    return box;
  }

  function update() {
    if (!state.maps || !state.detail) return;
    const box = panel();
    const p = plot();
    const rows = selected();
    box.classList.toggle("empty", !rows.length);
    marks(p, rows);
    $("span-table").hidden = !sel.label;
    $("span-note").hidden = !sel.label;
    if (!rows.length) {
      $("rows-label").textContent = "";
      $("rows-note").textContent = labels.rows.size
        ? "Click a word on the map's left, shift-click more (tap on a touch screen), or click a span's label: their mean row shows here."
        : "Click a word on the map's left, shift-click more (tap on a touch screen): their mean row shows here.";
      return;
    }
    const { mean, share } = combined();
    strip(p, mean);
    describe(rows, mean, share);
    if (sel.label) table();
  }

  // the mean row: a cell per column the map shows, under its column, in the head's colours
  function strip(p, mean) {
    const canvas = $("rows-map");
    const { W, offset = 0 } = state.maps;
    const [c0, c1] = state.window ? [state.window[2], state.window[3]] : [0, W];
    const colours = S.headColours?.(shownHead()) || state.colours;
    const cell = p ? p.x.step() : 12;
    const height = Math.round(Math.min(28, Math.max(14, p ? p.y.step() : 14)));
    const ratio = window.devicePixelRatio || 1;
    canvas.width = Math.round((c1 - c0) * cell * ratio);
    canvas.height = Math.round(height * ratio);
    Object.assign(canvas.style, { width: `${(c1 - c0) * cell}px`, height: `${height}px` });
    const label = $("rows-label");
    label.style.width = `${p ? Math.max(0, p.x0 - $("rows").getBoundingClientRect().left) : 0}px`;
    label.textContent = sel.label ? `${sel.label} (mean)` : `mean of ${selected().length}`;
    const ctx = canvas.getContext("2d");
    ctx.scale(ratio, ratio);
    for (let t = c0; t < c1; t++) {
      const rgba = colours[Math.round(mean[t]) + offset];
      ctx.fillStyle = `rgb(${rgba & 255},${(rgba >>> 8) & 255},${(rgba >>> 16) & 255})`;
      ctx.fillRect((t - c0) * cell, 0, Math.ceil(cell), height);
    }
    canvas.dataset.columns = `${c0},${c1}`;
  }

  function hover(event) {
    const canvas = event.currentTarget;
    const [c0, c1] = canvas.dataset.columns.split(",").map(Number);
    const box = canvas.getBoundingClientRect();
    const t = c0 + Math.floor(((event.clientX - box.left) / box.width) * (c1 - c0));
    const { mean } = combined();
    if (t >= c0 && t < c1) canvas.title = `to ${side().colWords[t]}: ${toValue(mean[t]).toFixed(4)} (the mean of the selected rows)`;
  }

  // a column's word as the note names it: with its place (1-based) where the sentence repeats it
  const named = (t, words = side().colWords) => (words.indexOf(words[t]) !== words.lastIndexOf(words[t])
    ? `${words[t]} (word ${t + 1})` : words[t]);

  // which rows, and the words their mean draws on most
  function describe(rows, mean, share) {
    const { title } = S.measureView(state.measure);
    const LISTED = 10; // words named; a span's label names the rest
    const words = rows.slice(0, LISTED).map((r) => side().rowWords[r]).join(" ") +
      (rows.length > LISTED ? ` \u2026 and ${rows.length - LISTED} more` : "");
    const count = `${rows.length} ${rows.length === 1 ? "word" : "words"}`;
    const what = sel.label ? `${sel.label}'s ${count}` : `${count} (${words})`;
    const top = [...mean.keys()].filter((t) => mean[t] > 0)
      .sort((a, b) => mean[b] - mean[a] || a - b).slice(0, TOP);
    const most = top.map((t) => `${named(t)} ${toValue(mean[t]).toFixed(3)}`).join(", ");
    const unit = state.maps.H === 1 ? `layer ${state.layer}` : `layer ${state.layer}, head ${state.head}`;
    const hidden = state.window ? rows.filter((r) => r < state.window[0] || r >= state.window[1]).length : 0;
    const note = $("rows-note");
    note.replaceChildren();
    note.append(`${what}${hidden ? ` (${hidden} of them outside the rows drawn)` : ""}: ` +
      `their mean ${title} in ${unit} goes most to ${most || "no word"}` +
      (share > 0 ? `; ${(100 * toValue(share)).toFixed(1)}% to special tokens. ` : ". "));
    const button = el("button", { type: "button", id: "rows-clear", textContent: "clear" });
    button.addEventListener("click", clear);
    note.append(button);
  }

  function table() {
    const [names, columns] = [[...labels.rows.keys()], [...labels.cols.keys()]];
    const mass = spanMass();
    const head = state.maps.H === 1 ? `layer ${state.layer}` : `layer ${state.layer}, head ${state.head}`;
    $("span-note").textContent = `Span mass, ${head}: the mean over the row label's words of the ` +
      `${S.measureView(state.measure).title} they pay to the column label's words (the corpus view's ` +
      "span mass, for this sentence; colours from 0 to 1). Click a label to see its words' mean row.";
    const headRow = el("tr");
    headRow.append(el("th", { textContent: "from \u2193 to \u2192" }), ...columns.map((b) => el("th", { textContent: b, scope: "col" })));
    const body = names.map((a, i) => {
      const tr = el("tr");
      if (a === sel.label) tr.setAttribute("aria-current", "true");
      const th = el("th", { scope: "row" });
      const pick = el("button", { type: "button", textContent: a });
      pick.addEventListener("click", () => pickLabel(a, false));
      th.append(pick);
      tr.append(th, ...mass[i].map((v) => {
        const td = el("td", { className: "num", textContent: v.toFixed(3) });
        if (!state.maps.minus) {
          const [r, g, b] = viridis(v);
          Object.assign(td.style, { background: `rgb(${r},${g},${b})`, color: v < 0.6 ? "#fff" : "#000" });
        }
        return td;
      }));
      return tr;
    });
    $("span-table").replaceChildren(el("thead"), el("tbody"));
    $("span-table").tHead.append(headRow);
    $("span-table").tBodies[0].append(...body);
  }

  // the selected rows that the map shows, outlined: one box per run of neighbouring rows
  function marks(p, rows) {
    const layer = $("rows-marks");
    layer.replaceChildren();
    if (!p || !rows.length) return;
    const box = layer.parentElement.getBoundingClientRect();
    const shown = rows.filter((r) => p.y(r) !== undefined && p.y.domain().includes(r));
    for (let i = 0; i < shown.length;) {
      let j = i;
      while (j + 1 < shown.length && shown[j + 1] === shown[j] + 1) j++;
      const top = p.y0 + p.y(shown[i]) - box.top;
      layer.append(el("div", { className: "rows-mark", style: `left:${p.x0 - box.left}px;top:${top}px;` +
        `width:${p.width}px;height:${(j - i + 1) * p.y.step()}px` }));
      i = j + 1;
    }
  }

  // ---- hooks ----
  let first = true;
  S.detailDrawn = () => {
    if (first && state.detail) { // the address's span label, where this sentence has it
      first = false;
      const label = S.param("span");
      const rows = labels.rows;
      if (rows.has(label)) [sel.rows, sel.label] = [new Set(rows.get(label)), label];
    }
    update();
  };
  Object.assign(S, { pickRow, pickLabel, clearRows: clear });
  $("detail").addEventListener("click", onClick);
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && sel.rows.size && !event.target.closest("input, textarea, select")) clear();
  });
})();
