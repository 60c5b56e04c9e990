"""On-disk cache of large float32 arrays (responses, embeddings), keyed by what made them.

An entry is ``<key>.npy`` (memory-mapped on read) plus ``<key>.json`` (its metadata). It is
filled in a temp file and renamed only when complete, so an interrupted run (Ctrl-C, crash)
leaves either nothing or a whole entry, and the next run resumes from the entries that exist.
An entry that cannot be read back (a truncated ``.npy``, invalid ``.json``, a wrong shape: disk
trouble or an edit by hand) is discarded with a warning naming it, and computed again.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from langsteer.io import atomic_write_json

#: above this size an uncached array lives in a memory-mapped temp file, not in RAM
MEMMAP_THRESHOLD_BYTES = 1 << 30


def cache_key(payload: dict) -> str:
    """Stable short hash of a JSON-able description."""
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def sentences_hash(sentences: Sequence[str]) -> str:
    """Content hash of an ordered list of sentences."""
    h = hashlib.sha256()
    for s in sentences:
        h.update(s.encode())
        h.update(b"\x00")
    return h.hexdigest()


def _allocate(shape: tuple[int, ...], path: Path | None) -> np.ndarray:
    if path is not None:
        return np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=shape)
    if int(np.prod(shape)) * 4 > MEMMAP_THRESHOLD_BYTES:
        # An anonymous temp file (already unlinked on POSIX, delete-on-close on Windows): the
        # mapping keeps its own handle, so the disk space goes back when the array is freed.
        with tempfile.TemporaryFile(prefix="langsteer-", suffix=".npy") as f:
            return np.memmap(f, dtype=np.float32, mode="w+", shape=shape)
    return np.empty(shape, dtype=np.float32)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_stale(folder: Path, key: str) -> None:
    """Delete temp files of this key left by processes that died (e.g. killed with SIGKILL)."""
    for tmp in folder.glob(f"{key}.*.tmp.npy"):
        pid = tmp.name.split(".")[1]
        if pid.isdigit() and not _pid_alive(int(pid)):
            tmp.unlink(missing_ok=True)


def cached_array(
    cache_dir: str | Path | None,
    kind: str,
    key_payload: dict,
    shape: tuple[int, ...],
    fill: Callable[[np.ndarray], dict],
    meta: dict,
) -> tuple[np.ndarray, dict]:
    """Return the cached array for ``key_payload`` or allocate, ``fill`` and store it.

    ``fill(out)`` writes the values and returns metadata to add (timings...). The returned
    metadata carries ``cache: {hit, key}``.
    """
    key = cache_key(key_payload)
    if cache_dir is None:
        out = _allocate(shape, None)
        meta = {**meta, **fill(out)}
        return out, {**meta, "cache": {"hit": False, "key": key}}
    folder = Path(cache_dir) / kind
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"{key}.npy"
    info = final.with_suffix(".json")
    if final.exists() and info.exists():
        try:
            stored = json.loads(info.read_text(encoding="utf-8"))
            if not isinstance(stored, dict):
                raise ValueError(f"{info.name} holds no JSON object")
            values = np.load(final, mmap_mode="r")
            if values.shape != tuple(shape) or values.dtype != np.float32:
                raise ValueError(
                    f"{final.name} holds {values.dtype} {values.shape}, expected float32 "
                    f"{tuple(shape)}"
                )
        except (OSError, ValueError, EOFError) as exc:
            warnings.warn(
                f"langsteer: discarding the damaged cache entry {final} (+ .json): {exc}; "
                "computing it again",
                stacklevel=2,
            )
            final.unlink(missing_ok=True)
            info.unlink(missing_ok=True)
        else:
            return values, {**stored, "cache": {"hit": True, "key": key}}
    _remove_stale(folder, key)
    tmp = folder / f"{key}.{os.getpid()}.tmp.npy"
    try:
        out = _allocate(shape, tmp)
        meta = {**meta, **fill(out)}
        out.flush()
        del out
        os.replace(tmp, final)
        atomic_write_json(info, meta)
    finally:
        if tmp.exists():
            tmp.unlink()
    return np.load(final, mmap_mode="r"), {**meta, "cache": {"hit": False, "key": key}}
