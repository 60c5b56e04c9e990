"""Rank units by how well they detect a language: the expert finder, and a one-call helper.

``ExpertFinder`` follows scikit-learn: keyword parameters, ``fit()`` returns ``self``, learned
state ends in ``_``. It scores every unit of a response matrix (AUROC or AP of the pooled
responses, exact and tie-aware; or LAPE from per-language token statistics) and packages the
ranking as an :class:`~langsteer.methods.expertset.ExpertSet` (the expert file).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from langsteer.config import ExpertsConfig, RunConfig
from langsteer.encoding.responses import GroupStats, Responses
from langsteer.languages import normalize_language
from langsteer.methods.expertset import (
    FORMAT_VERSION,
    ExpertFileMismatchError,
    ExpertSet,
    scores_hash,
    top_units,
    versions,
)
from langsteer.metrics.panels import scores_and_stats
from langsteer.models import LoadedModel, UnitSet

__all__ = [
    "SCORES",
    "ExpertFileMismatchError",
    "ExpertFinder",
    "ExpertSet",
    "UnreliableExpertsWarning",
    "find_experts",
    "scores_hash",
    "top_units",
    "versions",
]

SCORES = ("auroc", "ap", "lape")
#: below this many positive (or negative) sentences expertise scores are refused: with one
#: positive every unit that ranks it first scores AUROC 1.0, so the top k is an arbitrary pick
MIN_SENTENCES_PER_CLASS = 2
#: below this many a warning says the experts are unreliable (the paper uses 997 positives)
WARN_SENTENCES_PER_CLASS = 20
_MORE_SENTENCES = (
    "use more sentences per language (study file: corpus.n_expert; CLI: --n-sentences)"
)


class UnreliableExpertsWarning(UserWarning):
    """Experts were found from so few sentences that their ranking is mostly noise."""


def _as_labels(labels, n: int) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.shape[0] != n:
        raise ValueError(
            f"labels must be 1-D with one entry per sentence ({n}), got {labels.shape}"
        )
    if labels.dtype != bool:
        if not np.isin(labels, (0, 1)).all():
            raise ValueError("labels must be boolean (True = sentence in the target language)")
        labels = labels.astype(bool)
    return labels


class ExpertFinder:
    """Score every unit on "is this sentence in the target language?" and keep the best k.

    Parameters: ``score`` ("auroc", the paper's choice; "ap"; or "lape", Tang et al. 2024:
    low entropy of the per-language activation probabilities, from token statistics, see
    :func:`langsteer.methods.lape.lape_scores`), ``k`` (top units kept),
    ``bottom_k`` (units most predictive of *other* languages, kept too, as in Kojima et al.),
    ``pooling`` and ``unit_set`` (checked against the responses' own record when given),
    ``device`` for scoring (None = CPU; a CUDA device when the model sits on one).
    """

    def __init__(
        self,
        *,
        score: str = ExpertsConfig.score,
        k: int = ExpertsConfig.k,
        bottom_k: int = ExpertsConfig.bottom_k,
        pooling: str | None = None,
        unit_set: str | None = None,
        device: str | torch.device | None = None,
        lape_quantile: float = 0.95,
    ) -> None:
        self.score = score
        self.lape_quantile = lape_quantile
        self.k = k
        self.bottom_k = bottom_k
        self.pooling = pooling
        self.unit_set = unit_set
        self.device = device

    def _validate(self, n_units: int) -> None:
        if self.score not in SCORES:
            raise ValueError(f"unknown score {self.score!r}; choose one of {SCORES}")
        for name in ("k", "bottom_k"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
        if self.k + self.bottom_k > n_units:
            raise ValueError(
                f"k={self.k} + bottom_k={self.bottom_k} exceeds the {n_units} units available; "
                "lower k or choose a larger unit set"
            )

    def fit(
        self,
        responses: Responses | np.ndarray,
        labels,
        *,
        stats: GroupStats | None = None,
        target_group: int | None = None,
    ) -> ExpertFinder:
        """Score every unit; ``stats`` (per-language token statistics of the same units, from
        the same pass) add per-token means to the expert set and are required by "lape";
        ``target_group`` is the target's row in them."""
        values = responses.values if isinstance(responses, Responses) else responses
        if values.ndim != 2:
            raise ValueError(f"responses must be (n_sentences, n_units), got {values.shape}")
        if isinstance(responses, Responses):
            for param, recorded in (
                ("pooling", responses.meta.get("pooling")),
                ("unit_set", responses.units.spec),
            ):
                wanted = getattr(self, param)
                if wanted is not None and recorded is not None and wanted != recorded:
                    raise ValueError(
                        f"{param}={wanted!r} was asked for but the responses were collected with "
                        f"{param}={recorded!r}; collect them again or change the parameter"
                    )
        labels = _as_labels(labels, values.shape[0])
        self._validate(values.shape[1])
        n_pos, n_neg = int(labels.sum()), int((~labels).sum())
        if min(n_pos, n_neg) < MIN_SENTENCES_PER_CLASS:
            raise ValueError(
                f"{n_pos} positive and {n_neg} negative sentence(s): expertise scores need at "
                f"least {MIN_SENTENCES_PER_CLASS} of each (with a single positive, every unit "
                "that ranks it first ties at the top score and the experts are arbitrary); "
                + _MORE_SENTENCES
            )
        if min(n_pos, n_neg) < WARN_SENTENCES_PER_CLASS:
            warnings.warn(
                f"experts from only {n_pos} positive and {n_neg} negative sentence(s) are "
                f"unreliable (scores from fewer than {WARN_SENTENCES_PER_CLASS} per class are "
                f"noisy and tie often; the paper used 997 positives); {_MORE_SENTENCES}",
                UnreliableExpertsWarning,
                stacklevel=2,
            )
        if stats is not None:
            self._token_stats(stats, target_group, values.shape[1])
        elif self.score == "lape":
            raise ValueError("LAPE scores need per-language token statistics (stats=...)")
        if self.score == "lape":
            from langsteer.methods.lape import lape_scores

            self.scores_, self.lape_ = lape_scores(
                stats.positive_rates(), target_group, quantile=self.lape_quantile
            )
        # ONE read of the matrix gives the scores and the statistics (metrics/panels.py)
        metrics = () if self.score == "lape" else (self.score,)
        scores, pooled = scores_and_stats(values, labels, metrics, device=self.device)
        if metrics:
            self.scores_ = scores[self.score]
        self.pos_mean_, self.pos_median_ = pooled["pos_mean"], pooled["pos_median"]
        self.neg_mean_ = pooled["neg_mean"]
        self.n_pos_, self.n_neg_ = int(labels.sum()), int((~labels).sum())
        self.top_ = top_units(self.scores_, self.k)
        self.bottom_ = top_units(-self.scores_, self.bottom_k)
        self.responses_meta_ = responses.meta if isinstance(responses, Responses) else {}
        self.units_ = responses.units if isinstance(responses, Responses) else None
        return self

    def _token_stats(self, stats: GroupStats, target_group: int | None, n_units: int) -> None:
        if stats.units.n_units != n_units:
            raise ValueError(
                f"token statistics cover {stats.units.n_units} units, the responses {n_units}"
            )
        if target_group is None or not 0 <= target_group < len(stats.languages):
            raise ValueError(f"target_group must index {stats.languages}, got {target_group!r}")
        means = stats.token_means()
        others = [g for g in range(len(stats.languages)) if g != target_group]
        self.pos_token_mean_ = means[target_group].astype(np.float32)
        self.neg_token_mean_ = means[others].mean(axis=0).astype(np.float32)
        self.token_languages_ = list(stats.languages)

    def expert_set(
        self, *, target: str, negatives: list[str], units: UnitSet | None = None, **meta
    ) -> ExpertSet:
        """Package the fitted ranking; ``meta`` adds provenance (corpus, split, seed...)."""
        if not hasattr(self, "scores_"):
            raise RuntimeError("call fit() before expert_set()")
        units = units or self.units_
        if units is None:
            raise ValueError("pass units= (the UnitSet the responses were collected on)")
        rmeta = self.responses_meta_
        info = {
            "format": FORMAT_VERSION,
            "target": target,
            "negatives": list(negatives),
            "score": self.score,
            "k": int(self.k),
            "bottom_k": int(self.bottom_k),
            "n_pos": self.n_pos_,
            "n_neg": self.n_neg_,
            "model": rmeta.get("model", {}),
            "units": units.to_dict(),
            "pooling": rmeta.get("pooling", self.pooling),
            "skip_bos": rmeta.get("skip_bos"),
            "max_length": rmeta.get("max_length"),
            "data_hash": rmeta.get("data_hash"),
            "versions": versions(),
            **meta,
        }
        if hasattr(self, "lape_"):
            info["lape"] = self.lape_
        if hasattr(self, "pos_token_mean_"):
            info["token_languages"] = self.token_languages_
        return ExpertSet(
            scores=np.asarray(self.scores_, np.float64),
            pos_mean=self.pos_mean_,
            pos_median=self.pos_median_,
            neg_mean=self.neg_mean_,
            units=units,
            meta=info,
            pos_token_mean=getattr(self, "pos_token_mean_", None),
            neg_token_mean=getattr(self, "neg_token_mean_", None),
        )


def find_experts(
    loaded: LoadedModel,
    corpus,
    targets: Sequence[str],
    *,
    negatives: Sequence[str] | None = None,
    units: str = ExpertsConfig.units,
    pooling: str = ExpertsConfig.pooling,
    score: str = ExpertsConfig.score,
    k: int = ExpertsConfig.k,
    bottom_k: int = ExpertsConfig.bottom_k,
    skip_bos: bool = ExpertsConfig.skip_bos,
    batch_size: int = RunConfig.batch_size,
    max_length: int = RunConfig.max_length,
    cache_dir: str | Path | None = None,
    progress: bool = True,
) -> tuple[dict[str, ExpertSet], Responses]:
    """Experts for each target from ONE pass over the corpus; negatives default to the other
    targets (and ``negatives``): the paper's ~1:5 setup. Every sentence of every language is
    forwarded once; each target only relabels the same responses."""
    from langsteer.methods.probe import ProbeData

    targets = [normalize_language(t) for t in targets]
    languages = list(dict.fromkeys([*targets, *(normalize_language(x) for x in negatives or [])]))
    missing = [lang for lang in languages if lang not in corpus.languages]
    if missing:
        raise ValueError(
            f"language(s) {missing} are not in the corpus; it has {sorted(corpus.languages)}"
        )
    if len(languages) < 2:
        raise ValueError(
            "expertise needs negatives: give at least one other language (CLI: --negatives; "
            "study file: experts.negatives, or a second language in experts.targets)"
        )
    probe = ProbeData(
        loaded,
        corpus,
        languages,
        skip_bos=skip_bos,
        batch_size=batch_size,
        max_length=max_length,
        cache_dir=cache_dir,
        progress=progress,
    )
    responses = probe.responses(units, pooling)
    stats = probe.stats(units)
    result = {}
    for t in targets:
        finder = ExpertFinder(
            score=score,
            k=k,
            bottom_k=bottom_k,
            pooling=pooling,
            unit_set=units,
            device=probe.scoring_device,
        )
        finder.fit(responses, probe.labels(t), stats=stats, target_group=languages.index(t))
        result[t] = finder.expert_set(target=t, **probe.describe_for(t))
    return result, responses
