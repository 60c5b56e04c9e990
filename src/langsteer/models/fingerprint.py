"""What a model's numbers depend on, as a hash: its files (memoised) or its parameters.

Cache keys and result files carry ``LoadedModel.describe()``, so they must change whenever the
weights or the tokenizer change, even when the path does not (new weights saved into the same
folder). Three cases:

- **Local folder or .gguf file**: sha256 of the files transformers reads (the weights it would
  load, the tokenizer and config files), combined into one ``"sha256:..."``. Hashing a 16 GB
  model takes a while, so each file's hash is memoised in ``<langsteer cache>/content-hashes.json``
  under its (path, size, mtime_ns, ctime_ns, inode); a file whose stat changed is hashed again.
  As in git's "racy" rule, a hash taken less than ``RACY_SECONDS`` after the file's last change is
  not trusted later (a same-size rewrite within one timestamp tick would look unchanged).
- **Hub id**: the commit transformers resolved (``"commit:..."``); hub files never change under a
  commit.
- **In-memory model** (``from_pretrained_objects``): a hash of every parameter and buffer,
  computed each time ``describe()`` is called, so editing weights in place (tests planting a unit)
  changes it. Above ``PARAM_HASH_LIMIT_BYTES`` that would cost seconds per call, so a big model
  gets ``"params-sampled:..."`` (names, shapes, dtypes and 1024 evenly spaced values per tensor):
  an edit of a few weights can then go unnoticed; load it from files (or pass ``content_hash=``
  to ``from_pretrained_objects``) for exact keys.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch

__all__ = [
    "MEMO_NAME",
    "PARAM_HASH_LIMIT_BYTES",
    "check_safetensors",
    "files_content_hash",
    "model_files",
    "parameter_fingerprint",
    "weight_files",
]

MEMO_NAME = "content-hashes.json"
RACY_SECONDS = 2.0
PARAM_HASH_LIMIT_BYTES = 256 * 2**20
_SAMPLES_PER_TENSOR = 1024
_MAX_MEMO_ENTRIES = 20000
_ANNOUNCE_BYTES = 2**30

#: small files that change what a folder's model or tokenizer does
_SMALL_SUFFIXES = (".json", ".model", ".txt", ".tiktoken", ".py", ".jinja", ".vocab", ".spm")
_SKIP_PREFIXES = ("readme", "license", "notice", "use_policy", "langsteer-")
_TORCH_WEIGHTS = (".bin", ".pt", ".pth")


def model_files(folder: str | Path, gguf_file: str | None = None) -> list[Path]:
    """The files of a local model that its numbers depend on.

    With ``gguf_file``: that file alone (it holds the tokenizer too). Otherwise the weights
    transformers loads (the shards a ``*.index.json`` names, else ``model.safetensors``, else the
    top-level ``*.safetensors``, else the PyTorch ``*.bin``/``*.pt``/``*.pth`` files) plus the
    small config, tokenizer and code files. Sub-folders (a hub snapshot's ``original/``), other
    frameworks' weights (``.h5``, ``.msgpack``, ``.onnx``) and unused copies (Mistral's
    ``consolidated.safetensors`` next to its shards) are not read by ``from_pretrained`` and are
    left out.
    """
    folder = Path(folder)
    if gguf_file is not None:
        return [folder / gguf_file]
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    return sorted({*weight_files(folder, files), *_small_files(files)})


def weight_files(folder: str | Path, files: list[Path] | None = None) -> list[Path]:
    """The weight files ``from_pretrained`` reads from a local folder (see ``model_files``)."""
    folder = Path(folder)
    if files is None:
        files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    names = {p.name: p for p in files}
    for index in ("model.safetensors.index.json", "pytorch_model.bin.index.json"):
        if index in names:
            try:
                shards = set(
                    json.loads(names[index].read_text(encoding="utf-8"))["weight_map"].values()
                )
            except (OSError, ValueError, KeyError, TypeError, AttributeError):
                continue
            return [folder / n for n in sorted(shards) if (folder / n).is_file()]
    if "model.safetensors" in names:
        return [names["model.safetensors"]]
    return [p for p in files if p.suffix == ".safetensors"] or [
        p for p in files if p.suffix in _TORCH_WEIGHTS
    ]


def _small_files(files: list[Path]) -> list[Path]:
    return [
        p
        for p in files
        if p.suffix in _SMALL_SUFFIXES and not p.name.lower().startswith(_SKIP_PREFIXES)
    ]


def _stat_key(st: os.stat_result) -> dict[str, int]:
    return {
        "size": st.st_size,
        "mtime_ns": st.st_mtime_ns,
        "ctime_ns": st.st_ctime_ns,
        "ino": st.st_ino,
    }


def _read_memo(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):  # missing, unreadable or damaged: start afresh
        return {}
    files = data.get("files") if isinstance(data, dict) else None
    return files if isinstance(files, dict) else {}


def _write_memo(path: Path, entries: dict[str, Any]) -> None:
    from langsteer.io import atomic_write_json

    # merge with what other processes wrote meanwhile; forget files that are gone
    merged = {**_read_memo(path), **entries}
    merged = {k: v for k, v in merged.items() if os.path.exists(k)}
    if len(merged) > _MAX_MEMO_ENTRIES:
        newest = sorted(merged, key=lambda k: merged[k].get("hashed_ns", 0))
        merged = {k: merged[k] for k in newest[-_MAX_MEMO_ENTRIES:]}
    with contextlib.suppress(OSError):  # a read-only cache only costs a re-hash next time
        atomic_write_json(path, {"version": 1, "files": merged}, indent=None, sort_keys=True)


def _memo_hit(memo: dict[str, Any], f: Path) -> str | None:
    """The memoised sha256 of ``f`` if its stat is unchanged and the hash was not racy."""
    entry = memo.get(str(f.resolve()))
    if (
        isinstance(entry, dict)
        and entry.get("stat") == _stat_key(f.stat())
        and entry.get("trusted") is True
        and isinstance(entry.get("sha256"), str)
    ):
        return entry["sha256"]
    return None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


def files_content_hash(
    files: Iterable[str | Path], memo_dir: str | Path | None = None, *, base: str | Path = ""
) -> str:
    """``"sha256:..."`` over (relative name, sha256) of ``files``, each hash memoised on disk.

    ``memo_dir`` is the langsteer cache root (``None``: ``$LANGSTEER_CACHE`` or
    ``~/.cache/langsteer``).
    """
    from langsteer.models.embedded import cache_root

    memo_path = cache_root(memo_dir) / MEMO_NAME
    memo = _read_memo(memo_path)
    fresh: dict[str, Any] = {}
    lines = []
    files = [Path(f) for f in files]
    todo = sum(f.stat().st_size for f in files if _memo_hit(memo, f) is None)
    if todo >= _ANNOUNCE_BYTES:
        print(
            f"langsteer: hashing {todo / 2**30:.1f} GiB of model files once, so that cached "
            f"results follow the weights (memo: {memo_path})",
            file=sys.stderr,
        )
    for f in files:
        key = str(f.resolve())
        st = f.stat()
        sha = _memo_hit(memo, f)
        if sha is None:
            started = time.time_ns()
            sha = _sha256(f)
            after = f.stat()
            if _stat_key(after) == _stat_key(st):  # not rewritten while we read it
                trusted = started - st.st_mtime_ns > RACY_SECONDS * 1e9
                fresh[key] = {
                    "stat": _stat_key(st),
                    "sha256": sha,
                    "trusted": trusted,
                    "hashed_ns": started,
                }
        rel = f.relative_to(base).as_posix() if base else f.name
        lines.append(f"{rel}\0{sha}\n")
    if fresh:
        _write_memo(memo_path, fresh)
    return "sha256:" + hashlib.sha256("".join(sorted(lines)).encode()).hexdigest()


def _tensor_bytes(t: torch.Tensor) -> bytes:
    t = t.detach()
    if t.device.type == "meta":
        return b""
    flat = t.reshape(-1).contiguous().cpu()
    return flat.view(torch.uint8).numpy().tobytes() if flat.numel() else b""


def parameter_fingerprint(model: torch.nn.Module) -> str:
    """``"params:..."`` (every value) or, above the size limit, ``"params-sampled:..."``."""
    tensors = [*model.named_parameters(), *model.named_buffers()]
    total = sum(t.numel() * t.element_size() for _, t in tensors)
    sampled = total > PARAM_HASH_LIMIT_BYTES
    digest = hashlib.sha256()
    for name, t in tensors:
        digest.update(f"{name}\0{t.dtype}\0{tuple(t.shape)}\n".encode())
        if sampled and t.numel() > _SAMPLES_PER_TENSOR:
            idx = torch.linspace(0, t.numel() - 1, _SAMPLES_PER_TENSOR, device=t.device).long()
            digest.update(_tensor_bytes(t.detach().reshape(-1)[idx]))
        else:
            digest.update(_tensor_bytes(t))
    return ("params-sampled:" if sampled else "params:") + digest.hexdigest()


def check_safetensors(path: str | Path) -> None:
    """Raise ``ValueError`` naming ``path`` if it is not a complete safetensors file.

    Cheap (reads the header only): the header's tensors must end exactly at the end of the file,
    which catches a truncated download or an interrupted copy.
    """
    path = Path(path)
    size = path.stat().st_size
    problem = None
    try:
        with open(path, "rb") as handle:
            head = handle.read(8)
            if len(head) < 8:
                problem = f"{size} bytes, too short for a header"
            else:
                n = int.from_bytes(head, "little")
                if n > size - 8:
                    problem = f"header of {n} bytes but the file has {size}"
                else:
                    header = json.loads(handle.read(n))
                    ends = [
                        int(v["data_offsets"][1])
                        for k, v in header.items()
                        if k != "__metadata__" and isinstance(v, dict)
                    ]
                    expected = 8 + n + max(ends, default=0)
                    if expected != size:
                        problem = f"{size} bytes where the header describes {expected}"
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        problem = f"unreadable header ({exc})"
    if problem:
        raise ValueError(
            f"weight file {path} is truncated or corrupt ({problem}); download or save the "
            "model again (or restore the file)"
        )
