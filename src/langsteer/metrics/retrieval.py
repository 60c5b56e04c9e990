"""Cross-lingual bitext retrieval: top-1 accuracy with a named variant and a strict tie policy.

"Top-1 accuracy" means different things in MTEB (query -> candidate only), sentence-transformers
(both directions, first maximum wins), Mexa (strict maximum of row AND column) and LASER xSIM
(ratio-margin score). Every result here records its ``variant`` (direction, scoring, margin_k,
ties), and ties are always strict: a query is right only if its gold candidate scores STRICTLY
higher than every other candidate, so degenerate (collapsed, duplicated) embeddings never earn
accuracy from tie-breaking order.

Ties need care: a matrix product does not sum every entry in the same order (edge tiles), so
two IDENTICAL candidates can get float32 cosines one ulp apart and a "strict" rule would then
reward or punish them at random. So cosines are computed in float64, where the rounding of a
d-dimensional dot product of unit vectors is at most d * 2^-53 (~1e-12), and a candidate counts
as tied when it is within ``tie_tol`` = 4 * d * 2^-53 of the gold (recorded in the variant; for
the margin score it is scaled by the score over the smallest denominator). Anything closer than
that is not resolvable from float32 embeddings anyway.

Memory is O(chunk * n), never n x n: chunks of queries against all candidates. One pass yields
both directions: the row maximum gives the forward answer, a running column maximum the backward
one (the gold pair on the diagonal is masked). A row with zero norm has no cosine: it raises a
ValueError (in practice a centred row equal to its mean: identical sentences).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch

Direction = Literal["forward", "both", "strict-both"]
Scoring = Literal["cosine", "margin"]
DIRECTIONS = ("forward", "both", "strict-both")
SCORINGS = ("cosine", "margin")
TIES = "strict"
_CHUNK_BYTES = 256 * 2**20  # similarity chunk plus its temporaries
_DTYPE = torch.float64


@dataclass(frozen=True, eq=False)
class RetrievalResult:
    """Top-1 accuracy and which items were right (for bootstrap CIs), with its variant.

    ``correct``: bool (n,) per item (query i and its gold candidate i) for "forward" and
    "strict-both"; bool (2, n) for "both" (row 0 forward, row 1 backward). Either way
    ``correct.mean() == accuracy`` and ``item_scores()`` gives an (n,) float per item whose mean
    is the accuracy, which is what a bootstrap over items resamples.
    """

    accuracy: float
    correct: np.ndarray
    n: int
    variant: dict[str, Any] = field(default_factory=dict)

    def item_scores(self) -> np.ndarray:
        c = self.correct.astype(np.float64)
        return c.mean(axis=0) if c.ndim == 2 else c

    def to_dict(self, include_correct: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "accuracy": self.accuracy,
            "n": self.n,
            "variant": dict(self.variant),
        }
        if include_correct:
            out["correct"] = self.correct.tolist()
        return out


def retrieval_top1(
    queries: Any,
    candidates: Any,
    *,
    direction: Direction = "forward",
    scoring: Scoring = "cosine",
    margin_k: int = 4,
    chunk_size: int | None = None,
    device: Any = None,
) -> RetrievalResult:
    """Top-1 accuracy of retrieving candidate i for query i (n, d) x (n, d).

    ``direction``: "forward" (query -> candidate, MTEB), "both" (mean of forward and backward
    accuracy, sentence-transformers but strict), "strict-both" (right only if right both ways,
    Mexa). ``scoring``: "cosine" or "margin" (LASER/xSIM ratio margin: cos(x, y) divided by the
    mean of x's and y's average cosine to their ``margin_k`` nearest neighbours on the other
    side). ``chunk_size``: queries per chunk (default from a 256 MB budget). ``device``: where
    the matrix products run (default CPU, or the device of a tensor input).
    """
    _check_variant(direction, scoring)
    dev = _resolve_device(queries, device)
    q = _normalised(queries, "queries", dev)
    c = _normalised(candidates, "candidates", dev)
    _check_pair(q, c, "queries", "candidates")
    fwd, bwd = _scan(q, c, scoring, margin_k, chunk_size, backward=direction != "forward")
    return _result(fwd, bwd, direction, scoring, margin_k, q.shape[1])


def pairwise_top1(
    embeddings: Mapping[str, Any],
    pairs: Iterable[tuple[str, str]] | None = None,
    *,
    return_correct: bool = False,
    direction: Direction = "forward",
    scoring: Scoring = "cosine",
    margin_k: int = 4,
    chunk_size: int | None = None,
    device: Any = None,
) -> dict[tuple[str, str], Any]:
    """Top-1 accuracy for ordered language pairs (query, candidate) of aligned embeddings.

    ``embeddings``: language -> (n, d), row i of every language is the same sentence. ``pairs``:
    default all ordered pairs of distinct languages. Returns {(query, candidate): accuracy}, or
    {...: RetrievalResult} with ``return_correct``. Each language is normalised once, and one
    pass serves both (a, b) and (b, a): forward for one is backward for the other (also for the
    margin score, which is symmetric in its two sides).
    """
    _check_variant(direction, scoring)
    langs = list(embeddings)
    pairs = [(a, b) for a in langs for b in langs if a != b] if pairs is None else list(pairs)
    wanted = set(pairs)
    missing = sorted({x for p in pairs for x in p} - set(langs))
    if missing:
        raise ValueError(f"pairs name languages without embeddings: {missing}; have {langs}")
    dev = _resolve_device(next(iter(embeddings.values())), device) if langs else torch.device("cpu")
    needed = sorted({x for p in pairs for x in p}, key=langs.index)
    normed = {lang: _normalised(embeddings[lang], f"embeddings[{lang!r}]", dev) for lang in needed}
    out: dict[tuple[str, str], Any] = {}
    done: dict[tuple[str, str], tuple[torch.Tensor, torch.Tensor]] = {}
    if scoring == "cosine" and chunk_size is None:
        done = _cosine_blocks(normed, pairs)
    for a, b in pairs:
        if (a, b) not in done:
            _check_pair(normed[a], normed[b], f"embeddings[{a!r}]", f"embeddings[{b!r}]")
            both_needed = direction != "forward" or (b, a) in wanted
            fwd, bwd = _scan(normed[a], normed[b], scoring, margin_k, chunk_size, both_needed)
            done[(a, b)] = (fwd, bwd)
            if bwd is not None:
                done[(b, a)] = (bwd, fwd)
        res = _result(*done[(a, b)], direction, scoring, margin_k, normed[a].shape[1])
        out[(a, b)] = res if return_correct else res.accuracy
    return out


def _scan(
    q: torch.Tensor,
    c: torch.Tensor,
    scoring: str,
    margin_k: int,
    chunk_size: int | None,
    backward: bool,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Strict top-1 correctness per item, forward and (if asked) backward, chunked over queries."""
    n = q.shape[0]
    if chunk_size is None:
        chunk_size = max(1, _CHUNK_BYTES // (3 * 8 * n))
    if int(chunk_size) < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    chunk_size = int(chunk_size)
    knn_q = knn_c = None
    if scoring == "margin":
        knn_q, knn_c = _knn_means(q, c, margin_k, chunk_size)
    tol = _tie_tol(q.shape[1])
    rel = 0.0
    if knn_q is not None:  # margin = cos / den: its rounding grows with the score and 1 / den
        tol = rel = tol * 2 / float(knn_q.min() + knn_c.min())
    fwd = torch.empty(n, dtype=torch.bool, device=q.device)
    gold_all = torch.empty(n, dtype=q.dtype, device=q.device)
    col_max = torch.full((n,), -torch.inf, dtype=q.dtype, device=q.device)
    for q0 in range(0, n, chunk_size):
        q1 = min(n, q0 + chunk_size)
        s = q[q0:q1] @ c.T
        if knn_q is not None:
            s.div_((knn_q[q0:q1, None] + knn_c[None, :]) * 0.5)
        rows = torch.arange(q1 - q0, device=q.device)
        gold = s[rows, rows + q0].clone()
        s[rows, rows + q0] = -torch.inf  # compare the gold against every OTHER candidate
        # strict: a tie (within rounding) is an error
        fwd[q0:q1] = gold > s.max(dim=1).values + (tol + rel * gold.abs())
        if backward:
            gold_all[q0:q1] = gold
            torch.maximum(col_max, s.max(dim=0).values, out=col_max)
    bwd = gold_all > col_max + (tol + rel * gold_all.abs()) if backward else None
    return fwd, bwd


def _cosine_blocks(
    normed: Mapping[str, torch.Tensor], pairs: list[tuple[str, str]]
) -> dict[tuple[str, str], tuple[torch.Tensor, torch.Tensor]]:
    """Forward and backward correctness of every pair from ONE product per query language.

    The fast path for many small languages (a study scores every pair at every layer under
    every embedding method): the same strict comparison as :func:`_scan`, on each query
    language's similarities to all its candidates at once. Pairs whose product would exceed
    the chunk budget are left to :func:`_scan` (absent from the returned dict).
    """
    done: dict[tuple[str, str], tuple[torch.Tensor, torch.Tensor]] = {}
    by_query: dict[str, list[str]] = {}
    for a, b in pairs:
        by_query.setdefault(a, []).append(b)
    for a, cands in by_query.items():
        todo = [b for b in dict.fromkeys(cands) if (a, b) not in done]
        q = normed[a]
        n = q.shape[0]
        if not todo or any(normed[b].shape != q.shape for b in todo):
            continue  # mismatched shapes: _scan raises the clear error
        if 8 * n * n * len(todo) > _CHUNK_BYTES:
            continue
        sims = q @ torch.cat([normed[b] for b in todo]).T
        rows = torch.arange(n, device=q.device)
        tol = _tie_tol(q.shape[1])
        for k, b in enumerate(todo):
            s = sims[:, k * n : (k + 1) * n]
            gold = s[rows, rows].clone()
            s[rows, rows] = -torch.inf  # compare the gold against every OTHER candidate
            fwd = gold > s.max(dim=1).values + tol
            bwd = gold > s.max(dim=0).values + tol
            done[(a, b)], done[(b, a)] = (fwd, bwd), (bwd, fwd)
    return done


def _tie_tol(dim: int) -> float:
    """Scores closer than this to the gold tie with it: 4x the float64 rounding bound."""
    return 4.0 * dim * 2.0**-53


def _knn_means(
    q: torch.Tensor, c: torch.Tensor, k: int, chunk_size: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean cosine of each query to its k nearest candidates, and of each candidate to its k
    nearest queries (LASER's margin denominators), in one chunked pass."""
    n = q.shape[0]
    if not 1 <= k <= n:
        raise ValueError(f"margin_k must be between 1 and the number of items ({n}), got {k}")
    knn_q = torch.empty(n, dtype=q.dtype, device=q.device)
    top_c = torch.full((k, n), -torch.inf, dtype=q.dtype, device=q.device)
    for q0 in range(0, n, chunk_size):
        s = q[q0 : q0 + chunk_size] @ c.T
        knn_q[q0 : q0 + chunk_size] = s.topk(k, dim=1).values.mean(dim=1)
        kk = min(k, s.shape[0])
        top_c = torch.cat([top_c, s.topk(kk, dim=0).values]).topk(k, dim=0).values
    knn_c = top_c.mean(dim=0)
    low = float(knn_q.min() + knn_c.min())
    if low <= 0:
        raise ValueError(
            "margin scoring needs positive nearest-neighbour cosines (its denominator is their "
            f"mean; here it can be {low / 2:.3g}); use scoring='cosine' for such embeddings"
        )
    return knn_q, knn_c


def _result(
    fwd: torch.Tensor,
    bwd: torch.Tensor | None,
    direction: str,
    scoring: str,
    margin_k: int,
    dim: int,
) -> RetrievalResult:
    f = fwd.cpu().numpy()
    if direction == "forward":
        correct, acc = f, float(f.mean())
    else:
        b = bwd.cpu().numpy()
        if direction == "both":
            correct, acc = np.stack([f, b]), (float(f.mean()) + float(b.mean())) / 2
        else:
            correct = f & b
            acc = float(correct.mean())
    variant: dict[str, Any] = {"direction": direction, "scoring": scoring}
    if scoring == "margin":
        variant["margin_k"] = margin_k
    variant["ties"] = TIES
    variant["tie_tol"] = _tie_tol(dim)
    return RetrievalResult(accuracy=acc, correct=correct, n=len(f), variant=variant)


def _check_variant(direction: str, scoring: str) -> None:
    if direction not in DIRECTIONS:
        raise ValueError(f"unknown direction {direction!r}; choose one of {DIRECTIONS}")
    if scoring not in SCORINGS:
        raise ValueError(f"unknown scoring {scoring!r}; choose one of {SCORINGS}")


def _resolve_device(x: Any, device: Any) -> torch.device:
    if device is not None:
        return torch.device(device)
    if isinstance(x, torch.Tensor):
        return x.device
    return torch.device("cpu")


def _normalised(x: Any, name: str, device: torch.device) -> torch.Tensor:
    """Rows scaled to unit norm, float64 on ``device``; clear errors for what has no cosine."""
    if isinstance(x, torch.Tensor):
        t = x.detach()
    else:
        arr = np.asarray(x)
        arr = arr if arr.dtype.kind == "f" else arr.astype(np.float64)
        t = torch.from_numpy(arr if arr.flags.writeable else arr.copy())
    if t.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n_sentences, dim), got shape {tuple(t.shape)}")
    if t.shape[0] == 0 or t.shape[1] == 0:
        raise ValueError(f"{name} is empty (shape {tuple(t.shape)})")
    t = t.to(device=device, dtype=_DTYPE)
    bad = (~torch.isfinite(t)).any(dim=1).nonzero().flatten().tolist()
    if bad:
        raise ValueError(
            f"{name} has NaN or inf in {len(bad)} rows (first: {bad[:5]}); from a float16/"
            "bfloat16 model this is usually an overflow (run in float32: --dtype float32, study "
            'file model.dtype = "float32"); from a float32 one, check its weights for NaN/inf'
        )
    norm = torch.linalg.vector_norm(t, dim=1)
    zero = (norm == 0).nonzero().flatten().tolist()
    if zero:
        share = "all of its" if len(zero) == t.shape[0] else "some of its"
        raise ValueError(
            f"{name} has {len(zero)} rows with zero norm (first: {zero[:5]}); cosine is "
            f"undefined for them. A model's sentence embedding is practically never exactly "
            f"zero, so {share} rows equal a mean that was subtracted (centring): those "
            "sentences share one embedding, i.e. they are identical (repeats kept by "
            'corpus.duplicates = "keep": use "drop"), identical once cut to run.max_length '
            "tokens (raise it; CLI --max-length), or the language has a single sentence. Give "
            "the language distinct sentences (or, for arrays you built, drop the all-zero rows "
            "from both sides)"
        )
    return t / norm[:, None]


def _check_pair(q: torch.Tensor, c: torch.Tensor, qname: str, cname: str) -> None:
    if q.shape[0] != c.shape[0]:
        raise ValueError(
            f"{qname} has {q.shape[0]} rows but {cname} has {c.shape[0]}; row i of each must "
            "be a translation pair (gold of query i = candidate i), so the counts must match"
        )
    if q.shape[1] != c.shape[1]:
        raise ValueError(
            f"{qname} has dimension {q.shape[1]} but {cname} has {c.shape[1]}; both must come "
            "from the same embedding space"
        )
