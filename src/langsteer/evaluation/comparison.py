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

from langsteer.config import RunConfig
from langsteer.evaluation.evaluators import BitextRetrievalEvaluator
from langsteer.evaluation.geometry import select_layer
from langsteer.evaluation.geometry_table import GEOMETRY_QUANTITIES, geometry_means

__all__ = [
    "ORIGINAL",
    "Space",
    "SpaceScores",
    "best_index",
    "heldout_score",
    "mean_margin",
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
    first_layer: int = 0  # the first hidden state the method can change (choices start there)

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
    first_layer: int = 0
    scores: dict[str, np.ndarray] = field(default_factory=dict)  # emb -> (layers, n)
    selection: dict[str, np.ndarray] = field(default_factory=dict)  # emb -> (layers,)
    geometry: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    margin: dict[str, np.ndarray] = field(default_factory=dict)  # emb -> (layers,) tie-breaker
    fitted: dict[str, dict[str, Any]] = field(default_factory=dict)  # emb -> describe() at layer
    failed: dict[str, dict[str, str]] = field(default_factory=dict)  # emb -> layer -> why

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


def _check_crossfit(n: int) -> None:
    if n < 4:
        raise ValueError(
            f"a held-out split of {n} sentences cannot be cross-fitted: use >= 4 "
            "(corpus.n_center), or 0 for no held-out split"
        )


def mean_margin(space: Mapping[str, np.ndarray]) -> float:
    """Mean over ordered language pairs and query sentences of cos(gold) - max cos(other
    candidate): a continuous tie-breaker when top-1 saturates on a small held-out split."""
    unit = {}
    for lang, x in space.items():
        x = np.asarray(x, dtype=np.float64)
        norms = np.linalg.norm(x, axis=1, keepdims=True)
        unit[lang] = np.divide(x, norms, out=np.full_like(x, np.nan), where=norms > 0)
    margins = []
    for a in unit:
        n = unit[a].shape[0]
        others = [b for b in unit if b != a]
        sims = unit[a] @ np.concatenate([unit[b] for b in others]).T
        for k in range(len(others)):
            s = sims[:, k * n : (k + 1) * n].copy()
            gold = np.diag(s).copy()
            np.fill_diagonal(s, -np.inf)
            margins.append(gold - s.max(axis=1))
    return float(np.nanmean(np.concatenate(margins))) if margins else float("nan")


def _crossfit(
    method: Any, heldout: Mapping[str, np.ndarray], seed: int, bitext: BitextRetrievalEvaluator
) -> tuple[float, float]:
    """Mean top-1 (and mean margin) on the held-out rows, the method fitted on the other half
    each time."""
    n = np.shape(next(iter(heldout.values())))[0]
    _check_crossfit(n)
    a, b = _folds(n, seed)
    score = margin = 0.0
    for fit_rows, score_rows in ((a, b), (b, a)):
        fitted = copy.deepcopy(method).fit(_rows(heldout, fit_rows))
        space = fitted.transform(_rows(heldout, score_rows))
        score += float(bitext.sentence_scores(space).mean()) / 2
        margin += mean_margin(space) / 2
    return score, margin


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
    seed: int = RunConfig.seed,
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
    out = SpaceScores(space.name, space.target, space.method, chosen, space.first_layer)
    n = np.shape(next(iter(space.evaluated.values())))[0]
    if space.heldout is not None:
        _check_crossfit(np.shape(next(iter(space.heldout.values())))[0])
    nan = float("nan")
    for label, method in embedding_methods.items():
        scores, sel, margin = [], [], []
        geo: dict[str, list[float]] = {}
        for layer in chosen:
            try:
                s, selection, g, fitted = _score_layer(space, method, layer, bitext, seed, geometry)
            except ValueError as exc:  # a degenerate state (e.g. a layer a method collapsed)
                out.failed.setdefault(label, {})[str(layer)] = str(exc)
                s, selection, g, fitted = np.full(n, nan), (nan, nan), {}, {}
            scores.append(s)
            sel.append(selection[0])
            margin.append(selection[1])
            for q in GEOMETRY_QUANTITIES if geometry else ():
                geo.setdefault(q, []).append(g.get(q, float("nan")))
            out.fitted.setdefault(label, {})[str(layer)] = fitted
        out.scores[label] = np.stack(scores)
        out.selection[label] = np.asarray(sel)
        out.margin[label] = np.asarray(margin)
        if geometry:
            out.geometry[label] = geo
    return out


def _score_layer(
    space: Space,
    method: Any,
    layer: int,
    bitext: BitextRetrievalEvaluator,
    seed: int,
    geometry: bool,
) -> tuple[np.ndarray, float, dict[str, float], dict[str, Any]]:
    """Per-sentence scores, selection score, geometry and fitted state at one layer."""
    ev = select_layer(space.evaluated, layer)
    ho = None if space.heldout is None else select_layer(space.heldout, layer)
    fit_on = ev if ho is None or method.params.fit_on == "evaluated" else ho
    fitted = copy.deepcopy(method).fit(fit_on)
    transformed = fitted.transform(ev)
    s = bitext.sentence_scores(transformed)
    if ho is None:
        selection = (float(s.mean()), mean_margin(transformed))
    elif method.params.fit_on == "evaluated":
        selection = _in_sample(method, ho, bitext)
    else:
        selection = _crossfit(method, ho, seed, bitext)
    g = geometry_means(transformed, space.target) if geometry else {}
    return s, selection, g, fitted.describe()


def _in_sample(
    method: Any, heldout: Mapping[str, np.ndarray], bitext: BitextRetrievalEvaluator
) -> tuple[float, float]:
    space = copy.deepcopy(method).fit(heldout).transform(heldout)
    return float(bitext.sentence_scores(space).mean()), mean_margin(space)


def best_index(score: np.ndarray, margin: np.ndarray, allowed: np.ndarray) -> int:
    """The best allowed position: highest score, ties broken by the margin, then the first."""
    key_score = np.where(allowed & np.isfinite(score), score, -np.inf)
    key_margin = np.where(np.isfinite(margin), margin, -np.inf)
    order = np.lexsort((np.arange(len(score)), -key_margin, -key_score))
    if not np.isfinite(key_score[order[0]]):
        raise ValueError("no finite selection score")
    return int(order[0])


def select(scores: SpaceScores, emb: str, how: str, fixed_layer: int) -> tuple[int, str]:
    """``(layer, selected_on)`` of one (space, embedding method) row; see :data:`SELECTED_ON`."""
    if how == "fixed":
        layer = scores.layers[fixed_layer] if fixed_layer < 0 else fixed_layer
        if layer not in scores.layers:
            raise ValueError(f"evaluation.layer {fixed_layer} was not scored ({scores.layers})")
        return layer, "fixed"
    sel = scores.selection[emb]
    margin = scores.margin.get(emb, np.zeros_like(sel))
    allowed = np.asarray(scores.layers) >= scores.first_layer
    try:
        return scores.layers[best_index(sel, margin, allowed)], how
    except ValueError:
        raise ValueError(f"no finite selection score for {scores.space} / {emb}") from None


@single_threaded
def heldout_score(
    heldout: Mapping[str, np.ndarray],
    embedding_methods: Mapping[str, Any],
    *,
    variant: Mapping[str, Any] | None = None,
    seed: int = RunConfig.seed,
    first_layer: int = 0,
) -> dict[str, Any]:
    """The best selection score over (embedding method, layer >= ``first_layer``) of a
    held-out-only space (ties broken by the mean margin).

    ``heldout``: ``{lang: (m, layers, d)}``. Used to choose among a method's candidate
    parameters (a layer, a strength, a k) without looking at the evaluated sentences; layers
    before ``first_layer`` are the untouched model's and cannot tell candidates apart.
    """
    bitext = _evaluator(variant)
    _check_crossfit(np.shape(next(iter(heldout.values())))[0])
    n_layers = int(np.shape(next(iter(heldout.values())))[1])
    best = {"score": float("-inf"), "margin": float("-inf"), "embedding": None, "layer": None}
    for label, method in embedding_methods.items():
        if method.params.fit_on == "evaluated":
            continue
        for layer in range(first_layer, n_layers):
            try:
                score, margin = _crossfit(method, select_layer(heldout, layer), seed, bitext)
            except ValueError:  # a degenerate layer under this candidate: it cannot win here
                continue
            if (score, margin) > (best["score"], best["margin"]):
                best = {"score": score, "margin": margin, "embedding": label, "layer": layer}
    return best
