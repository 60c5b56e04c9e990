"""Sentence embeddings from every layer in one forward pass, with or without an intervention.

The paper embeds a sentence as the mean of the last hidden state over its tokens. We pool every
layer of the same pass (so the best layer is a free control), mask padding, and by default drop
the BOS position, which is identical for every sentence in a causal model and dominates raw
cosines. Pooling happens per batch right after the pass; only ``(n, layers, d)`` float32 is kept.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from langsteer import __version__
from langsteer.batching import forward_kwargs, iter_batches, tokenize_unique
from langsteer.cache import cached_array, sentences_hash
from langsteer.interventions import Intervention
from langsteer.models import LoadedModel, base_model
from langsteer.responses import pool

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
    """What about an intervention changes embeddings (for cache keys and result files)."""
    if intervention is None:
        return {}
    if not intervention.active:
        raise ValueError("the intervention passed is not attached; use it inside `with`")
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
    if pooling not in EMBED_POOLINGS:
        raise ValueError(f"unknown embedding pooling {pooling!r}; choose one of {EMBED_POOLINGS}")
    n_hidden = loaded.signature()["num_hidden_layers"] + 1
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
        "intervention": intervention_key(intervention),
        "data_hash": sentences_hash(sentences),
        "n_sentences": len(sentences),
        "n_truncated": tok.n_truncated,
        "langsteer": __version__,
    }
    key = {k: meta[k] for k in ("model", "pooling", "skip_bos", "max_length", "layers")}
    key.update(intervention=meta["intervention"], data=meta["data_hash"], version=__version__)
    d = loaded.signature()["hidden_size"]

    def fill(out: np.ndarray) -> dict:
        decoder = base_model(loaded.model)
        first = tok.first_position
        start = time.perf_counter()
        bar = tqdm(total=len(tok.unique), desc="embeddings", unit="sent", disable=not progress)
        with torch.inference_mode():
            for batch in iter_batches(
                loaded.tokenizer,
                tok,
                batch_size=batch_size,
                device=loaded.device,
                skip_bos=skip_bos,
                max_tokens=max_tokens,
            ):
                hidden = decoder(**forward_kwargs(decoder, batch), output_hidden_states=True)
                states = hidden.hidden_states
                pooled = torch.stack([pool(states[i], batch, pooling) for i in layers], dim=1)
                pooled = pooled.cpu().numpy()
                if not np.isfinite(pooled).all():
                    raise FloatingPointError(
                        "non-finite hidden states; in float16/bfloat16 this is usually an "
                        "overflow: run with dtype float32"
                    )
                out[first[batch.rows]] = pooled
                bar.update(len(batch.rows))
        bar.close()
        tok.copy_to_duplicates(out)
        return {"seconds": time.perf_counter() - start}

    values, meta = cached_array(
        cache_dir, "embeddings", key, (len(sentences), len(layers), d), fill, meta
    )
    return Embeddings(values, layers, meta)


class LangsteerEncoder:
    """An MTEB / sentence-transformers style encoder over one layer of a (possibly intervened)
    model: ``encode(sentences) -> (n, d)``. Attach the intervention before calling ``encode``
    and pass it here so it enters the cache key."""

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
        n_hidden = self.loaded.signature()["num_hidden_layers"] + 1
        layer = self.layer % n_hidden
        emb = encode(
            self.loaded,
            list(sentences),
            layers=[layer],
            intervention=self.intervention,
            **{"progress": False, **self.options, **kwargs},
        )
        return emb.layer(layer)
