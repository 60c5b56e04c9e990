"""LSAR, LIR and the linear map each find (and fix) a language signal planted in a synthetic
space: retrieval goes from bad to perfect, and the fitted state is the planted one."""

from __future__ import annotations

import json

import numpy as np
import pytest

from langsteer.methods import LIR, LSAR, LinearMap, MethodError, PerLanguageCentring, make_method
from langsteer.methods.subspace import fit_ridge, language_subspace

LANGS = ["eng_Latn", "deu_Latn", "fra_Latn", "spa_Latn"]
D = 24


def top1(space: dict[str, np.ndarray]) -> float:
    """Mean cosine top-1 accuracy over every ordered pair of distinct languages."""
    unit = {k: v / np.linalg.norm(v, axis=1, keepdims=True) for k, v in space.items()}
    accs = [
        float(np.mean(np.argmax(unit[a] @ unit[b].T, axis=1) == np.arange(len(unit[a]))))
        for a in unit
        for b in unit
        if a != b
    ]
    return float(np.mean(accs))


def split(space: dict[str, np.ndarray], n_fit: int):
    return {k: v[:n_fit] for k, v in space.items()}, {k: v[n_fit:] for k, v in space.items()}


def principal_cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosines of the principal angles between the row spaces of ``a`` and ``b``."""
    qa, _ = np.linalg.qr(a.T)
    qb, _ = np.linalg.qr(b.T)
    return np.linalg.svd(qa.T @ qb, compute_uv=False)


def lsar_space(n=120, seed=0):
    """Shared meaning + a language part living in a planted 2-D subspace B: a large offset per
    language AND large per-sentence variation inside B (which per-language centring leaves)."""
    rng = np.random.default_rng(seed)
    basis = np.linalg.qr(rng.normal(size=(D, 2)))[0].T  # (2, D) orthonormal
    z = rng.normal(size=(n, D))
    z -= (z @ basis.T) @ basis  # meaning orthogonal to B, so removing B loses none of it
    offsets = rng.normal(scale=20.0, size=(len(LANGS), 2))
    return basis, {
        lang: z + (offsets[j] + rng.normal(scale=6.0, size=(n, 2))) @ basis
        for j, lang in enumerate(LANGS)
    }


def test_lsar_removes_a_planted_language_subspace():
    basis, space = lsar_space()
    fit, ev = split(space, 60)
    assert top1(ev) < 0.3
    lsar = LSAR(rank=2).fit(fit)
    np.testing.assert_allclose(principal_cosines(lsar.basis_, basis), 1.0, atol=1e-3)
    assert top1(lsar.transform(ev)) == 1.0
    # the within-subspace variation is what per-language centring cannot remove
    assert top1(PerLanguageCentring().fit(fit).transform(ev)) < 0.9
    fitted = lsar.describe()["fitted"]
    assert fitted["rank"] == 2 and fitted["languages"] == LANGS
    assert len(fitted["singular_values"]) == len(LANGS) and fitted["spread_share"] > 0.99
    json.dumps(lsar.describe())


def test_lsar_centres_the_means_and_validates_rank():
    # every language shares a huge mean (anisotropy): uncentred, it would be the top direction
    rng = np.random.default_rng(1)
    common = np.zeros(D)
    common[0] = 1000.0
    offsets = rng.normal(size=(len(LANGS), D))
    offsets[:, 0] = 0.0
    means = common + offsets
    sub, s = language_subspace(means, rank=None)
    assert sub.shape == (len(LANGS) - 1, D)  # centred: L - 1 directions
    assert np.all(np.abs(sub[:, 0]) < 1e-9)  # the shared direction is kept
    assert s[-1] < 1e-9 * s[0]
    with pytest.raises(ValueError, match=r"at most 3"):
        language_subspace(means, rank=4)
    with pytest.raises(ValueError, match="same mean"):
        language_subspace(np.ones((3, D)), rank=None)
    with pytest.raises(ValueError, match="two languages"):
        LSAR().fit({"eng_Latn": rng.normal(size=(5, D))})
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(MethodError, match="rank"):
            LSAR(rank=bad)
    space = {lang: rng.normal(size=(10, D)) for lang in LANGS}
    assert LSAR().fit(space).basis_.shape[0] == len(LANGS) - 1


def lir_space(n=120, seed=2):
    """Every language has its own dominant direction u_l with a large per-sentence coefficient
    (and an offset along it), on top of the shared meaning."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, D))
    dirs = {lang: (v := rng.normal(size=D)) / np.linalg.norm(v) for lang in LANGS}
    return dirs, {
        lang: z + np.outer(15.0 + rng.normal(scale=10.0, size=n), dirs[lang]) for lang in LANGS
    }


def test_lir_removes_each_languages_planted_dominant_direction():
    dirs, space = lir_space()
    fit, ev = split(space, 60)
    assert top1(ev) < 0.3
    lir = LIR().fit(fit)
    for lang in LANGS:
        assert abs(float(lir.bases_[lang][0] @ dirs[lang])) > 0.99
    assert top1(lir.transform(ev)) > 0.99
    fitted = lir.describe()["fitted"]
    assert fitted["centred"] is False and set(fitted["removed_share"]) == set(LANGS)
    assert all(0.5 < v < 1 for v in fitted["removed_share"].values())
    json.dumps(lir.describe())


def test_lir_refuses_what_it_cannot_fit():
    rng = np.random.default_rng(0)
    space = {lang: rng.normal(size=(3, D)) for lang in LANGS}
    with pytest.raises(ValueError, match="at least 4 fit sentences"):
        LIR(rank=4).fit(space)
    lir = LIR(rank=2).fit(space)
    with pytest.raises(ValueError, match="no fitted directions"):
        lir.transform({"jpn_Jpan": rng.normal(size=(3, D))})
    with pytest.raises(ValueError, match="not fitted"):
        LIR().transform(space)
    with pytest.raises(MethodError, match="rank"):
        LIR(rank=0)


def rotated_space(n=200, seed=3, noise=0.01):
    """The pivot's embeddings are z; every other language's are z R_l + b_l (+ noise)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, D))
    rot = {lang: np.linalg.qr(rng.normal(size=(D, D)))[0] for lang in LANGS[1:]}
    space = {LANGS[0]: z}
    for lang, r in rot.items():
        space[lang] = z @ r + rng.normal(scale=3.0, size=D) + rng.normal(scale=noise, size=(n, D))
    return rot, space


def test_linear_map_recovers_a_planted_rotation():
    rot, space = rotated_space()
    fit, ev = split(space, 120)
    assert top1(ev) < 0.2
    exact = LinearMap(alpha=0.0).fit(fit)
    assert exact.pivot_ == "eng_Latn"  # English is the default pivot when present
    for lang, r in rot.items():
        m = exact.maps_[lang]
        np.testing.assert_allclose(m.left @ m.right, r.T, atol=0.01)  # the inverse rotation
        assert m.r2 > 0.999
    out = exact.transform(ev)
    np.testing.assert_array_equal(out["eng_Latn"], ev["eng_Latn"].astype(np.float32))
    for lang in rot:
        np.testing.assert_allclose(out[lang], ev["eng_Latn"], atol=0.05)
    assert top1(out) == 1.0
    ridge = LinearMap().fit(fit)  # the default ridge shrinks the map but keeps its direction
    for lang, r in rot.items():
        w = ridge.maps_[lang].left @ ridge.maps_[lang].right
        cos = np.sum(w * r.T) / np.linalg.norm(w) / np.linalg.norm(r)
        assert cos > 0.99 and ridge.maps_[lang].penalty > 0
    assert top1(ridge.transform(ev)) == 1.0


def test_linear_map_dual_form_when_fewer_rows_than_dimensions():
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(10, 40)), rng.normal(size=(10, 40))
    m = fit_ridge(x, y, alpha=0.5)
    xc, yc = x - x.mean(0), y - y.mean(0)
    primal = np.linalg.solve(xc.T @ xc + m.penalty * np.eye(40), xc.T @ yc)
    np.testing.assert_allclose(m.left @ m.right, primal, atol=1e-10)
    assert m.left.shape == (40, 10)  # stored factored: O(n d)
    np.testing.assert_allclose(m.apply(x), (x - x.mean(0)) @ primal + y.mean(0), atol=1e-10)


def test_linear_map_is_supervised_and_validates_its_pivot():
    assert LinearMap.supervised and make_method("linear-map").supervised
    assert not LSAR.supervised and not LIR.supervised
    assert "SUPERVISED" in LinearMap.summary
    _, space = rotated_space(n=20)
    m = LinearMap(pivot="fr").fit(space)
    assert m.pivot_ == "fra_Latn" and set(m.maps_) == set(LANGS) - {"fra_Latn"}
    d = m.describe()
    assert d["supervised"] is True and d["fitted"]["pivot"] == "fra_Latn"
    json.dumps(d)
    no_english = {k: v for k, v in space.items() if k != "eng_Latn"}
    assert LinearMap().fit(no_english).pivot_ == "deu_Latn"  # else the first language
    with pytest.raises(ValueError, match=r"pivot jpn_Jpan is not an evaluated language"):
        LinearMap(pivot="jpn").fit(space)
    with pytest.raises(MethodError, match="pivot 'xx'"):
        LinearMap(pivot="xx")
    with pytest.raises(MethodError, match="alpha"):
        LinearMap(alpha=-1.0)
    with pytest.raises(MethodError, match="finite"):
        LinearMap(alpha=float("inf"))
    with pytest.raises(ValueError, match="no linear map fitted"):
        m.transform({**space, "jpn_Jpan": space["eng_Latn"]})
    with pytest.raises(ValueError, match="pivot and at least one other"):
        LinearMap().fit({"eng_Latn": space["eng_Latn"]})
