// A sentence page's gold tree (a .conllu corpus: the page's JSON has `arcs`, [dependent, head or
// -1 for the root, relation] over its words; pipeline/site/gold.py). On the detail, each word's
// gold head is outlined (its relation in the tooltip), and the selected head's argmax (the word
// each word attends to most, itself aside, as the dependency statistics take it; the lowest on a
// tie) is marked on every arc's row: a dot inside the outline where it is the gold head (a hit),
// a cross where it is not (a miss). The relation selector (`rel` in the address, carried by
// previous / next) keeps one relation's arcs and dims the others; the note and the list below say
// how many the head gets right. The argmax is read from the page's own 8-bit map, so on a near tie
// it may differ from the corpus statistics (computed from the store's values).
// Copied to the site of a corpus with arcs only, and loaded before sentence.js: it adds layers to
// the detail's spec (S.detailSpec, after a series' own) and refreshes them as a head is chosen
// (S.redrawDetail); the window of a long sentence filters them through the spec's rows / cols.
(() => {
  const S = window.atlasSentence;
  const { $, page, state } = S;
  const { toValue } = window.atlasMaps;
  if (!page.arcs) return;
  const arcs = page.arcs.filter(([, head]) => head >= 0); // the root has no cell
  const GOLD = "#ff3d8b"; // the outline: apart from viridis' purples, greens and yellow
  const DATA = "gold"; // the layers' dataset: rows {kind: "gold" | "best", from, to, ...}

  const relations = new Map(); // relation -> its arcs in this sentence
  for (const [, , rel] of arcs) relations.set(rel, (relations.get(rel) || 0) + 1);
  // the relation the address names (`rel`; one this sentence lacks: every relation, and `rel` stays)
  const relation = () => (relations.has(S.param("rel")) ? S.param("rel") : "");
  const shown = (rel) => !relation() || rel === relation();

  // each arc's row: the head's argmax over the row's other words (the lowest index on a tie), or
  // -1 where the page shows a difference of two checkpoints (an argmax of a difference says nothing)
  function argmax(dependent) {
    const { H, W, codes, minus } = state.maps;
    if (minus) return -1;
    const k = (state.layer - 1) * H + (state.head - 1);
    let best = -1;
    for (let t = 0; t < W; t++) {
      if (t !== dependent && (best < 0 || codes[(k * W + dependent) * W + t] > codes[(k * W + dependent) * W + best])) best = t;
    }
    return best;
  }

  // the layers' rows for the head on show: an outline per arc, a mark at each shown arc's argmax
  function goldRows() {
    const { H, W, codes } = state.maps;
    const k = (state.layer - 1) * H + (state.head - 1);
    const words = page.words;
    const rows = [];
    for (const [dep, head, rel] of arcs) {
      const best = argmax(dep);
      const hit = best === head;
      const result = best < 0 ? "" : hit ? "hit" : `miss (argmax: ${words[best]})`;
      rows.push({ kind: "gold", from: dep, to: head, rel, fromWord: words[dep], toWord: words[head],
        value: state.maps.minus ? null : toValue(codes[(k * W + dep) * W + head]), result, dim: !shown(rel) });
      if (best >= 0 && shown(rel)) {
        rows.push({ kind: "best", from: dep, to: best, rel, hit, fromWord: words[dep], toWord: words[best],
          gold: words[head], result: hit ? "hit" : "miss" });
      }
    }
    return rows;
  }

  // the window of a long sentence (the detail's rows / cols params, [0, 0]: every word)
  const inWindow = (axis, param) => `datum.${axis} >= (${param}[1] > ${param}[0] ? ${param}[0] : 0) && ` +
    `datum.${axis} < (${param}[1] > ${param}[0] ? ${param}[1] : length(words))`;
  const position = { x: { field: "to", type: "ordinal" }, y: { field: "from", type: "ordinal" } };

  function withGold(spec) {
    const filter = `${inWindow("from", "rows")} && ${inWindow("to", "cols")}`;
    const data = { name: DATA, values: goldRows() };
    spec.layer.push({
      data, transform: [{ filter: `datum.kind === 'gold' && ${filter}` }],
      mark: { type: "rect", fill: "transparent", stroke: GOLD, strokeWidth: 2.5, strokeJoin: "miter" },
      encoding: { ...position,
        strokeOpacity: { condition: { test: "datum.dim", value: 0.3 }, value: 1 },
        tooltip: [{ field: "fromWord", title: "from" }, { field: "toWord", title: "to (gold head)" },
          { field: "rel", title: "gold relation" },
          { field: "value", type: "quantitative", title: S.measureView(state.measure).title, format: ".4f" },
          { field: "result", title: "this head's argmax" }] },
    }, {
      data, transform: [{ filter: `datum.kind === 'best' && ${filter}` }],
      mark: { type: "point", filled: true, stroke: "#000", strokeWidth: 1, fill: "#fff", opacity: 1, angle: 45 },
      encoding: { ...position,
        shape: { field: "result", type: "nominal", scale: { domain: ["hit", "miss"], range: ["circle", "cross"] }, legend: null },
        size: { condition: { test: "datum.hit", value: 40 }, value: 110 },
        tooltip: [{ field: "fromWord", title: "from" }, { field: "toWord", title: "this head's argmax" },
          { field: "gold", title: "gold head" }, { field: "rel", title: "gold relation" },
          { field: "result", title: "argmax" }] },
    });
    return spec;
  }

  // the note and the arcs of the chosen relation: how many this head's argmax gets right
  function describeGold() {
    if ($("gold-relation").value !== relation()) $("gold-relation").value = relation();
    const rows = goldRows().filter((r) => r.kind === "gold" && !r.dim);
    const note = $("gold-note");
    const list = $("gold-arcs");
    const unit = state.maps.H === 1 ? `layer ${state.layer} (all heads)` : `layer ${state.layer}, head ${state.head}`;
    if (state.maps.minus) {
      note.textContent = "Gold heads are outlined; a difference of two checkpoints has no argmax to compare.";
      list.replaceChildren();
      return;
    }
    const hits = rows.filter((r) => r.result === "hit").length;
    const what = relation() ? `${relation()} arcs` : "arcs";
    // a relation the address names that this sentence lacks stays there, for previous / next
    const lacking = S.param("rel") && !relation() ? `This sentence has no ${S.param("rel")} arcs. ` : "";
    note.textContent = `${lacking}Gold heads are outlined. The argmax of ${unit} (the word each word attends to ` +
      `most, itself aside) is the gold head for ${hits} of the ${rows.length} ${what} ` +
      "(\u25cf a hit, inside the outline; \u2715 a miss, where it is).";
    // one relation: its arcs, each a hit or a miss; every relation: how many of each it gets
    const items = relation() ? rows.map((r) => [r.result === "hit" ? "hit" : "miss",
      `${r.fromWord} \u2192 ${r.toWord} (${r.rel}): ${r.result}`])
      : [...relations.keys()].sort().map((rel) => {
        const of = rows.filter((r) => r.rel === rel);
        return ["relation", `${rel}: ${of.filter((r) => r.result === "hit").length} of ${of.length}`];
      });
    list.replaceChildren(...items.map(([className, text]) => {
      const li = Object.assign(document.createElement("li"), { className });
      li.textContent = text; // words are data, never markup
      return li;
    }));
  }

  // refresh the layers' rows for the head on show (sentence.js then runs the view)
  function refresh() {
    if (!state.detail) return;
    state.detail.change(DATA, state.detail.changeset().remove(() => true).insert(goldRows()));
    describeGold();
  }

  function fillRelations() {
    const picker = $("gold-relation");
    picker.replaceChildren(new Option(`all relations (${arcs.length} arcs)`, ""),
      ...[...relations.keys()].sort().map((rel) => new Option(`${rel} (${relations.get(rel)})`, rel)));
    picker.value = relation();
    picker.addEventListener("change", async () => {
      S.setParam("rel", picker.value || null);
      refresh();
      await state.detail.runAsync();
    });
  }

  const before = S.detailSpec; // a series' difference, where it draws one
  S.detailSpec = (view) => {
    const spec = withGold((before && before(view)) || structuredClone(window.atlasSpecs[view.detail]));
    describeGold();
    return spec;
  };
  const redraw = S.redrawDetail;
  S.redrawDetail = () => {
    refresh();
    return redraw();
  };
  document.addEventListener("DOMContentLoaded", fillRelations);
})();
