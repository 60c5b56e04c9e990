"""Measurements on the embedding space: geometry (Table 1), correlations (Table 2), retrieval and
paraphrase evaluators (Fig. 4-5, Tables 3 and 7). Plain NumPy arrays in, flat dicts out.

Geometry and correlation need only NumPy/SciPy; the evaluators are imported on first use because
they pull in ``langsteer.metrics.retrieval`` (torch).
"""

from typing import Any

from langsteer.evaluation.correlation import (
    PAPER_ROWS,
    bootstrap_pearson,
    paper_correlations,
    pearson_with_ci,
)
from langsteer.evaluation.geometry import (
    MEDOID_DEFINITIONS,
    Medoid,
    center,
    centering_means,
    centroid_distances,
    centroid_language_medoid,
    centroids,
    check_embeddings,
    cosine_distance,
    distance_to_medoid,
    distance_to_point,
    distance_to_target,
    flatten_layers,
    geometry_summary,
    map_layers,
    mean_cosine,
    medoid,
    pair_value,
    parallel_distances,
    point_medoid,
    select_layer,
    summed_point_distances,
)

__all__ = [
    "MEDOID_DEFINITIONS",
    "PAPER_ROWS",
    "BitextRetrievalEvaluator",
    "CorrelationEvaluator",
    "Encoder",
    "EncoderBitextEvaluator",
    "EncoderParaphraseEvaluator",
    "Evaluator",
    "GeometryEvaluator",
    "Medoid",
    "ParaphraseEvaluator",
    "PrePostRetrievalEvaluator",
    "bootstrap_pearson",
    "center",
    "centering_means",
    "centroid_distances",
    "centroid_language_medoid",
    "centroids",
    "check_embeddings",
    "cosine_distance",
    "distance_to_medoid",
    "distance_to_point",
    "distance_to_target",
    "flatten_layers",
    "geometry_summary",
    "map_layers",
    "mean_cosine",
    "medoid",
    "pair_value",
    "paper_correlations",
    "parallel_distances",
    "pearson_with_ci",
    "point_medoid",
    "select_layer",
    "summed_point_distances",
]

_EVALUATORS = {
    "BitextRetrievalEvaluator",
    "CorrelationEvaluator",
    "Encoder",
    "EncoderBitextEvaluator",
    "EncoderParaphraseEvaluator",
    "Evaluator",
    "GeometryEvaluator",
    "ParaphraseEvaluator",
    "PrePostRetrievalEvaluator",
}


def __getattr__(name: str) -> Any:
    if name in _EVALUATORS:
        from langsteer.evaluation import evaluators

        return getattr(evaluators, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
