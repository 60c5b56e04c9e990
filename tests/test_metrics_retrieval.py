"""Bitext retrieval on planted embeddings whose answers are known by construction."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from langsteer.metrics import RetrievalResult, pairwise_top1, retrieval_top1


def planted(n: int = 40, d: int = 64, noise: float = 0.1, seed: int = 0):
    """Queries and candidates = the same random directions + small noise: all retrievable."""
    rng = np.random.default_rng(seed)
    base = rng.standard_normal((n, d))
    q = base + noise * rng.standard_normal((n, d))
    c = base + noise * rng.standard_normal((n, d))
    return q.astype(np.float32), c.astype(np.float32)


def reference(q, c, direction="forward", scoring="cosine", k=4):
    """Full-matrix reference, written out from the definitions (random data: no near-ties)."""
    q = q / np.linalg.norm(q, axis=1, keepdims=True)
    c = c / np.linalg.norm(c, axis=1, keepdims=True)
    s = q.astype(np.float64) @ c.T.astype(np.float64)
    if scoring == "margin":
        kq = -np.sort(-s, axis=1)[:, :k].mean(axis=1)  # queries' k nearest candidates
        kc = -np.sort(-s, axis=0)[:k].mean(axis=0)  # candidates' k nearest queries
        s = s / ((kq[:, None] + kc[None, :]) / 2)
    gold = np.diag(s).copy()
    off = s.copy()
    np.fill_diagonal(off, -np.inf)
    fwd, bwd = gold > off.max(axis=1), gold > off.max(axis=0)
    return {"forward": fwd, "both": np.stack([fwd, bwd]), "strict-both": fwd & bwd}[direction]


def test_perfect_retrieval():
    q, c = planted()
    for direction in ("forward", "both", "strict-both"):
        res = retrieval_top1(q, c, direction=direction)
        assert res.accuracy == 1.0 and res.correct.all() and res.n == 40


def test_planted_swap_makes_both_wrong():
    q, c = planted()
    c[[3, 11]] = c[[11, 3]]
    res = retrieval_top1(q, c)
    assert res.accuracy == pytest.approx(38 / 40)
    assert np.flatnonzero(~res.correct).tolist() == [3, 11]


@pytest.mark.parametrize(("src", "dst"), [(0, 49), (5, 6), (49, 0), (17, 33)])
@pytest.mark.parametrize("chunk", [None, 1, 7])
def test_duplicate_candidate_is_a_tie(src, dst, chunk):
    """Candidate dst := candidate src. Query src ties (wrong), query dst lost its gold (wrong).

    Duplicates land in different GEMM tiles, where float32 cosines can differ by one ulp (seen
    for (0, 49) with chunk 1 on CPU); the result must not depend on that.
    """
    q, c = planted(n=50, d=16)
    assert retrieval_top1(q, c).accuracy == 1.0
    c[dst] = c[src]
    res = retrieval_top1(q, c, chunk_size=chunk)
    assert sorted(np.flatnonzero(~res.correct).tolist()) == sorted([src, dst])


def test_all_identical_embeddings_score_zero():
    """A collapsed space (every vector equal) must earn nothing from tie-breaking order."""
    x = np.tile(np.random.default_rng(1).standard_normal(33), (50, 1))
    for direction in ("forward", "both", "strict-both"):
        for scoring in ("cosine", "margin"):
            res = retrieval_top1(x, x * 3.0, direction=direction, scoring=scoring, chunk_size=16)
            assert res.accuracy == 0.0, (direction, scoring)


def test_tie_only_backward():
    """Candidate 0 sits exactly between queries 0 and 1: forward right, backward tied.

    q0 = e1, q1 = e2, c0 = (e1 + e2)/sqrt(2), c1 = e2, q2 = c2 = e3.
    Forward: q0 -> c0 (0.707 vs 0, 0), q1 -> c1 (1 vs 0.707), q2 -> c2 (1). All right.
    Backward: c0's best query is q0 AND q1 (0.707 each): a tie, wrong. c1 -> q1, c2 -> q2 right.
    """
    e = np.eye(3)
    q = np.stack([e[0], e[1], e[2]])
    c = np.stack([(e[0] + e[1]) / np.sqrt(2), e[1], e[2]])
    fwd = retrieval_top1(q, c)
    assert fwd.accuracy == 1.0
    sb = retrieval_top1(q, c, direction="strict-both")
    assert sb.correct.tolist() == [False, True, True] and sb.accuracy == pytest.approx(2 / 3)
    both = retrieval_top1(q, c, direction="both")
    assert both.correct.tolist() == [[True, True, True], [False, True, True]]
    assert both.accuracy == pytest.approx((1 + 2 / 3) / 2) == both.correct.mean()
    assert both.item_scores().tolist() == [0.5, 1.0, 1.0]


def hub(n: int):
    """Hub construction (h = hub direction, e_i / u_i private directions, i = 1..n-1):

    q0 = c0 = h;  q_i = 0.8 e_i + 0.6 h;  c_i = 0.6 e_i + 0.8 u_i.
    cos(q_i, c_i) = 0.48 < cos(q_i, c0) = 0.6: cosine sends every q_i to the hub c0.
    Margin, k = 1: knn(q_i) = 0.6, knn(c_i) = 0.48, knn(c0) = knn(q0) = 1;
      margin(q_i, c_i) = 0.48 / ((0.6 + 0.48) / 2) = 0.889 > margin(q_i, c0) = 0.6 / 0.8 = 0.75.
    Margin, k = 4 (n >= 5): knn(q_i) = (0.6 + 0.48) / 4, knn(c_i) = 0.48 / 4,
      knn(c0) = (1 + 3 * 0.6) / 4, knn(q0) = 1 / 4;
      margin(q_i, c_i) = 8 * 0.48 / (0.6 + 2 * 0.48) = 2.46 > margin(q_i, c0) = 8 * 0.6 / 3.88
      = 1.24, and margin(q0, c0) = 8 / 3.8 = 2.1 > 0. Margin retrieves everything.
    """
    dim = 2 * n - 1
    eye = np.eye(dim)
    h = eye[0]
    q = [h] + [0.8 * eye[i] + 0.6 * h for i in range(1, n)]
    c = [h] + [0.6 * eye[i] + 0.8 * eye[n - 1 + i] for i in range(1, n)]
    return np.array(q), np.array(c)


@pytest.mark.parametrize("k", [1, 4])
def test_margin_beats_cosine_on_hub(k):
    q, c = hub(6)
    cos = retrieval_top1(q, c)
    assert cos.correct.tolist() == [True] + [False] * 5
    mar = retrieval_top1(q, c, scoring="margin", margin_k=k, chunk_size=4)
    assert mar.accuracy == 1.0
    assert mar.variant == {
        "direction": "forward",
        "scoring": "margin",
        "margin_k": k,
        "ties": "strict",
        "tie_tol": pytest.approx(4 * 11 * 2.0**-53),
    }


@pytest.mark.parametrize("direction", ["forward", "both", "strict-both"])
@pytest.mark.parametrize("scoring", ["cosine", "margin"])
def test_matches_reference_and_chunk_invariant(direction, scoring):
    q, c = planted(n=60, d=16, noise=1.0, seed=3)  # noisy: some right, some wrong
    expected = reference(q, c, direction, scoring)
    assert 0.15 < expected.mean() < 0.9
    for chunk in (1, 7, 60, 1000):
        res = retrieval_top1(q, c, direction=direction, scoring=scoring, chunk_size=chunk)
        assert np.array_equal(res.correct, expected), chunk
        assert res.accuracy == pytest.approx(expected.mean())


def test_torch_and_lowp_inputs():
    q, c = planted(n=30, d=32)
    ref = retrieval_top1(q, c, direction="both")
    res = retrieval_top1(
        torch.from_numpy(q).half(), torch.from_numpy(c).bfloat16(), direction="both"
    )
    assert res.accuracy == ref.accuracy == 1.0


def test_result_record():
    q, c = planted(n=10)
    res = retrieval_top1(q, c, direction="strict-both")
    assert isinstance(res, RetrievalResult) and res.correct.dtype == bool
    d = res.to_dict()
    assert d["accuracy"] == 1.0 and d["n"] == 10 and "correct" not in d
    assert d["variant"]["direction"] == "strict-both" and d["variant"]["ties"] == "strict"
    assert "margin_k" not in d["variant"]
    assert res.to_dict(include_correct=True)["correct"] == [True] * 10
    with pytest.raises(AttributeError):
        res.accuracy = 0.5  # frozen


def test_pairwise_all_ordered_pairs():
    rng = np.random.default_rng(4)
    base = rng.standard_normal((25, 20))
    emb = {
        "en": base,
        "de": base + 0.05 * rng.standard_normal(base.shape),
        "xx": rng.standard_normal(base.shape),  # unrelated: (near) chance
    }
    out = pairwise_top1(emb)
    assert set(out) == {(a, b) for a in emb for b in emb if a != b}
    assert out[("en", "de")] == out[("de", "en")] == 1.0
    assert out[("en", "xx")] < 0.5
    for (a, b), acc in out.items():
        assert acc == retrieval_top1(emb[a], emb[b]).accuracy
    detailed = pairwise_top1(emb, pairs=[("xx", "en")], return_correct=True, direction="both")
    ref = retrieval_top1(emb["xx"], emb["en"], direction="both")
    assert list(detailed) == [("xx", "en")]
    assert np.array_equal(detailed[("xx", "en")].correct, ref.correct)
    sb = pairwise_top1(emb, direction="strict-both", scoring="margin")
    assert sb[("en", "xx")] == sb[("xx", "en")]
    margin = pairwise_top1(emb, scoring="margin", return_correct=True)  # (b, a) from (a, b)'s pass
    for (a, b), res in margin.items():
        direct = retrieval_top1(emb[a], emb[b], scoring="margin")
        assert np.array_equal(res.correct, direct.correct), (a, b)


@pytest.mark.parametrize(
    ("q", "c", "words"),
    [
        (np.ones((5, 4)), np.ones((6, 4)), ["5 rows", "6", "translation pair"]),
        (np.ones((5, 4)), np.ones((5, 3)), ["dimension 4", "3"]),
        (np.ones(5), np.ones((5, 3)), ["2-D"]),
        (np.zeros((0, 3)), np.zeros((0, 3)), ["empty"]),
    ],
)
def test_bad_shapes(q, c, words):
    with pytest.raises(ValueError) as e:
        retrieval_top1(q, c)
    for w in words:
        assert w in str(e.value)


def test_zero_norm_and_nan_rows():
    q, c = planted(n=8)
    c[2] = 0.0
    with pytest.raises(ValueError, match=r"candidates has 1 rows with zero norm \(first: \[2\]\)"):
        retrieval_top1(q, c)
    q[5, 1] = np.nan
    with pytest.raises(ValueError, match="queries has NaN or inf in 1 rows"):
        retrieval_top1(q, planted(n=8)[1])


def test_bad_variant():
    q, c = planted(n=8)
    with pytest.raises(ValueError, match="direction"):
        retrieval_top1(q, c, direction="backward")
    with pytest.raises(ValueError, match="scoring"):
        retrieval_top1(q, c, scoring="csls")
    with pytest.raises(ValueError, match="margin_k"):
        retrieval_top1(q, c, scoring="margin", margin_k=9)
    with pytest.raises(ValueError, match="without embeddings"):
        pairwise_top1({"a": q}, pairs=[("a", "b")])


@pytest.mark.parametrize("direction", ["forward", "both", "strict-both"])
def test_all_pairs_fast_path_equals_the_chunked_scan(direction):
    """Cosine pairs come from one product per query language; chunk_size forces the scan."""
    rng = np.random.default_rng(3)
    space = {lang: rng.normal(size=(30, 16)) for lang in "abcd"}
    space["b"][4] = space["b"][5]  # an exact duplicate candidate: a strict tie, wrong both ways
    space["c"] = space["a"] + 0.01 * rng.normal(size=(30, 16))
    fast = pairwise_top1(space, return_correct=True, direction=direction)
    slow = pairwise_top1(space, return_correct=True, direction=direction, chunk_size=7)
    assert fast.keys() == slow.keys()
    for pair in fast:
        np.testing.assert_array_equal(fast[pair].correct, slow[pair].correct, err_msg=str(pair))
        assert fast[pair].accuracy == slow[pair].accuracy
