"""Sentence embeddings from every layer in one forward pass, with or without a model method.

The paper embeds a sentence as the mean of the last hidden state over its tokens. We pool every
layer of the same pass (so the best layer is a free control), mask padding, and by default drop
the BOS position, which is identical for every sentence in a causal model and dominates raw
cosines. Pooling happens per batch right after the pass; only ``(n, layers, d)`` float32 is kept.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from langsteer.config import EvaluationConfig, RunConfig
from langsteer.encoding.collect import EMBED_POOLINGS, PassSpec, run_pass
from langsteer.models import LoadedModel

__all__ = ["EMBED_POOLINGS", "Embeddings", "EvaluationLog", "LangsteerEncoder", "encode"]


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
    """One layer of a (possibly intervened) model as a sentence-embedding model that MTEB and
    sentence-transformers accept as they are (issue 14): ``encode`` takes a list of sentences or
    MTEB's DataLoader of ``{"text": [...]}`` batches and the keyword arguments both pass,
    ``similarity`` is the cosine both use, ``mteb_model_meta`` names the model, the layer and
    the intervention (so MTEB files each under its own experiment), and ``model_card_data``
    records what sentence-transformers evaluators report. Give it its handle (attached or not):
    the original and the intervened encoder of one model can then be used side by side."""

    similarity_fn_name = "cosine"

    def __init__(
        self,
        loaded: LoadedModel,
        *,
        layer: int = -1,
        intervention: Any = None,
        label: str | None = None,
        **options: Any,
    ) -> None:
        """``label`` names the intervention in result files (default: ``none`` without one,
        else its kind); ``options`` go to :func:`encode` (pooling, skip_bos, max_length...)."""
        n_hidden = loaded.signature()["num_hidden_layers"] + 1
        if not -n_hidden <= layer < n_hidden:
            raise ValueError(
                f"layer={layer}: the model has hidden-state indices 0..{n_hidden - 1} "
                f"(or -1..-{n_hidden} from the last)"
            )
        self.loaded, self.layer, self.intervention = loaded, layer % n_hidden, intervention
        if label is None:
            label = "none" if intervention is None else str(intervention.describe().get("kind"))
        self.label, self.options = label, options
        self.model_card_data = EvaluationLog()

    def encode(self, sentences: Any, **kwargs: Any) -> Any:
        """Embeddings of ``sentences`` (a string, a list of strings, or MTEB's DataLoader).

        Its own intervention is attached for the call (and removed again if it was not attached
        before); any other attached intervention is refused. Returns float32 ``(n, d)`` NumPy
        (one string: ``(d,)``); ``convert_to_tensor=True`` gives a tensor and
        ``convert_to_numpy=False`` a list of per-sentence tensors, as sentence-transformers
        does. Options: ``batch_size``, ``show_progress_bar``, ``normalize_embeddings``,
        ``truncate_dim``, ``prompt`` (prepended to every sentence). MTEB's and
        sentence-transformers' prompt selectors (``task_name``, ``task_metadata``,
        ``prompt_type``, ``hf_split``, ``hf_subset``) and ``device`` have no effect: langsteer
        uses no instruction prompts and runs on the model's device.
        """
        unknown = set(kwargs) - _ENCODER_KWARGS
        if unknown:
            raise TypeError(f"unexpected encode() arguments {sorted(unknown)}")
        if kwargs.get("prompt_name") is not None:
            raise ValueError(
                f"prompt_name={kwargs['prompt_name']!r}: a langsteer encoder has no named "
                "prompts; pass the text itself as prompt=..."
            )
        if kwargs.get("precision", "float32") != "float32":
            raise ValueError(f"precision={kwargs['precision']!r}: langsteer embeds in float32")
        single = isinstance(sentences, str)
        texts = _texts(sentences)
        if kwargs.get("prompt"):
            texts = [kwargs["prompt"] + t for t in texts]
        x = self._embed(texts, kwargs)
        if kwargs.get("truncate_dim") is not None:
            x = x[:, : int(kwargs["truncate_dim"])]
        if kwargs.get("normalize_embeddings"):
            x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
        if kwargs.get("convert_to_tensor"):
            out: Any = torch.from_numpy(x)
            return out[0] if single else out
        if kwargs.get("convert_to_numpy", True) is False:
            rows = list(torch.from_numpy(x))
            return rows[0] if single else rows
        return x[0] if single else x

    def _embed(self, texts: list[str], kwargs: dict[str, Any]) -> np.ndarray:
        opts = {"progress": False, **self.options}
        if kwargs.get("batch_size") is not None:
            opts["batch_size"] = int(kwargs["batch_size"])
        if "show_progress_bar" in kwargs:
            opts["progress"] = bool(kwargs["show_progress_bar"])
        if not texts:
            dim = self.loaded.signature()["hidden_size"]
            return np.zeros((0, dim), dtype=np.float32)
        iv = self.intervention
        attached_here = iv is not None and not iv.active
        if attached_here:
            iv.attach()
        try:
            emb = encode(self.loaded, texts, layers=[self.layer], intervention=iv, **opts)
        finally:
            if attached_here:
                iv.remove()
        return np.array(emb.layer(self.layer), dtype=np.float32)  # a writable copy

    def similarity(self, a: Any, b: Any) -> torch.Tensor:
        """Cosine of every row of ``a`` with every row of ``b``, in float32: the formula of
        MTEB's and sentence-transformers' ``cos_sim`` (normalise, then one matrix product)."""
        return _unit(a) @ _unit(b).T

    def similarity_pairwise(self, a: Any, b: Any) -> torch.Tensor:
        """Cosine of row i of ``a`` with row i of ``b``."""
        return (_unit(a) * _unit(b)).sum(dim=-1)

    def describe(self) -> dict[str, Any]:
        """What changes this encoder's numbers: model, layer, options, intervention."""
        iv = self.intervention
        return {
            "model": self.loaded.describe(),
            "label": self.label,
            "layer": self.layer,
            "options": {k: v for k, v in self.options.items() if k != "cache_dir"},
            "intervention": None if iv is None else dict(iv.describe()),
        }

    @property
    def mteb_model_meta(self) -> Any:
        """MTEB's ``ModelMeta`` of this encoder (needs the ``mteb`` extra)."""
        from langsteer.integrations.mteb import model_meta

        return model_meta(self)


class EvaluationLog:
    """Where sentence-transformers evaluators report to (``model.model_card_data``): each call
    of ``set_evaluation_metrics`` is kept in :attr:`evaluations`, newest last."""

    def __init__(self) -> None:
        self.evaluations: list[dict[str, Any]] = []

    def set_evaluation_metrics(
        self, evaluator: Any, metrics: dict[str, Any], epoch: int = 0, step: int = 0
    ) -> None:
        self.evaluations.append(
            {
                "evaluator": type(evaluator).__name__,
                "metrics": dict(metrics),
                "epoch": epoch,
                "step": step,
            }
        )


def _texts(inputs: Any) -> list[str]:
    """Sentences from a string, a sequence of strings, or MTEB's batches of ``{"text": [...]}``."""
    if isinstance(inputs, str):
        return [inputs]
    items = list(inputs)
    if items and isinstance(items[0], Mapping):
        if any("text" not in batch for batch in items):
            raise TypeError("encode() batches must hold a 'text' column (MTEB's text input)")
        items = [t for batch in items for t in batch["text"]]
    bad = [i for i, t in enumerate(items) if not isinstance(t, str)]
    if bad:
        raise TypeError(
            f"encode() takes sentences (str); item {bad[0]} is {type(items[bad[0]]).__name__}"
        )
    return items


def _unit(x: Any) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        t = x.detach().to(torch.float32)
    else:
        t = torch.from_numpy(np.array(x, dtype=np.float32))
    if t.ndim == 1:
        t = t[None]
    return torch.nn.functional.normalize(t, p=2, dim=1)


_ENCODER_KWARGS = {
    "batch_size",
    "show_progress_bar",
    "normalize_embeddings",
    "truncate_dim",
    "prompt",
    "prompt_name",
    "precision",
    "task_name",
    "task_metadata",
    "prompt_type",
    "hf_split",
    "hf_subset",
    "convert_to_numpy",
    "convert_to_tensor",
    "device",
}
