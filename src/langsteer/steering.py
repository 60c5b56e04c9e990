"""A steering-vector baseline: add "target language minus the others" to the residual stream.

Issue 7 item 4: if one added direction gives the retrieval gain and target-language share that
forcing the experts gives, the experts are not what produces the effect. Fitted on the probing
(expert) split, so it never sees an evaluated sentence: ``vector = mean_t - mean_{l != t} mean_l``,
``mean_l`` the mean of language l's sentence embeddings (mask-aware token mean of hidden state
``layer``, BOS excluded, as :func:`langsteer.embeddings.encode` computes them); each other
language weighs the same.

Layers are hidden-state indices as in ``evaluation.layer`` (0 = token embeddings, negative from
the last). State h is the output of block h - 1, hooked there; 0 and L (after the final norm)
are refused. ``strength * vector`` is added at every position of every forward call.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from langsteer.attached import register_active
from langsteer.cache import sentences_hash
from langsteer.embeddings import EMBED_POOLINGS, encode
from langsteer.models import LoadedModel, decoder_blocks

__all__ = ["SteeringHandle", "SteeringVector", "middle_layer", "resolve_steering_layer"]

LAYER_NUMBERING = "hidden-state index (0 = token embeddings, -1 = last)"


def middle_layer(n_layers: int) -> int:
    """The default steering layer: hidden-state index ``n_layers // 2`` (9 of Gemma-3-270M's 18)."""
    return max(1, n_layers // 2)


def resolve_steering_layer(layer: int | None, n_layers: int) -> int:
    """``layer`` (None = middle, negative = from the last) as 1..L-1: states a block outputs."""
    if n_layers < 2:
        raise ValueError(f"a steering vector needs >= 2 decoder blocks, this model has {n_layers}")
    if layer is None:
        return middle_layer(n_layers)
    if isinstance(layer, bool) or not isinstance(layer, int | np.integer):
        raise ValueError(f"steering layer must be an integer hidden-state index, got {layer!r}")
    h = int(layer) + n_layers + 1 if layer < 0 else int(layer)
    if not 1 <= h <= n_layers - 1:
        raise ValueError(
            f"steering layer {layer} (hidden state {h}) out of range: steerable hidden states "
            f"are 1..{n_layers - 1} (0 is the token embeddings, {n_layers} is after the final norm)"
        )
    return h


def _check_strength(strength: float) -> float:
    if isinstance(strength, bool) or not isinstance(strength, int | float | np.floating):
        raise ValueError(f"steering strength must be a number, got {strength!r}")
    if not math.isfinite(float(strength)):
        raise ValueError(f"steering strength must be finite, got {strength}")
    return float(strength)


def _check_sentences(sentences_by_language: Mapping[str, Sequence[str]], target: str) -> None:
    if not isinstance(sentences_by_language, Mapping) or len(sentences_by_language) < 2:
        raise ValueError("a steering vector needs the target and at least one other language")
    if target not in sentences_by_language:
        raise ValueError(
            f"target {target!r} is not among the languages {list(sentences_by_language)}"
        )
    for lang, sents in sentences_by_language.items():
        if isinstance(sents, str) or len(sents) == 0:
            raise ValueError(f"language {lang!r} has no sentences (give a list of strings)")
        bad = [i for i, s in enumerate(sents) if not isinstance(s, str) or not s.strip()]
        if bad:
            raise ValueError(f"language {lang!r}: empty or non-string sentences at {bad[:5]}")


class SteeringVector:
    """Estimator of a difference-of-means steering vector; ``fit`` then ``apply``.

    Learned state (set by :meth:`fit`): ``vector_`` float32 ``(d,)``, ``norm_``, ``layer_`` (the
    resolved hidden-state index), ``block_`` (module path of the hooked block), ``target_``,
    ``languages_``, ``n_per_language_``, ``model_`` (``LoadedModel.describe()``), ``data_hash_``,
    and ``meta_`` (model, data hash, languages, counts in one dict).
    """

    def __init__(
        self,
        layer: int | None = None,
        strength: float = 1.0,
        pooling: str = "mean",
        skip_bos: bool = True,
    ) -> None:
        if pooling not in EMBED_POOLINGS:
            raise ValueError(f"unknown pooling {pooling!r}; choose one of {EMBED_POOLINGS}")
        self.layer, self.pooling, self.skip_bos = layer, pooling, bool(skip_bos)
        self.strength = _check_strength(strength)

    def fit(
        self,
        loaded: LoadedModel,
        sentences_by_language: Mapping[str, Sequence[str]],
        target: str,
        *,
        batch_size: int = 16,
        max_length: int = 256,
        cache_dir: str | Path | None = None,
        progress: bool = False,
    ) -> SteeringVector:
        """Mean state of ``target`` minus the mean of the other languages' means (one cached
        :func:`~langsteer.embeddings.encode` pass; nothing may be attached while fitting)."""
        _check_sentences(sentences_by_language, target)
        n_layers = int(loaded.signature()["num_hidden_layers"])
        layer = resolve_steering_layer(self.layer, n_layers)
        langs = list(sentences_by_language)
        flat = [s for lang in langs for s in sentences_by_language[lang]]
        kw = {"batch_size": batch_size, "max_length": max_length, "cache_dir": cache_dir}
        kw.update(pooling=self.pooling, skip_bos=self.skip_bos, progress=progress)
        emb = encode(loaded, flat, layers=[layer], **kw)
        x = np.asarray(emb.layer(layer), dtype=np.float64)
        means, start = {}, 0
        for lang in langs:
            n = len(sentences_by_language[lang])
            means[lang] = x[start : start + n].mean(axis=0)
            start += n
        others = np.mean([means[lang] for lang in langs if lang != target], axis=0)
        vector = (means[target] - others).astype(np.float32)
        if not np.isfinite(vector).all():
            raise ValueError("the steering vector is not finite (non-finite hidden states)")
        self.vector_ = vector
        self.norm_ = float(np.linalg.norm(vector.astype(np.float64)))
        self.layer_ = layer
        self.block_ = decoder_blocks(loaded.model)[layer - 1][0]
        self.target_ = target
        self.languages_ = langs
        self.n_per_language_ = {lang: len(sentences_by_language[lang]) for lang in langs}
        self.model_ = loaded.describe()
        by_lang = {lang: sentences_hash(sentences_by_language[lang]) for lang in langs}
        self.data_hash_ = hashlib.sha256(json.dumps(by_lang).encode()).hexdigest()
        self.meta_ = {"model": self.model_, "data_hash": self.data_hash_, "languages": langs,
                      "n_per_language": self.n_per_language_}  # fmt: skip
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "vector_"):
            raise ValueError("this SteeringVector is not fitted; call fit(...) first")

    @property
    def vector_hash(self) -> str:
        self._check_fitted()
        return hashlib.sha256(self.vector_.tobytes()).hexdigest()[:16]

    def describe(self, strength: float | None = None) -> dict[str, Any]:
        """JSON-ready metadata; with the vector's hash it is a complete cache key."""
        self._check_fitted()
        return {
            "kind": "steering_vector",
            "target": self.target_,
            "layer": self.layer_,
            "layer_numbering": LAYER_NUMBERING,
            "block": self.block_,
            "strength": self.strength if strength is None else _check_strength(strength),
            "strength_units": "multiples of the vector (1 = the whole target-minus-others shift)",
            "positions": "all",
            "norm": self.norm_,
            "pooling": self.pooling,
            "skip_bos": self.skip_bos,
            "languages": list(self.languages_),
            "n_per_language": dict(self.n_per_language_),
            "data_hash": self.data_hash_,
            "vector_hash": self.vector_hash,
            "model": self.model_.get("id"),
        }

    def apply(self, loaded: LoadedModel, strength: float | None = None) -> SteeringHandle:
        """Attach now (``strength`` defaults to the estimator's); a handle and context manager."""
        return SteeringHandle(loaded, self, strength=strength)


class SteeringHandle:
    """A forward hook adding ``strength * vector_`` to one block's output hidden states.

    Used like :class:`langsteer.interventions.Intervention` (attach/remove/active/describe, a
    context manager). Weights are never touched, so removing restores the model exactly.
    """

    def __init__(
        self, loaded: LoadedModel, steering: SteeringVector, *, strength: float | None = None
    ) -> None:
        steering._check_fitted()
        sig = loaded.signature()
        d, fitted_on = steering.vector_.shape[0], steering.model_.get("signature")
        if sig["hidden_size"] != d:
            raise ValueError(f"steering vector has {d} dimensions, the model {sig['hidden_size']}")
        if fitted_on is not None and fitted_on != sig:
            raise ValueError(f"steering vector fitted on a different model ({fitted_on}): {sig}")
        self.model = loaded.model
        self.steering = steering
        self.strength = steering.strength if strength is None else _check_strength(strength)
        self.module = self.model.get_submodule(steering.block_)
        self._delta = torch.as_tensor(steering.vector_ * np.float32(self.strength))
        self._cast: dict[tuple, torch.Tensor] = {}
        self._handle = None
        self.attach()

    def _add(self, h: torch.Tensor) -> torch.Tensor:
        key = (h.device, h.dtype)
        if key not in self._cast:
            self._cast[key] = self._delta.to(device=h.device, dtype=h.dtype)
        return h + self._cast[key]

    def _hook(self, module: torch.nn.Module, args: Any, output: Any) -> Any:
        if self.strength == 0.0:
            return output
        if isinstance(output, torch.Tensor):
            return self._add(output)
        if isinstance(output, tuple) and output and isinstance(output[0], torch.Tensor):
            return (self._add(output[0]), *output[1:])
        raise TypeError(f"cannot steer {self.steering.block_}: it returned {type(output)}")

    def attach(self) -> SteeringHandle:
        if self._handle is None:
            # prepend: before transformers' output-capturing hooks, so hidden states show it
            self._handle = self.module.register_forward_hook(self._hook, prepend=True)
            register_active(self.model, self, True)
        return self

    def remove(self) -> None:
        if self._handle is not None:
            self._handle.remove()
            self._handle = None
        register_active(self.model, self, False)

    @property
    def active(self) -> bool:
        return self._handle is not None

    def describe(self) -> dict[str, Any]:
        return self.steering.describe(self.strength)

    def __enter__(self) -> SteeringHandle:
        return self.attach()

    def __exit__(self, *exc: Any) -> None:
        self.remove()
