"""The unit tier: no model, no torch, no pipeline process; seconds in all (`nox -s quick`).

A test that needs a model fixture belongs in tests/integration/: collecting one here fails.
"""

from __future__ import annotations

import pytest

# the fixtures of tests/conftest.py that load a model or extract through one
MODEL_FIXTURES = {"minilm", "gpt2", "gpt2_dir", "gpt2_lm", "gpt2_16_dir", "minilm_store",
                  "gpt2_store", "gpt2_all_measures_store", "long_store"}


def pytest_collection_modifyitems(config, items):
    """Refuse a unit test that asks for a model: it would make the quick tier slow."""
    here = config.rootpath / "tests" / "unit"
    wrong = [f"{item.nodeid} uses {', '.join(sorted(MODEL_FIXTURES & set(item.fixturenames)))}"
             for item in items if item.path.is_relative_to(here)
             and MODEL_FIXTURES & set(item.fixturenames)]
    if wrong:
        raise pytest.UsageError("unit tests may not load a model (move them to tests/integration/):\n"
                                + "\n".join(wrong))
