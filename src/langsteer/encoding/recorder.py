"""Forward hooks that pool what a pass records, inside the hooks, on the model's device.

Per-token activations never leave a hook: each hook point's tensor is reduced over the real
tokens of each sentence (padding masked, BOS optionally excluded) to ``(batch, width)`` pooled
values, and, for token statistics, added into per-group float64 sums (how many tokens, the sum
of the activations, how many were positive) with one small matrix product per batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from langsteer.encoding.batching import Batch, TokenizedSentences
from langsteer.models import LoadedModel

__all__ = ["POOLINGS", "Recorder", "StopForward", "group_weights", "pool"]

POOLINGS = ("max", "mean", "last")


def pool(x: torch.Tensor, batch: Batch, how: str) -> torch.Tensor:
    """Reduce ``(B, T, C)`` to ``(B, C)`` float32 over the batch's pooling mask.

    Some models (OPT) run their MLP on the flattened ``(B*T, C)`` tensor; it is viewed back.
    """
    mask = batch.pool_mask.to(x.device)
    if x.dim() == 2:
        x = x.view(*mask.shape, x.shape[-1])
    if how == "max":
        # max is exact in any dtype, so reduce first and cast only the small result
        neg = torch.finfo(x.dtype).min
        return x.masked_fill(~mask[..., None], neg).amax(dim=1).float()
    if how == "mean":
        m = mask.to(torch.float32)
        total = torch.bmm(m[:, None, :], x.float()).squeeze(1)
        return total / m.sum(1, keepdim=True)
    if how == "last":
        idx = batch.last_index.to(x.device)
        return x[torch.arange(x.shape[0], device=x.device), idx].float()
    raise ValueError(f"unknown pooling {how!r}; choose one of {POOLINGS}")


class StopForward(Exception):
    """Raised once every hook has fired: later layers cannot change what is recorded."""


def _union(spec: Any) -> tuple[list[Any], list[bool], list[bool]]:
    """Hook points of both unit sets (each once) and, per point, pooled? / stats?"""
    points: dict[str, Any] = {}
    pooled: dict[str, bool] = {}
    stats: dict[str, bool] = {}
    for units, flags in ((spec.units, pooled), (spec.stats_units, stats)):
        for hp in units.hook_points if units is not None else ():
            points.setdefault(hp.name, hp)
            flags[hp.name] = True
    names = list(points)
    return [points[n] for n in names], [n in pooled for n in names], [n in stats for n in names]


class Recorder:
    """Forward hooks that pool (and count) each hook point for the current batch."""

    def __init__(self, loaded: LoadedModel, spec: Any, n_groups: int, stop: bool) -> None:
        self.spec = spec
        self.points, self.pooled, self.with_stats = _union(spec)
        self.batch: Batch | None = None
        self.weights: torch.Tensor | None = None  # (B, G) float64 group weights of the batch
        self.parts: list[torch.Tensor | None] = [None] * len(self.points)
        self.fired = 0
        self.stop = stop and bool(self.points)
        self.sums: list[torch.Tensor | None] = [None] * len(self.points)
        self.positive: list[torch.Tensor | None] = [None] * len(self.points)
        self.n_groups = n_groups
        self.handles = []
        for i, hp in enumerate(self.points):
            module = loaded.model.get_submodule(hp.module)
            if hp.side == "out":
                self.handles.append(module.register_forward_hook(self._out_hook(i)))
            else:
                self.handles.append(module.register_forward_pre_hook(self._in_hook(i)))

    def start(self, batch: Batch, weights: torch.Tensor | None) -> None:
        self.batch, self.weights, self.fired = batch, weights, 0

    def _record(self, i: int, x: torch.Tensor) -> None:
        if self.pooled[i]:
            self.parts[i] = pool(x, self.batch, self.spec.pooling)
        if self.with_stats[i]:
            self._count(i, x)
        self.fired += 1
        if self.stop and self.fired == len(self.points):
            raise StopForward

    def _count(self, i: int, x: torch.Tensor) -> None:
        mask = self.batch.pool_mask.to(x.device)
        if x.dim() == 2:
            x = x.view(*mask.shape, x.shape[-1])
        m = mask.to(torch.float32)[:, None, :]
        token_sum = torch.bmm(m, x.float()).squeeze(1).double()  # (B, C)
        positive = torch.bmm(m, (x > 0).to(torch.float32)).squeeze(1).double()
        w = self.weights.to(x.device)
        if self.sums[i] is None:
            shape = (self.n_groups, x.shape[-1])
            self.sums[i] = torch.zeros(shape, dtype=torch.float64, device=x.device)
            self.positive[i] = torch.zeros(shape, dtype=torch.float64, device=x.device)
        self.sums[i] += w.T @ token_sum
        self.positive[i] += w.T @ positive

    def _out_hook(self, i: int):
        def hook(module, args, output):
            self._record(i, output)

        return hook

    def _in_hook(self, i: int):
        def hook(module, args):
            self._record(i, args[0])

        return hook

    def gather(self) -> np.ndarray:
        """This batch's pooled parts as ``(B, n_units)`` on the CPU, in unit-set order."""
        parts = [p.cpu() for p, flag in zip(self.parts, self.pooled, strict=True) if flag]
        return torch.cat(parts, dim=1).numpy()

    def totals(self) -> dict[str, np.ndarray]:
        """Token statistics of the ``stats_units`` columns, ``(G, n_units)`` float64."""
        idx = [i for i, flag in enumerate(self.with_stats) if flag]
        out = {}
        for name, acc in (("token_sum", self.sums), ("token_positive", self.positive)):
            cols = []
            for i in idx:
                width = self.points[i].width
                t = acc[i]
                cols.append(np.zeros((self.n_groups, width)) if t is None else t.cpu().numpy())
            out[name] = np.concatenate(cols, axis=1)
        return out

    def remove(self) -> None:
        for h in self.handles:
            h.remove()


def group_weights(tok: TokenizedSentences, groups: Sequence[int]) -> np.ndarray:
    """``(n_unique, G)``: how many input positions of each group hold each unique sentence."""
    g = np.asarray(groups, dtype=np.int64)
    out = np.zeros((len(tok.unique), int(g.max()) + 1))
    np.add.at(out, (tok.inverse, g), 1.0)
    return out
