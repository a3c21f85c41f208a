"""Models: who a model is, from its files without torch (identity), and loading it (loading)."""
