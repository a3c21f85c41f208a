"""Shared fixtures: the embedded model, a tiny random GPT-2, and stores built from a tiny corpus."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pipeline.testing import TINY, make_gpt2, write_jsonl

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing in the tests may reach a model hub
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

REPO = Path(__file__).resolve().parents[1]

@pytest.fixture(scope="session")
def minilm():
    """The embedded default model (6 layers x 12 heads), loaded once."""
    from pipeline.model import load_model

    return load_model()


@pytest.fixture(scope="session")
def gpt2_dir(tmp_path_factory) -> Path:
    """A folder holding a tiny random GPT-2 (2 layers x 4 heads, 64 positions)."""
    return make_gpt2(tmp_path_factory.mktemp("gpt2"))


@pytest.fixture(scope="session")
def gpt2(gpt2_dir):
    """The tiny random GPT-2, loaded once."""
    from pipeline.model import load_model

    return load_model(str(gpt2_dir))


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory) -> Path:
    """The tiny corpus as a .jsonl file."""
    return write_jsonl(tmp_path_factory.mktemp("corpus") / "tiny.jsonl", TINY)


def _build_store(folder: Path, corpus: Path, loaded) -> Path:
    from pipeline.corpus import read_corpus
    from pipeline.extract import extract

    store = folder / "atlas.zarr"
    extract(read_corpus(corpus).sentences, store, loaded, progress=False)
    return store


@pytest.fixture(scope="session")
def minilm_store(tmp_path_factory, tiny_corpus, minilm) -> Path:
    """A store of the tiny corpus through the embedded model. Read-only: copy it to modify."""
    return _build_store(tmp_path_factory.mktemp("minilm"), tiny_corpus, minilm)


@pytest.fixture(scope="session")
def gpt2_store(tmp_path_factory, tiny_corpus, gpt2) -> Path:
    """A store of the tiny corpus through the tiny random GPT-2. Read-only: copy it to modify."""
    return _build_store(tmp_path_factory.mktemp("gpt2store"), tiny_corpus, gpt2)


@pytest.fixture(scope="session")
def gpt2_all_measures_store(tmp_path_factory, tiny_corpus, gpt2_dir) -> Path:
    """The tiny corpus through the tiny random GPT-2 with its LM head, every measure stored:
    attention, rollout, norm and grad. Read-only: copy it to modify."""
    from pipeline.corpus import read_corpus
    from pipeline.extract import extract
    from pipeline.model import load_model

    store = tmp_path_factory.mktemp("gpt2all") / "atlas.zarr"
    extract(read_corpus(tiny_corpus).sentences, store, load_model(str(gpt2_dir), causal_lm=True),
            progress=False, measures="attention,rollout,norm,grad")
    return store
