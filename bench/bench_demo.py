"""The end-to-end demo (``langsteer demo``), stage by stage, from its ``results.json``.

    python bench/bench_demo.py                                 # reads runs/demo/results.json
    python bench/bench_demo.py --results /tmp/runs/demo/results.json --wall 820
    python bench/bench_demo.py --run --out runs/bench-demo     # runs the demo, times the wall

Prints the ``timings`` key of the results (wall seconds per pipeline stage; stages that run
once per target, such as the intervened embeddings, are summed over targets) with each stage's
share of the timed total, and, when the whole wall time is known (``--run``, or ``--wall``),
the share left to what no stage covers (start-up, imports, the report and figures).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

# what each stage does, for the table (per-method stages: "<stage>:<method label>")
STAGES = {
    "load_model": "load the model (first run: also the one-time GGUF conversion)",
    "load_corpora": "read, check and split the corpora, before the model loads",
    "probing": "the one probing pass: responses, token statistics, hidden states",
    "embeddings_original": "the un-intervened pass (shared by every embedding method)",
    "fit": "fit the method on the probing data (no forward pass)",
    "choose": "one held-out pass per candidate parameter, scored",
    "embeddings": "the pass of every evaluated sentence under the method, every target",
    "scoring": "every space x embedding method x layer, with the paper's measures",
    "leaderboard": "paired bootstrap of every row against the baseline",
    "generation": "target-language rate and perplexity per method and k",
}


def what(stage: str) -> str:
    base, _, method = stage.partition(":")
    return STAGES.get(base, "") + (f" ({method})" if method else "")


def describe_run(results: dict) -> str:
    model = results.get("model", {})
    langs = results.get("languages", {})
    parts = [
        f"model {model.get('id', '?')} ({model.get('dtype', '?')}, {model.get('device', '?')})"
    ]
    if langs:
        parts.append(
            f"{len(langs.get('targets', []))} targets, "
            f"{len(langs.get('evaluation', []))} evaluation languages"
        )
    methods = results.get("methods", [])
    if methods:
        kinds = [m.get("kind") for m in methods]
        parts.append(
            f"{kinds.count('model')} model and {kinds.count('embedding')} embedding methods"
        )
    for p in results.get("probing") or []:
        parts.append(
            f"probing pass: {p.get('n_sentences', '?')} sentences, {p.get('n_tokens', '?')} tokens"
        )
    versions = results.get("versions", {})
    if versions:
        parts.append(", ".join(f"{k} {v}" for k, v in versions.items()))
    return "; ".join(parts)


def table(timings: dict[str, float], wall: float | None) -> str:
    total = sum(timings.values())
    denom = wall if wall else total
    rows = ["| stage | what | time | share |", "|---|---|---|---|"]
    for stage, sec in sorted(timings.items(), key=lambda kv: -kv[1]):
        rows.append(f"| {stage} | {what(stage)} | {sec:8.1f} s | {sec / denom:6.1%} |")
    rows.append(f"| **timed total** | | {total:8.1f} s | {total / denom:6.1%} |")
    if wall:
        rows.append(
            f"| untimed | start-up, imports, report and figures | {wall - total:8.1f} s | "
            f"{(wall - total) / wall:6.1%} |"
        )
        rows.append(f"| **wall** | | {wall:8.1f} s | 100.0% |")
    return "\n".join(rows)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--results", default="runs/demo/results.json", help="results.json to read")
    p.add_argument("--run", action="store_true", help="run `langsteer demo` first and time it")
    p.add_argument("--out", default=None, help="with --run: the demo's output folder")
    p.add_argument("--wall", type=float, default=None, help="known wall seconds of the run")
    p.add_argument("--demo-arg", action="append", default=[], help="extra argument, repeatable")
    args = p.parse_args()
    path = Path(args.results)
    wall = args.wall
    if args.run:
        out = Path(args.out) if args.out else path.parent
        cmd = [
            sys.executable,
            "-m",
            "langsteer.cli",
            "demo",
            "--out",
            str(out),
            "--overwrite",
            *args.demo_arg,
        ]
        start = time.perf_counter()
        subprocess.run(cmd, check=True)
        wall = time.perf_counter() - start
        path = out / "results.json"
    results = json.loads(path.read_text())
    if "timings" not in results:
        raise SystemExit(f"{path} has no 'timings' key: is it a langsteer demo results.json?")
    print(f"{path}: {describe_run(results)}")
    print(table(results["timings"], wall))


if __name__ == "__main__":
    main()
