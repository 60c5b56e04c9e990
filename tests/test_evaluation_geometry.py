"""Geometry on planted embeddings whose answers are known by construction."""

from __future__ import annotations

import math

import numpy as np
import pytest

from langsteer.evaluation import medoids
from langsteer.evaluation.geometry import (
    center,
    centering_means,
    centroid_distances,
    centroids,
    cosine_distance,
    distance_to_target,
    flatten_layers,
    map_layers,
    mean_cosine,
    pair_value,
    parallel_distances,
    select_layer,
)
from langsteer.evaluation.geometry_table import (
    GEOMETRY_QUANTITIES,
    geometry_means,
    geometry_summary,
)
from langsteer.evaluation.medoids import (
    Medoid,
    centroid_language_medoid,
    distance_to_medoid,
    distance_to_point,
    medoid,
    point_medoid,
    summed_point_distances,
)

D45 = 1.0 - math.cos(math.radians(45))


def _at_angle(deg: float, n: int = 4) -> np.ndarray:
    """n 2-D rows whose raw mean is exactly the unit vector at ``deg`` (symmetric jitter)."""
    c = np.array([math.cos(math.radians(deg)), math.sin(math.radians(deg))])
    jitter = np.array([[0.1, -0.2], [-0.1, 0.2], [0.3, 0.05], [-0.3, -0.05]])[:n]
    return (c + jitter).astype(np.float32)


def _top1(q: np.ndarray, c: np.ndarray) -> float:
    """Plain forward cosine top-1 (argmax), independent of the retrieval module."""
    qn = q / np.linalg.norm(q, axis=1, keepdims=True)
    cn = c / np.linalg.norm(c, axis=1, keepdims=True)
    return float(np.mean((qn @ cn.T).argmax(axis=1) == np.arange(len(q))))


def test_distances_by_hand_2d() -> None:
    # a's raw centroid is (1, 0.5); its unit-normalised mean would be (0.5, 0.5).
    emb = {"a": np.array([[2.0, 0.0], [0.0, 1.0]]), "b": np.array([[1.0, 0.0], [1.0, 0.0]])}
    cen = centroid_distances(emb)
    assert list(cen) == [("a", "b")]
    assert cen[("a", "b")] == pytest.approx(1.0 - 1.0 / math.sqrt(1.25))  # raw mean, not 1-1/sqrt2
    par = parallel_distances(emb)
    assert par[("a", "b")] == pytest.approx((0.0 + 1.0) / 2)  # row 0 identical, row 1 orthogonal
    np.testing.assert_allclose(centroids(emb)["a"], [1.0, 0.5])
    assert pair_value(cen, "b", "a") == cen[("a", "b")]
    assert pair_value(cen, "a", "a") == 0.0
    assert cosine_distance(np.array([1.0, 0.0]), np.array([-1.0, 0.0])) == pytest.approx(2.0)
    assert math.isnan(cosine_distance(np.zeros(2), np.ones(2)))


def _unit(deg: float) -> list[float]:
    return [math.cos(math.radians(deg)), math.sin(math.radians(deg))]


def _brute_summed(emb: dict[str, np.ndarray]) -> np.ndarray:
    """Summed cosine distance of every pooled row to every other, from the full N x N matrix."""
    x = np.concatenate([np.asarray(v, dtype=np.float64) for v in emb.values()])
    norms = np.linalg.norm(x, axis=1)
    ok = norms > 0
    u = x[ok] / norms[ok, None]
    dist = 1.0 - u @ u.T
    np.fill_diagonal(dist, 0.0)
    out = np.full(len(x), np.nan)
    out[ok] = dist.sum(axis=1)
    return out


def test_point_medoid_is_the_centre_row_of_a_planted_cluster() -> None:
    # Nine unit vectors symmetric about 0 degrees, spread over three languages; the sum of the
    # unit vectors points at 0 degrees, so the row at 0 (b, row 2) is closest to all the others.
    # The old definition (a language) picked "a", whose centroid is in the middle of the three.
    emb = {
        "a": np.array([_unit(-60), _unit(20), _unit(40)]),
        "b": np.array([_unit(-40), _unit(10), _unit(0)]),
        "c": np.array([_unit(60), _unit(-20), _unit(-10)]),
    }
    m = medoid(emb)
    assert isinstance(m, Medoid) and m.variant == "point"
    assert (m.language, m.index, m.describe()) == ("b", 2, "b #2")
    assert m.vector is not None
    np.testing.assert_array_equal(m.vector, emb["b"][2])  # an actual row of the input
    assert m.summed_distance == pytest.approx(np.nanmin(_brute_summed(emb)))
    # distance of a language to it = mean over its sentences of the cosine distance to the point
    to_med = distance_to_medoid(emb)
    deg = {"a": [-60, 20, 40], "b": [-40, 10, 0], "c": [60, -20, -10]}
    for lang, angles in deg.items():
        expected = np.mean([1.0 - math.cos(math.radians(t)) for t in angles])
        assert to_med[lang] == pytest.approx(expected)
    assert distance_to_point(emb, np.array([2.0, 0.0])) == pytest.approx(to_med)
    # the language-centroid variant is still there, by name, and gives the old answer
    old = medoid(emb, variant="centroid-language")
    assert (old.variant, old.language, old.index, old.vector) == (
        "centroid-language",
        "a",
        None,
        None,
    )
    assert centroid_language_medoid(emb) == "a"
    with pytest.raises(ValueError, match="variant"):
        medoid(emb, variant="mean")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="kind"):
        medoid(emb, kind="parallel")  # kind is for the language variant only


def test_blockwise_summed_distances_equal_brute_force(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(3)
    offsets = rng.normal(size=(5, 12)) * 2.0
    emb = {f"l{k}": (rng.normal(size=(100, 12)) + offsets[k]).astype(np.float32) for k in range(5)}
    emb["l3"][17] = 0.0  # a zero row: undefined cosine, never the medoid, out of every sum
    brute = _brute_summed(emb)  # N = 500
    for block_rows in (None, 1, 7, 100, 1000):
        sums = summed_point_distances(emb, block_rows=block_rows)
        flat = np.concatenate([sums[lang] for lang in emb])
        np.testing.assert_allclose(flat, brute, rtol=1e-10, atol=1e-9)
        assert math.isnan(sums["l3"][17])
        m = point_medoid(emb, block_rows=block_rows)
        k = int(np.nanargmin(brute))
        assert (m.language, m.index) == (f"l{k // 100}", k % 100)
    # the default block size (a module constant) forced tiny: same answer
    monkeypatch.setattr(medoids, "_BLOCK_ELEMENTS", 5)
    flat = np.concatenate(list(summed_point_distances(emb).values()))
    np.testing.assert_allclose(flat, brute, rtol=1e-10, atol=1e-9)
    # per-language means skip the zero row
    to_med = distance_to_point(emb, m.vector, block_rows=3)
    u = emb["l3"][np.arange(100) != 17].astype(np.float64)
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    expected = np.mean(1.0 - u @ (m.vector / np.linalg.norm(m.vector)))
    assert to_med["l3"] == pytest.approx(expected)
    with pytest.raises(ValueError, match="block_rows"):
        summed_point_distances(emb, block_rows=0)


def test_point_medoid_undefined_when_every_row_is_zero() -> None:
    zeros = {"a": np.zeros((3, 2)), "b": np.zeros((3, 2))}
    with pytest.raises(ValueError, match="medoid undefined"):
        point_medoid(zeros)
    out = geometry_summary(zeros, zeros, target="a")
    assert out["pre.medoid"] == "" and out["pre.medoid_index"] == ""
    assert math.isnan(out["pre.mean_to_medoid_nontarget"]) and math.isnan(out["pre.to_medoid.b"])


def test_medoid_planted_middle_language() -> None:
    # Centroids at 0, 45 and 90 degrees: the 45-degree language is in the middle. These are the
    # language-centroid variant's answers (the package's definition before the point medoid).
    emb = {"left": _at_angle(0), "right": _at_angle(90), "mid": _at_angle(45)}
    assert medoid(emb, variant="centroid-language").language == "mid"
    to_med = distance_to_medoid(emb, variant="centroid-language")
    assert to_med == pytest.approx({"left": D45, "right": D45, "mid": 0.0})
    point = medoid(emb)  # the default: a row of the input
    assert point.vector is not None and point.index is not None
    np.testing.assert_array_equal(point.vector, emb[point.language][point.index])
    assert distance_to_medoid(emb, medoid="left") == pytest.approx(
        {"left": 0.0, "right": 1.0, "mid": D45}
    )
    assert distance_to_target(emb, "right") == pytest.approx(
        {"left": 1.0, "right": 0.0, "mid": D45}
    )
    cen = centroid_distances(emb)
    assert set(cen) == {("left", "right"), ("left", "mid"), ("right", "mid")}
    assert cen[("left", "right")] == pytest.approx(1.0)


def test_parallel_kind_medoid_and_target() -> None:
    emb = {"left": _at_angle(0), "right": _at_angle(90), "mid": _at_angle(45)}
    assert medoid(emb, kind="parallel", variant="centroid-language").language == "mid"
    assert centroid_language_medoid(emb, kind="parallel") == "mid"
    d = distance_to_target(emb, "left", kind="parallel")
    assert d["left"] == 0.0
    assert d["right"] > d["mid"] > 0.0
    with pytest.raises(ValueError, match="kind"):
        medoid(emb, kind="euclid", variant="centroid-language")  # type: ignore[arg-type]


def test_validation_errors() -> None:
    with pytest.raises(ValueError, match="aligned"):
        centroid_distances({"a": np.zeros((3, 2)), "b": np.zeros((4, 2))})
    with pytest.raises(ValueError, match="missing"):
        centroid_distances({"a": np.ones((3, 2))}, languages=["a", "b"])
    with pytest.raises(ValueError, match=r"\(n, d\)"):
        centroid_distances({"a": np.ones((3, 2, 2))})
    with pytest.raises(ValueError, match="target"):
        distance_to_target({"a": np.ones((3, 2))}, "zzz")


def _offset_world(seed: int = 0, n: int = 60, d: int = 64, langs: int = 4, offset: float = 50.0):
    """Each language = shared semantic vectors + a big language offset + small noise."""
    rng = np.random.default_rng(seed)
    offsets = {f"l{k}": rng.normal(size=d) * offset / math.sqrt(d) for k in range(langs)}

    def split(m: int) -> dict[str, np.ndarray]:
        sem = rng.normal(size=(m, d)) / math.sqrt(d)
        return {
            lang: (sem + o + 0.01 * rng.normal(size=(m, d)) / math.sqrt(d)).astype(np.float32)
            for lang, o in offsets.items()
        }

    return split(n), split(n)  # evaluation split, held-out split (same offsets, other sentences)


def test_per_language_centring_recovers_retrieval_global_does_not() -> None:
    emb, _ = _offset_world()
    pairs = [(a, b) for a in emb for b in emb if a != b]
    raw = np.mean([_top1(emb[a], emb[b]) for a, b in pairs])
    glob = center(emb, "global")
    glob_acc = np.mean([_top1(glob[a], glob[b]) for a, b in pairs])
    per = center(emb, "per-language")
    per_acc = [_top1(per[a], per[b]) for a, b in pairs]
    assert raw < 0.2
    assert glob_acc < 0.2
    assert per_acc == [1.0] * len(pairs)
    assert mean_cosine(emb["l0"]) > 0.9  # the offset dominates raw cosines within a language
    assert abs(mean_cosine(per)) < 0.1


def test_held_out_centring_uses_only_the_given_means() -> None:
    emb, held = _offset_world(seed=1)
    means = centering_means(held, "per-language")
    out = center(emb, "per-language", means=means)
    for lang in emb:
        np.testing.assert_allclose(out[lang], emb[lang] - means[lang], rtol=0, atol=1e-5)
        assert out[lang].dtype == np.float32
    assert all(_top1(out[a], out[b]) == 1.0 for a in emb for b in emb if a != b)
    # Zero means: nothing is estimated from the evaluation sentences, so nothing changes.
    zeros = {lang: np.zeros(emb[lang].shape[1]) for lang in emb}
    same = center(emb, "per-language", means=zeros)
    for lang in emb:
        np.testing.assert_array_equal(same[lang], emb[lang])
    gmean = centering_means(held, "global")
    assert isinstance(gmean, np.ndarray)
    np.testing.assert_allclose(
        center(emb, "global", means=gmean)["l0"], emb["l0"] - gmean, atol=1e-5
    )
    with pytest.raises(ValueError, match="no per-language mean"):
        center(emb, "per-language", means={"l0": means["l0"]})
    with pytest.raises(ValueError, match="one mean vector"):
        center(emb, "global", means=means)
    with pytest.raises(ValueError, match="mode"):
        center(emb, "median")  # type: ignore[arg-type]


def test_per_language_centring_makes_centroids_undefined_not_zero() -> None:
    emb, _ = _offset_world(seed=2, n=20)
    per = center(emb, "per-language")
    assert all(math.isnan(v) for v in centroid_distances(per).values())
    assert all(0.0 < v < 0.1 for v in parallel_distances(per).values())
    # centroids ~0: the language-centroid medoid is undefined; the point medoid is still a row
    with pytest.raises(ValueError, match="medoid undefined"):
        medoid(per, variant="centroid-language")
    m = medoid(per)
    assert m.index is not None
    np.testing.assert_array_equal(m.vector, per[m.language][m.index])
    out = geometry_summary(per, per, target="l0", medoid="centroid-language")
    assert out["pre.medoid"] == "" and math.isnan(out["pre.mean_to_medoid_nontarget"])


def test_mean_cosine_never_pairs_translations() -> None:
    # One-hot rows: every sentence id is orthogonal to every other, translations are identical.
    eye = np.eye(8, dtype=np.float32)
    assert mean_cosine({"a": eye, "b": eye.copy()}, n_pairs=500) == pytest.approx(0.0)
    shifted = {"a": eye + 10.0, "b": eye + 10.0}
    assert mean_cosine(shifted) > 0.98  # anisotropic: one dominant common direction
    assert mean_cosine(eye) == pytest.approx(0.0)  # a bare array is accepted


def test_geometry_summary_post_medoid_from_post_space() -> None:
    # The language-centroid variant (the old default), so the medoids are languages here.
    pre = {"a": _at_angle(0), "b": _at_angle(45), "c": _at_angle(90)}  # medoid b
    post = {"a": _at_angle(30), "b": _at_angle(0), "c": _at_angle(60)}  # medoid a, closer
    out = geometry_summary(pre, post, target="c", medoid="centroid-language")
    assert out["variant.medoid"] == "centroid-language"
    assert out["pre.medoid"] == out["pre.medoid_language"] == "b"
    assert out["post.medoid"] == out["post.medoid_language"] == "a"
    assert out["pre.medoid_index"] == ""  # no row: the medoid is a language
    assert out["post.to_medoid.a"] == pytest.approx(0.0)
    d30 = 1.0 - math.cos(math.radians(30))
    d60 = 1.0 - math.cos(math.radians(60))
    assert out["post.to_medoid.b"] == pytest.approx(d30)
    assert out["pre.mean_pairwise_centroid"] == pytest.approx((2 * D45 + 1.0) / 3)
    assert out["post.mean_pairwise_centroid"] == pytest.approx((2 * d30 + d60) / 3)
    assert out["delta.mean_pairwise_centroid"] == pytest.approx(
        out["post.mean_pairwise_centroid"] - out["pre.mean_pairwise_centroid"]
    )
    assert out["post.to_target.b"] == pytest.approx(d60)
    assert out["post.centroid.a|c"] == pytest.approx(d30)
    # Every language but the target: the medoid language counts, at 0. (The old code dropped
    # it, giving D45 (pre, {a}) and d30 (post, {b}).)
    assert out["pre.to_medoid.b"] == 0.0
    assert out["pre.mean_to_medoid_nontarget"] == pytest.approx(D45 / 2)
    assert out["post.mean_to_medoid_nontarget"] == pytest.approx(d30 / 2)
    assert "delta.medoid" not in out and "delta.medoid_index" not in out
    assert all("." in k for k in out)
    with pytest.raises(ValueError, match="target"):
        geometry_summary(pre, post, target="zzz")


def test_geometry_summary_point_medoid_keys_and_nontarget_mean() -> None:
    pre = {"a": _at_angle(0), "b": _at_angle(45), "c": _at_angle(90)}
    post = {"a": _at_angle(30), "b": _at_angle(0), "c": _at_angle(60)}
    out = geometry_summary(pre, post, target="c")  # default: the paper's point medoid
    assert out["variant.medoid"] == "point"
    for side, emb in (("pre", pre), ("post", post)):
        m = point_medoid(emb)
        assert out[f"{side}.medoid"] == f"{m.language} #{m.index}" == m.describe()
        assert out[f"{side}.medoid_language"] == m.language
        assert out[f"{side}.medoid_index"] == str(m.index)  # identifiers are strings
        to_med = distance_to_point(emb, m.vector)
        for lang in emb:
            assert out[f"{side}.to_medoid.{lang}"] == pytest.approx(to_med[lang])
        # every language but the target, the medoid's own language included
        nontarget = np.mean([to_med["a"], to_med["b"]])
        assert out[f"{side}.mean_to_medoid_nontarget"] == pytest.approx(nontarget)
    assert out["delta.mean_to_medoid_nontarget"] == pytest.approx(
        out["post.mean_to_medoid_nontarget"] - out["pre.mean_to_medoid_nontarget"]
    )
    with pytest.raises(ValueError, match="medoid"):
        geometry_summary(pre, post, target="c", medoid="mean")  # type: ignore[arg-type]


def test_layers_helpers() -> None:
    # Layer 0: middle language is "mid"; layer 1: it is "left" (left sits at 45 degrees).
    layer0 = {"left": _at_angle(0), "right": _at_angle(90), "mid": _at_angle(45)}
    layer1 = {"left": _at_angle(45), "right": _at_angle(90), "mid": _at_angle(0)}
    stacked = {lang: np.stack([layer0[lang], layer1[lang]], axis=1) for lang in layer0}
    assert stacked["left"].shape == (4, 2, 2)
    np.testing.assert_array_equal(select_layer(stacked, -1)["mid"], layer1["mid"])
    assert map_layers(centroid_language_medoid, stacked) == {0: "mid", 1: "left"}
    points = map_layers(medoid, stacked)
    for layer, m in points.items():
        np.testing.assert_array_equal(m.vector, stacked[m.language][m.index, layer])
    summaries = map_layers(
        geometry_summary,
        stacked,
        stacked,
        target="right",
        layers=[1],
        medoid="centroid-language",
    )
    assert list(summaries) == [1]
    flat = flatten_layers(summaries)
    assert flat["layer1.post.medoid"] == "left"
    with pytest.raises(ValueError, match="n_layers"):
        map_layers(medoid, layer0)


def test_geometry_means_medoid_is_a_point_and_counts_every_nontarget_language() -> None:
    # Centroids at 0, 45 and 90 degrees; the language-centroid medoid is "b", the target is "c".
    space = {"a": _at_angle(0), "b": _at_angle(45), "c": _at_angle(90)}
    g = geometry_means(space, "c")
    assert set(g) == set(GEOMETRY_QUANTITIES)
    # Default: the paper's medoid, one sentence embedding; a language's distance to it is the
    # mean over its sentences. Every language but the target counts (the medoid's own too).
    to_med = distance_to_point(space, point_medoid(space).vector)
    assert g["mean_to_medoid"] == pytest.approx((to_med["a"] + to_med["b"]) / 2)
    assert geometry_means(space)["mean_to_medoid"] == pytest.approx(np.mean(list(to_med.values())))
    assert g["mean_pairwise_centroid"] == pytest.approx((2 * D45 + 1.0) / 3)
    assert g["mean_pairwise_parallel"] == pytest.approx(
        np.mean(list(parallel_distances(space).values()))
    )
    # the same numbers as the full table's means
    full = geometry_summary(space, space, target="c")
    assert g["mean_to_medoid"] == pytest.approx(full["pre.mean_to_medoid_nontarget"])
    assert g["mean_pairwise_parallel"] == pytest.approx(full["pre.mean_pairwise_parallel"])
    # The language-centroid variant: the medoid language "b" counts, at distance 0.
    old = geometry_means(space, "c", medoid="centroid-language")
    assert old["mean_to_medoid"] == pytest.approx((D45 + 0.0) / 2)
    assert old["mean_pairwise_centroid"] == g["mean_pairwise_centroid"]
    with pytest.raises(ValueError, match="medoid"):
        geometry_means(space, "c", medoid="mean")  # type: ignore[arg-type]
    # per-language centred: centroids ~0, the language medoid is undefined, the point one is not
    centred = {k: v - v.mean(axis=0) for k, v in space.items()}
    assert np.isnan(geometry_means(centred, "c", medoid="centroid-language")["mean_to_medoid"])
    assert np.isnan(geometry_means(centred, "c")["mean_pairwise_centroid"])
    assert np.isfinite(geometry_means(centred, "c")["mean_to_medoid"])
