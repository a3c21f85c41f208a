"""Fidelity of the measures beyond attention: every stored cell against an independent reference.

The stores are extracted in one batch of sentences of very different lengths
(so each sentence is padded beside longer ones, or pads shorter ones); each
reference is written here from the papers' formulas, from a direct, unpadded
forward pass of the same model, without the pipeline's hooks or code:

- rollout: Abnar & Zuidema (2020), Â_l = 0.5 mean_h A_l + 0.5 I, R_l = Â_l R_{l-1};
- norm: Kobayashi et al. (2020), ||A[l,h,i,j] (x_j W_V^h + b_V^h) W_O^h||, from the model's
  parameters and its hidden states (output_hidden_states), rows normalised;
- grad: max(0, A * dS/dA) with torch.autograd.grad of S = sum_t log p(t+1 | <=t), rows normalised.

Every stored cell must lie within 1/510 (half a quantization step) of the reference.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pipeline.errors import ModelError
from pipeline.extract.run import extract
from pipeline.records import Sentence
from pipeline.store import AtlasStore
from pipeline.testing import VOCAB
from pipeline.words import split_words

pytestmark = pytest.mark.fidelity  # .ci/run runs these under every ATEN_CPU_CAPABILITY too

TOLERANCE = 1 / 510 + 1e-6  # half a step, and float32 rounding of the reference itself

# very different lengths in one batch: the short ones are padded beside the long ones
MIXED = [
    ("one", "oh ."),
    ("medium", "<CHI> painted a picture of a horse ."),
    ("long", " ".join(VOCAB) + " ."),
    ("two", "Sit down ."),
    ("longer", " ".join(VOCAB + VOCAB[:8]) + " !"),
    ("tags", "<MOT> who's that ? <CHI> oh yeah ."),
]
ALL = "attention,rollout,norm,grad"


def sentences() -> list[Sentence]:
    return [Sentence(sid, text, split_words(text)) for sid, text in MIXED]


@pytest.fixture(scope="module")
def gpt2_measures(tmp_path_factory, gpt2_lm) -> AtlasStore:
    store = tmp_path_factory.mktemp("gpt2m") / "atlas.zarr"
    extract(sentences(), store, gpt2_lm, progress=False, measures=ALL)
    return AtlasStore.open(store)


@pytest.fixture(scope="module")
def minilm_measures(tmp_path_factory, minilm) -> AtlasStore:
    store = tmp_path_factory.mktemp("minilmm") / "atlas.zarr"
    extract(sentences(), store, minilm, progress=False, measures="attention,rollout,norm")
    return AtlasStore.open(store)


def input_ids(loaded, rec) -> torch.Tensor:
    """The stored sentence's model input, (1, T): one unpadded sentence."""
    return torch.tensor([loaded.tokenizer.convert_tokens_to_ids(rec.tokens)])


def row_normalised(x: np.ndarray) -> np.ndarray:
    total = x.sum(axis=-1, keepdims=True)
    return np.divide(x, total, out=np.zeros_like(x), where=total > 0)


def assert_close(stored: np.ndarray, reference: np.ndarray, what: str) -> None:
    assert stored.shape == reference.shape, (what, stored.shape, reference.shape)
    worst = np.abs(stored - reference).max()
    assert worst <= TOLERANCE, f"{what}: a stored cell is {worst * 510:.2f}/510 off"


def reference_rollout(attentions: np.ndarray) -> np.ndarray:
    """(L, H, T, T) -> (L, 1, T, T), the formula written out in numpy, float64."""
    n_layers, _, t, _ = attentions.shape
    joint, out = None, []
    for layer in range(n_layers):
        hat = 0.5 * attentions[layer].astype(np.float64).mean(axis=0) + 0.5 * np.eye(t)
        joint = hat if joint is None else hat @ joint
        out.append(joint[None])
    return np.stack(out)


def reference_norms(loaded, ids: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Attention (L, H, T, T) and ||f_{l,h}(x_j)|| (L, H, T), from the parameters, float64."""
    model = loaded.model
    with torch.no_grad():
        out = model(input_ids=ids, output_attentions=True, output_hidden_states=True)
        return _reference_norms(loaded, out)


def _reference_norms(loaded, out) -> tuple[np.ndarray, np.ndarray]:
    base, n_heads = loaded.model.base_model, loaded.info["n_heads"]
    norms = []
    for layer, x in enumerate(out.hidden_states[: loaded.info["n_layers"]]):  # input of layer l
        x = x[0].double()  # (T, D)
        if hasattr(base, "encoder"):  # BERT: value Linear, output dense Linear (y = x W^T + b)
            attention = base.encoder.layer[layer].attention
            w_v, b_v = attention.self.value.weight.double(), attention.self.value.bias.double()
            w_o = attention.output.dense.weight.double().T  # (D_in, D_out), as x @ w_o
            value = x @ w_v.T + b_v
        else:  # GPT-2: ln_1, then the value third of c_attn (Conv1D: y = x W + b), c_proj
            block = base.h[layer]
            x = torch.nn.functional.layer_norm(x, x.shape[-1:], block.ln_1.weight.double(),
                                               block.ln_1.bias.double(), block.ln_1.eps)
            d_model = x.shape[-1]
            w, b = block.attn.c_attn.weight.double(), block.attn.c_attn.bias.double()
            value = x @ w[:, 2 * d_model:] + b[2 * d_model:]
            w_o = block.attn.c_proj.weight.double()
        d = value.shape[-1] // n_heads
        per_head = [value[:, h * d:(h + 1) * d] @ w_o[h * d:(h + 1) * d] for h in range(n_heads)]
        norms.append(torch.stack([f.norm(dim=-1) for f in per_head]))  # (H, T)
    attentions = torch.stack([a[0] for a in out.attentions]).double().numpy()
    return attentions, torch.stack(norms).numpy()


def test_the_batch_really_mixes_lengths(gpt2_measures):
    lengths = [len(gpt2_measures[sid].tokens) for sid, _ in MIXED]
    assert min(lengths) <= 3 and max(lengths) >= 25  # one batch: padding up to 10x the length


@pytest.mark.parametrize("which", ["minilm", "gpt2"])
def test_rollout_equals_the_formula_on_a_direct_forward_pass(which, request):
    store = request.getfixturevalue(f"{which}_measures")
    loaded = request.getfixturevalue("minilm" if which == "minilm" else "gpt2_lm")
    for rec in store:
        with torch.no_grad():
            out = loaded.model(input_ids=input_ids(loaded, rec), output_attentions=True)
        attentions = torch.stack([a[0] for a in out.attentions]).numpy()
        stored = rec.attention(measure="rollout")
        assert stored.shape[1] == 1  # one map per layer
        assert_close(stored, reference_rollout(attentions), f"{which} rollout {rec.id}")
        np.testing.assert_allclose(stored.sum(-1), 1, atol=len(rec.tokens) / 510)


@pytest.mark.parametrize("which", ["minilm", "gpt2"])
def test_norm_equals_an_independent_computation_from_the_parameters(which, request):
    store = request.getfixturevalue(f"{which}_measures")
    loaded = request.getfixturevalue("minilm" if which == "minilm" else "gpt2_lm")
    for rec in store:
        attentions, norms = reference_norms(loaded, input_ids(loaded, rec))
        reference = row_normalised(attentions * norms[:, :, None, :])  # A[l,h,i,j] ||f(x_j)||
        assert_close(rec.attention(measure="norm"), reference, f"{which} norm {rec.id}")


def test_grad_equals_autograd_of_the_log_likelihood_on_one_unpadded_sentence(gpt2_measures, gpt2_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    # loaded here, not by the pipeline
    lm = AutoModelForCausalLM.from_pretrained(gpt2_dir, attn_implementation="eager").eval()
    tokenizer = AutoTokenizer.from_pretrained(gpt2_dir)
    for rec in gpt2_measures:
        ids = torch.tensor([tokenizer.convert_tokens_to_ids(list(rec.tokens))])
        out = lm(input_ids=ids, output_attentions=True)
        logp = torch.log_softmax(out.logits[0, :-1].double(), dim=-1)
        s = logp[torch.arange(ids.shape[1] - 1), ids[0, 1:]].sum()
        grads = torch.autograd.grad(s, out.attentions)
        a = torch.stack([x[0] for x in out.attentions]).detach().double().numpy()
        g = torch.stack([x[0] for x in grads]).double().numpy()
        reference = row_normalised(np.maximum(0.0, a * g))
        stored = rec.attention(measure="grad")
        assert_close(stored, reference, f"grad {rec.id}")
        assert stored.max() > 0  # not a store of zeros


def test_padding_leaks_into_no_measure(gpt2_measures, gpt2_lm, tmp_path):
    # the shortest sentence alone (no padding) and in the mixed batch: the same codes, to a step
    alone = tmp_path / "alone.zarr"
    extract([s for s in sentences() if s.id == "two"], alone, gpt2_lm, progress=False, measures=ALL)
    single = AtlasStore.open(alone)["two"]
    for measure in ALL.split(","):
        batched = gpt2_measures["two"].codes(measure).astype(int)
        assert np.abs(batched - single.codes(measure).astype(int)).max() <= 1, measure


def test_grad_on_an_encoder_is_refused_naming_the_model_and_the_measure(tmp_path):
    from pipeline.model.loading import ModelSpec

    with pytest.raises(ModelError, match="all-MiniLM-L6-v2.*no causal language-model head.*'grad'"):
        extract(sentences(), tmp_path / "atlas.zarr", ModelSpec(None), progress=False,
                measures="attention,grad")
    assert not (tmp_path / "atlas.zarr").exists()


def test_grad_on_a_model_loaded_without_its_head_is_refused(minilm, tmp_path):
    with pytest.raises(ModelError, match="no causal language-model head: the measure 'grad'"):
        extract(sentences()[:2], tmp_path / "atlas.zarr", minilm, progress=False, measures="grad")


def test_norm_on_another_architecture_is_refused_naming_the_model_and_the_measure():
    from transformers import BloomConfig, BloomModel

    from pipeline.extract.forward import ValueNorms
    from pipeline.model.loading import LoadedModel

    config = BloomConfig(vocab_size=32, hidden_size=16, n_layer=1, n_head=2)
    info = {"name": "tiny-bloom", "architecture": "BloomModel", "n_layers": 1, "n_heads": 2}
    loaded = LoadedModel(BloomModel(config), None, info, torch.device("cpu"), torch.float32)
    with pytest.raises(ModelError, match="'tiny-bloom' \\(BloomModel\\), model type 'bloom': the "
                                         "measure 'norm' reads each head's value and output "
                                         "projections, known for these families only: BERT "):
        ValueNorms(loaded, ["norm"])
