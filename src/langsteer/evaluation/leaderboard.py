"""The leaderboard: every (space, embedding method) row against the best untouched-model row.

Each row takes the layer its held-out selection chose (:func:`~langsteer.evaluation.comparison.
select`); the baseline is the fair untouched-model row with the best selection score; every row
is compared with it on the evaluated sentences with one paired bootstrap over sentence ids.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from langsteer.config import EvaluationConfig, RunConfig
from langsteer.evaluation.bootstrap import paired_bootstrap_ci
from langsteer.evaluation.comparison import SpaceScores, best_index, select

__all__ = ["Row", "leaderboard", "rows_of"]


@dataclass
class Row:
    """One leaderboard row before its comparison with the best baseline."""

    method: str
    name: str
    kind: str
    target: str | None
    embedding: str
    layer: int
    selected_on: str
    scores: np.ndarray
    selection_score: float
    selection_margin: float = float("nan")
    in_sample: bool = False
    supervised: bool = False
    fitted: dict[str, Any] = field(default_factory=dict)  # the embedding method at that layer


def rows_of(
    scores: SpaceScores,
    embedding_methods: Mapping[str, Any],
    how: str,
    fixed_layer: int,
    model_method: Any = None,
) -> list[Row]:
    """One row per embedding method of a space (its layer chosen by :func:`select`)."""
    rows = []
    for emb, method in embedding_methods.items():
        if not np.any(np.isfinite(scores.selection[emb])):
            continue  # failed at every layer: scores.failed says why
        layer, on = select(scores, emb, how, fixed_layer)
        j = scores.layers.index(layer)
        if not np.all(np.isfinite(scores.scores[emb][j])):
            continue
        untouched = model_method is None
        rows.append(
            Row(
                method=emb if untouched else scores.method,
                name=(method if untouched else model_method).name,
                kind="embedding" if untouched else "model",
                target=scores.target,
                embedding=emb,
                layer=layer,
                selected_on=on,
                scores=scores.scores[emb][j],
                selection_score=float(scores.selection[emb][j]),
                selection_margin=float(scores.margin.get(emb, np.full(j + 1, np.nan))[j]),
                in_sample=method.params.fit_on == "evaluated",
                supervised=bool(getattr(method, "supervised", False)),
                fitted=scores.fitted.get(emb, {}).get(str(layer), {}),
            )
        )
    return rows


def leaderboard(
    rows: Sequence[Row],
    *,
    n_boot: int = EvaluationConfig.n_boot,
    seed: int = RunConfig.seed,
    ci: float = 0.95,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Compare every row with the best fair untouched-model row; returns (table, baseline).

    The baseline is the untouched-model row (``kind == "embedding"``, not in-sample) with the
    highest selection score (held-out when there is one). ``delta`` = mean(row - baseline) over
    the evaluated sentences, ``ci95`` its paired percentile bootstrap interval (one resampling
    of sentence ids shared by every row), ``verdict`` = "better" / "worse" when the interval
    excludes 0, else "no difference".
    """
    fair = [r for r in rows if r.kind == "embedding" and not r.in_sample]
    if not fair:
        raise ValueError("no untouched-model row to compare with: add an embedding method")
    base = fair[
        best_index(
            np.array([r.selection_score for r in fair]),
            np.array([r.selection_margin for r in fair]),
            np.ones(len(fair), dtype=bool),
        )
    ]
    diffs = np.stack([r.scores - base.scores for r in rows], axis=1)
    lows, highs = np.round(paired_bootstrap_ci(diffs, n_boot=n_boot, seed=seed, ci=ci), 12)
    table = []
    for j, r in enumerate(rows):
        delta = float(diffs[:, j].mean())
        lo, hi = float(lows[j]), float(highs[j])
        verdict = (
            "baseline"
            if r is base
            else "better"
            if lo > 0
            else "worse"
            if hi < 0
            else ("no difference")
        )
        table.append(
            {
                "method": r.method,
                "name": r.name,
                "kind": r.kind,
                "target": r.target,
                "embedding": r.embedding,
                "layer": r.layer,
                "top1": float(r.scores.mean()),
                "delta": delta,
                "ci95": [lo, hi],
                "verdict": verdict,
                "selected_on": r.selected_on,
                "selection_score": r.selection_score,
                "selection_margin": r.selection_margin,
                "in_sample": r.in_sample,
                "supervised": r.supervised,
                "n": int(r.scores.size),
                "fitted": r.fitted,
            }
        )
    baseline = {
        "method": base.method,
        "embedding": base.embedding,
        "layer": base.layer,
        "top1": float(base.scores.mean()),
        "selected_on": base.selected_on,
        "n_boot": int(n_boot),
        "ci": ci,
        "test": "paired percentile bootstrap over sentence ids (same ids for every row)",
    }
    return table, baseline
