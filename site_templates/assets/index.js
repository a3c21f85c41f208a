// The index: the list of data/_index.js (assets/list.js), filtered and sorted, one page at a time.
// The address holds the search, the filters and the order, so a filtered list can be shared, and
// each sentence link carries them, so that the sentence's previous / next step through this list.
// Corpus text is data: it only ever goes into textContent, never into markup.
(() => {
  const PAGE = 50;
  const L = window.atlasList;
  const $ = (id) => document.getElementById(id);
  const table = $("sentence-table");
  const state = { rows: [], shown: [], list: L.parse([]), page: 0 };
  window.atlasIndex = state; // for tests

  function cell(tr, text, className) {
    const td = tr.insertCell();
    td.textContent = text;
    if (className) td.className = className;
    return td;
  }

  // the list's state, then an encoder-decoder's part (`p`, the corpus view's: corpus.js), which
  // the sentence links carry to their pages
  function listFragment() {
    const pairs = [...L.pairs(state.list), ...L.split(location.hash).filter(([key]) => key === "p")];
    return pairs.length ? `#${L.join(pairs)}` : "";
  }

  function render() {
    const pages = Math.max(1, Math.ceil(state.shown.length / PAGE));
    state.page = Math.min(state.page, pages - 1);
    const start = state.page * PAGE;
    const fragment = listFragment();
    const body = document.createElement("tbody");
    for (const row of state.shown.slice(start, start + PAGE)) {
      const tr = body.insertRow();
      cell(tr, row.n, "num");
      const link = document.createElement("a");
      link.href = `sentences/${encodeURIComponent(row.page)}.html${fragment}`;
      link.textContent = row.id;
      cell(tr, "", "id").append(link);
      cell(tr, row.text, "text").title = row.text;
      cell(tr, row.words, "num words");
      cell(tr, (row.labels || "\u2014") + (row.truncated ? " (truncated)" : ""), "labels");
    }
    table.tBodies[0].replaceWith(body);
    const total = state.rows.length;
    const corpus = window.atlasIndexData.sentences; // a site with a size limit: the corpus's size
    const all = corpus === undefined ? "sentences"
      : `sentences with pages (of ${corpus.toLocaleString("en")} in the corpus)`;
    $("count").textContent = state.shown.length === total && !L.pairs(state.list).length
      ? `${total.toLocaleString("en")} ${all}`
      : `${state.shown.length.toLocaleString("en")} of ${total.toLocaleString("en")} ${all}, ` +
        L.describe(state.list);
    $("page-info").textContent = `page ${state.page + 1} of ${pages}`;
    $("prev-page").disabled = state.page === 0;
    $("next-page").disabled = state.page >= pages - 1;
    for (const th of table.tHead.rows[0].cells) {
      const sorted = th.dataset.key === state.list.key;
      th.setAttribute("aria-sort", sorted ? (state.list.ascending ? "ascending" : "descending") : "none");
    }
  }

  // the list state changed (search, filter, order): recompute, show page 1, put it in the address
  function update() {
    state.shown = L.apply(state.rows, state.list);
    state.page = 0;
    const fragment = listFragment();
    if (location.hash !== fragment) {
      history.replaceState(null, "", fragment || location.pathname + location.search);
    }
    render();
  }

  // the controls show the list state
  function showState() {
    $("search").value = state.list.q;
    const label = $("label-filter");
    if (label) label.value = state.list.label;
    for (const select of document.querySelectorAll("select[data-meta]")) {
      select.value = state.list.meta[select.dataset.meta] || ""; // "any" when not among its values
    }
  }

  function fromAddress() {
    state.list = L.parse(L.split(location.hash));
    showState();
    update();
  }

  function main() {
    if (!window.atlasIndexData) throw new Error("data/_index.js could not be loaded");
    state.rows = L.rows(window.atlasIndexData);
    $("search").addEventListener("input", (event) => { state.list.q = event.target.value; update(); });
    const label = $("label-filter");
    if (label) label.addEventListener("change", () => { state.list.label = label.value; update(); });
    for (const select of document.querySelectorAll("select[data-meta]")) {
      select.addEventListener("change", () => { state.list.meta[select.dataset.meta] = select.value; update(); });
    }
    for (const th of table.tHead.rows[0].cells) {
      th.querySelector("button").addEventListener("click", () => {
        state.list.ascending = state.list.key === th.dataset.key ? !state.list.ascending : true;
        state.list.key = th.dataset.key;
        update();
      });
    }
    $("prev-page").addEventListener("click", () => { state.page -= 1; render(); });
    $("next-page").addEventListener("click", () => { state.page += 1; render(); });
    window.addEventListener("hashchange", fromAddress);
    fromAddress();
    document.documentElement.dataset.ready = "true";
  }

  try {
    main();
  } catch (error) {
    const note = $("load-error");
    note.hidden = false;
    note.textContent = `Could not read the sentence list: ${error.message}`;
    document.documentElement.dataset.ready = "error";
    throw error;
  }
})();
