"""Expert files: a full unit ranking for one target, its statistics, and what it was made from.

An :class:`ExpertSet` keeps the score and the positive/negative statistics of *every* unit plus
the chosen ``k``, so a k sweep or a random-unit control needs no refit, and it records what it
was made from so it can refuse a model it does not belong to. It is saved as one safetensors
file (arrays) with JSON metadata, written atomically.
"""

from __future__ import annotations

import hashlib
import json
import platform
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import safetensors.numpy
import torch
import transformers

from langsteer import __version__
from langsteer.io import atomic_write_bytes
from langsteer.models import LoadedModel, UnitSet, resolve_units

__all__ = [
    "FORMAT_VERSION",
    "ExpertFileMismatchError",
    "ExpertSet",
    "scores_hash",
    "top_units",
    "versions",
]

_STATS = ("scores", "pos_mean", "pos_median", "neg_mean")
#: per-token means of the target's and (equal-weight mean of) the other languages' tokens; in
#: files of format 2 on, absent from format 1 files
_TOKEN_STATS = ("pos_token_mean", "neg_token_mean")
FORMAT_VERSION = 2


class ExpertFileMismatchError(ValueError):
    """An expert file is applied to a model (or unit set) it was not made for."""


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
    pos_token_mean: np.ndarray | None = None
    neg_token_mean: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = self.units.n_units
        for name in self._arrays():
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
        for name in self._arrays():
            finite = np.isfinite(getattr(self, name))
            if not finite.all():
                bad = np.flatnonzero(~finite)
                which = "every unit" if bad.size == n else f"{bad.size} of {n} units"
                raise ValueError(
                    f"{name} is NaN/inf for {which} (e.g. "
                    f"{[self.units.unit_name(int(i)) for i in bad[:3]]}): the ranking cannot be "
                    "trusted"
                )

    def _arrays(self) -> tuple[str, ...]:
        return _STATS + tuple(n for n in _TOKEN_STATS if getattr(self, n) is not None)

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
        """A statistic of each expert: ``mean`` of its pooled responses on the target's
        sentences (the paper's forcing value), ``median`` (older code), ``neg_mean``,
        ``token-mean`` (its mean activation over every token of the target's sentences) and
        ``token-diff`` (that minus the other languages' token mean: the additive direction)."""
        table = {
            "mean": self.pos_mean,
            "median": self.pos_median,
            "neg_mean": self.neg_mean,
            "token-mean": self.pos_token_mean,
        }
        if self.pos_token_mean is not None:
            table["token-diff"] = self.pos_token_mean - self.neg_token_mean
        else:
            table["token-diff"] = None
        if stat not in table:
            raise ValueError(f"unknown statistic {stat!r}; choose one of {sorted(table)}")
        if table[stat] is None:
            raise ValueError(
                f"this expert set has no per-token statistics (an expert file of format 1): "
                f"{stat!r} needs them; find the experts again with this version"
            )
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
        tensors = {name: np.ascontiguousarray(getattr(self, name)) for name in self._arrays()}
        meta = {**self.meta, "units": self.units.to_dict(), "format": FORMAT_VERSION}
        meta.pop("path", None)
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
            arrays = {name: tensors[name] for name in _STATS}
            arrays.update({name: tensors[name] for name in _TOKEN_STATS if name in tensors})
            return cls(units=units, meta=meta, **arrays)
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


def scores_hash(experts: ExpertSet) -> str:
    """Short hash of an expert set's ranking (with its data hash, it names the experts)."""
    return hashlib.sha256(np.ascontiguousarray(experts.scores).tobytes()).hexdigest()[:16]
