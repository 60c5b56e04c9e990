"""One process vs ``accelerate launch`` with N data-parallel processes, same total CPU cores.

    python bench/bench_distributed.py                    # 2 processes, a random 4-layer Llama
    python bench/bench_distributed.py --processes 4 --n 2048

Runs responses (every MLP unit, max pooling) and embeddings (every layer, mean pooling) once in
one process with N threads, then under ``accelerate launch --multi_gpu --num_processes N`` with one
thread each (GPUs hidden: this measures the CPU path; on a multi-GPU machine run the CLI under
accelerate instead). Prints the wall time of each stage inside the processes (model loading and
imports excluded), the speed-up, the shard balance, and checks that the matrices are bitwise equal.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def make_model(hidden: int, layers: int):
    from transformers import LlamaConfig, LlamaForCausalLM

    from langsteer.models import from_pretrained_objects, tiny_tokenizer

    tok = tiny_tokenizer()
    cfg = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=hidden,
        intermediate_size=4 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=8,
        num_key_value_heads=8,
        max_position_embeddings=512,
    )
    cfg._attn_implementation = "eager"
    torch.manual_seed(0)
    return from_pretrained_objects(LlamaForCausalLM(cfg).eval(), tok, model_id="bench-llama")


def make_sentences(n: int) -> list[str]:
    words = ["alpha", "beta", "gamma", "delta", "sigma", "omega", "lambda", "kappa", "zeta"]
    rng = np.random.default_rng(0)
    out = [" ".join(rng.choice(words, rng.integers(2, 40))) for _ in range(n)]
    return out + out[: n // 10]  # some duplicates, as corpora have


def worker(args) -> None:
    """One process (single, or one rank of the launched run): time both stages, save results."""
    from langsteer.encoding.embeddings import encode
    from langsteer.encoding.responses import collect_responses
    from langsteer.models import resolve_units

    loaded = make_model(args.hidden, args.layers)
    units = resolve_units(loaded.model, "mlp")
    sentences = make_sentences(args.n)
    opts = {"batch_size": args.batch_size, "progress": False}
    times: dict[str, float] = {}
    start = time.perf_counter()
    r = collect_responses(loaded, sentences, units, **opts)
    times["responses"] = time.perf_counter() - start
    start = time.perf_counter()
    e = encode(loaded, sentences, **opts)
    times["embeddings"] = time.perf_counter() - start
    rank = int(os.environ.get("RANK", "0"))
    if rank == 0:
        np.savez(Path(args.out) / f"{args.worker}.npz", responses=r.values, embeddings=e.values)
        info = {"times": times, "distributed": r.meta.get("distributed")}
        (Path(args.out) / f"{args.worker}.json").write_text(json.dumps(info))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--processes", type=int, default=2)
    p.add_argument("--n", type=int, default=768, help="unique sentences")
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--worker", choices=["single", "launched"], help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
        return worker(args)
    n = args.processes
    me = [
        __file__,
        "--n",
        str(args.n),
        "--hidden",
        str(args.hidden),
        "--layers",
        str(args.layers),
        "--batch-size",
        str(args.batch_size),
    ]
    base = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "TOKENIZERS_PARALLELISM": "false"}
    with tempfile.TemporaryDirectory() as tmp, socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = str(s.getsockname()[1])
        s.close()
        single = [sys.executable, *me, "--worker", "single", "--out", tmp]
        subprocess.run(single, env={**base, "OMP_NUM_THREADS": str(n)}, check=True)
        launch = [
            sys.executable,
            "-m",
            "accelerate.commands.launch",
            "--multi_gpu",
            "--num_processes",
            str(n),
            "--num_machines",
            "1",
            "--mixed_precision",
            "no",
            "--dynamo_backend",
            "no",
            "--main_process_port",
            port,
            *me,
            "--worker",
            "launched",
            "--out",
            tmp,
        ]
        subprocess.run(launch, env={**base, "OMP_NUM_THREADS": "1"}, check=True)
        res = {w: json.loads((Path(tmp) / f"{w}.json").read_text()) for w in ("single", "launched")}
        arrays = {w: np.load(Path(tmp) / f"{w}.npz") for w in ("single", "launched")}
        equal = {
            k: bool(np.array_equal(arrays["single"][k], arrays["launched"][k]))
            for k in ("responses", "embeddings")
        }
    print(f"{args.n} unique sentences, llama {args.layers}x{args.hidden}, {n} CPU cores")
    for stage in ("responses", "embeddings"):
        one, many = res["single"]["times"][stage], res["launched"]["times"][stage]
        print(
            f"{stage:>10}: 1 process x {n} threads {one:7.2f} s | {n} processes x 1 thread "
            f"{many:7.2f} s | speed-up {one / many:4.2f} | bitwise equal: {equal[stage]}"
        )
    d = res["launched"]["distributed"]
    print(f"rows per process {d['rows_per_process']}, tokens per process {d['tokens_per_process']}")


if __name__ == "__main__":
    main()
