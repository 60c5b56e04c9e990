"""The generation sweep: k = 0 is the unsteered model, every method's points are cached, same
seeds give the same sweep, and an interrupted sweep resumes where it stopped."""

from __future__ import annotations

import json

import pytest

from langsteer.evaluation.perplexity import perplexity
from langsteer.generation import generate_samples
from langsteer.generation import sweep as sweep_mod
from langsteer.generation.langid import language_rates
from langsteer.generation.sweep import method_sweep
from langsteer.methods import ExpertForcing, ProbeData, SteeringVector
from langsteer.models import tiny_model
from tests.test_experts import toy_corpus

GEN = dict(n_samples=4, seeds=(0, 1), max_new_tokens=6, batch_size=4)
PPL = {"eng_Latn": ["abc bad cab", "face cafe"], "deu_Latn": ["xyz not sun", "top zip"]}


@pytest.fixture(scope="module")
def setup():
    loaded = tiny_model("llama")
    probe = ProbeData(loaded, toy_corpus(12), ["eng_Latn", "deu_Latn"], progress=False)
    methods = {
        t: {
            "experts": ExpertForcing(k=4).fit(probe, t),
            "vector": SteeringVector(strength=4.0).fit(probe, t),
        }
        for t in ("eng_Latn", "deu_Latn")
    }
    return loaded, methods


def _sweep(loaded, methods, **kw):
    opts = dict(
        ks=[0, 2, 8], ppl_texts=PPL, ppl_context=8, ppl_stride=4, progress=False, n_keep=3, **GEN
    )
    return method_sweep(loaded, methods, **{**opts, **kw})


def test_shape_and_options(setup):
    loaded, methods = setup
    out = _sweep(loaded, methods)
    assert set(out["targets"]) == {"eng_Latn", "deu_Latn"}
    for per in out["targets"].values():
        res = per["experts"]
        assert res["k"] == [0, 2, 8]
        for key in ("target_rate", "distribution", "log_ppl", "ppl", "n_ppl_tokens", "seconds"):
            assert len(res[key]) == 3
        assert all(0.0 <= r <= 1.0 for r in res["target_rate"])
        assert all(sum(d.values()) == pytest.approx(1.0) for d in res["distribution"])
        assert set(res["samples"]) == {"0", "2", "8"}
        assert all(len(v) == 3 for v in res["samples"].values())
        assert per["vector"]["k"] == [0, None] and set(per["vector"]["samples"]) == {"0", "fitted"}
    opts = out["options"]
    assert opts["ks"] == [0, 2, 8] and opts["n_samples"] == 4 and opts["seeds"] == [0, 1]
    assert opts["perplexity"]["context"] == 8 and opts["perplexity"]["stride"] == 4
    assert opts["prompt"] is None and out["identifier"]["name"] == "py3langid"
    json.dumps(out)  # result files: JSON-ready


def test_k0_is_the_unsteered_model_and_sweeps_are_deterministic(setup):
    loaded, methods = setup
    a = _sweep(loaded, methods)
    b = _sweep(loaded, methods)

    def drop_time(out):
        return {
            t: {m: {k: v for k, v in r.items() if k != "seconds"} for m, r in per.items()}
            for t, per in out.items()
        }

    assert drop_time(a["targets"]) == drop_time(b["targets"])
    texts = [s["text"] for s in generate_samples(loaded, **GEN)]
    for target, per in a["targets"].items():
        res = per["experts"]
        plain = language_rates(texts, target)
        assert res["target_rate"][0] == plain["target_rate"]
        assert res["distribution"][0] == plain["distribution"]
        assert res["samples"]["0"] == texts[:3]
        ppl = perplexity(loaded, PPL[target], context=8, stride=4, batch_size=4)
        assert res["log_ppl"][0] == ppl["log_ppl"] and res["ppl"][0] == ppl["ppl"]
        assert res["log_ppl"][2] != res["log_ppl"][0]  # forcing 8 experts changes the model
        assert per["vector"]["log_ppl"][1] != ppl["log_ppl"]


def test_points_are_cached_and_an_interrupted_sweep_resumes(setup, tmp_path, monkeypatch):
    loaded, methods = setup
    calls, fail = [], [True]
    sample = sweep_mod.generate_samples

    def counting(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3 and fail:
            fail.pop()
            raise RuntimeError("interrupted")  # after two sampled points
        return sample(*args, **kwargs)

    monkeypatch.setattr(sweep_mod, "generate_samples", counting)
    with pytest.raises(RuntimeError, match="interrupted"):
        _sweep(loaded, methods, cache_dir=tmp_path)
    done = len(list((tmp_path / "generations").iterdir()))
    assert done == 2
    calls.clear()
    first = _sweep(loaded, methods, cache_dir=tmp_path)
    # unsteered once for both targets + 2 k x 2 targets + 1 vector x 2 targets, minus cached
    assert len(calls) == 1 + 4 + 2 - done
    calls.clear()
    second = _sweep(loaded, methods, cache_dir=tmp_path)
    assert calls == [] and second["targets"] == first["targets"]


def test_skip_perplexity_prompt_and_bad_inputs(setup):
    loaded, methods = setup
    out = _sweep(
        loaded, {"en": {"experts": methods["eng_Latn"]["experts"]}}, ks=[1], ppl_texts=None
    )
    assert out["targets"]["eng_Latn"]["experts"]["log_ppl"] == [None, None]
    prompted = _sweep(loaded, methods, ks=[1], prompt="abc")
    assert prompted["options"]["prompt"] == "abc"
    for kw in [
        {"n_samples": 0},
        {"top_p": 0},
        {"temperature": 0},
        {"ppl_texts": {"eng_Latn": ["a b"]}},
        {"ppl_stride": 0},
        {"ppl_context": 1},
    ]:
        with pytest.raises(ValueError):
            _sweep(loaded, methods, **kw)
