"""The steering vector as a model method: fit on the probing split, hook, removal, generation,
cache key, bad inputs."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from langsteer.encoding.collect import handle_key
from langsteer.encoding.embeddings import encode
from langsteer.generation import generate_samples
from langsteer.methods import MethodError, ProbeData, SteeringVector
from langsteer.methods.residual import middle_layer, resolve_steering_layer
from langsteer.models import base_model, decoder_blocks, from_pretrained_objects, tiny_model
from langsteer.models.tiny import SUPPORTED_ARCHITECTURES, tiny_config, tiny_tokenizer
from tests.test_experts import toy_corpus


def deep_model(arch: str = "llama", layers: int = 4, seed: int = 0):
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


class DictCorpus:
    """The least a probe needs from a corpus: sentences per language (counts may differ)."""

    def __init__(self, texts: dict[str, list[str]]) -> None:
        self.texts = texts
        self.languages = list(texts)

    def sentences(self, lang: str) -> list[str]:
        return list(self.texts[lang])


def probe_data(n: int = 10) -> dict[str, list[str]]:
    c = toy_corpus(n)
    third = [s.upper() for s in c.sentences("eng_Latn")][: n - 3]  # unequal count on purpose
    return {"eng_Latn": c.sentences("eng_Latn"), "deu_Latn": c.sentences("deu_Latn"), "x": third}


def make_probe(loaded, data: dict[str, list[str]] | None = None, **options) -> ProbeData:
    data = data or probe_data()
    return ProbeData(loaded, DictCorpus(data), list(data), progress=False, **options)


def hidden_states(loaded, text: str) -> tuple[torch.Tensor, ...]:
    ids = loaded.tokenizer([text], return_tensors="pt")
    with torch.no_grad():
        return base_model(loaded.model)(**ids, output_hidden_states=True).hidden_states


def logits(loaded, texts=("abc def", "ghij kl mn")) -> torch.Tensor:
    ids = loaded.tokenizer(list(texts), return_tensors="pt", padding=True)
    with torch.no_grad():
        return loaded.model(**ids).logits


def direct_means(loaded, data: dict[str, list[str]], layer: int) -> dict[str, np.ndarray]:
    """Each language's mean of per-sentence token means (BOS excluded), one sentence at a time."""
    return {
        lang: np.mean(
            [hidden_states(loaded, s)[layer][0, 1:].double().mean(0).numpy() for s in sents], 0
        )
        for lang, sents in data.items()
    }


@pytest.mark.parametrize("arch", ["llama", "gpt2", "bloom"])
def test_vector_is_the_difference_of_language_means(arch):
    loaded = deep_model(arch)
    data = probe_data()
    sv = SteeringVector(layer=2).fit(make_probe(loaded, data, batch_size=3), "deu_Latn")
    means = direct_means(loaded, data, 2)
    want = means["deu_Latn"] - (means["eng_Latn"] + means["x"]) / 2  # languages weigh the same
    assert sv.vector_.dtype == np.float32 and sv.vector_.shape == (32 if arch != "bloom" else 16,)
    np.testing.assert_allclose(sv.vector_, want, rtol=1e-4, atol=1e-5)
    assert sv.norm_ == pytest.approx(np.linalg.norm(want), rel=1e-4)
    assert sv.layer_ == 2 and sv.block_ == decoder_blocks(loaded.model)[1][0]
    assert sv.languages_ == list(data) and sv.target_ == "deu_Latn"
    d = sv.describe()
    assert d["layer"] == 2 and d["target"] == "deu_Latn" and len(d["vector_hash"]) == 16
    json.dumps(d)


@pytest.mark.parametrize("arch", SUPPORTED_ARCHITECTURES)
def test_hook_adds_strength_times_vector_at_that_block_only(arch):
    loaded = deep_model(arch)
    sv = SteeringVector(layer=2, strength=1.5).fit(make_probe(loaded), "eng_Latn")
    before = hidden_states(loaded, "abc def")
    with sv.attach(loaded):
        after = hidden_states(loaded, "abc def")
    for h in (0, 1):  # states before the hooked block: bitwise identical
        assert torch.equal(before[h], after[h])
    shift = (after[2] - before[2])[0]
    want = torch.as_tensor(1.5 * sv.vector_).expand_as(shift)
    torch.testing.assert_close(shift, want, rtol=1e-4, atol=1e-5)  # every position, BOS too
    assert not torch.allclose(before[3], after[3])  # later blocks see the shift


def test_positions_last_steers_only_the_last_position():
    loaded = deep_model()
    sv = SteeringVector(layer=2, positions="last").fit(make_probe(loaded), "eng_Latn")
    before = hidden_states(loaded, "abc def")[2][0]
    with sv.attach(loaded) as h:
        after = hidden_states(loaded, "abc def")[2][0]
    assert h.describe()["positions"] == "last"
    assert torch.equal(before[:-1], after[:-1])
    torch.testing.assert_close(after[-1] - before[-1], torch.as_tensor(sv.vector_))


def test_removal_restores_logits_bitwise_and_strength_zero_changes_nothing():
    loaded = deep_model()
    probe = make_probe(loaded)
    sv = SteeringVector(layer=2, strength=4.0).fit(probe, "eng_Latn")
    ref = logits(loaded)
    h = sv.attach(loaded)
    assert h.active and not torch.equal(logits(loaded), ref)
    h.remove()
    assert not h.active and torch.equal(logits(loaded), ref)
    with SteeringVector(layer=2, strength=0.0).fit(probe, "eng_Latn").attach(loaded) as h0:
        assert h0.active and torch.equal(logits(loaded), ref)
    assert torch.equal(logits(loaded), ref)


def test_generation_with_kv_cache_is_steered_at_every_step():
    loaded = deep_model()
    sv = SteeringVector(layer=2, strength=8.0).fit(make_probe(loaded), "eng_Latn")
    ids = loaded.tokenizer(["ab"], return_tensors="pt")
    calls: list[int] = []
    block = loaded.model.get_submodule(sv.block_)
    counter = block.register_forward_hook(lambda m, a, o: calls.append(1))
    opts = dict(do_sample=False, max_new_tokens=6, min_new_tokens=6, pad_token_id=0)
    try:
        with torch.no_grad(), sv.attach(loaded):
            cached = loaded.model.generate(**ids, use_cache=True, **opts)
            n_calls = len(calls)
            # without a cache every step recomputes every position, all steered
            uncached = loaded.model.generate(**ids, use_cache=False, **opts)
        with torch.no_grad():
            plain = loaded.model.generate(**ids, use_cache=True, **opts)
    finally:
        counter.remove()
    assert n_calls == 6  # one forward call (prefill, then one token) per generated token
    assert torch.equal(cached, uncached)
    assert not torch.equal(cached, plain)
    with sv.attach(loaded) as h:  # generate_samples takes the handle like an intervention
        out = generate_samples(loaded, n_samples=2, max_new_tokens=3, batch_size=2, intervention=h)
    assert out[0]["intervention"]["method"] == "steering-vector"
    assert out[0]["intervention"]["vector_hash"] == sv.describe()["vector_hash"]


def test_handle_enters_the_embeddings_cache_key(tmp_path):
    loaded = deep_model()
    probe = make_probe(loaded)
    sv = SteeringVector(layer=2).fit(probe, "eng_Latn")
    stronger_sv = SteeringVector(layer=2, strength=2.0).fit(probe, "eng_Latn")
    texts = probe_data()["deu_Latn"]
    opts = dict(layers=[4], cache_dir=tmp_path, progress=False)
    plain = encode(loaded, texts, **opts)
    with sv.attach(loaded) as h:
        key = handle_key(h)
        steered = encode(loaded, texts, intervention=h, **opts)
    with stronger_sv.attach(loaded) as h2:
        assert handle_key(h2) != key
        stronger = encode(loaded, texts, intervention=h2, **opts)
    assert key["layer"] == 2 and key["strength"] == 1.0 and key["norm"] == sv.norm_
    assert steered.meta["intervention"] == key
    assert not np.allclose(plain.values, steered.values)
    assert not np.allclose(steered.values, stronger.values)
    with pytest.raises(ValueError, match="other intervention"), sv.attach(loaded):
        encode(loaded, texts, layers=[4], progress=False)  # attached but not named
    with pytest.raises(ValueError, match="not attached"):
        handle_key(h)
    json.dumps(key)


def test_bad_inputs_raise_clear_errors():
    loaded = tiny_model("llama")  # 2 blocks: only hidden state 1 can be steered
    probe = make_probe(loaded)
    assert resolve_steering_layer(None, 2) == 1 == middle_layer(2)
    assert resolve_steering_layer(None, 18) == 9 and resolve_steering_layer(-2, 18) == 17
    for layer in (0, 2, -1, 5, -9):
        with pytest.raises(ValueError, match="out of range"):
            SteeringVector(layer=layer).fit(probe, "eng_Latn")
    for bad in ({"layer": 1.5}, {"layer": True}, {"positions": "first"}, {"pooling": "max"}):
        with pytest.raises(MethodError, match=next(iter(bad))):
            SteeringVector(**bad)
    with pytest.raises(MethodError, match="finite"):
        SteeringVector(strength=float("nan"))
    with pytest.raises(ValueError, match="not among the probed languages"):
        SteeringVector().fit(probe, "fra_Latn")
    with pytest.raises(ValueError, match="at least one language besides"):
        ProbeData(loaded, DictCorpus({"eng_Latn": ["ab"]}), ["eng_Latn"])
    with pytest.raises(ValueError, match="not fitted"):
        SteeringVector().attach(loaded)
    sv = SteeringVector().fit(probe, "eng_Latn")
    with pytest.raises(ValueError, match="hidden size"):
        sv.attach(tiny_model("bloom"))  # hidden size 16, not 32
