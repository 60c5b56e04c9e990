"""Sparse dimensions: the selection finds planted dimensions, and the edit sets exactly those
dimensions of exactly one block's output to the target's mean."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from langsteer.config import config_from_dict
from langsteer.methods import MethodError, SparseDims, make_method
from langsteer.methods.sparse import sparse_dimensions
from tests.test_steering import (
    deep_model,
    direct_means,
    hidden_states,
    logits,
    make_probe,
    probe_data,
)

PLANTED = [3, 11, 17]


def test_selection_finds_planted_dimensions_of_synthetic_means():
    rng = np.random.default_rng(0)
    means = {lang: rng.normal(size=64) for lang in ("eng_Latn", "deu_Latn", "fra_Latn")}
    means["deu_Latn"][PLANTED] += [40.0, -50.0, 30.0]  # deu differs there (either sign)
    idx, values, gaps = sparse_dimensions(means, "deu_Latn", 3)
    assert idx.tolist() == [11, 3, 17]  # largest gap first
    np.testing.assert_array_equal(values, means["deu_Latn"][idx])
    others = (means["eng_Latn"] + means["fra_Latn"]) / 2  # each other language weighs the same
    np.testing.assert_allclose(gaps, np.abs(means["deu_Latn"] - others))
    with pytest.raises(ValueError, match=r"dims = 65 .* between 1 and 64"):
        sparse_dimensions(means, "deu_Latn", 65)
    with pytest.raises(ValueError, match="not among the probed"):
        sparse_dimensions(means, "jpn_Jpan", 3)
    with pytest.raises(ValueError, match="besides the target"):
        sparse_dimensions({"deu_Latn": means["deu_Latn"]}, "deu_Latn", 3)


def plant_offset(loaded, chars: str, dims: list[int], offset: float = 30.0) -> None:
    """Tokens made of ``chars`` get a large offset on ``dims`` of the token embedding: one
    language's hidden states are offset there (the residual stream carries it on)."""
    emb = loaded.model.get_input_embeddings().weight
    ids = [i for t, i in loaded.tokenizer.get_vocab().items() if t and set(t) <= set(chars)]
    with torch.no_grad():
        emb[np.ix_(ids, dims)] += offset


def test_sparse_dims_finds_a_planted_offset_in_a_tiny_model():
    loaded = deep_model()
    plant_offset(loaded, "abcdef", PLANTED)  # the letters of the toy eng_Latn sentences
    method = SparseDims(layer=2, dims=3).fit(make_probe(loaded), "eng_Latn")
    assert sorted(method.dims_.tolist()) == PLANTED
    assert method.gap_share_ > 0.5


def test_edit_sets_exactly_the_chosen_dims_of_one_block_to_the_target_mean():
    loaded = deep_model()
    data = probe_data()
    method = SparseDims(layer=2, dims=5).fit(make_probe(loaded, data), "deu_Latn")
    means = direct_means(loaded, data, 2)  # brute force, one sentence at a time
    others = (means["eng_Latn"] + means["x"]) / 2
    want = np.argsort(-np.abs(means["deu_Latn"] - others), kind="stable")[:5]
    assert method.dims_.tolist() == want.tolist()
    np.testing.assert_allclose(method.values_, means["deu_Latn"][want], rtol=1e-4, atol=1e-5)
    ref = logits(loaded)
    before = hidden_states(loaded, "abc def")
    with method.attach(loaded) as h:
        after = hidden_states(loaded, "abc def")
    for i in (0, 1):  # before the hooked block: bitwise identical
        assert torch.equal(before[i], after[i])
    dims = torch.as_tensor(want)
    rest = torch.ones(before[2].shape[-1], dtype=torch.bool)
    rest[dims] = False
    assert torch.equal(before[2][..., rest], after[2][..., rest])  # other dims untouched
    got = after[2][0][:, dims]  # every position, BOS too
    assert torch.equal(got, torch.as_tensor(method.values_).expand_as(got))
    assert not torch.allclose(before[3], after[3])
    assert torch.equal(logits(loaded), ref)  # removal restores the model exactly
    d = h.describe()
    assert d["method"] == "sparse-dims" and d["dimensions"] == want.tolist()
    assert d["layer"] == 2 and d["dims"] == 5 and d["positions"] == "all"
    json.dumps(d)


def test_generation_with_kv_cache_is_edited_at_every_step():
    loaded = deep_model()
    method = SparseDims(layer=2, dims=4).fit(make_probe(loaded), "eng_Latn")
    block = loaded.model.get_submodule(method.block_)
    seen: list[torch.Tensor] = []
    ids = loaded.tokenizer(["ab"], return_tensors="pt")
    opts = dict(do_sample=False, max_new_tokens=5, min_new_tokens=5, pad_token_id=0)
    with torch.no_grad(), method.attach(loaded):
        # registered after the edit's hook: sees the edited output
        rec = block.register_forward_hook(
            lambda m, a, o: seen.append((o[0] if isinstance(o, tuple) else o).clone())
        )
        loaded.model.generate(**ids, use_cache=True, **opts)
        rec.remove()
    assert [x.shape[1] for x in seen] == [ids["input_ids"].shape[1], 1, 1, 1, 1]
    values = torch.as_tensor(method.values_)
    for x in seen:
        assert torch.equal(x[0][:, method.dims_], values.expand(x.shape[1], -1))


def test_parameters_are_validated_and_defaults_come_from_the_sections():
    for bad in ({"dims": 0}, {"dims": 2.5}, {"dims": True}, {"layer": "9"}, {"positions": "x"}):
        with pytest.raises(MethodError, match=next(iter(bad))):
            SparseDims(**bad)
    loaded = deep_model()
    with pytest.raises(ValueError, match="between 1 and 32"):
        SparseDims(layer=2, dims=33).fit(make_probe(loaded), "eng_Latn")
    cfg = config_from_dict(
        {
            "steering": {"layer": 3},
            "intervention": {"positions": "last"},
            "methods": [{"name": "sparse-dims", "dims": 8}, {"name": "none"}],
        }
    )
    params = cfg.method_params(cfg.methods[0])
    assert params == {"layer": 3, "dims": 8, "positions": "last"}
    assert make_method("sparse-dims", **params).fit(make_probe(loaded), "eng_Latn").layer_ == 3
