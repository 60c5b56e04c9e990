"""Small file helpers shared by every module that writes results or hashes inputs.

Result files are written atomically (temp file in the same directory, fsync, ``os.replace``) so a
crash or an exception half-way never leaves a truncated JSON/safetensors file that a later run
would trust. Hashes are length-prefixed so that ``["ab", "c"]`` and ``["a", "bc"]`` differ.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import math
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np

__all__ = [
    "atomic_open",
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "content_hash",
    "json_default",
    "sha256_file",
    "sha256_of_texts",
    "staged_folder",
]

PathLike = str | os.PathLike[str]

# mkstemp creates 0600 files; results should get the usual permissions (0666 minus umask).
_UMASK = os.umask(0)
os.umask(_UMASK)


def _fsync_dir(directory: Path) -> None:
    """Persist the rename itself (POSIX); silently skipped where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: PathLike, *, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it replaces ``path`` atomically.

    For writers that insist on a file name (``safetensors.torch.save_file``, ``np.save``). If the
    body raises, the temporary file is removed and ``path`` keeps its old content.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=suffix or ".tmp", dir=target.parent
    )
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        os.chmod(tmp, 0o666 & ~_UMASK)
        yield tmp
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    _fsync_dir(target.parent)


@contextlib.contextmanager
def staged_folder(path: PathLike) -> Iterator[Path]:
    """Yield an empty folder next to ``path``; on success it replaces ``path`` as a whole.

    Why: a run's outputs (results, expert files, report) must be one consistent set. If the
    body raises (or is interrupted), ``path`` keeps its old content and no staging is left.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.parent / f".{target.name}.staging-{os.getpid()}"
    old = target.parent / f".{target.name}.old-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        yield staging
        if target.exists():
            os.replace(target, old)
        os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def atomic_open(
    path: PathLike, mode: str = "w", *, encoding: str | None = "utf-8"
) -> Iterator[IO[Any]]:
    """``open()`` replacement: write to a temp file, fsync, then ``os.replace`` onto ``path``."""
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open supports mode 'w' or 'wb', not {mode!r}")
    kwargs: dict[str, Any] = {} if "b" in mode else {"encoding": encoding, "newline": ""}
    with atomic_path(path) as tmp, open(tmp, mode, **kwargs) as handle:
        yield handle
        handle.flush()
        os.fsync(handle.fileno())


def atomic_write_bytes(path: PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; returns the path."""
    with atomic_open(path, "wb") as handle:
        handle.write(data)
    return Path(path)


def atomic_write_text(path: PathLike, text: str, *, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically (no newline translation); returns the path."""
    with atomic_open(path, "w", encoding=encoding) as handle:
        handle.write(text)
    return Path(path)


def json_default(obj: Any) -> Any:
    """Convert what result dicts commonly hold (numpy/torch scalars and arrays, paths, sets)."""
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if isinstance(obj, set | frozenset):
        return sorted(obj, key=repr)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    for attr in ("tolist", "item"):  # numpy arrays/scalars, torch tensors
        method = getattr(obj, attr, None)
        if callable(method):
            return method()
    raise TypeError(f"object of type {type(obj).__name__} is not JSON serialisable")


def atomic_write_json(
    path: PathLike,
    obj: Any,
    *,
    indent: int | None = 2,
    sort_keys: bool = False,
    allow_nan: bool = True,
) -> Path:
    """Write ``obj`` as UTF-8 JSON (trailing newline) atomically; returns the path.

    ``allow_nan=False`` makes NaN/inf an error instead of emitting non-standard JSON.
    """
    text = json.dumps(
        obj,
        indent=indent,
        sort_keys=sort_keys,
        ensure_ascii=False,
        allow_nan=allow_nan,
        default=json_default,
    )
    return atomic_write_text(path, text + "\n")


def _update_len_prefixed(digest: Any, data: bytes) -> None:
    digest.update(len(data).to_bytes(8, "little"))
    digest.update(data)


def sha256_of_texts(texts: Iterable[str]) -> str:
    """Hex sha256 of a sequence of strings; order-sensitive and unambiguous (length-prefixed)."""
    digest = hashlib.sha256(b"langsteer-texts-v1")
    count = 0
    for text in texts:
        if not isinstance(text, str):
            raise TypeError(f"sha256_of_texts expects strings, got {type(text).__name__}")
        _update_len_prefixed(digest, text.encode("utf-8"))
        count += 1
    digest.update(count.to_bytes(8, "little"))
    return digest.hexdigest()


def _canonical(obj: Any) -> Any:
    """Normalise floats so the hash does not depend on JSON's float formatting of nan/inf."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return repr(obj)
    if isinstance(obj, dict):
        return {str(k): _canonical(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_canonical(v) for v in obj]
    return obj


def content_hash(obj: Any) -> str:
    """Hex sha256 of the canonical JSON form of ``obj`` (sorted keys, compact, UTF-8).

    Dict key order and tuple-vs-list do not matter; everything else does.
    """
    text = json.dumps(
        _canonical(json.loads(json.dumps(obj, default=json_default))),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def sha256_file(path: PathLike, *, chunk_size: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes, read in chunks (model files can be GBs)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def strict_json(obj: Any) -> Any:
    """A copy with NaN/inf floats as ``None`` (JSON null), so any JSON reader accepts the file."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: strict_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [strict_json(v) for v in obj]
    if isinstance(obj, np.generic):
        return strict_json(obj.item())
    return obj
