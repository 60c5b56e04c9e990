"""Evaluators that encode the sentences themselves, from any :class:`Encoder` (MTEB style).

They exist so that a model wrapper (e.g. :class:`~langsteer.encoding.embeddings.LangsteerEncoder`)
is evaluated like any sentence-embedding model: each encodes a corpus once per encoder and hands
the ``{language: (n, d)}`` arrays to an embeddings evaluator of
:mod:`langsteer.evaluation.evaluators`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from langsteer.evaluation.evaluators import (
    BitextRetrievalEvaluator,
    Evaluator,
    Metrics,
    ParaphraseEvaluator,
)


@runtime_checkable
class Encoder(Protocol):
    """What a model wrapper implements (MTEB style): one row per sentence, in order."""

    def encode(self, sentences: list[str], **kwargs: Any) -> np.ndarray: ...


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
