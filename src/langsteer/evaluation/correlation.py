"""Pearson correlations with bootstrap confidence intervals (paper Table 2), and its evaluator.

:class:`CorrelationEvaluator` computes the paper's rows (:data:`PAPER_ROWS`) from two spaces, or
from precomputed per-point accuracies and distances.

Degenerate-case policy: *invalid input* (different lengths, not 1-D, non-finite values, a bad
``ci``/``n_boot``) is a bug in the caller and raises ``ValueError``. *Degenerate data* (fewer than
3 points, or a constant variable, e.g. every pre-intervention accuracy is 0.0 at some layer) is a
legitimate outcome of a sweep: it returns NaN for ``r``, the interval and the p-value, with the
reason in ``note``, so one degenerate layer does not abort a study. ``note`` is "" otherwise.

The interval is a percentile bootstrap over the paired points. Resamples in which one side is
constant have no r; they are left out of the percentiles and counted in ``n_boot_degenerate``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
from scipy import stats

from langsteer.config import EvaluationConfig, RunConfig
from langsteer.evaluation.evaluators import (
    BitextRetrievalEvaluator,
    Evaluator,
    Metrics,
    pair_label,
)
from langsteer.evaluation.geometry import (
    Embeddings,
    center,
    centroid_distances,
    pair_value,
    parallel_distances,
)

# Bootstrap resamples are processed in blocks of about this many elements to bound memory.
_BLOCK_ELEMENTS = 1 << 22


def _as_1d(v: Sequence[float] | np.ndarray, name: str) -> np.ndarray:
    a = np.asarray(v, dtype=np.float64)
    if a.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} has non-finite values; drop those points explicitly first")
    return a


def _rows_pearson(xb: np.ndarray, yb: np.ndarray) -> np.ndarray:
    """Pearson r of every row pair at once; NaN for rows where one side is constant."""
    xc = xb - xb.mean(axis=1, keepdims=True)
    yc = yb - yb.mean(axis=1, keepdims=True)
    sxy = np.einsum("ij,ij->i", xc, yc)
    sxx = np.einsum("ij,ij->i", xc, xc)
    syy = np.einsum("ij,ij->i", yc, yc)
    # Exact constancy test: a resample of one repeated value leaves round-off, not zero, variance.
    constant = (np.ptp(xb, axis=1) == 0) | (np.ptp(yb, axis=1) == 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.where(constant, np.nan, sxy / np.sqrt(sxx * syy))
    return np.clip(r, -1.0, 1.0)


def bootstrap_pearson(
    x: np.ndarray,
    y: np.ndarray,
    *,
    n_boot: int = EvaluationConfig.n_boot,
    seed: int = RunConfig.seed,
) -> np.ndarray:
    """``n_boot`` Pearson r's on resampled pairs, vectorised over an (n_boot, n) index matrix."""
    n = len(x)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(n_boot, n))
    block = max(1, _BLOCK_ELEMENTS // max(n, 1))
    return np.concatenate(
        [
            _rows_pearson(x[idx[s : s + block]], y[idx[s : s + block]])
            for s in range(0, n_boot, block)
        ]
    )


def _degenerate(n: int, n_boot: int, ci: float, note: str) -> dict[str, Any]:
    nan = float("nan")
    return {
        "r": nan,
        "ci_low": nan,
        "ci_high": nan,
        "p_value": nan,
        "n": n,
        "n_boot": n_boot,
        "n_boot_degenerate": 0,
        "ci": ci,
        "method": "percentile bootstrap",
        "note": note,
    }


def pearson_with_ci(
    x: Sequence[float] | np.ndarray,
    y: Sequence[float] | np.ndarray,
    *,
    n_boot: int = EvaluationConfig.n_boot,
    ci: float = 0.95,
    seed: int = RunConfig.seed,
) -> dict[str, Any]:
    """Pearson r, percentile-bootstrap CI over the paired points, p-value from scipy.

    Returns ``{r, ci_low, ci_high, p_value, n, n_boot, n_boot_degenerate, ci, method, note}``;
    see the module docstring for what happens with too few points or a constant variable.
    """
    xa, ya = _as_1d(x, "x"), _as_1d(y, "y")
    if len(xa) != len(ya):
        raise ValueError(f"x and y differ in length: {len(xa)} vs {len(ya)}")
    if not 0 < ci < 1:
        raise ValueError(f"ci must be in (0, 1), got {ci}")
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    n = len(xa)
    if n < 3:
        return _degenerate(n, n_boot, ci, f"n={n} < 3 points: r undefined")
    for name, a in (("x", xa), ("y", ya)):
        if np.ptp(a) == 0:
            return _degenerate(n, n_boot, ci, f"{name} is constant: r undefined")
    res = stats.pearsonr(xa, ya)
    boots = bootstrap_pearson(xa, ya, n_boot=n_boot, seed=seed)
    finite = boots[np.isfinite(boots)]
    alpha = (1.0 - ci) / 2.0
    if finite.size:
        low, high = np.quantile(finite, [alpha, 1.0 - alpha])
    else:
        low = high = float("nan")
    n_bad = int(n_boot - finite.size)
    out = _degenerate(n, n_boot, ci, "")
    out.update(
        r=float(res.statistic),
        ci_low=float(low),
        ci_high=float(high),
        p_value=float(res.pvalue),
        n_boot_degenerate=n_bad,
    )
    if n_bad:
        out["note"] = f"{n_bad} of {n_boot} resamples had a constant side and were left out"
    return out


# Table 2 rows: name -> (x description, y description).
PAPER_ROWS: dict[str, tuple[str, str]] = {
    "acc_post~d_post": ("acc_post", "d_post"),
    "acc_pre~d_pre": ("acc_pre", "d_pre"),
    "d_post~d_pre": ("d_post", "d_pre"),
    "acc_gain~d_drop": ("acc_post - acc_pre", "d_pre - d_post"),
}


def _aligned(
    values: Mapping[str, float] | Sequence[float] | np.ndarray,
    keys: list[str] | None,
    name: str,
) -> np.ndarray:
    if isinstance(values, Mapping):
        if keys is None:
            raise ValueError("mix of mappings and sequences: pass all four the same way")
        missing = [k for k in keys if k not in values]
        if missing:
            raise ValueError(f"{name} lacks {missing}")
        return _as_1d([values[k] for k in keys], name)
    return _as_1d(values, name)


def paper_correlations(
    acc_pre: Mapping[str, float] | Sequence[float] | np.ndarray,
    acc_post: Mapping[str, float] | Sequence[float] | np.ndarray,
    d_pre: Mapping[str, float] | Sequence[float] | np.ndarray,
    d_post: Mapping[str, float] | Sequence[float] | np.ndarray,
    languages: Sequence[str] | None = None,
    *,
    n_boot: int = EvaluationConfig.n_boot,
    ci: float = 0.95,
    seed: int = RunConfig.seed,
) -> dict[str, dict[str, Any]]:
    """The four rows of Table 2, keyed by :data:`PAPER_ROWS` names.

    Inputs are either four mappings keyed alike (language, or any point key such as a pair) or
    four aligned sequences. ``languages`` selects the points (paper: languages seen in
    pre-training); by default the keys of ``acc_pre`` in its order. ``acc_gain`` is
    ``acc_post - acc_pre`` and ``d_drop`` is ``d_pre - d_post`` (positive = languages moved closer).
    Each row is a :func:`pearson_with_ci` dict plus ``x`` and ``y`` descriptions.
    """
    inputs = (acc_pre, acc_post, d_pre, d_post)
    names = ("acc_pre", "acc_post", "d_pre", "d_post")
    keyed = [isinstance(v, Mapping) for v in inputs]
    if any(keyed) and not all(keyed):
        raise ValueError("pass all four as mappings or all four as sequences")
    keys: list[str] | None = None
    if all(keyed):
        keys = list(acc_pre) if languages is None else list(languages)  # type: ignore[arg-type]
    elif languages is not None:
        raise ValueError("languages selects mapping keys; sequences are used as given")
    a0, a1, d0, d1 = (_aligned(v, keys, nm) for v, nm in zip(inputs, names, strict=True))
    if not len(a0) == len(a1) == len(d0) == len(d1):
        raise ValueError("the four inputs differ in length")
    pairs = {
        "acc_post~d_post": (a1, d1),
        "acc_pre~d_pre": (a0, d0),
        "d_post~d_pre": (d1, d0),
        "acc_gain~d_drop": (a1 - a0, d0 - d1),
    }
    out = {}
    for row, (x, y) in pairs.items():
        res = pearson_with_ci(x, y, n_boot=n_boot, ci=ci, seed=seed)
        res["x"], res["y"] = PAPER_ROWS[row]
        out[row] = res
    return out


class CorrelationEvaluator(Evaluator):
    """Table 2 from two spaces: retrieval accuracy vs query-candidate distance, pre and post.

    One point per ordered pair (query, candidate) with the queries in ``query_languages`` (paper:
    the target). Distance: ``"parallel"`` (mean distance between translations; our default, the
    "mean query-candidate distance") or ``"centroid"``. Keys ``<row>.{r,ci_low,ci_high,p_value,n}``
    and ``<row>.note`` for the rows in :data:`PAPER_ROWS`.
    Primary: ``acc_gain~d_drop.r``.
    """

    primary_metric = "acc_gain~d_drop.r"

    def __init__(
        self,
        query_languages: Sequence[str] | None = None,
        languages: Sequence[str] | None = None,
        *,
        distance: Literal["parallel", "centroid"] = "parallel",
        n_boot: int = EvaluationConfig.n_boot,
        ci: float = 0.95,
        seed: int = RunConfig.seed,
        name: str = "correlation",
        **retrieval_kwargs: Any,
    ) -> None:
        if distance not in ("parallel", "centroid"):
            raise ValueError(f"distance must be 'parallel' or 'centroid', got {distance!r}")
        if "means" in retrieval_kwargs:
            raise ValueError(
                "held-out means differ per space; correlate precomputed values instead"
            )
        if distance == "centroid" and retrieval_kwargs.get("centering") == "per-language":
            raise ValueError("centroid distances are undefined after per-language centring")
        self.distance, self.n_boot, self.ci, self.seed, self.name = distance, n_boot, ci, seed, name
        self._bitext = BitextRetrievalEvaluator(languages, query_languages, **retrieval_kwargs)

    def _distances(self, emb: Embeddings, pairs: list[tuple[str, str]]) -> dict[str, float]:
        fn = parallel_distances if self.distance == "parallel" else centroid_distances
        table = fn(emb, list(dict.fromkeys(x for p in pairs for x in p)))
        return {pair_label(q, c): pair_value(table, q, c) for q, c in pairs}

    def evaluate(self, emb_pre: Embeddings, emb_post: Embeddings) -> Metrics:
        acc_pre = self._bitext.accuracies(emb_pre)
        acc_post = self._bitext.accuracies(emb_post)
        pairs = list(acc_pre)
        space_pre = center(emb_pre, self._bitext.centering)
        space_post = center(emb_post, self._bitext.centering)
        out = self.evaluate_values(
            {pair_label(*p): v for p, v in acc_pre.items()},
            {pair_label(*p): v for p, v in acc_post.items()},
            self._distances(space_pre, pairs),
            self._distances(space_post, pairs),
        )
        out.update({f"{self.name}.variant.{k}": v for k, v in self._bitext.variant.items()})
        return out

    def evaluate_values(
        self,
        acc_pre: Mapping[str, float],
        acc_post: Mapping[str, float],
        d_pre: Mapping[str, float],
        d_post: Mapping[str, float],
        languages: Sequence[str] | None = None,
    ) -> Metrics:
        """Same output from precomputed per-point values (keys: languages or pair labels)."""
        rows = paper_correlations(
            acc_pre,
            acc_post,
            d_pre,
            d_post,
            languages,
            n_boot=self.n_boot,
            ci=self.ci,
            seed=self.seed,
        )
        out: dict[str, Any] = {}
        for row in PAPER_ROWS:
            res = rows[row]
            for k in ("r", "ci_low", "ci_high", "p_value"):
                out[f"{row}.{k}"] = res[k]
            out[f"{row}.n"] = float(res["n"])
            out[f"{row}.note"] = res["note"]
        out["variant.distance"] = self.distance
        out["variant.ci"] = f"{self.ci:g} percentile bootstrap, {self.n_boot} resamples"
        return self._prefixed(out)
