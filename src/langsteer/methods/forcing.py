"""Model methods on selected units: do(z_m := v_m) for expert units (the paper), and controls.

``experts``: rank every unit by how well its pooled response detects the target language on the
probing split (AUROC, the paper; AP, Suau et al.), keep the top k, and force each one at every
position to a value learned from the target's sentences. ``random-units``: the same number of
random non-expert units given the experts' values (the paper's Sec. 7 control). The forcing is a
list of :class:`~langsteer.methods.hooks.Edit` s, one per hook point holding experts.

Values (``value``): ``mean`` = mean of the unit's *pooled* (by default max-pooled) responses on
the target's sentences (the paper's "mean activation"); ``token-mean`` = mean of its activation
over every token of the target's sentences (collected in the same pass, no second forward);
``median`` of the pooled responses (the older code's "on_p50"); ``zero``; or a number, each
times ``scale``. Modes (``mode``): ``set`` replaces the activation with the value (do(z := v));
``aura`` multiplies it by AurA's 1 - 2 (AUROC - 0.5) (value unused); ``add`` adds
``scale * (token mean on the target - mean of the other languages' token means)`` (Gurgurov et
al. 2025, "additive"; value unused); ``multiply`` multiplies it by ``scale`` (their
"multiplicative"; value unused).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from langsteer.config import ExpertsConfig, InterventionConfig
from langsteer.methods.base import MethodError, ModelMethod, register
from langsteer.methods.experts import SCORES, ExpertFinder
from langsteer.methods.expertset import ExpertSet, scores_hash
from langsteer.methods.hooks import POSITIONS, Edit, HookSet
from langsteer.methods.probe import Need
from langsteer.models import LoadedModel, UnitSet

__all__ = [
    "MODES",
    "VALUES",
    "ExpertForcing",
    "Intervention",
    "RandomUnits",
    "forcing_edits",
    "intervene",
    "random_control_units",
]

VALUES = ("mean", "token-mean", "median", "zero")
MODES = ("set", "aura", "add", "multiply")


def forcing_edits(
    units: UnitSet, indices: np.ndarray, values: np.ndarray, mode: str = "set"
) -> list[Edit]:
    """One edit per hook point: set (or multiply) the given channels to the given values."""
    hp_idx, channels = units.locate(indices)
    edits = []
    for h in np.unique(hp_idx):
        sel = hp_idx == h
        hp = units.hook_points[int(h)]
        idx = torch.as_tensor(channels[sel], dtype=torch.long)
        vals = torch.as_tensor(values[sel], dtype=torch.float32)
        edits.append(Edit(hp.module, hp.side, _channel_edit(idx, vals, mode)))
    return edits


def _channel_edit(idx: torch.Tensor, vals: torch.Tensor, mode: str):
    cast: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}

    def apply(x: torch.Tensor) -> None:
        key = (x.device, x.dtype)
        if key not in cast:  # move to the module's device and dtype once
            cast[key] = (idx.to(x.device), vals.to(device=x.device, dtype=x.dtype))
        i, v = cast[key]
        if mode == "set":
            x[..., i] = v
        elif mode == "add":
            x[..., i] = x[..., i] + v
        else:  # "aura" and "multiply"
            x[..., i] = x[..., i] * v

    return apply


def random_control_units(experts: ExpertSet, seed: int) -> np.ndarray:
    """As many random non-expert units as there are experts (seeded), in random order."""
    n_units = experts.units.n_units
    chosen = experts.indices
    if 2 * len(chosen) > n_units:
        raise ValueError(
            f"a random control needs {len(chosen)} non-expert units but only "
            f"{n_units - len(chosen)} exist; lower k (experts.k / --k)"
        )
    rng = np.random.default_rng(seed)
    pool = np.setdiff1d(np.arange(n_units), chosen, assume_unique=True)
    return rng.choice(pool, size=len(chosen), replace=False).astype(np.int64)


def unit_values(experts: ExpertSet, value: str | float, mode: str, scale: float) -> np.ndarray:
    """The number each expert is set to, multiplied by, or shifted by (see the module doc)."""
    if mode == "multiply":
        return np.full(len(experts), scale, np.float32)
    if mode == "add":
        return (experts.values("token-diff") * scale).astype(np.float32)
    if mode == "aura":
        if experts.meta.get("score") != "auroc":
            raise ValueError('AurA dampening needs experts scored by AUROC (score = "auroc")')
        auroc = experts.scores[experts.indices]
        # AurA: multiply by 1 - Gini = 1 - 2 (AUROC - 0.5), clipped to [0, 1]
        return np.clip(1.0 - 2.0 * (auroc - 0.5), 0.0, 1.0).astype(np.float32)
    if isinstance(value, str):
        base = np.zeros(len(experts), np.float32) if value == "zero" else experts.values(value)
    else:
        base = np.full(len(experts), value, np.float32)
    return (base * scale).astype(np.float32)


class Intervention(HookSet):
    """Forcing of an expert set (or of random units with its values); see :func:`intervene`."""

    def __init__(
        self,
        loaded: LoadedModel | torch.nn.Module,
        experts: ExpertSet,
        *,
        value: str | float = InterventionConfig.value,
        scale: float = InterventionConfig.scale,
        mode: str = InterventionConfig.mode,
        positions: str = InterventionConfig.positions,
        control: str | None = None,
        seed: int = InterventionConfig.random_seed,
        check: bool = True,
        allow_other_model: bool = False,
    ) -> None:
        _check_options(value, mode, positions)
        if control not in (None, "random"):
            raise ValueError(f"unknown control {control!r}; choose None or 'random'")
        if isinstance(loaded, LoadedModel) and check:
            experts.check_compatible(loaded, allow_other_model=allow_other_model)
        if len(experts) == 0:
            raise ValueError("no units to force: k + bottom_k is 0 (experts.k / --k >= 1)")
        self.experts = experts
        self.unit_indices = experts.indices
        if control == "random":
            self.unit_indices = random_control_units(experts, seed)
        values = unit_values(experts, value, mode, scale)
        edits = forcing_edits(experts.units, self.unit_indices, values, mode)
        description = {
            "kind": "forcing",
            "target": experts.meta.get("target"),
            "k": experts.k,
            "bottom_k": experts.bottom_k,
            "value": value,
            "scale": float(scale),
            "mode": mode,
            "control": control,
            "seed": seed if control == "random" else None,
            "units": experts.units.spec,
            "experts_data_hash": experts.meta.get("data_hash"),
            "experts_scores_hash": scores_hash(experts),
        }
        super().__init__(loaded, edits, description, positions=positions)


def intervene(model: Any, experts: ExpertSet, **options: Any) -> Intervention:
    """Attach an expert intervention now; use as a context manager or call ``.remove()``."""
    return Intervention(model, experts, **options)


def _check_options(value: Any, mode: str, positions: str) -> None:
    if mode not in MODES:
        raise ValueError(f"unknown intervention mode {mode!r}; choose one of {MODES}")
    if positions not in POSITIONS:
        raise ValueError(f"unknown positions {positions!r}; choose one of {POSITIONS}")
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"value must be one of {VALUES} or a number, got {value!r}")
    if isinstance(value, str) and value not in VALUES:
        raise ValueError(f"unknown value {value!r}; choose one of {VALUES} or a number")
    if not isinstance(value, str) and not np.isfinite(value):
        raise ValueError(f"a constant value must be finite, got {value}")


@dataclass(frozen=True)
class ExpertParams:
    units: str = ExpertsConfig.units
    pooling: str = ExpertsConfig.pooling
    score: str = ExpertsConfig.score
    k: int = ExpertsConfig.k
    bottom_k: int = ExpertsConfig.bottom_k
    value: str | float = InterventionConfig.value
    mode: str = InterventionConfig.mode
    scale: float = InterventionConfig.scale
    positions: str = InterventionConfig.positions


@register
class ExpertForcing(ModelMethod):
    """Force the top-k language-expert units (Suau et al.; AurA; the paper)."""

    name = "experts"
    summary = (
        "top-k units by AUROC/AP of their pooled responses for the target language, forced "
        "to a value learned on the target's sentences at every position (Sundar et al. 2025)"
    )
    Params = ExpertParams
    control: str | None = None
    allow_other_model: bool = False  # an expert file of another model id may be attached

    def check_params(self) -> None:
        p = self.params
        try:
            _check_options(p.value, p.mode, p.positions)
        except ValueError as exc:
            raise MethodError(f"method {self.name!r}: {exc}") from None
        if p.score not in SCORES:
            raise MethodError(f"method {self.name!r}: score must be one of {SCORES}")
        if p.k < 0 or p.bottom_k < 0 or p.k + p.bottom_k == 0:
            raise MethodError(
                f"method {self.name!r}: k = {p.k}, bottom_k = {p.bottom_k}: force at least one "
                "unit (k >= 1)"
            )

    def needs(self) -> list[Need]:
        return [Need(units=self.params.units, pooling=self.params.pooling)]

    @classmethod
    def from_expert_set(
        cls, experts: ExpertSet, *, allow_other_model: bool = False, **params: Any
    ) -> ExpertForcing:
        """A fitted method from an expert file (its ranking; k from the file unless given);
        ``allow_other_model`` lets :meth:`attach` apply it to another model id of the same
        architecture (CLI ``--allow-other-model``)."""
        meta = experts.meta
        given = {
            "units": experts.units.spec,
            "pooling": meta.get("pooling", "max"),
            "score": meta.get("score", "auroc"),
            "k": experts.k,
            "bottom_k": experts.bottom_k,
        }
        method = cls(**{**given, **params})
        method.experts_ = experts.with_k(method.params.k, method.params.bottom_k)
        method.target_ = experts.target
        method.allow_other_model = allow_other_model
        return method

    def _finder_options(self) -> dict[str, Any]:
        return {}

    def _check_selection(self, experts: ExpertSet) -> None:
        """Refuse a selection that cannot give ``k`` units (LAPE's filter)."""

    def fit(self, probe: Any, target: str) -> ExpertForcing:
        p = self.params
        responses = probe.responses(p.units, p.pooling)
        finder = ExpertFinder(
            score=p.score,
            k=p.k,
            bottom_k=p.bottom_k,
            pooling=p.pooling,
            unit_set=p.units,
            device=probe.scoring_device,
            **self._finder_options(),
        )
        finder.fit(
            responses,
            probe.labels(target),
            stats=probe.stats(p.units),
            target_group=probe.languages.index(target),
        )
        self.experts_ = finder.expert_set(target=target, **probe.describe_for(target))
        self._check_selection(self.experts_)
        self.target_ = target
        return self

    def with_k(self, k: int) -> ExpertForcing:
        """The same fitted ranking with another number of units (no refit)."""
        self._check_fitted()
        clone = type(self)(**{**self.get_params(), "k": int(k)})
        clone.experts_ = self.experts_.with_k(int(k), self.params.bottom_k)
        clone.target_ = self.target_
        clone.allow_other_model = self.allow_other_model
        return clone

    def attach(self, loaded: LoadedModel) -> Intervention:
        self._check_fitted()
        p = self.params
        return Intervention(
            loaded,
            self.experts_,
            value=p.value,
            scale=p.scale,
            mode=p.mode,
            positions=p.positions,
            control=self.control,
            seed=getattr(p, "seed", 0),
            allow_other_model=self.allow_other_model,
        )

    def describe(self) -> dict[str, Any]:
        out = super().describe()
        if hasattr(self, "experts_"):
            out.update(
                target=self.target_,
                experts_scores_hash=scores_hash(self.experts_),
                experts_data_hash=self.experts_.meta.get("data_hash"),
            )
        return out


@dataclass(frozen=True)
class RandomParams(ExpertParams):
    seed: int = InterventionConfig.random_seed


@register
class RandomUnits(ExpertForcing):
    """The experts' count and values on random non-expert units (the paper's control)."""

    name = "random-units"
    summary = (
        "as many random non-expert units as experts, each given an expert's value: does the "
        "change need the experts? (Sundar et al. 2025, Sec. 7)"
    )
    Params = RandomParams
    control = "random"
