"""Rank units by how well they detect a language, and store the ranking as an expert file.

``ExpertFinder`` follows scikit-learn: keyword parameters, ``fit()`` returns ``self``, learned
state ends in ``_``. An ``ExpertSet`` keeps the score and the positive/negative statistics of
*every* unit plus the chosen ``k``, so a k sweep or a random-unit control needs no refit, and it
records what it was made from so it can refuse a model it does not belong to.
"""

from __future__ import annotations

import json
import platform
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import safetensors.numpy
import torch
import transformers

from langsteer import __version__
from langsteer.io import atomic_write_bytes
from langsteer.metrics import expertise_scores
from langsteer.models import LoadedModel, UnitSet, resolve_units
from langsteer.responses import Responses

SCORES = ("auroc", "ap")
_STATS = ("scores", "pos_mean", "pos_median", "neg_mean")
FORMAT_VERSION = 1
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


class ExpertFileMismatchError(ValueError):
    """An expert file is applied to a model (or unit set) it was not made for."""


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


def _chunked_stats(values: np.ndarray, labels: np.ndarray, chunk: int = 16384) -> dict:
    """Per-unit mean and median on positives and mean on negatives, in fp32/fp64, chunked."""
    n_units = values.shape[1]
    pos_mean = np.empty(n_units, np.float32)
    pos_median = np.empty(n_units, np.float32)
    neg_mean = np.empty(n_units, np.float32)
    for s in range(0, n_units, chunk):
        block = np.asarray(values[:, s : s + chunk], dtype=np.float32)
        pos, neg = block[labels], block[~labels]
        pos_mean[s : s + chunk] = pos.mean(0, dtype=np.float64)
        pos_median[s : s + chunk] = np.median(pos, axis=0)
        neg_mean[s : s + chunk] = neg.mean(0, dtype=np.float64)
    return {"pos_mean": pos_mean, "pos_median": pos_median, "neg_mean": neg_mean}


class ExpertFinder:
    """Score every unit on "is this sentence in the target language?" and keep the best k.

    Parameters: ``score`` ("auroc", the paper's choice, or "ap"), ``k`` (top units kept),
    ``bottom_k`` (units most predictive of *other* languages, kept too, as in Kojima et al.),
    ``pooling`` and ``unit_set`` (checked against the responses' own record when given),
    ``device`` for scoring (None = CPU; a CUDA device when the model sits on one).
    """

    def __init__(
        self,
        *,
        score: str = "auroc",
        k: int = 2000,
        bottom_k: int = 0,
        pooling: str | None = None,
        unit_set: str | None = None,
        device: str | torch.device | None = None,
    ) -> None:
        self.score = score
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

    def fit(self, responses: Responses | np.ndarray, labels) -> ExpertFinder:
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
        self.scores_ = expertise_scores(values, labels, metrics=(self.score,), device=self.device)[
            self.score
        ]
        stats = _chunked_stats(values, labels)
        self.pos_mean_, self.pos_median_, self.neg_mean_ = (
            stats["pos_mean"],
            stats["pos_median"],
            stats["neg_mean"],
        )
        self.n_pos_, self.n_neg_ = int(labels.sum()), int((~labels).sum())
        self.top_ = top_units(self.scores_, self.k)
        self.bottom_ = top_units(-self.scores_, self.bottom_k)
        self.responses_meta_ = responses.meta if isinstance(responses, Responses) else {}
        self.units_ = responses.units if isinstance(responses, Responses) else None
        return self

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
        return ExpertSet(
            scores=np.asarray(self.scores_, np.float64),
            pos_mean=self.pos_mean_,
            pos_median=self.pos_median_,
            neg_mean=self.neg_mean_,
            units=units,
            meta=info,
        )


def top_units(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest scores; ties broken by unit order so results are stable."""
    if k == 0:
        return np.empty(0, dtype=np.int64)
    return np.argsort(-np.asarray(scores), kind="stable")[:k].astype(np.int64)


def versions() -> dict:
    return {
        "langsteer": __version__,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }


@dataclass
class ExpertSet:
    """A full unit ranking for one target language plus the chosen k (and bottom k)."""

    scores: np.ndarray
    pos_mean: np.ndarray
    pos_median: np.ndarray
    neg_mean: np.ndarray
    units: UnitSet
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = self.units.n_units
        for name in _STATS:
            arr = getattr(self, name)
            if arr.shape != (n,):
                raise ValueError(f"{name} has shape {arr.shape}, expected ({n},)")
        counts = {"k": self.meta.get("k"), "bottom_k": self.meta.get("bottom_k", 0)}
        for name, value in counts.items():
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
        k, bottom_k = counts["k"], counts["bottom_k"]
        if k + bottom_k > n:
            raise ValueError(
                f"k={k} + bottom_k={bottom_k} = {k + bottom_k} experts but the unit set "
                f"{self.units.spec!r} has only {n} units (k alone may not exceed it, and the top "
                "and bottom experts may not overlap); lower k (study file: experts.k, CLI: --k) "
                "or bottom_k"
            )
        for name in _STATS:
            finite = np.isfinite(getattr(self, name))
            if not finite.all():
                bad = np.flatnonzero(~finite)
                which = "every unit" if bad.size == n else f"{bad.size} of {n} units"
                raise ValueError(
                    f"{name} is NaN/inf for {which} (e.g. "
                    f"{[self.units.unit_name(int(i)) for i in bad[:3]]}): the ranking cannot be "
                    "trusted"
                )

    @property
    def target(self) -> str:
        return self.meta["target"]

    @property
    def k(self) -> int:
        return int(self.meta["k"])

    @property
    def bottom_k(self) -> int:
        return int(self.meta.get("bottom_k", 0))

    @property
    def indices(self) -> np.ndarray:
        """Global unit indices of the experts: top k, then bottom k."""
        top = top_units(self.scores, self.k)
        bottom = top_units(-self.scores, self.bottom_k)
        return np.concatenate([top, bottom])

    @property
    def names(self) -> list[str]:
        return [self.units.unit_name(int(i)) for i in self.indices]

    def __len__(self) -> int:
        return self.k + self.bottom_k

    def with_k(self, k: int, bottom_k: int | None = None) -> ExpertSet:
        """The same ranking with another k (no refit)."""
        bottom_k = self.bottom_k if bottom_k is None else bottom_k
        if k < 0 or k + bottom_k > self.units.n_units:
            raise ValueError(f"k={k} (+ bottom_k={bottom_k}) outside 0..{self.units.n_units}")
        return replace(self, meta={**self.meta, "k": int(k), "bottom_k": int(bottom_k)})

    def values(self, stat: str = "mean") -> np.ndarray:
        """The forcing value of each expert: positives' mean (paper) or median (older code)."""
        table = {"mean": self.pos_mean, "median": self.pos_median, "neg_mean": self.neg_mean}
        if stat not in table:
            raise ValueError(f"unknown statistic {stat!r}; choose one of {sorted(table)}")
        return table[stat][self.indices]

    def summary(self) -> dict:
        """Where the experts are: counts by layer and by module kind, and their mean score."""
        hp_idx, _ = self.units.locate(self.indices)
        by_layer: dict[int, int] = {}
        by_kind: dict[str, int] = {}
        by_layer_kind: dict[int, dict[str, int]] = {}
        for h in hp_idx:
            hp = self.units.hook_points[int(h)]
            by_layer[hp.layer] = by_layer.get(hp.layer, 0) + 1
            by_kind[hp.kind] = by_kind.get(hp.kind, 0) + 1
            cell = by_layer_kind.setdefault(hp.layer, {})
            cell[hp.kind] = cell.get(hp.kind, 0) + 1
        top = top_units(self.scores, self.k)
        return {
            "target": self.target,
            "k": self.k,
            "bottom_k": self.bottom_k,
            "score": self.meta.get("score"),
            "mean_score": float(self.scores[top].mean()) if self.k else float("nan"),
            "min_score": float(self.scores[top].min()) if self.k else float("nan"),
            "by_layer": dict(sorted(by_layer.items())),
            "by_kind": by_kind,
            "by_layer_kind": dict(sorted(by_layer_kind.items())),
            "layer_numbering": "decoder block index (0 = first block)",
        }

    # --- persistence -----------------------------------------------------------------------

    def save(self, path: str | Path) -> Path:
        """Write one safetensors file (arrays) with JSON metadata, atomically."""
        path = Path(path)
        tensors = {name: np.ascontiguousarray(getattr(self, name)) for name in _STATS}
        meta = {**self.meta, "units": self.units.to_dict()}
        blob = safetensors.numpy.save(tensors, metadata={"langsteer": json.dumps(meta)})
        atomic_write_bytes(path, blob)
        return path

    @classmethod
    def load(cls, path: str | Path) -> ExpertSet:
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"expert file {path} does not exist")
        try:
            from safetensors import safe_open

            with safe_open(str(path), framework="np") as f:
                header = f.metadata() or {}
                tensors = {name: f.get_tensor(name) for name in f.keys()}  # noqa: SIM118
        except Exception as exc:  # corrupted or not a safetensors file
            raise ValueError(f"{path} is not a readable langsteer expert file: {exc}") from exc
        if "langsteer" not in header or set(_STATS) - set(tensors):
            raise ValueError(f"{path} is a safetensors file but not a langsteer expert file")
        try:
            meta = json.loads(header["langsteer"])
            if not isinstance(meta, dict) or not isinstance(meta.get("target"), str):
                raise ValueError("its metadata names no target language")
            units = UnitSet.from_dict(meta["units"])
            return cls(units=units, meta=meta, **{name: tensors[name] for name in _STATS})
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(
                f"expert file {path} is invalid: {exc}; it is damaged or was edited: find "
                "experts again (`langsteer experts`, or a study without expert files)"
            ) from exc

    def check_compatible(self, loaded: LoadedModel, *, allow_other_model: bool = False) -> None:
        """Refuse a model (or unit layout) this expert file was not made for."""
        made = self.meta.get("model", {})
        made_sig = made.get("signature")
        sig = loaded.signature()
        if made_sig is not None and made_sig != sig:
            diff = {
                k: (made_sig.get(k), sig.get(k))
                for k in set(made_sig) | set(sig)
                if made_sig.get(k) != sig.get(k)
            }
            raise ExpertFileMismatchError(
                f"expert file for target {self.target!r} was made for model "
                f"{made.get('id')!r} but the loaded model {loaded.model_id!r} differs in "
                f"{', '.join(f'{k} (file {a}, model {b})' for k, (a, b) in sorted(diff.items()))};"
                " find experts again for this model with `langsteer experts`"
            )
        if not allow_other_model and made.get("id") not in (None, loaded.model_id):
            raise ExpertFileMismatchError(
                f"expert file was made for model {made.get('id')!r}, not "
                f"{loaded.model_id!r}; the architectures match, so if these are the same weights "
                "pass allow_other_model=True (CLI: --allow-other-model)"
            )
        current = resolve_units(loaded.model, self.units.spec)
        if current.to_dict() != self.units.to_dict():
            raise ExpertFileMismatchError(
                f"unit set {self.units.spec!r} resolves to different hook points on this model "
                f"({current.n_units} units) than in the expert file ({self.units.n_units} units)"
            )
