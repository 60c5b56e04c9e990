"""The probing split as model methods see it: one pass, shared by every method and target.

Model methods learn from the probing (expert) split: expert finding needs pooled responses of a
unit set, forcing values and LAPE need per-language token statistics, steering vectors and
sparse dimensions need per-language mean hidden states. :class:`ProbeData` collects what every
method of a study needs in ONE forward pass per unique sentence (one per distinct pooling, which
is normally one) and hands each method its view; every target relabels the same data (positives
= its sentences, negatives = the other probed languages').
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from langsteer.config import ExpertsConfig, RunConfig
from langsteer.encoding.collect import PassSpec, run_pass
from langsteer.encoding.responses import GroupStats, Responses
from langsteer.models import LoadedModel, UnitSet, resolve_units

__all__ = ["ProbeData", "probing_set", "union_units"]


def probing_set(corpus: Any, languages: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """All sentences of ``languages`` in one list, and the language index of each."""
    sentences: list[str] = []
    lang_of: list[int] = []
    for j, lang in enumerate(languages):
        texts = corpus.sentences(lang)
        sentences.extend(texts)
        lang_of.extend([j] * len(texts))
    return sentences, np.asarray(lang_of)


def union_units(sets: Sequence[UnitSet]) -> UnitSet:
    """The hook points of several unit sets, each once, in first-seen order."""
    if len(sets) == 1:
        return sets[0]
    seen: dict[str, Any] = {}
    for s in sets:
        for hp in s.hook_points:
            seen.setdefault(hp.name, hp)
    return UnitSet(
        spec="+".join(dict.fromkeys(s.spec for s in sets)), hook_points=tuple(seen.values())
    )


def columns_of(union: UnitSet, subset: UnitSet) -> np.ndarray | None:
    """Columns of ``subset``'s units in ``union``'s matrix (None when they are the same set)."""
    if union.to_dict()["hook_points"] == subset.to_dict()["hook_points"]:
        return None
    where = {hp.name: i for i, hp in enumerate(union.hook_points)}
    return np.concatenate(
        [
            np.arange(union.offsets[where[hp.name]], union.offsets[where[hp.name]] + hp.width)
            for hp in subset.hook_points
        ]
    )


@dataclass(frozen=True)
class Need:
    """What one method needs from the probing pass."""

    units: str | None = None  # pooled responses and token statistics of this unit set
    pooling: str = ExpertsConfig.pooling
    stats_units: str | None = None  # token statistics only (LAPE)
    embeddings: bool = False  # per-sentence mean hidden states, every layer


def _covers(union: UnitSet, subset: UnitSet) -> bool:
    names = {hp.name for hp in union.hook_points}
    return all(hp.name in names for hp in subset.hook_points)


class ProbeData:
    """The probing sentences of ``languages`` and, once :meth:`prepare` d, what was recorded.

    Asking for something no pass has recorded yet runs a pass for it (so the class also works
    on its own); a study calls :meth:`prepare` with every method's needs first, so that one
    pass records everything.
    """

    def __init__(
        self,
        loaded: LoadedModel,
        corpus: Any,
        languages: Sequence[str],
        *,
        skip_bos: bool = ExpertsConfig.skip_bos,
        batch_size: int = RunConfig.batch_size,
        max_length: int = RunConfig.max_length,
        cache_dir: str | Path | None = None,
        progress: bool = RunConfig.progress,
    ) -> None:
        if len(languages) < 2:
            raise ValueError(
                "probing needs negatives: at least one language besides a target (study file: "
                "experts.negatives or a second language in experts.targets; CLI: --negatives)"
            )
        self.loaded, self.corpus, self.languages = loaded, corpus, list(languages)
        self.sentences, self.lang_of = probing_set(corpus, self.languages)
        self.options = {"skip_bos": skip_bos, "max_length": max_length}
        self.run_options = {"batch_size": batch_size, "cache_dir": cache_dir, "progress": progress}
        self._units: dict[str, UnitSet] = {}
        self._responses: list[tuple[str, UnitSet, np.ndarray]] = []  # (pooling, units, values)
        self._stats: list[GroupStats] = []
        self._embeddings: np.ndarray | None = None
        self.passes: list[dict[str, Any]] = []  # metadata of every pass run

    @property
    def scoring_device(self) -> Any:
        """Expertise scores run on the model's accelerator when it has one (exact either way)."""
        return self.loaded.device if self.loaded.device.type == "cuda" else None

    def unit_set(self, spec: str) -> UnitSet:
        if spec not in self._units:
            self._units[spec] = resolve_units(self.loaded.model, spec)
        return self._units[spec]

    def _find_responses(self, units: str, pooling: str) -> tuple[UnitSet, np.ndarray] | None:
        want = self.unit_set(units)
        for p, union, values in self._responses:
            if p == pooling and _covers(union, want):
                return union, values
        return None

    def _find_stats(self, units: str) -> GroupStats | None:
        want = self.unit_set(units)
        return next((s for s in self._stats if _covers(s.units, want)), None)

    def prepare(self, needs: Sequence[Need]) -> None:
        """Record every need not yet recorded: one pass per distinct pooling (normally one)."""
        poolings: dict[str | None, list[str]] = {}
        stats_specs: list[str] = []
        for n in needs:
            if n.units is not None and self._find_responses(n.units, n.pooling) is None:
                poolings.setdefault(n.pooling, []).append(n.units)
            for spec in (n.units, n.stats_units):
                if spec is not None and self._find_stats(spec) is None:
                    stats_specs.append(spec)
        want_emb = self._embeddings is None and any(n.embeddings for n in needs)
        if not poolings and (stats_specs or want_emb):
            poolings[None] = []
        stats = None
        if stats_specs:
            stats = union_units([self.unit_set(s) for s in dict.fromkeys(stats_specs)])
        for i, (pooling, specs) in enumerate(poolings.items()):
            units = union_units([self.unit_set(s) for s in dict.fromkeys(specs)]) if specs else None
            first = i == 0
            spec = PassSpec(
                units=units,
                pooling=pooling or ExpertsConfig.pooling,
                stats_units=stats if first else None,
                groups=tuple(int(g) for g in self.lang_of) if stats is not None and first else None,
                layers=self._all_layers() if want_emb and first else None,
                **self.options,
            )
            result = run_pass(self.loaded, self.sentences, spec, desc="probing", **self.run_options)
            self.passes.append({k: v for k, v in result.meta.items() if k != "model"})
            if units is not None:
                self._responses.append((pooling, units, result.responses))
            if spec.stats_units is not None:
                self._stats.append(
                    GroupStats(units=stats, languages=self.languages, **result.stats)
                )
            if spec.layers is not None:
                self._embeddings = result.embeddings

    def _all_layers(self) -> tuple[int, ...]:
        return tuple(range(self.loaded.signature()["num_hidden_layers"] + 1))

    def responses(self, units: str, pooling: str) -> Responses:
        """Pooled responses of ``units`` (a view of a shared pass; a copy if it holds more)."""
        if self._find_responses(units, pooling) is None:
            self.prepare([Need(units=units, pooling=pooling)])
        union, values = self._find_responses(units, pooling)
        subset = self.unit_set(units)
        cols = columns_of(union, subset)
        if cols is not None:
            values = np.asarray(values[:, cols])
        meta = {
            **self.passes[-1],
            "units": {"spec": units, "n_units": subset.n_units},
            "pooling": pooling,
            "model": self.loaded.describe(),
        }
        return Responses(values, subset, meta)

    def stats(self, units: str) -> GroupStats:
        """Per-language token statistics of ``units`` (a view of a shared pass)."""
        if self._find_stats(units) is None:
            self.prepare([Need(stats_units=units)])
        return self._find_stats(units).subset(self.unit_set(units))

    def embeddings(self) -> np.ndarray:
        """``(n, layers, d)`` mean-pooled hidden states of every probing sentence."""
        if self._embeddings is None:
            self.prepare([Need(embeddings=True)])
        return self._embeddings

    def language_means(self, layer: int) -> dict[str, np.ndarray]:
        """float64 mean of each language's sentence embeddings at hidden-state index ``layer``."""
        x = np.asarray(self.embeddings()[:, layer], dtype=np.float64)
        return {lang: x[self.lang_of == j].mean(axis=0) for j, lang in enumerate(self.languages)}

    def labels(self, target: str) -> np.ndarray:
        if target not in self.languages:
            raise ValueError(f"target {target} is not among the probed languages {self.languages}")
        return self.lang_of == self.languages.index(target)

    def describe_for(self, target: str) -> dict[str, Any]:
        """Provenance an expert set of ``target`` records."""
        return {
            "negatives": [x for x in self.languages if x != target],
            "probed_languages": list(self.languages),
            "corpus": self.corpus.describe() if hasattr(self.corpus, "describe") else None,
        }
