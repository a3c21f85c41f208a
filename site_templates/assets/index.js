// The index: loads index.json once and renders the filtered, sorted list one page at a time.
// Corpus text is data: it only ever goes into textContent, never into markup.
const PAGE = 50;
const $ = (id) => document.getElementById(id);
const table = $("sentence-table");
const state = { rows: [], shown: [], key: "n", ascending: true, page: 0, query: "" };
window.atlasIndex = state; // for tests

function load(data) {
  const col = Object.fromEntries(data.columns.map((name, i) => [name, i]));
  state.rows = data.rows.map((row, n) => ({
    n: n + 1, id: row[col.id], page: row[col.page], text: row[col.text], words: row[col.words],
    labels: row[col.labels].join(" "), truncated: row[col.truncated] === 1,
    haystack: `${row[col.id]}\n${row[col.text]}\n${row[col.labels].join(" ")}`.toLowerCase(),
  }));
}

function compare(key, ascending) {
  const sign = ascending ? 1 : -1;
  return (a, b) => {
    const x = a[key], y = b[key];
    const order = typeof x === "number" ? x - y : x < y ? -1 : x > y ? 1 : 0;
    return sign * (order || a.n - b.n);
  };
}

function update({ resetPage = true } = {}) {
  const terms = state.query.toLowerCase().split(/\s+/).filter(Boolean);
  state.shown = state.rows.filter((row) => terms.every((term) => row.haystack.includes(term)));
  state.shown.sort(compare(state.key, state.ascending));
  if (resetPage) state.page = 0;
  render();
}

function cell(tr, text, className) {
  const td = tr.insertCell();
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

function render() {
  const pages = Math.max(1, Math.ceil(state.shown.length / PAGE));
  state.page = Math.min(state.page, pages - 1);
  const start = state.page * PAGE;
  const body = document.createElement("tbody");
  for (const row of state.shown.slice(start, start + PAGE)) {
    const tr = body.insertRow();
    cell(tr, row.n, "num");
    const link = document.createElement("a");
    link.href = `sentences/${encodeURIComponent(row.page)}.html`;
    link.textContent = row.id;
    cell(tr, "", "id").append(link);
    cell(tr, row.text, "text").title = row.text;
    cell(tr, row.words, "num");
    cell(tr, (row.labels || "\u2014") + (row.truncated ? " (truncated)" : ""), "labels");
  }
  table.tBodies[0].replaceWith(body);
  const total = state.rows.length;
  $("count").textContent = state.shown.length === total
    ? `${total.toLocaleString("en")} sentences`
    : `${state.shown.length.toLocaleString("en")} of ${total.toLocaleString("en")} sentences match`;
  $("page-info").textContent = `page ${state.page + 1} of ${pages}`;
  $("prev-page").disabled = state.page === 0;
  $("next-page").disabled = state.page >= pages - 1;
  for (const th of table.tHead.rows[0].cells) {
    const sorted = th.dataset.key === state.key;
    th.setAttribute("aria-sort", sorted ? (state.ascending ? "ascending" : "descending") : "none");
  }
}

function setQuery(query) {
  state.query = query;
  const hash = query ? `#q=${encodeURIComponent(query)}` : "";
  if (location.hash !== hash) history.replaceState(null, "", hash || location.pathname + location.search);
  update();
}

async function main() {
  const response = await fetch(table.dataset.src);
  if (!response.ok) throw new Error(`index.json: HTTP ${response.status}`);
  load(await response.json());
  const search = $("search");
  const match = /^#q=(.*)$/.exec(location.hash);
  if (match) search.value = decodeURIComponent(match[1]);
  state.query = search.value;
  search.addEventListener("input", () => setQuery(search.value));
  for (const th of table.tHead.rows[0].cells) {
    th.querySelector("button").addEventListener("click", () => {
      state.ascending = state.key === th.dataset.key ? !state.ascending : true;
      state.key = th.dataset.key;
      update();
    });
  }
  $("prev-page").addEventListener("click", () => { state.page -= 1; render(); });
  $("next-page").addEventListener("click", () => { state.page += 1; render(); });
  update();
  document.documentElement.dataset.ready = "true";
}

state.ready = main();
