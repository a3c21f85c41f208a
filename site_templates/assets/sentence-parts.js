// An encoder-decoder model's parts on the sentence page (only on the site of such a model:
// pipeline.site.parts): encoder (source x source), decoder (target x target) and cross (target
// rows x source columns). The part selector and the address's `p` (`#l2h3&p=cross`; none: the
// default part, the first: encoder) choose the part; previous / next carry it, as they carry the
// measure. A measure without the chosen part (rollout has only the encoder's) shows its default
// part, says so under the selector, and the chosen part comes back with a measure that has it.
// Each part has its own data script, detail spec (its rows' words and spans) and grid (the
// decoder's layers and heads for decoder and cross). After sentence-state.js (window.atlasSentence).
(() => {
  const S = window.atlasSentence;
  const { $, page, state } = S;
  const picker = $("part");
  if (!picker) return;
  const target = page.target || { words: [], spans: [] }; // (a pair store's records all have one)
  const DEFAULT = page.measures[0].parts[0].name;
  const parts = [...picker.options].map((o) => o.value);
  const partView = (measure, part) => (measure.parts || []).find((p) => p.name === part);

  // the part the address asks for (none, or one no measure has: the default)
  const asked = () => (parts.includes(S.param("p")) ? S.param("p") : DEFAULT);
  state.wantedPart = null; // the part chosen (selector or address), null until the page reads it

  // the part a measure shows: the one chosen where it has it, else its default
  function shownPart(measure) {
    const want = state.wantedPart || asked();
    return partView(measure, want) ? want : measure.parts[0].name;
  }

  // the measure's view with its shown part's data script and spec keys
  function partChart(measure) {
    const part = partView(measure, shownPart(measure));
    // a head page of the part where the site has one (the encoder's are the measure's)
    const headPage = part.headPage !== undefined ? part.headPage : part.name === DEFAULT ? measure.headPage : null;
    return { ...measure, data: part.data, detail: part.detail, grid: part.grid, figure: part.figure, headPage };
  }

  // the rows' and the columns' words and spans of the part on show: the target's on the side
  // of the decoder (its rows for cross, both for decoder), the source's on the encoder's
  function sides(part = state.part) {
    const source = { words: page.words, spans: state.spans, tracks: state.tracks };
    const own = { words: target.words, spans: state.targetSpans, tracks: state.targetTracks };
    const rows = part === "encoder" ? source : own;
    const cols = part === "decoder" ? own : source;
    return { rowWords: rows.words, rowSpans: rows.spans, rowTracks: rows.tracks,
      colWords: cols.words, colSpans: cols.spans, colTracks: cols.tracks };
  }

  // the part on show for measure `name`: the selector, the note of a fallback, the detail's title
  function showPart(name) {
    const measure = S.measureView(name);
    state.part = shownPart(measure);
    picker.value = state.part;
    for (const option of picker.options) option.disabled = !partView(measure, option.value);
    const want = state.wantedPart || asked();
    const note = $("part-note");
    const fallback = want !== state.part;
    note.hidden = !fallback && state.part !== "decoder";
    note.textContent = fallback ? `${name} has no ${want} part (only ${measure.parts.map((p) => p.name).join(", ")}): ` +
      `showing ${state.part}. Choose a measure that has it to see ${want} again.`
      : note.hidden ? "" : "The decoder is causal: each target word attends only to itself and the words before it " +
      "(and the start token, a special token), so its map is lower-triangular.";
    $("figure").dataset.part = state.part;
    state.partTag = state.part === DEFAULT ? "" : `-${state.part}`; // the download's file name
  }

  // the address names the part chosen (not a fallback's), and only when it is not the default
  function syncPartParam() {
    const want = state.wantedPart || asked();
    const value = want === DEFAULT ? null : want;
    if (S.param("p") !== value) S.setParam("p", value);
  }

  function readParts() {
    state.targetSpans = target.spans.map(([label, first, last, track], i) => ({ i, label, first, last, track }));
    state.targetTracks = state.targetSpans.reduce((n, s) => Math.max(n, s.track + 1), 0);
    state.wantedPart = asked();
  }

  // the address names another part than the one chosen (sentence-nav.js: a hash change)
  function partChanged() {
    if (asked() === state.wantedPart) return false;
    state.wantedPart = asked();
    return true;
  }

  picker.addEventListener("change", () => {
    state.wantedPart = picker.value;
    S.showMeasure(state.measure).catch(S.failed);
  });

  Object.assign(S, { partChart, sides, showPart, syncPartParam, readParts, shownPart, partChanged });
  state.sides = sides; // for assets/figure.js: the rows' and the columns' words and spans
})();
