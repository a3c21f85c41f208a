// "download figure (SVG / PNG)": the sentence figure of the head on show, drawn in the browser
// from assets/figure.vl.json, the spec `attention-atlas figure` renders (pipeline/charts.py
// builds both from the page's own grid and detail). Its datasets and params are read from the
// page's two charts as they stand (window.atlas, set by sentence.js), so the file shows what
// the page shows. Nothing is fetched but the spec; the Vega code is the site's assets/vega.js.
const assets = new URL("./", import.meta.url);
const box = document.getElementById("figure-download");
const buttons = box ? [...box.querySelectorAll("button[data-format]")] : [];

// a dataset or a signal from whichever of the page's charts holds it
function current(views, read, name) {
  for (const view of views) {
    try {
      return read(view, name);
    } catch {
      // not this chart's
    }
  }
  throw new Error(`no chart on the page holds ${name}`);
}

async function figureView(atlas) {
  const name = atlas.figure || "figure.vl.json"; // the measure on show's (sentence.js sets it)
  const response = await fetch(new URL(name, assets));
  if (!response.ok) throw new Error(`${name}: HTTP ${response.status}`);
  const spec = await response.json();
  const views = [atlas.grid, atlas.detail];
  spec.datasets = {};
  for (const name of spec.usermeta.datasets) {
    // plain copies: the page's tuples carry Vega's ids and derived fields
    spec.datasets[name] = JSON.parse(JSON.stringify(current(views, (v, n) => v.data(n), name)));
  }
  for (const param of spec.params || []) param.value = current(views, (v, n) => v.signal(n), param.name);
  const element = document.createElement("div"); // drawn off the page
  const options = { mode: "vega-lite", actions: false, renderer: "svg" };
  return (await window.vegaEmbed(element, spec, options)).view;
}

function save(url, name) {
  const link = Object.assign(document.createElement("a"), { href: url, download: name });
  document.body.append(link);
  link.click();
  link.remove();
}

async function download(format) {
  const atlas = window.atlas;
  await atlas.ready;
  const view = await figureView(atlas);
  try {
    const page = decodeURIComponent(location.pathname.split("/").pop().replace(/\.html$/, ""));
    const measure = atlas.measure ? `-${atlas.measure}` : ""; // when the page can switch measures
    const name = `figure-${page}-l${atlas.layer}h${atlas.head}${measure}.${format}`;
    if (format === "svg") {
      const url = URL.createObjectURL(new Blob([await view.toSVG()], { type: "image/svg+xml" }));
      save(url, name);
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
    } else {
      save(await view.toImageURL("png", 2), name); // twice the page's pixels, as the CLI's --scale
    }
  } finally {
    view.finalize();
  }
}

for (const button of buttons) {
  button.addEventListener("click", async () => {
    const status = box.querySelector("[role=status]");
    status.textContent = "";
    buttons.forEach((b) => { b.disabled = true; });
    try {
      await download(button.dataset.format);
    } catch (error) {
      status.textContent = `could not make the figure: ${error.message}`;
    } finally {
      buttons.forEach((b) => { b.disabled = false; });
    }
  });
}
if (window.atlas) {
  window.atlas.ready.then(() => buttons.forEach((b) => { b.disabled = false; }), () => {});
}
