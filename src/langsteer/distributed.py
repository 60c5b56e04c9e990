"""Data-parallel response collection and embedding extraction with Hugging Face ``accelerate``.

Run any langsteer entry point under accelerate's launcher; each process loads the whole model on
its own GPU, forwards a share of the unique sentences, and every process ends up with exactly
the matrix a single process would have produced::

    accelerate launch --num_processes 4 -m langsteer.cli run study.toml --out runs/x

(on one machine with several GPUs accelerate picks its multi-GPU launcher by itself; on CPUs only,
``accelerate launch --multi_gpu --num_processes 2 ...`` spawns the processes and langsteer talks
over gloo). Every process must get the same sentences and the same weights; the results are the
single-process ones, bit for bit, because of how the work is split:

- the shards are whole *batches of the single-process plan* (``batch_plan``: the length-sorted,
  padded batches ``iter_batches`` builds), not interleaved rows. A sentence's numbers depend on
  the batch it is padded in (kernel choice, reduction order), so only the same batches give the
  same bits; a batch stays whole and keeps its padding width.
- the batches are dealt out greedily by padded tokens (largest first, to the least loaded
  process), so every process gets a similar token count; with fewer batches than processes some
  processes simply forward nothing.
- each process runs the single-process fill (``fill_responses`` / ``fill_embeddings``) on the
  already tokenised rows it was dealt (in their original order, so langsteer's stable length sort
  rebuilds exactly the assigned batches); the pooled rows are all-gathered in chunks of padded
  float32 tensors (raw bits, no arithmetic) and placed into the full matrix on every process,
  since every process continues the pipeline with it.
- process 0 writes the cache entry, under the single-process key, while the others keep theirs in
  memory (a temp memmap above 1 GB) and wait. If every process already sees the entry, nothing
  is computed. A failure on one process (non-finite activations...) is raised on all of them
  instead of leaving the others blocked in a collective.

With one process (not launched, or ``accelerate`` missing) both functions are exactly
``collect_responses`` / ``encode``, so callers can use them unconditionally. The model must sit
on the process's own device (``distributed_state().device``), whole: data parallelism and
``device_map="auto"`` do not mix.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from langsteer.batching import TokenizedSentences, iter_batches
from langsteer.cache import _allocate, cache_key, cached_array
from langsteer.embeddings import Embeddings, encode, fill_embeddings, prepare_encode
from langsteer.interventions import Intervention
from langsteer.models import LoadedModel, UnitSet
from langsteer.responses import Responses, collect_responses, fill_responses, prepare_responses

__all__ = [
    "batch_plan",
    "collect_responses_distributed",
    "distributed_state",
    "encode_distributed",
    "shard_rows",
]

#: bytes of one all-gather step (all processes' rows together), so gathering never needs a
#: second copy of a multi-GB matrix on the GPU
GATHER_BYTES = 256 * 2**20
_WORLD_ENV = ["WORLD_SIZE", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE"]


def distributed_state() -> Any | None:
    """accelerate's ``PartialState`` when launched with several processes, else None.

    Not launched (or accelerate not installed) means one process, and then accelerate is not
    touched at all, so plain runs keep their exact behaviour. On a machine without a GPU the
    processes talk over gloo (accelerate would otherwise see "no GPU" and report one process).
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
    """Unique rows of each batch a single process would forward, in its order.

    Built by ``iter_batches`` itself (on the CPU), so it can never drift from the real batching.
    """
    return [
        b.rows
        for b in iter_batches(
            tokenizer, tok, batch_size=batch_size, device="cpu", skip_bos=False,
            max_tokens=max_tokens,
        )
    ]  # fmt: skip


def shard_rows(
    batches: Sequence[np.ndarray], lengths: Sequence[int], rank: int, world: int
) -> np.ndarray:
    """Sorted unique rows that process ``rank`` of ``world`` forwards: whole batches, balanced.

    Deterministic (every process computes every shard and so knows who sends what): batches by
    padded tokens, largest first, each to the process with the fewest tokens so far (lowest rank
    on ties). ``lengths`` are the token counts of the unique sentences.
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


def collect_responses_distributed(
    loaded: LoadedModel,
    sentences: Sequence[str],
    units: UnitSet,
    *,
    pooling: str = "max",
    skip_bos: bool = True,
    batch_size: int = 16,
    max_length: int = 256,
    max_tokens: int | None = 8192,
    cache_dir: str | Path | None = None,
    progress: bool = True,
    extra_key: dict | None = None,
) -> Responses:
    """``collect_responses`` with the unique sentences sharded over the launched processes."""
    prep = dict(pooling=pooling, skip_bos=skip_bos, max_length=max_length, extra_key=extra_key)
    state = distributed_state()
    if state is None:
        return collect_responses(loaded, sentences, units, batch_size=batch_size,
                                 max_tokens=max_tokens, cache_dir=cache_dir, progress=progress,
                                 **prep)  # fmt: skip
    tok, meta, key = prepare_responses(loaded, sentences, units, **prep)

    def local(sub: TokenizedSentences, out: np.ndarray, show: bool) -> None:
        fill_responses(loaded, sub, units, pooling, skip_bos, batch_size, max_tokens, out, show)

    values, meta = _run(state, loaded, tok, "responses", key, meta, (units.n_units,), local,
                        batch_size, max_tokens, cache_dir, progress)  # fmt: skip
    return Responses(values, units, meta)


def encode_distributed(
    loaded: LoadedModel,
    sentences: Sequence[str],
    *,
    layers: Sequence[int] | None = None,
    pooling: str = "mean",
    skip_bos: bool = True,
    intervention: Intervention | None = None,
    batch_size: int = 16,
    max_length: int = 256,
    max_tokens: int | None = 8192,
    cache_dir: str | Path | None = None,
    progress: bool = True,
) -> Embeddings:
    """``encode`` with the unique sentences sharded over the launched processes.

    The intervention must be attached on every process (each runs the same pipeline code).
    """
    prep = dict(layers=layers, pooling=pooling, skip_bos=skip_bos, intervention=intervention,
                max_length=max_length)  # fmt: skip
    state = distributed_state()
    if state is None:
        return encode(loaded, sentences, batch_size=batch_size, max_tokens=max_tokens,
                      cache_dir=cache_dir, progress=progress, **prep)  # fmt: skip
    tok, layers, meta, key, shape = prepare_encode(loaded, sentences, **prep)

    def local(sub: TokenizedSentences, out: np.ndarray, show: bool) -> None:
        fill_embeddings(loaded, sub, layers, pooling, skip_bos, batch_size, max_tokens, out, show)

    row = shape[1:]
    values, meta = _run(state, loaded, tok, "embeddings", key, meta, row, local, batch_size,
                        max_tokens, cache_dir, progress)  # fmt: skip
    return Embeddings(values, layers, meta)


def _entry_exists(cache_dir: str | Path | None, kind: str, key: dict) -> bool:
    if cache_dir is None:
        return False
    final = Path(cache_dir) / kind / f"{cache_key(key)}.npy"
    return final.exists() and final.with_suffix(".json").exists()


def _run(
    state: Any,
    loaded: LoadedModel,
    tok: TokenizedSentences,
    kind: str,
    key: dict,
    meta: dict,
    row_shape: tuple[int, ...],
    local: Callable[[TokenizedSentences, np.ndarray, bool], None],
    batch_size: int,
    max_tokens: int | None,
    cache_dir: str | Path | None,
    progress: bool,
) -> tuple[np.ndarray, dict]:
    """Shard, compute, all-gather and cache one ``[sentences x row_shape]`` array."""
    from accelerate.utils import gather_object

    world, rank = state.num_processes, state.process_index
    # Process 0's key and metadata for everyone: the model's device (cuda:0, cuda:1...) is part
    # of the key, and a single-process run on the first GPU must find what this run stores.
    infos = gather_object([(key, meta, tok.n_tokens, len(tok.unique))])
    key, meta = infos[0][0], infos[0][1]
    if any(i[1]["data_hash"] != meta["data_hash"] or i[2:] != infos[0][2:] for i in infos):
        raise ValueError(
            "the processes were given different sentences (or tokenizers); every process must "
            "run the same code on the same data"
        )
    hits = gather_object([_entry_exists(cache_dir, kind, key)])
    shape = (len(tok.inverse), *row_shape)
    if all(hits):  # every process can read the entry (shared or identical file systems)
        return cached_array(cache_dir, kind, key, shape, _vanished, meta)

    lengths = [len(t) for t in tok.token_ids]
    plan = batch_plan(loaded.tokenizer, tok, batch_size=batch_size, max_tokens=max_tokens)
    shards = [shard_rows(plan, lengths, r, world) for r in range(world)]
    show = progress and state.is_main_process

    def fill(out: np.ndarray) -> dict:
        start = time.perf_counter()
        error: BaseException | None = None
        part = np.empty((0, *row_shape), dtype=np.float32)
        try:
            if len(shards[rank]):
                part = _allocate((len(shards[rank]), *row_shape), None)
                local(_subset(tok, shards[rank]), part, show)
        except Exception as exc:  # raised on every process below, not left to hang the others
            error = exc
        errors = gather_object([None if error is None else repr(error)])
        if error is not None:
            raise error
        failed = [(r, e) for r, e in enumerate(errors) if e is not None]
        if failed:
            raise RuntimeError(f"process {failed[0][0]} failed: {failed[0][1]}")
        _all_gather_rows(part, shards, out, tok.first_position, _comm_device(state))
        tok.copy_to_duplicates(out)
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
    values, meta = cached_array(store, kind, key, shape, fill, meta)
    state.wait_for_everyone()
    return values, meta


def _subset(tok: TokenizedSentences, rows: np.ndarray) -> TokenizedSentences:
    """The unique sentences ``rows`` (each once, in that order) as their own tokenised input.

    Their token ids are the full input's (truncation included), so the fill functions batch them
    exactly as a single-process run would; ``n_truncated`` is not known per row and is unused.
    """
    return TokenizedSentences(
        unique=[tok.unique[r] for r in rows],
        inverse=np.arange(len(rows)),
        token_ids=[tok.token_ids[r] for r in rows],
        n_truncated=0,
        max_length=tok.max_length,
    )


def _vanished(out: np.ndarray) -> dict:
    raise RuntimeError("a cache entry every process had seen disappeared; run again")


def _comm_device(state: Any) -> torch.device:
    """gloo moves CPU tensors; NCCL (and the other GPU backends) only device tensors."""
    backend = str(torch.distributed.get_backend())
    return torch.device("cpu") if "gloo" in backend or "mpi" in backend else state.device


def _all_gather_rows(
    part: np.ndarray,
    shards: list[np.ndarray],
    out: np.ndarray,
    first: np.ndarray,
    device: torch.device,
) -> None:
    """Place every process's rows into ``out``: chunked all-gather of equal-size padded blocks.

    Every process knows every shard, so only values travel; the floats are copied, never summed.
    Each process places its own rows through the same path as everybody else's.
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
