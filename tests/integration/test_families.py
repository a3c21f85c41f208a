"""Every family beside BERT and GPT-2 (test_measure_fidelity.py): attention, rollout, norm and,
for the causal ones, grad, every stored cell against an independent computation.

Each family's model is built here from a config with random weights (2 layers, 4 heads, width
32; pipeline/testing/families.py) and a tokenizer trained here, loaded by the pipeline and
extracted in one batch of very different lengths (right padding; Llama's and Pythia's
tokenizers have no pad token). The references come from one direct, unpadded forward pass
of each sentence through the model's own modules, without the pipeline's code:

- attention: the probabilities the model returns (eager); rollout: the formula in numpy;
- norm: ||(x W_V^h + b_V^h) W_O^h|| with x the attention module's input as a forward
  pre-hook sees it (after the layer's norm), the weights read from the modules as written
  below from transformers' modelling code (not from pipeline/model/families.py), query head h
  reading value head h // (H / KV) as repeat_kv shares them;
- grad: torch.autograd.grad of S = sum_t log p(t+1 | <=t) with respect to the attention.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pipeline.errors import ModelError
from pipeline.extract.run import extract
from pipeline.model.families import FAMILIES
from pipeline.model.identity import identify_model
from pipeline.model.loading import ModelSpec, load_model
from pipeline.records import Sentence
from pipeline.store import AtlasStore
from pipeline.testing import VOCAB
from pipeline.testing.families import RECIPES, make_model
from pipeline.testing.reference import assert_close, reference_rollout, row_normalised
from pipeline.words import split_words

pytestmark = pytest.mark.fidelity  # .ci/run runs these under every ATEN_CPU_CAPABILITY too

GRAD_TOLERANCE = 2 / 510  # a backward pass through a padded batch rounds a little more
WINDOW = 8  # Mistral's sliding window: shorter than the long sentences
KINDS = ["roberta", "distilbert", "electra", "gpt_neox", "llama", "mistral", "qwen2", "gemma",
         "opt"]
MIXED = [("one", "oh ."), ("medium", "<CHI> painted a picture of a horse ."),
         ("long", " ".join(VOCAB) + " ."), ("longer", " ".join(VOCAB + VOCAB[:8]) + " !")]


def attention_modules(kind: str, base) -> list:
    """Each layer's attention module (what a pre-hook on it sees is x, after the layer's norm)."""
    if kind in ("roberta", "electra"):
        return [layer.attention for layer in base.encoder.layer]
    if kind == "distilbert":
        return [layer.attention for layer in base.transformer.layer]
    if kind == "gpt_neox":
        return [layer.attention for layer in base.layers]
    if kind == "opt":
        return [layer.self_attn for layer in base.decoder.layers]
    return [layer.self_attn for layer in base.layers]  # Llama, Mistral, Qwen2, Gemma


def value_weights(kind: str, att, n_heads: int):
    """W_V (KV, d, D) and b_V (KV, d) as v_k = x W_V[k]^T + b_V[k]; W_O (H, d, D) as f = v W_O[h]."""
    if kind == "gpt_neox":  # query_key_value's rows: head by head, [q_h; k_h; v_h]
        qkv = att.query_key_value
        d = qkv.weight.shape[0] // (3 * n_heads)
        w_v = qkv.weight.double().reshape(n_heads, 3, d, -1)[:, 2]
        b_v = qkv.bias.double().reshape(n_heads, 3, d)[:, 2]
        out = att.dense
    else:
        if kind in ("roberta", "electra"):
            value, out = att.self.value, att.output.dense
        elif kind == "distilbert":
            value, out = att.v_lin, att.out_lin
        elif kind == "opt":
            value, out = att.v_proj, att.out_proj
        else:  # Llama, Mistral, Qwen2, Gemma
            value, out = att.v_proj, att.o_proj
        d = out.weight.shape[1] // n_heads  # o_proj: (D, H * d)
        w_v = value.weight.double().reshape(-1, d, value.weight.shape[1])  # (KV, d, D)
        bias = value.bias if value.bias is not None else torch.zeros(value.weight.shape[0])
        b_v = bias.double().reshape(-1, d)
    w_o = out.weight.double().T.reshape(n_heads, d, -1)  # (H, d, D)
    return w_v, b_v, w_o


def reference(kind: str, loaded, ids: torch.Tensor, causal: bool):
    """Attention A (L, H, T, T), ||f(x_j)|| (L, H, T) and, for a causal LM, dS/dA (L, H, T, T)."""
    model, n_heads = loaded.model, loaded.info["n_heads"]
    modules = attention_modules(kind, model.base_model)
    inputs: list = []
    hooks = [m.register_forward_pre_hook(
        lambda _m, args, kwargs: inputs.append(kwargs.get("hidden_states", args[0] if args
                                                          else None)), with_kwargs=True)
             for m in modules]
    try:
        with torch.set_grad_enabled(causal):
            out = model(input_ids=ids, output_attentions=True)
    finally:
        for hook in hooks:
            hook.remove()
    assert len(inputs) == len(modules) == loaded.info["n_layers"]
    norms = []
    with torch.no_grad():
        for att, x in zip(modules, inputs, strict=True):
            w_v, b_v, w_o = value_weights(kind, att, n_heads)
            group = n_heads // w_v.shape[0]  # repeat_kv: head h reads value head h // group
            x = x[0].double()  # (T, D)
            f = [(x @ w_v[h // group].T + b_v[h // group]) @ w_o[h] for h in range(n_heads)]
            norms.append(torch.stack([v.norm(dim=-1) for v in f]))  # (H, T)
    grads = None
    if causal:
        logp = torch.log_softmax(out.logits[0, :-1].double(), dim=-1)
        s = logp[torch.arange(ids.shape[1] - 1), ids[0, 1:]].sum()
        grads = torch.stack([g[0] for g in torch.autograd.grad(s, out.attentions)]).double().numpy()
    attentions = torch.stack([a[0] for a in out.attentions]).detach().double().numpy()
    return attentions, torch.stack(norms).numpy(), grads


@pytest.fixture(scope="module", params=KINDS)
def family(request, tmp_path_factory):
    """(kind, the loaded model, its store of every measure it has), one per family."""
    kind = request.param
    folder = make_model(kind, tmp_path_factory.mktemp(kind), window=WINDOW)
    causal = RECIPES[kind].causal
    assert identify_model(str(folder)).max_length == 64
    loaded = load_model(str(folder), device="cpu", causal_lm=causal)
    store = tmp_path_factory.mktemp(f"{kind}-store") / "atlas.zarr"
    sentences = [Sentence(sid, text, split_words(text)) for sid, text in MIXED]
    # two runs: the first computes its measures layer by layer (no attention returned), the
    # second adds grad from every layer's attention and its backward pass
    extract(sentences, store, loaded, progress=False, measures="attention,rollout,norm")
    if causal:
        extract(sentences, store, loaded, progress=False, measures="grad")
    return kind, loaded, AtlasStore.open(store)


def test_every_measure_equals_an_independent_computation(family):
    kind, loaded, store = family
    causal = RECIPES[kind].causal
    assert loaded.info["causal"] is causal and loaded.tokenizer.pad_token is not None
    lengths = [len(store[sid].tokens) for sid, _ in MIXED]
    assert min(lengths) <= 5 and max(lengths) >= 27  # one batch: the short ones padded
    for rec in store:
        ids = torch.tensor([loaded.tokenizer.convert_tokens_to_ids(list(rec.tokens))])
        attentions, norms, grads = reference(kind, loaded, ids, causal)
        assert_close(rec.attention(), attentions, f"{kind} attention {rec.id}")
        assert_close(rec.attention(measure="rollout"), reference_rollout(attentions),
                     f"{kind} rollout {rec.id}")
        assert_close(rec.attention(measure="norm"),
                     row_normalised(attentions * norms[:, :, None, :]), f"{kind} norm {rec.id}")
        if causal:
            stored = rec.attention(measure="grad")
            assert_close(stored, row_normalised(np.maximum(0.0, attentions * grads)),
                         f"{kind} grad {rec.id}", GRAD_TOLERANCE)
            assert stored.max() > 0
            assert np.triu(rec.attention(), 1).max() == 0  # causal: nothing after the query


def test_codes_made_layer_by_layer_equal_those_of_every_layer_returned(family, monkeypatch):
    """forward_codes computes attention, rollout and norm in hooks as each layer's attention
    comes (LayerCodes), and from every layer's attention returned where it cannot: bit for bit
    the same codes."""
    from pipeline.extract import forward
    from pipeline.extract.encode import encode

    kind, loaded, _ = family
    sentences = [Sentence(sid, text, split_words(text)) for sid, text in MIXED]
    batch, _ = encode(sentences, loaded.tokenizer, loaded.info["max_length"])
    measures = ["attention", "rollout", "norm"]
    assert forward.attention_modules(loaded.model, loaded.info["n_layers"]) is not None
    by_layer = forward.forward_codes(loaded, batch, measures)
    monkeypatch.setattr(forward, "attention_modules", lambda *_args: None)
    whole = forward.forward_codes(loaded, batch, measures)
    for measure in measures:
        assert by_layer[measure].shape == whole[measure].shape
        np.testing.assert_array_equal(by_layer[measure], whole[measure], err_msg=measure)


def test_what_sets_each_family_apart_is_there(family):
    """The models really have what the tests claim to cover: grouped-query attention, a sliding
    window that cuts the long sentences' maps, QKV biases, heads x head size != width."""
    kind, loaded, store = family
    config = loaded.model.config
    if kind in ("llama", "mistral", "qwen2", "gemma"):
        assert config.num_key_value_heads < config.num_attention_heads
    if kind == "mistral":
        maps = store["longer"].attention()  # (L, H, T, T)
        i, j = np.indices(maps.shape[-2:])
        assert (maps[..., i - j >= WINDOW] == 0).all() and (maps[..., i - j == WINDOW - 1] > 0).all()
    if kind == "qwen2":
        assert attention_modules(kind, loaded.model.base_model)[0].v_proj.bias is not None
    if kind == "gemma":
        assert config.head_dim * config.num_attention_heads != config.hidden_size
    if kind == "gpt_neox":
        assert config.use_parallel_residual


def test_the_registry_covers_every_family_tested_here():
    types = {t for f in FAMILIES for t in f.model_types}
    assert set(KINDS) | {"bert", "gpt2"} <= types
    assert {f.name for f in FAMILIES if f.causal} == {"GPT-2", "GPT-NeoX", "Llama", "Mistral",
                                                      "Qwen2", "Gemma", "OPT"}


def test_norm_of_an_unknown_family_is_refused_in_one_line_before_loading(tmp_path, monkeypatch):
    from transformers import BloomConfig, BloomForCausalLM

    folder = make_model("llama", tmp_path / "bloom-tiny")  # its tokenizer; the model replaced
    for weights in folder.glob("*.safetensors"):
        weights.unlink()
    BloomForCausalLM(BloomConfig(vocab_size=400, hidden_size=16, n_layer=1, n_head=2)
                     ).save_pretrained(folder)

    def never(*_args, **_kwargs):
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(ModelSpec, "load", never)
    with pytest.raises(ModelError) as caught:
        extract([Sentence("a", "oh .", split_words("oh ."))], tmp_path / "atlas.zarr",
                ModelSpec(str(folder)), progress=False, measures="attention,norm")
    message = caught.value.message
    assert "\n" not in message and caught.value.exit_code == 4
    assert message.startswith("model 'bloom-tiny', model type 'bloom': the measure 'norm'")
    assert all(f.name in message for f in FAMILIES) and "Llama (llama)" in message
    assert not (tmp_path / "atlas.zarr").exists()


@pytest.fixture(scope="module")
def llama_dir(tmp_path_factory):
    """A tiny random Llama whose config.json asks for SDPA, as many hub checkpoints' do."""
    import json

    folder = make_model("llama", tmp_path_factory.mktemp("llama-sdpa"))
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "attn_implementation": "sdpa"}))
    return folder


def test_a_model_asking_for_sdpa_is_loaded_eager_and_the_log_says_why(llama_dir, caplog):
    caplog.set_level("INFO", logger="pipeline")
    loaded = load_model(str(llama_dir), device="cpu")
    assert loaded.model.config._attn_implementation == "eager"
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("attention:")]
    assert lines == ["attention: eager, not the sdpa the model asked for (SDPA and flash "
                     "kernels return no attention probabilities)"]


def test_a_model_set_to_sdpa_after_loading_is_switched_back_for_exact_maps(llama_dir, tmp_path,
                                                                          caplog):
    loaded = load_model(str(llama_dir), device="cpu")
    sentences = [Sentence(sid, text, split_words(text)) for sid, text in MIXED[:2]]
    extract(sentences, tmp_path / "eager.zarr", loaded, progress=False)
    loaded.model.set_attn_implementation("sdpa")  # what a user's code may do to the model
    caplog.set_level("INFO", logger="pipeline")
    extract(sentences, tmp_path / "sdpa.zarr", loaded, progress=False)
    assert loaded.model.config._attn_implementation == "eager"
    assert [r.getMessage() for r in caplog.records if r.getMessage().startswith("attention:")] == [
        "attention: eager, not the sdpa the model asked for (SDPA and flash kernels return no "
        "attention probabilities)"]
    eager, sdpa = AtlasStore.open(tmp_path / "eager.zarr"), AtlasStore.open(tmp_path / "sdpa.zarr")
    for sid, _ in MIXED[:2]:
        assert sdpa[sid].codes("attention").max() > 0
        np.testing.assert_array_equal(sdpa[sid].codes("attention"), eager[sid].codes("attention"))
