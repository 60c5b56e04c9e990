"""One collection loop: a single forward pass per unique sentence records all that is asked.

A :class:`PassSpec` says what one pass over a list of sentences records, all pooled inside the
forward hooks on the model's device (per-token activations never leave them):

- ``units`` + ``pooling``: per-sentence pooled responses ``(n, n_units)`` (expert finding);
- ``stats_units`` + ``groups``: per-group token statistics of units (how many tokens, the sum of
  the activations over them, how many were positive): per-token means for forcing values and
  additive modes, activation probabilities for LAPE, without a second pass;
- ``layers`` + ``embed_pooling``: per-sentence pooled hidden states ``(n, layers, d)``
  (sentence embeddings, fitted steering vectors).

Each unique sentence is forwarded once, in length-sorted batches; the result is cached under a
key of everything that changes its numbers, and the same loop runs per process under
``accelerate launch`` (:mod:`langsteer.encoding.distributed`). A pass that records no hidden
state stops after the last hooked module (later layers cannot change it).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from langsteer import __version__
from langsteer.config import EvaluationConfig, ExpertsConfig, RunConfig
from langsteer.encoding.batching import (
    TokenizedSentences,
    forward_kwargs,
    iter_batches,
    tokenize_unique,
)
from langsteer.encoding.cache import cached_arrays, sentences_hash
from langsteer.encoding.checks import check_finite
from langsteer.encoding.recorder import POOLINGS, Recorder, StopForward, group_weights, pool
from langsteer.models import LoadedModel, UnitSet, base_model
from langsteer.models.attached import only_attached

__all__ = [
    "EMBED_POOLINGS",
    "POOLINGS",
    "PassResult",
    "PassSpec",
    "fill_pass",
    "group_weights",
    "pool",
    "run_pass",
]

EMBED_POOLINGS = ("mean", "last")
STATS = ("token_sum", "token_positive")


@dataclass(frozen=True)
class PassSpec:
    """What one pass records (see the module docstring); every part is optional."""

    units: UnitSet | None = None
    pooling: str = ExpertsConfig.pooling
    stats_units: UnitSet | None = None
    groups: tuple[int, ...] | None = None  # group (language) index of each input sentence
    layers: tuple[int, ...] | None = None  # hidden-state indices (0 = token embeddings)
    embed_pooling: str = EvaluationConfig.pooling
    skip_bos: bool = ExpertsConfig.skip_bos
    max_length: int = RunConfig.max_length

    def key(self) -> dict[str, Any]:
        """Everything about the spec that changes the numbers (for the cache key)."""
        return {
            "units": None if self.units is None else self.units.to_dict(),
            "pooling": self.pooling if self.units is not None else None,
            "stats_units": None if self.stats_units is None else self.stats_units.to_dict(),
            "groups": None if self.groups is None else sentences_hash(map(str, self.groups)),
            "layers": None if self.layers is None else list(self.layers),
            "embed_pooling": self.embed_pooling if self.layers is not None else None,
            "skip_bos": self.skip_bos,
            "max_length": self.max_length,
        }


@dataclass
class PassResult:
    """The arrays one pass produced (None where not asked) and what produced them."""

    responses: np.ndarray | None
    embeddings: np.ndarray | None
    stats: dict[str, np.ndarray] | None
    meta: dict = field(default_factory=dict)


def check_spec(spec: PassSpec, loaded: LoadedModel, n_sentences: int) -> None:
    """Refuse a spec that would fail (or silently do something else) mid-pass."""
    if spec.units is None and spec.stats_units is None and spec.layers is None:
        raise ValueError("a pass must record something: units, stats_units or layers")
    if spec.units is not None and spec.pooling not in POOLINGS:
        raise ValueError(f"unknown pooling {spec.pooling!r}; choose one of {POOLINGS}")
    if spec.layers is not None:
        if spec.embed_pooling not in EMBED_POOLINGS:
            raise ValueError(
                f"unknown embedding pooling {spec.embed_pooling!r}; choose one of {EMBED_POOLINGS}"
            )
        n_hidden = loaded.signature()["num_hidden_layers"] + 1
        bad = [x for x in spec.layers if not 0 <= x < n_hidden]
        if bad:
            raise ValueError(
                f"layers {bad} out of range: this model has hidden states 0..{n_hidden - 1}"
            )
    if spec.stats_units is not None:
        if spec.groups is None or len(spec.groups) != n_sentences:
            raise ValueError("token statistics need one group index per sentence (groups=)")
        if min(spec.groups) < 0:
            raise ValueError("group indices must be >= 0")


def pass_meta(
    loaded: LoadedModel,
    sentences: Sequence[str],
    spec: PassSpec,
    tok: TokenizedSentences,
    handle: Any,
) -> tuple[dict, dict]:
    """``(meta, key)`` of a pass: what a result file records and what the cache is keyed on."""
    described = handle_key(only_attached(loaded, handle))
    meta = {
        "model": loaded.describe(),
        **spec.key(),
        "units": None
        if spec.units is None
        else {"spec": spec.units.spec, "n_units": spec.units.n_units},
        "stats_units": None if spec.stats_units is None else spec.stats_units.spec,
        "intervention": described,
        "padding_side": getattr(loaded.tokenizer, "padding_side", "right"),
        "data_hash": sentences_hash(sentences),
        "n_sentences": len(sentences),
        "n_unique": len(tok.unique),
        "n_tokens": tok.n_tokens,
        "n_truncated": tok.n_truncated,
        "langsteer": __version__,
    }
    key = {
        "model": meta["model"],
        **spec.key(),
        "intervention": described,
        "data": meta["data_hash"],
        "version": __version__,
    }
    return meta, key


def handle_key(handle: Any) -> dict:
    """What about an attached handle changes the numbers: its ``describe()``."""
    if handle is None:
        return {}
    if not handle.active:
        raise ValueError("the intervention passed is not attached; use it inside `with`")
    return dict(handle.describe())


def shapes(spec: PassSpec, n: int, loaded: LoadedModel) -> dict[str, tuple[int, ...]]:
    """Shapes of the arrays a pass fills (per input sentence rows)."""
    out: dict[str, tuple[int, ...]] = {}
    if spec.units is not None:
        out["responses"] = (n, spec.units.n_units)
    if spec.layers is not None:
        out["embeddings"] = (n, len(spec.layers), loaded.signature()["hidden_size"])
    if spec.stats_units is not None:
        g = max(spec.groups) + 1
        out["token_sum"] = out["token_positive"] = (g, spec.stats_units.n_units)
        out["tokens"] = (g,)
    return out


def fill_pass(
    loaded: LoadedModel,
    tok: TokenizedSentences,
    spec: PassSpec,
    out: dict[str, np.ndarray],
    *,
    batch_size: int,
    max_tokens: int | None,
    progress: bool,
    weights: np.ndarray | None = None,
    desc: str = "forward",
) -> float:
    """Fill ``out`` (rows = input positions of ``tok``) batch by batch; returns the seconds.

    Each unique sentence is written to its first input position, then copied to the positions
    that repeat it; token statistics count every input position with its own group
    (``weights``: :func:`group_weights`, computed here when not given).
    """
    decoder = base_model(loaded.model)
    if spec.stats_units is not None and weights is None:
        weights = group_weights(tok, spec.groups)
    n_groups = 0 if weights is None else weights.shape[1]
    recorder = Recorder(loaded, spec, n_groups, stop=spec.layers is None)
    first = tok.first_position
    tokens = np.zeros(n_groups)
    start = time.perf_counter()
    bar = tqdm(total=len(tok.unique), desc=desc, unit="sent", disable=not progress)
    try:
        with torch.inference_mode():
            for batch in iter_batches(
                loaded.tokenizer,
                tok,
                batch_size=batch_size,
                device=loaded.device,
                skip_bos=spec.skip_bos,
                max_tokens=max_tokens,
            ):
                w = None
                if weights is not None:
                    w = torch.as_tensor(weights[batch.rows], dtype=torch.float64)
                    tokens += weights[batch.rows].T @ batch.pool_mask.sum(1).cpu().numpy()
                recorder.start(batch, w)
                kwargs = forward_kwargs(decoder, batch)
                if spec.layers is not None:
                    kwargs["output_hidden_states"] = True
                hidden = None
                with contextlib.suppress(StopForward):
                    hidden = decoder(**kwargs)
                rows = first[batch.rows]
                if spec.units is not None:
                    pooled = recorder.gather()
                    check_finite(pooled, loaded, what="activations", units=spec.units)
                    out["responses"][rows] = pooled
                if spec.layers is not None:
                    states = hidden.hidden_states
                    # under a device_map the states sit on different GPUs: gather on the first
                    parts = [pool(states[i], batch, spec.embed_pooling) for i in spec.layers]
                    emb = torch.stack([p.to(parts[0].device) for p in parts], 1).cpu().numpy()
                    check_finite(emb, loaded, what="hidden states")
                    out["embeddings"][rows] = emb
                bar.update(len(batch.rows))
        if spec.stats_units is not None:
            totals = recorder.totals()
            for name in STATS:
                check_finite(totals[name], loaded, what="activations", units=spec.stats_units)
                out[name][...] = totals[name]
            out["tokens"][...] = tokens
    finally:
        bar.close()
        recorder.remove()
    for name in ("responses", "embeddings"):
        if name in out:
            tok.copy_to_duplicates(out[name])
    return time.perf_counter() - start


def run_pass(
    loaded: LoadedModel,
    sentences: Sequence[str],
    spec: PassSpec,
    *,
    handle: Any = None,
    batch_size: int = RunConfig.batch_size,
    max_tokens: int | None = 8192,
    cache_dir: str | Path | None = None,
    progress: bool = True,
    desc: str = "forward",
) -> PassResult:
    """Record ``spec`` over ``sentences`` (one forward per unique sentence), cached.

    ``handle``: the attached intervention, if any (it enters the cache key and the metadata;
    any other attached handle is refused). Under ``accelerate launch`` with several processes
    the unique sentences are sharded (:func:`langsteer.encoding.distributed.run_pass_sharded`).
    """
    from langsteer.encoding.distributed import distributed_state, run_pass_sharded

    check_spec(spec, loaded, len(sentences))
    tok = tokenize_unique(loaded.tokenizer, sentences, spec.max_length)
    meta, key = pass_meta(loaded, sentences, spec, tok, handle)
    arrays = shapes(spec, len(sentences), loaded)
    state = distributed_state()
    if state is not None:
        values, meta = run_pass_sharded(
            state,
            loaded,
            tok,
            spec,
            key,
            meta,
            arrays,
            batch_size,
            max_tokens,
            cache_dir,
            progress,
            desc,
        )
    else:

        def fill(out: dict[str, np.ndarray]) -> dict:
            seconds = fill_pass(
                loaded,
                tok,
                spec,
                out,
                batch_size=batch_size,
                max_tokens=max_tokens,
                progress=progress,
                desc=desc,
            )
            return {"seconds": seconds}

        values, meta = cached_arrays(cache_dir, "passes", key, arrays, fill, meta)
    stats = None
    if spec.stats_units is not None:
        stats = {name: np.asarray(values[name]) for name in (*STATS, "tokens")}
    return PassResult(values.get("responses"), values.get("embeddings"), stats, meta)
