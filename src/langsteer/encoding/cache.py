"""On-disk cache of the arrays a forward pass produces, keyed by everything that made them.

An entry is a folder ``<cache>/<kind>/<key>/`` holding one ``<name>.npy`` per array (opened
memory-mapped) and ``meta.json``. It is filled in a temp folder and renamed only when complete,
so an interrupted run (Ctrl-C, crash, SIGKILL) leaves either nothing or a whole entry, and the
next run resumes from the entries that exist. An entry that cannot be read (a disk error, a file
truncated by hand) is reported, discarded and computed again.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from langsteer.io import atomic_write_json

__all__ = ["MEMMAP_THRESHOLD_BYTES", "allocate", "cache_key", "cached_arrays", "sentences_hash"]

#: above this size an uncached array lives in a memory-mapped temp file, not in RAM
MEMMAP_THRESHOLD_BYTES = 1 << 30
_META = "meta.json"


def cache_key(payload: dict) -> str:
    """Stable short hash of a JSON-able description."""
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def sentences_hash(sentences: Iterable[str]) -> str:
    """Content hash of an ordered list of sentences."""
    h = hashlib.sha256()
    for s in sentences:
        h.update(s.encode())
        h.update(b"\x00")
    return h.hexdigest()


def allocate(shape: tuple[int, ...], path: Path | None, dtype=np.float32) -> np.ndarray:
    """A zeroed array: memory-mapped at ``path``, in an anonymous temp file when large, or RAM."""
    if path is not None:
        return np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=shape)
    if int(np.prod(shape)) * np.dtype(dtype).itemsize > MEMMAP_THRESHOLD_BYTES:
        # An anonymous temp file (already unlinked on POSIX, delete-on-close on Windows): the
        # mapping keeps its own handle, so the disk space goes back when the array is freed.
        with tempfile.TemporaryFile(prefix="langsteer-", suffix=".npy") as f:
            return np.memmap(f, dtype=dtype, mode="w+", shape=shape)
    return np.zeros(shape, dtype=dtype)


def _dtype(name: str):
    """Token statistics are float64 sums; everything per sentence is float32."""
    return np.float64 if name in ("token_sum", "token_positive", "tokens") else np.float32


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_stale(folder: Path, key: str) -> None:
    """Delete temp folders of this key left by processes that died (e.g. killed with SIGKILL)."""
    for tmp in folder.glob(f".{key}.*.tmp"):
        pid = tmp.name.split(".")[2]
        if pid.isdigit() and not _pid_alive(int(pid)):
            shutil.rmtree(tmp, ignore_errors=True)


def _read(entry: Path, names: Iterable[str]) -> tuple[dict[str, np.ndarray], dict]:
    """The arrays and metadata of a complete entry; raises ValueError if any part is unreadable."""
    try:
        meta = json.loads((entry / _META).read_text(encoding="utf-8"))
        arrays = {n: np.load(entry / f"{n}.npy", mmap_mode="r") for n in names}
    except (OSError, ValueError, EOFError) as exc:
        raise ValueError(f"{type(exc).__name__}: {exc}") from exc
    return arrays, meta


def cached_arrays(
    cache_dir: str | Path | None,
    kind: str,
    key_payload: dict,
    shapes: dict[str, tuple[int, ...]],
    fill: Callable[[dict[str, np.ndarray]], dict],
    meta: dict,
) -> tuple[dict[str, np.ndarray], dict]:
    """The cached arrays for ``key_payload``, or allocate them, ``fill`` them and store them.

    ``fill(out)`` writes the values and returns metadata to add (timings...). The returned
    metadata carries ``cache: {hit, key}``.
    """
    key = cache_key(key_payload)
    if cache_dir is None:
        out = {n: allocate(s, None, _dtype(n)) for n, s in shapes.items()}
        meta = {**meta, **fill(out)}
        return out, {**meta, "cache": {"hit": False, "key": key}}
    folder = Path(cache_dir) / kind
    folder.mkdir(parents=True, exist_ok=True)
    entry = folder / key
    if (entry / _META).exists():
        try:
            arrays, stored = _read(entry, shapes)
            if all(arrays[n].shape == s for n, s in shapes.items()):
                return arrays, {**stored, "cache": {"hit": True, "key": key}}
            raise ValueError("array shapes differ from the request")
        except ValueError as exc:
            warnings.warn(
                f"cache entry {entry} is unreadable ({exc}); computing it again", stacklevel=2
            )
    if entry.exists():  # unreadable or incomplete: never trusted
        shutil.rmtree(entry, ignore_errors=True)
    _remove_stale(folder, key)
    tmp = folder / f".{key}.{os.getpid()}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        out = {n: allocate(s, tmp / f"{n}.npy", _dtype(n)) for n, s in shapes.items()}
        meta = {**meta, **fill(out)}
        for arr in out.values():
            arr.flush()
        del out
        atomic_write_json(tmp / _META, meta)
        try:
            os.replace(tmp, entry)
        except OSError:
            if not (entry / _META).exists():  # not another process that finished first
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    arrays, _ = _read(entry, shapes)
    return arrays, {**meta, "cache": {"hit": False, "key": key}}
