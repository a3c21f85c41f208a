"""Attention Atlas: every attention head of a transformer over a corpus, as a static site."""

import importlib

__version__ = "0.1.0"


def __getattr__(name: str):
    """`from pipeline import look` (pipeline/notebook.py), imported only when asked for: the
    stages import this package for its version, and must not reach extraction through it."""
    if name == "look":
        return importlib.import_module("pipeline.notebook").look
    raise AttributeError(f"module 'pipeline' has no attribute {name!r}")
