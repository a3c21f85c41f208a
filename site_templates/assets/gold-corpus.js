// The corpus view of a corpus with gold arcs (.conllu): for a relation's dependency accuracy, a dot
// on every head above the relation's best fixed offset (data/_corpus.js's `baseline`: its value,
// its offset and the heads above it, from the exact counts; pipeline/site/gold.py) and, under
// the colour bar, a legend giving the baseline's value ("baseline (offset +1): 0.8232").
// corpus.js calls atlasCorpusMarks(spec, measure, statistic) before it draws; this script is
// copied to such a site only.
(() => {
  const signed = (k) => (k > 0 ? `+${k}` : `${k}`);

  window.atlasCorpusMarks = (spec, m, s) => {
    const b = s.baseline;
    if (!b) return;
    const above = new Set(b.above.map(([layer, head]) => `${layer},${head}`));
    for (const row of spec.datasets.heads) row.above = above.has(`${row.layer},${row.head}`);
    const which = m.heads === 1 ? "layers" : "heads";
    const label = `${above.size ? which : `no ${which}`} above it`; // short: a phone's legend is narrow
    const title = `baseline (offset ${signed(b.offset)}): ${b.value}`;
    // the cells' encoding stays shared (top level): the dots link and tell as the cells do
    spec.layer = [{ mark: spec.mark }, {
      mark: { type: "point", filled: true, size: 42, fill: "#fff", stroke: "#000", strokeWidth: 1.5, opacity: 1, cursor: "pointer" },
      transform: [{ filter: "datum.above" }],
      encoding: { color: { value: "#fff" },
        shape: { datum: label, type: "nominal", scale: { range: ["circle"] },
          legend: { title, orient: "right", titleFontWeight: "normal", labelLimit: 200, symbolOpacity: 1,
            encode: { symbols: { update: { fill: { value: "#fff" }, stroke: { value: "#000" }, strokeWidth: { value: 1 } } } } } } },
    }];
    delete spec.mark;
  };
})();
