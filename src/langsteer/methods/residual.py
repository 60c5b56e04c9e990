"""Residual-stream model methods: a steering vector added at one layer.

``steering-vector`` (DiffMean; what CLaS-Bench 2026 found to beat neuron methods at steering
the output language): ``vector = mean_t - mean_{l != t} mean_l`` at hidden state ``layer``,
where ``mean_l`` is the mean of language l's sentence embeddings on the probing split (mask-aware
token mean of that hidden state, BOS excluded, from the shared probing pass) and every other
language weighs the same; ``strength * vector`` is added to the block output at every position.

Layers are hidden-state indices as in ``evaluation.layer`` (0 = token embeddings, negative from
the last); state h is the output of block h - 1, hooked there. 0 and L (after the final norm)
are refused. ``layer = None`` means the middle, L // 2.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from langsteer.config import InterventionConfig, SteeringConfig
from langsteer.methods.base import MethodError, ModelMethod, register
from langsteer.methods.hooks import POSITIONS, Edit, HookSet
from langsteer.methods.probe import Need
from langsteer.models import LoadedModel, decoder_blocks

__all__ = ["LAYER_NUMBERING", "SteeringVector", "middle_layer", "resolve_steering_layer"]

LAYER_NUMBERING = "hidden-state index (0 = token embeddings, -1 = last)"


def middle_layer(n_layers: int) -> int:
    """The default steering layer: hidden-state index ``n_layers // 2`` (9 of Gemma-3-270M's 18)."""
    return max(1, n_layers // 2)


def resolve_steering_layer(layer: int | None, n_layers: int) -> int:
    """``layer`` (None = middle, negative = from the last) as 1..L-1: states a block outputs."""
    if n_layers < 2:
        raise ValueError(f"a steering vector needs >= 2 decoder blocks, this model has {n_layers}")
    if layer is None:
        return middle_layer(n_layers)
    if isinstance(layer, bool) or not isinstance(layer, int | np.integer):
        raise ValueError(f"steering layer must be an integer hidden-state index, got {layer!r}")
    h = int(layer) + n_layers + 1 if layer < 0 else int(layer)
    if not 1 <= h <= n_layers - 1:
        raise ValueError(
            f"steering layer {layer} (hidden state {h}) out of range: steerable hidden states "
            f"are 1..{n_layers - 1} (0 is the token embeddings, {n_layers} is after the final norm)"
        )
    return h


def _add(delta: np.ndarray):
    base = torch.as_tensor(delta, dtype=torch.float32)
    cast: dict[tuple, torch.Tensor] = {}

    def apply(x: torch.Tensor) -> None:
        key = (x.device, x.dtype)
        if key not in cast:
            cast[key] = base.to(device=x.device, dtype=x.dtype)
        x += cast[key]

    return apply


class _ResidualMethod(ModelMethod):
    """Shared by methods that act on one block's output: layer resolution and provenance."""

    def check_model(self, loaded: Any) -> None:
        try:
            resolve_steering_layer(self.params.layer, loaded.signature()["num_hidden_layers"])
        except ValueError as exc:
            raise MethodError(f"method {self.name!r}: {exc}") from None

    def check_params(self) -> None:
        layer, positions = self.params.layer, self.params.positions
        if layer is not None and (
            isinstance(layer, bool) or not isinstance(layer, int | np.integer)
        ):
            raise MethodError(
                f"method {self.name!r}: layer must be an integer hidden-state index or none "
                f"(the middle), got {layer!r}"
            )
        if positions not in POSITIONS:
            raise MethodError(
                f"method {self.name!r}: positions must be one of {POSITIONS}, got {positions!r}"
            )

    def needs(self) -> list[Need]:
        return [Need(embeddings=True)]

    def _fit_means(self, probe: Any, target: str) -> tuple[dict[str, np.ndarray], int]:
        n_layers = int(probe.loaded.signature()["num_hidden_layers"])
        layer = resolve_steering_layer(self.params.layer, n_layers)
        means = probe.language_means(layer)
        if target not in means:
            raise ValueError(f"target {target} is not among the probed languages {list(means)}")
        self.layer_ = layer
        self.block_ = decoder_blocks(probe.loaded.model)[layer - 1][0]
        self.target_ = target
        self.languages_ = list(means)
        self.hidden_size_ = int(probe.loaded.signature()["hidden_size"])
        return means, layer

    def _check_model(self, loaded: LoadedModel) -> None:
        self._check_fitted()
        d = loaded.signature()["hidden_size"]
        if d != self.hidden_size_:
            raise ValueError(f"{self.name} fitted for hidden size {self.hidden_size_}, model {d}")


@dataclass(frozen=True)
class SteeringParams:
    layer: int | None = SteeringConfig.layer
    strength: float = SteeringConfig.strength
    positions: str = InterventionConfig.positions


@register
class SteeringVector(_ResidualMethod):
    """Add ``strength`` x (target mean - mean of the other languages' means) at one layer."""

    name = "steering-vector"
    summary = (
        "difference of the target's and the other languages' mean hidden states, added to the "
        "residual stream at one layer (DiffMean; CLaS-Bench 2026)"
    )
    Params = SteeringParams

    def fit(self, probe: Any, target: str) -> SteeringVector:
        means, _ = self._fit_means(probe, target)
        others = np.mean([m for lang, m in means.items() if lang != target], axis=0)
        vector = (means[target] - others).astype(np.float32)
        if not np.isfinite(vector).all():
            raise ValueError("the steering vector is not finite (non-finite hidden states)")
        self.vector_ = vector
        self.norm_ = float(np.linalg.norm(vector.astype(np.float64)))
        return self

    def attach(self, loaded: LoadedModel) -> HookSet:
        self._check_model(loaded)
        delta = self.vector_ * np.float32(self.params.strength)
        return HookSet(
            loaded,
            [Edit(self.block_, "out", _add(delta))],
            self.describe(),
            positions=self.params.positions,
        )

    def describe(self) -> dict[str, Any]:
        out = super().describe()
        if hasattr(self, "vector_"):
            out.update(
                target=self.target_,
                layer=self.layer_,
                block=self.block_,
                layer_numbering=LAYER_NUMBERING,
                norm=self.norm_,
                strength_units="multiples of the vector (1 = the whole target-minus-others shift)",
                vector_hash=hashlib.sha256(self.vector_.tobytes()).hexdigest()[:16],
            )
        return out
