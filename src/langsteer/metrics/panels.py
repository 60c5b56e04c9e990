"""One pass over a [samples x units] response matrix: ranking scores AND per-unit statistics.

Why: an expert fit needs, for every unit, a ranking score (AUROC/AP) and three class statistics
(positive mean and median, negative mean). Computing them in two passes of narrow column chunks
over a row-major file (the old way) touches every row's page for every chunk of ~174 units, a
sixth of a page, and each fault reads a read-ahead window around it: once the file outgrows the
page cache, pages are evicted before their chunk comes and read again (482 GB read for a 25.2 GB
file at 1,048,576 units x 6,000 sentences on a disk with 8 MB read-ahead; docs/benchmarks.md).

Here the matrix is read ONCE, in column *panels*: widths are a multiple of one 4 KiB page per
row (1,024 float32 units) and, for a numpy array or memmap with contiguous rows, panel edges sit
on page boundaries of the data (the ``.npy`` header offset is accounted for), so a page is never
shared by two panels when rows are page multiples, and otherwise only with the next panel, which
is read while it is still cached. A background thread reads the next panel (faults its pages in)
while the current one is scored; scores (in cache-sized sub-chunks, on the thread pool or the
device) and statistics come from the same panel while it is in memory. Memory is bounded by
about two panels (:data:`PANEL_BYTES` each, at least ``n_samples`` x 4 KiB; page cache for a
float32 memmap, a converted copy otherwise) plus per-chunk work, never the matrix.

Exactness: the score kernels are :mod:`langsteer.metrics.ranking`'s, whose per-unit sums do not
depend on chunk boundaries, and the statistics are the same float64-accumulated reductions per
column as before, so both are bitwise equal to the two-pass results.
"""

from __future__ import annotations

import ctypes
import itertools
import mmap
import sys
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np
import torch

from langsteer.metrics.ranking import (
    METRICS,
    _as_matrix,
    _check_finite,
    _check_labels,
    _check_scores,
    _chunk_metrics_numpy,
    _chunk_metrics_torch,
    _chunk_size,
    _read_chunk,
    _resolve_device,
)

__all__ = ["PANEL_BYTES", "STATISTICS", "panel_bounds", "scores_and_stats", "unit_statistics"]

#: target size of one panel's float32 copy (its width is rounded down to whole pages per row)
PANEL_BYTES = 128 * 2**20
STATISTICS = ("pos_mean", "pos_median", "neg_mean")
_PAGE = 4096
_FAULT_AROUND_MAX = 2 * 2**20


def unit_statistics(x: np.ndarray, labels: np.ndarray) -> dict[str, np.ndarray]:
    """Per-column positive mean and median and negative mean of a float32 block (n, c).

    Means accumulate in float64 and are stored as float32; the median is numpy's (exact).
    """
    pos, neg = x[labels], x[~labels]
    return {
        "pos_mean": pos.mean(0, dtype=np.float64).astype(np.float32),
        "pos_median": np.median(pos, axis=0).astype(np.float32, copy=False),
        "neg_mean": neg.mean(0, dtype=np.float64).astype(np.float32),
    }


def panel_bounds(values: Any, panel_bytes: int = PANEL_BYTES) -> list[tuple[int, int]]:
    """Column ranges ``[(u0, u1), ...]`` of the panels, page-aligned where the layout allows."""
    n, n_units = (int(s) for s in values.shape)
    itemsize = _itemsize(values)
    page_units = max(1, _PAGE // itemsize)
    width = max(page_units, (panel_bytes // (4 * n)) // page_units * page_units)
    shift = 0
    if isinstance(values, np.ndarray) and values.strides[1] == itemsize:
        addr = values.__array_interface__["data"][0]
        if addr % itemsize == 0:  # units to skip until a page boundary of row 0
            shift = ((-addr) % _PAGE) // itemsize
    edges = [0, *range(shift + width, n_units, width), n_units]  # [0, shift) joins panel 1
    return list(itertools.pairwise(edges))


def _read_panel(values: Any, u0: int, u1: int, advice: _FileAdvice) -> np.ndarray:
    """Columns u0:u1 as float32, read from storage here (on the reader thread), not when scored.

    A float32 numpy array (a memmap included) gives a view, whose pages are requested (see
    :class:`_FileAdvice`) and then faulted in by touching one element per page of every row: no
    copy of the panel (copying cost more CPU than it saved, measured cold). Other dtypes and
    tensors are converted, i.e. copied.
    """
    advice.willneed(u0, u1)
    x = _read_chunk(values, u0, u1)
    if isinstance(x, np.ndarray) and not x.flags.owndata and x.size:
        step = max(1, _PAGE // x.itemsize)
        _ = float(x[:, ::step].sum()) + float(x[:, -1].sum())  # every page of every row
    return x


def _libc_madvise() -> Any:
    if not sys.platform.startswith("linux") or not hasattr(mmap, "MADV_WILLNEED"):
        return None
    try:
        fn = ctypes.CDLL(None, use_errno=True).madvise
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    fn.restype = ctypes.c_int
    return fn


_MADVISE = _libc_madvise()


class _FileAdvice:
    """Exactly the pages of each panel are read from a memmap, whatever the disk's read-ahead.

    Why: a page fault in a file mapping reads a whole read-ahead window around the page (8 MB on
    the benchmark machine's disk: two 4 MB rows of a 1M-unit matrix), most of it columns of
    later panels that are evicted again before their turn when the file outgrows the page cache.
    So during the pass the mapping is ``MADV_RANDOM`` (no read-around), and each panel's row
    segments are requested with ``MADV_WILLNEED`` before they are touched (one read-ahead I/O
    per row segment, in flight together). Once scored, a panel's pages are unmapped from this
    process (``MADV_DONTNEED``; they stay in the page cache, and a copy-on-write memmap, mode
    "c", is left alone since that would drop its private changes), so RSS stays near a few
    panels. Linux only; elsewhere, or for arrays in memory, a no-op.
    """

    def __init__(self, values: Any) -> None:
        self.on = (
            _MADVISE is not None
            and isinstance(values, np.memmap)
            and values.size > 0
            and all(st > 0 for st in values.strides)
        )
        if self.on:
            self.addr = values.__array_interface__["data"][0]
            self.rows, self.stride = values.shape[0], values.strides[0]
            self.unit = values.strides[1]
            self.release_ok = getattr(values, "mode", "c") != "c"
            end = self.addr + (self.rows - 1) * self.stride + values.shape[1] * self.unit
            self.span = (self.addr, end)

    def _advise(self, start: int, end: int, advice: int) -> None:
        start -= start % _PAGE
        _MADVISE(start, end - start, advice)  # a refusal only loses the hint

    def __enter__(self) -> _FileAdvice:
        if self.on:
            self._advise(*self.span, mmap.MADV_RANDOM)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.on:
            self._advise(*self.span, mmap.MADV_NORMAL)

    def willneed(self, u0: int, u1: int) -> None:
        """Start reading the segment of columns ``u0:u1`` of every row."""
        if self.on:
            self._rows(u0, u1, mmap.MADV_WILLNEED)

    def release(self, u0: int, u1: int) -> None:
        """Unmap the (scored) segment of columns ``u0:u1`` of every row from this process.

        The range starts up to 2 MiB before ``u0``: touching a page also maps cached pages
        around it ("fault-around", 64 KiB by default, at most 2 MiB), e.g. the previous panel's.
        """
        if self.on and self.release_ok:
            self._rows(max(0, u0 - _FAULT_AROUND_MAX // self.unit), u1, mmap.MADV_DONTNEED)

    def _rows(self, u0: int, u1: int, advice: int) -> None:
        first = self.addr + u0 * self.unit
        for r in range(self.rows):
            a = first + r * self.stride
            self._advise(a, a + (u1 - u0) * self.unit, advice)


def _itemsize(values: Any) -> int:
    if isinstance(values, torch.Tensor):
        return values.element_size()
    return np.dtype(values.dtype).itemsize


def scores_and_stats(
    values: Any,
    labels: Any,
    metrics: Sequence[str] = ("auroc",),
    *,
    device: Any = None,
    num_threads: int | None = None,
    chunk_size: int | None = None,
    panel_bytes: int = PANEL_BYTES,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Scores ``{metric: float64 (n_units,)}`` and :data:`STATISTICS` ``{name: float32}`` of every
    unit, reading ``values`` (array, memmap or tensor, (n_samples, n_units)) once.

    ``metrics`` may be empty (statistics only). ``device``, ``num_threads`` and ``chunk_size``
    (units per scoring chunk) mean what they mean in :func:`~langsteer.metrics.expertise_scores`.
    """
    metrics = tuple(metrics)
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise ValueError(f"unknown metrics {unknown!r}; choose from {METRICS}")
    values = _as_matrix(values)
    n, n_units = _check_scores(values)
    lab = _check_labels(labels, n)
    dev = _resolve_device(values, device)
    pass_ = _Pass(values, lab, metrics, dev, _chunk_size(chunk_size, n, dev), n_units)
    panels = panel_bounds(values, panel_bytes)
    workers = 1
    if dev.type == "cpu":
        workers = max(1, num_threads or torch.get_num_threads() or 1)
    with (
        _FileAdvice(values) as advice,
        ThreadPoolExecutor(1) as reader,
        ThreadPoolExecutor(workers) as pool,
    ):
        ahead: Future = reader.submit(_read_panel, values, *panels[0], advice)
        for i, (u0, u1) in enumerate(panels):
            panel = ahead.result()
            if i + 1 < len(panels):  # read the next panel while this one is scored
                ahead = reader.submit(_read_panel, values, *panels[i + 1], advice)
            pass_.panel(panel, u0, u1, pool)
            del panel
            advice.release(u0, u1)
    return pass_.scores, pass_.stats


class _Pass:
    """Output arrays of one pass and the per-panel work that fills them."""

    def __init__(self, source, lab, metrics, dev, chunk_size: int, n_units: int) -> None:
        self.source, self.lab, self.metrics = source, lab, metrics
        self.dev, self.chunk_size = dev, chunk_size
        self.scores = {m: np.empty(n_units, np.float64) for m in metrics}
        self.stats = {s: np.empty(n_units, np.float32) for s in STATISTICS}
        self.pos_bit = lab.astype(np.int64)
        self.pos_bit_t = None
        if dev.type != "cpu":
            self.pos_bit_t = torch.as_tensor(lab, device=dev).to(torch.int64)

    def panel(self, x: np.ndarray, u0: int, u1: int, pool: ThreadPoolExecutor) -> None:
        """Score and summarise the panel ``x`` = columns ``u0:u1`` of the source."""
        bounds = [(b, min(u1, b + self.chunk_size)) for b in range(u0, u1, self.chunk_size)]
        if self.dev.type == "cpu":
            list(pool.map(lambda b: self._cpu_chunk(x, u0, *b), bounds))  # list(): re-raise
            return
        xd = torch.from_numpy(np.array(x, order="C")).to(self.dev)  # a copy: x may be read-only
        for b0, b1 in bounds:
            chunk = xd[:, b0 - u0 : b1 - u0]
            _check_finite(chunk, self.source, b0, self.chunk_size)
            for m, v in _chunk_metrics_torch(chunk, self.pos_bit_t, self.metrics).items():
                self.scores[m][b0:b1] = v.cpu().numpy()
        self._store_stats(x, u0, u1)

    def _cpu_chunk(self, x: np.ndarray, u0: int, b0: int, b1: int) -> None:
        chunk = x[:, b0 - u0 : b1 - u0]
        _check_finite(chunk, self.source, b0, self.chunk_size)
        if self.metrics:
            for m, v in _chunk_metrics_numpy(chunk, self.pos_bit, self.metrics).items():
                self.scores[m][b0:b1] = v
        self._store_stats(chunk, b0, b1)

    def _store_stats(self, x: np.ndarray, u0: int, u1: int) -> None:
        for name, v in unit_statistics(x, self.lab).items():
            self.stats[name][u0:u1] = v
