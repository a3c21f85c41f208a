"""Paths in the site that more than one module writes or links to."""

from __future__ import annotations

# A head page: one per measure, layer and head (1-based, as on the sentence pages). The
# corpus view (assets/corpus.js) fills {measure}, {layer} and {head}; a sentence page's
# link (assets/sentence.js), {layer} and {head}.
HEAD_PAGE = "heads/{measure}/l{layer}h{head}.html"


def head_page_name(measure: str, layer: int, head: int) -> str:
    """A head page's path in the site."""
    return HEAD_PAGE.format(measure=measure, layer=layer, head=head)


def head_page_pattern(measure: str, part: str = "self") -> str:
    """A measure's (and part's) head pages' path, {layer} and {head} left for the page's
    script to fill."""
    return HEAD_PAGE.replace("{measure}", site_name(measure, part))


def site_name(measure: str, part: str = "self") -> str:
    """A measure's part as the site names its head pages' folder (heads/<name>/): the measure's
    name for a self store's and for an encoder-decoder's first part, the encoder (as its data
    scripts and sentence pages do), else <measure>.<part> (attention.cross)."""
    return measure if part in ("self", "encoder") else f"{measure}.{part}"
