"""Sentence embeddings from every layer in one forward pass, with or without an intervention.

The paper embeds a sentence as the mean of the last hidden state over its tokens. We pool every
layer of the same pass (so the best layer is a free control), mask padding, and by default drop
the BOS position, which is identical for every sentence in a causal model and dominates raw
cosines. Pooling happens per batch right after the pass; only ``(n, layers, d)`` float32 is kept.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from langsteer import __version__
from langsteer.attached import active_interventions, only_attached
from langsteer.batching import (
    Batch,
    TokenizedSentences,
    forward_kwargs,
    run_batches,
    tokenize_unique,
)
from langsteer.cache import cached_array, sentences_hash
from langsteer.interventions import Intervention
from langsteer.models import LoadedModel, base_model
from langsteer.responses import non_finite_cause, pool

EMBED_POOLINGS = ("mean", "last")


@dataclass
class Embeddings:
    """``values[i, j]`` = embedding of sentence i at hidden-state index ``layers[j]``.

    Hidden-state index 0 is the embedding layer's output, L the last block's (after the final
    norm, as Hugging Face returns it).
    """

    values: np.ndarray
    layers: list[int]
    meta: dict = field(default_factory=dict)

    def layer(self, layer: int) -> np.ndarray:
        """Embeddings of one hidden-state index; negative indices count from the last layer."""
        if layer < 0:
            layer = self.layers[-1] + 1 + layer
        if layer not in self.layers:
            raise ValueError(f"layer {layer} was not extracted; available: {self.layers}")
        return np.asarray(self.values[:, self.layers.index(layer)])


def intervention_key(intervention: Intervention | None) -> dict:
    """What about an intervention changes embeddings (for cache keys and result files).

    Any other attached handle (e.g. :class:`langsteer.steering.SteeringHandle`) is keyed by its
    own ``describe()``, which must then name everything that changes the model's outputs
    (a steering handle's includes a hash of its vector).
    """
    if intervention is None:
        return {}
    if not intervention.active:
        raise ValueError("the intervention passed is not attached; use it inside `with`")
    if not isinstance(intervention, Intervention):
        return dict(intervention.describe())
    ex = intervention.experts
    return {
        **intervention.describe(),
        "experts_data_hash": ex.meta.get("data_hash"),
        "experts_scores_hash": hashlib.sha256(ex.scores.tobytes()).hexdigest()[:16],
    }


def encode(
    loaded: LoadedModel,
    sentences: Sequence[str],
    *,
    layers: Sequence[int] | None = None,
    pooling: str = "mean",
    skip_bos: bool = True,
    intervention: Intervention | None = None,
    batch_size: int = 16,
    max_length: int = 256,
    max_tokens: int | None = 8192,
    cache_dir: str | Path | None = None,
    progress: bool = True,
) -> Embeddings:
    """Embed sentences at the requested hidden-state indices (default: all), one pass each.

    Pass the *attached* ``intervention`` so it enters the cache key and the metadata; the
    hooks themselves act because they are attached to the model.
    """
    tok, layers, meta, key, shape = prepare_encode(
        loaded,
        sentences,
        layers=layers,
        pooling=pooling,
        skip_bos=skip_bos,
        intervention=intervention,
        max_length=max_length,
    )

    def fill(out: np.ndarray) -> dict:
        return {
            "seconds": fill_embeddings(
                loaded, tok, layers, pooling, skip_bos, batch_size, max_tokens, out, progress
            )
        }

    values, meta = cached_array(cache_dir, "embeddings", key, shape, fill, meta)
    return Embeddings(values, layers, meta)


def prepare_encode(
    loaded: LoadedModel,
    sentences: Sequence[str],
    *,
    layers: Sequence[int] | None,
    pooling: str,
    skip_bos: bool,
    intervention: Intervention | None,
    max_length: int,
) -> tuple[TokenizedSentences, list[int], dict, dict, tuple[int, int, int]]:
    """Check the options and tokenise; returns ``(tok, layers, meta, key, shape)``.

    ``layers`` comes back sorted and de-duplicated (all hidden states for None), ``key`` and
    ``meta`` are those of the cache entry and ``shape`` is ``(sentences, layers, hidden size)``.
    """
    if pooling not in EMBED_POOLINGS:
        raise ValueError(f"unknown embedding pooling {pooling!r}; choose one of {EMBED_POOLINGS}")
    sig = loaded.signature()
    n_hidden = sig["num_hidden_layers"] + 1
    layers = list(range(n_hidden)) if layers is None else sorted({int(x) for x in layers})
    bad = [x for x in layers if not 0 <= x < n_hidden]
    if bad:
        raise ValueError(
            f"layers {bad} out of range: this model has hidden states 0..{n_hidden - 1}"
        )
    tok = tokenize_unique(loaded.tokenizer, sentences, max_length)
    meta = {
        "model": loaded.describe(),
        "pooling": pooling,
        "skip_bos": skip_bos,
        "max_length": max_length,
        "layers": layers,
        "intervention": intervention_key(only_attached(loaded, intervention)),
        "data_hash": sentences_hash(sentences),
        "n_sentences": len(sentences),
        "n_truncated": tok.n_truncated,
        "langsteer": __version__,
    }
    key = {k: meta[k] for k in ("model", "pooling", "skip_bos", "max_length", "layers")}
    key.update(intervention=meta["intervention"], data=meta["data_hash"], version=__version__)
    return tok, layers, meta, key, (len(sentences), len(layers), sig["hidden_size"])


def fill_embeddings(
    loaded: LoadedModel,
    tok: TokenizedSentences,
    layers: Sequence[int],
    pooling: str,
    skip_bos: bool,
    batch_size: int,
    max_tokens: int | None,
    out: np.ndarray,
    progress: bool,
) -> float:
    """Fill ``out`` (``[len(tok.inverse) x layers x d]``) with pooled hidden states; returns
    the seconds spent."""
    decoder = base_model(loaded.model)

    def step(batch: Batch) -> np.ndarray:
        hidden = decoder(**forward_kwargs(decoder, batch), output_hidden_states=True)
        # under a device_map the layers' states sit on different GPUs: gather on the first
        pooled = [pool(hidden.hidden_states[i], batch, pooling) for i in layers]
        return torch.stack([p.to(pooled[0].device) for p in pooled], dim=1).cpu().numpy()

    return run_batches(
        loaded,
        tok,
        batch_size=batch_size,
        max_tokens=max_tokens,
        skip_bos=skip_bos,
        progress=progress,
        desc="embeddings",
        step=step,
        check=lambda values: _check_finite(values, loaded),
        out=out,
    )


def _check_finite(values: np.ndarray, loaded: LoadedModel | None = None) -> None:
    if not np.isfinite(values).all():
        intervened = loaded is not None and bool(active_interventions(loaded.model))
        raise FloatingPointError(
            "non-finite hidden states; " + non_finite_cause(loaded, intervened=intervened)
        )


class LangsteerEncoder:
    """An MTEB / sentence-transformers style encoder over one layer of a (possibly intervened)
    model: ``encode(sentences) -> (n, d)``. Give it its intervention (attached or not): the
    original and the intervened encoder of one model can then be used side by side."""

    def __init__(
        self,
        loaded: LoadedModel,
        *,
        layer: int = -1,
        intervention: Intervention | None = None,
        **options,
    ) -> None:
        self.loaded, self.layer, self.intervention, self.options = (
            loaded,
            layer,
            intervention,
            options,
        )

    def encode(self, sentences: Sequence[str], **kwargs) -> np.ndarray:
        """``(n, d)`` float32. Its own intervention is attached for the call (and removed again
        if it was not attached before); any other attached intervention is refused. Takes the
        keyword arguments MTEB and sentence-transformers pass: ``batch_size``,
        ``show_progress_bar``, ``normalize_embeddings``; ``task_name``, ``prompt_type``,
        ``prompt_name``, ``convert_to_numpy``, ``convert_to_tensor`` and ``device`` are
        accepted and have no effect (the output is always a NumPy array)."""
        unknown = set(kwargs) - _ENCODER_KWARGS
        if unknown:
            raise TypeError(f"unexpected encode() arguments {sorted(unknown)}")
        opts = {"progress": False, **self.options}
        if "batch_size" in kwargs:
            opts["batch_size"] = int(kwargs["batch_size"])
        if "show_progress_bar" in kwargs:
            opts["progress"] = bool(kwargs["show_progress_bar"])
        n_hidden = self.loaded.signature()["num_hidden_layers"] + 1
        layer = self.layer % n_hidden
        iv = self.intervention
        attached_here = iv is not None and not iv.active
        if attached_here:
            iv.attach()
        try:
            emb = encode(self.loaded, list(sentences), layers=[layer], intervention=iv, **opts)
        finally:
            if attached_here:
                iv.remove()
        x = np.asarray(emb.layer(layer), dtype=np.float32)
        if kwargs.get("normalize_embeddings"):
            x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
        return x


_ENCODER_KWARGS = {
    "batch_size",
    "show_progress_bar",
    "normalize_embeddings",
    "task_name",
    "prompt_type",
    "prompt_name",
    "convert_to_numpy",
    "convert_to_tensor",
    "device",
}
