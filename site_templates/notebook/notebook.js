// A page of the site inside a notebook's output cell: pipeline/site/inline.py puts a built page,
// its scripts, styles and data into one document, shown in an iframe's srcdoc, and runs this
// script before the page's own. It keeps the page's address working (a srcdoc document's URL is
// about:srcdoc, but a relative URL resolves against the notebook's, which history refuses), opens
// the page at the head it was asked for, keeps links to the site's other pages (which a notebook
// lacks) from leaving it, and makes the iframe as tall as the page.
(() => {
  for (const name of ["replaceState", "pushState"]) {
    const original = history[name].bind(history);
    history[name] = (data, title, url) => {
      try {
        return original(data, title, url);
      } catch (error) { // a fragment: onto the document's own URL
        if (typeof url !== "string" || !url.startsWith("#")) throw error;
        return original(data, title, location.href.split("#")[0] + url);
      }
    };
  }
  const start = document.currentScript.dataset.fragment; // e.g. "l2h3&m=rollout"
  if (start) history.replaceState(null, "", `#${start}`);

  // a link to another page stays put, and a note says why
  const kept = (href) => !href || /^(#|data:|blob:)/.test(href);
  function stay(href) {
    let note = document.getElementById("notebook-note");
    if (!note) {
      note = Object.assign(document.createElement("p"), { id: "notebook-note", className: "note notebook-note" });
      document.querySelector("main")?.prepend(note);
    }
    note.textContent = `In a notebook this view has no other pages (${href.split("#")[0]}): ` +
      "show a sentence with store[id].view(), a head's figure with store[id].show(layer=, head=).";
  }
  document.addEventListener("click", (event) => {
    const link = event.target.closest?.("a[href]");
    if (!link || kept(link.getAttribute("href")) || link.hasAttribute("download")) return;
    event.preventDefault();
    stay(link.getAttribute("href"));
  }, true);
  // Vega opens a chart's links (the corpus view's heads) by clicking an anchor outside the page
  const dispatch = HTMLAnchorElement.prototype.dispatchEvent;
  HTMLAnchorElement.prototype.dispatchEvent = function (event) {
    if (event.type === "click" && !this.isConnected && !kept(this.getAttribute("href"))) {
      stay(this.getAttribute("href"));
      return false;
    }
    return dispatch.call(this, event);
  };

  if (window.frameElement) { // the iframe follows the page's height
    const fit = () => {
      window.frameElement.style.height = `${Math.ceil(document.body.getBoundingClientRect().height) + 4}px`;
    };
    document.addEventListener("DOMContentLoaded", () => new ResizeObserver(fit).observe(document.body));
  }
})();
