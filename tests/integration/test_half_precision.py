"""Half precision on a GPU: `--dtype float16` and `bfloat16` codes beside float32's, through the
same random models on the same CUDA device. Needs a CUDA GPU: without one every test here is
skipped, with the reason "needs a CUDA GPU" (pytest -ra prints it); `-m gpu` selects them.

What is compared: every stored code of attention, rollout and norm, half precision against
float32. A code is a value rounded to 1/255; float16 keeps 11 significant bits, so its
probabilities round by at most 1/4096 near 1 and its codes may differ from float32's by one
step only where a value lies that close to a rounding boundary; bfloat16 keeps 8, as many as
a code, so its rounding of a probability near 1 alone is up to half a code step (1/512), and
its codes may differ by two. bench/bench_gpu.py prints the measured figures (and grad's).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pipeline.extract.run import extract
from pipeline.model.loading import load_model
from pipeline.records import Sentence
from pipeline.store import AtlasStore
from pipeline.testing import VOCAB
from pipeline.testing.families import make_model
from pipeline.words import split_words

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]

MEASURES = ("attention", "rollout", "norm")
STEPS = {"float16": 1, "bfloat16": 2}  # the most a code may differ from float32's (see above)
TEXTS = [("one", "oh ."), ("medium", "<CHI> painted a picture of a horse ."),
         ("long", " ".join(VOCAB) + " ."), ("longer", " ".join(VOCAB + VOCAB[:8]) + " !")]


@pytest.fixture(scope="module", params=["gpt2", "llama"])
def stores(request, tmp_path_factory) -> dict[str, AtlasStore]:
    """dtype -> the store of TEXTS through one random model on the GPU in that dtype."""
    folder = make_model(request.param, tmp_path_factory.mktemp(request.param))
    sentences = [Sentence(sid, text, split_words(text)) for sid, text in TEXTS]
    out = {}
    for dtype in ("float32", *STEPS):
        loaded = load_model(str(folder), device="cuda", dtype=dtype)
        assert loaded.dtype == getattr(torch, dtype) and loaded.device.type == "cuda"
        path = tmp_path_factory.mktemp(f"{request.param}-{dtype}") / "atlas.zarr"
        extract(sentences, path, loaded, progress=False, measures=",".join(MEASURES))
        out[dtype] = AtlasStore.open(path)
    return out


@pytest.mark.parametrize("dtype", list(STEPS))
def test_half_precision_codes_are_within_a_step_or_two_of_float32s(stores, dtype):
    for measure in MEASURES:
        for sid, _ in TEXTS:
            full = stores["float32"][sid].codes(measure).astype(int)
            half = stores[dtype][sid].codes(measure).astype(int)
            assert half.shape == full.shape
            worst = np.abs(half - full).max()
            assert worst <= STEPS[dtype], f"{dtype} {measure} {sid}: {worst} code steps off"
            assert full.max() > 0  # not a store of zeros
