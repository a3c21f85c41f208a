// The sentence page's navigation: previous / next (keys [ ]) in corpus order, or through the
// index's list when the address carries it (assets/list.js), the link back to the index, the
// arrow keys, and the address changed by hand. After sentence-window.js (window.atlasSentence).
(() => {
  const S = window.atlasSentence;
  const { $, page, state } = S;
  const { loadScript } = window.atlasMaps;
  const L = window.atlasList;

  function go(rel) {
    const link = $(rel);
    if (link && link.hasAttribute("href")) location.href = link.href;
  }

  function setLink(id, name) {
    const link = $(id);
    if (name) link.setAttribute("href", `${encodeURIComponent(name)}.html#${S.fragment()}`);
    else link.removeAttribute("href");
  }

  const corpus = { prev: $("prev").getAttribute("href"), next: $("next").getAttribute("href"),
    position: $("position").textContent };
  const CORPUS_NOTE = "Previous and next (keys [ ]) keep the selected head and follow the corpus order.";

  function updateNav() {
    const listPairs = state.params.filter(([key]) => L.isListKey(key));
    $("to-index").setAttribute("href", `../index.html${listPairs.length ? `#${L.join(listPairs)}` : ""}`);
    if (state.list) {
      const { shown, at } = state.list;
      setLink("prev", at > 0 ? shown[at - 1].page : null);
      setLink("next", at >= 0 && at + 1 < shown.length ? shown[at + 1].page : null);
    } else {
      for (const id of ["prev", "next"]) {
        const link = $(id);
        if (link.hasAttribute("href")) link.setAttribute("href", `${link.getAttribute("href").split("#")[0]}#${S.fragment()}`);
      }
    }
  }

  // with the index's list in the address: step through that list, as filtered and sorted there
  // previous / next in corpus order: the page's own links
  function corpusNav(note) {
    state.list = null;
    for (const id of ["prev", "next"]) {
      if (corpus[id]) $(id).setAttribute("href", corpus[id]);
      else $(id).removeAttribute("href");
    }
    $("position").textContent = corpus.position;
    $("position").removeAttribute("title");
    $("list-note").textContent = note;
    updateNav();
  }

  async function loadList() {
    const listPairs = state.params.filter(([key]) => L.isListKey(key));
    if (!listPairs.length) {
      corpusNav(CORPUS_NOTE);
      return;
    }
    try {
      if (!window.atlasIndexData) await loadScript("../data/_index.js");
    } catch (error) { // the sentence is drawn all the same
      corpusNav(`The index's list could not be read (${error.message}): ${CORPUS_NOTE}`);
      return;
    }
    const how = L.parse(listPairs);
    const shown = L.apply(L.rows(window.atlasIndexData), how);
    const at = shown.findIndex((row) => row.page === page.page);
    state.list = { shown, at };
    const where = at >= 0 ? `${(at + 1).toLocaleString("en")} / ${shown.length.toLocaleString("en")}`
      : `not in the list of ${shown.length.toLocaleString("en")}`;
    $("position").textContent = where;
    $("position").title = `in the index's list: ${L.describe(how)}`;
    $("list-note").textContent = `Previous and next (keys [ ]) keep the selected head and follow the ` +
      `index's list: ${shown.length.toLocaleString("en")} sentences ${L.describe(how)}.`;
    updateNav();
  }

  function onKey(event) {
    if (event.altKey || event.ctrlKey || event.metaKey || event.target.closest("input, textarea, select")) return;
    if (event.key === "[" || event.key === "]") {
      go(event.key === "[" ? "prev" : "next");
      return;
    }
    const moves = { ArrowLeft: [0, -1], ArrowRight: [0, 1], ArrowUp: [-1, 0], ArrowDown: [1, 0] };
    const move = moves[event.key];
    if (!move) return;
    event.preventDefault();
    S.select(state.layer + move[0], state.head + move[1]);
  }

  function onHashChange() {
    const { head, rest } = S.readFragment();
    const listBefore = L.join(state.params.filter(([key]) => L.isListKey(key)));
    state.params = rest;
    if (L.join(rest.filter(([key]) => L.isListKey(key))) !== listBefore) loadList();
    const [layer, headNumber] = head || [state.layer, state.head];
    const measure = S.wantedMeasure();
    if (measure !== state.measure || (S.seriesChanged && S.seriesChanged(measure)) || S.scaleChanged?.() || S.partChanged?.()) {
      S.showMeasure(measure, layer, head ? headNumber : null).catch(S.failed);
      return;
    }
    S.syncMeasureParam(); // an unknown `m` (or the default's) leaves the address
    S.select(layer, headNumber);
  }

  Object.assign(S, { updateNav, loadList, onKey, onHashChange });
})();
