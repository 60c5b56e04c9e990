"""What each method adds over the shared passes: forward passes, sentences forwarded, seconds.

A study forwards every probing sentence once (the probing pass, shared by every model method and
target) and every evaluated + held-out (+ paraphrase) sentence once under the original model (the
un-intervened pass, shared by every embedding method). On top of that, each model method costs
one pass of the same sentences under its hooks per target, plus one held-out pass per candidate
parameter it chooses among; embedding methods cost no forward pass at all, only scoring.
This script runs a study with every method, counts the passes and sentences each stage forwards
(by wrapping the one collection loop), and prints each method's cost as a ratio to the
un-intervened pass measured in the same run.

    python bench/bench_methods.py                   # the packaged Gemma-3-270M (demo extra)
    python bench/bench_methods.py --model tiny      # a random 4-layer Llama built in code
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import langsteer.encoding.collect as collect
import langsteer.study.pipeline as pipeline
from langsteer.config import config_from_dict

METHODS = [
    {"name": "experts", "label": "paper experts"},
    {"name": "random-units", "label": "random units"},
    {"name": "lape", "label": "LAPE neurons"},
    {"name": "experts", "label": "additive experts", "mode": "add"},
    {"name": "steering-vector", "label": "steering vector", "layer": [3, 9, 15]},
    {"name": "sparse-dims", "label": "sparse dims"},
    {"name": "none"},
    {"name": "global-centring"},
    {"name": "per-language-centring"},
    {"name": "whitening"},
    {"name": "lsar"},
    {"name": "lir"},
    {"name": "linear-map"},
]


def study(args: argparse.Namespace, root: Path) -> dict:
    data = {
        "corpus": {"n_expert": args.n_expert, "n_center": 15, "n_eval": args.n_eval},
        "experts": {"targets": ["fra"], "negatives": ["eng", "deu", "rus"], "k": 300},
        "evaluation": {"languages": ["eng", "deu", "fra", "spa", "rus"], "paraphrase": []},
        "analyses": {"paraphrase": False},
        "run": {"cache_dir": str(root / "cache"), "progress": False},
        "methods": METHODS,
    }
    if args.model == "tiny":
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
        from tests.test_pipeline import make_parallel_dir, save_tiny_model

        data["model"] = {"id": str(save_tiny_model(root / "model"))}
        data["corpus"]["source"] = str(make_parallel_dir(root / "corpus", n=200))
        data["experts"] = {"targets": ["fra"], "negatives": ["eng", "deu"], "k": 16}
        data["evaluation"]["languages"] = ["eng", "deu", "fra"]
        METHODS[2].update(k=2, quantile=0.5)  # a random model has few language-specific neurons
        METHODS[4]["layer"] = [1, -2]
        METHODS[5]["dims"] = 8  # 2 blocks: hidden state 1 is the only steerable one
    return data


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", choices=["embedded", "tiny"], default="embedded")
    ap.add_argument("--n-eval", type=int, default=40)
    ap.add_argument("--n-expert", type=int, default=80)
    args = ap.parse_args()
    passes: dict[str, list[tuple[int, float]]] = defaultdict(list)
    stage = {"now": "?"}
    fill = collect.fill_pass

    def counting(loaded, tok, *a, desc="forward", **k):
        t0 = time.perf_counter()
        out = fill(loaded, tok, *a, desc=desc, **k)
        passes[stage["now"]].append((len(tok.unique), time.perf_counter() - t0))
        return out

    collect.fill_pass = counting
    timer_call = pipeline.Timer.__call__

    def staged(self, name):
        stage["now"] = name
        return timer_call(self, name)

    pipeline.Timer.__call__ = staged
    with tempfile.TemporaryDirectory() as tmp:
        cfg = config_from_dict(study(args, Path(tmp)))
        t0 = time.perf_counter()
        res = pipeline.run_study(cfg, Path(tmp) / "out", report=False)
        wall = time.perf_counter() - t0
    timings = res["timings"]
    base_n, base_s = passes["embeddings_original"][0]
    print(f"model {args.model}; {res['languages']['evaluation']}; wall {wall:.1f} s")
    print(
        f"shared probing pass: {sum(n for n, _ in passes['probing'])} sentences, "
        f"{sum(s for _, s in passes['probing']):.1f} s"
    )
    print(f"shared un-intervened pass: {base_n} sentences, {base_s:.1f} s (= 1.00x)")
    print(
        "| method | kind | passes | sentences forwarded | forward s | x un-intervened | "
        "fit + choose s | scoring s (all methods) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for m in cfg.methods:
        if m.kind == "embedding":
            print(f"| {m.label} | embedding | 0 | 0 | 0 | 0.00x | 0 | shared |")
            continue
        runs = passes[f"embeddings:{m.label}"] + passes[f"choose:{m.label}"]
        n = sum(x for x, _ in runs)
        s = sum(x for _, x in runs)
        fit = (
            timings.get(f"fit:{m.label}", 0.0)
            + timings.get(f"choose:{m.label}", 0.0)
            - sum(x for _, x in passes[f"choose:{m.label}"])
        )
        print(
            f"| {m.label} | model | {len(runs)} | {n} | {s:.1f} | {s / base_s:.2f}x | {fit:.1f} | |"
        )
    print(f"scoring (every space x embedding method x layer): {timings.get('scoring', 0):.1f} s")


if __name__ == "__main__":
    main()
