"""The one-pass expert scoring: same numbers as two passes, every column read once, page-aligned."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score, roc_auc_score

from langsteer.metrics import expertise_scores
from langsteer.metrics import panels as panels_mod
from langsteer.metrics.panels import STATISTICS, panel_bounds, scores_and_stats


def two_pass_stats(values: np.ndarray, labels: np.ndarray, chunk: int = 16384) -> dict:
    """The statistics as ExpertFinder.fit computed them before the one-pass design (also the
    reference that bench/bench_scale.py --legacy times)."""
    n_units = values.shape[1]
    out = {s: np.empty(n_units, np.float32) for s in STATISTICS}
    for s in range(0, n_units, chunk):
        block = np.asarray(values[:, s : s + chunk], dtype=np.float32)
        pos, neg = block[labels], block[~labels]
        out["pos_mean"][s : s + chunk] = pos.mean(0, dtype=np.float64)
        out["pos_median"][s : s + chunk] = np.median(pos, axis=0)
        out["neg_mean"][s : s + chunk] = neg.mean(0, dtype=np.float64)
    return out


def _relu_memmap(tmp_path, n: int, m: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    path = tmp_path / "responses.npy"
    mm = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, m))
    mm[:] = np.maximum(rng.standard_normal((n, m), dtype=np.float32), 0)  # half exact zeros
    mm[:, ::7] = np.round(mm[:, ::7])  # heavy ties
    mm.flush()
    labels = rng.random(n) < 0.25
    return np.load(path, mmap_mode="r"), labels


@pytest.mark.parametrize("panel_bytes", [1, 200_000, 2**30])  # one page wide .. one panel
def test_one_pass_equals_two_passes_bitwise(tmp_path, panel_bytes) -> None:
    values, labels = _relu_memmap(tmp_path, 61, 3000)
    scores, stats = scores_and_stats(values, labels, ("auroc", "ap"), panel_bytes=panel_bytes)
    want = expertise_scores(values, labels, ("auroc", "ap"))
    for m in ("auroc", "ap"):
        np.testing.assert_array_equal(scores[m], want[m])
    for name, v in two_pass_stats(values, labels).items():
        assert stats[name].dtype == np.float32
        np.testing.assert_array_equal(stats[name], v)
    for j in (0, 7, 1023, 1024, 2999):
        col = np.asarray(values[:, j])
        assert scores["auroc"][j] == pytest.approx(roc_auc_score(labels, col), abs=1e-12)
        assert scores["ap"][j] == pytest.approx(average_precision_score(labels, col), abs=1e-12)


def test_every_column_is_read_exactly_once(tmp_path, monkeypatch) -> None:
    values, labels = _relu_memmap(tmp_path, 20, 5000)
    reads: list[tuple[int, int]] = []
    real = panels_mod._read_chunk

    def counting(v, u0, u1, device=None):
        reads.append((u0, u1))
        return real(v, u0, u1, device)

    monkeypatch.setattr(panels_mod, "_read_chunk", counting)
    scores_and_stats(values, labels, ("auroc",), panel_bytes=1)
    covered = np.zeros(5000, int)
    for u0, u1 in reads:
        covered[u0:u1] += 1
    assert (covered == 1).all() and len(reads) > 3


def test_panels_are_page_aligned_in_the_file(tmp_path) -> None:
    # rows of 2048 float32 = 2 pages: every interior panel edge of every row starts a page
    values, _ = _relu_memmap(tmp_path, 8, 2048 * 3)
    bounds = panel_bounds(values, panel_bytes=1)  # the narrowest panels: one page per row
    assert all((u1 - u0) % 1024 == 0 for u0, u1 in bounds[1:-1])
    offset = values.offset  # the .npy header
    for row in (0, 5):
        for u0, _u1 in bounds[1:]:
            assert (offset + (row * values.shape[1] + u0) * 4) % 4096 == 0
    # a wide budget gives wider panels, still whole pages, and never more than the matrix
    wide = panel_bounds(values, panel_bytes=8 * 4096 * 3)
    assert all((u1 - u0) % 1024 == 0 for u0, u1 in wide[1:-1]) and wide[-1][1] == 2048 * 3
    assert len(wide) < len(bounds)


def test_statistics_only_torch_input_and_errors() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(30, 50)).astype(np.float32)
    labels = np.arange(30) < 10
    scores, stats = scores_and_stats(torch.from_numpy(x), labels, ())
    assert scores == {}
    np.testing.assert_array_equal(stats["pos_median"], np.median(x[labels], 0))
    np.testing.assert_array_equal(
        stats["neg_mean"], x[~labels].mean(0, dtype=np.float64).astype(np.float32)
    )
    with pytest.raises(ValueError, match="unknown metrics"):
        scores_and_stats(x, labels, ("f1",))
    x[:, 41] = np.nan
    with pytest.raises(ValueError, match=r"in 1 of 50 units \(first unit indices: 41\)"):
        scores_and_stats(x, labels, ("auroc",), panel_bytes=1, chunk_size=4)


def test_page_advice_never_changes_what_is_read(tmp_path) -> None:
    # a copy-on-write memmap edited in memory: releasing its pages would drop the edits
    values, labels = _relu_memmap(tmp_path, 40, 4096)
    edited = np.load(tmp_path / "responses.npy", mmap_mode="c")
    edited[:, 1500:1600] = 7.0 * labels[:, None]  # perfect units, only in this process
    in_memory = np.array(edited)
    for v in (edited, values, edited[:, 1000:]):  # also a sliced memmap (an unaligned start)
        want = scores_and_stats(np.array(v), labels, ("auroc",))
        got = scores_and_stats(v, labels, ("auroc",), panel_bytes=1)
        np.testing.assert_array_equal(got[0]["auroc"], want[0]["auroc"])
        for name in STATISTICS:
            np.testing.assert_array_equal(got[1][name], want[1][name])
    assert scores_and_stats(edited, labels, ("auroc",), panel_bytes=1)[0]["auroc"][1500] == 1.0
    np.testing.assert_array_equal(np.asarray(edited), in_memory)  # the edits are still there
