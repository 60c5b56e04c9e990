"""Speed of langsteer.metrics.ranking against scikit-learn and against the floor of one sort.

Data: 20,000 units x 3,000 sentences, ReLU-like (about half exact zeros, the rest rounded to two
decimals, so many ties), 1 positive in 5 as in the paper's probing sets. Targets: >= 20x faster
than a per-unit scikit-learn loop, and <= 2x the time of ONE ``torch.sort`` of the same matrix
(sorted along the samples of a contiguous [units x samples] copy, its fastest layout).

Run: python bench/bench_auroc.py [--units 20000] [--samples 3000] [--sk-units 400]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch
from sklearn.metrics import average_precision_score, roc_auc_score

from langsteer.metrics import auroc, average_precision, expertise_scores


def best_time(fn, repeat: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def relu_like(n: int, units: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.random(n) < 0.2
    x = rng.standard_normal((n, units), dtype=np.float32)
    x[labels, : units // 10] += 0.5  # a tenth of the units respond to the target language
    np.maximum(x, 0.0, out=x)
    return np.round(x, 2), labels


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--units", type=int, default=20_000)
    ap.add_argument("--samples", type=int, default=3_000)
    ap.add_argument("--sk-units", type=int, default=400, help="units timed with scikit-learn")
    args = ap.parse_args()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    torch.set_num_threads(cores or 1)

    x, labels = relu_like(args.samples, args.units)
    print(
        f"data: {args.samples} samples x {args.units} units float32, "
        f"{(x == 0).mean():.0%} exact zeros, {labels.mean():.0%} positives; "
        f"torch threads {torch.get_num_threads()}"
    )

    xt = torch.from_numpy(np.ascontiguousarray(x.T))
    t_sort, _ = best_time(lambda: torch.sort(xt, dim=-1), 2)
    # best of 3 for every timing: the machine may be shared, and the minimum is the least noisy
    t_au, au = best_time(lambda: auroc(x, labels), 3)
    t_ap, avp = best_time(lambda: average_precision(x, labels), 3)
    t_both, both = best_time(lambda: expertise_scores(x, labels, ("auroc", "ap")), 3)

    k = min(args.sk_units, args.units)
    cols = np.linspace(0, args.units - 1, k).astype(int)
    t_sk_au, sk_au = best_time(lambda: np.array([roc_auc_score(labels, x[:, j]) for j in cols]), 3)
    t_sk_ap, sk_ap = best_time(
        lambda: np.array([average_precision_score(labels, x[:, j]) for j in cols]), 3
    )
    t_sk_au *= args.units / k
    t_sk_ap *= args.units / k
    d_au = np.abs(au[cols] - sk_au).max()
    d_ap = np.abs(avp[cols] - sk_ap).max()
    d_both = max(np.abs(both["auroc"][cols] - sk_au).max(), np.abs(both["ap"][cols] - sk_ap).max())

    print(f"one torch.sort of [{args.units} x {args.samples}] float32: {t_sort:.3f} s (floor)")
    print(
        f"scikit-learn loop timed on {k} units (best of 3), extrapolated linearly to "
        f"{args.units} units: "
        f"auroc {t_sk_au:.1f} s, ap {t_sk_ap:.1f} s, both {t_sk_au + t_sk_ap:.1f} s"
    )
    rows = [
        ("auroc", t_au, t_sk_au, d_au),
        ("ap", t_ap, t_sk_ap, d_ap),
        ("auroc+ap", t_both, t_sk_au + t_sk_ap, d_both),
    ]
    for name, t, t_sk, diff in rows:
        print(
            f"{name:9s} ours {t:.3f} s | vs sklearn {t_sk / t:5.1f}x faster (target >= 20x) | "
            f"vs one sort {t / t_sort:.2f}x (target <= 2x) | max |diff| vs sklearn {diff:.1e}"
        )
    ok = all(t_sk / t >= 20 and t / t_sort <= 2 and d <= 1e-9 for _, t, t_sk, d in rows)
    print("targets met" if ok else "TARGETS MISSED")


if __name__ == "__main__":
    main()
