"""The steering-vector baseline: estimate, hook, removal, generation, cache key, pipeline."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from langsteer.config import config_from_dict
from langsteer.encoding.embeddings import encode, intervention_key
from langsteer.generation import generate_samples
from langsteer.models import base_model, decoder_blocks, from_pretrained_objects, tiny_model
from langsteer.models.tiny import SUPPORTED_ARCHITECTURES, tiny_config, tiny_tokenizer
from langsteer.methods.residual import SteeringVector, middle_layer, resolve_steering_layer
from tests.test_experts import toy_corpus


def _deep(arch: str = "llama", layers: int = 4, seed: int = 0):
    """A tiny model with more blocks, so a middle block has blocks before and after it."""
    from transformers import AutoModelForCausalLM

    tok = tiny_tokenizer()
    base = tiny_config(arch, len(tok))
    d = {k: v for k, v in base.to_dict().items() if k != "layer_types"}  # rebuilt per layer
    d.update({k: layers for k in ("num_hidden_layers", "n_layer", "num_layers") if k in d})
    cfg = type(base).from_dict(d)
    cfg._attn_implementation = "eager"
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = AutoModelForCausalLM.from_config(cfg, dtype=torch.float32).eval()
    return from_pretrained_objects(model, tok, model_id=f"tiny-random-{arch}-{layers}")


def _data(n: int = 10) -> dict[str, list[str]]:
    c = toy_corpus(n)
    third = [s.upper() for s in c.sentences("eng_Latn")][: n - 3]  # unequal count on purpose
    return {"eng_Latn": c.sentences("eng_Latn"), "deu_Latn": c.sentences("deu_Latn"), "x": third}


def _hidden(loaded, text: str) -> tuple[torch.Tensor, ...]:
    ids = loaded.tokenizer([text], return_tensors="pt")
    with torch.no_grad():
        return base_model(loaded.model)(**ids, output_hidden_states=True).hidden_states


def _logits(loaded, texts=("abc def", "ghij kl mn")) -> torch.Tensor:
    ids = loaded.tokenizer(list(texts), return_tensors="pt", padding=True)
    with torch.no_grad():
        return loaded.model(**ids).logits


@pytest.mark.parametrize("arch", ["llama", "gpt2", "bloom"])
def test_vector_is_the_difference_of_language_means(arch):
    loaded = _deep(arch)
    data = _data()
    sv = SteeringVector(layer=2).fit(loaded, data, "deu_Latn", batch_size=3)
    means = {
        lang: np.mean([_hidden(loaded, s)[2][0, 1:].double().mean(0).numpy() for s in sents], 0)
        for lang, sents in data.items()
    }
    want = means["deu_Latn"] - (means["eng_Latn"] + means["x"]) / 2  # languages weigh the same
    assert sv.vector_.dtype == np.float32 and sv.vector_.shape == (32 if arch != "bloom" else 16,)
    np.testing.assert_allclose(sv.vector_, want, rtol=1e-4, atol=1e-5)
    assert sv.norm_ == pytest.approx(np.linalg.norm(want), rel=1e-4)
    assert sv.layer_ == 2 and sv.block_ == decoder_blocks(loaded.model)[1][0]
    assert sv.n_per_language_ == {"eng_Latn": 10, "deu_Latn": 10, "x": 7}
    assert sv.languages_ == list(data) and sv.target_ == "deu_Latn"
    assert sv.model_["id"] == loaded.model_id and len(sv.data_hash_) == 64
    assert sv.meta_["n_per_language"] == sv.n_per_language_ and sv.meta_["model"] == sv.model_


@pytest.mark.parametrize("arch", SUPPORTED_ARCHITECTURES)
def test_hook_adds_strength_times_vector_at_that_block_only(arch):
    loaded = _deep(arch)
    sv = SteeringVector(layer=2, strength=1.5).fit(loaded, _data(), "eng_Latn")
    before = _hidden(loaded, "abc def")
    with sv.apply(loaded):
        after = _hidden(loaded, "abc def")
    for h in (0, 1):  # states before the hooked block: bitwise identical
        assert torch.equal(before[h], after[h])
    shift = (after[2] - before[2])[0]
    want = torch.as_tensor(1.5 * sv.vector_).expand_as(shift)
    torch.testing.assert_close(shift, want, rtol=1e-4, atol=1e-5)  # every position, BOS too
    assert not torch.allclose(before[3], after[3])  # later blocks see the shift


def test_removal_restores_logits_bitwise_and_strength_zero_changes_nothing():
    loaded = _deep()
    sv = SteeringVector(layer=2, strength=4.0).fit(loaded, _data(), "eng_Latn")
    ref = _logits(loaded)
    h = sv.apply(loaded)
    assert h.active and not torch.equal(_logits(loaded), ref)
    h.remove()
    assert not h.active and torch.equal(_logits(loaded), ref)
    with sv.apply(loaded, strength=0.0) as h0:
        assert h0.active and torch.equal(_logits(loaded), ref)
    assert torch.equal(_logits(loaded), ref)


def test_generation_with_kv_cache_is_steered_at_every_step():
    loaded = _deep()
    sv = SteeringVector(layer=2, strength=8.0).fit(loaded, _data(), "eng_Latn")
    ids = loaded.tokenizer(["ab"], return_tensors="pt")
    calls: list[int] = []
    block = loaded.model.get_submodule(sv.block_)
    probe = block.register_forward_hook(lambda m, a, o: calls.append(1))
    opts = dict(do_sample=False, max_new_tokens=6, min_new_tokens=6, pad_token_id=0)
    try:
        with torch.no_grad(), sv.apply(loaded):
            cached = loaded.model.generate(**ids, use_cache=True, **opts)
            n_calls = len(calls)
            # without a cache every step recomputes every position, all steered
            uncached = loaded.model.generate(**ids, use_cache=False, **opts)
        with torch.no_grad():
            plain = loaded.model.generate(**ids, use_cache=True, **opts)
    finally:
        probe.remove()
    assert n_calls == 6  # one forward call (prefill, then one token) per generated token
    assert torch.equal(cached, uncached)
    assert not torch.equal(cached, plain)
    with sv.apply(loaded) as h:  # generate_samples takes the handle like an intervention
        out = generate_samples(loaded, n_samples=2, max_new_tokens=3, batch_size=2, intervention=h)
    assert out[0]["intervention"]["kind"] == "steering_vector"


def test_handle_enters_the_embeddings_cache_key(tmp_path):
    loaded = _deep()
    sv = SteeringVector(layer=2).fit(loaded, _data(), "eng_Latn")
    texts = _data()["deu_Latn"]
    plain = encode(loaded, texts, layers=[4], cache_dir=tmp_path, progress=False)
    with sv.apply(loaded, strength=1.0) as h:
        key = intervention_key(h)
        steered = encode(loaded, texts, layers=[4], intervention=h, cache_dir=tmp_path,
                         progress=False)  # fmt: skip
    with sv.apply(loaded, strength=2.0) as h2:
        assert intervention_key(h2) != key
        stronger = encode(loaded, texts, layers=[4], intervention=h2, cache_dir=tmp_path,
                          progress=False)  # fmt: skip
    assert key["vector_hash"] == sv.vector_hash and key["layer"] == 2
    assert key["strength"] == 1.0 and key["norm"] == sv.norm_
    assert steered.meta["intervention"] == key
    assert not np.allclose(plain.values, steered.values)
    assert not np.allclose(steered.values, stronger.values)
    with pytest.raises(ValueError, match="other intervention"), sv.apply(loaded):
        encode(loaded, texts, layers=[4], progress=False)  # attached but not named
    json.dumps(key)  # JSON-able


def test_bad_inputs_raise_clear_errors():
    loaded = tiny_model("llama")  # 2 blocks: only hidden state 1 can be steered
    data = _data()
    assert resolve_steering_layer(None, 2) == 1 == middle_layer(2)
    assert resolve_steering_layer(None, 18) == 9 and resolve_steering_layer(-2, 18) == 17
    for layer in (0, 2, -1, 5, -9):
        with pytest.raises(ValueError, match="out of range"):
            SteeringVector(layer=layer).fit(loaded, data, "eng_Latn")
    with pytest.raises(ValueError, match="integer"):
        SteeringVector(layer=1.5).fit(loaded, data, "eng_Latn")
    with pytest.raises(ValueError, match="not among the languages"):
        SteeringVector().fit(loaded, data, "fra_Latn")
    with pytest.raises(ValueError, match="no sentences"):
        SteeringVector().fit(loaded, {**data, "x": []}, "eng_Latn")
    with pytest.raises(ValueError, match="empty or non-string"):
        SteeringVector().fit(loaded, {**data, "x": ["ab", "  "]}, "eng_Latn")
    with pytest.raises(ValueError, match="at least one other language"):
        SteeringVector().fit(loaded, {"eng_Latn": data["eng_Latn"]}, "eng_Latn")
    with pytest.raises(ValueError, match="finite"):
        SteeringVector(strength=float("nan"))
    with pytest.raises(ValueError, match="pooling"):
        SteeringVector(pooling="max")
    with pytest.raises(ValueError, match="not fitted"):
        SteeringVector().apply(loaded)
    sv = SteeringVector().fit(loaded, data, "eng_Latn")
    with pytest.raises(ValueError, match="finite"):
        sv.apply(loaded, strength=float("inf"))
    with pytest.raises(ValueError, match=r"different model|dimensions"):
        sv.apply(_deep())
    with sv.apply(loaded) as h:
        pass
    with pytest.raises(ValueError, match="not attached"):
        intervention_key(h)


def test_study_with_steering_vector(tmp_path):
    from langsteer.study.pipeline import run_study
    from langsteer.report.build import write_report
    from tests.test_pipeline import make_parallel_dir, save_tiny_model

    model_dir = save_tiny_model(tmp_path / "model")
    cfg = config_from_dict(
        {
            "model": {"id": str(model_dir)},
            "corpus": {
                "source": str(make_parallel_dir(tmp_path / "corpus")),
                "n_expert": 12,
                "n_center": 6,
                "n_eval": 10,
            },
            "experts": {"targets": ["eng"], "negatives": ["deu"], "k": 8},
            "evaluation": {"languages": ["eng", "deu", "fra"], "n_boot": 100},
            "analyses": {"paraphrase": False, "projection": False, "correlation": False},
            "steering": {"enabled": True, "strength": 2.0},
            "sweep": {
                "enabled": True,
                "ks": [0, 4],
                "n_samples": 2,
                "max_new_tokens": 4,
                "n_ppl": 2,
            },
            "run": {"cache_dir": str(tmp_path / "cache"), "progress": False, "batch_size": 4},
        }
    )
    res = run_study(cfg, tmp_path / "out")
    saved = json.loads((tmp_path / "out" / "results.json").read_text())
    sv = saved["targets"]["eng_Latn"]["steering_vector"]
    post = sv["retrieval"]["post"]
    assert set(post) == {"eng_Latn", "deu_Latn", "fra_Latn"}
    assert sv["retrieval"]["pre"] == saved["targets"]["eng_Latn"]["retrieval"]["pre"]
    assert "geometry.post.mean_pairwise_centroid" in sv["geometry"]
    vec = sv["vector"]
    assert vec["layer"] == 1 and vec["strength"] == 2.0 and vec["norm"] > 0
    assert vec["languages"] == ["eng_Latn", "deu_Latn"] and vec["n_per_language"]["deu_Latn"] == 12
    assert saved["config"]["steering"]["layer"] == 1  # written resolved
    verdict = saved["targets"]["eng_Latn"]["controls"]["verdict"]
    assert "mean.steering vector (layer 1, strength 2), raw" in verdict
    sw = saved["sweep"]["eng_Latn"]["steering_vector"]
    assert 0.0 <= sw["target_rate"] <= 1.0 and sw["log_ppl"] is not None
    assert sw["layer"] == 1 and sw["strength"] == 2.0
    assert len(saved["generation"]["eng_Latn"]["steering_vector"]["samples"]) == 2
    assert "embeddings_steering" in saved["timings"]
    assert res["targets"]["eng_Latn"]["steering_vector"]["retrieval"]["post"] == post
    paths = write_report(saved, tmp_path / "out")
    md = paths["markdown"].read_text()
    assert "Experts vs a steering vector" in md and "steering vector (layer 1" in md
