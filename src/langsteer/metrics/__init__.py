"""Ranking metrics for expertise (exact, tie-aware) and cross-lingual retrieval accuracy."""

from langsteer.metrics.ranking import METRICS, auroc, average_precision, expertise_scores
from langsteer.metrics.retrieval import (
    DIRECTIONS,
    SCORINGS,
    RetrievalResult,
    pairwise_top1,
    retrieval_top1,
)

__all__ = [
    "DIRECTIONS",
    "METRICS",
    "SCORINGS",
    "RetrievalResult",
    "auroc",
    "average_precision",
    "expertise_scores",
    "pairwise_top1",
    "retrieval_top1",
]
