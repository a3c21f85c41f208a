"""A page of a built site as one self-contained HTML document, and that document in an iframe:
what a notebook's output cell shows (pipeline.site.notebook), offline and without a server.

The page is the site's own (the same template, scripts, specs and data files), rewritten:

- its stylesheets become <style> elements, and its classic scripts (assets/sentence-page.js, which
  fills the page's figure slot and holds its own scripts, the specs and their build-time Vega,
  assets/specs-vega.js) move to the end of <body>, in their order, inlined (the Vega bundle
  first: the page's scripts wait for it, by its file name, only when it is still to come), after `site_templates/notebook/notebook.js`, which keeps the
  address, the links and the iframe's height working inside a notebook;
- every other file of the site that the page names (its data scripts `data/<page>.js`, one per
  measure, the statistics' CSV) becomes a `data:` URL in its place: a data script keys its bytes
  by its own URL (assets/maps.js), which stays the name the page asks for;
- its Content-Security-Policy lets inline and `data:` scripts run, and still nothing from outside.

The iframe's `srcdoc` holds the document, so each view has a window of its own: two views in
one notebook share no element ids or globals, and a notebook saved with its outputs, or exported
to HTML, shows them again with no kernel, server or network. Each carries its own copy of Vega
(about 0.9 MB).
"""

from __future__ import annotations

import base64
import hashlib
import html
import itertools
import re
import urllib.parse
from pathlib import Path

from pipeline.errors import SiteError

SCRIPT = re.compile(r'<script\b[^>]*\bsrc="([^"]+)"[^>]*>\s*</script>\n?')
STYLESHEET = re.compile(r'<link rel="stylesheet" href="([^"]+)">\n?')
CSP = re.compile(r'<meta http-equiv="Content-Security-Policy" content="[^"]*">')
# inline and data: scripts (Vega compiles its expressions with Function), styles and images from
# the document itself; nothing is fetched from anywhere
NOTEBOOK_CSP = ("default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval' data:; "
                "style-src 'unsafe-inline'; img-src data: blob:; connect-src data: blob:; "
                "font-src data:; object-src 'none'; base-uri 'none'; form-action 'none'")
VEGA = "assets/vega.js"
TYPES = {".js": "text/javascript", ".csv": "text/csv", ".json": "application/json"}
_views = itertools.count(1)  # a view's number in this process: its element id stays unique


def notebook_dir() -> Path:
    """site_templates/notebook/: the script and style a page gets in a notebook."""
    from pipeline.site.site_assets import templates_dir

    return templates_dir() / "notebook"


def _script_text(text: str) -> str:
    """A script's text, safe inside <script>: "</script" and "<!--" cannot end or escape it
    (they occur only in strings, regular expressions and comments, where "<\\/" reads as "</")."""
    return text.replace("</script", "<\\/script").replace("<!--", "<\\!--")


def data_url(path: Path) -> str:
    """A file as a data: URL (base64), typed by its extension."""
    kind = TYPES.get(path.suffix.lower(), "application/octet-stream")
    return f"data:{kind};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


def inline_page(site: Path, page: str, *, fragment: str = "", style: str = "") -> str:
    """The built page `page` (a path in `site`, e.g. "sentences/x.html") as one document: its
    styles and scripts inlined, the site's other files it names as data: URLs (see the module's
    docstring); `fragment` opens it there ("l2h3"), `style` adds CSS."""
    site = Path(site).resolve()
    path = site / page
    text = path.read_text(encoding="utf-8")

    def local(url: str) -> Path | None:
        """The site's file a relative URL of the page names, or None (a URL, a fragment)."""
        if re.match(r"^[a-z][a-z0-9+.-]*:", url, re.I) or url.startswith(("#", "/")):
            return None
        target = (path.parent / urllib.parse.unquote(url.split("#")[0])).resolve()
        return target if target.is_file() and target.is_relative_to(site) else None

    scripts: list[str] = []
    for url in SCRIPT.findall(text):
        target = local(url)
        if target is None:
            raise SiteError(f"{page}: the script {url!r} is not a file of the site")
        if target.parent.name == "assets":  # the site's code: inlined as text
            code = f"<script>\n{_script_text(target.read_text(encoding='utf-8'))}\n</script>\n"
        else:  # a data script (UTF-16, keyed by its URL): in a data: URL, which it keys by
            code = f'<script src="{data_url(target)}"></script>\n'
        if target.relative_to(site).as_posix() == VEGA:  # the page's scripts wait for it
            scripts.insert(0, code)
        else:
            scripts.append(code)
    if VEGA not in [local(url).relative_to(site).as_posix() for url in SCRIPT.findall(text)]:
        # a sentence page that loads vega.js only for its figure download (assets/embed.js):
        # inlined all the same, since an iframe's document has no folder to load it from
        vega = (site / VEGA).read_text(encoding="utf-8")
        scripts.insert(0, f"<script>\n{_script_text(vega)}\n</script>\n")
    text = SCRIPT.sub("", text)

    def stylesheet(match: re.Match) -> str:
        target = local(match[1])
        if target is None:
            raise SiteError(f"{page}: the stylesheet {match[1]!r} is not a file of the site")
        css = target.read_text(encoding="utf-8").replace("</style", "<\\/style")
        return f"<style>\n{css}\n</style>\n"

    text = STYLESHEET.sub(stylesheet, text)
    own = (notebook_dir() / "notebook.css").read_text(encoding="utf-8") + style
    text = text.replace("</head>", f"<style>\n{own}</style>\n</head>", 1)

    def named(match: re.Match) -> str:  # a data script in the page's JSON, the CSV's link
        target = local(match[2])
        return f"{match[1]}{data_url(target) if target is not None else match[2]}{match[3]}"

    text = re.sub(r'(")((?:\.\./)*(?:data|series)/[^"]+\.js)(")', named, text)
    text = re.sub(r'(href=")([^"]+\.csv)(")', named, text)
    text = CSP.sub(f'<meta http-equiv="Content-Security-Policy" content="{NOTEBOOK_CSP}">', text)
    shim = (notebook_dir() / "notebook.js").read_text(encoding="utf-8")
    start = f' data-fragment="{html.escape(fragment, quote=True)}"' if fragment else ""
    body = f"<script{start}>\n{_script_text(shim)}\n</script>\n" + "".join(scripts)
    before, end, after = text.rpartition("</body>")
    if not end:
        raise SiteError(f"{page}: no </body> to put its scripts before")
    return before + body + end + after


def iframe(document: str, *, title: str, height: int) -> str:
    """The HTML of a notebook output that shows `document` in an iframe of its own (srcdoc), under
    an element id unique in this process; the page's script sets the iframe's height once drawn
    (`height`: until then, and where a notebook keeps the iframe from its parent)."""
    digest = hashlib.sha256(document.encode("utf-8")).hexdigest()[:10]
    uid = f"atlas-view-{digest}-{next(_views)}"
    return (f'<div class="attention-atlas-view" id="{uid}">'
            f'<iframe title="{html.escape(title, quote=True)}" srcdoc="{html.escape(document, quote=True)}" '
            f'style="width: 100%; height: {int(height)}px; border: 0;" loading="eager"></iframe></div>')
