"""Loading, LoadedModel metadata, base_model, the tiny tokenizer/models and planted units."""

from __future__ import annotations

import importlib.util

import pytest
import torch

from langsteer.models import (
    base_model,
    from_pretrained_objects,
    load_model,
    plant_language_unit,
    resolve_dtype,
    resolve_units,
    tiny_model,
    tiny_tokenizer,
)

GREEK = "αβγδεζηθικλμνξοπρστυφχψω"
POS = ["αβγ δεζ", "λογος καλος", "η θ", "πρσ τυ φχ", "ω", "abc ψ def"]
NEG = ["hello world", "the cat sat.", "bonjour à tous", "привет мир", "日本語", "z"]


def test_tokenizer_adds_bos_and_pads(tiny_tok):
    bos, pad = tiny_tok.bos_token_id, tiny_tok.pad_token_id
    enc = tiny_tok(["ab", "abcd"], padding=True)
    assert [row[0] for row in enc.input_ids] == [bos, bos]
    assert enc.input_ids[0][-2:] == [pad, pad] and enc.attention_mask[0] == [1, 1, 1, 0, 0]
    left = tiny_tokenizer("left")(["ab", "abcd"], padding=True)
    assert left.input_ids[0][:3] == [pad, pad, bos] and left.attention_mask[0] == [0, 0, 1, 1, 1]
    text = "héllo, wörld! αβ привет 日本"
    ids = tiny_tok(text).input_ids
    assert len(ids) == len(text) + 1 and tiny_tok.unk_token_id not in ids
    assert tiny_tok.decode(ids, skip_special_tokens=True) == text
    assert tiny_tok("@").input_ids[1] == tiny_tok.unk_token_id


def test_tiny_model_matches_tokenizer_and_is_finite(tiny_lm):
    model, tok = tiny_lm.model, tiny_lm.tokenizer
    assert model.get_input_embeddings().weight.shape[0] == len(tok)
    assert not model.training and tiny_lm.dtype == torch.float32
    enc = tok(["hello world", "αβγ δεζ"], return_tensors="pt", padding=True)
    with torch.no_grad():
        out = model(**enc, output_hidden_states=True)
    assert torch.isfinite(out.logits).all()
    for h in out.hidden_states[1:]:
        assert torch.isfinite(h).all() and h.std() > 1e-3
    last = out.hidden_states[-1]
    assert not torch.allclose(last[0, 3], last[1, 3])  # different tokens, different states


def test_tiny_model_deterministic():
    a, b, c = tiny_model("qwen2"), tiny_model("qwen2"), tiny_model("qwen2", seed=1)
    pa, pb, pc = (dict(m.model.named_parameters()) for m in (a, b, c))
    assert all(torch.equal(pa[k], pb[k]) for k in pa)
    assert not all(torch.equal(pa[k], pc[k]) for k in pa)
    assert tiny_model("opt", vocab=256).model.get_input_embeddings().weight.shape[0] == 256
    with pytest.raises(ValueError):
        tiny_model("opt", vocab=10)
    with pytest.raises(ValueError, match="unknown tiny architecture"):
        tiny_model("t5")


def test_base_model_skips_head(tiny_lm):
    model = tiny_lm.model
    base = base_model(model)
    head = model.get_output_embeddings()
    assert base is not model and all(m is not head for m in base.modules())
    enc = tiny_lm.tokenizer(["hello world", "αβγ"], return_tensors="pt", padding=True)
    with torch.no_grad():
        full = model(**enc, output_hidden_states=True).hidden_states
        out = base(**enc, output_hidden_states=True)
    torch.testing.assert_close(out.last_hidden_state, full[-1])
    assert len(out.hidden_states) == len(full)


def test_signature_and_describe(tiny_lm):
    sig = tiny_lm.signature()
    assert sig["model_type"] == tiny_lm.model.config.model_type
    assert sig["num_hidden_layers"] == 2 and sig["intermediate_size"] == 64
    assert sig["vocab_size"] == len(tiny_lm.tokenizer)
    assert sig["hidden_size"] == tiny_lm.model.get_input_embeddings().weight.shape[1]
    d = tiny_lm.describe()
    assert d["dtype"] == "float32" and d["device"] == "cpu" and d["n_parameters"] > 0


def test_load_model_from_saved_dir(tmp_path):
    lm = tiny_model("gemma3_text")
    lm.model.save_pretrained(tmp_path)
    lm.tokenizer.save_pretrained(tmp_path)
    loaded = load_model(str(tmp_path), device="cpu")
    assert loaded.model_id == str(tmp_path) and loaded.signature() == lm.signature()
    ref = dict(lm.model.named_parameters())
    assert all(torch.equal(p, ref[k]) for k, p in loaded.model.named_parameters())
    assert not loaded.model.training
    assert loaded.tokenizer("ab").input_ids == lm.tokenizer("ab").input_ids
    half = load_model(str(tmp_path), dtype="bf16")
    assert half.dtype == torch.bfloat16 and half.model.dtype == torch.bfloat16


def test_device_map_is_passed_to_transformers_and_the_pipeline_runs_on_it(tmp_path, monkeypatch):
    """A per-module device_map (all on the CPU here; GPUs on a real machine): placement is
    left to accelerate, and embeddings and forcing follow each module's device."""
    pytest.importorskip("accelerate")
    import numpy as np

    from langsteer.encoding.embeddings import encode
    from langsteer.methods.experts import find_experts
    from langsteer.methods.forcing import intervene
    from tests.test_experts import toy_corpus

    lm = tiny_model("llama")
    lm.model.save_pretrained(tmp_path)
    lm.tokenizer.save_pretrained(tmp_path)
    blocks = {f"model.layers.{i}": "cpu" for i in range(lm.signature()["num_hidden_layers"])}
    device_map = {"model.embed_tokens": "cpu", **blocks, "model.norm": "cpu", "lm_head": "cpu"}
    import transformers

    seen = {}
    original = transformers.AutoModelForCausalLM.from_pretrained

    def spy(*args, **kwargs):
        seen.update(kwargs)
        return original(*args, **kwargs)

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", spy)
    mapped = load_model(str(tmp_path), device_map=device_map)
    assert seen["device_map"] == device_map
    sentences = ["abc def", "ghi"]
    np.testing.assert_allclose(
        encode(mapped, sentences, progress=False).values,
        encode(lm, sentences, progress=False).values,
        rtol=1e-5,
        atol=1e-6,
    )
    experts, _ = find_experts(
        mapped, toy_corpus(12), ["eng"], negatives=["deu"], k=5, progress=False
    )
    with intervene(mapped, experts["eng_Latn"]) as h:
        post = encode(mapped, sentences, intervention=h, progress=False)
    assert np.isfinite(post.values).all()


def test_load_model_errors(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="unknown dtype"):
        resolve_dtype("float8")
    with pytest.raises(ValueError, match="unknown dtype"):
        load_model(str(tmp_path), dtype="half-ish")
    with pytest.raises(ValueError, match="unknown device"):
        load_model(str(tmp_path), device="gpu7")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_model(str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError, match="GGUF"):
        load_model(str(tmp_path), gguf_file="model.gguf")
    (tmp_path / "model.gguf").write_bytes(b"")
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda n, *a: None if n == "gguf" else real(n, *a)
    )
    with pytest.raises(ImportError, match="pip install gguf accelerate"):
        load_model(str(tmp_path / "model.gguf"))
    assert resolve_dtype("auto", torch.device("cpu")) == torch.float32
    assert resolve_dtype("auto", torch.device("cuda")) == torch.bfloat16


def test_pad_falls_back_to_eos():
    lm = tiny_model("llama")
    tok = lm.tokenizer
    tok.pad_token = None
    wrapped = from_pretrained_objects(lm.model, tok, model_id="x")
    assert wrapped.pad_token_source == "eos" and tok.pad_token == tok.eos_token


def _max_pooled(lm, unit: str, texts: list[str]) -> torch.Tensor:
    """Max over real tokens after BOS of one unit, one sentence at a time."""
    us = resolve_units(lm.model, "mlp-act" if ":in:" in unit else "mlp")
    hp_i, ch = us.locate(us.index_of(unit))
    hp, ch = us.hook_points[int(hp_i[0])], int(ch[0])
    mod = lm.model.get_submodule(hp.module)
    store: dict[str, torch.Tensor] = {}
    if hp.side == "out":
        handle = mod.register_forward_hook(lambda m, i, o: store.update(x=o[..., ch]))
    else:
        handle = mod.register_forward_pre_hook(lambda m, i: store.update(x=i[0][..., ch]))
    vals = []
    with torch.no_grad():
        for t in texts:
            ids = lm.tokenizer(t, return_tensors="pt").input_ids
            lm.model(input_ids=ids)
            vals.append(store["x"].reshape(-1)[1:].max())  # OPT flattens [batch, seq]
    handle.remove()
    return torch.stack(vals)


@pytest.mark.parametrize("side", ["out", "act"])
def test_planted_unit_separates_languages(tiny_lm, side):
    name = None
    if side == "act":
        name = resolve_units(tiny_lm.model, "mlp-act").hook_points[0].name
    unit = plant_language_unit(tiny_lm, GREEK, hook_point_name=name, channel=5)
    assert unit.endswith(":5") and (side == "out") == (":out:" in unit)
    pos, neg = _max_pooled(tiny_lm, unit, POS), _max_pooled(tiny_lm, unit, NEG)
    assert pos.min() > neg.max() + 1.0  # AUROC 1.0 with a margin


def test_plant_rejects_down_projection_output(tiny_llama):
    with pytest.raises(ValueError, match="can only plant"):
        plant_language_unit(tiny_llama, GREEK, hook_point_name="model.layers.0.mlp.down_proj:out")
    with pytest.raises(ValueError, match="no token"):
        plant_language_unit(tiny_llama, "@")


def test_gguf_file_is_parsed_once_during_the_conversion(monkeypatch, tmp_path):
    """transformers parses the GGUF for the config, the tokenizer and the weights: one parse
    must serve all three (each costs ~30 s for Gemma 3's vocabulary), and the patch goes away."""
    gguf = pytest.importorskip("gguf")
    from langsteer.models.embedded import _gguf_parsed_once

    made = []

    class FakeReader:
        def __init__(self, path, mode="r"):
            made.append((path, mode))

    monkeypatch.setattr(gguf, "GGUFReader", FakeReader)
    a, b = tmp_path / "a.gguf", tmp_path / "b.gguf"
    with _gguf_parsed_once():
        from gguf import GGUFReader  # looked up at call time, as transformers does

        first = GGUFReader(a)
        assert GGUFReader(str(a)) is first
        assert GGUFReader(b) is not first
    assert len(made) == 2
    assert gguf.GGUFReader is FakeReader
