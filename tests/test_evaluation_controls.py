"""Controls beside every gain: planted spaces whose right answers are known by construction."""

from __future__ import annotations

import numpy as np
import pytest

from langsteer.evaluation.controls import (
    best_layer,
    check_disjoint,
    control_table,
    heldout_means,
    paired_bootstrap_means,
    sentence_scores,
    verdict,
)
from langsteer.evaluation.evaluators import BitextRetrievalEvaluator
from langsteer.metrics.retrieval import pairwise_top1

LANGS = ("en", "fr", "de", "ru")
D = 48


def _offsets(rng: np.random.Generator, scale: float = 40.0) -> dict[str, np.ndarray]:
    return {lang: scale * rng.normal(size=D) for lang in LANGS}


def _offset_space(
    rng: np.random.Generator, n: int, offsets: dict[str, np.ndarray], noise: float = 0.05
) -> dict[str, np.ndarray]:
    """Shared semantic vectors + a big language offset + small noise: centring alone suffices."""
    sem = rng.normal(size=(n, D))
    return {
        lang: (sem + off + noise * rng.normal(size=(n, D))).astype(np.float32)
        for lang, off in offsets.items()
    }


def _rotations(rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {lang: np.linalg.qr(rng.normal(size=(D, D)))[0] for lang in LANGS}


def _rotated_space(
    rng: np.random.Generator, n: int, rotations: dict[str, np.ndarray], noise: float = 0.05
) -> dict[str, np.ndarray]:
    """Translations share a semantic vector, but each language sees it through its own rotation."""
    sem = rng.normal(size=(n, D))
    return {
        lang: (sem @ rot + 3.0 + noise * rng.normal(size=(n, D))).astype(np.float32)
        for lang, rot in rotations.items()
    }


def test_offsets_raw_fails_heldout_per_language_centring_recovers_global_does_not() -> None:
    rng = np.random.default_rng(0)
    offsets = _offsets(rng)
    evaluated = _offset_space(rng, 60, offsets)
    heldout = _offset_space(rng, 4000, offsets)  # other sentences, same construction
    table = control_table(
        {"pre": evaluated}, held_out_means={"pre": heldout_means(heldout)}, return_scores=True
    )
    row = table["pre"]
    assert row["raw"] < 0.3
    assert row["global"] < 0.3  # one shared mean cannot remove four different offsets
    assert row["per_language_heldout"] == 1.0
    assert row["per_language_optimistic"] == 1.0
    assert row["n"] == 60.0
    assert set(table["definitions"]) >= {"raw", "global", "per_language_heldout"}
    assert "OPTIMISTIC" in table["definitions"]["per_language_optimistic"]
    scores = table["scores"]["pre (per-language centring, held-out means)"]
    assert scores.shape == (60,) and scores.mean() == row["per_language_heldout"]


def test_missing_heldout_means_is_nan_with_a_note() -> None:
    rng = np.random.default_rng(1)
    table = control_table({"pre": _offset_space(rng, 20, _offsets(rng))})
    assert np.isnan(table["pre"]["per_language_heldout"])
    assert any("pre" in note and "held-out" in note for note in table["notes"])
    with pytest.raises(ValueError, match="reserved"):
        control_table({"notes": _offset_space(rng, 5, _offsets(rng))})


def test_rotations_only_the_right_space_recovers_and_verdict_says_so() -> None:
    rng = np.random.default_rng(2)
    n = 80
    rotations = _rotations(rng)
    pre = _rotated_space(rng, n, rotations)
    pre_heldout = _rotated_space(rng, 2 * n, rotations)  # same construction, other sentences
    sem = rng.normal(size=(n, D))
    post = {lang: (sem + 0.05 * rng.normal(size=(n, D))).astype(np.float32) for lang in LANGS}
    table = control_table(
        {"pre": pre, "post": post},
        held_out_means={"pre": heldout_means(pre_heldout)},
        return_scores=True,
    )
    for control in ("raw", "global", "per_language_heldout", "per_language_optimistic"):
        assert table["pre"][control] < 0.2  # centring cannot undo a rotation
    assert table["post"]["raw"] == 1.0
    sc = table["scores"]
    baselines = {k: v for k, v in sc.items() if k.startswith("pre ") and "optimistic" not in k}
    res = verdict(sc["post (raw)"], baselines, intervention_name="experts (post)")
    assert res["beats_best_baseline"] is True and res["winner"] == "experts (post)"
    for b in baselines:
        assert res[f"ci_low.{b}"] > 0 and res[f"delta.{b}"] > 0.7
    assert res["best_baseline"] in baselines
    assert "winner: experts (post)" in res["summary"] and "excludes 0" in res["summary"]


def test_verdict_names_the_control_when_centring_alone_does_better() -> None:
    rng = np.random.default_rng(3)
    n = 400
    post = (rng.random(n) < 0.28).astype(float)
    centred = (rng.random(n) < 0.44).astype(float)
    raw = (rng.random(n) < 0.01).astype(float)
    res = verdict(
        post,
        {"raw pre": raw, "per-language centring (held-out means), no intervention": centred},
        intervention_name="experts (k=300, last layer)",
    )
    best = "per-language centring (held-out means), no intervention"
    assert res["best_baseline"] == best and res["winner"] == best
    assert res["beats_best_baseline"] is False
    assert res["ci_high." + best] < 0 < res["ci_low.raw pre"]
    assert res["summary"].startswith("experts (k=300, last layer): mean top-1")
    assert f"winner: the baseline {best}" in res["summary"] and "excludes 0" in res["summary"]
    tie = verdict(centred, {"same": centred.copy()}, n_boot=200)
    assert tie["winner"] == "none" and "includes 0" in tie["summary"]


def test_heldout_means_use_only_the_heldout_split_and_equal_a_hand_computation() -> None:
    rng = np.random.default_rng(4)
    offsets = _offsets(rng)
    evaluated = _offset_space(rng, 40, offsets)
    # Held-out sentences built with SHIFTED offsets: a leak-free mean must carry the shift.
    shift = {lang: 25.0 * rng.normal(size=D) for lang in LANGS}
    shifted = {lang: offsets[lang] + shift[lang] for lang in LANGS}
    heldout = _offset_space(rng, 500, shifted)
    means = heldout_means(heldout)
    for lang in LANGS:
        np.testing.assert_array_equal(means[lang], heldout[lang].astype(np.float64).mean(0))
        assert np.linalg.norm(means[lang] - evaluated[lang].mean(0)) > 100  # the shift, not 0
    got = sentence_scores(evaluated, centering="per-language", means=means)
    by_hand = {lang: evaluated[lang].astype(np.float64) - means[lang] for lang in LANGS}
    res = pairwise_top1(by_hand, return_correct=True)
    np.testing.assert_allclose(got, np.mean([r.item_scores() for r in res.values()], axis=0))
    table = control_table({"pre": evaluated}, held_out_means={"pre": means})
    assert table["pre"]["per_language_heldout"] == pytest.approx(got.mean())
    assert table["pre"]["per_language_heldout"] < 0.5 < table["pre"]["per_language_optimistic"]
    # Changing the evaluated sentences never changes the held-out means.
    assert all(np.array_equal(heldout_means(heldout)[k], means[k]) for k in LANGS)


def test_leakage_guards_raise() -> None:
    check_disjoint([1, 2, 3], [4, 5])
    with pytest.raises(ValueError, match="both evaluated and held out"):
        check_disjoint(["a", "b", "c"], ["c", "d"])
    rng = np.random.default_rng(5)
    space = _offset_space(rng, 30, _offsets(rng))
    with pytest.raises(ValueError, match="both evaluated and held out"):
        heldout_means(space, eval_ids=range(30), heldout_ids=range(25, 60))
    with pytest.raises(ValueError, match="both evaluated and held out"):
        control_table({"pre": space}, eval_ids=[0, 1], heldout_ids=[1, 2])
    with pytest.raises(ValueError, match="evaluated sentences' own means"):
        control_table({"pre": space}, held_out_means={"pre": heldout_means(space)})


@pytest.mark.parametrize(
    ("kwargs", "queries"),
    [
        ({}, None),
        ({"centering": "per-language"}, None),
        ({"centering": "global", "direction": "both"}, ["fr"]),
        ({"direction": "strict-both"}, ["en", "de"]),
    ],
)
def test_sentence_scores_mean_equals_the_evaluators_mean_top1(kwargs, queries) -> None:
    rng = np.random.default_rng(6)
    offsets = _offsets(rng, scale=2.0)
    space = _offset_space(rng, 50, offsets, noise=1.0)  # mid accuracy: not all 0 or all 1
    s = sentence_scores(space, query_languages=queries, **kwargs)
    ev = BitextRetrievalEvaluator(query_languages=queries, **kwargs).evaluate(space)
    assert s.shape == (50,)
    assert 0.05 < s.mean() < 0.95
    assert s.mean() == pytest.approx(ev["bitext.top1.mean"], abs=1e-12)


def test_verdict_ci_covers_the_true_difference() -> None:
    rng = np.random.default_rng(8)
    n, sims, hits = 200, 150, 0
    for s in range(sims):
        base = (rng.random(n) < 0.5).astype(float)
        inter = np.maximum(base, rng.random(n) < 0.2)  # paired: E[inter - base] = 0.5 * 0.2
        res = verdict(inter, {"b": base}, n_boot=500, seed=s)
        hits += res["ci_low.b"] <= 0.1 <= res["ci_high.b"]
    assert 0.88 <= hits / sims <= 0.99


def test_bootstrap_blocks_and_errors() -> None:
    diffs = np.random.default_rng(9).normal(size=(7, 2))
    boots = paired_bootstrap_means(diffs, n_boot=300, seed=1)
    assert boots.shape == (300, 2)
    idx = np.random.default_rng(1).integers(0, 7, size=(300, 7))
    np.testing.assert_allclose(boots[:, 1], diffs[idx, 1].mean(1))  # same ids for every column
    with pytest.raises(ValueError, match="not paired"):
        verdict(np.ones(5), {"b": np.ones(4)})
    with pytest.raises(ValueError, match="at least one baseline"):
        verdict(np.ones(5), {})


def test_best_layer() -> None:
    assert best_layer([0.01, 0.46, 0.3, 0.46]) == {"layer": 1, "value": 0.46}
    assert best_layer([float("nan"), 0.2]) == {"layer": 1, "value": 0.2}
    with pytest.raises(ValueError):
        best_layer([])
