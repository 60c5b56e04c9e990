"""Evaluators shaped like sentence-transformers evaluators / MTEB tasks: retrieval and geometry.

Each evaluator has a ``name``, a declared ``primary_metric`` (unprefixed; ``primary_key`` is the
prefixed key) and ``evaluate(...)`` (also ``__call__``) returning ONE flat dict whose keys all
start with ``"<name>."``. Values are floats, except identifiers: the medoid (description,
language, row index), the retrieval variant (``<name>.variant.direction`` ...) and correlation
notes. The variant travels in the same dict as the numbers because "top-1 accuracy" means
different things in MTEB, sentence-transformers, Mexa and xSIM: every number must carry its
definition.

Embeddings are ``{language: (n, d)}`` with aligned rows (see :mod:`langsteer.evaluation.geometry`).
The correlation evaluator lives beside its statistics in :mod:`langsteer.evaluation.correlation`,
the ones that encode sentences themselves in :mod:`langsteer.evaluation.encoders`.
:mod:`langsteer.metrics.retrieval` (torch) is imported on first use, so the NumPy-only parts of
the package import without torch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import ModuleType
from typing import Any, Literal

import numpy as np

from langsteer.evaluation.geometry import CenterMode, Embeddings, center, check_embeddings
from langsteer.evaluation.geometry_table import geometry_summary
from langsteer.evaluation.medoids import MedoidVariant, check_medoid_variant

Metrics = dict[str, Any]
Direction = Literal["forward", "both", "strict-both"]
Scoring = Literal["cosine", "margin"]
TIE_POLICY = "strict: a candidate scoring equal to the gold counts as an error"


def _retrieval_metrics() -> ModuleType:
    """:mod:`langsteer.metrics.retrieval`, imported on first use (it pulls in torch)."""
    from langsteer.metrics import retrieval

    return retrieval


class Evaluator:
    """Common plumbing: prefixing, ``__call__`` and the primary key."""

    name: str = "evaluator"
    primary_metric: str = ""

    def evaluate(self, *args: Any, **kwargs: Any) -> Metrics:
        raise NotImplementedError

    def __call__(self, *args: Any, **kwargs: Any) -> Metrics:
        return self.evaluate(*args, **kwargs)

    @property
    def primary_key(self) -> str:
        return f"{self.name}.{self.primary_metric}"

    def _prefixed(self, metrics: Mapping[str, Any]) -> Metrics:
        return {f"{self.name}.{k}": v for k, v in metrics.items()}


class _Retrieval:
    """The retrieval variant, stored once and recorded with every result."""

    def __init__(
        self,
        direction: Direction = "forward",
        scoring: Scoring = "cosine",
        margin_k: int = 4,
        chunk_size: int | None = None,
        device: Any = None,
    ) -> None:
        self.direction, self.scoring, self.margin_k = direction, scoring, margin_k
        self._extra: dict[str, Any] = {}
        if chunk_size is not None:
            self._extra["chunk_size"] = chunk_size
        if device is not None:
            self._extra["device"] = device
        self._reported: dict[str, Any] | None = None

    def top1(self, queries: np.ndarray, candidates: np.ndarray) -> float:
        res = _retrieval_metrics().retrieval_top1(
            queries,
            candidates,
            direction=self.direction,
            scoring=self.scoring,
            margin_k=self.margin_k,
            **self._extra,
        )
        self._record(res)
        return float(res.accuracy)

    def results(
        self, space: Embeddings, pairs: list[tuple[str, str]]
    ) -> dict[tuple[str, str], Any]:
        """``{pair: RetrievalResult}``; one similarity pass serves both (a, b) and (b, a)."""
        results = _retrieval_metrics().pairwise_top1(
            space,
            pairs,
            return_correct=True,
            direction=self.direction,
            scoring=self.scoring,
            margin_k=self.margin_k,
            **self._extra,
        )
        for res in results.values():
            self._record(res)
        return results

    def _record(self, res: Any) -> None:
        if self._reported is None:
            self._reported = dict(getattr(res, "variant", {}) or {})

    def variant(self, centering: str = "none") -> dict[str, Any]:
        """Our settings, overlaid with what retrieval_top1 itself reported (it knows best)."""
        v: dict[str, Any] = {"direction": self.direction, "scoring": self.scoring}
        if self.scoring == "margin":
            v["margin_k"] = self.margin_k
        v["ties"] = TIE_POLICY
        v.update(self._reported or {})
        v["centering"] = centering
        return {
            k: (float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) else str(x))
            for k, x in v.items()
        }


def _ordered_pairs(queries: Sequence[str], languages: Sequence[str]) -> list[tuple[str, str]]:
    return [(q, c) for q in queries for c in languages if c != q]


def pair_label(q: str, c: str) -> str:
    """``"<query>-><candidate>"``, the key of one ordered pair in every results dict."""
    return f"{q}->{c}"


class BitextRetrievalEvaluator(Evaluator):
    """Top-1 translation retrieval for every ordered (query, candidate) pair of one space.

    Keys: ``top1.<q>-><c>``, ``top1.from.<q>`` (mean over candidates), ``top1.mean`` (primary),
    ``n`` and ``variant.*``. ``centering`` applies :func:`~langsteer.evaluation.geometry.center`
    first (``means`` from a held-out split if given), the control that separates a real alignment
    gain from the mere removal of per-language offsets. :meth:`sentence_scores` gives the same
    mean top-1 per sentence id, for paired comparisons.
    """

    primary_metric = "top1.mean"

    def __init__(
        self,
        languages: Sequence[str] | None = None,
        query_languages: Sequence[str] | None = None,
        *,
        direction: Direction = "forward",
        scoring: Scoring = "cosine",
        margin_k: int = 4,
        centering: CenterMode = "none",
        means: Mapping[str, np.ndarray] | np.ndarray | None = None,
        chunk_size: int | None = None,
        device: Any = None,
        name: str = "bitext",
    ) -> None:
        self.languages = None if languages is None else list(languages)
        self.query_languages = None if query_languages is None else list(query_languages)
        self.centering, self.means, self.name = centering, means, name
        self._retrieval = _Retrieval(direction, scoring, margin_k, chunk_size, device)

    @property
    def variant(self) -> dict[str, Any]:
        return self._retrieval.variant(self.centering)

    def accuracies(self, emb: Embeddings) -> dict[tuple[str, str], float]:
        """Unprefixed ``{(query, candidate): top-1}``, for callers that need the raw table."""
        return self._accuracies(emb, self.centering, self.means)

    def sentence_scores(self, emb: Embeddings) -> np.ndarray:
        """Per sentence id, the share of the ordered pairs ``(q, c)`` it is retrieved in.

        Why: a paired bootstrap over sentence ids needs one number per id whose mean is the
        reported number. Same pairs, centring and variant as :meth:`evaluate`, so the mean of
        these scores is exactly ``top1.mean`` (strict ties count as wrong).
        """
        results = self._results(emb, self.centering, self.means)
        if not results:
            raise ValueError("no ordered pair of distinct languages to score")
        return np.mean([res.item_scores() for res in results.values()], axis=0)

    def _accuracies(
        self, emb: Embeddings, centering: CenterMode, means: Any
    ) -> dict[tuple[str, str], float]:
        return {p: float(r.accuracy) for p, r in self._results(emb, centering, means).items()}

    def _results(
        self, emb: Embeddings, centering: CenterMode, means: Any
    ) -> dict[tuple[str, str], Any]:
        langs = check_embeddings(emb, self.languages)
        queries = langs if self.query_languages is None else self.query_languages
        missing = [q for q in queries if q not in emb]
        if missing:
            raise ValueError(f"query languages missing from the embeddings: {missing}")
        used = list(dict.fromkeys([*langs, *queries]))  # deterministic order for global means
        space = center({lang: emb[lang] for lang in used}, centering, means)
        return self._retrieval.results(space, _ordered_pairs(queries, langs))

    def _table_metrics(self, acc: Mapping[tuple[str, str], float]) -> dict[str, float]:
        out = {f"top1.{pair_label(q, c)}": v for (q, c), v in acc.items()}
        for q in dict.fromkeys(q for q, _ in acc):
            out[f"top1.from.{q}"] = float(np.mean([v for (qq, _), v in acc.items() if qq == q]))
        out["top1.mean"] = float(np.mean(list(acc.values()))) if acc else float("nan")
        return out

    def evaluate(self, emb: Embeddings) -> Metrics:
        acc = self.accuracies(emb)
        out: dict[str, Any] = self._table_metrics(acc)
        out["n"] = float(np.shape(next(iter(emb.values())))[0])
        out.update({f"variant.{k}": v for k, v in self.variant.items()})
        return self._prefixed(out)


class PrePostRetrievalEvaluator(BitextRetrievalEvaluator):
    """Bitext retrieval before and after an intervention: ``pre.*``, ``post.*``, ``delta.*``.

    ``delta`` is post - pre. ``controls`` lists extra centring modes (e.g. ``("per-language",)``)
    evaluated on both spaces with in-sample means, reported under ``<mode>.{pre,post,delta}.*``,
    so the paper's numbers always stand beside the offset-removal control. For held-out means,
    use ``centering`` with ``means_pre`` / ``means_post`` (each space needs its own means).
    """

    primary_metric = "delta.top1.mean"

    def __init__(
        self,
        languages: Sequence[str] | None = None,
        query_languages: Sequence[str] | None = None,
        *,
        controls: Sequence[CenterMode] = (),
        means_pre: Mapping[str, np.ndarray] | np.ndarray | None = None,
        means_post: Mapping[str, np.ndarray] | np.ndarray | None = None,
        name: str = "bitext_prepost",
        **kwargs: Any,
    ) -> None:
        super().__init__(languages, query_languages, name=name, **kwargs)
        self.controls, self.means_pre, self.means_post = list(controls), means_pre, means_post

    def _block(
        self, pre: Embeddings, post: Embeddings, centering: CenterMode, mp: Any, mq: Any
    ) -> dict[str, float]:
        a = self._table_metrics(self._accuracies(pre, centering, mp))
        b = self._table_metrics(self._accuracies(post, centering, mq))
        out = {f"pre.{k}": v for k, v in a.items()}
        out.update({f"post.{k}": v for k, v in b.items()})
        out.update({f"delta.{k}": b[k] - a[k] for k in a})
        return out

    def evaluate(self, emb_pre: Embeddings, emb_post: Embeddings) -> Metrics:  # type: ignore[override]
        out: dict[str, Any] = self._block(
            emb_pre, emb_post, self.centering, self.means_pre, self.means_post
        )
        for mode in self.controls:
            block = self._block(emb_pre, emb_post, mode, None, None)
            out.update({f"{mode}.{k}": v for k, v in block.items()})
        out["n"] = float(np.shape(next(iter(emb_pre.values())))[0])
        out.update({f"variant.{k}": v for k, v in self.variant.items()})
        if self.controls:
            out["variant.controls"] = ",".join(self.controls)
        return self._prefixed(out)


class GeometryEvaluator(Evaluator):
    """Table 1: :func:`~langsteer.evaluation.geometry_table.geometry_summary` of pre and post.

    Primary: ``delta.mean_pairwise_centroid`` (post - pre; negative = languages moved closer).
    ``medoid``: ``"point"`` (default, the paper's medoid of the space: one sentence embedding) or
    ``"centroid-language"``; recorded as ``variant.medoid`` (see
    :data:`~langsteer.evaluation.medoids.MEDOID_DEFINITIONS`).
    """

    primary_metric = "delta.mean_pairwise_centroid"

    def __init__(
        self,
        target: str,
        languages: Sequence[str] | None = None,
        *,
        centering: CenterMode = "none",
        medoid: MedoidVariant = "point",
        name: str = "geometry",
    ) -> None:
        check_medoid_variant(medoid)
        self.target, self.centering, self.name = target, centering, name
        self.medoid = medoid
        self.languages = None if languages is None else list(languages)

    def evaluate(self, emb_pre: Embeddings, emb_post: Embeddings) -> Metrics:
        pre, post = center(emb_pre, self.centering), center(emb_post, self.centering)
        out = geometry_summary(pre, post, self.target, self.languages, medoid=self.medoid)
        out["variant.centering"] = self.centering
        out["variant.distance"] = "cosine distance; centroid = mean of raw vectors"
        return self._prefixed(out)


class ParaphraseEvaluator(Evaluator):
    """Within-language paraphrase retrieval (paper Table 3): Pre, Post and Mixed.

    Each side is a pair ``(queries, candidates)`` of aligned ``(n, d)`` arrays (row i of the
    candidates is the paraphrase of query i). Pre = both original, Post = both intervened,
    Mixed = original queries against intervened candidates (primary): it checks that the new
    space still agrees with the old one, which a rotation of the space would break.
    """

    primary_metric = "mixed"

    def __init__(
        self,
        *,
        direction: Direction = "forward",
        scoring: Scoring = "cosine",
        margin_k: int = 4,
        chunk_size: int | None = None,
        device: Any = None,
        name: str = "paraphrase",
    ) -> None:
        self.name = name
        self._retrieval = _Retrieval(direction, scoring, margin_k, chunk_size, device)

    @property
    def variant(self) -> dict[str, Any]:
        return self._retrieval.variant()

    def evaluate(
        self, pre: tuple[np.ndarray, np.ndarray], post: tuple[np.ndarray, np.ndarray]
    ) -> Metrics:
        (q0, c0), (q1, c1) = pre, post
        shapes = {np.shape(a) for a in (q0, c0, q1, c1)}
        if len(shapes) != 1 or len(next(iter(shapes))) != 2:
            raise ValueError(f"expected four aligned (n, d) arrays, got shapes {shapes}")
        out: dict[str, Any] = {
            "pre": self._retrieval.top1(q0, c0),
            "post": self._retrieval.top1(q1, c1),
            "mixed": self._retrieval.top1(q0, c1),
            "n": float(np.shape(q0)[0]),
        }
        out.update({f"variant.{k}": v for k, v in self.variant.items()})
        return self._prefixed(out)
