"""Load a causal LM + tokenizer and record what was loaded (id, revision, dtype, signature).

Every result file carries ``LoadedModel.describe()`` so a number can be traced to its weights, and
expert files carry ``signature()`` so they are never applied to a model they were not fitted on.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

__all__ = [
    "DTYPES",
    "LoadedModel",
    "base_model",
    "from_pretrained_objects",
    "load_model",
    "resolve_device",
    "resolve_dtype",
]

DTYPES: dict[str, torch.dtype] = {
    "float32": torch.float32,
    "fp32": torch.float32,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
    "float16": torch.float16,
    "fp16": torch.float16,
}


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """'auto' = cuda if available, else cpu."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(device)
    except (RuntimeError, ValueError) as e:
        raise ValueError(
            f"unknown device {device!r}; use 'auto', 'cpu', 'cuda', 'cuda:0', ..."
        ) from e


def resolve_dtype(
    dtype: str | torch.dtype = "auto", device: torch.device | None = None
) -> torch.dtype:
    """'auto' = bfloat16 on cuda (memory), float32 on cpu (bf16 matmuls are slow there)."""
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype == "auto":
        return torch.bfloat16 if device is not None and device.type == "cuda" else torch.float32
    key = str(dtype).lower().removeprefix("torch.")
    if key not in DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}; use 'auto' or one of {', '.join(DTYPES)}")
    return DTYPES[key]


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
        """JSON-ready provenance for result files."""
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
) -> LoadedModel:
    """Wrap already-built objects (tests, tiny models, a model you built yourself)."""
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
) -> LoadedModel:
    """Load a causal LM and its tokenizer from a hub id or a local directory (or .gguf file).

    With ``device_map`` the placement is left to transformers/accelerate (no ``.to(device)``).
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model_id = model
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
    tokenizer = AutoTokenizer.from_pretrained(model, **kwargs)
    mkw = dict(kwargs, dtype=torch_dtype)
    if device_map is not None:
        mkw["device_map"] = device_map
    hf_model = AutoModelForCausalLM.from_pretrained(model, **mkw)
    if device_map is None:
        hf_model.to(dev)
    loaded = from_pretrained_objects(
        hf_model, tokenizer, model_id=model_id, revision=revision, gguf_file=gguf_file
    )
    loaded.dtype = torch_dtype
    return loaded
