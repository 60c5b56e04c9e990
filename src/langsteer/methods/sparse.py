"""Sparse dimensions: overwrite the few hidden dimensions where the target language differs most.

``sparse-dims`` ("Language lives in sparse dimensions", EACL 2026): at hidden state ``layer``
(numbered as the steering vector's, :func:`~langsteer.methods.residual.resolve_steering_layer`),
take the per-language mean hidden states of the probing split (mask-aware token mean per
sentence, BOS excluded, averaged over the language's sentences: ``ProbeData.language_means``),
score every dimension by ``|mean_target - mean_others|`` (``mean_others`` = the mean of the other
languages' means, each language weighing the same), keep the ``dims`` largest, and overwrite
those dimensions of the block's output with the target's mean at every position. The paper
contrasts the target with one source language; with several probed languages we contrast it
with all of them, like the steering vector.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from langsteer.config import InterventionConfig, SteeringConfig
from langsteer.methods.base import MethodError, register
from langsteer.methods.hooks import Edit, HookSet
from langsteer.methods.residual import LAYER_NUMBERING, _ResidualMethod
from langsteer.models import LoadedModel

__all__ = ["SparseDims", "sparse_dimensions"]


def sparse_dimensions(
    means: Mapping[str, np.ndarray], target: str, dims: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(indices, target values, gaps)`` of the ``dims`` dimensions with the largest
    ``|mean_target - mean_others|`` (largest first; ties by dimension order)."""
    if target not in means:
        raise ValueError(f"target {target} is not among the probed languages {list(means)}")
    others = [np.asarray(m, np.float64) for lang, m in means.items() if lang != target]
    if not others:
        raise ValueError("sparse dimensions need at least one language besides the target")
    tgt = np.asarray(means[target], np.float64)
    gaps = np.abs(tgt - np.mean(others, axis=0))
    if not np.isfinite(gaps).all():
        raise ValueError("the language means are not finite (non-finite hidden states)")
    if not 1 <= dims <= gaps.shape[0]:
        raise ValueError(
            f"dims = {dims} but the hidden state has {gaps.shape[0]} dimensions; set "
            f"[[methods]] dims between 1 and {gaps.shape[0]}"
        )
    idx = np.argsort(-gaps, kind="stable")[:dims].astype(np.int64)
    return idx, tgt[idx], gaps


def _overwrite(idx: np.ndarray, values: np.ndarray):
    base_idx = torch.as_tensor(idx, dtype=torch.long)
    base_val = torch.as_tensor(values, dtype=torch.float32)
    cast: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}

    def apply(x: torch.Tensor) -> None:
        key = (x.device, x.dtype)
        if key not in cast:
            cast[key] = (base_idx.to(x.device), base_val.to(device=x.device, dtype=x.dtype))
        i, v = cast[key]
        x[..., i] = v

    return apply


@dataclass(frozen=True)
class SparseParams:
    layer: int | None = SteeringConfig.layer
    dims: int = 32
    positions: str = InterventionConfig.positions


@register
class SparseDims(_ResidualMethod):
    """Set the ``dims`` most language-specific hidden dimensions to the target's mean."""

    name = "sparse-dims"
    summary = (
        "the K hidden dimensions with the largest |target mean - others' mean| at one layer, "
        'overwritten with the target mean ("Language lives in sparse dimensions", EACL 2026)'
    )
    Params = SparseParams

    def check_model(self, loaded: Any) -> None:
        super().check_model(loaded)
        d = int(loaded.signature()["hidden_size"])
        if self.params.dims >= d:
            raise MethodError(
                f"method 'sparse-dims': dims = {self.params.dims} would overwrite every one of "
                f"the {d} hidden dimensions (the residual stream would carry nothing); set "
                f"[[methods]] dims below {d}"
            )

    def check_params(self) -> None:
        super().check_params()
        d = self.params.dims
        if isinstance(d, bool) or not isinstance(d, int | np.integer) or d < 1:
            raise MethodError(f"method {self.name!r}: dims must be an integer >= 1, got {d!r}")

    def fit(self, probe: Any, target: str) -> SparseDims:
        means, _ = self._fit_means(probe, target)
        idx, values, gaps = sparse_dimensions(means, target, self.params.dims)
        self.dims_ = idx
        self.values_ = values.astype(np.float32)
        total = float(np.sum(gaps**2))
        self.gap_share_ = float(np.sum(gaps[idx] ** 2) / total) if total > 0 else 0.0
        self.gap_range_ = (float(gaps[idx].min()), float(gaps[idx].max()))
        return self

    def attach(self, loaded: LoadedModel) -> HookSet:
        self._check_model(loaded)
        return HookSet(
            loaded,
            [Edit(self.block_, "out", _overwrite(self.dims_, self.values_))],
            self.describe(),
            positions=self.params.positions,
        )

    def describe(self) -> dict[str, Any]:
        out = super().describe()
        if hasattr(self, "dims_"):
            out.update(
                target=self.target_,
                layer=self.layer_,
                block=self.block_,
                layer_numbering=LAYER_NUMBERING,
                languages=self.languages_,
                dimensions=[int(i) for i in self.dims_],
                gap_min=self.gap_range_[0],
                gap_max=self.gap_range_[1],
                gap_share=self.gap_share_,
                gap_share_means="share of the squared target-minus-others gap in these dims",
                values_hash=hashlib.sha256(self.values_.tobytes()).hexdigest()[:16],
            )
        return out
