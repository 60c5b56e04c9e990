"""Paired bootstrap over sentence ids: every compared column is resampled with the same ids.

Why paired and shared: the leaderboard compares many rows with one baseline on the SAME evaluated
sentences, so the sentence-to-sentence variation that every row shares cancels in the differences,
and one index draw for all rows makes their intervals comparable with each other.

The resampling and the percentile interval are ``scipy.stats.bootstrap``'s: the ``(n, k)`` matrix
of differences is ONE sample along axis 0 with ``k`` batch columns, so each resample draws ``n``
sentence ids once and applies them to every column. Resamples are processed ``batch`` at a time
so that a (k, batch, n) block stays near :data:`_BLOCK_ELEMENTS` floats.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from langsteer.config import EvaluationConfig, RunConfig

__all__ = ["paired_bootstrap_ci", "paired_bootstrap_means"]

# Resampled means are computed in blocks of about this many elements to bound memory.
_BLOCK_ELEMENTS = 1 << 22


def _mean(x: np.ndarray, axis: int = -1) -> np.ndarray:
    return x.mean(axis=axis)


def _bootstrap(diffs: np.ndarray, n_boot: int, seed: int, ci: float):
    """``scipy.stats.bootstrap`` of the column means, or ``None`` for a single sentence."""
    diffs = np.asarray(diffs, dtype=np.float64)
    if diffs.ndim != 2 or diffs.shape[0] == 0:
        raise ValueError(f"expected (n_sentences, k) paired differences, got shape {diffs.shape}")
    if n_boot < 1:
        raise ValueError(
            f"the number of bootstrap resamples (evaluation.n_boot) is {n_boot}: use >= 1"
        )
    if not 0 < ci < 1:
        raise ValueError(f"the confidence level must be in (0, 1), got {ci}")
    n, k = diffs.shape
    if n == 1:  # scipy needs two observations; every resample of one sentence is that sentence
        return None, diffs
    return stats.bootstrap(
        (diffs,),
        _mean,
        n_resamples=n_boot,
        batch=max(1, _BLOCK_ELEMENTS // (n * k)),
        vectorized=True,
        axis=0,
        confidence_level=ci,
        method="percentile",
        random_state=np.random.default_rng(seed),
    ), diffs


def paired_bootstrap_means(
    diffs: np.ndarray, *, n_boot: int = EvaluationConfig.n_boot, seed: int = RunConfig.seed
) -> np.ndarray:
    """``(n_boot, k)`` resampled means of ``k`` paired difference columns ``(n, k)``.

    One index draw (``n`` sentence ids with replacement, seeded) serves every column, so all
    columns are compared on the same resampled ids; the same seed gives the same draws.
    """
    res, diffs = _bootstrap(diffs, n_boot, seed, 0.95)
    if res is None:
        return np.repeat(diffs, n_boot, axis=0)
    return res.bootstrap_distribution.T


def paired_bootstrap_ci(
    diffs: np.ndarray,
    *,
    n_boot: int = EvaluationConfig.n_boot,
    seed: int = RunConfig.seed,
    ci: float = 0.95,
) -> tuple[np.ndarray, np.ndarray]:
    """Percentile ``ci`` interval ``(low, high)``, each ``(k,)``, of the mean of every column:
    the quantiles of :func:`paired_bootstrap_means` with the same seed."""
    res, diffs = _bootstrap(diffs, n_boot, seed, ci)
    if res is None:
        return diffs[0].copy(), diffs[0].copy()
    return np.asarray(res.confidence_interval.low), np.asarray(res.confidence_interval.high)
