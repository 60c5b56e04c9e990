"""Which langsteer handles (interventions, steering vectors) are attached to a model.

Every hook-based handle registers itself on the model it hooks while attached, so code that
caches results under a key describing the model state (responses, embeddings) can refuse to run
when a handle is attached that the key would not name.
"""

from __future__ import annotations

import torch

from langsteer.models import LoadedModel

_ACTIVE = "_langsteer_active"  # attribute on the hooked model listing the attached handles


def active_interventions(model: LoadedModel | torch.nn.Module) -> list:
    """The langsteer handles now attached to ``model`` (so a cache key can never omit one)."""
    model = model.model if isinstance(model, LoadedModel) else model
    return list(model.__dict__.get(_ACTIVE, ()))


def only_attached(model: LoadedModel | torch.nn.Module, intervention: object | None = None):
    """Refuse to compute under a handle that is attached but not named (it would poison the
    cache key and the metadata), or under several at once; returns ``intervention``."""
    others = [h for h in active_interventions(model) if h is not intervention]
    if others:
        raise ValueError(
            f"{len(others)} other intervention(s) are attached to this model; remove them or "
            "pass the one that is active as intervention= (one at a time)"
        )
    return intervention


def register_active(model: torch.nn.Module, handle: object, attached: bool) -> None:
    """Record (or forget) an attached handle on its model; every hook-based handle calls it."""
    handles = model.__dict__.setdefault(_ACTIVE, [])
    if attached:
        handles.append(handle)
    elif handle in handles:
        handles.remove(handle)
