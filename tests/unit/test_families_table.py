"""The README's table of model families and measures is the registry's (pipeline/model/families.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.errors import ModelError
from pipeline.model.families import FAMILIES, check_family, family_of, markdown_table

README = Path(__file__).resolve().parents[2] / "README.md"
START = "<!-- the families table: pipeline.model.families.markdown_table(); tests/unit/test_families_table.py checks it -->\n"
END = "<!-- end of the families table -->"


def test_the_readme_table_is_rendered_from_the_registry():
    text = README.read_text(encoding="utf-8")
    table = text[text.index(START) + len(START):text.index(END)]
    assert table == f"\n{markdown_table()}\n"  # blank lines around it: a Markdown table
    rows = [line for line in table.splitlines() if line.startswith("| ")]
    # the header, the separator, each family, any other model, any other encoder-decoder
    assert len(rows) == len(FAMILIES) + 4


def test_a_model_type_belongs_to_one_family_at_most():
    types = [t for f in FAMILIES for t in f.model_types]
    assert len(types) == len(set(types))
    assert family_of("roberta").name == "BERT" and family_of("pegasus") is None
    assert family_of("t5").encoder_decoder and not family_of("gpt2").encoder_decoder


def test_norm_of_an_unknown_model_type_is_one_line_naming_it_and_every_family():
    assert check_family("pegasus", "'x'", ["attention", "rollout", "grad"]) is None  # nothing to know
    with pytest.raises(ModelError) as caught:
        check_family("pegasus", "'x' (PegasusModel)", ["attention", "norm"])
    message = caught.value.message
    assert "\n" not in message and message.startswith("model 'x' (PegasusModel), model type "
                                                       "'pegasus'")
    assert all(f"{f.name} ({', '.join(f.model_types)})" in message for f in FAMILIES)
