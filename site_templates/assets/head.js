// A head page: one head (or layer, for a per-layer measure) over the whole corpus. The page
// lists every statistic with the head's value and rank (static HTML); this script draws the
// chosen statistic's distribution over the sentences (a histogram) and the sentences where it
// is highest and lowest, each with this head's word map drawn small (from the sentence's data
// script) and a link to the sentence page opened at this head. The fragment names the
// statistic: #s=prev. A classic script, so that the page also works opened from disk.
(() => {
  const $ = (id) => document.getElementById(id);
  const page = JSON.parse($("atlas-head").textContent);
  const { fetchBytes, parseMaps } = window.atlasMaps;
  const state = { view: null, stat: null };
  window.atlasHead = state; // for tests: state.show(key), state.ready
  // the measure's colour bar as the sentence pages draw it (assets/paint.js, maps.js's viridis)
  const colours = window.atlasPaint.codeColours(page.domain);

  // this head's W x W word map of one sentence, into a canvas (one pixel per word pair)
  async function drawMap(canvas, name) {
    const maps = parseMaps(await fetchBytes(page.data.replace("{page}", encodeURIComponent(name))));
    const k = (page.layer - 1) * maps.H + (Math.min(page.head, maps.H) - 1);
    window.atlasPaint.paint(canvas, maps, k, colours);
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
    return ["id", "page", "text"].map((c) => row[columns.indexOf(c)]);
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
    const [id, name, text] = found;
    const li = document.createElement("li");
    const link = Object.assign(document.createElement("a"), {
      href: page.sentence.replace("{page}", encodeURIComponent(name)),
      title: `open ${id} at this head`,
    });
    const canvas = Object.assign(document.createElement("canvas"), { className: "mini-map" });
    canvas.setAttribute("aria-label", `this head's word map of ${id}`);
    const label = document.createElement("span");
    label.className = "exemplar-text";
    label.textContent = text.length > 120 ? `${text.slice(0, 119)}…` : text; // data, never markup
    const number = document.createElement("span");
    number.className = "num";
    number.textContent = value === null ? "—" : value.toFixed(4);
    link.append(canvas, number, label);
    li.append(link);
    drawMap(canvas, name).catch(() => canvas.replaceWith(document.createTextNode("")));
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
    // narrower on a phone: the axes (about 60 px) and the plot within the page's width
    spec.width = Math.max(160, Math.min(spec.width, $("histogram").parentElement.clientWidth - 60));
    spec.encoding.x.title = s.label;
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
