"""Paired bootstrap over sentence ids: every compared column is resampled with the same ids.

Why paired and shared: the leaderboard compares many rows with one baseline on the SAME evaluated
sentences, so the sentence-to-sentence variation that every row shares cancels in the differences,
and one index draw for all rows makes their intervals comparable with each other.
"""

from __future__ import annotations

import numpy as np

__all__ = ["paired_bootstrap_means"]

# Resampled means are computed in blocks of about this many elements to bound memory.
_BLOCK_ELEMENTS = 1 << 22


def paired_bootstrap_means(diffs: np.ndarray, *, n_boot: int = 2000, seed: int = 0) -> np.ndarray:
    """``(n_boot, k)`` resampled means of ``k`` paired difference columns ``(n, k)``.

    One index draw (``n`` sentence ids with replacement, seeded) serves every column, so all
    columns are compared on the same resampled ids; the same seed gives the same draws.
    """
    diffs = np.asarray(diffs, dtype=np.float64)
    if diffs.ndim != 2 or diffs.shape[0] == 0:
        raise ValueError(f"expected (n_sentences, k) paired differences, got shape {diffs.shape}")
    if n_boot < 1:
        raise ValueError(
            f"the number of bootstrap resamples (evaluation.n_boot) is {n_boot}: use >= 1"
        )
    n = diffs.shape[0]
    rng = np.random.default_rng(seed)
    block = max(1, _BLOCK_ELEMENTS // n)
    parts = []
    for start in range(0, n_boot, block):
        idx = rng.integers(0, n, size=(min(block, n_boot - start), n))
        parts.append(np.stack([diffs[idx, j].mean(axis=1) for j in range(diffs.shape[1])], 1))
    return np.concatenate(parts)
