"""Expert finding: planted language units are recovered; expert files refuse other models."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from langsteer.corpora import Corpus
from langsteer.methods.experts import ExpertFileMismatchError, ExpertFinder, ExpertSet, find_experts
from langsteer.models import SUPPORTED_ARCHITECTURES, plant_language_unit, tiny_model

# two "languages" with disjoint alphabets: the planted unit reads language A's letters
A_WORDS = ["abc", "bad", "cab", "dab", "fad", "bead", "face", "cafe", "deaf", "abed"]
B_WORDS = ["xyz", "not", "sun", "run", "mop", "top", "zip", "pot", "stun", "worm"]


def sentences(words, n, seed):
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(words, size=rng.integers(2, 6))) for _ in range(n)]


def toy_corpus(n=24):
    ids = [f"s{i}" for i in range(n)]
    return Corpus(
        ids=ids,
        texts={"eng_Latn": sentences(A_WORDS, n, 0), "deu_Latn": sentences(B_WORDS, n, 1)},
        provenance={"source": "test"},
    )


@pytest.mark.parametrize("arch", SUPPORTED_ARCHITECTURES)
def test_planted_unit_is_recovered(arch):
    loaded = tiny_model(arch)
    planted = plant_language_unit(loaded, "abcdef")
    experts, _ = find_experts(
        loaded, toy_corpus(), ["eng_Latn"], negatives=["deu_Latn"], k=5, progress=False
    )
    ex = experts["eng_Latn"]
    assert planted in ex.names
    idx = ex.units.index_of(planted)[0]
    assert ex.scores[idx] == 1.0
    assert ex.pos_mean[idx] > ex.neg_mean[idx]


def test_mlp_act_planted_unit_is_recovered():
    loaded = tiny_model("llama")
    planted = plant_language_unit(
        loaded, "abcdef", hook_point_name="model.layers.0.mlp.down_proj:in"
    )
    experts, _ = find_experts(
        loaded,
        toy_corpus(),
        ["eng_Latn"],
        negatives=["deu_Latn"],
        units="mlp-act",
        k=3,
        progress=False,
    )
    assert planted in experts["eng_Latn"].names


def _fitted(k=4, score="auroc", bottom_k=0):
    loaded = tiny_model("llama")
    experts, responses = find_experts(
        loaded,
        toy_corpus(),
        ["eng_Latn", "deu_Latn"],
        k=k,
        score=score,
        bottom_k=bottom_k,
        progress=False,
    )
    return loaded, experts, responses


def test_finder_statistics_and_ranking():
    _loaded, experts, responses = _fitted(k=6, bottom_k=2)
    ex = experts["eng_Latn"]
    v = np.asarray(responses.values)
    labels = np.arange(v.shape[0]) < 24
    np.testing.assert_allclose(ex.pos_mean, v[labels].mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ex.pos_median, np.median(v[labels], 0), rtol=1e-6)
    np.testing.assert_allclose(ex.neg_mean, v[~labels].mean(0), rtol=1e-5, atol=1e-6)
    top, bottom = ex.indices[:6], ex.indices[6:]
    assert ex.scores[top].min() >= np.sort(ex.scores)[-6]
    assert ex.scores[bottom].max() <= np.sort(ex.scores)[1]
    # the two targets relabel the same responses: AUROC(eng) = 1 - AUROC(deu)
    np.testing.assert_allclose(ex.scores, 1 - experts["deu_Latn"].scores, atol=1e-12)
    assert len(ex.with_k(2)) == 4 and ex.with_k(2).indices[0] == ex.indices[0]


def test_save_load_round_trip(tmp_path):
    loaded, experts, _ = _fitted(score="ap")
    ex = experts["eng_Latn"]
    path = ex.save(tmp_path / "eng.safetensors")
    back = ExpertSet.load(path)
    np.testing.assert_array_equal(back.scores, ex.scores)
    np.testing.assert_array_equal(back.indices, ex.indices)
    assert back.meta["score"] == "ap" and back.meta["target"] == "eng_Latn"
    assert back.meta["model"]["id"] == loaded.model_id
    assert back.meta["data_hash"] and back.meta["versions"]["torch"]
    back.check_compatible(loaded)
    assert not list(tmp_path.glob("*.tmp*"))


def test_format_2_files_keep_token_means_and_format_1_files_say_what_they_lack(tmp_path):
    _loaded, experts, _ = _fitted()
    ex = experts["eng_Latn"]
    back = ExpertSet.load(ex.save(tmp_path / "eng.safetensors"))
    assert back.meta["format"] == 2
    np.testing.assert_array_equal(back.pos_token_mean, ex.pos_token_mean)
    np.testing.assert_array_equal(back.neg_token_mean, ex.neg_token_mean)
    np.testing.assert_array_equal(
        back.values("token-diff"), (ex.pos_token_mean - ex.neg_token_mean)[ex.indices]
    )
    old = dataclasses.replace(ex, pos_token_mean=None, neg_token_mean=None)
    old_back = ExpertSet.load(old.save(tmp_path / "old.safetensors"))  # as a format 1 file
    assert old_back.pos_token_mean is None
    np.testing.assert_array_equal(old_back.values("mean"), ex.values("mean"))
    for stat in ("token-mean", "token-diff"):
        with pytest.raises(ValueError, match="format 1"):
            old_back.values(stat)
    with pytest.raises(ValueError, match="unknown statistic"):
        ex.values("max")


def test_average_precision_recovers_the_planted_unit_too():
    loaded = tiny_model("llama")
    planted = plant_language_unit(loaded, "abcdef")
    experts, _ = find_experts(
        loaded,
        toy_corpus(),
        ["eng_Latn"],
        negatives=["deu_Latn"],
        k=3,
        score="ap",
        progress=False,
    )
    ex = experts["eng_Latn"]
    assert ex.names[0] == planted and ex.scores[ex.indices[0]] == 1.0
    assert ex.meta["score"] == "ap"


def test_expert_file_refuses_other_models(tmp_path):
    _loaded, experts, _ = _fitted()
    path = experts["eng_Latn"].save(tmp_path / "eng.safetensors")
    back = ExpertSet.load(path)
    with pytest.raises(ExpertFileMismatchError, match="model_type"):
        back.check_compatible(tiny_model("gpt2"))
    other = tiny_model("llama", seed=1)
    other.model_id = "someone/else"
    with pytest.raises(ExpertFileMismatchError, match="allow_other_model"):
        back.check_compatible(other)
    back.check_compatible(other, allow_other_model=True)


def test_bad_expert_files(tmp_path):
    with pytest.raises(FileNotFoundError):
        ExpertSet.load(tmp_path / "missing.safetensors")
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a safetensors file")
    with pytest.raises(ValueError, match="not a readable"):
        ExpertSet.load(junk)


def test_bad_inputs():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(20, 10)).astype(np.float32)
    labels = np.arange(20) < 10
    with pytest.raises(ValueError, match="exceeds"):
        ExpertFinder(k=11).fit(x, labels)
    with pytest.raises(ValueError, match=r"positive|negative|class"):
        ExpertFinder(k=2).fit(x, np.ones(20, bool))
    with pytest.raises(ValueError, match="one entry per sentence"):
        ExpertFinder(k=2).fit(x, labels[:5])
    with pytest.raises(ValueError, match="score"):
        ExpertFinder(k=2, score="f1").fit(x, labels)
    x[3, 4] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        ExpertFinder(k=2).fit(x, labels)


def test_find_experts_bad_languages():
    loaded = tiny_model("llama")
    with pytest.raises(ValueError, match="not in the corpus"):
        find_experts(loaded, toy_corpus(), ["fra_Latn"], negatives=["deu_Latn"], progress=False)
    with pytest.raises(ValueError, match="negatives"):
        find_experts(loaded, toy_corpus(), ["eng_Latn"], progress=False)
    from langsteer.languages import UnknownLanguageError

    with pytest.raises(UnknownLanguageError):
        find_experts(loaded, toy_corpus(), ["klingon"], progress=False)
