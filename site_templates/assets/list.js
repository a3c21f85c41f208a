// The index's list, shared by the index (which shows it) and the sentence pages (whose previous /
// next step through it): rows from data/_index.js, filtered and sorted by a state that the address
// holds, e.g. index.html#q=horse&label=CHI&meta.speaker_role=Mother&sort=-words.
// A classic script (pages opened from disk may not load modules): it defines window.atlasList.
(() => {
  const SORT_KEYS = ["n", "id", "text", "words", "labels"];
  const SORT_NAMES = { n: "corpus order", id: "id", text: "text", words: "words", labels: "spans" };
  const META = "meta.";

  // data/_index.js's data -> one object per sentence with a page, in corpus order; `n` is its
  // 1-based number in the corpus (a site with a size limit lists only the sentences with a page,
  // and says where each is in the corpus in its column "n", 0-based)
  function rows(data) {
    const col = Object.fromEntries(data.columns.map((name, i) => [name, i]));
    const { keys, values } = data.meta;
    return data.rows.map((row, at) => {
      const n = col.n === undefined ? at : row[col.n];
      const meta = {};
      row[col.meta].forEach((code, k) => { if (code >= 0) meta[keys[k]] = values[k][code]; });
      const labels = row[col.labels];
      return {
        n: n + 1, id: row[col.id], page: row[col.page], text: row[col.text], words: row[col.words],
        labelList: labels, labels: labels.join(" "), truncated: row[col.truncated] === 1, meta,
        haystack: [row[col.id], row[col.text], ...labels, ...Object.values(meta)].join("\n").toLowerCase(),
      };
    });
  }

  // "a=1&b=two" (a fragment without "#") -> [[key, value], ...], in order; "l4h7" gives ["l4h7", null]
  function split(fragment) {
    return fragment.replace(/^#/, "").split("&").filter(Boolean).map((part) => {
      const at = part.indexOf("=");
      const decode = (s) => { try { return decodeURIComponent(s.replace(/\+/g, " ")); } catch { return s; } };
      return at < 0 ? [decode(part), null] : [decode(part.slice(0, at)), decode(part.slice(at + 1))];
    });
  }

  function join(pairs) {
    return pairs.map(([key, value]) => (value === null ? encodeURIComponent(key)
      : `${encodeURIComponent(key)}=${encodeURIComponent(value)}`)).join("&");
  }

  const isListKey = (key) => key === "q" || key === "sort" || key === "label" || key.startsWith(META);

  // the list state from a fragment's pairs (other keys are ignored)
  function parse(pairs) {
    const state = { q: "", key: "n", ascending: true, label: "", meta: {} };
    for (const [key, value] of pairs) {
      if (value === null) continue;
      if (key === "q") state.q = value;
      else if (key === "label") state.label = value;
      else if (key.startsWith(META)) state.meta[key.slice(META.length)] = value;
      else if (key === "sort") {
        const name = value.replace(/^-/, "");
        if (SORT_KEYS.includes(name)) { state.key = name; state.ascending = !value.startsWith("-"); }
      }
    }
    return state;
  }

  // the list state -> fragment pairs, only what differs from the whole corpus in corpus order
  function pairs(state) {
    const out = [];
    if (state.q) out.push(["q", state.q]);
    if (state.label) out.push(["label", state.label]);
    for (const key of Object.keys(state.meta).sort()) {
      if (state.meta[key]) out.push([META + key, state.meta[key]]);
    }
    if (state.key !== "n" || !state.ascending) out.push(["sort", (state.ascending ? "" : "-") + state.key]);
    return out;
  }

  function compare(key, ascending) {
    const sign = ascending ? 1 : -1;
    return (a, b) => {
      const x = a[key], y = b[key];
      const order = typeof x === "number" ? x - y : x < y ? -1 : x > y ? 1 : 0;
      return sign * (order || a.n - b.n);
    };
  }

  // the rows the state selects, in its order: every search term in the id, text, span labels or
  // a meta value; the span label among the row's; each meta filter equal
  function apply(all, state) {
    const terms = state.q.toLowerCase().split(/\s+/).filter(Boolean);
    const meta = Object.entries(state.meta).filter(([, value]) => value);
    const shown = all.filter((row) => terms.every((term) => row.haystack.includes(term))
      && (!state.label || row.labelList.includes(state.label))
      && meta.every(([key, value]) => row.meta[key] === value));
    return shown.sort(compare(state.key, state.ascending));
  }

  // in words: "matching “horse”, with a CHI span, with speaker_role = Mother, sorted by words (descending)"
  function describe(state) {
    const parts = [];
    if (state.q) parts.push(`matching \u201c${state.q}\u201d`);
    if (state.label) parts.push(`with a ${state.label} span`);
    for (const [key, value] of Object.entries(state.meta)) if (value) parts.push(`with ${key} = ${value}`);
    const order = state.key === "n" && state.ascending ? "in corpus order"
      : `sorted by ${SORT_NAMES[state.key]}${state.ascending ? "" : " (descending)"}`;
    return [...parts, order].join(", ");
  }

  window.atlasList = { rows, split, join, isListKey, parse, pairs, apply, describe, SORT_KEYS };
})();
