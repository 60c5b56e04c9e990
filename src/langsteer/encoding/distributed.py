"""Data-parallel forward passes with Hugging Face ``accelerate``: the single-process loop, sharded.

Run any langsteer entry point under accelerate's launcher; each process loads the whole model on
its own device, forwards a share of the unique sentences, and every process ends up with what a
single process would have produced::

    accelerate launch --num_processes 4 -m langsteer.cli run study.toml --out runs/x

(on CPUs only, ``accelerate launch --multi_gpu --num_processes 2 ...`` spawns the processes and
langsteer talks over gloo). How the work is split, and why the per-sentence arrays (responses,
embeddings) are the single-process ones bit for bit:

- the shards are whole *batches of the single-process plan* (``batch_plan``), not interleaved
  rows: a sentence's numbers depend on the batch it is padded in, so only the same batches give
  the same bits;
- the batches are dealt out greedily by padded tokens (largest first, to the least loaded
  process);
- each process runs the single-process fill (:func:`langsteer.encoding.collect.fill_pass`) on
  the rows it was dealt; the pooled rows are all-gathered in chunks (raw bits, no arithmetic)
  and placed into the full arrays on every process. Token statistics (float64 sums per group)
  are summed over the processes: equal to the single-process sums up to the order of float64
  additions;
- process 0 writes the cache entry under the single-process key while the others wait. A
  failure on one process is raised on all of them instead of leaving the others blocked.

With one process (not launched, or ``accelerate`` missing) :func:`distributed_state` is None and
nothing here runs.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from langsteer.encoding.batching import TokenizedSentences, iter_batches
from langsteer.encoding.cache import allocate, cache_key, cached_arrays
from langsteer.models import LoadedModel

__all__ = ["batch_plan", "distributed_state", "run_pass_sharded", "shard_rows"]

#: bytes of one all-gather step (all processes' rows together), so gathering never needs a
#: second copy of a multi-GB matrix on the GPU
GATHER_BYTES = 256 * 2**20
_WORLD_ENV = ["WORLD_SIZE", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE"]
_ROWS = ("responses", "embeddings")


def distributed_state() -> Any | None:
    """accelerate's ``PartialState`` when launched with several processes, else None.

    Not launched (or accelerate not installed) means one process, and then accelerate is not
    touched at all. On a machine without a GPU the processes talk over gloo.
    """
    try:
        from accelerate import PartialState
        from accelerate.utils import get_int_from_env, parse_flag_from_env
    except ImportError:
        return None
    launched = torch.distributed.is_available() and (
        torch.distributed.is_initialized() or get_int_from_env(_WORLD_ENV, 1) > 1
    )
    if not launched:
        return None
    acc = getattr(torch, "accelerator", None)
    if acc is not None:
        has_gpu = acc.is_available() and acc.current_accelerator().type != "mps"
    else:
        has_gpu = torch.cuda.is_available()
    state = PartialState(cpu=parse_flag_from_env("ACCELERATE_USE_CPU") or not has_gpu)
    return state if state.num_processes > 1 else None


def batch_plan(
    tokenizer: Any, tok: TokenizedSentences, *, batch_size: int, max_tokens: int | None
) -> list[np.ndarray]:
    """Unique rows of each batch a single process would forward, in its order."""
    return [
        b.rows
        for b in iter_batches(
            tokenizer,
            tok,
            batch_size=batch_size,
            device="cpu",
            skip_bos=False,
            max_tokens=max_tokens,
        )
    ]


def shard_rows(
    batches: Sequence[np.ndarray], lengths: Sequence[int], rank: int, world: int
) -> np.ndarray:
    """Sorted unique rows that process ``rank`` of ``world`` forwards: whole batches, balanced.

    Deterministic (every process computes every shard): batches by padded tokens, largest
    first, each to the process with the fewest tokens so far (lowest rank on ties).
    """
    if not 0 <= rank < world:
        raise ValueError(f"rank {rank} out of range for world size {world}")
    lengths = np.asarray(lengths)
    cost = [len(b) * int(lengths[b].max()) if len(b) else 0 for b in batches]
    load = [0] * world
    mine: list[np.ndarray] = []
    for i in sorted(range(len(batches)), key=lambda i: -cost[i]):
        r = min(range(world), key=lambda r: (load[r], r))
        load[r] += cost[i]
        if r == rank:
            mine.append(np.asarray(batches[i]))
    return np.sort(np.concatenate(mine)) if mine else np.empty(0, dtype=np.int64)


def _entry_exists(cache_dir: str | Path | None, kind: str, key: dict) -> bool:
    return (
        cache_dir is not None and (Path(cache_dir) / kind / cache_key(key) / "meta.json").exists()
    )


def _subset(tok: TokenizedSentences, rows: np.ndarray) -> TokenizedSentences:
    """The unique sentences ``rows`` (each once, in that order) as their own tokenised input."""
    return TokenizedSentences(
        unique=[tok.unique[r] for r in rows],
        inverse=np.arange(len(rows)),
        token_ids=[tok.token_ids[r] for r in rows],
        n_truncated=0,
        max_length=tok.max_length,
    )


def _vanished(out: dict) -> dict:
    raise RuntimeError("a cache entry every process had seen disappeared; run again")


def _comm_device(state: Any) -> torch.device:
    """gloo moves CPU tensors; NCCL (and the other GPU backends) only device tensors."""
    backend = str(torch.distributed.get_backend())
    return torch.device("cpu") if "gloo" in backend or "mpi" in backend else state.device


def run_pass_sharded(
    state: Any,
    loaded: LoadedModel,
    tok: TokenizedSentences,
    spec: Any,
    key: dict,
    meta: dict,
    shapes: dict[str, tuple[int, ...]],
    batch_size: int,
    max_tokens: int | None,
    cache_dir: str | Path | None,
    progress: bool,
    desc: str,
) -> tuple[dict[str, np.ndarray], dict]:
    """Shard, compute, all-gather (rows) / all-reduce (statistics) and cache one pass."""
    from accelerate.utils import gather_object

    from langsteer.encoding.collect import fill_pass, group_weights

    world, rank = state.num_processes, state.process_index
    # Process 0's key and metadata for everyone: the device (cuda:0, cuda:1...) is in the key,
    # and a single-process run on the first GPU must find what this run stores.
    infos = gather_object([(key, meta, tok.n_tokens, len(tok.unique))])
    key, meta = infos[0][0], infos[0][1]
    if any(i[1]["data_hash"] != meta["data_hash"] or i[2:] != infos[0][2:] for i in infos):
        raise ValueError(
            "the processes were given different sentences (or tokenizers); every process must "
            "run the same code on the same data"
        )
    hits = gather_object([_entry_exists(cache_dir, "passes", key)])
    if all(hits):  # every process can read the entry (shared or identical file systems)
        return cached_arrays(cache_dir, "passes", key, shapes, _vanished, meta)

    lengths = [len(t) for t in tok.token_ids]
    plan = batch_plan(loaded.tokenizer, tok, batch_size=batch_size, max_tokens=max_tokens)
    shards = [shard_rows(plan, lengths, r, world) for r in range(world)]
    weights = None if spec.stats_units is None else group_weights(tok, spec.groups)
    show = progress and state.is_main_process

    def fill(out: dict[str, np.ndarray]) -> dict:
        start = time.perf_counter()
        mine = shards[rank]
        part = {
            n: allocate((len(mine), *s[1:]) if n in _ROWS else s, None, out[n].dtype)
            for n, s in shapes.items()
        }
        error: BaseException | None = None
        try:
            if len(mine):
                sub_w = None if weights is None else weights[mine]
                fill_pass(
                    loaded,
                    _subset(tok, mine),
                    spec,
                    part,
                    batch_size=batch_size,
                    max_tokens=max_tokens,
                    progress=show,
                    weights=sub_w,
                    desc=desc,
                )
        except Exception as exc:  # raised on every process below, not left to hang the others
            error = exc
        errors = gather_object([None if error is None else repr(error)])
        if error is not None:
            raise error
        failed = [(r, e) for r, e in enumerate(errors) if e is not None]
        if failed:
            raise RuntimeError(f"process {failed[0][0]} failed: {failed[0][1]}")
        device = _comm_device(state)
        for name in _ROWS:
            if name in out:
                _all_gather_rows(part[name], shards, out[name], tok.first_position, device)
                tok.copy_to_duplicates(out[name])
        for name in ("token_sum", "token_positive", "tokens"):
            if name in out:
                total = torch.from_numpy(np.ascontiguousarray(part[name])).to(device)
                torch.distributed.all_reduce(total)
                out[name][...] = total.cpu().numpy()
        return {
            "seconds": time.perf_counter() - start,
            "distributed": {
                "world_size": world,
                "rows_per_process": [len(s) for s in shards],
                "tokens_per_process": [int(sum(lengths[r] for r in s)) for s in shards],
            },
        }

    # Process 0 stores the entry (unless it already has it and only another process lacks it).
    store = cache_dir if rank == 0 and not hits[0] else None
    values, meta = cached_arrays(store, "passes", key, shapes, fill, meta)
    state.wait_for_everyone()
    return values, meta


def _all_gather_rows(
    part: np.ndarray,
    shards: list[np.ndarray],
    out: np.ndarray,
    first: np.ndarray,
    device: torch.device,
) -> None:
    """Place every process's rows into ``out``: chunked all-gather of equal-size padded blocks.

    Every process knows every shard, so only values travel; the floats are copied, never summed.
    """
    world = len(shards)
    width = int(np.prod(out.shape[1:]))
    longest = max(len(s) for s in shards)
    step = max(1, min(longest, GATHER_BYTES // (4 * width * world)))
    flat = part.reshape(len(part), width)
    for start in range(0, longest, step):
        block = torch.zeros((step, width), dtype=torch.float32, device=device)
        mine = flat[start : start + step]
        block[: len(mine)] = torch.from_numpy(np.ascontiguousarray(mine)).to(device)
        parts = [torch.empty_like(block) for _ in range(world)]
        torch.distributed.all_gather(parts, block)
        for r, got in enumerate(parts):
            rows = shards[r][start : start + step]
            if len(rows):
                values = got[: len(rows)].cpu().numpy().reshape(len(rows), *out.shape[1:])
                out[first[rows]] = values
