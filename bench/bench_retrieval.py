"""Speed and memory of langsteer.metrics.retrieval.

(a) FLORES size: 1,012 queries x 1,012 candidates, d = 4,096. Ours against a plain full-matrix
    NumPy version (normalise, S = Q @ C.T, strict row maximum), same answers asserted. The
    baseline runs in float64 with the same tie tolerance, i.e. the same definition; a float32
    baseline is timed too, for scale.
(b) Memory: 50,000 x 50,000 with d = 256 (BUCC-like scale). The full similarity matrix would
    take 20 GB in float64; ours works chunk by chunk. Prints the peak RSS growth.

Run: python bench/bench_retrieval.py [--skip-large]
"""

from __future__ import annotations

import argparse
import os
import resource
import time

import numpy as np
import torch

from langsteer.metrics import retrieval_top1


def numpy_full(q: np.ndarray, c: np.ndarray, dtype, tol: float) -> np.ndarray:
    """Forward strict top-1 with the whole n x n matrix in memory."""
    q = q.astype(dtype)
    c = c.astype(dtype)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    c /= np.linalg.norm(c, axis=1, keepdims=True)
    s = q @ c.T
    gold = np.diag(s).copy()
    np.fill_diagonal(s, -np.inf)
    return gold > s.max(axis=1) + tol


def embeddings(n: int, d: int, noise: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Anisotropic pairs (a shared offset, like mean-pooled decoder states); ``noise`` is set so
    that roughly half are found (a benchmark where every answer is easy would hide bugs)."""
    rng = np.random.default_rng(seed)
    offset = 3.0 * rng.standard_normal(d, dtype=np.float32)
    base = rng.standard_normal((n, d), dtype=np.float32)
    q = offset + base + noise * rng.standard_normal((n, d), dtype=np.float32)
    c = offset + base + noise * rng.standard_normal((n, d), dtype=np.float32)
    return q, c


def best_time(fn, repeat: int = 3):
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def _status_mb(field: str) -> float | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return None


def reset_peak_rss() -> bool:
    """Linux: writing 5 to clear_refs resets the peak RSS (VmHWM) to the current RSS."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_rss_mb() -> float:
    hwm = _status_mb("VmHWM")
    return hwm if hwm is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def flores_size() -> None:
    n, d = 1012, 4096
    q, c = embeddings(n, d, noise=4.0, seed=0)
    t_ours, res = best_time(lambda: retrieval_top1(q, c))
    tol = res.variant["tie_tol"]
    t_np64, ref64 = best_time(lambda: numpy_full(q, c, np.float64, tol))
    t_np32, ref32 = best_time(lambda: numpy_full(q, c, np.float32, 0.0))
    assert np.array_equal(res.correct, ref64), "differs from the float64 full-matrix baseline"
    assert np.array_equal(res.correct, ref32), "differs from the float32 full-matrix baseline"
    t_both, both = best_time(lambda: retrieval_top1(q, c, direction="both"))
    t_margin, margin = best_time(lambda: retrieval_top1(q, c, scoring="margin"))
    print(f"(a) {n} x {n}, d = {d}: forward top-1 = {res.accuracy:.3f} (same answers as NumPy)")
    print(f"    ours forward cosine        {t_ours * 1e3:7.1f} ms")
    print(
        f"    NumPy full matrix float64  {t_np64 * 1e3:7.1f} ms  "
        f"(ours / NumPy = {t_ours / t_np64:.2f})"
    )
    print(
        f"    NumPy full matrix float32  {t_np32 * 1e3:7.1f} ms  "
        f"(ours / NumPy = {t_ours / t_np32:.2f})"
    )
    print(f"    ours both directions       {t_both * 1e3:7.1f} ms  (accuracy {both.accuracy:.3f})")
    print(
        f"    ours margin (k=4)          {t_margin * 1e3:7.1f} ms  (accuracy {margin.accuracy:.3f})"
    )


def large(n: int = 50_000, d: int = 256) -> None:
    q, c = embeddings(n, d, noise=1.6, seed=1)
    retrieval_top1(q[:500], c[:500])  # load kernels and thread pools before measuring
    exact = reset_peak_rss()  # else the peak may predate us (input generation): a lower bound
    before = peak_rss_mb()
    t0 = time.perf_counter()
    res = retrieval_top1(q, c, direction="both")
    dt = time.perf_counter() - t0
    growth = peak_rss_mb() - before
    full_gb = n * n * 8 / 1e9
    inputs_mb = (q.nbytes + c.nbytes) / 1e6
    print(f"(b) {n} x {n}, d = {d}, direction both: accuracy {res.accuracy:.3f} in {dt:.1f} s")
    print(
        f"    peak RSS growth {growth:.0f} MB{'' if exact else ' (lower bound)'} (inputs "
        f"{inputs_mb:.0f} MB float32, normalised float64 copies {2 * inputs_mb:.0f} MB); the full "
        f"similarity matrix would take {full_gb:.0f} GB in float64 ({full_gb / 2:.0f} GB float32)"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--skip-large", action="store_true")
    args = ap.parse_args()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    torch.set_num_threads(cores or 1)
    print(f"torch threads {torch.get_num_threads()}")
    flores_size()
    if not args.skip_large:
        large()


if __name__ == "__main__":
    main()
