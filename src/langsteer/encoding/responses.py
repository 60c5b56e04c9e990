"""Pooled unit responses (one float32 per sentence and unit) and per-language token statistics.

Per-token activations never leave the forward hooks (:mod:`langsteer.encoding.collect`): each
hook pools its tensor over the real tokens of each sentence (padding masked, BOS optionally
excluded) and hands back ``(batch, width)``. The corpus-level result is a ``[sentences x units]``
float32 matrix, memory-mapped on disk when large and cached under a key of everything that
changes its numbers. :class:`GroupStats` holds what the same pass counts per language: tokens,
the sum of each unit's activations over them, and how many of them were positive.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from langsteer.config import ExpertsConfig, RunConfig
from langsteer.encoding.collect import POOLINGS, PassSpec, run_pass
from langsteer.models import LoadedModel, UnitSet

__all__ = ["POOLINGS", "GroupStats", "Responses", "collect_responses"]


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


@dataclass
class GroupStats:
    """Token statistics per group (language) and unit, float64: ``tokens`` ``(G,)``,
    ``token_sum`` and ``token_positive`` ``(G, n_units)``."""

    units: UnitSet
    languages: list[str]
    token_sum: np.ndarray
    token_positive: np.ndarray
    tokens: np.ndarray

    def __post_init__(self) -> None:
        shape = (len(self.languages), self.units.n_units)
        for name in ("token_sum", "token_positive"):
            if np.shape(getattr(self, name)) != shape:
                raise ValueError(f"{name} has shape {np.shape(getattr(self, name))}, not {shape}")
        empty = [lang for lang, n in zip(self.languages, self.tokens, strict=True) if n <= 0]
        if empty:
            raise ValueError(f"no tokens counted for {empty}")

    def subset(self, units: UnitSet) -> GroupStats:
        """The same statistics for a subset of the hook points (in ``units``' order)."""
        if units.to_dict() == self.units.to_dict():
            return self
        where = {hp.name: i for i, hp in enumerate(self.units.hook_points)}
        cols = np.concatenate(
            [
                np.arange(
                    self.units.offsets[where[hp.name]],
                    self.units.offsets[where[hp.name]] + hp.width,
                )
                for hp in units.hook_points
            ]
        )
        return GroupStats(
            units,
            self.languages,
            np.asarray(self.token_sum)[:, cols],
            np.asarray(self.token_positive)[:, cols],
            np.asarray(self.tokens),
        )

    def token_means(self) -> np.ndarray:
        """Mean activation over every token of each language, ``(G, n_units)``."""
        return np.asarray(self.token_sum) / np.asarray(self.tokens)[:, None]

    def positive_rates(self) -> np.ndarray:
        """Share of each language's tokens on which the unit is > 0 (LAPE's p), ``(G, n)``."""
        return np.asarray(self.token_positive) / np.asarray(self.tokens)[:, None]


def collect_responses(
    loaded: LoadedModel,
    sentences: Sequence[str],
    units: UnitSet,
    *,
    pooling: str = ExpertsConfig.pooling,
    skip_bos: bool = ExpertsConfig.skip_bos,
    batch_size: int = RunConfig.batch_size,
    max_length: int = RunConfig.max_length,
    max_tokens: int | None = 8192,
    cache_dir: str | Path | None = None,
    progress: bool = True,
) -> Responses:
    """Pooled responses of every unit to every sentence, forwarding each unique sentence once.

    Responses are those of the original model: an attached intervention is refused.
    """
    spec = PassSpec(units=units, pooling=pooling, skip_bos=skip_bos, max_length=max_length)
    result = run_pass(
        loaded,
        sentences,
        spec,
        batch_size=batch_size,
        max_tokens=max_tokens,
        cache_dir=cache_dir,
        progress=progress,
        desc="responses",
    )
    return Responses(result.responses, units, {**result.meta, "pooling": pooling})
