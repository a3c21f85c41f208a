// Grids of heads on any screen, a 6 x 12 model's or a 32 x 32 one's: the sentence page's grid of
// thumbnails (sentence-window.js) and the index's corpus view (corpus.js). A cell takes what the
// width gives, up to the grid's own size; it never gets smaller than a tap target (TAP). When
// the heads do not all fit at that size the grid scrolls sideways in its box, drawn at ROOMY,
// a note above it says which heads are in view, and the layer numbers stay at the box's left
// edge (an HTML rail in place of the chart's own layer axis). A classic script:
// window.atlasGridFit.
(() => {
  const TAP = 24; // px: the smallest cell, a tap target's size (WCAG 2.2's target size minimum)
  const ROOMY = 28; // px: the cell of a grid that scrolls: a 24 px thumbnail and its 4 px gap
  const RAIL = 38; // px: the rail's width (its title, "layer", and two-digit numbers)

  // a cell's side: what `room` leaves for n cells after `chrome` (axes, a colour bar), from TAP
  // up to `most` (never below ROOMY: a big model's cells may grow to it); ROOMY when not even
  // TAP fits (the grid then scrolls)
  function cellStep(room, n, chrome, most) {
    const fit = Math.floor((room - chrome) / n);
    return fit >= TAP ? Math.min(fit, Math.max(most, ROOMY)) : ROOMY;
  }

  // a grid's axes (its encoding's x, heads, and y, layers): the layer axis's title moved into the
  // corner above the numbers (a phone's width is worth the 20 px it took beside them); a
  // scrolling grid's layer axis hidden (the rail shows it) and its head axis's title at the
  // start, where the box shows it
  function axes({ x, y }, scrolls) {
    if (scrolls) {
      Object.assign(y.axis, { labels: false, title: null });
      Object.assign(x.axis, { titleAnchor: "start", titleAlign: "left" });
      return;
    }
    Object.assign(y.axis, { titleAngle: 0, titleAlign: "right", titleBaseline: "bottom", titleX: 0, titleY: -6 });
  }

  // a note above the box: which heads are in view of how many, kept as the box scrolls
  function hintFor(box, view, heads, step) {
    let note = box.previousElementSibling;
    if (!note || !note.classList.contains("scroll-hint")) {
      note = Object.assign(document.createElement("p"), { className: "hint scroll-hint" });
      note.setAttribute("aria-live", "polite");
      box.before(note);
    }
    const inView = () => { // a head counts as in view when most of its column is
      const left = view.padding().left + view.origin()[0]; // the first column, after the rail
      const at = (x) => Math.round((x - left) / step);
      const first = Math.min(heads, Math.max(1, at(box.scrollLeft) + 1));
      const last = Math.min(heads, Math.max(first, at(box.scrollLeft + box.clientWidth - RAIL)));
      note.textContent = `Scroll sideways for more heads: ${first}\u2013${last} of ${heads} in view.`;
    };
    box.onscroll = inView;
    inView();
    return note;
  }

  // the layer numbers at the box's left edge (position: sticky), row for row with the chart's
  function railFor(box, view, layers, step) {
    const rail = Object.assign(document.createElement("div"), { className: "layer-rail" });
    rail.setAttribute("aria-hidden", "true"); // the chart's tooltips and the page name the layer
    rail.style.width = `${RAIL}px`;
    const title = Object.assign(document.createElement("span"), { className: "rail-title", textContent: "layer" });
    title.style.height = `${view.padding().top + view.origin()[1]}px`; // beside the head numbers
    rail.append(title);
    for (let l = 1; l <= layers; l++) {
      const number = Object.assign(document.createElement("span"), { textContent: String(l) });
      number.style.height = number.style.lineHeight = `${step}px`;
      rail.append(number);
    }
    box.prepend(rail);
  }

  // after a grid is drawn into `box`: the scrolling grid's rail and note, or neither
  function place(box, view, { layers, heads, step, scrolls }) {
    box.classList.toggle("scrolls", scrolls);
    box.querySelector(":scope > .layer-rail")?.remove();
    const note = box.previousElementSibling;
    if (scrolls) {
      railFor(box, view, layers, step);
      hintFor(box, view, heads, step);
    } else {
      box.onscroll = null;
      if (note && note.classList.contains("scroll-hint")) note.remove();
    }
  }

  // scroll a scrolling grid so that a head's column is in view
  function reveal(box, view, head, step) {
    if (!box.classList.contains("scrolls")) return;
    const x = RAIL + view.padding().left + view.origin()[0] + (head - 1) * step; // in the box
    const seen = box.clientWidth - RAIL; // the rail covers the box's left edge
    if (x < box.scrollLeft + RAIL || x + step > box.scrollLeft + box.clientWidth) {
      box.scrollLeft = Math.max(0, x - RAIL - Math.floor((seen - step) / 2));
    }
  }

  window.atlasGridFit = { TAP, ROOMY, RAIL, cellStep, axes, place, reveal };
})();
