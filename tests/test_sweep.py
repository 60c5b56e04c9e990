"""The k sweep: output shape, k = 0 is the unsteered model, same seeds give the same sweep."""

from __future__ import annotations

import json

import pytest

from langsteer.evaluation.perplexity import perplexity
from langsteer.methods.experts import find_experts
from langsteer.generation import generate_samples
from langsteer.generation.langid import language_rates
from langsteer.models import tiny_model
from langsteer.generation.sweep import steering_sweep
from tests.test_experts import toy_corpus

GEN = dict(n_samples=4, seeds=(0, 1), max_new_tokens=6, batch_size=4)
PPL = {"eng_Latn": ["abc bad cab", "face cafe"], "deu_Latn": ["xyz not sun", "top zip"]}


@pytest.fixture(scope="module")
def setup():
    loaded = tiny_model("llama")
    experts, _ = find_experts(loaded, toy_corpus(12), ["eng_Latn", "deu_Latn"], k=4, progress=False)
    return loaded, experts


def _sweep(loaded, experts, **kw):
    return steering_sweep(
        loaded, experts, [0, 2, 8], ppl_texts=PPL, ppl_context=8, ppl_stride=4,
        progress=False, n_keep=3, **{**GEN, **kw},
    )  # fmt: skip


def test_shape_and_options(setup):
    loaded, experts = setup
    out = _sweep(loaded, experts, scale=2.0)
    assert set(out["targets"]) == {"eng_Latn", "deu_Latn"}
    for res in out["targets"].values():
        assert res["k"] == [0, 2, 8]
        for key in ("target_rate", "distribution", "log_ppl", "ppl", "n_ppl_tokens", "seconds"):
            assert len(res[key]) == 3
        assert all(0.0 <= r <= 1.0 for r in res["target_rate"])
        assert all(sum(d.values()) == pytest.approx(1.0) for d in res["distribution"])
        assert res["mean_score"][0] is None and res["mean_score"][1] >= res["mean_score"][2]
        assert set(res["samples"]) == {0, 2, 8}
        assert all(len(v) == 3 for v in res["samples"].values())
    opts = out["options"]
    assert opts["ks"] == [0, 2, 8] and opts["n_samples"] == 4 and opts["seeds"] == [0, 1]
    assert opts["intervention"]["scale"] == 2.0 and opts["intervention"]["value"] == "mean"
    assert opts["perplexity"]["context"] == 8 and opts["perplexity"]["stride"] == 4
    assert out["model"]["id"] == loaded.model_id and out["identifier"]["name"] == "py3langid"
    json.dumps(out)  # result files: JSON-ready


def test_k0_is_the_unsteered_model_and_sweeps_are_deterministic(setup):
    loaded, experts = setup
    a = _sweep(loaded, experts)
    b = _sweep(loaded, experts)

    def drop_time(out):
        return {t: {k: v for k, v in r.items() if k != "seconds"} for t, r in out.items()}

    assert drop_time(a["targets"]) == drop_time(b["targets"])
    texts = [s["text"] for s in generate_samples(loaded, **GEN)]
    for target, res in a["targets"].items():
        plain = language_rates(texts, target)
        assert res["target_rate"][0] == plain["target_rate"]
        assert res["distribution"][0] == plain["distribution"]
        assert res["samples"][0] == texts[:3]
        ppl = perplexity(loaded, PPL[target], context=8, stride=4, batch_size=4)
        assert res["log_ppl"][0] == ppl["log_ppl"] and res["ppl"][0] == ppl["ppl"]
        assert res["log_ppl"][2] != res["log_ppl"][0]  # forcing 8 experts changes the model


def test_skip_perplexity_and_bad_inputs(setup):
    loaded, experts = setup
    out = steering_sweep(loaded, {"en": experts["eng_Latn"]}, [1], ppl_texts=None, **GEN,
                         progress=False)  # fmt: skip
    assert out["targets"]["eng_Latn"]["log_ppl"] == [None]
    ok = dict(ppl_texts=PPL, progress=False, **GEN)
    for ks, kw in [
        ([], {}),
        ([1, 1], {}),
        ([-1], {}),
        ([10**6], {}),
        ([1], {"n_samples": 0}),
        ([1], {"top_p": 0}),
        ([1], {"temperature": 0}),
        ([1], {"mode": "boost"}),
        ([1], {"ppl_texts": {"eng_Latn": ["a b"]}}),
        ([1], {"ppl_texts": {"eng_Latn": [], "deu_Latn": ["x"]}}),
        ([1], {"ppl_stride": 0}),
        ([1], {"ppl_context": 1}),
    ]:
        with pytest.raises(ValueError):
            steering_sweep(loaded, experts, ks, **{**ok, **kw})
