"""Extraction: the corpus through the model into the store (the script: run.py)."""
