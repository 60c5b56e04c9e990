"""Interventions force exactly the chosen channels, everywhere, and leave no trace when removed."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from langsteer.config import InterventionConfig
from langsteer.methods.experts import find_experts
from langsteer.methods.forcing import intervene, random_control_units
from langsteer.models import SUPPORTED_ARCHITECTURES, tiny_model
from tests.test_experts import toy_corpus

DEFAULT_VALUE = InterventionConfig.value  # what intervene() forces by default


def _experts(loaded, k=8, units="mlp"):
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
    """Record each forced hook point's (post-intervention) tensor at every forward call."""
    seen: dict[str, list[torch.Tensor]] = {}
    handles = []
    hp_idx, _ = ex.units.locate(ex.indices)
    for h in np.unique(hp_idx):
        hp = ex.units.hook_points[int(h)]
        mod = model.get_submodule(hp.module)
        if hp.side == "out":
            fn = lambda m, a, o, n=hp.name: seen.setdefault(n, []).append(o.detach().clone())  # noqa: E731
            handles.append(mod.register_forward_hook(fn))
        else:
            fn = lambda m, a, n=hp.name: seen.setdefault(n, []).append(a[0].detach().clone())  # noqa: E731
            handles.append(mod.register_forward_pre_hook(fn))
    return seen, handles


def _ids(loaded, text="abc bad cab"):
    return loaded.tokenizer(text, return_tensors="pt")["input_ids"]


@pytest.mark.parametrize("arch", SUPPORTED_ARCHITECTURES)
def test_forcing_and_exact_restoration(arch):
    loaded = tiny_model(arch)
    ex = _experts(loaded)
    ids = _ids(loaded)
    with torch.no_grad():
        before = loaded.model(input_ids=ids).logits.clone()
        h = intervene(loaded, ex)
        seen, handles = _capture(loaded.model, ex)
        during = loaded.model(input_ids=ids).logits.clone()
        for x in handles:
            x.remove()
        h.remove()
        after = loaded.model(input_ids=ids).logits
    assert torch.equal(before, after)  # bitwise
    assert not torch.equal(before, during)
    values = ex.values(DEFAULT_VALUE)
    hp_idx, ch = ex.units.locate(ex.indices)
    for j, (h_i, c) in enumerate(zip(hp_idx, ch, strict=False)):
        t = seen[ex.units.hook_points[int(h_i)].name][0]
        t = t.reshape(-1, t.shape[-1])
        assert torch.all(t[:, c] == torch.tensor(values[j], dtype=t.dtype))


def test_only_chosen_channels_change_at_the_first_forced_module():
    loaded = tiny_model("llama")
    ex = _experts(loaded, k=20)
    hp_idx, ch = ex.units.locate(ex.indices)
    first = int(hp_idx.min())
    hp = ex.units.hook_points[first]
    mod = loaded.model.get_submodule(hp.module)
    got = []
    ids = _ids(loaded)

    def record():  # registered after the intervention's hook, so it sees the forced output
        return mod.register_forward_hook(lambda m, a, o: got.append(o.clone()))

    with torch.no_grad():
        hk = record()
        loaded.model(input_ids=ids)
        hk.remove()
        with intervene(loaded, ex):
            hk = record()
            loaded.model(input_ids=ids)
            hk.remove()
    changed = (got[0] != got[1]).any(dim=(0, 1)).nonzero().flatten().tolist()
    assert set(changed) <= set(ch[hp_idx == first].tolist())
    assert changed  # the forced values differ from the natural ones


@pytest.mark.parametrize("arch", ["llama", "gpt2", "opt", "bloom"])
def test_generation_with_kv_cache_forces_every_new_token(arch):
    loaded = tiny_model(arch)
    ex = _experts(loaded, k=4)
    ids = _ids(loaded)
    new_tokens = 5
    with intervene(loaded, ex), torch.no_grad():
        seen, handles = _capture(loaded.model, ex)  # after the intervention: sees forced values
        out = loaded.model.generate(
            input_ids=ids,
            attention_mask=torch.ones_like(ids),
            max_new_tokens=new_tokens,
            min_new_tokens=new_tokens,
            do_sample=False,
            use_cache=True,
            pad_token_id=loaded.tokenizer.pad_token_id,
        )
    for x in handles:
        x.remove()
    assert out.shape[1] == ids.shape[1] + new_tokens
    name = next(iter(seen))
    calls = seen[name]
    # one prefill call over the prompt, then one call per new token (KV cache: 1 position)
    assert len(calls) == new_tokens
    positions = [c.reshape(-1, c.shape[-1]).shape[0] for c in calls]
    assert positions == [ids.shape[1]] + [1] * (new_tokens - 1)
    values = ex.values(DEFAULT_VALUE)
    hp_idx, ch = ex.units.locate(ex.indices)
    for j, (h_i, c) in enumerate(zip(hp_idx, ch, strict=False)):
        if ex.units.hook_points[int(h_i)].name != name:
            continue
        for t in calls:
            assert torch.all(t.reshape(-1, t.shape[-1])[:, c] == values[j])


def test_last_position_mode():
    loaded = tiny_model("opt")  # flattened (B*T, C) MLP activations
    ex = _experts(loaded, k=4)
    ids = _ids(loaded)
    with intervene(loaded, ex, positions="last"), torch.no_grad():
        seen, handles = _capture(loaded.model, ex)
        loaded.model(input_ids=ids)
    for x in handles:
        x.remove()
    hp_idx, ch = ex.units.locate(ex.indices)
    name = ex.units.hook_points[int(hp_idx[0])].name
    t = seen[name][0].reshape(ids.shape[1], -1)
    v = torch.tensor(ex.values(DEFAULT_VALUE)[0])
    assert t[-1, ch[0]] == v
    assert not torch.all(t[:-1, ch[0]] == v)


def test_value_modes_scale_and_aura():
    loaded = tiny_model("llama")
    ex = _experts(loaded, k=3)
    ids = _ids(loaded)
    hp_idx, ch = ex.units.locate(ex.indices)
    hp = ex.units.hook_points[int(hp_idx[0])]
    mod = loaded.model.get_submodule(hp.module)

    def run(**opts):
        got = []
        with torch.no_grad(), intervene(loaded, ex, **opts):
            hk = mod.register_forward_hook(lambda m, a, o: got.append(o[0, :, ch[0]].clone()))
            loaded.model(input_ids=ids)
        hk.remove()
        return got[0]

    assert torch.all(run(value="median", scale=2.0) == 2 * float(ex.values("median")[0]))
    assert torch.all(run(value="zero") == 0)
    assert torch.all(run(value=1.5) == 1.5)
    natural = []
    hk = mod.register_forward_hook(lambda m, a, o: natural.append(o[0, :, ch[0]].clone()))
    with torch.no_grad():
        loaded.model(input_ids=ids)
    hk.remove()
    alpha = float(np.clip(1 - 2 * (ex.scores[ex.indices[0]] - 0.5), 0, 1))
    torch.testing.assert_close(run(mode="aura"), natural[0] * alpha)
    assert torch.all(run(value="token-mean") == float(ex.values("token-mean")[0]))
    assert torch.equal(run(mode="multiply", scale=0.5), natural[0] * 0.5)
    diff = float(ex.pos_token_mean[ex.indices[0]] - ex.neg_token_mean[ex.indices[0]])
    torch.testing.assert_close(run(mode="add", scale=3.0), natural[0] + 3.0 * diff)


def test_mlp_act_forcing():
    loaded = tiny_model("qwen3")
    ex = _experts(loaded, k=5, units="mlp-act")
    with torch.no_grad(), intervene(loaded, ex):
        seen, handles = _capture(loaded.model, ex)
        loaded.model(input_ids=_ids(loaded))
    for x in handles:
        x.remove()
    hp_idx, ch = ex.units.locate(ex.indices)
    for j, (h_i, c) in enumerate(zip(hp_idx, ch, strict=False)):
        t = seen[ex.units.hook_points[int(h_i)].name][0]
        assert torch.all(t[..., c] == float(ex.values(DEFAULT_VALUE)[j]))


def test_random_control():
    loaded = tiny_model("llama")
    ex = _experts(loaded, k=10)
    a = random_control_units(ex, seed=0)
    b = random_control_units(ex, seed=0)
    c = random_control_units(ex, seed=1)
    assert len(a) == 10 and np.array_equal(a, b) and not np.array_equal(a, c)
    assert not set(a) & set(ex.indices)
    h = intervene(loaded, ex, control="random", seed=0)
    assert np.array_equal(h.unit_indices, a)
    assert h.describe()["control"] == "random"
    h.remove()


def test_bad_options_and_mismatched_experts():
    loaded = tiny_model("llama")
    ex = _experts(loaded, k=3)
    for bad in ({"mode": "boost"}, {"positions": "first"}, {"value": "max"}, {"control": "x"}):
        with pytest.raises(ValueError):
            intervene(loaded, ex, **bad)
    from langsteer.methods.experts import ExpertFileMismatchError

    with pytest.raises(ExpertFileMismatchError):
        intervene(tiny_model("qwen2"), ex)
