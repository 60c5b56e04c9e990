"""Sampling: one forced forward call per decoding step, seeded determinism, real steering."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers.pytorch_utils import Conv1D

from langsteer.config import InterventionConfig
from langsteer.generation import generate_samples
from langsteer.methods.experts import find_experts
from langsteer.methods.forcing import intervene
from langsteer.models import plant_language_unit, resolve_units, tiny_model
from langsteer.models.tiny import _planted_token_ids
from tests.test_experts import toy_corpus

DEFAULT_VALUE = InterventionConfig.value  # what intervene() forces by default

PLANTED = "abcdef"  # the letters of the toy corpus' "eng_Latn" words


def _experts(loaded, k=4, units="mlp"):
    experts, _ = find_experts(
        loaded,
        toy_corpus(12),
        ["eng_Latn"],
        negatives=["deu_Latn"],
        k=k,
        units=units,
        progress=False,
    )
    return experts["eng_Latn"]


def _capture(model, ex):
    """Record the (post-intervention) tensor of the first forced hook point at every call."""
    hp_idx, ch = ex.units.locate(ex.indices)
    hp = ex.units.hook_points[int(hp_idx[0])]
    calls: list[torch.Tensor] = []
    mod = model.get_submodule(hp.module)
    if hp.side == "out":
        handle = mod.register_forward_hook(lambda m, a, o: calls.append(o.detach().clone()))
    else:
        handle = mod.register_forward_pre_hook(lambda m, a: calls.append(a[0].detach().clone()))
    return calls, handle, ch[hp_idx == hp_idx[0]], ex.values(DEFAULT_VALUE)[hp_idx == hp_idx[0]]


@pytest.mark.parametrize("arch", ["llama", "gpt2"])
def test_kv_cache_one_forced_call_per_decoding_step(arch):
    loaded = tiny_model(arch)
    ex = _experts(loaded)
    n, new = 3, 6
    with intervene(loaded, ex) as h:
        calls, handle, channels, values = _capture(loaded.model, ex)  # sees forced values
        out = generate_samples(
            loaded, n_samples=n, max_new_tokens=new, batch_size=n, intervention=h
        )
        handle.remove()
    # generated columns: up to max_new_tokens, fewer only if every row stopped at EOS
    columns = max(len(s["tokens"]) + s["finished"] for s in out)
    assert len(calls) == columns  # the last sampled token needs no forward pass
    shapes = [c.reshape(n, -1, c.shape[-1]).shape[1] for c in calls]
    assert shapes == [1] + [1] * (columns - 1)  # BOS-only prefill, then one new token per call
    for c in calls:
        flat = c.reshape(-1, c.shape[-1])
        for ch, v in zip(channels, values, strict=True):
            assert torch.all(flat[:, ch] == float(v))
    assert all(s["intervention"] == h.describe() for s in out)


def test_identical_seeds_identical_texts():
    loaded = tiny_model("llama")
    kw = dict(n_samples=5, max_new_tokens=8, batch_size=2)
    state = torch.random.get_rng_state()
    a = generate_samples(loaded, seeds=(0, 1), **kw)
    assert torch.equal(state, torch.random.get_rng_state())  # caller's RNG untouched
    b = generate_samples(loaded, seeds=(0, 1), **kw)
    c = generate_samples(loaded, seeds=(1,), **kw)
    assert [s["text"] for s in a] == [s["text"] for s in b]
    assert [s["text"] for s in a[5:]] == [s["text"] for s in c]  # independent of other seeds
    assert [s["text"] for s in a[:5]] != [s["text"] for s in a[5:]]
    assert [(s["seed"], s["index"]) for s in a] == [(s, i) for s in (0, 1) for i in range(5)]
    specials = set(loaded.tokenizer.all_special_tokens)
    assert all(not any(t in s["text"] for t in specials) for s in a)
    assert all(s["prompt"] is None and s["intervention"] is None for s in a)


def test_left_padding_matches_single_prompts():
    loaded = tiny_model("llama")
    kw = dict(max_new_tokens=5, temperature=1e-4)  # near-greedy: rows independent of the batch
    both = generate_samples(loaded, prompt=["abc", "de fa bc"], n_samples=2, batch_size=2, **kw)
    one = generate_samples(loaded, prompt="abc", n_samples=1, **kw)
    two = generate_samples(loaded, prompt="de fa bc", n_samples=1, **kw)
    assert [s["text"] for s in both] == [one[0]["text"], two[0]["text"]]
    assert [s["prompt"] for s in both] == ["abc", "de fa bc"]


def _wire_planted_unit_to_head(loaded, dim: int = -1) -> str:
    """Plant a unit that reads the planted letters, and make it write them.

    ``plant_language_unit`` gives the planted letters' embeddings a large component along one
    residual dimension ``dim``; here the layer-0 down projection column of the planted
    post-activation unit becomes the unit vector of ``dim`` and the LM head reads ``dim`` as the
    input embedding does. Forcing the unit to its (large) positive mean then puts a large value
    in ``dim``, which dominates the final norm and raises exactly the planted letters' logits.
    """
    model = loaded.model
    hp = next(h for h in resolve_units(model, "mlp-act").hook_points if h.layer == 0)
    emb = model.get_input_embeddings().weight
    dim = dim % emb.shape[1]
    name = plant_language_unit(loaded, PLANTED, hook_point_name=hp.name, dim=dim)
    with torch.no_grad():
        model.get_output_embeddings().weight[:, dim] = emb[:, dim]
        down = model.get_submodule(hp.module)
        if isinstance(down, Conv1D):  # weight [in, out]
            down.weight[0, :] = 0.0
            down.weight[0, dim] = 1.0
        else:
            down.weight[:, 0] = 0.0
            down.weight[dim, 0] = 1.0
    return name


@pytest.mark.parametrize("arch", ["llama", "gpt2"])
def test_forcing_planted_experts_raises_the_planted_language(arch):
    loaded = tiny_model(arch)
    planted = _wire_planted_unit_to_head(loaded)
    ex = _experts(loaded, k=1, units="mlp-act")
    assert ex.names == [planted]
    ids = _planted_token_ids(loaded.tokenizer, PLANTED)
    bos = torch.tensor([[loaded.tokenizer.bos_token_id]])

    def planted_mass() -> float:
        with torch.no_grad():
            return loaded.model(input_ids=bos).logits[0, -1].softmax(-1)[ids].sum().item()

    before = planted_mass()
    with intervene(loaded, ex):
        during = planted_mass()
    assert before < 0.1 and during > 0.9

    def planted_share(samples) -> float:
        text = "".join(s["text"] for s in samples)
        return np.mean([c in PLANTED for c in text]) if text else 0.0

    kw = dict(n_samples=6, max_new_tokens=6, batch_size=6)
    base = generate_samples(loaded, **kw)
    h = intervene(loaded, ex)
    h.remove()
    steered = generate_samples(loaded, intervention=h, **kw)  # attached for the call only
    assert not h.active
    assert planted_share(steered) > 0.95 > planted_share(base)
    assert steered[0]["intervention"]["k"] == 1


@pytest.mark.parametrize(
    "bad",
    [
        {"n_samples": 0},
        {"top_p": 0.0},
        {"top_p": 1.5},
        {"temperature": 0.0},
        {"temperature": -1.0},
        {"max_new_tokens": 0},
        {"batch_size": 0},
        {"seeds": ()},
        {"seeds": (1, 1)},
        {"prompt": []},
    ],
)
def test_bad_options(bad):
    loaded = tiny_model("llama")
    with pytest.raises(ValueError):
        generate_samples(loaded, **{"n_samples": 1, "max_new_tokens": 2, **bad})
