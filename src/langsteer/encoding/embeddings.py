"""Sentence embeddings from every layer in one forward pass, with or without a model method.

The paper embeds a sentence as the mean of the last hidden state over its tokens. We pool every
layer of the same pass (so the best layer is a free control), mask padding, and by default drop
the BOS position, which is identical for every sentence in a causal model and dominates raw
cosines. Pooling happens per batch right after the pass; only ``(n, layers, d)`` float32 is kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from langsteer.config import EvaluationConfig, RunConfig
from langsteer.encoding.collect import EMBED_POOLINGS, PassSpec, run_pass
from langsteer.models import LoadedModel

__all__ = ["EMBED_POOLINGS", "Embeddings", "LangsteerEncoder", "encode"]


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


def encode(
    loaded: LoadedModel,
    sentences: Sequence[str],
    *,
    layers: Sequence[int] | None = None,
    pooling: str = EvaluationConfig.pooling,
    skip_bos: bool = EvaluationConfig.skip_bos,
    intervention: Any = None,
    batch_size: int = RunConfig.batch_size,
    max_length: int = RunConfig.max_length,
    max_tokens: int | None = 8192,
    cache_dir: str | Path | None = None,
    progress: bool = True,
) -> Embeddings:
    """Embed sentences at the requested hidden-state indices (default: all), one pass.

    Pass the *attached* ``intervention`` (any model method's handle) so it enters the cache key
    and the metadata; the hooks themselves act because they are attached to the model. Any
    other attached handle is refused.
    """
    n_hidden = loaded.signature()["num_hidden_layers"] + 1
    chosen = tuple(range(n_hidden)) if layers is None else tuple(sorted({int(x) for x in layers}))
    spec = PassSpec(layers=chosen, embed_pooling=pooling, skip_bos=skip_bos, max_length=max_length)
    result = run_pass(
        loaded,
        sentences,
        spec,
        handle=intervention,
        batch_size=batch_size,
        max_tokens=max_tokens,
        cache_dir=cache_dir,
        progress=progress,
        desc="embeddings",
    )
    return Embeddings(result.embeddings, list(chosen), result.meta)


class LangsteerEncoder:
    """An MTEB / sentence-transformers style encoder over one layer of a (possibly intervened)
    model: ``encode(sentences) -> (n, d)``. Give it its handle (attached or not): the original
    and the intervened encoder of one model can then be used side by side."""

    def __init__(
        self, loaded: LoadedModel, *, layer: int = -1, intervention: Any = None, **options: Any
    ) -> None:
        self.loaded, self.layer, self.intervention = loaded, layer, intervention
        self.options = options

    def encode(self, sentences: Sequence[str], **kwargs: Any) -> np.ndarray:
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
