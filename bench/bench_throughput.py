"""Tokens per second of the forward pass, response collection and embedding extraction, against
the forward-pass bound.

    python bench/bench_throughput.py                    # a random 8-layer Llama built in code
    python bench/bench_throughput.py --model embedded   # the packaged Gemma-3-270M (demo extra)
    python bench/bench_throughput.py --model embedded --device cuda --json out.json  # on a GPU

Bound: 2 x (parameters used in matmuls per token) x tokens FLOPs, at the machine's fp32 matmul
rate measured in the same run. langsteer runs the decoder only, so the parameters counted are
the weights of the ``nn.Linear`` layers inside the decoder: the embedding lookup is a gather
(no matmul) and the LM head is skipped; both counts are printed. The matmul rate is
``torch.matmul`` of (rows x in) @ (in x out) over the model's own weight shapes, one of each
layer, with rows = the mean padded tokens per batch of the run, on the same thread count (or
the same device and dtype: ``--device cuda``; every timed call ends with a device sync).
Tokens are the real (unpadded) tokens: padding, attention scores (QK^T, AV: printed, a few
percent for short sentences), norms and activations are all cost the bound does not count, so
the fraction of the bound is the share of the time spent on useful matmul work.
"""

from __future__ import annotations

import argparse
import json

import torch

from bench_responses import interleaved, make_model, make_sentences
from langsteer.encoding.batching import forward_kwargs, iter_batches, tokenize_unique
from langsteer.encoding.embeddings import encode
from langsteer.encoding.responses import collect_responses
from langsteer.models import base_model, resolve_units


def matmul_bench(shapes: list[tuple[int, int]], rows: int, device: str = "cpu", dtype=None):
    """(flops, fn): one x @ W^T per (out, in) weight shape, x (rows x in), as the model runs."""
    kw = {"device": device, "dtype": dtype or torch.float32}
    mats = [(torch.randn(rows, i, **kw), torch.randn(o, i, **kw)) for o, i in shapes]
    flops = sum(2 * rows * o * i for o, i in shapes)

    def run():
        for x, w in mats:
            torch.matmul(x, w.T)

    run()
    return flops, run


def parameter_counts(loaded) -> dict[str, int]:
    decoder = base_model(loaded.model)
    linears = [m for m in decoder.modules() if isinstance(m, torch.nn.Linear)]
    head = loaded.model.get_output_embeddings()
    embed = decoder.get_input_embeddings().weight
    return {
        "total": sum(p.numel() for p in loaded.model.parameters()),
        "matmul": sum(m.weight.numel() for m in linears),
        "embedding": embed.numel(),
        "head": head.weight.numel() if head is not None else 0,
        "head_tied": int(head is not None and head.weight.data_ptr() == embed.data_ptr()),
        "linears": linears,
    }


def attention_flops(loaded, batches) -> int:
    """QK^T and AV of every layer over the padded batches: 4 x T^2 x heads x head_dim each."""
    cfg = loaded.model.config
    heads = cfg.num_attention_heads
    head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // heads
    per = 4 * heads * head_dim * cfg.num_hidden_layers
    return sum(per * b.input_ids.shape[0] * b.input_ids.shape[1] ** 2 for b in batches)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="random", help="'random' (built in code) or 'embedded'")
    p.add_argument("--n", type=int, default=256)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--max-length", type=int, default=64)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1 (default: cpu)")
    p.add_argument("--dtype", default="float32", choices=("float32", "bfloat16", "float16"))
    p.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = p.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        p.error(f"--device {args.device}: no CUDA device is visible to torch")
    loaded = make_model(args.model, args.device, args.dtype)
    decoder = base_model(loaded.model)
    counts = parameter_counts(loaded)
    tied = "tied to the embedding" if counts["head_tied"] else "own weights"
    print(
        f"model {loaded.model_id}: {counts['total'] / 1e6:.1f} M parameters in all; "
        f"used per token in decoder matmuls (counted): {counts['matmul'] / 1e6:.1f} M; "
        f"not counted: embedding lookup {counts['embedding'] / 1e6:.1f} M (a gather), "
        f"LM head {counts['head'] / 1e6:.1f} M ({tied}; skipped by langsteer)"
    )

    sentences = make_sentences(args.n)
    tok = tokenize_unique(loaded.tokenizer, sentences, args.max_length)
    batches = list(
        iter_batches(
            loaded.tokenizer, tok, batch_size=args.batch_size, device=device, skip_bos=True
        )
    )
    n_tok = tok.n_tokens
    padded = sum(int(b.input_ids.numel()) for b in batches)
    units = resolve_units(loaded.model, "mlp")

    def bare():
        with torch.inference_mode():
            for b in batches:
                decoder(**forward_kwargs(decoder, b))

    def responses():
        collect_responses(
            loaded,
            sentences,
            units,
            batch_size=args.batch_size,
            max_length=args.max_length,
            progress=False,
        )

    def embeddings():
        encode(
            loaded,
            sentences,
            batch_size=args.batch_size,
            max_length=args.max_length,
            progress=False,
        )

    bare()  # warm-up
    linears = counts["linears"]
    shapes = [tuple(m.weight.shape) for m in linears]
    distinct = sorted(set(shapes))
    per_shape = {f"{i}x{o}": shapes.count((o, i)) for o, i in distinct}
    rows = max(1, round(padded / len(batches)))
    # one of each layer's matmuls (weighted by how often each shape occurs) = the model's mix
    mm_flops, mm_run = matmul_bench(shapes, rows, device, getattr(torch, args.dtype))
    passes = (
        ("bare decoder forward", bare),
        ("response collection (`collect_responses`)", responses),
        ("embedding extraction (`encode`, all layers)", embeddings),
    )
    # matmul rate and passes timed in turn each round, so a load change hits all of them
    times = interleaved(
        [synced(fn, device) for fn in [mm_run] + [f for _, f in passes]], args.repeats
    )
    rate = mm_flops / times[0][0] / 1e9
    useful = 2 * counts["matmul"] * n_tok
    bound_s = useful / (rate * 1e9)
    attn = attention_flops(loaded, batches)
    print(
        f"{args.n} sentences, {n_tok} tokens ({padded} with padding, x{padded / n_tok:.2f}), "
        f"{len(batches)} batches of up to {args.batch_size}, torch threads "
        f"{torch.get_num_threads()}, best of {args.repeats} (interleaved)"
    )
    print(
        f"{args.dtype} torch.matmul rate on the model's shapes (in x out: count) {per_shape}, "
        f"{rows} rows: {rate:.1f} GFLOP/s"
    )
    print(
        f"bound: 2 x {counts['matmul'] / 1e6:.1f} M x {n_tok} tokens = {useful / 1e9:.1f} GFLOP "
        f"-> {bound_s:.3f} s ({n_tok / bound_s:.0f} tokens/s); attention scores add "
        f"{attn / 1e9:.2f} GFLOP ({attn / useful:.1%}, not in the bound)"
    )
    print("| pass | time | tokens/s | achieved GFLOP/s | fraction of bound |")
    print("|---|---|---|---|---|")
    rows_out = []
    for (name, _), (t, _cpu) in zip(passes, times[1:], strict=True):
        print(
            f"| {name} | {t:.3f} s | {n_tok / t:.0f} | {useful / t / 1e9:.1f} | {bound_s / t:.2f} |"
        )
        rows_out.append(
            {"pass": name, "seconds": t, "tokens_per_s": n_tok / t, "fraction": bound_s / t}
        )
    if args.json:
        figures = {
            "model": loaded.model_id,
            "device": str(device),
            "dtype": args.dtype,
            "tokens": n_tok,
            "matmul_gflops": rate,
            "bound_tokens_per_s": n_tok / bound_s,
            "passes": rows_out,
        }
        with open(args.json, "w") as f:
            json.dump(figures, f, indent=1)


def synced(fn, device: torch.device):
    """``fn`` followed by a device sync, so a CUDA call is timed to its end, not its launch."""
    if device.type != "cuda":
        return fn

    def run():
        fn()
        torch.cuda.synchronize(device)

    return run


if __name__ == "__main__":
    main()
