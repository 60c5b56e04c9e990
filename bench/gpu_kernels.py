"""The device paths of the ranking and retrieval kernels against their CPU results; prints JSON.

    python bench/gpu_kernels.py --device cuda      # the check (bench/gpu_check.sh runs it)
    python bench/gpu_kernels.py --device cpu       # dry run: the same plumbing, CPU both sides

Ranking: ``expertise_scores`` (AUROC and AP) and the one-pass ``scores_and_stats`` of an expert
fit on ReLU-like responses full of exact ties, on ``--device`` vs the CPU kernel. The per-unit
sums are float64; CUDA's ``bincount`` adds a row's terms in another order than the CPU, so "equal"
means within ``--tol`` (1e-12, float64 rounding), and the count of bitwise-equal units is shown.
Retrieval: ``retrieval_top1`` for every direction x scoring and ``pairwise_top1`` over three
languages, with duplicated rows (exact ties, which the strict tie policy must not reward), on
``--device`` vs CPU: the per-item correct/incorrect arrays must be identical.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np
import torch

from langsteer.metrics import DIRECTIONS, SCORINGS, expertise_scores, pairwise_top1, retrieval_top1
from langsteer.metrics.panels import scores_and_stats


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return out, time.perf_counter() - t0


def ranking_checks(device: str, n: int, units: int, tol: float) -> list[dict]:
    rng = np.random.default_rng(0)
    x = np.maximum(rng.standard_normal((n, units), dtype=np.float32), 0)  # half exact zeros
    x[:, ::5] = np.round(x[:, ::5], 1)  # heavy ties
    labels = rng.random(n) < 0.2
    x[:, :8] += 1.5 * labels[:, None]  # a few separating units
    cpu, t_cpu = _timed(lambda: expertise_scores(x, labels, ("auroc", "ap")))
    dev, t_dev = _timed(lambda: expertise_scores(x, labels, ("auroc", "ap"), device=device))
    out = []
    for m in ("auroc", "ap"):
        diff = float(np.abs(dev[m] - cpu[m]).max())
        same = int((dev[m] == cpu[m]).sum())
        out.append(
            {
                "check": f"ranking {m} ({n} x {units})",
                "ok": diff <= tol,
                "detail": f"max abs diff {diff:.1e}, bitwise equal {same}/{units}",
                "seconds": t_dev,
                "cpu_seconds": t_cpu,
            }
        )
    (s_cpu, st_cpu), t_cpu = _timed(lambda: scores_and_stats(x, labels, ("auroc",)))
    (s_dev, st_dev), t_dev = _timed(lambda: scores_and_stats(x, labels, ("auroc",), device=device))
    diff = float(np.abs(s_dev["auroc"] - s_cpu["auroc"]).max())
    stats_same = all(np.array_equal(st_dev[k], st_cpu[k]) for k in st_cpu)
    out.append(
        {
            "check": "expert fit pass (auroc + statistics)",
            "ok": diff <= tol and stats_same and np.array_equal(s_cpu["auroc"], cpu["auroc"]),
            "detail": f"max abs diff {diff:.1e}, statistics bitwise equal: {stats_same}",
            "seconds": t_dev,
            "cpu_seconds": t_cpu,
        }
    )
    return out


def retrieval_checks(device: str, n: int, d: int) -> list[dict]:
    rng = np.random.default_rng(1)
    shared = rng.standard_normal((n, d)).astype(np.float32)
    space = {}
    for lang in ("a", "b", "c"):
        x = shared + 0.9 * rng.standard_normal((n, d)).astype(np.float32)
        x[1::10] = x[0::10][: len(x[1::10])]  # duplicated rows: exact ties, never rewarded
        space[lang] = x
    out, mismatched, t_cpu, t_dev = [], [], 0.0, 0.0
    for direction in DIRECTIONS:
        for scoring in SCORINGS:
            kw = {"direction": direction, "scoring": scoring}
            cpu, tc = _timed(lambda kw=kw: retrieval_top1(space["a"], space["b"], **kw))
            dev, td = _timed(
                lambda kw=kw: retrieval_top1(space["a"], space["b"], device=device, **kw)
            )
            t_cpu, t_dev = t_cpu + tc, t_dev + td
            if not np.array_equal(cpu.correct, dev.correct) or cpu.accuracy != dev.accuracy:
                mismatched.append(f"{direction}/{scoring}")
    out.append(
        {
            "check": f"retrieval top-1, {len(DIRECTIONS) * len(SCORINGS)} variants ({n} x {d})",
            "ok": not mismatched,
            "detail": "per-item results identical"
            if not mismatched
            else f"differ: {', '.join(mismatched)}",
            "seconds": t_dev,
            "cpu_seconds": t_cpu,
        }
    )
    cpu, tc = _timed(lambda: pairwise_top1(space, return_correct=True))
    dev, td = _timed(lambda: pairwise_top1(space, return_correct=True, device=device))
    bad = [
        f"{a}->{b}" for (a, b), r in cpu.items() if not np.array_equal(r.correct, dev[a, b].correct)
    ]
    accs = ", ".join(f"{a}->{b} {r.accuracy:.3f}" for (a, b), r in sorted(dev.items())[:2])
    out.append(
        {
            "check": "pairwise top-1, 3 languages",
            "ok": not bad,
            "detail": (f"identical ({accs}, ...)" if not bad else f"differ: {', '.join(bad)}"),
            "seconds": td,
            "cpu_seconds": tc,
        }
    )
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda", help="cuda, cuda:1; cpu = dry run (default: cuda)")
    p.add_argument("--sentences", type=int, default=None, help="ranking rows (default by device)")
    p.add_argument("--units", type=int, default=None, help="ranking units (default by device)")
    p.add_argument("--retrieval-n", type=int, default=None, help="retrieval items per language")
    p.add_argument("--dim", type=int, default=None, help="embedding dimension")
    p.add_argument("--tol", type=float, default=1e-12)
    p.add_argument("--json", default=None, help="also write the result to this file")
    args = p.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        sys.exit(f"gpu_kernels.py: --device {args.device} but torch sees no CUDA device")
    big = device.type == "cuda"  # the dry run keeps to sizes a 2-core machine does in seconds
    n = args.sentences or (6000 if big else 600)
    units = args.units or (32768 if big else 2048)
    rn = args.retrieval_n or (4000 if big else 500)
    dim = args.dim or (1024 if big else 64)
    checks = ranking_checks(str(device), n, units, args.tol) + retrieval_checks(
        str(device), rn, dim
    )
    name = torch.cuda.get_device_name(device) if big else "cpu (dry run)"
    text = json.dumps({"device": str(device), "name": name, "checks": checks}, indent=1)
    print(text)
    if args.json:
        with open(args.json, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
