"""Paths in the site that more than one module writes or links to."""

from __future__ import annotations

# A head page: one per measure, layer and head (1-based, as on the sentence pages). The
# corpus view (assets/corpus.js) fills {measure}, {layer} and {head}; a sentence page's
# link (assets/sentence.js), {layer} and {head}.
HEAD_PAGE = "heads/{measure}/l{layer}h{head}.html"


def head_page_name(measure: str, layer: int, head: int) -> str:
    """A head page's path in the site."""
    return HEAD_PAGE.format(measure=measure, layer=layer, head=head)


def head_page_pattern(measure: str) -> str:
    """A measure's head pages' path, {layer} and {head} left for the page's script to fill."""
    return HEAD_PAGE.replace("{measure}", measure)
