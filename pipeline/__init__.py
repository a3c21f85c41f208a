"""Attention Atlas: every attention head of a transformer over a corpus, as a static site."""

__version__ = "0.1.0"
