"""Controls beside every gain: planted spaces whose right answers are known by construction."""

from __future__ import annotations

import numpy as np
import pytest

from langsteer.evaluation.controls import (
    CONTROLS,
    GEOMETRY_CONTROLS,
    GEOMETRY_QUANTITIES,
    NO_HELDOUT_NOTE,
    best_layer,
    check_disjoint,
    control_table,
    geometry_means,
    heldout_means,
    heldout_whitening,
    paired_bootstrap_means,
    per_layer_controls,
    pick_controls,
    sentence_scores,
    verdict,
)
from langsteer.evaluation.evaluators import BitextRetrievalEvaluator
from langsteer.evaluation.geometry import (
    MEDOID_DEFINITIONS,
    distance_to_point,
    fit_whitening,
    ledoit_wolf_shrinkage,
    point_medoid,
)
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


# --- whitening ---------------------------------------------------------------------------------


def _nuisance_space(
    rng: np.random.Generator, n: int, directions: np.ndarray, scale: float = 30.0
) -> dict[str, np.ndarray]:
    """Shared semantics + huge per-sentence, per-language noise along a few shared directions.

    The noise has mean 0 in every language, so no centring (global or per-language) touches it;
    only rescaling those high-variance directions (whitening) lets the semantics through.
    """
    sem = rng.normal(size=(n, D))
    k = directions.shape[0]
    return {
        lang: (
            sem + scale * rng.normal(size=(n, k)) @ directions + 0.05 * rng.normal(size=(n, D)) + 5
        ).astype(np.float32)
        for lang in LANGS
    }


def _directions(rng: np.random.Generator, k: int = 6) -> np.ndarray:
    return np.linalg.qr(rng.normal(size=(D, k)))[0].T  # k orthonormal rows


def test_whitening_recovers_anisotropic_noise_that_no_centring_removes() -> None:
    rng = np.random.default_rng(10)
    dirs = _directions(rng)[:3]
    evaluated = _nuisance_space(rng, 60, dirs)
    heldout = _nuisance_space(rng, 400, dirs)  # other sentences, same construction
    table = control_table(
        {"pre": evaluated},
        held_out_means={"pre": heldout_means(heldout)},
        held_out_whitening={"pre": heldout_whitening(heldout)},
        return_scores=True,
    )
    row = table["pre"]
    for control in ("raw", "global", "per_language_heldout", "per_language_optimistic"):
        assert row[control] < 0.1
    assert row["whitening_heldout"] == 1.0 and row["whitening_optimistic"] > 0.99
    rec = table["whitening"]["pre"]
    assert rec["heldout"]["n"] == 4 * 400 and rec["optimistic"]["n"] == 4 * 60
    assert rec["heldout"]["shrinkage_method"] == "ledoit-wolf"
    assert "OPTIMISTIC" in table["definitions"]["whitening_optimistic"]
    assert table["scores"]["pre (whitening, held-out estimate)"].mean() == 1.0
    # fewer held-out rows than dimensions (24 < 48): shrinkage keeps it defined and useful
    small = heldout_whitening(_nuisance_space(rng, 6, dirs))
    assert small.n == 24 and small.shrinkage > 0.01 and np.all(np.isfinite(small.scales))
    few = control_table({"pre": evaluated}, held_out_whitening={"pre": small})["pre"]
    assert few["whitening_heldout"] > 0.3 > few["global"]


def test_whitening_is_shrunk_zca_and_ledoit_wolf_matches_scikit_learn() -> None:
    rng = np.random.default_rng(11)
    for n, d in ((30, 100), (400, 12)):  # n < d and n > d
        x = rng.normal(size=(n, d)) @ rng.normal(size=(d, d))
        w = fit_whitening({"a": x}, shrinkage=0.3)
        z = x - x.mean(0)
        cov = z.T @ z / n
        vals, vecs = np.linalg.eigh(0.7 * cov + 0.3 * np.trace(cov) / d * np.eye(d))
        by_hand = z @ (vecs @ np.diag(vals**-0.5) @ vecs.T)
        np.testing.assert_allclose(w.apply({"a": x})["a"], by_hand, rtol=1e-4, atol=1e-4)
        covariance = pytest.importorskip("sklearn.covariance")
        want = covariance.ledoit_wolf_shrinkage(z, assume_centered=True)
        assert ledoit_wolf_shrinkage(z) == pytest.approx(want, rel=1e-9)
    # shrinkage 1 is global centring up to one scale: same cosine ranking, same scores
    space = _offset_space(rng, 40, _offsets(rng, scale=2.0), noise=1.0)
    whitened = fit_whitening(space, shrinkage=1.0).apply(space)
    np.testing.assert_allclose(
        sentence_scores(whitened), sentence_scores(space, centering="global"), atol=1e-12
    )
    with pytest.raises(ValueError, match="shrinkage"):
        fit_whitening(space, shrinkage=1.5)


def test_heldout_whitening_never_uses_the_evaluated_sentences() -> None:
    rng = np.random.default_rng(12)
    dirs = _directions(rng)
    evaluated = _nuisance_space(rng, 60, dirs[:3])
    # Held-out noise along OTHER directions: a leak-free estimate cannot know the evaluated ones.
    heldout = _nuisance_space(rng, 400, dirs[3:])
    w = heldout_whitening(heldout)
    assert w.n == 4 * 400
    pooled = np.concatenate([heldout[lang].astype(np.float64) for lang in LANGS])
    np.testing.assert_allclose(w.mean, pooled.mean(0))
    row = control_table({"pre": evaluated}, held_out_whitening={"pre": w})["pre"]
    assert row["whitening_heldout"] < 0.1 < 0.99 < row["whitening_optimistic"]
    # the evaluated space changes, the held-out fit does not (it never saw it)
    again = heldout_whitening(heldout)
    np.testing.assert_array_equal(again.mean, w.mean)
    np.testing.assert_array_equal(again.scales, w.scales)
    with pytest.raises(ValueError, match="evaluated sentences' own mean"):
        control_table({"pre": evaluated}, held_out_whitening={"pre": heldout_whitening(evaluated)})
    with pytest.raises(ValueError, match="both evaluated and held out"):
        heldout_whitening(heldout, eval_ids=range(60), heldout_ids=range(50, 450))


# --- per layer and the verdict's competitors ----------------------------------------------------


def _layered(rng: np.random.Generator, n: int, n_layers: int) -> dict[str, np.ndarray]:
    """Layer l of every language = an offset space, offsets growing with l."""
    offsets = _offsets(rng, scale=1.0)
    sem = rng.normal(size=(n, n_layers, D))
    scale = np.arange(1, n_layers + 1, dtype=float)[None, :, None] * 5.0
    return {
        lang: (sem + scale * off + 0.5 * rng.normal(size=(n, n_layers, D))).astype(np.float32)
        for lang, off in offsets.items()
    }


def test_per_layer_controls_shapes_keys_and_headline_agreement() -> None:
    rng = np.random.default_rng(13)
    n_layers = 4
    spaces = {name: _layered(rng, 30, n_layers) for name in ("pre", "post", "random")}
    held = {name: _layered(rng, 12, n_layers) for name in spaces}
    out = per_layer_controls(spaces, held, target="en")
    assert out["layers"] == list(range(n_layers))
    assert "0 = token embeddings" in out["layer_numbering"]
    assert set(out["retrieval"]) == set(spaces) == set(out["geometry"])
    for name in spaces:
        assert set(out["retrieval"][name]) == set(CONTROLS)
        assert all(len(v) == n_layers for v in out["retrieval"][name].values())
        assert set(out["geometry"][name]) == set(GEOMETRY_CONTROLS)
        for control in GEOMETRY_CONTROLS:
            geo = out["geometry"][name][control]
            assert set(geo) == set(GEOMETRY_QUANTITIES)
            assert all(len(v) == n_layers and np.all(np.isfinite(v)) for v in geo.values())
        assert all(len(v) == n_layers for v in out["whitening_shrinkage"][name].values())
    # each layer agrees with the one-layer table and geometry on the same split
    layer = 2
    one = {k: {lang: x[:, layer] for lang, x in v.items()} for k, v in spaces.items()}
    h1 = {k: {lang: x[:, layer] for lang, x in v.items()} for k, v in held.items()}
    table = control_table(
        one,
        held_out_means={k: heldout_means(v) for k, v in h1.items()},
        held_out_whitening={k: heldout_whitening(v) for k, v in h1.items()},
    )
    for name in spaces:
        for control in CONTROLS:
            assert out["retrieval"][name][control][layer] == pytest.approx(table[name][control])
    raw = geometry_means(one["pre"], "en")
    for q, v in raw.items():
        assert out["geometry"]["pre"]["raw"][q][layer] == pytest.approx(v)
    assert out["notes"] == []
    # no held-out split: held-out entries NaN, a note per space, optimistic ones still there
    bare = per_layer_controls({"pre": spaces["pre"]}, target="en", layers=[0, 3])
    assert bare["layers"] == [0, 3]
    assert np.all(np.isnan(bare["retrieval"]["pre"]["per_language_heldout"]))
    assert np.all(np.isnan(bare["geometry"]["pre"]["whitening_heldout"]["mean_to_medoid"]))
    assert np.all(np.isfinite(bare["retrieval"]["pre"]["whitening_optimistic"]))
    assert len(bare["notes"]) == 2 and all("held-out" in x for x in bare["notes"])


def _at_angle(deg: float) -> np.ndarray:
    """Four 2-D rows whose raw mean is exactly the unit vector at ``deg`` (symmetric jitter)."""
    c = np.array([np.cos(np.radians(deg)), np.sin(np.radians(deg))])
    return c + np.array([[0.1, -0.2], [-0.1, 0.2], [0.3, 0.05], [-0.3, -0.05]])


def test_geometry_means_medoid_is_a_point_and_counts_every_nontarget_language() -> None:
    # Centroids at 0, 45 and 90 degrees; the language-centroid medoid is "b", the target is "c".
    space = {"a": _at_angle(0), "b": _at_angle(45), "c": _at_angle(90)}
    d45 = 1.0 - np.cos(np.radians(45))
    # Default: the paper's medoid, one sentence embedding; a language's distance to it is the
    # mean over its sentences. Every language but the target counts (the medoid's own too).
    m = point_medoid(space)
    to_med = distance_to_point(space, m.vector)
    g = geometry_means(space, "c")
    assert g["mean_to_medoid"] == pytest.approx((to_med["a"] + to_med["b"]) / 2)
    assert geometry_means(space)["mean_to_medoid"] == pytest.approx(np.mean(list(to_med.values())))
    # The language-centroid variant: same medoid language as before, but it is no longer dropped
    # from the mean; it counts at distance 0. (The old code gave d45, the distance of "a" alone.)
    old = geometry_means(space, "c", medoid="centroid-language")
    assert old["mean_to_medoid"] == pytest.approx((d45 + 0.0) / 2)
    assert old["mean_pairwise_centroid"] == g["mean_pairwise_centroid"]
    with pytest.raises(ValueError, match="medoid"):
        geometry_means(space, "c", medoid="mean")  # type: ignore[arg-type]
    # per-language centred: centroids ~0, the language medoid is undefined, the point one is not
    centred = {k: v - v.mean(axis=0) for k, v in space.items()}
    assert np.isnan(geometry_means(centred, "c", medoid="centroid-language")["mean_to_medoid"])
    assert np.isfinite(geometry_means(centred, "c")["mean_to_medoid"])


def test_per_layer_controls_records_the_medoid_variant() -> None:
    rng = np.random.default_rng(21)
    spaces = {"pre": _layered(rng, 20, 2)}
    point = per_layer_controls(spaces, target="en", layers=[1])
    assert point["variant"]["medoid"] == "point"
    assert point["definitions"]["medoid"] == MEDOID_DEFINITIONS["point"]
    assert point["definitions"]["mean_to_medoid"] == GEOMETRY_QUANTITIES["mean_to_medoid"]
    lang = per_layer_controls(spaces, target="en", layers=[1], medoid="centroid-language")
    assert lang["variant"]["medoid"] == "centroid-language"
    assert "centroid" in lang["definitions"]["mean_to_medoid"]
    one = {k: v[:, 1] for k, v in spaces["pre"].items()}
    for variant, out in (("point", point), ("centroid-language", lang)):
        expected = geometry_means(one, "en", medoid=variant)["mean_to_medoid"]
        assert out["geometry"]["pre"]["raw"]["mean_to_medoid"][0] == pytest.approx(expected)
    with pytest.raises(ValueError, match="medoid"):
        per_layer_controls(spaces, target="en", medoid="mean")  # type: ignore[arg-type]


def test_pick_controls_falls_back_to_optimistic_and_says_so() -> None:
    rng = np.random.default_rng(14)
    offsets = _offsets(rng)
    evaluated = _offset_space(rng, 30, offsets)
    bare = control_table({"pre": evaluated}, return_scores=True)["scores"]
    picked, note = pick_controls(bare, "pre")
    assert note == NO_HELDOUT_NOTE and "no held-out split" in note and "OPTIMISTIC" in note
    assert set(picked) == {
        "raw",
        "global centring",
        "per-language centring, evaluated means (optimistic)",
        "whitening, evaluated estimate (optimistic)",
    }
    heldout = _offset_space(rng, 200, offsets)
    fair = control_table(
        {"pre": evaluated},
        held_out_means={"pre": heldout_means(heldout)},
        held_out_whitening={"pre": heldout_whitening(heldout)},
        return_scores=True,
    )["scores"]
    picked, note = pick_controls(fair, "pre")
    assert note is None and not any("optimistic" in k for k in picked)
    assert "per-language centring, held-out means" in picked and len(picked) == 4
    with pytest.raises(ValueError, match="no scores"):
        pick_controls(fair, "post")


@pytest.mark.parametrize("n_center", [0, 8])
def test_pipeline_controls_per_layer_and_the_no_heldout_warning(tmp_path, n_center) -> None:
    from langsteer.config import config_from_dict
    from langsteer.study.pipeline import run_study
    from tests.test_pipeline import make_parallel_dir, save_tiny_model

    save_tiny_model(tmp_path / "model")
    cfg = config_from_dict(
        {
            "model": {"id": str(tmp_path / "model")},
            "corpus": {
                "source": str(make_parallel_dir(tmp_path / "corpus")),
                "n_expert": 16,
                "n_center": n_center,
                "n_eval": 14,
            },
            "experts": {"targets": ["eng"], "negatives": ["deu", "fra"], "k": 8},
            "evaluation": {"languages": ["eng", "deu", "fra"], "n_boot": 100},
            "analyses": {"paraphrase": False},
            "run": {"cache_dir": str(tmp_path / "cache"), "progress": False, "batch_size": 4},
        }
    )
    c = run_study(cfg, tmp_path / "out")["targets"]["eng_Latn"]["controls"]
    per_layer, v = c["per_layer"], c["verdict"]
    n_hidden = len(per_layer["layers"])
    assert per_layer["layers"] == list(range(n_hidden)) and n_hidden >= 2
    assert per_layer["headline_layer"] == -1 and "layer_numbering" in per_layer
    assert set(per_layer["retrieval"]) == {"pre", "post", "random"}
    raw_pre = per_layer["retrieval"]["pre"]["raw"]
    assert raw_pre[-1] == pytest.approx(c["table"]["pre"]["raw"])
    assert c["best_layer_pre"]["value"] == pytest.approx(max(raw_pre))
    assert len(per_layer["geometry"]["post"]["whitening_heldout"]["mean_pairwise_centroid"]) == (
        n_hidden
    )
    if n_center:
        assert "note" not in v and "WARNING" not in v["summary"]
        assert "mean.no intervention, whitening, held-out estimate" in v
        assert not any("optimistic" in k for k in v if k.startswith("mean."))
    else:
        assert v["note"] == NO_HELDOUT_NOTE
        assert v["summary"].startswith("WARNING: no held-out split: compared with OPTIMISTIC")
        assert "mean.no intervention, per-language centring, evaluated means (optimistic)" in v
        assert all(x is None for x in per_layer["retrieval"]["pre"]["per_language_heldout"])
