"""Measurements on the embedding space, all through evaluators: one entry point for the study.

- :mod:`~langsteer.evaluation.comparison`: every (model method x embedding method x layer) on the
  same sentences, choices made on held-out data, a leaderboard with a paired bootstrap
  (:mod:`~langsteer.evaluation.bootstrap`) against the best untouched-model method;
- :mod:`~langsteer.evaluation.measure`: the paper's tables and figures for one model method;
- :mod:`~langsteer.evaluation.evaluators`: retrieval (Fig. 4-5, Table 7), paraphrase (Table 3)
  and geometry evaluators; :mod:`~langsteer.evaluation.correlation`: Table 2;
  :mod:`~langsteer.evaluation.encoders`: the same from any encoder (MTEB style);
- :mod:`~langsteer.evaluation.geometry`, :mod:`~langsteer.evaluation.medoids`,
  :mod:`~langsteer.evaluation.geometry_table`: distances, medoids, Table 1 (NumPy only).

Plain ``{language: (n, d)}`` NumPy arrays in, flat dicts out. Torch (retrieval, perplexity) is
imported on first use.
"""

from langsteer.evaluation.bootstrap import (
    paired_bootstrap_ci,
    paired_bootstrap_means,
)
from langsteer.evaluation.comparison import (
    ORIGINAL,
    Space,
    SpaceScores,
    heldout_score,
    mean_margin,
    score_space,
    select,
)
from langsteer.evaluation.correlation import (
    PAPER_ROWS,
    CorrelationEvaluator,
    bootstrap_pearson,
    paper_correlations,
    pearson_with_ci,
)
from langsteer.evaluation.encoders import (
    Encoder,
    EncoderBitextEvaluator,
    EncoderParaphraseEvaluator,
)
from langsteer.evaluation.evaluators import (
    BitextRetrievalEvaluator,
    Evaluator,
    GeometryEvaluator,
    ParaphraseEvaluator,
    PrePostRetrievalEvaluator,
)
from langsteer.evaluation.geometry import (
    MEDOID_DEFINITIONS,
    MEDOID_VARIANTS,
    center,
    centering_means,
    centroid_distances,
    centroids,
    check_embeddings,
    cosine_distance,
    distance_to_target,
    flatten_layers,
    map_layers,
    mean_cosine,
    pair_value,
    parallel_distances,
    select_layer,
)
from langsteer.evaluation.geometry_table import (
    GEOMETRY_QUANTITIES,
    geometry_means,
    geometry_summary,
)
from langsteer.evaluation.leaderboard import Row, leaderboard, rows_of
from langsteer.evaluation.measure import (
    paper_measures,
)
from langsteer.evaluation.medoids import (
    Medoid,
    centroid_language_medoid,
    distance_to_medoid,
    distance_to_point,
    medoid,
    point_medoid,
    summed_point_distances,
)

__all__ = [
    "GEOMETRY_QUANTITIES",
    "MEDOID_DEFINITIONS",
    "MEDOID_VARIANTS",
    "ORIGINAL",
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
    "Row",
    "Space",
    "SpaceScores",
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
    "geometry_means",
    "geometry_summary",
    "heldout_score",
    "leaderboard",
    "map_layers",
    "mean_cosine",
    "mean_margin",
    "medoid",
    "pair_value",
    "paired_bootstrap_ci",
    "paired_bootstrap_means",
    "paper_correlations",
    "paper_measures",
    "parallel_distances",
    "pearson_with_ci",
    "point_medoid",
    "rows_of",
    "score_space",
    "select",
    "select_layer",
    "summed_point_distances",
]
