"""Pooled unit responses: one float32 per (sentence, unit), reduced inside the forward hooks.

Per-token activations never leave the hook: each hook pools its tensor over the real tokens of
each sentence (padding masked, BOS optionally excluded) on the module's device and hands back
``(batch, width)``. The corpus-level result is a ``[sentences x units]`` float32 matrix,
memory-mapped on disk when large and cached under a key of everything that changes its numbers.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from langsteer import __version__
from langsteer.attached import only_attached
from langsteer.batching import (
    Batch,
    TokenizedSentences,
    forward_kwargs,
    run_batches,
    tokenize_unique,
)
from langsteer.cache import cached_array, sentences_hash
from langsteer.models import LoadedModel, UnitSet, base_model

POOLINGS = ("max", "mean", "last")


@dataclass
class Responses:
    """A ``[sentences x units]`` matrix with what produced it."""

    values: np.ndarray
    units: UnitSet
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.values.ndim != 2 or self.values.shape[1] != self.units.n_units:
            raise ValueError(
                f"responses have shape {self.values.shape}, expected (n_sentences, "
                f"{self.units.n_units}) for unit set {self.units.spec!r}"
            )

    @property
    def pooling(self) -> str:
        return self.meta.get("pooling", "unknown")


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


class _StopForward(Exception):
    """Raised after the last hooked module: later layers cannot change the responses."""


class _Recorder:
    """Forward hooks that pool each hook point into ``parts`` for the current batch."""

    def __init__(self, model: torch.nn.Module, units: UnitSet, how: str, stop_early: bool):
        self.batch: Batch | None = None
        self.parts: list[torch.Tensor | None] = [None] * len(units.hook_points)
        self.handles = []
        last = len(units.hook_points) - 1
        for i, hp in enumerate(units.hook_points):
            module = model.get_submodule(hp.module)
            stop = stop_early and i == last
            if hp.side == "out":
                self.handles.append(module.register_forward_hook(self._out_hook(i, how, stop)))
            else:
                self.handles.append(module.register_forward_pre_hook(self._in_hook(i, how, stop)))

    def _store(self, i: int, x: torch.Tensor, how: str, stop: bool) -> None:
        self.parts[i] = pool(x, self.batch, how)
        if stop:
            raise _StopForward

    def _out_hook(self, i: int, how: str, stop: bool):
        def hook(module, args, output):
            self._store(i, output, how, stop)

        return hook

    def _in_hook(self, i: int, how: str, stop: bool):
        def hook(module, args):
            self._store(i, args[0], how, stop)

        return hook

    def gather(self) -> np.ndarray:
        """Concatenate this batch's pooled parts into ``(B, n_units)`` on the CPU."""
        by_device: dict[torch.device, list[torch.Tensor]] = {}
        for p in self.parts:
            by_device.setdefault(p.device, []).append(p)
        if len(by_device) == 1:
            return torch.cat(self.parts, dim=1).cpu().numpy()
        return torch.cat([p.cpu() for p in self.parts], dim=1).numpy()

    def remove(self) -> None:
        for h in self.handles:
            h.remove()


def collect_responses(
    loaded: LoadedModel,
    sentences: Sequence[str],
    units: UnitSet,
    *,
    pooling: str = "max",
    skip_bos: bool = True,
    batch_size: int = 16,
    max_length: int = 256,
    max_tokens: int | None = 8192,
    cache_dir: str | Path | None = None,
    progress: bool = True,
    extra_key: dict | None = None,
) -> Responses:
    """Pooled responses of every unit to every sentence, forwarding each unique sentence once.

    ``extra_key`` lets callers add to the cache key whatever else changes the numbers (for
    example an active intervention).
    """
    tok, meta, key_payload = prepare_responses(
        loaded,
        sentences,
        units,
        pooling=pooling,
        skip_bos=skip_bos,
        max_length=max_length,
        extra_key=extra_key,
    )

    def fill(out: np.ndarray) -> dict:
        return {
            "seconds": fill_responses(
                loaded, tok, units, pooling, skip_bos, batch_size, max_tokens, out, progress
            )
        }

    shape = (len(sentences), units.n_units)
    values, meta = cached_array(cache_dir, "responses", key_payload, shape, fill, meta)
    return Responses(values, units, meta)


def prepare_responses(
    loaded: LoadedModel,
    sentences: Sequence[str],
    units: UnitSet,
    *,
    pooling: str,
    skip_bos: bool,
    max_length: int,
    extra_key: dict | None,
) -> tuple[TokenizedSentences, dict, dict]:
    """Check the options and tokenise; returns ``(tok, meta, key_payload)`` of the cache entry."""
    if pooling not in POOLINGS:
        raise ValueError(f"unknown pooling {pooling!r}; choose one of {POOLINGS}")
    only_attached(loaded)  # probing responses are those of the original model
    tok = tokenize_unique(loaded.tokenizer, sentences, max_length)
    meta = {
        "model": loaded.describe(),
        "units": {"spec": units.spec, "n_units": units.n_units},
        "pooling": pooling,
        "skip_bos": skip_bos,
        "max_length": max_length,
        "padding_side": getattr(loaded.tokenizer, "padding_side", "right"),
        "data_hash": sentences_hash(sentences),
        "n_sentences": len(sentences),
        "n_unique": len(tok.unique),
        "n_tokens": tok.n_tokens,
        "n_truncated": tok.n_truncated,
        "langsteer": __version__,
        "extra": extra_key or {},
    }
    key_payload = {k: meta[k] for k in ("model", "pooling", "skip_bos", "max_length", "data_hash")}
    key_payload.update(units=units.to_dict(), extra=meta["extra"], version=__version__)
    return tok, meta, key_payload


def fill_responses(
    loaded: LoadedModel,
    tok: TokenizedSentences,
    units: UnitSet,
    pooling: str,
    skip_bos: bool,
    batch_size: int,
    max_tokens: int | None,
    out: np.ndarray,
    progress: bool,
) -> float:
    """Fill ``out`` (``[len(tok.inverse) x units]``) with pooled responses; returns the seconds."""
    decoder = base_model(loaded.model)
    recorder = _Recorder(loaded.model, units, pooling, stop_early=True)

    def step(batch: Batch) -> np.ndarray:
        recorder.batch = batch
        with contextlib.suppress(_StopForward):
            decoder(**forward_kwargs(decoder, batch))
        return recorder.gather()

    try:
        return run_batches(
            loaded,
            tok,
            batch_size=batch_size,
            max_tokens=max_tokens,
            skip_bos=skip_bos,
            progress=progress,
            desc="responses",
            step=step,
            check=lambda pooled: check_finite(pooled, units, loaded),
            out=out,
        )
    finally:
        recorder.remove()


def check_finite(values: np.ndarray, units: UnitSet, loaded: LoadedModel | None = None) -> None:
    """Refuse NaN/inf responses, naming the first units affected and the likely cause."""
    bad = ~np.isfinite(values).all(axis=0)
    if bad.any():
        cols = np.flatnonzero(bad)
        names = [units.unit_name(int(c)) for c in cols[:3]]
        raise FloatingPointError(
            f"non-finite activations in {cols.size} unit(s), e.g. {names}; "
            + non_finite_cause(loaded)
        )


_HALF = (torch.float16, torch.bfloat16)


def non_finite_cause(loaded: LoadedModel | None, *, intervened: bool = False) -> str:
    """The likely cause of NaN/inf activations given the dtype actually run, and the fix.

    Looks at the weights first (only on this error path): non-finite weights are a damaged
    checkpoint whatever the dtype. ``intervened``: a hook forced values into the model.
    """
    forced = (
        "; or the intervention forces extreme values: check intervention.value and "
        "intervention.scale (steering.strength for a steering vector)"
        if intervened
        else ""
    )
    if loaded is None:
        return (
            "in float16/bfloat16 this is usually an overflow (run in float32: --dtype float32); "
            "in float32, check the weights for NaN/inf" + forced
        )
    dtype = str(loaded.dtype).removeprefix("torch.")
    broken = []
    with torch.no_grad():
        for name, p in loaded.model.named_parameters():
            if p.is_floating_point() and p.device.type != "meta" and not torch.isfinite(p).all():
                broken.append(name)
    if broken:
        return (
            f"the model (run in {dtype}) has NaN/inf in its weights themselves "
            f"({len(broken)} tensor(s), e.g. {broken[:3]}), so no dtype helps: the checkpoint is "
            "corrupt or was badly converted; download, save or convert it again"
        )
    if loaded.dtype in _HALF:
        return (
            f"the model runs in {dtype}, where this is usually an overflow: run it in float32 "
            '(CLI: --dtype float32; study file: model.dtype = "float32")' + forced
        )
    return (
        f"the model runs in {dtype} and its weights are finite, so this is no half-precision "
        f"overflow: its activations overflow even in {dtype} (weights of extreme size, e.g. a "
        "badly converted or fine-tuned checkpoint; check the model on its own)" + forced
    )
