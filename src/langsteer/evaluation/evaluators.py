"""Evaluators shaped like sentence-transformers evaluators / MTEB tasks.

Each evaluator has a ``name``, a declared ``primary_metric`` (unprefixed; ``primary_key`` is the
prefixed key) and ``evaluate(...)`` (also ``__call__``) returning ONE flat dict whose keys all
start with ``"<name>."``. Values are floats, except identifiers: the medoid (description,
language, row index), the retrieval variant (``<name>.variant.direction`` ...) and correlation
notes. The variant travels in the same dict as the numbers because "top-1 accuracy" means
different things in MTEB, sentence-transformers, Mexa and xSIM: every number must carry its
definition.

Embeddings are ``{language: (n, d)}`` with aligned rows (see :mod:`langsteer.evaluation.geometry`);
:class:`EncoderBitextEvaluator` produces them from any :class:`Encoder` and a corpus mapping.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np

from langsteer.evaluation.correlation import PAPER_ROWS, paper_correlations
from langsteer.evaluation.geometry import (
    MEDOID_VARIANTS,
    CenterMode,
    Embeddings,
    MedoidVariant,
    center,
    centroid_distances,
    check_embeddings,
    geometry_summary,
    pair_value,
    parallel_distances,
)
from langsteer.metrics.retrieval import pairwise_top1, retrieval_top1

Metrics = dict[str, Any]
Direction = Literal["forward", "both", "strict-both"]
Scoring = Literal["cosine", "margin"]
TIE_POLICY = "strict: a candidate scoring equal to the gold counts as an error"


@runtime_checkable
class Encoder(Protocol):
    """What a model wrapper implements (MTEB style): one row per sentence, in order."""

    def encode(self, sentences: list[str], **kwargs: Any) -> np.ndarray: ...


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
        res = retrieval_top1(
            queries,
            candidates,
            direction=self.direction,
            scoring=self.scoring,
            margin_k=self.margin_k,
            **self._extra,
        )
        self._record(res)
        return float(res.accuracy)

    def table(
        self, space: Embeddings, pairs: list[tuple[str, str]]
    ) -> dict[tuple[str, str], float]:
        """All ordered pairs; one similarity pass serves both (a, b) and (b, a)."""
        results = pairwise_top1(
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
        return {p: float(res.accuracy) for p, res in results.items()}

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


def _pair_label(q: str, c: str) -> str:
    return f"{q}->{c}"


class BitextRetrievalEvaluator(Evaluator):
    """Top-1 translation retrieval for every ordered (query, candidate) pair of one space.

    Keys: ``top1.<q>-><c>``, ``top1.from.<q>`` (mean over candidates), ``top1.mean`` (primary),
    ``n`` and ``variant.*``. ``centering`` applies :func:`geometry.center` first (``means`` from a
    held-out split if given), the control that separates a real alignment gain from the mere
    removal of per-language offsets.
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

    def _accuracies(
        self, emb: Embeddings, centering: CenterMode, means: Any
    ) -> dict[tuple[str, str], float]:
        langs = check_embeddings(emb, self.languages)
        queries = langs if self.query_languages is None else self.query_languages
        missing = [q for q in queries if q not in emb]
        if missing:
            raise ValueError(f"query languages missing from the embeddings: {missing}")
        used = list(dict.fromkeys([*langs, *queries]))  # deterministic order for global means
        space = center({lang: emb[lang] for lang in used}, centering, means)
        return self._retrieval.table(space, _ordered_pairs(queries, langs))

    def _table_metrics(self, acc: Mapping[tuple[str, str], float]) -> dict[str, float]:
        out = {f"top1.{_pair_label(q, c)}": v for (q, c), v in acc.items()}
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
    """Table 1: :func:`geometry.geometry_summary` of the pre and post spaces, prefixed.

    Primary: ``delta.mean_pairwise_centroid`` (post - pre; negative = languages moved closer).
    ``medoid``: ``"point"`` (default, the paper's medoid of the space: one sentence embedding) or
    ``"centroid-language"``; recorded as ``variant.medoid`` (see
    :data:`~langsteer.evaluation.geometry.MEDOID_DEFINITIONS`).
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
        if medoid not in MEDOID_VARIANTS:
            raise ValueError(f"medoid must be one of {MEDOID_VARIANTS}, got {medoid!r}")
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


class CorrelationEvaluator(Evaluator):
    """Table 2 from two spaces: retrieval accuracy vs query-candidate distance, pre and post.

    One point per ordered pair (query, candidate) with the queries in ``query_languages`` (paper:
    the target). Distance: ``"parallel"`` (mean distance between translations; our default, the
    "mean query-candidate distance") or ``"centroid"``. Keys ``<row>.{r,ci_low,ci_high,p_value,n}``
    and ``<row>.note`` for the rows in :data:`correlation.PAPER_ROWS`.
    Primary: ``acc_gain~d_drop.r``.
    """

    primary_metric = "acc_gain~d_drop.r"

    def __init__(
        self,
        query_languages: Sequence[str] | None = None,
        languages: Sequence[str] | None = None,
        *,
        distance: Literal["parallel", "centroid"] = "parallel",
        n_boot: int = 10_000,
        ci: float = 0.95,
        seed: int = 0,
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
        return {_pair_label(q, c): pair_value(table, q, c) for q, c in pairs}

    def evaluate(self, emb_pre: Embeddings, emb_post: Embeddings) -> Metrics:
        acc_pre = self._bitext.accuracies(emb_pre)
        acc_post = self._bitext.accuracies(emb_post)
        pairs = list(acc_pre)
        space_pre = center(emb_pre, self._bitext.centering)
        space_post = center(emb_post, self._bitext.centering)
        out = self.evaluate_values(
            {_pair_label(*p): v for p, v in acc_pre.items()},
            {_pair_label(*p): v for p, v in acc_post.items()},
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


def _encode(
    encoder: Encoder, sentences: list[str], kwargs: Mapping[str, Any], what: str
) -> np.ndarray:
    x = np.asarray(encoder.encode(sentences, **kwargs), dtype=np.float32)
    if x.ndim != 2 or x.shape[0] != len(sentences):
        raise ValueError(f"encoder returned shape {x.shape} for {len(sentences)} {what} sentences")
    return x


class EncoderBitextEvaluator(Evaluator):
    """Encode a parallel corpus with one or more encoders, then delegate to an embeddings evaluator.

    ``corpus`` is a mapping ``{lang: sentences}`` or a :class:`langsteer.corpora.Corpus`-like
    object (``.languages`` and ``.sentences(lang)``). Each language is encoded exactly once per
    encoder (one ``encode`` call with all its sentences). ``evaluate(encoder)`` feeds a one-space
    evaluator (default: bitext retrieval); ``evaluate(original, intervened)`` feeds a pre/post one
    (PrePost, Geometry, Correlation).
    """

    def __init__(
        self,
        corpus: Any,
        evaluator: Evaluator | None = None,
        *,
        languages: Sequence[str] | None = None,
        encode_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        self.corpus = corpus
        if languages is None:
            languages = getattr(corpus, "languages", None)
            languages = list(corpus) if languages is None else languages
        self.languages = list(languages)
        self.evaluator = evaluator or BitextRetrievalEvaluator(self.languages)
        self.encode_kwargs = dict(encode_kwargs or {})
        self.name, self.primary_metric = self.evaluator.name, self.evaluator.primary_metric

    def _sentences(self, lang: str) -> list[str]:
        getter = getattr(self.corpus, "sentences", None)
        return list(getter(lang) if callable(getter) else self.corpus[lang])

    def encode(self, encoder: Encoder) -> dict[str, np.ndarray]:
        """``{lang: (n, d) float32}``, one ``encode`` call per language."""
        return {
            lang: _encode(encoder, self._sentences(lang), self.encode_kwargs, lang)
            for lang in self.languages
        }

    def evaluate(self, *encoders: Encoder) -> Metrics:
        if not encoders:
            raise ValueError("give at least one encoder")
        return self.evaluator(*(self.encode(e) for e in encoders))


class EncoderParaphraseEvaluator(Evaluator):
    """Paraphrase retrieval from two encoders (original, intervened) and paraphrase pairs.

    ``pairs`` is ``(left_sentences, right_sentences)`` or a ``ParaphrasePairs``-like object with
    ``.left`` and ``.right``; left sentences are the queries. Each side is encoded once per encoder.
    """

    def __init__(
        self,
        pairs: Any,
        evaluator: ParaphraseEvaluator | None = None,
        *,
        encode_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        left, right = (pairs.left, pairs.right) if hasattr(pairs, "left") else pairs
        self.left, self.right = list(left), list(right)
        if len(self.left) != len(self.right):
            raise ValueError(f"{len(self.left)} left but {len(self.right)} right sentences")
        self.evaluator = evaluator or ParaphraseEvaluator()
        self.encode_kwargs = dict(encode_kwargs or {})
        self.name, self.primary_metric = self.evaluator.name, self.evaluator.primary_metric

    def evaluate(self, original: Encoder, intervened: Encoder) -> Metrics:
        kw = self.encode_kwargs

        def both(enc: Encoder) -> tuple[np.ndarray, np.ndarray]:
            return _encode(enc, self.left, kw, "left"), _encode(enc, self.right, kw, "right")

        return self.evaluator(both(original), both(intervened))
