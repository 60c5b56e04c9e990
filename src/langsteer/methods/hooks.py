"""One hook mechanism for every model method: named edits of named tensors, as a handle.

A model method (expert forcing, random units, a steering vector, sparse dimensions...) says
*what* to change as a list of :class:`Edit` s (a module path, which side of it, and an in-place
function on the selected positions); :class:`HookSet` does the rest once for all of them:
forward hooks (outputs) and pre-hooks (inputs, copied before editing), the positions policy,
attach / remove / ``active`` / ``describe()``, the context manager, and the registration on the
model that lets cached passes refuse an unnamed hook. Hooks never touch weights, so removing
them restores the model exactly.

Positions: ``"all"`` edits every position of every forward call; with a KV cache each decoding
step is one call of one new token, so every generated token is edited as well. ``"last"``
edits only the last position of each call (use left padding).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import torch

from langsteer.models import LoadedModel
from langsteer.models.attached import register_active

__all__ = ["POSITIONS", "Edit", "HookSet"]

POSITIONS = ("all", "last")


@dataclass(frozen=True)
class Edit:
    """Change one tensor: ``apply(x)`` edits ``x`` (..., C) in place at the selected positions.

    ``side="out"`` edits a module's output (for a block returning a tuple, its first element,
    the hidden states); ``side="in"`` edits a copy of its first input (a pre-hook).
    """

    module: str
    side: Literal["out", "in"]
    apply: Callable[[torch.Tensor], None]


class HookSet:
    """Forward hooks applying :class:`Edit` s; a handle and a context manager.

    ``description`` is what :meth:`describe` returns: it must name everything that changes the
    model's outputs (it is the cache key of every pass run under this handle).
    """

    def __init__(
        self,
        model: LoadedModel | torch.nn.Module,
        edits: list[Edit],
        description: dict[str, Any],
        *,
        positions: str = "all",
        attach: bool = True,
    ) -> None:
        if positions not in POSITIONS:
            raise ValueError(f"unknown positions {positions!r}; choose one of {POSITIONS}")
        self.model = model.model if isinstance(model, LoadedModel) else model
        self.edits = list(edits)
        self.description = {**description, "positions": positions}
        self.positions = positions
        self._handles: list = []
        self._shape: tuple[int, int] | None = None
        for e in self.edits:  # fail now, not at the first forward call
            self.model.get_submodule(e.module)
        if attach:
            self.attach()

    def _select(self, x: torch.Tensor) -> torch.Tensor:
        if self.positions == "all":
            return x
        # flattened (B*T, C) activations (OPT's MLP) are viewed back to (B, T, C)
        view = x.view(*self._shape, x.shape[-1]) if x.dim() == 2 else x
        return view[:, -1:, :]

    def _remember_shape(self, module: torch.nn.Module, args: tuple) -> None:
        self._shape = tuple(args[0].shape[:2])

    def _out_hook(self, edit: Edit):
        def hook(module, args, output):
            x = output[0] if isinstance(output, tuple) else output
            if not isinstance(x, torch.Tensor):
                raise TypeError(f"cannot edit {edit.module}: it returned {type(output)}")
            edit.apply(self._select(x))
            return output

        return hook

    def _in_hook(self, edit: Edit):
        def pre_hook(module, args):
            x = args[0].clone()  # the input may be referenced elsewhere (the residual stream)
            edit.apply(self._select(x))
            return (x, *args[1:])

        return pre_hook

    def attach(self) -> HookSet:
        if self._handles:
            return self
        if self.positions == "last":
            # (batch, time) of the current call, from the token embedding every forward uses
            embed = self.model.get_input_embeddings()
            self._handles.append(embed.register_forward_pre_hook(self._remember_shape))
        for e in self.edits:
            module = self.model.get_submodule(e.module)
            if e.side == "out":
                # prepend: before transformers' output-capturing hooks, so hidden states show it
                h = module.register_forward_hook(self._out_hook(e), prepend=True)
            else:
                h = module.register_forward_pre_hook(self._in_hook(e))
            self._handles.append(h)
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

    def describe(self) -> dict[str, Any]:
        return dict(self.description)

    def first_hidden_state(self) -> int:
        """The first hidden-state index these edits can change (an edit inside block b changes
        state b + 1 on): the states before it are the untouched model's, so choices among this
        handle's layers start there. 0 when an edit is outside the decoder blocks."""
        from langsteer.models import decoder_blocks

        paths = [path for path, _ in decoder_blocks(self.model)]
        firsts = []
        for e in self.edits:
            inside = [
                b
                for b, path in enumerate(paths)
                if e.module == path or e.module.startswith(path + ".")
            ]
            firsts.append(inside[0] + 1 if inside else 0)
        return min(firsts, default=0)

    def __enter__(self) -> HookSet:
        return self.attach()

    def __exit__(self, *exc: Any) -> None:
        self.remove()
