"""The paper's measurements of one model method against the original model, via the evaluators.

For one target and one model method, at the headline layer (``evaluation.layer``; the paper's
last layer) and on the same sentences: retrieval tables pre/post/delta (Fig. 4-5), geometry
(Table 1), paraphrase Pre/Post/Mixed (Table 3), correlations (Table 2) and a 2-D projection
(Fig. 6). Every number goes through an evaluator (:mod:`langsteer.evaluation.evaluators`,
:class:`~langsteer.evaluation.correlation.CorrelationEvaluator`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from langsteer.config import EvaluationConfig, RunConfig
from langsteer.evaluation.comparison import Space
from langsteer.evaluation.correlation import CorrelationEvaluator
from langsteer.evaluation.evaluators import (
    BitextRetrievalEvaluator,
    Evaluator,
    GeometryEvaluator,
    ParaphraseEvaluator,
)
from langsteer.evaluation.geometry import pair_value, parallel_distances, select_layer

__all__ = ["ProjectionEvaluator", "nested", "paper_measures", "retrieval_table"]

LAYER_NUMBERING = "hidden-state index (0 = token embeddings, -1 = last)"


def nested(table: Mapping[tuple[str, str], float]) -> dict[str, dict[str, float]]:
    """``{(q, c): v}`` -> ``{q: {c: v}}`` (query -> candidate accuracy maps)."""
    out: dict[str, dict[str, float]] = {}
    for (q, c), v in table.items():
        out.setdefault(q, {})[c] = float(v)
    return out


class ProjectionEvaluator(Evaluator):
    """Paper Fig. 6: 2-D PCA coordinates of a space (its own axes), a few sentences a language."""

    name = "projection"
    primary_metric = "explained_variance"

    def __init__(self, n_per_language: int = 60, seed: int = 0) -> None:
        self.n_per_language, self.seed = n_per_language, seed

    def evaluate(self, space: Mapping[str, np.ndarray]) -> dict[str, Any]:
        rng = np.random.default_rng(self.seed)
        n = next(iter(space.values())).shape[0]
        rows = np.sort(rng.choice(n, size=min(n, self.n_per_language), replace=False))
        x = np.concatenate([np.asarray(space[lang])[rows] for lang in space]).astype(np.float64)
        x -= x.mean(0)
        _, s, vt = np.linalg.svd(x, full_matrices=False)
        coords = x @ vt[:2].T
        explained = (s[:2] ** 2 / max((s**2).sum(), 1e-30)).tolist()
        out, m = {}, len(rows)
        for j, lang in enumerate(space):
            out[lang] = np.round(coords[j * m : (j + 1) * m], 5).tolist()
        return {"method": "pca", "explained_variance": explained, "points": out}


def retrieval_table(
    pre: Space, post: Space, evaluator: BitextRetrievalEvaluator, layer: int
) -> dict[str, Any]:
    """Top-1 for every ordered pair before and after, at ``layer``, and per-layer means."""
    acc_pre = evaluator.accuracies(select_layer(pre.evaluated, layer))
    acc_post = evaluator.accuracies(select_layer(post.evaluated, layer))
    return {
        "pre": nested(acc_pre),
        "post": nested(acc_post),
        "delta": nested({p: acc_post[p] - acc_pre[p] for p in acc_pre}),
        "mean_pre": float(np.mean(list(acc_pre.values()))),
        "mean_post": float(np.mean(list(acc_post.values()))),
        "layer": layer,
        "layer_numbering": LAYER_NUMBERING,
        "variant": evaluator.variant,
    }


def paper_measures(
    pre: Space,
    post: Space,
    target: str,
    *,
    layer: int,
    analyses: Any,
    direction: str = "forward",
    scoring: str = "cosine",
    medoid: str = "point",
    correlation_languages: Sequence[str] | None = None,
    n_boot: int = EvaluationConfig.n_boot,
    seed: int = RunConfig.seed,
) -> dict[str, Any]:
    """Every paper measurement of ``post`` (a model method for ``target``) against ``pre``."""
    langs = list(pre.evaluated)
    bitext = BitextRetrievalEvaluator(langs, direction=direction, scoring=scoring)
    out: dict[str, Any] = {"retrieval": retrieval_table(pre, post, bitext, layer)}
    pre_l, post_l = select_layer(pre.evaluated, layer), select_layer(post.evaluated, layer)
    if analyses.geometry:
        out["geometry"] = GeometryEvaluator(target, medoid=medoid).evaluate(pre_l, post_l)
    if analyses.paraphrase and pre.paraphrase is not None and post.paraphrase is not None:
        ev = ParaphraseEvaluator(direction=direction, scoring=scoring)
        out["paraphrase"] = ev.evaluate(
            tuple(x[:, layer] for x in pre.paraphrase), tuple(x[:, layer] for x in post.paraphrase)
        )
    if analyses.correlation:
        out["correlation"] = _correlation(
            out["retrieval"], pre_l, post_l, target, correlation_languages or langs, n_boot, seed
        )
    if analyses.projection:
        proj = ProjectionEvaluator(seed=seed)
        out["projection"] = {"pre": proj.evaluate(pre_l), "post": proj.evaluate(post_l)}
    return out


def _correlation(
    retrieval: dict,
    pre_l: dict,
    post_l: dict,
    target: str,
    languages: Sequence[str],
    n_boot: int,
    seed: int,
) -> dict[str, Any]:
    """Table 2 with the target as query, one point per candidate language."""
    cands = [x for x in languages if x != target]
    d_pre, d_post = parallel_distances(pre_l), parallel_distances(post_l)
    ev = CorrelationEvaluator(n_boot=n_boot, seed=seed)
    try:
        return ev.evaluate_values(
            {c: retrieval["pre"][target][c] for c in cands},
            {c: retrieval["post"][target][c] for c in cands},
            {c: pair_value(d_pre, target, c) for c in cands},
            {c: pair_value(d_post, target, c) for c in cands},
        )
    except ValueError as exc:  # too few languages for a correlation
        return {"correlation.note": str(exc)}
