// Draws the sentence page's charts without compiling Vega-Lite in the browser: the build compiles
// each shared spec that a page draws on load (assets/specs.js: grid, grid-layers, detail,
// detail-<m>) to Vega once, with vl-convert (assets/specs-vega.js, window.atlasVegaSpecs), and
// this script binds a page's data to that Vega spec as the Vega-Lite compiler would have: a
// dataset's rows become the Vega data set's values, a param's value its signal's value, a size
// the top-level width / height (or the x_step / y_step signal of a grid), an image mark's size
// its encoded width / height (tests/browser/test_pages.py checks the result against Vega-Lite's
// own compile). A spec changed in any other way is compiled by Vega-Lite in the browser, as before.
// A classic script, after vega.js's caller scripts are loaded: window.atlasEmbed.
(() => {
  const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);
  const without = (object, key) => { const copy = { ...object }; delete copy[key]; return copy; };

  // the Vega spec of `spec`, a Vega-Lite spec that differs from the site's shared spec `key` only
  // where a page binds it; null when there is no compiled spec or it differs elsewhere
  function compiled(key, spec) {
    const base = window.atlasSpecs && window.atlasSpecs[key];
    const vega = window.atlasVegaSpecs && window.atlasVegaSpecs[key];
    if (!base || !vega) return null;
    const out = structuredClone(vega);
    const signal = (name) => (out.signals || []).find((s) => s.name === name && "value" in s);
    const setSignal = (name, was, value) => {
      const s = signal(name);
      if (!s || !same(s.value, was)) return false;
      s.value = value;
      return true;
    };
    for (const field of new Set([...Object.keys(base), ...Object.keys(spec)])) {
      const [a, b] = [base[field], spec[field]];
      if (same(a, b)) continue;
      if (field === "datasets" && a === undefined) {
        for (const [name, values] of Object.entries(b)) {
          const data = (out.data || []).find((d) => d.name === name);
          if (!data || "values" in data || "source" in data || "url" in data) return null;
          data.values = values;
        }
      } else if (field === "params" && a.length === b.length) {
        for (let i = 0; i < a.length; i++) {
          if (same(a[i], b[i])) continue;
          if (!same(without(a[i], "value"), without(b[i], "value"))) return null;
          if (!setSignal(b[i].name, a[i].value, b[i].value)) return null;
        }
      } else if ((field === "width" || field === "height") && typeof a === "number" && typeof b === "number") {
        if (out[field] !== a) return null;
        out[field] = b;
      } else if ((field === "width" || field === "height") && a && b && same(Object.keys(a), ["step"]) && same(Object.keys(b), ["step"])) {
        if (!setSignal(field === "width" ? "x_step" : "y_step", a.step, b.step)) return null;
      } else if (field === "layer" && a.length === b.length) {
        for (let i = 0; i < a.length; i++) {
          if (same(a[i], b[i])) continue;
          const marks = (out.marks || []).find((m) => m.name === `layer_${i}_marks`);
          const update = marks && marks.encode && marks.encode.update;
          const plain = (layer) => ({ ...layer, mark: without(without(layer.mark, "width"), "height") });
          if (!update || !same(plain(a[i]), plain(b[i]))) return null;
          for (const size of ["width", "height"]) {
            if (same(a[i].mark[size], b[i].mark[size])) continue;
            if (!update[size] || !same(update[size], { value: a[i].mark[size] })) return null;
            update[size] = { value: b[i].mark[size] };
          }
        }
      } else {
        return null;
      }
    }
    return out;
  }

  // vegaEmbed for a page's bound copy of the shared spec `key`: its compiled Vega when it has one
  const drawn = {}; // key -> the Vega-Lite spec last drawn from it, and whether compiled (for tests)
  async function embed(element, key, spec, options) {
    const vega = compiled(key, spec);
    drawn[key] = { spec, compiled: Boolean(vega) };
    await window.atlasVega();
    return window.vegaEmbed(element, vega || spec, { ...options, mode: vega ? "vega" : "vega-lite" });
  }

  // vega.js, loaded once when first asked for: a sentence page whose detail is drawn on a canvas
  // (assets/detail-draw.js) loads it only to draw a downloaded figure; a page that names it (a
  // gold tree's or a series' sentence page, the index, a head page) has it on its way already.
  // Its address is the page's own scripts' (assets/sentence-page.js), in the same folder.
  let loading = null;
  function vega() {
    if (window.vegaEmbed) return Promise.resolve();
    loading = loading || new Promise((resolve, reject) => {
      const named = [...document.scripts].find((s) => /\/assets\/vega\.js$/.test(s.src));
      const own = [...document.scripts].find((s) => /\/assets\/sentence-page\.js$/.test(s.src));
      const script = named || (own && Object.assign(document.createElement("script"), { src: own.src.replace(/sentence-page\.js$/, "vega.js") }));
      if (!script) { reject(new Error("this page has no assets/vega.js")); return; }
      script.addEventListener("load", () => (window.vegaEmbed ? resolve() : reject(new Error("assets/vega.js did not run"))));
      script.addEventListener("error", () => reject(new Error("assets/vega.js could not be loaded")));
      if (!named) document.head.append(script);
    });
    return loading;
  }

  window.atlasEmbed = { compiled, embed, drawn };
  window.atlasVega = vega;
})();
