"""Encoder-decoder models (T5, BART, Marian): every stored cell of every part against a direct,
unpadded, teacher-forced forward pass; word maps per Clark et al. on both sides; generated
targets stored and reused.

Each model is built here from a config with random weights (2 + 2 layers, 4 heads, width 32;
pipeline/testing/seq2seq_models.py) and a tokenizer trained here (Marian's: its own slow
SentencePiece tokenizer, which gives no offsets). One extraction per model: pairs of very
different lengths on both sides in one batch (right padding of source and target), one of them
without target (generated). The references come from one forward pass of each pair alone
through the model's own modules, without the pipeline's code:

- attention: the probabilities the model returns (eager); rollout: the formula in numpy;
- norm: ||(x W_V^h + b_V^h) W_O^h||, x the attention module's input as a forward pre-hook
  sees it (self-attention) or the encoder's output (cross-attention), the weights read from
  the modules as written below from transformers' modelling code;
- grad: torch.autograd.grad of the target's teacher-forced log-likelihood
  S = sum_t log p(x_{t+1} | x_<=t, source) with respect to every part's attention.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from pipeline.errors import ModelError, StoreError
from pipeline.extract.run import extract
from pipeline.model.loading import ModelSpec, load_model
from pipeline.records import Sentence, Span
from pipeline.store import AtlasStore
from pipeline.testing import TINY, VOCAB
from pipeline.testing.reference import assert_close, reference_rollout, row_normalised
from pipeline.testing.seq2seq_models import make_seq2seq
from pipeline.words import split_words

pytestmark = pytest.mark.fidelity  # .ci/run runs these under every ATEN_CPU_CAPABILITY too

GRAD_TOLERANCE = 2 / 510  # a backward pass through a padded batch rounds a little more
KINDS = ["t5", "bart", "marian"]
PARTS = ("encoder", "decoder", "cross")
MEASURES = "attention,rollout,norm,grad"
NEW_TOKENS = 6
# (id, source, target or None: generated)
PAIRS = [("one", "oh .", "yeah ."),
         ("medium", "<CHI> painted a picture of a horse .", "who's that ? oh yeah"),
         ("long", " ".join(VOCAB[:12]) + " .", "my favorite animal is the horse , oh yeah ."),
         ("generated", "who's that ?", None)]


def pair(sid: str, text: str, target: str | None, target_spans=()) -> Sentence:
    """A corpus sentence: a source and its target (None: the model generates one)."""
    return Sentence(sid, text, split_words(text), target=target,
                    target_word_ranges=split_words(target) if target else (),
                    target_spans=tuple(target_spans))


def sentences() -> list[Sentence]:
    """PAIRS, the medium one with a span over its target's first three words."""
    return [pair(*p, target_spans=[Span("Q", 0, 3)] if p[0] == "medium" else ())
            for p in PAIRS]


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict:
    """Each kind's model folder."""
    return {kind: make_seq2seq(kind, tmp_path_factory.mktemp(kind)) for kind in KINDS}


@pytest.fixture(scope="module", params=KINDS)
def family(request, folders, tmp_path_factory):
    """(kind, the loaded model, its store of every measure, the run's summary)."""
    kind = request.param
    loaded = load_model(str(folders[kind]), device="cpu")
    store = tmp_path_factory.mktemp(f"{kind}-store") / "atlas.zarr"
    summary = extract(sentences(), store, loaded, progress=False, measures=MEASURES,
                      max_new_tokens=NEW_TOKENS)
    return kind, loaded, AtlasStore.open(store), summary


def attention_modules(kind: str, model) -> dict[str, list]:
    """Each part's attention modules, layer by layer."""
    if kind == "t5":
        return {"encoder": [b.layer[0].SelfAttention for b in model.encoder.block],
                "decoder": [b.layer[0].SelfAttention for b in model.decoder.block],
                "cross": [b.layer[1].EncDecAttention for b in model.decoder.block]}
    base = model.model  # BART, Marian
    return {"encoder": [layer.self_attn for layer in base.encoder.layers],
            "decoder": [layer.self_attn for layer in base.decoder.layers],
            "cross": [layer.encoder_attn for layer in base.decoder.layers]}


def value_weights(kind: str, att, n_heads: int):
    """W_V (H, d, D), b_V (H, d) and W_O (H, d, D): v_h = x W_V[h]^T + b_V[h], f = v_h W_O[h]."""
    value, out = (att.v, att.o) if kind == "t5" else (att.v_proj, att.out_proj)
    d = out.weight.shape[1] // n_heads
    w_v = value.weight.double().reshape(n_heads, d, -1)
    bias = value.bias if value.bias is not None else torch.zeros(value.weight.shape[0])
    return w_v, bias.double().reshape(n_heads, d), out.weight.double().T.reshape(n_heads, d, -1)


def reference(kind: str, model, source: list[int], target: list[int]):
    """Per part: attention A (L, H, rows, cols), ||f(x_j)|| (L, H, cols) and dS/dA."""
    modules = attention_modules(kind, model)
    inputs: dict[str, list] = {"encoder": [], "decoder": []}
    hooks = [m.register_forward_pre_hook(
        lambda _m, args, kwargs, part=part: inputs[part].append(
            kwargs.get("hidden_states", args[0] if args else None)), with_kwargs=True)
        for part in inputs for m in modules[part]]
    try:
        out = model(input_ids=torch.tensor([source]), decoder_input_ids=torch.tensor([target]),
                    output_attentions=True, use_cache=False)
    finally:
        for hook in hooks:
            hook.remove()
    inputs["cross"] = [out.encoder_last_hidden_state] * len(modules["cross"])
    maps = {"encoder": out.encoder_attentions, "decoder": out.decoder_attentions,
            "cross": out.cross_attentions}
    norms = {}
    with torch.no_grad():
        for part in PARTS:
            per_layer = []
            for att, x in zip(modules[part], inputs[part], strict=True):
                n_heads = maps[part][0].shape[1]
                w_v, b_v, w_o = value_weights(kind, att, n_heads)
                x = x[0].double()  # (T_kv, D)
                per_layer.append(torch.stack([((x @ w_v[h].T + b_v[h]) @ w_o[h]).norm(dim=-1)
                                              for h in range(n_heads)]))
            norms[part] = torch.stack(per_layer).numpy()
    logp = torch.log_softmax(out.logits[0, :-1].double(), dim=-1)
    s = logp[torch.arange(len(target) - 1), torch.tensor(target[1:])].sum()
    flat = [a for part in PARTS for a in maps[part]]
    grads = iter(torch.autograd.grad(s, flat))
    grads = {part: np.stack([next(grads)[0].double().numpy() for _ in maps[part]])
             for part in PARTS}
    attentions = {part: torch.stack([a[0] for a in maps[part]]).detach().double().numpy()
                  for part in PARTS}
    return attentions, norms, grads


def ids_of(tokenizer, tokens) -> list[int]:
    return tokenizer.convert_tokens_to_ids(list(tokens))


def test_every_part_equals_a_direct_forward_pass_on_the_unpadded_pair(family):
    kind, loaded, store, _ = family
    assert store.parts == list(PARTS) and store.encoder_decoder
    assert store.measure_parts("rollout") == ["encoder"]
    sources = [len(store[sid].tokens) for sid, *_ in PAIRS]
    targets = [len(store[sid].target_tokens) for sid, *_ in PAIRS]
    assert max(sources) >= 4 * min(sources) and max(targets) >= 3 * min(targets)  # padded
    strongest = dict.fromkeys(PARTS, 0.0)
    for rec in store:
        source, target = ids_of(loaded.tokenizer, rec.tokens), ids_of(loaded.tokenizer,
                                                                       rec.target_tokens)
        assert target[0] == loaded.info["decoder_start_token_id"]
        attentions, norms, grads = reference(kind, loaded.model, source, target)
        for part in PARTS:
            what = f"{kind} {rec.id} {part}"
            assert_close(rec.attention(part=part), attentions[part], f"{what} attention")
            assert_close(rec.attention("norm", part=part),
                         row_normalised(attentions[part] * norms[part][:, :, None, :]),
                         f"{what} norm")
            stored = rec.attention("grad", part=part)
            assert_close(stored, row_normalised(np.maximum(0.0, attentions[part] * grads[part])),
                         f"{what} grad", GRAD_TOLERANCE)
            strongest[part] = max(strongest[part], float(stored.max()))
        assert_close(rec.attention("rollout", part="encoder"),
                     reference_rollout(attentions["encoder"]), f"{kind} {rec.id} rollout")
        assert rec.attention(part="cross").shape[-2:] == (len(target), len(source))
        assert np.triu(rec.attention(part="decoder"), 1).max() == 0  # causal decoder
    assert min(strongest.values()) > 0.1  # the gradient reaches every part


def clark(maps: np.ndarray, rows: tuple[int, ...], n_rows: int, cols: tuple[int, ...],
          n_cols: int) -> np.ndarray:
    """Word-level maps by the definition: rows the mean over a word's tokens, columns the sum."""
    out = np.zeros((*maps.shape[:2], n_rows, n_cols))
    for w in range(n_rows):
        for v in range(n_cols):
            r = [i for i, x in enumerate(rows) if x == w]
            c = [j for j, x in enumerate(cols) if x == v]
            out[..., w, v] = maps[..., r, :][..., c].sum(axis=-1).mean(axis=-1)
    return out


def test_word_maps_follow_clark_on_both_sides(family):
    kind, _, store, _ = family
    rec = store["medium"]
    assert rec.target_words == split_words_of("who's that ? oh yeah")
    assert [tuple(s) for s in rec.target_spans] == [("Q", 0, 3)]
    assert rec.target_word_index[0] == -1 and rec.target_word_index[-1] == -1  # start, EOS
    assert set(rec.target_word_index) - {-1} == set(range(len(rec.target_words)))
    assert set(rec.word_index) - {-1} == set(range(len(rec.words)))
    source, target = (rec.word_index, len(rec.words)), (rec.target_word_index,
                                                         len(rec.target_words))
    for part, (rows, cols) in {"encoder": (source, source), "decoder": (target, target),
                               "cross": (target, source)}.items():
        expected = clark(rec.attention(part=part), *rows, *cols)
        np.testing.assert_allclose(rec.word_attention(part=part), expected, atol=1e-5,
                                   err_msg=f"{kind} {part}")


def split_words_of(text: str) -> list[str]:
    return [text[a:b] for a, b in split_words(text)]


def test_a_generated_target_is_stored_and_reused_without_recomputing(folders, tmp_path,
                                                                     monkeypatch):
    from pipeline.extract import pairs

    loaded = load_model(str(folders["t5"]), device="cpu")
    store = tmp_path / "atlas.zarr"
    calls: list[list[str]] = []
    generate = pairs.generate_targets
    monkeypatch.setattr(pairs, "generate_targets",
                        lambda model, texts, *args: calls.append(texts) or generate(model, texts,
                                                                                    *args))
    first = extract(sentences(), store, loaded, progress=False, max_new_tokens=NEW_TOKENS)
    assert calls == [["who's that ?"]] and first.generated == 1 and first.computed == 4
    rec = AtlasStore.open(store)["generated"]
    assert rec.target_generated and rec.target
    # at least min_new_tokens (4) new tokens: start + 4 + EOS or more decoder inputs
    assert 6 <= len(rec.target_tokens) <= NEW_TOKENS + 2
    assert not AtlasStore.open(store)["medium"].target_generated
    # a new pair: the model runs, the stored generated target is reused, not generated again
    more = [*sentences(), pair("new", "a horse", "my horse")]
    second = extract(more, store, loaded, progress=False, max_new_tokens=NEW_TOKENS)
    assert calls == [["who's that ?"]] and second.generated == 0
    assert (second.computed, second.reused) == (1, 4)
    assert AtlasStore.open(store)["generated"].target == rec.target
    # nothing new: the model is not even loaded
    monkeypatch.setattr(ModelSpec, "load", lambda *_: pytest.fail("the model was loaded"))
    third = extract(more, store, ModelSpec(str(folders["t5"]), device="cpu"), progress=False,
                    max_new_tokens=NEW_TOKENS)
    assert not third.model_loaded and third.reused == 5
    # another max_new_tokens would generate other targets: another store's
    with pytest.raises(StoreError, match="max_new_tokens: store has 6, this run 7"):
        extract(more, store, loaded, progress=False, max_new_tokens=7)


def test_max_new_tokens_from_the_command_line(folders, tmp_path):
    from click.testing import CliRunner

    from pipeline.cli import main

    corpus = tmp_path / "pairs.jsonl"
    corpus.write_text(json.dumps({"id": "a", "text": "oh yeah .", "target": "who's that ?",
                                  "target_spans": [{"label": "Q", "start": 0, "end": 10}]})
                      + "\n" + json.dumps({"id": "b", "text": "a horse"}) + "\n")
    result = CliRunner().invoke(main, ["-q", "extract", "--corpus", str(corpus), "--model",
                                       str(folders["bart"]), "--store", str(tmp_path / "s.zarr"),
                                       "--max-new-tokens", "5", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert "2 computed" in result.output and "1 target(s) generated" in result.output
    store = AtlasStore.open(tmp_path / "s.zarr")
    assert store.info["model"]["max_new_tokens"] == 5
    assert [tuple(s) for s in store["a"].target_spans] == [("Q", 0, 2)]  # who's that
    assert store["b"].target_generated
    assert len(store["b"].target_tokens) <= 5 + 2  # start, at most 5 new tokens (EOS among them)


@pytest.mark.filterwarnings("ignore:Recommended. pip install sacremoses")
def test_a_slow_tokenizers_tokens_are_found_in_the_text(folders):
    from transformers import AutoTokenizer

    from pipeline.extract.encode import align, find_offsets, tokenize

    fast = AutoTokenizer.from_pretrained(folders["bart"])
    texts = [item["text"] for item in TINY] + ["  Sit   down, who's there?"]
    for text in texts:  # the offsets found equal a fast tokenizer's, as words go
        ids, offsets, special = tokenize(fast, [text], 64)[0]
        mask = [bool(m) for m in fast(text, return_special_tokens_mask=True)["special_tokens_mask"]]
        found = find_offsets(fast, text, ids, mask)
        assert (align(split_words(text), (), (ids, offsets, special), fast).word_index
                == align(split_words(text), (), (ids, found, mask), fast).word_index), text
    marian = AutoTokenizer.from_pretrained(folders["marian"])
    assert not marian.is_fast
    text = "Sit down, who's there?"  # ',' is no piece of its vocabulary: <unk>
    side = align(split_words(text), (), tokenize(marian, [text], 64)[0], marian)
    words = [text[a:b] for a, b in side.word_ranges]
    pairs = [(t, words[w] if w >= 0 else None) for t, w in zip(side.tokens, side.word_index,
                                                                strict=True)]
    assert pairs == [("▁", "Sit"), ("S", "Sit"), ("it", "Sit"), ("▁", "down"), ("d", "down"),
                     ("o", "down"), ("w", "down"), ("n", "down"), ("<unk>", ","),
                     ("▁w", "who's"), ("ho", "who's"), ("'", "who's"), ("s", "who's"),
                     ("▁th", "there"), ("er", "there"), ("e", "there"), ("?", "?"),
                     ("</s>", None)]


def test_norm_of_an_encoder_decoder_family_not_in_the_registry_is_refused(folders, tmp_path):
    import shutil

    folder = shutil.copytree(folders["bart"], tmp_path / "pegasus-tiny")
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "model_type": "pegasus"}))
    with pytest.raises(ModelError) as caught:
        extract([pair("a", "oh .", "yeah .")], tmp_path / "atlas.zarr", ModelSpec(str(folder)),
                progress=False, measures="attention,norm")
    message = caught.value.message
    assert "\n" not in message and message.startswith(
        "model 'pegasus-tiny', model type 'pegasus': the measure 'norm'")
    assert "T5 (t5, mt5)" in message and "BART (bart)" in message
    assert not (tmp_path / "atlas.zarr").exists()


def test_a_target_given_to_a_decoder_only_model_is_counted_as_ignored(gpt2, tmp_path, caplog):
    caplog.set_level("WARNING", logger="pipeline")
    store = tmp_path / "atlas.zarr"
    both = [pair("a", "oh yeah .", "who's that ?"), pair("b", "a horse", None)]
    summary = extract(both, store, gpt2, progress=False)
    assert summary.targets_ignored == 1 and "1 target(s) ignored" in str(summary)
    assert [r.getMessage() for r in caplog.records] == [
        f"1 sentence(s) carry a target, which {gpt2.info['name']} (GPT2Model) ignores: only an "
        "encoder-decoder model (T5, BART, Marian, ...) reads a target"]
    assert AtlasStore.open(store)["a"].target is None and not AtlasStore.open(store).parts[1:]


def test_a_target_longer_than_the_decoder_takes_is_cut_and_counted(folders, tmp_path):
    loaded = load_model(str(folders["bart"]), device="cpu")  # 64 positions
    long = " ".join(VOCAB * 3) + " ."
    summary = extract([pair("cut", "oh yeah .", long), pair("fits", "a horse", "my horse")],
                      tmp_path / "atlas.zarr", loaded, progress=False)
    rec = AtlasStore.open(tmp_path / "atlas.zarr")["cut"]
    assert summary.truncated == 1 and rec.target_truncated and not rec.truncated
    assert len(rec.target_tokens) == 64  # the start token and 63 of the target, EOS kept
    assert 0 < len(rec.target_words) < len(split_words(long))
    source, target = (ids_of(loaded.tokenizer, rec.tokens),
                      ids_of(loaded.tokenizer, rec.target_tokens))
    attentions, _, _ = reference("bart", loaded.model, source, target)
    assert_close(rec.attention(part="cross"), attentions["cross"], "cut target, cross")


def test_auto_gives_t5_bfloat16_where_it_would_give_float16(folders, monkeypatch):
    """float16 overflows in T5's feed-forward layers: `auto` (float16 on CUDA) means bfloat16 for
    the T5 family, float32 where the GPU has no bfloat16; BART keeps float16."""
    from pipeline.model import loading

    monkeypatch.setattr(loading, "resolve_dtype", lambda *_: torch.float16)  # as on CUDA
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *_, **__: True)

    def dtype(kind: str, **kwargs):
        loaded = load_model(str(folders[kind]), device="cpu", **kwargs)
        assert next(loaded.model.parameters()).dtype == loaded.dtype
        return loaded.dtype

    assert dtype("t5") == torch.bfloat16
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *_, **__: False)
    assert dtype("t5") == torch.float32
    assert dtype("t5", dtype="float16") == torch.float16  # asked for: as asked
    assert dtype("bart") == torch.float16


def test_an_encoder_decoder_with_local_attention_is_refused_in_one_line(folders, tmp_path):
    """LED's encoder attends within a window: its maps are not source x source."""
    import shutil

    from transformers import LEDConfig, LEDForConditionalGeneration

    folder = tmp_path / "led-tiny"
    LEDForConditionalGeneration(LEDConfig(
        vocab_size=300, d_model=16, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
        decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32, attention_window=[4],
        max_encoder_position_embeddings=64, max_decoder_position_embeddings=64, pad_token_id=3,
        eos_token_id=2, bos_token_id=1, decoder_start_token_id=2)).save_pretrained(folder)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(folders["bart"] / name, folder / name)
    with pytest.raises(ModelError) as caught:
        load_model(str(folder), device="cpu")
    message = caught.value.message
    assert "\n" not in message and "(LEDForConditionalGeneration) returns attention maps" in message
    assert message.endswith("local or sparse attention, which the atlas does not show")
