// Colour bars: their ticks, both ends and round steps between (1, 2 or 5 times a power of ten, at
// most 5 steps across), each with its label: at the step's digits, an end off the step to
// `endDigits` significant digits. pipeline/site/colours.py's colour_labels computes the same
// (tests/browser/test_scales.py compares them). Shared by the index's corpus view (corpus.js,
// series-corpus.js) and the sentence page's colour scale (sentence-scale.js); a classic script:
// window.atlasScales.
(() => {
  const digitsOf = (step) => Math.max(0, -Math.floor(Math.log10(step) + 1e-9));

  // x to `digits` significant digits, without an exponent (0.4706 -> "0.471" for 3)
  function significant(x, digits) {
    if (x === 0) return "0";
    return x.toFixed(Math.max(0, digits - 1 - Math.floor(Math.log10(Math.abs(x)))));
  }

  // [lo, hi] -> { values, labels }: the colour bar's ticks and what each reads
  function ticks([lo, hi], endDigits = 3) {
    const span = hi - lo;
    const base = 10 ** (Math.floor(Math.log10(span)) - 1); // 0.01 for a span of 0.3
    const step = [1, 2, 5, 10, 20, 50].map((f) => base * f).find((s) => span / s <= 5 + 1e-9);
    const values = [lo];
    for (let k = Math.floor(lo / step) + 1; k < Math.ceil(hi / step); k++) {
      const t = Math.round(k * step * 1e12) / 1e12;
      if (Math.min(t - lo, hi - t) >= step / 2 - 1e-9) values.push(t);
    }
    values.push(hi);
    const digits = digitsOf(step);
    const labels = values.map((t) => (Math.abs(Number(t.toFixed(digits)) - t) <= 1e-9
      ? t.toFixed(digits) : significant(t, endDigits)));
    return { values, labels };
  }

  // a Vega-Lite legend given these ticks: its values, and labels looked up by value (a literal
  // expression: the corpus view's spec has no params of its own)
  function legendTicks(legend, domain, endDigits) {
    const { values, labels } = ticks(domain, endDigits);
    legend.values = values;
    delete legend.format;
    legend.labelExpr = `${JSON.stringify(labels)}[indexof(${JSON.stringify(values)}, datum.value)]`;
    return { values, labels };
  }

  window.atlasScales = { ticks, legendTicks, significant };
})();
