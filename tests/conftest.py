"""Shared fixtures: the embedded model, a tiny random GPT-2, and stores built from a tiny corpus."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pipeline.testing import TINY, make_gpt2, write_jsonl

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing in the tests may reach a model hub
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
# One torch thread a process, set before torch is imported and inherited by the processes the
# tests start: the models here are tiny, two pytest-xdist workers already fill both cores, and
# on a busy machine OpenMP threads waiting on each other make a forward pass many times slower
# (test_a_resumed_run_repeats_the_interrupted_runs_batches, load 7: 2 s on one, 13-55 s on two).
os.environ.setdefault("OMP_NUM_THREADS", "1")

REPO = Path(__file__).resolve().parents[1]


def pytest_collection_modifyitems(items):
    """The Ray tests first, then the rest of the integration tier, the unit tier last (each file
    in its own order): under pytest-xdist (`--dist loadfile`, noxfile.py) the longest file starts
    at once on one worker, and the many short unit tests fill both workers' last seconds."""
    def rank(item) -> int:
        if item.path.name == "test_ray.py":
            return 0
        return {"integration": 1, "unit": 2}.get(item.path.parent.name, 3)

    items.sort(key=rank)  # a stable sort: the order within a file stays


def pytest_configure(config):
    """The `fidelity` marker (.ci/run runs these tests again under each ATEN_CPU_CAPABILITY) and
    the `gpu` marker."""
    config.addinivalue_line("markers", "fidelity: output against a reference: golden files, or a "
                                       "direct forward pass (.ci/run: under each ATEN_CPU_CAPABILITY)")
    # here rather than in pyproject.toml, whose hash would make noxfile.py reinstall the environment
    config.addinivalue_line("markers", "gpu: needs a CUDA GPU, skipped without one "
                                       "(tests/integration/test_half_precision.py)")


@pytest.fixture(scope="session")
def minilm():
    """The embedded default model (6 layers x 12 heads), loaded once."""
    from pipeline.model.loading import load_model

    return load_model()


@pytest.fixture(scope="session")
def gpt2_dir(tmp_path_factory) -> Path:
    """A folder holding a tiny random GPT-2 (2 layers x 4 heads, 64 positions)."""
    return make_gpt2(tmp_path_factory.mktemp("gpt2"))


@pytest.fixture(scope="session")
def gpt2(gpt2_dir):
    """The tiny random GPT-2, loaded once."""
    from pipeline.model.loading import load_model

    return load_model(str(gpt2_dir))


@pytest.fixture(scope="session")
def gpt2_lm(gpt2_dir):
    """The tiny random GPT-2 with its (tied) language-model head, loaded once: what a measure
    with a backward pass (grad) needs."""
    from pipeline.model.loading import load_model

    return load_model(str(gpt2_dir), causal_lm=True)


@pytest.fixture(scope="session")
def gpt2_16_dir(tmp_path_factory) -> Path:
    """A tiny random GPT-2 of 2 layers x 16 heads (64 positions): 32 maps per sentence, so a
    few dozen long sentences fill a 4 MiB chunk of codes and a run commits several times."""
    return make_gpt2(tmp_path_factory.mktemp("gpt2-16"), n_head=16)


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory) -> Path:
    """The tiny corpus as a .jsonl file."""
    return write_jsonl(tmp_path_factory.mktemp("corpus") / "tiny.jsonl", TINY)


def _build_store(folder: Path, corpus: Path, loaded) -> Path:
    from pipeline.corpus import read_corpus
    from pipeline.extract.run import extract

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
def gpt2_all_measures_store(tmp_path_factory, tiny_corpus, gpt2_lm) -> Path:
    """The tiny corpus through the tiny random GPT-2 with its LM head, every measure stored:
    attention, rollout, norm and grad. Read-only: copy it to modify."""
    from pipeline.corpus import read_corpus
    from pipeline.extract.run import extract

    store = tmp_path_factory.mktemp("gpt2all") / "atlas.zarr"
    extract(read_corpus(tiny_corpus).sentences, store, gpt2_lm, progress=False,
            measures="attention,rollout,norm,grad")
    return store


def long_corpus_items() -> list[dict]:
    """A corpus a site must cope with: a 150-word sentence with emoji and ENV / LAN spans, a
    sentence with a dozen long span labels, and short ones, each with a speaker_role."""
    vocab = ["the", "child", "painted", "a", "picture", "of", "horse", "👍🏽", "and", "my", "favorite",
             "animal", "is", "🐴", "dog", "ball", "red", "look", "here", "there"]
    half = [vocab[(i * 7) % len(vocab)] for i in range(74)]
    env, lan = " ".join(["<ENV>", *half]), " ".join(["<LAN>", *reversed(half)])
    text = f"{env} {lan}"
    labels = [f"LONG_LABEL_NUMBER_{i:02d}" for i in range(12)]
    many = " ".join(f"w{i}" for i in range(12))
    many_spans = [{"label": label, "start": 3 * i - (i > 9), "end": 3 * i - (i > 9) + 2}
                  for i, label in enumerate(labels[:10])]
    return [
        {"id": "long-150", "text": text, "meta": {"speaker_role": "Target_Child", "age": 31.5},
         "spans": [{"label": "ENV", "start": 0, "end": len(env)},
                   {"label": "LAN", "start": len(env) + 1, "end": len(text)}]},
        {"id": "many-labels", "text": many, "spans": many_spans, "meta": {"speaker_role": "Mother"}},
        {"id": "short-a", "text": "<CHI> sit down .", "meta": {"speaker_role": "Mother"}},
        {"id": "short-b", "text": "<MOT> who is that ? <CHI> a horse .", "meta": {"speaker_role": "Target_Child"}},
        {"id": "short-c", "text": "yes", "meta": {"speaker_role": "Investigator"}},
    ]


@pytest.fixture(scope="session")
def long_store(tmp_path_factory, minilm) -> Path:
    """A store of long_corpus_items() through the embedded model. Read-only."""
    folder = tmp_path_factory.mktemp("long")
    return _build_store(folder, write_jsonl(folder / "long.jsonl", long_corpus_items()), minilm)
