"""The comparison of every method on the same sentences: planted spaces, real embedding methods."""

from __future__ import annotations

import numpy as np
import pytest

from langsteer.evaluation import (
    GEOMETRY_QUANTITIES,
    BitextRetrievalEvaluator,
    Space,
    SpaceScores,
    geometry_means,
    heldout_score,
    leaderboard,
    paired_bootstrap_means,
    rows_of,
    score_space,
    select,
    select_layer,
)
from langsteer.evaluation.leaderboard import Row
from langsteer.methods import make_method
from langsteer.methods.embedding import fit_whitening, ledoit_wolf_shrinkage

LANGS = ("eng", "deu", "fra")
D = 16
ROW_KEYS = {
    "method",
    "name",
    "kind",
    "target",
    "embedding",
    "layer",
    "top1",
    "delta",
    "ci95",
    "verdict",
    "selected_on",
    "selection_score",
    "in_sample",
    "supervised",
    "n",
    "fitted",
    "selection_margin",
}


def _methods(*names: str, **params) -> dict:
    return {name: make_method(name, **params) for name in names}


def _layered(rng: np.random.Generator, n: int, offsets: dict) -> dict[str, np.ndarray]:
    """Three layers of the same sentences: 0 = noise, 1 = meaning + big language offsets,
    2 = meaning only. Raw retrieval fails at 0 and 1; per-language centring recovers 1."""
    sem = rng.normal(size=(n, D))
    out = {}
    for lang in LANGS:
        noise = rng.normal(size=(n, D))
        offset = sem + offsets[lang] + 0.05 * rng.normal(size=(n, D))
        clean = sem + 0.05 * rng.normal(size=(n, D))
        out[lang] = np.stack([noise, offset, clean], axis=1).astype(np.float32)
    return out


def _world(seed: int = 0, n: int = 20, m: int = 40) -> tuple[dict, dict]:
    """Evaluated and held-out splits: other sentences, the same language offsets."""
    rng = np.random.default_rng(seed)
    offsets = {lang: 40.0 * rng.normal(size=D) for lang in LANGS}
    return _layered(rng, n, offsets), _layered(rng, m, offsets)


def test_score_space_shapes_per_layer_means_and_geometry() -> None:
    evaluated, heldout = _world()
    methods = _methods("none", "per-language-centring", "whitening")
    space = Space("original model", evaluated, heldout, target="eng")
    out = score_space(space, methods)
    assert out.layers == [0, 1, 2] and (out.space, out.target, out.method) == (
        "original model",
        "eng",
        None,
    )
    for label in methods:
        assert out.scores[label].shape == (3, 20) and out.selection[label].shape == (3,)
        assert out.per_layer(label) == pytest.approx(out.scores[label].mean(axis=1).tolist())
        assert set(out.fitted[label]) == {"0", "1", "2"}
        assert set(out.geometry[label]) == set(GEOMETRY_QUANTITIES)
        assert all(len(v) == 3 for v in out.geometry[label].values())
    # each layer's mean is the evaluator's mean top-1 of the space transformed by a method
    # fitted on the held-out rows of that layer
    raw = out.per_layer("none")
    for layer in range(3):
        ev_l, ho_l = select_layer(evaluated, layer), select_layer(heldout, layer)
        want = BitextRetrievalEvaluator().evaluate(ev_l)["bitext.top1.mean"]
        assert raw[layer] == pytest.approx(want, abs=1e-12)
        means = {lang: ho_l[lang].astype(np.float64).mean(0) for lang in LANGS}
        ev = BitextRetrievalEvaluator(centering="per-language", means=means)
        centred = out.per_layer("per-language-centring")[layer]
        assert centred == pytest.approx(ev.evaluate(ev_l)["bitext.top1.mean"], abs=1e-12)
        fitted = make_method("per-language-centring").fit(ho_l)
        assert out.geometry["per-language-centring"]["mean_to_medoid"][layer] == pytest.approx(
            geometry_means(fitted.transform(ev_l), "eng")["mean_to_medoid"]
        )
    # the planted structure: noise fails everywhere, offsets fail raw but not centred, clean works
    assert raw[0] < 0.3 and raw[1] < 0.3 and raw[2] == 1.0
    assert out.per_layer("per-language-centring")[1] > 0.9
    assert out.selection["per-language-centring"][1] > 0.9 > 0.3 > out.selection["none"][1]
    # a subset of layers, no geometry
    some = score_space(space, methods, layers=[0, 2], geometry=False)
    assert some.layers == [0, 2] and some.scores["none"].shape == (2, 20) and some.geometry == {}
    np.testing.assert_array_equal(some.scores["none"][1], out.scores["none"][2])


def test_the_selection_score_never_looks_at_the_evaluated_rows() -> None:
    evaluated, heldout = _world(seed=1)
    methods = {
        **_methods("none", "global-centring", "per-language-centring", "whitening"),
        "whitening (in-sample)": make_method("whitening", fit_on="evaluated"),
    }
    first = score_space(Space("s", evaluated, heldout), methods)
    rng = np.random.default_rng(99)
    other = {lang: rng.normal(size=(7, 3, D)).astype(np.float32) for lang in LANGS}
    changed = score_space(Space("s", other, heldout), methods)
    for label in methods:
        np.testing.assert_array_equal(changed.selection[label], first.selection[label])
        assert changed.scores[label].shape == (3, 7)
    # the held-out rows are what it reads: change them and the selection scores change
    _, heldout2 = _world(seed=2)
    moved = score_space(Space("s", evaluated, heldout2), methods)
    for label in methods:
        assert not np.array_equal(moved.selection[label], first.selection[label])
    # (the evaluated scores of a method fitted on the evaluated rows do not move)
    np.testing.assert_array_equal(
        moved.scores["whitening (in-sample)"], first.scores["whitening (in-sample)"]
    )
    # heldout_score is the best fair selection score over (embedding method, layer)
    best = heldout_score(heldout, methods)
    fair = [k for k in methods if not k.endswith("(in-sample)")]
    top = max((first.selection[k][j], k, j) for k in fair for j in range(3))
    assert best["score"] == pytest.approx(top[0])
    assert first.selection[best["embedding"]][best["layer"]] == pytest.approx(best["score"])
    assert best["embedding"] != "whitening (in-sample)"


def test_without_a_heldout_split_selection_is_the_evaluated_score() -> None:
    evaluated, _ = _world(seed=3)
    out = score_space(Space("s", evaluated), _methods("none", "per-language-centring"))
    for label in out.scores:
        np.testing.assert_allclose(out.selection[label], out.scores[label].mean(axis=1))


def test_cross_fitting_refuses_fewer_than_four_heldout_rows() -> None:
    evaluated, heldout = _world(seed=4, m=3)
    methods = _methods("none", "per-language-centring")
    with pytest.raises(ValueError, match=">= 4"):
        score_space(Space("s", evaluated, heldout), methods)
    with pytest.raises(ValueError, match=">= 4"):
        heldout_score(heldout, methods)
    _, four = _world(seed=4, m=4)
    assert score_space(Space("s", evaluated, four), methods).selection["none"].shape == (3,)


def test_select_fixed_and_heldout() -> None:
    sc = SpaceScores("s", None, None, [0, 2, 5])
    sc.selection["a"] = np.array([0.1, np.nan, 0.3])
    sc.selection["b"] = np.array([0.4, 0.4, 0.2])
    assert select(sc, "a", "heldout", -1) == (5, "heldout")  # NaN layers ignored
    assert select(sc, "b", "heldout", -1) == (0, "heldout")  # the first layer wins a tie
    assert select(sc, "b", "evaluated", 0) == (0, "evaluated")
    assert select(sc, "a", "fixed", -1) == (5, "fixed")  # the last scored layer
    assert select(sc, "a", "fixed", 2) == (2, "fixed")  # fixed ignores the scores
    with pytest.raises(ValueError, match=r"evaluation\.layer 1 was not scored"):
        select(sc, "a", "fixed", 1)
    sc.selection["c"] = np.array([np.nan] * 3)
    with pytest.raises(ValueError, match="no finite selection score"):
        select(sc, "c", "heldout", -1)


def test_rows_of_labels_untouched_and_model_rows() -> None:
    evaluated, heldout = _world(seed=5)
    methods = {
        **_methods("none", "per-language-centring"),
        "plc (in-sample)": make_method("per-language-centring", fit_on="evaluated"),
    }
    base = score_space(Space("original model", evaluated, heldout), methods)
    rows = rows_of(base, methods, "heldout", -1)
    assert [r.method for r in rows] == list(methods) and {r.kind for r in rows} == {"embedding"}
    assert [r.in_sample for r in rows] == [False, False, True]
    assert rows[2].name == "per-language-centring"
    for r in rows:
        j = base.layers.index(r.layer)
        assert (
            r.selection_score == base.selection[r.embedding][j] == max(base.selection[r.embedding])
        )
        np.testing.assert_array_equal(r.scores, base.scores[r.embedding][j])
    post = score_space(
        Space("experts", evaluated, heldout, target="eng", method="experts"), methods
    )
    model = rows_of(post, methods, "fixed", 1, model_method=make_method("experts"))
    assert all(
        (r.kind, r.method, r.name, r.target, r.layer, r.selected_on)
        == ("model", "experts", "experts", "eng", 1, "fixed")
        for r in model
    )
    assert [r.embedding for r in model] == list(methods)


def _row(method: str, scores: np.ndarray, sel: float, kind: str = "embedding", **kw) -> Row:
    return Row(
        method=method,
        name=method,
        kind=kind,
        target=None if kind == "embedding" else "eng",
        embedding=method if kind == "embedding" else "none",
        layer=2,
        selected_on="heldout",
        scores=scores,
        selection_score=sel,
        **kw,
    )


def _planted_rows() -> list[Row]:
    rng = np.random.default_rng(0)
    n = 300
    base = rng.integers(0, 4, n) / 3
    better = np.minimum(base + 1 / 3, 1.0)
    worse = np.maximum(base - 1 / 3, 0.0)
    zero_mean = np.zeros(n)
    zero_mean[rng.permutation(n)[:80]] = np.repeat([1 / 3, -1 / 3], 40)
    return [
        _row("none", worse, 0.30),
        _row("per-language-centring", base, 0.50),
        _row("global-centring", better, 0.45),
        _row("whitening (in-sample)", better, 0.95, in_sample=True),
        _row("experts", better, 0.99, kind="model"),
        _row("random-units", base + zero_mean, 0.40, kind="model"),
        _row("experts x2", base + 2 * (better - base), 0.10, kind="model"),
    ]


def test_leaderboard_baseline_verdicts_and_keys() -> None:
    rows = _planted_rows()
    table, baseline = leaderboard(rows, n_boot=1000, seed=3)
    by = {r["method"]: r for r in table}
    # the baseline: the fair untouched-model row with the best selection score; neither the
    # in-sample row nor a model row, though both select higher, nor the fair row that scores
    # higher on the evaluated sentences but lower on the held-out split
    assert baseline["method"] == "per-language-centring"
    assert [r["method"] for r in table if r["verdict"] == "baseline"] == ["per-language-centring"]
    assert by["whitening (in-sample)"]["verdict"] == "better"
    assert by["whitening (in-sample)"]["in_sample"] is True
    assert by["experts"]["verdict"] == "better" and by["none"]["verdict"] == "worse"
    assert by["global-centring"]["verdict"] == "better"
    assert by["random-units"]["verdict"] == "no difference" and by["random-units"]["delta"] == (
        pytest.approx(0.0, abs=1e-12)
    )
    for r, row in zip(table, rows, strict=True):
        assert set(r) == ROW_KEYS and r["n"] == 300
        assert r["top1"] == pytest.approx(row.scores.mean())
        assert r["delta"] == pytest.approx(row.scores.mean() - rows[1].scores.mean())
        lo, hi = r["ci95"]
        assert lo <= r["delta"] <= hi
    assert by["per-language-centring"]["ci95"] == [0.0, 0.0]
    keys = {"method", "embedding", "layer", "top1", "selected_on", "n_boot", "ci", "test"}
    assert set(baseline) == keys
    assert baseline["n_boot"] == 1000 and baseline["top1"] == pytest.approx(rows[1].scores.mean())


def test_leaderboard_one_resampling_serves_every_row_and_is_seeded() -> None:
    rows = _planted_rows()
    table, _ = leaderboard(rows, n_boot=500, seed=11)
    by = {r["method"]: r for r in table}
    # the same resampled ids for every row: doubling a row's differences doubles its interval
    # exactly (independent draws would not), and equal rows get equal intervals
    assert by["experts x2"]["ci95"] == pytest.approx([2 * x for x in by["experts"]["ci95"]])
    assert by["experts"]["ci95"] == by["whitening (in-sample)"]["ci95"]
    # the interval is the percentile interval of paired_bootstrap_means with the same seed
    diffs = np.stack([r.scores - rows[1].scores for r in rows], axis=1)
    boots = paired_bootstrap_means(diffs, n_boot=500, seed=11)
    for j, r in enumerate(table):
        assert r["ci95"] == pytest.approx(np.quantile(boots[:, j], [0.025, 0.975]), abs=1e-11)
    assert leaderboard(rows, n_boot=500, seed=11)[0] == table
    assert leaderboard(rows, n_boot=500, seed=12)[0] != table
    with pytest.raises(ValueError, match="no untouched-model row"):
        leaderboard([r for r in rows if r.kind == "model" or r.in_sample])


def test_leaderboard_interval_covers_the_true_difference() -> None:
    rng = np.random.default_rng(8)
    n, sims, hits = 200, 150, 0
    for s in range(sims):
        base = (rng.random(n) < 0.5).astype(float)
        inter = np.maximum(base, rng.random(n) < 0.2)  # paired: E[inter - base] = 0.5 * 0.2
        rows = [_row("none", base, 0.5), _row("experts", inter, 0.5, kind="model")]
        lo, hi = leaderboard(rows, n_boot=500, seed=s)[0][1]["ci95"]
        hits += lo <= 0.1 <= hi
    assert 0.88 <= hits / sims <= 0.99


def test_paired_bootstrap_means_blocks_and_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    from langsteer.evaluation import bootstrap

    diffs = np.random.default_rng(9).normal(size=(7, 2))
    boots = paired_bootstrap_means(diffs, n_boot=300, seed=1)
    assert boots.shape == (300, 2)
    idx = np.random.default_rng(1).integers(0, 7, size=(300, 7))
    np.testing.assert_allclose(boots[:, 1], diffs[idx, 1].mean(1))  # same ids for every column
    np.testing.assert_allclose(boots[:, 0], diffs[idx, 0].mean(1))
    monkeypatch.setattr(bootstrap, "_BLOCK_ELEMENTS", 20)  # many blocks: the same draws
    np.testing.assert_array_equal(paired_bootstrap_means(diffs, n_boot=300, seed=1), boots)
    with pytest.raises(ValueError, match="n_boot"):
        paired_bootstrap_means(diffs, n_boot=0)
    with pytest.raises(ValueError, match="paired differences"):
        paired_bootstrap_means(np.ones(5))


# --- whitening, the embedding method no centring can replace ------------------------------------


def _nuisance(rng: np.random.Generator, n: int, directions: np.ndarray) -> dict[str, np.ndarray]:
    """Shared meaning + huge per-sentence noise along a few shared directions (mean 0 in every
    language, so no centring touches it; only rescaling those directions lets the meaning
    through). One layer, ``directions.shape[1]`` dimensions."""
    k, d = directions.shape
    sem = rng.normal(size=(n, d))
    return {
        lang: (
            sem + 30.0 * rng.normal(size=(n, k)) @ directions + 0.05 * rng.normal(size=(n, d)) + 5
        ).astype(np.float32)[:, None, :]
        for lang in LANGS
    }


def test_whitening_wins_where_centring_cannot_and_in_sample_is_never_the_baseline() -> None:
    rng = np.random.default_rng(10)
    dirs = np.linalg.qr(rng.normal(size=(48, 6)))[0].T  # 6 orthonormal rows in 48 dimensions
    methods = {
        **_methods("none", "global-centring", "per-language-centring", "whitening"),
        "whitening (in-sample)": make_method("whitening", fit_on="evaluated"),
    }
    same = score_space(
        Space("s", _nuisance(rng, 30, dirs[:3]), _nuisance(rng, 100, dirs[:3])), methods
    )
    means = {k: float(v.mean()) for k, v in same.scores.items()}
    assert means["whitening"] > 0.95 and means["whitening (in-sample)"] > 0.95
    assert max(means["none"], means["global-centring"], means["per-language-centring"]) < 0.3
    # held-out noise along OTHER directions: a held-out fit cannot know the evaluated ones, the
    # in-sample fit does; it scores best on both splits, but it is never the baseline
    other = score_space(
        Space("s", _nuisance(rng, 30, dirs[:3]), _nuisance(rng, 100, dirs[3:])), methods
    )
    in_sample = other.scores["whitening (in-sample)"].mean()
    assert other.scores["whitening"].mean() < 0.3 < 0.95 < in_sample
    assert other.selection["whitening (in-sample)"][0] == max(
        x[0] for x in other.selection.values()
    )
    table, baseline = leaderboard(rows_of(other, methods, "heldout", -1), n_boot=300)
    by = {r["method"]: r for r in table}
    assert baseline["method"] == "whitening"  # the best fair selection score (held-out)
    assert by["whitening (in-sample)"]["top1"] == max(r["top1"] for r in table)
    assert by["whitening (in-sample)"]["verdict"] == "better"


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
    space = {lang: rng.normal(size=(40, D)) + rng.normal(size=D) for lang in LANGS}
    whitened = fit_whitening(space, shrinkage=1.0).apply(space)
    np.testing.assert_allclose(
        BitextRetrievalEvaluator().sentence_scores(whitened),
        BitextRetrievalEvaluator(centering="global").sentence_scores(space),
        atol=1e-12,
    )
    with pytest.raises(ValueError, match="shrinkage"):
        fit_whitening(space, shrinkage=1.5)


def test_choices_start_where_the_method_acts_and_ties_go_to_the_larger_margin() -> None:
    """Layers before a method's first edited hidden state are the untouched model's: a model
    method's row (or candidate) must not be chosen there; a top-1 tie (saturated on a small
    held-out split) is broken by the mean retrieval margin."""
    sc = SpaceScores("s", "fra", "steer", [0, 1, 2, 3, 4], first_layer=3)
    sc.selection["a"] = np.array([1.0, 1.0, 0.9, 0.8, 0.8])
    sc.margin["a"] = np.array([0.5, 0.6, 0.1, 0.2, 0.3])
    assert select(sc, "a", "heldout", -1) == (4, "heldout")  # best of 3..4, the tie by margin
    sc.first_layer = 0
    assert select(sc, "a", "heldout", -1) == (1, "heldout")


def test_first_hidden_state_of_a_handle() -> None:
    from langsteer.methods.hooks import Edit, HookSet
    from langsteer.models import decoder_blocks, tiny_model

    loaded = tiny_model("llama")
    blocks = [path for path, _ in decoder_blocks(loaded.model)]

    def noop(x):
        return None

    with HookSet(loaded, [Edit(blocks[1], "out", noop)], {}) as h:
        assert h.first_hidden_state() == 2
    mlp = f"{blocks[0]}.mlp.up_proj"
    with HookSet(loaded, [Edit(blocks[1], "out", noop), Edit(mlp, "out", noop)], {}) as h:
        assert h.first_hidden_state() == 1
