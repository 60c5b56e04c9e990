"""Pearson r with bootstrap CIs: agreement with scipy, coverage, degenerate cases, Table 2 rows."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from langsteer.evaluation.correlation import (
    PAPER_ROWS,
    bootstrap_pearson,
    paper_correlations,
    pearson_with_ci,
)


def _bivariate(rng: np.random.Generator, n: int, rho: float) -> tuple[np.ndarray, np.ndarray]:
    x = rng.normal(size=n)
    y = rho * x + math.sqrt(1 - rho**2) * rng.normal(size=n)
    return x, y


def test_r_and_p_value_match_scipy() -> None:
    rng = np.random.default_rng(0)
    for n, rho in [(5, 0.3), (22, -0.6), (200, 0.1)]:
        x, y = _bivariate(rng, n, rho)
        res = pearson_with_ci(x, y, n_boot=500)
        ref = stats.pearsonr(x, y)
        assert res["r"] == pytest.approx(ref.statistic, abs=1e-12)
        assert res["p_value"] == pytest.approx(ref.pvalue, rel=1e-9)
        assert res["ci_low"] <= res["r"] <= res["ci_high"]
        assert res["n"] == n
        assert res["note"] == "" or n < 10  # tiny n: a few resamples repeat one point


def test_vectorised_bootstrap_equals_a_loop() -> None:
    rng = np.random.default_rng(3)
    x, y = _bivariate(rng, 12, 0.5)
    boots = bootstrap_pearson(x, y, n_boot=64, seed=7)
    idx = np.random.default_rng(7).integers(0, 12, size=(64, 12))
    loop = [stats.pearsonr(x[i], y[i]).statistic for i in idx]
    np.testing.assert_allclose(boots, loop, atol=1e-12)


def test_seeded_and_reproducible() -> None:
    x, y = _bivariate(np.random.default_rng(1), 30, 0.4)
    assert pearson_with_ci(x, y, n_boot=300, seed=5) == pearson_with_ci(x, y, n_boot=300, seed=5)
    assert pearson_with_ci(x, y, n_boot=300, seed=5) != pearson_with_ci(x, y, n_boot=300, seed=6)


def test_ci_covers_true_r_in_most_simulations() -> None:
    rho, hits, sims = 0.5, 0, 200
    rng = np.random.default_rng(2024)
    for s in range(sims):
        x, y = _bivariate(rng, 50, rho)
        res = pearson_with_ci(x, y, n_boot=1000, seed=s)
        hits += res["ci_low"] <= rho <= res["ci_high"]
    assert 0.90 <= hits / sims <= 0.99


def test_degenerate_data_gives_nan_and_a_note() -> None:
    res = pearson_with_ci([1.0, 2.0], [3.0, 5.0])
    assert math.isnan(res["r"]) and math.isnan(res["ci_low"]) and math.isnan(res["p_value"])
    assert "n=2" in res["note"]
    res = pearson_with_ci([0.0, 0.0, 0.0, 0.0], [1.0, 2.0, 3.0, 4.0])
    assert math.isnan(res["r"]) and "x is constant" in res["note"]
    res = pearson_with_ci([1.0, 2.0, 3.0], [1.0, 1.0, 1.0])
    assert "y is constant" in res["note"]
    # n=3: some resamples repeat one point; they are counted and left out, not crashed on.
    res = pearson_with_ci([1.0, 2.0, 3.5], [2.0, 1.0, 4.0], n_boot=200)
    assert res["n_boot_degenerate"] > 0 and "left out" in res["note"]
    assert -1.0 <= res["ci_low"] <= res["ci_high"] <= 1.0


def test_invalid_input_raises() -> None:
    with pytest.raises(ValueError, match="length"):
        pearson_with_ci([1.0, 2.0, 3.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="non-finite"):
        pearson_with_ci([1.0, float("nan"), 3.0], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="1-D"):
        pearson_with_ci(np.ones((3, 2)), np.ones((3, 2)))
    with pytest.raises(ValueError, match="ci"):
        pearson_with_ci([1.0, 2.0, 3.0], [1.0, 3.0, 2.0], ci=1.5)


def test_paper_correlations_planted() -> None:
    langs = ["deu_Latn", "fra_Latn", "spa_Latn", "jpn_Jpan", "zho_Hans"]
    d_pre = dict(zip(langs, [0.9, 0.8, 0.7, 0.95, 0.85], strict=True))
    d_post = dict(zip(langs, [0.3, 0.4, 0.2, 0.6, 0.5], strict=True))
    acc_pre = {k: 1.0 - v for k, v in d_pre.items()}  # accuracy falls exactly with distance
    acc_post = {k: 1.0 - v for k, v in d_post.items()}
    rows = paper_correlations(acc_pre, acc_post, d_pre, d_post, n_boot=200)
    assert list(rows) == list(PAPER_ROWS)
    assert rows["acc_post~d_post"]["r"] == pytest.approx(-1.0)
    assert rows["acc_pre~d_pre"]["r"] == pytest.approx(-1.0)
    assert rows["acc_gain~d_drop"]["r"] == pytest.approx(1.0)  # gain == drop by construction
    assert rows["d_post~d_pre"]["r"] == pytest.approx(
        stats.pearsonr([d_post[k] for k in langs], [d_pre[k] for k in langs]).statistic
    )
    assert rows["acc_gain~d_drop"]["x"] == "acc_post - acc_pre"
    sub = paper_correlations(acc_pre, acc_post, d_pre, d_post, languages=langs[:3], n_boot=50)
    assert sub["acc_pre~d_pre"]["n"] == 3
    seq = paper_correlations(*(list(m.values()) for m in (acc_pre, acc_post, d_pre, d_post)))
    assert seq["acc_post~d_post"]["r"] == pytest.approx(-1.0)
    with pytest.raises(ValueError, match="lacks"):
        paper_correlations(acc_pre, acc_post, d_pre, {"deu_Latn": 0.1})
    with pytest.raises(ValueError, match="all four"):
        paper_correlations(acc_pre, list(acc_post.values()), d_pre, d_post)
