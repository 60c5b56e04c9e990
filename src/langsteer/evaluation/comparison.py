"""Every method on the same sentences: per-layer scores, held-out choices, leaderboard, verdict.

A *space* is one model state's embeddings (the original model, or the model under one model
method for one target) of the evaluated sentences and of a held-out split, at every layer. Each
embedding method is fitted on the held-out split of the space it transforms (never on the
evaluated sentences, unless it says ``fit_on = "evaluated"``: in-sample, labelled, never a
baseline) and scored on the evaluated sentences.

Choices are made on held-out data: the layer of each (space, embedding method) maximises its
*selection score*, the mean top-1 on the held-out split with the embedding method cross-fitted
(fitted on one half of the held-out sentences, scored on the other, both ways), so a method that
overfits its own fit rows is not favoured. The best baseline (the best method that leaves the
model untouched) is chosen the same way. Every leaderboard row is then compared with it on the
evaluated sentences: a paired bootstrap over sentence ids of the difference in mean top-1. Every
score is :meth:`BitextRetrievalEvaluator.sentence_scores` (its mean is the evaluator's top-1).
"""

from __future__ import annotations

import contextlib
import copy
import functools
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from langsteer.evaluation.bootstrap import paired_bootstrap_means
from langsteer.evaluation.evaluators import BitextRetrievalEvaluator
from langsteer.evaluation.geometry import select_layer
from langsteer.evaluation.geometry_table import geometry_means

__all__ = [
    "ORIGINAL",
    "Space",
    "SpaceScores",
    "heldout_score",
    "leaderboard",
    "rows_of",
    "score_space",
    "select",
]

ORIGINAL = "original model"
SELECTED_ON = {
    "heldout": "held-out split (corpus.n_center sentences per language), embedding methods "
    "2-fold cross-fitted within it",
    "fixed": "fixed: evaluation.layer (no choice made)",
    "evaluated": "the evaluated sentences themselves (no held-out split): OPTIMISTIC",
}


@dataclass
class Space:
    """Embeddings of one model state: ``{lang: (n, layers, d)}`` evaluated and held out."""

    name: str
    evaluated: Mapping[str, np.ndarray]
    heldout: Mapping[str, np.ndarray] | None = None
    paraphrase: tuple[np.ndarray, np.ndarray] | None = None
    target: str | None = None
    method: str | None = None  # label of the model method (None: the original model)

    @property
    def n_layers(self) -> int:
        return int(np.shape(next(iter(self.evaluated.values())))[1])


@dataclass
class SpaceScores:
    """Per (embedding method, layer): evaluated per-sentence scores and held-out selection."""

    space: str
    target: str | None
    method: str | None
    layers: list[int]
    scores: dict[str, np.ndarray] = field(default_factory=dict)  # emb -> (layers, n)
    selection: dict[str, np.ndarray] = field(default_factory=dict)  # emb -> (layers,)
    geometry: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    fitted: dict[str, dict[str, Any]] = field(default_factory=dict)  # emb -> describe() at layer

    def per_layer(self, emb: str) -> list[float]:
        return [float(x) for x in self.scores[emb].mean(axis=1)]


def _folds(n: int, seed: int) -> list[np.ndarray]:
    """Two halves of ``range(n)`` (seeded), the same rows in every language."""
    order = np.random.default_rng(seed).permutation(n)
    return [np.sort(order[: n // 2]), np.sort(order[n // 2 :])]


def _rows(space: Mapping[str, np.ndarray], rows: np.ndarray) -> dict[str, np.ndarray]:
    return {lang: np.asarray(x)[rows] for lang, x in space.items()}


def _evaluator(variant: Mapping[str, Any] | None) -> BitextRetrievalEvaluator:
    """The retrieval evaluator every score goes through (``variant``: its keyword arguments)."""
    return BitextRetrievalEvaluator(**dict(variant or {}))


def _crossfit(
    method: Any, heldout: Mapping[str, np.ndarray], seed: int, bitext: BitextRetrievalEvaluator
) -> float:
    """Mean top-1 on the held-out rows, the method fitted on the other half each time."""
    n = np.shape(next(iter(heldout.values())))[0]
    if n < 4:
        raise ValueError(f"a held-out split of {n} sentences cannot be cross-fitted: use >= 4")
    a, b = _folds(n, seed)
    total = 0.0
    for fit_rows, score_rows in ((a, b), (b, a)):
        fitted = copy.deepcopy(method).fit(_rows(heldout, fit_rows))
        total += float(bitext.sentence_scores(fitted.transform(_rows(heldout, score_rows))).mean())
    return total / 2


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Scoring is thousands of tiny products, where intra-op threads only add synchronisation
    (on a loaded 2-core machine, 10-50x slower): it runs on one thread."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)


def single_threaded(fn):
    """Run ``fn`` under :func:`one_thread`."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with one_thread():
            return fn(*args, **kwargs)

    return wrapper


@single_threaded
def score_space(
    space: Space,
    embedding_methods: Mapping[str, Any],
    *,
    layers: Sequence[int] | None = None,
    variant: Mapping[str, Any] | None = None,
    geometry: bool = True,
    seed: int = 0,
) -> SpaceScores:
    """Score every (embedding method, layer) of one space; see the module docstring.

    ``embedding_methods``: ``{label: unfitted EmbeddingMethod}`` (each is copied per fit);
    ``variant``: keyword arguments of the :class:`BitextRetrievalEvaluator` that scores
    (``direction``, ``scoring``, ...). Without a held-out split, methods fit on the evaluated
    sentences and the selection score is the evaluated score (the results then say the choice
    was optimistic).
    """
    bitext = _evaluator(variant)
    chosen = list(range(space.n_layers) if layers is None else layers)
    out = SpaceScores(space.name, space.target, space.method, chosen)
    for label, method in embedding_methods.items():
        scores, sel = [], []
        geo: dict[str, list[float]] = {}
        for layer in chosen:
            ev = select_layer(space.evaluated, layer)
            ho = None if space.heldout is None else select_layer(space.heldout, layer)
            fit_on = ev if ho is None or method.params.fit_on == "evaluated" else ho
            fitted = copy.deepcopy(method).fit(fit_on)
            transformed = fitted.transform(ev)
            s = bitext.sentence_scores(transformed)
            scores.append(s)
            if ho is None or method.params.fit_on == "evaluated":
                sel.append(float(s.mean()) if ho is None else _in_sample(method, ho, bitext))
            else:
                sel.append(_crossfit(method, ho, seed, bitext))
            if geometry:
                for q, v in geometry_means(transformed, space.target).items():
                    geo.setdefault(q, []).append(v)
            out.fitted.setdefault(label, {})[str(layer)] = fitted.describe()
        out.scores[label] = np.stack(scores)
        out.selection[label] = np.asarray(sel)
        if geometry:
            out.geometry[label] = geo
    return out


def _in_sample(
    method: Any, heldout: Mapping[str, np.ndarray], bitext: BitextRetrievalEvaluator
) -> float:
    fitted = copy.deepcopy(method).fit(heldout)
    return float(bitext.sentence_scores(fitted.transform(heldout)).mean())


def select(scores: SpaceScores, emb: str, how: str, fixed_layer: int) -> tuple[int, str]:
    """``(layer, selected_on)`` of one (space, embedding method) row; see :data:`SELECTED_ON`."""
    if how == "fixed":
        layer = scores.layers[fixed_layer] if fixed_layer < 0 else fixed_layer
        if layer not in scores.layers:
            raise ValueError(f"evaluation.layer {fixed_layer} was not scored ({scores.layers})")
        return layer, "fixed"
    sel = scores.selection[emb]
    if not np.any(np.isfinite(sel)):
        raise ValueError(f"no finite selection score for {scores.space} / {emb}")
    return scores.layers[int(np.nanargmax(sel))], how


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
        layer, on = select(scores, emb, how, fixed_layer)
        j = scores.layers.index(layer)
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
                in_sample=method.params.fit_on == "evaluated",
                supervised=bool(getattr(method, "supervised", False)),
                fitted=scores.fitted.get(emb, {}).get(str(layer), {}),
            )
        )
    return rows


def leaderboard(
    rows: Sequence[Row], *, n_boot: int = 2000, seed: int = 0, ci: float = 0.95
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
    base = max(fair, key=lambda r: r.selection_score)
    diffs = np.stack([r.scores - base.scores for r in rows], axis=1)
    boots = paired_bootstrap_means(diffs, n_boot=n_boot, seed=seed)
    alpha = (1.0 - ci) / 2.0
    lows, highs = np.round(np.quantile(boots, [alpha, 1.0 - alpha], axis=0), 12)
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


@single_threaded
def heldout_score(
    heldout: Mapping[str, np.ndarray],
    embedding_methods: Mapping[str, Any],
    *,
    variant: Mapping[str, Any] | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """The best selection score over (embedding method, layer) of a held-out-only space.

    ``heldout``: ``{lang: (m, layers, d)}``. Used to choose among a method's candidate
    parameters (a layer, a strength, a k) without looking at the evaluated sentences.
    """
    bitext = _evaluator(variant)
    n_layers = int(np.shape(next(iter(heldout.values())))[1])
    best = {"score": float("-inf"), "embedding": None, "layer": None}
    for label, method in embedding_methods.items():
        if method.params.fit_on == "evaluated":
            continue
        for layer in range(n_layers):
            score = _crossfit(method, select_layer(heldout, layer), seed, bitext)
            if score > best["score"]:
                best = {"score": score, "embedding": label, "layer": layer}
    return best
