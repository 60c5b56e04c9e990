"""Data-parallel collection under ``accelerate launch`` equals the single-process result.

The 2-process test runs this very file as the worker script through accelerate's own launcher
(``--multi_gpu`` is accelerate's switch for "spawn N processes with torchrun"; with no visible GPU
langsteer makes them talk over gloo), then compares what every process got with
``collect_responses`` / ``encode`` run here: bitwise, and through the experts and retrieval; the
per-language token statistics (float64 sums over processes) equal the single-process ones.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from langsteer.encoding.batching import TokenizedSentences, tokenize_unique
from langsteer.encoding.collect import PassSpec, run_pass
from langsteer.encoding.distributed import batch_plan, distributed_state, shard_rows
from langsteer.encoding.embeddings import encode
from langsteer.encoding.responses import collect_responses
from langsteer.methods.experts import ExpertFinder
from langsteer.metrics import retrieval_top1
from langsteer.models import resolve_units, tiny_model, tiny_tokenizer

ENGLISH = [
    "the cat sleeps",
    "a long road to the old town by the sea",
    "good morning",
    "I like green tea",
    "where is the station?",
    "it rains",
    "we read books every night",
]
FRENCH = [
    "le chat dort",
    "une longue route vers la vieille ville au bord de la mer",
    "bonjour",
    "j'aime le thé vert",
    "où est la gare ?",
    "il pleut",
    "nous lisons des livres le soir",
]
GREEK = [
    "η γάτα κοιμάται",
    "ένας μακρύς δρόμος προς την παλιά πόλη",
    "καλημέρα",
    "μου αρέσει το πράσινο τσάι",
    "πού είναι ο σταθμός;",
    "βρέχει",
    "διαβάζουμε βιβλία",
]
# duplicates (forwarded once, copied back) at the end: 24 sentences, 21 unique
SENTENCES = [*ENGLISH, *FRENCH, *GREEK, ENGLISH[2], GREEK[5], FRENCH[0]]
LANG_OF = np.array([0] * 7 + [1] * 7 + [2] * 7 + [0, 2, 1])
# several batches, some capped by max_tokens, so the shards are uneven whole batches
OPTS = {"batch_size": 4, "max_tokens": 96, "progress": False}


def _worker(out_dir: str) -> None:
    """One process of the launched run: every result this process ends up with, saved."""
    torch.set_num_threads(1)
    state = distributed_state()
    assert state is not None and state.num_processes == 2, "not launched with 2 processes"
    rank = state.process_index
    loaded = tiny_model("llama")
    units = resolve_units(loaded.model, "mlp")
    cache = Path(out_dir) / "cache"
    arrays, metas = {}, {}

    def keep(name: str, result) -> None:
        arrays[name], metas[name] = np.asarray(result.values), result.meta

    for pooling in ("max", "mean", "last"):
        keep(
            f"responses_{pooling}",
            collect_responses(loaded, SENTENCES, units, pooling=pooling, cache_dir=cache, **OPTS),
        )
    for pooling in ("mean", "last"):
        keep(
            f"embeddings_{pooling}",
            encode(loaded, SENTENCES, pooling=pooling, cache_dir=cache, **OPTS),
        )
    stats = run_pass(loaded, SENTENCES, _stats_spec(units), batch_size=4, progress=False)
    arrays.update({f"stats_{k}": v for k, v in stats.stats.items()})
    # cached now: every process must read the entry instead of computing
    again = collect_responses(loaded, SENTENCES, units, cache_dir=cache, **OPTS)
    metas["again"] = again.meta
    # one batch only: process 1 forwards nothing and still gets every row
    keep(
        "responses_one_batch",
        collect_responses(loaded, SENTENCES, units, batch_size=64, max_tokens=None, progress=False),
    )
    # a failure on one process is raised on every process instead of hanging the others
    broken = tiny_model("llama")
    if rank == 1:
        with torch.no_grad():
            broken.model.model.layers[0].mlp.up_proj.weight[:] = float("nan")
    errors = {}
    try:
        collect_responses(broken, SENTENCES, units, **OPTS)
    except Exception as exc:
        errors["nan"] = type(exc).__name__
    # different sentences on different processes are refused, not silently merged
    try:
        collect_responses(loaded, SENTENCES[: 20 + rank], units, **OPTS)
    except ValueError as exc:
        errors["mismatch"] = str(exc)[:40]
    np.savez(Path(out_dir) / f"rank{rank}.npz", **arrays)
    info = {"metas": metas, "errors": errors}
    (Path(out_dir) / f"rank{rank}.json").write_text(json.dumps(info, default=str))


def _stats_spec(units) -> PassSpec:
    return PassSpec(units=units, stats_units=units, groups=tuple(int(g) for g in LANG_OF))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def launched(tmp_path_factory) -> Path:
    """Run the worker in 2 CPU processes through accelerate's launcher (~11 s on 2 cores)."""
    pytest.importorskip("accelerate")
    out = tmp_path_factory.mktemp("distributed")
    env = {
        **os.environ,
        "CUDA_VISIBLE_DEVICES": "",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
    for var in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(var, None)
    cmd = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--multi_gpu",
        "--num_processes",
        "2",
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        "--main_process_port",
        str(_free_port()),
        __file__,
        str(out),
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    return out


def _load(out: Path, rank: int) -> tuple[dict, dict]:
    arrays = dict(np.load(out / f"rank{rank}.npz"))
    return arrays, json.loads((out / f"rank{rank}.json").read_text())


@pytest.fixture(scope="module")
def reference() -> dict:
    loaded = tiny_model("llama")
    units = resolve_units(loaded.model, "mlp")
    ref = {}
    for pooling in ("max", "mean", "last"):
        ref[f"responses_{pooling}"] = collect_responses(
            loaded, SENTENCES, units, pooling=pooling, **OPTS
        ).values
    for pooling in ("mean", "last"):
        ref[f"embeddings_{pooling}"] = encode(loaded, SENTENCES, pooling=pooling, **OPTS).values
    stats = run_pass(loaded, SENTENCES, _stats_spec(units), batch_size=4, progress=False)
    ref.update({f"stats_{k}": v for k, v in stats.stats.items()})
    ref["responses_one_batch"] = collect_responses(
        loaded, SENTENCES, units, batch_size=64, max_tokens=None, progress=False
    ).values
    return ref


@pytest.mark.parametrize("rank", [0, 1])
def test_every_process_gets_the_single_process_result(launched, reference, rank):
    arrays, _ = _load(launched, rank)
    assert set(arrays) == set(reference)
    for name, ref in reference.items():
        assert arrays[name].shape == ref.shape, name
        if name.startswith("stats_"):  # float64 sums over processes: equal up to their order
            np.testing.assert_allclose(arrays[name], ref, rtol=1e-12, atol=1e-9, err_msg=name)
            continue
        if "mean" in name:
            np.testing.assert_allclose(arrays[name], ref, rtol=0, atol=1e-6, err_msg=name)
        # same batches, same kernels: in fact every array is bitwise equal, means included
        np.testing.assert_array_equal(arrays[name], ref, err_msg=name)


def test_same_experts_and_retrieval(launched, reference):
    arrays, _ = _load(launched, 0)
    for pooling in ("max", "mean"):
        name = f"responses_{pooling}"
        for target in range(3):
            got, want = (
                ExpertFinder(k=25, bottom_k=5).fit(x, np.equal(LANG_OF, target))
                for x in (arrays[name], reference[name])
            )
            np.testing.assert_array_equal(got.top_, want.top_)
            np.testing.assert_array_equal(got.bottom_, want.bottom_)
    for name in ("embeddings_mean", "embeddings_last"):
        for layer in (1, -1):
            for a, b in ((0, 1), (0, 2), (1, 2)):
                qa, ca = (arrays[name][:21][7 * i : 7 * i + 7, layer] for i in (a, b))
                qr, cr = (reference[name][:21][7 * i : 7 * i + 7, layer] for i in (a, b))
                got = retrieval_top1(qa, ca, direction="both")
                want = retrieval_top1(qr, cr, direction="both")
                assert got.accuracy == want.accuracy
                np.testing.assert_array_equal(got.correct, want.correct)


def test_cache_written_once_under_the_single_process_key(launched, reference):
    _, info0 = _load(launched, 0)
    _, info1 = _load(launched, 1)
    loaded = tiny_model("llama")
    units = resolve_units(loaded.model, "mlp")
    cache = launched / "cache"
    for pooling in ("max", "mean", "last"):
        meta = info0["metas"][f"responses_{pooling}"]
        assert meta["cache"]["hit"] is False
        assert info1["metas"][f"responses_{pooling}"]["cache"]["key"] == meta["cache"]["key"]
        assert meta["distributed"]["world_size"] == 2
        assert sum(meta["distributed"]["rows_per_process"]) == 21
        single = collect_responses(
            loaded, SENTENCES, units, pooling=pooling, cache_dir=cache, **OPTS
        )
        assert single.meta["cache"] == {"hit": True, "key": meta["cache"]["key"]}
        np.testing.assert_array_equal(single.values, reference[f"responses_{pooling}"])
    for pooling in ("mean", "last"):
        meta = info0["metas"][f"embeddings_{pooling}"]
        single = encode(loaded, SENTENCES, pooling=pooling, cache_dir=cache, **OPTS)
        assert single.meta["cache"] == {"hit": True, "key": meta["cache"]["key"]}
    assert info0["metas"]["again"]["cache"]["hit"] is True
    assert info1["metas"]["again"]["cache"]["hit"] is True
    assert info0["metas"]["responses_one_batch"]["distributed"]["rows_per_process"] == [21, 0]
    entries = list((cache / "passes").iterdir())
    assert len(entries) == 5 and all((e / "meta.json").exists() for e in entries)  # no temp


def test_failures_reach_every_process(launched):
    _, info0 = _load(launched, 0)
    _, info1 = _load(launched, 1)
    assert info1["errors"]["nan"] == "FloatingPointError"
    assert info0["errors"]["nan"] == "RuntimeError"  # "process 1 failed: FloatingPointError..."
    assert info0["errors"]["mismatch"].startswith("the processes were given different")
    assert info1["errors"]["mismatch"].startswith("the processes were given different")


def _fake_tok(lengths: list[int]) -> TokenizedSentences:
    n = len(lengths)
    ids = [[1] + [5] * (k - 1) for k in lengths]
    return TokenizedSentences([f"s{i}" for i in range(n)], np.arange(n), ids, 0, 512)


@pytest.mark.parametrize("world", [1, 2, 3, 8])
@pytest.mark.parametrize(("batch_size", "max_tokens"), [(4, None), (16, 64), (3, 20)])
def test_shards_are_whole_batches_rebuilt_by_the_subset(world, batch_size, max_tokens):
    """What makes the result bitwise: the subset of one process batches exactly as assigned."""
    rng = np.random.default_rng(world * 100 + batch_size)
    lengths = rng.integers(2, 30, size=57).tolist()
    lengths[10:20] = [7] * 10  # ties across batch boundaries
    tokenizer, tok = tiny_tokenizer(), _fake_tok(lengths)
    plan = batch_plan(tokenizer, tok, batch_size=batch_size, max_tokens=max_tokens)
    shards = [shard_rows(plan, lengths, r, world) for r in range(world)]
    assert shards[0].tolist() == shard_rows(plan, lengths, 0, world).tolist()  # deterministic
    assert sorted(np.concatenate(shards).tolist()) == list(range(len(lengths)))
    batches = {tuple(sorted(b.tolist())) for b in plan}
    for rows in shards:
        if not len(rows):
            continue
        sub = _fake_tok([lengths[r] for r in rows])
        rebuilt = batch_plan(tokenizer, sub, batch_size=batch_size, max_tokens=max_tokens)
        for b in rebuilt:  # each batch of the subset is one batch of the full plan, same order
            assert tuple(sorted(rows[b].tolist())) in batches
            assert rows[b].tolist() == sorted(rows[b].tolist(), key=lambda r: -lengths[r])
    if world > 1 and len(plan) >= 4 * world:
        loads = [
            sum(
                len(b) * max(lengths[r] for r in b)
                for b in plan
                if set(b.tolist()) <= set(s.tolist())
            )
            for s in shards
        ]
        biggest = max(len(b) * max(lengths[r] for r in b) for b in plan)
        assert max(loads) - min(loads) <= biggest


def test_shard_rows_edge_cases():
    plan = [np.array([0, 1]), np.array([2])]
    assert shard_rows(plan, [3, 3, 2], 2, 3).size == 0  # more processes than batches
    with pytest.raises(ValueError, match="rank 3 out of range"):
        shard_rows(plan, [3, 3, 2], 3, 3)


def test_one_process_is_the_plain_function(monkeypatch, tiny_llama):
    for var in ("WORLD_SIZE", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE"):
        monkeypatch.delenv(var, raising=False)
    assert distributed_state() is None
    units = resolve_units(tiny_llama.model, "mlp")
    got = collect_responses(tiny_llama, SENTENCES, units, **OPTS)
    assert "distributed" not in got.meta
    assert len(tokenize_unique(tiny_llama.tokenizer, SENTENCES, 256).unique) == 21


if __name__ == "__main__":
    _worker(sys.argv[1])
