"""Per-head statistics: their definitions, computing them into the store, catalog-order arrays."""
