"""Non-finite activations: refused with the units affected and the likely cause for the dtype."""

from __future__ import annotations

import numpy as np
import torch

from langsteer.models import LoadedModel, UnitSet
from langsteer.models.attached import active_interventions

__all__ = ["check_finite", "non_finite_cause"]


def check_finite(
    values: np.ndarray, loaded: LoadedModel, *, what: str, units: UnitSet | None = None
) -> None:
    """Refuse NaN/inf, naming the first units affected and the likely cause for the dtype."""
    if np.isfinite(values).all():
        return
    where = ""
    if units is not None and values.ndim == 2:
        cols = np.flatnonzero(~np.isfinite(values).all(axis=0))
        where = f" in {cols.size} unit(s), e.g. {[units.unit_name(int(c)) for c in cols[:3]]}"
    intervened = bool(active_interventions(loaded.model))
    raise FloatingPointError(f"non-finite {what}{where}; " + non_finite_cause(loaded, intervened))


def non_finite_cause(loaded: LoadedModel, intervened: bool = False) -> str:
    """The likely cause of NaN/inf activations given the dtype actually run, and the fix.

    Looks at the weights first (only on this error path): non-finite weights are a damaged
    checkpoint whatever the dtype. ``intervened``: a hook forced values into the model.
    """
    forced = (
        "; or the intervention forces extreme values: check the method's value, scale or "
        "strength ([[methods]] parameters, or intervention.value / intervention.scale / "
        "steering.strength)"
        if intervened
        else ""
    )
    dtype = str(loaded.dtype).removeprefix("torch.")
    with torch.no_grad():
        broken = [
            name
            for name, p in loaded.model.named_parameters()
            if p.is_floating_point() and p.device.type != "meta" and not torch.isfinite(p).all()
        ]
    if broken:
        return (
            f"the model (run in {dtype}) has NaN/inf in its weights themselves "
            f"({len(broken)} tensor(s), e.g. {broken[:3]}), so no dtype helps: the checkpoint is "
            "corrupt or was badly converted; download, save or convert it again"
        )
    if loaded.dtype in (torch.float16, torch.bfloat16):
        return (
            f"the model runs in {dtype}, where this is usually an overflow: run it in float32 "
            '(CLI: --dtype float32; study file: model.dtype = "float32")' + forced
        )
    return (
        f"the model runs in {dtype} and its weights are finite, so this is no half-precision "
        f"overflow: its activations overflow even in {dtype} (weights of extreme size, e.g. a "
        "badly converted or fine-tuned checkpoint; check the model on its own)" + forced
    )
