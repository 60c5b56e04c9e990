"""AUROC / AP per unit equal scikit-learn per column, ties included; bad input fails clearly."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score, roc_auc_score

from langsteer.metrics import auroc, average_precision, expertise_scores
from langsteer.metrics.ranking import _chunk_metrics_torch


def sk(x: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x, np.float32)  # our ties are decided in float32, like the reference here
    au = [roc_auc_score(labels, x[:, j]) for j in range(x.shape[1])]
    ap = [average_precision_score(labels, x[:, j]) for j in range(x.shape[1])]
    return np.array(au), np.array(ap)


def check(x, labels, **kw) -> None:
    ref_au, ref_ap = sk(np.asarray(x if not isinstance(x, torch.Tensor) else x.float()), labels)
    out = expertise_scores(x, labels, **kw)
    assert out["auroc"].dtype == np.float64 and out["auroc"].shape == ref_au.shape
    np.testing.assert_allclose(out["auroc"], ref_au, rtol=0, atol=1e-9)
    np.testing.assert_allclose(out["ap"], ref_ap, rtol=0, atol=1e-9)


def labels_for(n: int, rate: float, seed: int) -> np.ndarray:
    lab = np.random.default_rng(seed).random(n) < rate
    lab[0], lab[-1] = True, False  # both classes always present
    return lab


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def test_continuous(rng):
    check(rng.standard_normal((200, 50)).astype(np.float32), labels_for(200, 0.3, 1))


def test_heavy_ties_with_negatives(rng):
    x = rng.integers(-3, 4, size=(150, 60)).astype(np.float32)  # 7 distinct values per unit
    x[:20, 3] = -0.0  # -0.0 and 0.0 are one tie group
    check(x, labels_for(150, 0.4, 2))


def test_relu_like_exact_zeros(rng):
    x = np.round(np.maximum(rng.standard_normal((400, 80)), 0), 2).astype(np.float32)
    lab = labels_for(400, 0.2, 3)
    x[lab, :10] += 0.3 * (x[lab, :10] > 0)  # some informative units
    assert (x == 0).mean() > 0.4
    check(x, lab)


def test_constant_columns(rng):
    x = rng.standard_normal((60, 6)).astype(np.float32)
    x[:, 1] = 0.0
    x[:, 4] = 2.5
    lab = labels_for(60, 0.25, 4)
    out = expertise_scores(x, lab)
    assert out["auroc"][1] == pytest.approx(0.5) and out["auroc"][4] == pytest.approx(0.5)
    assert out["ap"][1] == pytest.approx(lab.mean())
    check(x, lab)


@pytest.mark.parametrize("n", [2, 3, 5])
def test_tiny_n(n):
    x = np.array(
        [[0.0, 1.0, 1.0], [1.0, 1.0, 0.0], [0.5, 1.0, 2.0], [0.0, 0.0, 2.0], [3.0, 1.0, -1.0]],
        np.float32,
    )[:n]
    lab = np.array([True, False, True, False, False])[:n]
    check(x, lab)


@pytest.mark.parametrize("rate", [0.01, 0.97])
def test_unbalanced(rng, rate):
    x = np.round(rng.standard_normal((500, 20)), 1).astype(np.float32)
    check(x, labels_for(500, rate, 5))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_torch_low_precision_input(rng, dtype):
    x = torch.from_numpy(rng.standard_normal((300, 40))).to(dtype)  # low precision: many ties
    check(x, labels_for(300, 0.3, 6), chunk_size=7)


def test_numpy_float16_and_lists(rng):
    x = rng.standard_normal((100, 9)).astype(np.float16)
    lab = labels_for(100, 0.5, 7)
    check(x, lab)
    np.testing.assert_allclose(auroc(x.tolist(), lab.astype(int).tolist()), sk(x, lab)[0])


def test_memmap_input(tmp_path, rng):
    x = np.round(np.maximum(rng.standard_normal((120, 33)), 0), 1).astype(np.float32)
    mm = np.lib.format.open_memmap(tmp_path / "r.npy", mode="w+", dtype=np.float32, shape=x.shape)
    mm[:] = x
    mm.flush()
    ro = np.load(tmp_path / "r.npy", mmap_mode="r")
    check(ro, labels_for(120, 0.3, 8), chunk_size=5)


@pytest.mark.parametrize("chunk", [1, 4, 7, 29, 30, 31, 1000])
def test_chunk_boundaries(rng, chunk):
    x = np.round(rng.standard_normal((90, 30)), 1).astype(np.float32)
    lab = labels_for(90, 0.3, 9)
    check(x, lab, chunk_size=chunk, num_threads=1)
    check(x, lab, chunk_size=chunk, num_threads=2)  # chunks on a thread pool


def test_single_metric_wrappers(rng):
    x = np.round(rng.standard_normal((80, 12)), 1).astype(np.float32)
    lab = labels_for(80, 0.3, 10)
    ref_au, ref_ap = sk(x, lab)
    np.testing.assert_allclose(auroc(x, lab), ref_au, atol=1e-9)
    np.testing.assert_allclose(average_precision(x, lab), ref_ap, atol=1e-9)
    assert set(expertise_scores(x, lab, metrics=("ap",))) == {"ap"}
    np.testing.assert_allclose(auroc(torch.from_numpy(x), torch.from_numpy(lab)), ref_au)


def test_torch_kernel_matches_sklearn(rng):
    """The kernel used on CUDA devices, run on CPU."""
    x = np.round(np.maximum(rng.standard_normal((150, 25)), 0), 1).astype(np.float32)
    x[:, 2] = 1.0
    lab = labels_for(150, 0.3, 11)
    out = _chunk_metrics_torch(torch.from_numpy(x), torch.from_numpy(lab).long(), ("auroc", "ap"))
    ref_au, ref_ap = sk(x, lab)
    np.testing.assert_allclose(out["auroc"].numpy(), ref_au, atol=1e-9)
    np.testing.assert_allclose(out["ap"].numpy(), ref_ap, atol=1e-9)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_device(rng):
    x = np.round(rng.standard_normal((100, 20)), 1).astype(np.float32)
    check(x, labels_for(100, 0.3, 12), device="cuda", chunk_size=6)


# ---------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("labels", "words"),
    [
        (np.ones(10, bool), ["all 10 samples are positive", "add negative-language"]),
        (np.zeros(10, bool), ["all 10 samples are negative"]),
        (np.ones((10, 1), bool), ["1-D"]),
        (np.ones(9, bool), ["9 entries", "10 samples"]),
        (np.arange(10), ["bool"]),
    ],
)
def test_bad_labels(labels, words):
    with pytest.raises(ValueError) as e:
        auroc(np.zeros((10, 3), np.float32), labels)
    for w in words:
        assert w in str(e.value)


@pytest.mark.parametrize("shape", [(0, 5), (4, 0)])
def test_empty(shape):
    with pytest.raises(ValueError, match="empty"):
        auroc(np.zeros(shape, np.float32), np.array([True, False, True, False])[: shape[0]])


def test_not_2d():
    with pytest.raises(ValueError, match="2-D"):
        auroc(np.zeros(4, np.float32), np.array([True, False, True, False]))


def test_non_finite_names_units():
    x = np.zeros((6, 40), np.float32)
    x[2, 3] = np.nan
    x[0, 17] = np.inf
    x[5, 38] = -np.inf
    lab = np.array([1, 0, 1, 0, 1, 0], bool)
    with pytest.raises(ValueError) as e:
        expertise_scores(x, lab, chunk_size=8)
    msg = str(e.value)
    assert "3 of 40 units" in msg and "3, 17, 38" in msg and "--dtype float32" in msg


def test_fp16_overflow_is_reported():
    x = torch.tensor([[70000.0, 1.0], [1.0, 2.0]]).half()  # 70000 overflows fp16 to inf
    with pytest.raises(ValueError, match="NaN or inf"):
        auroc(x, np.array([True, False]))


def test_unknown_metric():
    with pytest.raises(ValueError, match="unknown metrics"):
        expertise_scores(np.zeros((2, 2)), np.array([True, False]), metrics=("f1",))
