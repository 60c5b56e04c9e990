"""Response collection vs a bare forward pass over the same batches, and its peak memory.

    python bench/bench_responses.py                 # a random 8-layer Llama built in code
    python bench/bench_responses.py --model embedded  # the packaged Gemma-3-270M (demo extra)

Prints the wall time of (a) the bare decoder forward over the batches langsteer builds, (b) the
same forwards with the pooling hooks of every MLP unit attached, (c) the whole
``collect_responses`` call (tokenisation, batching, hooks, writing the matrix), and their ratios;
then, in fresh subprocesses, the peak RSS above the loaded model for 1x and 4x the sentences,
minus the response matrix itself, which must stay flat (per-token activations are never kept).
The peak is the kernel's VmHWM, reset after the model is loaded (Linux); elsewhere it falls
back to ``ru_maxrss``, which may already hold the peak of loading the model.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import torch

from langsteer.encoding.batching import forward_kwargs, iter_batches, tokenize_unique
from langsteer.encoding.collect import PassSpec
from langsteer.encoding.recorder import Recorder
from langsteer.encoding.responses import collect_responses
from langsteer.models import base_model, from_pretrained_objects, resolve_units, tiny_tokenizer


def make_model(name: str, device: str = "cpu", dtype: str = "float32"):
    if name == "embedded":
        from langsteer.models.embedded import load_embedded

        return load_embedded(device=device, dtype=dtype)
    from transformers import LlamaConfig, LlamaForCausalLM

    tok = tiny_tokenizer("left")
    cfg = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=512,
        intermediate_size=2048,
        num_hidden_layers=8,
        num_attention_heads=8,
        num_key_value_heads=8,
        max_position_embeddings=512,
    )
    torch.manual_seed(0)
    model = LlamaForCausalLM(cfg).eval().to(device=device, dtype=getattr(torch, dtype))
    return from_pretrained_objects(model, tok, model_id="bench-llama-8x512")


def make_sentences(n: int) -> list[str]:
    words = ["alpha", "beta", "gamma", "delta", "sigma", "omega", "lambda", "kappa", "zeta"]
    g = torch.Generator().manual_seed(0)
    out = []
    for i in range(n):
        length = int(torch.randint(8, 40, (1,), generator=g))
        idx = torch.randint(0, len(words), (length,), generator=g).tolist()
        out.append(f"{i} " + " ".join(words[j] for j in idx))
    return out


def interleaved(fns, repeats: int) -> list[tuple[float, float]]:
    """Best (wall, process CPU) seconds of each function, the functions run in turn each round.

    Taking turns (not all repeats of one, then the next) keeps a load change on a shared
    machine from landing on one function only; process CPU time (all threads of this process)
    is printed next to the wall time as a check that is less sensitive to other jobs.
    """
    best = [(float("inf"), float("inf"))] * len(fns)
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            w0, c0 = time.perf_counter(), time.process_time()
            fn()
            w, c = time.perf_counter() - w0, time.process_time() - c0
            best[i] = (min(best[i][0], w), min(best[i][1], c))
    return best


def timed(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def speed(args) -> None:
    loaded = make_model(args.model)
    units = resolve_units(loaded.model, "mlp")
    sentences = make_sentences(args.n)
    tok = tokenize_unique(loaded.tokenizer, sentences, args.max_length)
    batches = list(
        iter_batches(loaded.tokenizer, tok, batch_size=args.batch_size, device="cpu", skip_bos=True)
    )
    decoder = base_model(loaded.model)

    def bare():
        with torch.inference_mode():
            for b in batches:
                decoder(**forward_kwargs(decoder, b))

    def hooked():
        rec = Recorder(loaded, PassSpec(units=units, pooling="max"), 0, stop=False)
        try:
            with torch.inference_mode():
                for b in batches:
                    rec.start(b, None)
                    decoder(**forward_kwargs(decoder, b))
                    rec.gather()
        finally:
            rec.remove()

    def full():
        collect_responses(
            loaded,
            sentences,
            units,
            batch_size=args.batch_size,
            max_length=args.max_length,
            progress=False,
        )

    bare()  # warm-up
    (t_bare, c_bare), (t_hooked, c_hooked), (t_full, c_full) = interleaved(
        (bare, hooked, full), args.repeats
    )
    print(f"model {loaded.model_id}: {units.n_units} units in {len(units.hook_points)} hook points")
    print(
        f"{args.n} sentences, {tok.n_tokens} tokens, batch {args.batch_size}, "
        f"torch threads {torch.get_num_threads()}, best of {args.repeats} (interleaved)"
    )
    print(
        f"bare forward           {t_bare:8.3f} s  ({tok.n_tokens / t_bare:8.0f} tokens/s)"
        f"  CPU {c_bare:8.3f} s"
    )
    print(
        f"forward + max pooling  {t_hooked:8.3f} s  ratio {t_hooked / t_bare:.3f}x"
        f"  CPU {c_hooked:8.3f} s  ratio {c_hooked / c_bare:.3f}x"
    )
    print(
        f"collect_responses      {t_full:8.3f} s  ratio {t_full / t_bare:.3f}x"
        f"  CPU {c_full:8.3f} s  ratio {c_full / c_bare:.3f}x (target <= 1.15x)"
    )


def _status_kb(field: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark (VmHWM) of this process; False where unsupported."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    return _status_kb("VmHWM") is not None


def current_rss_kb() -> int:
    return _status_kb("VmRSS") or 0


def peak_rss_kb() -> int:
    return _status_kb("VmHWM") or 0


def memory_child(args) -> None:
    loaded = make_model(args.model)
    units = resolve_units(loaded.model, "mlp")
    sentences = make_sentences(args.n)
    # ru_maxrss is a lifetime high-water mark, already raised by loading/initialising the model;
    # on Linux, reset the mark (clear_refs 5) so the peak below is the collection's own
    reset = reset_peak_rss()
    before = current_rss_kb() if reset else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    res = collect_responses(
        loaded,
        sentences,
        units,
        batch_size=args.batch_size,
        max_length=args.max_length,
        progress=False,
    )
    peak = peak_rss_kb() if reset else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    n_tokens = res.meta["n_tokens"]
    print(
        json.dumps(
            {
                "n": args.n,
                "tokens": n_tokens,
                "growth_kb": peak - before,
                "matrix_kb": res.values.nbytes // 1024,
                "kept_kb": n_tokens * units.n_units * 4 // 1024,
            }
        )
    )


def memory(args) -> None:
    rows = []
    for n in (args.n, 4 * args.n):
        cmd = [
            sys.executable,
            __file__,
            "--memory-child",
            "--n",
            str(n),
            "--model",
            args.model,
            "--batch-size",
            str(args.batch_size),
            "--max-length",
            str(args.max_length),
        ]
        rows.append(
            json.loads(
                subprocess.run(cmd, capture_output=True, text=True, check=True)
                .stdout.strip()
                .splitlines()[-1]
            )
        )
    for r in rows:
        print(
            f"{r['n']:>6} sentences {r['tokens']:>8} tokens: peak RSS growth "
            f"{r['growth_kb'] / 1024:8.1f} MiB, of which response matrix "
            f"{r['matrix_kb'] / 1024:6.1f} MiB -> other "
            f"{(r['growth_kb'] - r['matrix_kb']) / 1024:6.1f} MiB"
        )
    a, b = rows
    print(
        f"tokens x{b['tokens'] / a['tokens']:.1f}: non-matrix peak growth "
        f"x{max(b['growth_kb'] - b['matrix_kb'], 1) / max(a['growth_kb'] - a['matrix_kb'], 1):.2f}"
        " (flat = activations are pooled inside the hooks)"
    )
    print(
        f"for scale: keeping per-token activations of every unit would need "
        f"{a['kept_kb'] / 2**20:.1f} GiB at 1x and {b['kept_kb'] / 2**20:.1f} GiB at 4x"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="random", help="'random' (built in code) or 'embedded'")
    p.add_argument("--n", type=int, default=256)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--max-length", type=int, default=64)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--part", choices=("all", "speed", "memory"), default="all")
    p.add_argument("--memory-child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.memory_child:
        memory_child(args)
        return
    if args.part in ("all", "speed"):
        speed(args)
    if args.part in ("all", "memory"):
        memory(args)


if __name__ == "__main__":
    main()
