"""The leaderboard's paired bootstrap through scipy.stats.bootstrap: the same statistic and draws
as the hand-written definition (seeded sentence ids shared by every column, percentile interval)."""

from __future__ import annotations

import numpy as np
import pytest

from langsteer.evaluation.bootstrap import paired_bootstrap_ci, paired_bootstrap_means


def test_interval_is_the_percentile_interval_of_shared_resampled_means() -> None:
    rng = np.random.default_rng(4)
    diffs = (rng.random((40, 3)) < [0.2, 0.5, 0.8]).astype(float) - (rng.random((40, 1)) < 0.5)
    low, high = paired_bootstrap_ci(diffs, n_boot=700, seed=9, ci=0.9)
    # the definition, by hand: one (n_boot, n) draw of sentence ids for every column
    idx = np.random.default_rng(9).integers(0, 40, size=(700, 40))
    means = np.stack([diffs[idx, j].mean(axis=1) for j in range(3)], axis=1)
    np.testing.assert_allclose(paired_bootstrap_means(diffs, n_boot=700, seed=9), means)
    want_low, want_high = np.quantile(means, [0.05, 0.95], axis=0)
    np.testing.assert_allclose(low, want_low, atol=1e-12)
    np.testing.assert_allclose(high, want_high, atol=1e-12)
    assert (low <= diffs.mean(0)).all() and (diffs.mean(0) <= high).all()


def test_one_sentence_and_bad_levels() -> None:
    diffs = np.array([[0.5, -1.0]])
    low, high = paired_bootstrap_ci(diffs, n_boot=10)
    assert low.tolist() == high.tolist() == [0.5, -1.0]
    assert paired_bootstrap_means(diffs, n_boot=4).shape == (4, 2)
    with pytest.raises(ValueError, match="confidence level"):
        paired_bootstrap_ci(np.ones((5, 1)), ci=1.0)
