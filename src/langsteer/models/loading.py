"""Load a causal LM + tokenizer and record what was loaded (id, revision, dtype, signature).

Every result file carries ``LoadedModel.describe()`` so a number can be traced to its weights, and
expert files carry ``signature()`` so they are never applied to a model they were not fitted on.
Device/dtype resolution (:mod:`.devices`) and the causal-attention check (:mod:`.causal`) live
in their own modules and are re-exported here.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .causal import non_causal_reason
from .devices import DTYPES, resolve_device, resolve_dtype

__all__ = [
    "DTYPES",
    "LoadedModel",
    "base_model",
    "from_pretrained_objects",
    "load_model",
    "non_causal_reason",
    "resolve_device",
    "resolve_dtype",
]


def base_model(model: torch.nn.Module) -> torch.nn.Module:
    """The decoder stack without the LM head, to get hidden states / activations cheaply.

    For every CausalLM we support, ``model.base_model`` (the ``base_model_prefix`` child: GPT-2's
    ``transformer``, Llama's ``model``, OPT's ``model``, NeoX's ``gpt_neox``) returns the final
    hidden state. Gemma's 262k-vocabulary head dominates the cost of a small model's forward pass.
    Hooks registered on the full model's submodules fire there too (it is a submodule).
    """
    base = getattr(model, "base_model", model)
    if base is model and hasattr(model, "get_decoder"):
        try:
            dec = model.get_decoder()
        except (AttributeError, NotImplementedError):
            dec = None
        if isinstance(dec, torch.nn.Module):
            return dec
    return base


@dataclass
class LoadedModel:
    """A model in eval mode, its tokenizer, and what is needed to reproduce the load."""

    model: Any
    tokenizer: Any
    model_id: str
    revision: str | None = None
    gguf_file: str | None = None
    dtype: torch.dtype = torch.float32
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    pad_token_source: str = "tokenizer"
    #: what the weights and tokenizer are: ``"sha256:..."`` of a local folder's (or .gguf
    #: file's) files, ``"commit:..."`` for a hub id; None = fingerprint the parameters at each
    #: ``describe()`` (in-memory models, see :mod:`langsteer.models.fingerprint`)
    content_hash: str | None = None

    @property
    def config(self) -> Any:
        cfg = self.model.config
        return cfg.get_text_config() if hasattr(cfg, "get_text_config") else cfg

    def signature(self) -> dict[str, Any]:
        """What must match for an expert file to be valid for this model."""
        from .units import UnsupportedArchitectureError, resolve_units

        cfg = self.config
        n_layers = next(
            (
                getattr(cfg, k)
                for k in ("num_hidden_layers", "n_layer", "num_layers")
                if hasattr(cfg, k)
            ),
            None,
        )
        hidden = next(
            (getattr(cfg, k) for k in ("hidden_size", "n_embd", "d_model") if hasattr(cfg, k)), None
        )
        try:  # measured, since configs disagree (n_inner=None, ffn_dim, 4*hidden implied)
            inter = resolve_units(self.model, "mlp-act").hook_points[0].width
        except (UnsupportedArchitectureError, IndexError):
            inter = next(
                (
                    getattr(cfg, k)
                    for k in ("intermediate_size", "ffn_dim", "n_inner")
                    if getattr(cfg, k, None)
                ),
                None,
            )
        emb = (
            self.model.get_input_embeddings()
            if hasattr(self.model, "get_input_embeddings")
            else None
        )
        vocab = getattr(cfg, "vocab_size", None) or (
            emb.weight.shape[0] if emb is not None else None
        )
        return {
            "model_type": getattr(cfg, "model_type", None),
            "num_hidden_layers": n_layers,
            "hidden_size": hidden,
            "intermediate_size": inter,
            "vocab_size": vocab,
        }

    def describe(self) -> dict[str, Any]:
        """JSON-ready provenance for result files (and, through them, every cache key).

        ``content_hash`` identifies the weights and tokenizer (files, hub commit, or a parameter
        fingerprint for in-memory models), so new weights under the same path never reuse the
        old model's cached responses or embeddings.
        """
        from .fingerprint import parameter_fingerprint

        return {
            "id": self.model_id,
            "revision": self.revision,
            # the hub commit transformers resolved (None for local folders): the revision as run
            "commit": getattr(self.model.config, "_commit_hash", None),
            "gguf_file": self.gguf_file,
            "dtype": str(self.dtype).removeprefix("torch."),
            "device": str(self.device),
            "signature": self.signature(),
            "n_parameters": int(sum(p.numel() for p in self.model.parameters())),
            "pad_token_source": self.pad_token_source,
            "content_hash": self.content_hash or parameter_fingerprint(self.model),
        }


def _ensure_pad(model: Any, tokenizer: Any) -> str:
    """Batching needs a pad token; reuse eos (or unk) so the vocabulary does not change."""
    source = "tokenizer"
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is not None:
            tokenizer.pad_token, source = tokenizer.eos_token, "eos"
        elif tokenizer.unk_token is not None:
            tokenizer.pad_token, source = tokenizer.unk_token, "unk"
        else:
            tokenizer.add_special_tokens({"pad_token": "<pad>"})
            source = "added"
            emb = model.get_input_embeddings()
            if len(tokenizer) > emb.weight.shape[0]:
                model.resize_token_embeddings(len(tokenizer))
    # generate() warns (and guesses) without a pad id; record the one the tokenizer uses.
    for cfg in (getattr(model, "config", None), getattr(model, "generation_config", None)):
        if cfg is not None and getattr(cfg, "pad_token_id", None) is None:
            cfg.pad_token_id = tokenizer.pad_token_id
    return source


def _model_device(model: torch.nn.Module) -> torch.device:
    try:
        return next(model.parameters()).device
    except StopIteration:
        return torch.device("cpu")


def _model_dtype(model: torch.nn.Module) -> torch.dtype:
    for p in model.parameters():
        if p.is_floating_point():
            return p.dtype
    return torch.float32


def from_pretrained_objects(
    model: Any,
    tokenizer: Any,
    model_id: str = "in-memory",
    *,
    revision: str | None = None,
    gguf_file: str | None = None,
    content_hash: str | None = None,
) -> LoadedModel:
    """Wrap already-built objects (tests, tiny models, a model you built yourself).

    Without ``content_hash`` (what the weights are, e.g. the hash of the files they came from)
    ``describe()`` fingerprints the parameters each time it is called, so cache keys follow
    in-place edits of the weights.
    """
    model.eval()
    source = _ensure_pad(model, tokenizer)
    return LoadedModel(
        model=model,
        tokenizer=tokenizer,
        model_id=model_id,
        revision=revision,
        gguf_file=gguf_file,
        dtype=_model_dtype(model),
        device=_model_device(model),
        pad_token_source=source,
        content_hash=content_hash,
    )


def _looks_local(name: str) -> bool:
    return (
        name.startswith((".", "/", "~")) or os.path.exists(name) or (os.sep == "\\" and ":" in name)
    )


def load_model(
    model: str,
    *,
    gguf_file: str | None = None,
    revision: str | None = None,
    device: str | torch.device = "auto",
    dtype: str | torch.dtype = "auto",
    device_map: str | dict[str, Any] | None = None,
    trust_remote_code: bool = False,
    cache_dir: str | None = None,
    allow_non_causal: bool = False,
    memo_dir: str | Path | None = None,
) -> LoadedModel:
    """Load a causal LM and its tokenizer from a hub id or a local directory (or .gguf file).

    With ``device_map`` the placement is left to transformers/accelerate (no ``.to(device)``).
    ``cache_dir`` is transformers' download cache; ``memo_dir`` the langsteer cache root where
    the hashes of local model files are memoised (default ``$LANGSTEER_CACHE`` or
    ``~/.cache/langsteer``). A model that does not attend causally (a BERT-style encoder) is
    refused unless ``allow_non_causal`` (CLI ``--allow-non-causal``, study key
    ``model.allow_non_causal``).
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from .fingerprint import check_safetensors, files_content_hash, model_files, weight_files

    model_id = model
    path: Path | None = None
    if _looks_local(model):
        path = Path(model).expanduser()
        if path.is_file() and path.suffix == ".gguf" and gguf_file is None:
            path, gguf_file = path.parent, path.name
        if not path.exists():
            raise FileNotFoundError(f"model path does not exist: {path}")
        if gguf_file is not None and not (path / gguf_file).is_file():
            raise FileNotFoundError(f"GGUF file {gguf_file!r} not found in {path}")
        model = str(path)
    if gguf_file is not None:
        missing = [m for m in ("gguf", "accelerate") if importlib.util.find_spec(m) is None]
        if missing:
            raise ImportError(
                f"loading a GGUF file needs {' and '.join(missing)}: pip install gguf accelerate"
            )
    dev = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, dev)
    kwargs: dict[str, Any] = {
        "revision": revision,
        "trust_remote_code": trust_remote_code,
        "cache_dir": cache_dir,
    }
    if gguf_file is not None:
        kwargs["gguf_file"] = gguf_file
    if path is not None and path.is_dir() and gguf_file is None:
        if not (path / "config.json").is_file():
            raise FileNotFoundError(
                f"model folder {path} has no config.json, so it is no Hugging Face model folder; "
                "give a folder written by save_pretrained (or a hub snapshot), or a .gguf file"
            )
        for weights in weight_files(path):
            if weights.suffix == ".safetensors":  # a truncated file: name it, not a traceback
                check_safetensors(weights)
    try:
        tokenizer = AutoTokenizer.from_pretrained(model, **kwargs)
        mkw = dict(kwargs, dtype=torch_dtype)
        if device_map is not None:
            mkw["device_map"] = device_map
        hf_model = AutoModelForCausalLM.from_pretrained(model, **mkw)
    except Exception as exc:
        # damaged or missing files, unknown hub ids, no network, out of memory: one line that
        # names the model for the CLI instead of a traceback (an ImportError already is one)
        if isinstance(exc, ImportError) or not (
            isinstance(exc, (OSError, RuntimeError, EOFError, ValueError))
            or type(exc).__name__ in ("SafetensorError", "UnpicklingError")
        ):
            raise
        where = f"folder {path}" if path is not None else f"{model!r}"
        hint = (
            "; check (or save again) the files in that folder"
            if path is not None
            else "; check the hub id, the revision (--revision, model.revision) and the network"
        )
        raise ValueError(
            f"could not load the model from {where}: {type(exc).__name__}: {exc}{hint}"
        ) from exc
    if device_map is None:
        hf_model.to(dev)
    reason = non_causal_reason(hf_model)
    if reason is not None and not allow_non_causal:
        raise ValueError(
            f"model {model_id!r} is not a causal language model: {reason}. Expert finding, "
            "interventions and sentence embeddings here assume causal attention (with "
            "bidirectional attention every position sees the whole sentence). Use a decoder-only "
            "model, or force it with --allow-non-causal (study file: model.allow_non_causal = "
            "true)"
        )
    if path is not None:
        content = files_content_hash(model_files(path, gguf_file), memo_dir, base=path)
    else:
        commit = getattr(hf_model.config, "_commit_hash", None)
        content = f"commit:{commit}" if commit else None
    loaded = from_pretrained_objects(
        hf_model,
        tokenizer,
        model_id=model_id,
        revision=revision,
        gguf_file=gguf_file,
        content_hash=content,
    )
    loaded.dtype = torch_dtype
    return loaded
