"""Unit-forcing methods fitted on the probing split: LAPE finds a planted language neuron,
per-token means equal a brute-force computation, and the additive and multiplicative modes do
exactly what they say at the forced units."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from langsteer.corpora import Corpus
from langsteer.methods import (
    LAPE,
    ExpertForcing,
    MethodError,
    ProbeData,
    RandomUnits,
    make_method,
)
from langsteer.methods.experts import find_experts
from langsteer.methods.lape import lape_scores
from langsteer.models import plant_language_unit, tiny_model
from tests.test_experts import A_WORDS, B_WORDS, sentences, toy_corpus

LANGS = ["eng_Latn", "deu_Latn"]
# two input-side Linear outputs of block 0: forcing one cannot change the other's input
LAYER0_UPS = r"re:layers\.0\.mlp\.(gate|up)_proj$"


def probe_of(loaded, corpus=None, **options) -> ProbeData:
    return ProbeData(loaded, corpus or toy_corpus(12), LANGS, progress=False, **options)


def test_lape_scores_rank_a_planted_neuron_first():
    rng = np.random.default_rng(0)
    rates = rng.uniform(0.3, 0.7, size=(3, 200))
    rates[:, 17] = [0.95, 0.01, 0.0]  # fires for language 0 only: entropy near 0
    rates[:, 40] = [0.99, 0.99, 0.99]  # fires for everything: high p, maximal entropy
    scores, record = lape_scores(rates, 0)
    assert int(np.argmax(scores)) == 17
    assert record["threshold"] == pytest.approx(np.quantile(rates, 0.95))
    members = rates[0] >= record["threshold"]
    assert record["n_members"] == members.sum() and members[17] and members[40]
    assert scores[members].min() > scores[~members].max()  # members rank above all others
    scores1, record1 = lape_scores(rates, 1)  # for language 1 it is no member: ranked below
    members1 = rates[1] >= record1["threshold"]
    assert not members1[17] and members1.any() and scores1[17] < scores1[members1].min()
    with pytest.raises(ValueError, match="languages >= 2"):
        lape_scores(rates[:1], 0)
    with pytest.raises(ValueError, match="quantile"):
        lape_scores(rates, 0, quantile=1.0)


def spaceless_corpus(n=16) -> Corpus:
    """eng sentences written without spaces: every one of their tokens is a planted letter."""
    eng = [s.replace(" ", "") for s in sentences(A_WORDS, n, 0)]
    return Corpus(
        ids=[f"s{i}" for i in range(n)],
        texts={"eng_Latn": eng, "deu_Latn": sentences(B_WORDS, n, 1)},
        provenance={"source": "test"},
    )


def test_lape_finds_a_planted_language_neuron_in_a_tiny_model():
    loaded = tiny_model("llama")
    planted = plant_language_unit(
        loaded, "abcdef", hook_point_name="model.layers.0.mlp.down_proj:in"
    )
    probe = probe_of(loaded, spaceless_corpus())
    method = LAPE(k=1).fit(probe, "eng_Latn")
    ex = method.experts_
    assert ex.names == [planted] and ex.units.spec == "mlp-act"
    i = ex.units.index_of(planted)[0]
    rates = probe.stats("mlp-act").positive_rates()[:, i]
    assert rates.tolist() == [1.0, 0.0]  # every eng token, no deu token
    assert ex.scores[i] == 0.0  # entropy 0: the lowest possible
    assert np.sum(ex.scores >= ex.scores[i]) == 1  # strictly first
    assert ex.meta["lape"]["n_members"] >= 1 and ex.meta["score"] == "lape"
    # for deu it belongs to no language it fires for: below any possible member's score
    deu, _ = lape_scores(probe.stats("mlp-act").positive_rates(), 1)
    assert deu[i] < -np.log(2)


def test_lape_refuses_more_units_than_pass_its_filter_and_bad_params():
    loaded = tiny_model("llama")
    with pytest.raises(ValueError, match=r"pass LAPE's filter .* lower k"):
        LAPE(k=100).fit(probe_of(loaded), "eng_Latn")  # 128 neurons, far fewer members
    with pytest.raises(MethodError, match="lape"):
        LAPE(score="auroc")
    with pytest.raises(MethodError, match="quantile"):
        LAPE(quantile=1.5)


def capture_tokens(loaded, units, text: str) -> np.ndarray:
    """(tokens, n_units) activations of every unit for one sentence alone, BOS dropped."""
    parts: dict[int, torch.Tensor] = {}
    handles = []
    for j, hp in enumerate(units.hook_points):
        mod = loaded.model.get_submodule(hp.module)
        if hp.side == "out":
            fn = lambda m, a, o, j=j: parts.__setitem__(j, o.detach().clone())  # noqa: E731
            handles.append(mod.register_forward_hook(fn))
        else:
            fn = lambda m, a, j=j: parts.__setitem__(j, a[0].detach().clone())  # noqa: E731
            handles.append(mod.register_forward_pre_hook(fn))
    ids = loaded.tokenizer([text], return_tensors="pt")
    try:
        with torch.no_grad():
            loaded.model(**ids)
    finally:
        for h in handles:
            h.remove()
    acts = torch.cat([parts[j].reshape(-1, parts[j].shape[-1]) for j in sorted(parts)], dim=1)
    return acts[1:].double().numpy()


@pytest.mark.parametrize("units", ["mlp", "mlp-act"])
def test_token_mean_equals_a_brute_force_mean_over_the_targets_tokens(units):
    loaded = tiny_model("qwen3")
    corpus = toy_corpus(12)
    method = ExpertForcing(units=units, k=5, value="token-mean").fit(
        probe_of(loaded, corpus, batch_size=5), "eng_Latn"
    )
    ex = method.experts_
    per_lang = {
        lang: np.concatenate([capture_tokens(loaded, ex.units, s) for s in corpus.sentences(lang)])
        for lang in LANGS
    }
    want_pos = per_lang["eng_Latn"].mean(0)  # every token of every eng sentence weighs the same
    np.testing.assert_allclose(ex.pos_token_mean, want_pos, rtol=1e-4, atol=1e-5)
    want_neg = per_lang["deu_Latn"].mean(0)  # the other languages' token means, equal weights
    np.testing.assert_allclose(ex.neg_token_mean, want_neg, rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(ex.values("token-mean"), ex.pos_token_mean[ex.indices])
    # max pooling's "mean" is a different number: the paper's value, not the token mean
    assert not np.allclose(ex.values("mean"), ex.values("token-mean"))


def forced_module_outputs(loaded, method, text="abc bad cab"):
    """Outputs of the layer-0 gate and up projections, natural and under the method."""
    ids = loaded.tokenizer([text], return_tensors="pt")
    names = [hp.module for hp in method.experts_.units.hook_points]

    def run() -> dict[str, torch.Tensor]:
        got: dict[str, torch.Tensor] = {}
        hs = [
            loaded.model.get_submodule(n).register_forward_hook(
                lambda m, a, o, n=n: got.__setitem__(n, o[0].clone())
            )
            for n in names
        ]
        with torch.no_grad():
            loaded.model(**ids)
        for h in hs:
            h.remove()
        return got

    natural = run()
    with method.attach(loaded):
        forced = run()
    return natural, forced


@pytest.mark.parametrize("mode", ["add", "multiply"])
def test_additive_and_multiplicative_modes_change_exactly_the_forced_units(mode):
    loaded = tiny_model("llama")
    method = ExpertForcing(units=LAYER0_UPS, k=6, mode=mode, scale=2.5).fit(
        probe_of(loaded), "eng_Latn"
    )
    ex = method.experts_
    stats = probe_of(loaded).stats(LAYER0_UPS).token_means()
    diff = stats[0] - stats[1]  # target token mean - the other language's token mean
    natural, forced = forced_module_outputs(loaded, method)
    hp_idx, channels = ex.units.locate(ex.indices)
    for h, hp in enumerate(ex.units.hook_points):
        mine = channels[hp_idx == h]
        units = ex.indices[hp_idx == h]
        rest = np.setdiff1d(np.arange(hp.width), mine)
        a, b = natural[hp.module], forced[hp.module]
        assert torch.equal(a[:, rest], b[:, rest])
        if mode == "add":
            shift = torch.as_tensor(2.5 * diff[units], dtype=torch.float32).expand(a.shape[0], -1)
            torch.testing.assert_close(b[:, mine] - a[:, mine], shift, rtol=1e-5, atol=1e-5)
        else:
            assert torch.equal(b[:, mine], a[:, mine] * 2.5)
    assert method.attach(loaded).describe()["mode"] == mode


def test_experts_method_matches_find_experts_and_its_controls():
    loaded = tiny_model("llama")
    probe = probe_of(loaded)
    method = make_method("experts", k=8, score="ap").fit(probe, "eng_Latn")
    ref, _ = find_experts(
        loaded,
        toy_corpus(12),
        ["eng_Latn"],
        negatives=["deu_Latn"],
        k=8,
        score="ap",
        progress=False,
    )
    np.testing.assert_array_equal(method.experts_.scores, ref["eng_Latn"].scores)
    np.testing.assert_array_equal(method.experts_.indices, ref["eng_Latn"].indices)
    d = method.describe()
    assert d["target"] == "eng_Latn" and d["k"] == 8 and len(d["experts_scores_hash"]) == 16
    json.dumps(d)
    fewer = method.with_k(3)
    assert fewer.experts_.indices.tolist() == method.experts_.indices[:3].tolist()
    assert method.params.k == 8  # with_k leaves the original alone
    from_file = ExpertForcing.from_expert_set(ref["eng_Latn"], value="median")
    assert from_file.params.score == "ap" and from_file.params.k == 8
    with from_file.attach(loaded) as h:
        assert h.describe()["value"] == "median"
    control = RandomUnits(k=8, seed=3).fit(probe, "eng_Latn")
    with control.attach(loaded) as h:
        assert not set(h.unit_indices) & set(control.experts_.indices)
        assert h.describe()["control"] == "random" and h.describe()["seed"] == 3


def test_forcing_parameters_are_validated():
    for bad, match in (
        ({"mode": "boost"}, "mode"),
        ({"value": "max"}, "value"),
        ({"score": "f1"}, "score"),
        ({"k": 0}, "k"),
        ({"positions": "first"}, "positions"),
        ({"scale": float("nan")}, "finite"),
        ({"kk": 3}, "no parameter"),
    ):
        with pytest.raises(MethodError, match=match):
            make_method("experts", **bad)
    with pytest.raises(ValueError, match="not fitted"):
        make_method("experts").attach(tiny_model("llama"))
