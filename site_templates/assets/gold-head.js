// A head page of a corpus with gold arcs (.conllu): the head's dependency accuracy per relation
// beside the relation's best fixed offset (the page's JSON `dependency`: pipeline/site/gold.py),
// as grouped bars (the spec `dependency` of assets/specs.js), the relations with the most arcs
// first. A bar opens the relation's statistic on the page (#s=dep:<relation>), whose
// distribution and sentences head.js draws. Copied to the site of a corpus with arcs only.
(() => {
  const $ = (id) => document.getElementById(id);
  const page = JSON.parse($("atlas-head").textContent);
  const signed = (k) => (k > 0 ? `+${k}` : `${k}`);
  const state = { view: null };
  window.atlasDependency = state; // for tests: state.ready, state.view

  // two bars per relation, the relations with the most arcs first
  function rows() {
    const out = [];
    const byArcs = [...page.dependency].sort((a, b) => b.arcs - a.arcs || (a.relation < b.relation ? -1 : 1));
    for (const r of byArcs) {
      const href = `#s=${encodeURIComponent(r.key)}`;
      const rank = r.rank ? `rank ${r.rank} of ${r.ranked}` : "undefined";
      out.push({ relation: r.relation, series: "this head", accuracy: r.accuracy, about: rank, arcs: r.arcs, href },
        { relation: r.relation, series: "best fixed offset", accuracy: r.baseline,
          about: `offset ${signed(r.offset)}: the word ${Math.abs(r.offset)} to the ${r.offset < 0 ? "left" : "right"}`,
          arcs: r.arcs, href });
    }
    return out;
  }

  async function main() {
    const deps = page.dependency;
    const above = deps.filter((r) => r.above).length;
    const unit = page.heads === 1 ? "layer" : "head";
    $("dependency-note").textContent += ` This ${unit} is above the baseline for ${above} of the ${deps.length} relations.`;
    const spec = structuredClone(window.atlasSpecs.dependency);
    spec.datasets = { relations: rows() };
    // a phone's page: the bars take what the relations' names leave
    spec.width = Math.max(160, Math.min(spec.width, $("dependency-chart").clientWidth - 130));
    const result = await window.vegaEmbed("#dependency-chart", spec, { mode: "vega-lite", actions: false, renderer: "svg" });
    state.view = result.view;
    $("dependency-chart").setAttribute("aria-busy", "false");
  }

  state.ready = main().catch((error) => {
    const note = $("load-error");
    note.hidden = false;
    note.textContent = `Could not draw the relations: ${error.message}`;
    throw error;
  });
})();
