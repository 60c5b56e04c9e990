"""Device and dtype resolution: "auto" and user spellings to a ``torch.device`` / ``torch.dtype``.

Split from :mod:`langsteer.models.loading` because every entry point that takes ``--device`` or
``--dtype`` (loading, the embedded-model conversion) must validate them the same way and before
any expensive work, with messages that name the CLI flag and the study-file key to change.
"""

from __future__ import annotations

import torch

__all__ = ["DTYPES", "resolve_device", "resolve_dtype"]

DTYPES: dict[str, torch.dtype] = {
    "float32": torch.float32,
    "fp32": torch.float32,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
    "float16": torch.float16,
    "fp16": torch.float16,
}


_DEVICE_FIX = 'use --device cpu or --device auto (study file: model.device = "cpu" or "auto")'


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """'auto' = cuda if available, else cpu. A CUDA/MPS device this machine lacks is an error."""
    if isinstance(device, torch.device):
        dev = device
    elif device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        try:
            dev = torch.device(device)
        except (RuntimeError, ValueError) as e:
            raise ValueError(
                f"unknown device {device!r}; use 'auto', 'cpu', 'cuda', 'cuda:0', 'mps'"
            ) from e
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"device {str(dev)!r} was asked for but CUDA is not available here (no NVIDIA "
                f"GPU, no driver, or a CPU-only PyTorch build); {_DEVICE_FIX}"
            )
        n = torch.cuda.device_count()
        if dev.index is not None and dev.index >= n:
            raise ValueError(
                f"device {str(dev)!r} was asked for but this machine has {n} CUDA device(s) "
                f"(cuda:0..cuda:{n - 1}); {_DEVICE_FIX}"
            )
    elif dev.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ValueError(
                f"device {str(dev)!r} was asked for but Apple's MPS backend is not available "
                f"here (it needs an Apple-silicon Mac and a PyTorch build with MPS); {_DEVICE_FIX}"
            )
    return dev


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
