"""do(z_m := v_m): force expert units through forward hooks on the Hugging Face model itself.

An intervention is a handle: ``with intervene(model, experts): ...`` or ``h = intervene(...)``
then ``h.remove()``. Hooks never touch weights, so removing them restores the model exactly.
Forcing applies at every position of every forward call; with a KV cache each decoding step is
one forward call of one new token, so every generated token is forced as well.
``positions="last"`` forces only the last position of each call (use left padding).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from langsteer.attached import active_interventions, only_attached, register_active
from langsteer.experts import ExpertSet
from langsteer.models import LoadedModel

__all__ = ["Intervention", "active_interventions", "intervene", "only_attached"]

VALUE_MODES = ("mean", "median", "zero")
MODES = ("set", "aura")
POSITIONS = ("all", "last")


@dataclass(frozen=True)
class _Site:
    module: str
    side: str
    channels: torch.Tensor  # long
    values: torch.Tensor  # float32 forcing values, or AurA factors


def random_control_units(experts: ExpertSet, seed: int) -> np.ndarray:
    """As many random non-expert units as there are experts (seeded), in random order."""
    n_units = experts.units.n_units
    chosen = experts.indices
    if 2 * len(chosen) > n_units:
        raise ValueError(
            f"a random control needs {len(chosen)} non-expert units but only "
            f"{n_units - len(chosen)} exist; lower k"
        )
    rng = np.random.default_rng(seed)
    pool = np.setdiff1d(np.arange(n_units), chosen, assume_unique=True)
    return rng.choice(pool, size=len(chosen), replace=False).astype(np.int64)


class Intervention:
    """Forward hooks forcing (or dampening) a set of units; a context manager and a handle."""

    def __init__(
        self,
        model: LoadedModel | torch.nn.Module,
        experts: ExpertSet,
        *,
        value: str | float = "mean",
        scale: float = 1.0,
        mode: str = "set",
        positions: str = "all",
        control: str | None = None,
        seed: int = 0,
        check: bool = True,
        allow_other_model: bool = False,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown intervention mode {mode!r}; choose one of {MODES}")
        if positions not in POSITIONS:
            raise ValueError(f"unknown positions {positions!r}; choose one of {POSITIONS}")
        if control not in (None, "random"):
            raise ValueError(f"unknown control {control!r}; choose None or 'random'")
        if isinstance(value, str) and value not in VALUE_MODES:
            raise ValueError(f"unknown value {value!r}; choose one of {VALUE_MODES} or a number")
        if isinstance(model, LoadedModel):
            if check:
                experts.check_compatible(model, allow_other_model=allow_other_model)
            model = model.model
        self.model = model
        self.experts = experts
        self.options = {
            "target": experts.meta.get("target"),
            "k": experts.k,
            "bottom_k": experts.bottom_k,
            "value": value,
            "scale": float(scale),
            "mode": mode,
            "positions": positions,
            "control": control,
            "seed": seed if control == "random" else None,
            "units": experts.units.spec,
        }
        self.unit_indices = experts.indices
        if len(self.unit_indices) == 0:
            raise ValueError(
                f"nothing to intervene on: the expert set of {experts.meta.get('target')!r} has "
                "k = 0 (and bottom_k = 0); choose at least one expert (study file: experts.k; "
                "CLI: langsteer experts --k)"
            )
        if control == "random":
            self.unit_indices = random_control_units(experts, seed)
        self.sites = self._sites(self._unit_values(value, scale, mode))
        self._handles: list = []
        self.attach()

    def _unit_values(self, value, scale: float, mode: str) -> np.ndarray:
        if mode == "aura":
            if self.experts.meta.get("score") != "auroc":
                raise ValueError("AurA dampening needs experts scored by AUROC (score='auroc')")
            auroc = self.experts.scores[self.experts.indices]
            # AurA: multiply by 1 - Gini = 1 - 2 (AUROC - 0.5), clipped to [0, 1]
            return np.clip(1.0 - 2.0 * (auroc - 0.5), 0.0, 1.0).astype(np.float32)
        if isinstance(value, str):
            base = (
                np.zeros(len(self.experts), np.float32)
                if value == "zero"
                else self.experts.values(value)
            )
        else:
            if not np.isfinite(value):
                raise ValueError(f"constant value must be finite, got {value}")
            base = np.full(len(self.experts), value, np.float32)
        return (base * scale).astype(np.float32)

    def _sites(self, values: np.ndarray) -> list[_Site]:
        hp_idx, channels = self.experts.units.locate(self.unit_indices)
        sites = []
        for h in np.unique(hp_idx):
            sel = hp_idx == h
            hp = self.experts.units.hook_points[int(h)]
            sites.append(
                _Site(
                    hp.module,
                    hp.side,
                    torch.as_tensor(channels[sel], dtype=torch.long),
                    torch.as_tensor(values[sel], dtype=torch.float32),
                )
            )
        return sites

    def _apply(self, x: torch.Tensor, site: _Site) -> torch.Tensor:
        idx = site.channels.to(x.device)
        vals = site.values.to(device=x.device, dtype=x.dtype)
        if self.options["positions"] == "all":
            target = x
        else:
            # flattened (B*T, C) activations (OPT's MLP) are viewed back to (B, T, C)
            view = x.view(*self._input_shape, x.shape[-1]) if x.dim() == 2 else x
            target = view[:, -1:, :]
        if self.options["mode"] == "aura":
            target[..., idx] = target[..., idx] * vals
        else:
            target[..., idx] = vals
        return x

    def _remember_shape(self, module, args) -> None:
        self._input_shape = tuple(args[0].shape[:2])

    def attach(self) -> Intervention:
        if self._handles:
            return self
        if self.options["positions"] == "last":
            # (batch, time) of the current call, from the token embedding every forward uses
            embed = self.model.get_input_embeddings()
            self._handles.append(embed.register_forward_pre_hook(self._remember_shape))
        for site in self.sites:
            module = self.model.get_submodule(site.module)
            if site.side == "out":

                def hook(mod, args, output, site=site):
                    return self._apply(output, site)

                self._handles.append(module.register_forward_hook(hook))
            else:

                def pre_hook(mod, args, site=site):
                    # the module input may be referenced elsewhere: force a copy
                    return (self._apply(args[0].clone(), site), *args[1:])

                self._handles.append(module.register_forward_pre_hook(pre_hook))
        register_active(self.model, self, True)
        return self

    def remove(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []
        register_active(self.model, self, False)

    @property
    def active(self) -> bool:
        return bool(self._handles)

    def describe(self) -> dict:
        return dict(self.options)

    def __enter__(self) -> Intervention:
        return self.attach()

    def __exit__(self, *exc) -> None:
        self.remove()


def intervene(model, experts: ExpertSet, **options) -> Intervention:
    """Attach an intervention now; use as a context manager or call ``.remove()``."""
    return Intervention(model, experts, **options)
