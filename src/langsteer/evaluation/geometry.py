"""Geometry of a multilingual sentence-embedding space (paper Table 1), on plain NumPy arrays.

Embeddings are ``{language: (n, d) array}`` with rows aligned across languages (row ``i`` of every
language is the same sentence id). All distances are cosine distances, ``1 - cos``, computed in
float64 whatever the input dtype, so that bf16/fp16 runs do not leak into the statistics.

Two language-level distances, named so that they are never confused:

* **centroid** distance: cosine distance between the *language centroids*, where a centroid is the
  mean of the **raw** (not unit-normalised) vectors. We use raw vectors because the centroid is
  then exactly the per-language mean offset that :func:`center` removes, so "centroid distance"
  and "per-language centring" talk about the same object. After per-language centring the
  centroids are ~0 and their cosine is undefined: such distances are NaN, never a made-up number.
* **parallel** distance: mean over sentences ``i`` of the cosine distance between ``a_i`` and its
  translation ``b_i``; meaningful with or without centring.

Every per-layer quantity is computed on one layer ``(n, d)``; :func:`map_layers` loops layers of
``(n, n_layers, d)`` arrays.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

Embeddings = Mapping[str, np.ndarray]
Pair = tuple[str, str]
Kind = Literal["centroid", "parallel"]
CenterMode = Literal["none", "global", "per-language"]

# A centroid shorter than this fraction of the mean row norm is treated as zero (NaN distance).
_ZERO_CENTROID_RTOL = 1e-6
# Work arrays are processed in blocks of about this many float64 elements (32 MiB).
_BLOCK_ELEMENTS = 1 << 22


def check_embeddings(emb: Embeddings, languages: Sequence[str] | None = None) -> list[str]:
    """Validate shapes once, so every function fails early on misaligned rows."""
    langs = list(emb) if languages is None else list(languages)
    if not langs:
        raise ValueError("no languages given")
    missing = [lang for lang in langs if lang not in emb]
    if missing:
        raise ValueError(f"languages missing from the embeddings: {missing}")
    shapes = {lang: np.shape(emb[lang]) for lang in langs}
    first = shapes[langs[0]]
    if len(first) != 2:
        raise ValueError(f"expected (n, d) arrays per language, got shape {first} for {langs[0]!r}")
    bad = {lang: s for lang, s in shapes.items() if s != first}
    if bad:
        raise ValueError(f"rows must be aligned across languages: {langs[0]} has {first}, {bad}")
    if first[0] == 0:
        raise ValueError("no sentences")
    return langs


def _f64(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def cosine_distance(u: np.ndarray, v: np.ndarray) -> float:
    """``1 - cos(u, v)``; NaN when either vector is zero (undefined, not 1)."""
    u, v = _f64(u), _f64(v)
    nu, nv = np.linalg.norm(u), np.linalg.norm(v)
    if nu == 0 or nv == 0:
        return float("nan")
    return float(1.0 - np.dot(u, v) / (nu * nv))


def centroids(emb: Embeddings, languages: Sequence[str] | None = None) -> dict[str, np.ndarray]:
    """Mean of the raw vectors per language (float64); see the module docstring for why raw."""
    return {lang: _f64(emb[lang]).mean(axis=0) for lang in check_embeddings(emb, languages)}


def _centroid_or_nan(emb: Embeddings, langs: list[str]) -> dict[str, np.ndarray]:
    """Centroids, with those that are numerically zero replaced by NaN vectors."""
    out = {}
    for lang in langs:
        x = _f64(emb[lang])
        c = x.mean(axis=0)
        scale = float(np.linalg.norm(x, axis=1).mean())
        if not np.linalg.norm(c) > _ZERO_CENTROID_RTOL * scale:
            c = np.full_like(c, np.nan)
        out[lang] = c
    return out


def _row_cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.einsum("ij,ij->i", _unit_rows(a), _unit_rows(b))


def _unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit norm in float64; zero rows become NaN (their cosine is undefined)."""
    x = _f64(x)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(norms > 0, x / norms, np.nan)


def centroid_distances(
    emb: Embeddings, languages: Sequence[str] | None = None
) -> dict[Pair, float]:
    """Cosine distance between the raw-mean centroids of every unordered pair ``(a, b)``.

    Keys follow the order of ``languages`` (``a`` before ``b``); use :func:`pair_value` to look a
    pair up in either order.
    """
    langs = check_embeddings(emb, languages)
    cents = _centroid_or_nan(emb, langs)
    return {
        (a, b): cosine_distance(cents[a], cents[b]) for a, b in itertools.combinations(langs, 2)
    }


def parallel_distances(
    emb: Embeddings, languages: Sequence[str] | None = None
) -> dict[Pair, float]:
    """Mean over sentences of the cosine distance between a sentence and its translation."""
    langs = check_embeddings(emb, languages)
    n, d = np.shape(emb[langs[0]])
    # Per block of sentences, one batched (L x L) Gram matrix of unit rows: all pairs at once.
    step = max(1, _BLOCK_ELEMENTS // (len(langs) * d))
    total = np.zeros((len(langs), len(langs)))
    for start in range(0, n, step):
        unit = np.stack([_unit_rows(emb[lang][start : start + step]) for lang in langs], axis=1)
        total += np.matmul(unit, unit.transpose(0, 2, 1)).sum(axis=0)
    cos = total / n
    return {
        (langs[i], langs[j]): float(1.0 - cos[i, j])
        for i, j in itertools.combinations(range(len(langs)), 2)
    }


def pair_value(table: Mapping[Pair, float], a: str, b: str) -> float:
    """Look up an unordered-pair table in either order; a language is at distance 0 of itself."""
    if a == b:
        return 0.0
    if (a, b) in table:
        return table[(a, b)]
    return table[(b, a)]


def _pair_table(emb: Embeddings, kind: Kind, languages: Sequence[str] | None) -> dict[Pair, float]:
    if kind == "centroid":
        return centroid_distances(emb, languages)
    if kind == "parallel":
        return parallel_distances(emb, languages)
    raise ValueError(f"kind must be 'centroid' or 'parallel', got {kind!r}")


def medoid(emb: Embeddings, languages: Sequence[str] | None = None, kind: Kind = "centroid") -> str:
    """Language with the smallest summed distance to all others (first one on exact ties).

    NaN distances make the sum NaN; if every language is NaN (e.g. after per-language centring
    with ``kind="centroid"``) there is no medoid and we raise rather than pick arbitrarily.
    """
    langs = check_embeddings(emb, languages)
    return _medoid_of_table(_pair_table(emb, kind, langs), langs, kind)


def _medoid_of_table(table: Mapping[Pair, float], langs: list[str], kind: str) -> str:
    if len(langs) == 1:
        return langs[0]
    sums = np.array([sum(pair_value(table, a, b) for b in langs if b != a) for a in langs])
    if np.all(np.isnan(sums)):
        raise ValueError(f"medoid undefined: all {kind} distances are NaN (zero centroids?)")
    return langs[int(np.nanargmin(sums))]


_medoid = medoid  # distance_to_medoid's argument is also called ``medoid``


def distance_to_target(
    emb: Embeddings, target: str, languages: Sequence[str] | None = None, kind: Kind = "centroid"
) -> dict[str, float]:
    """Distance of every language (the target included, 0.0) to ``target``."""
    langs = check_embeddings(emb, languages)
    if target not in emb:
        raise ValueError(f"target {target!r} not in the embeddings")
    if kind == "centroid":
        cents = _centroid_or_nan(emb, list(dict.fromkeys([*langs, target])))
        return {lang: cosine_distance(cents[lang], cents[target]) for lang in langs}
    if kind == "parallel":
        unit_t = _unit_rows(emb[target])
        return {
            lang: 0.0
            if lang == target
            else float(np.mean(1.0 - np.einsum("ij,ij->i", _unit_rows(emb[lang]), unit_t)))
            for lang in langs
        }
    raise ValueError(f"kind must be 'centroid' or 'parallel', got {kind!r}")


def distance_to_medoid(
    emb: Embeddings,
    medoid: str | None = None,
    languages: Sequence[str] | None = None,
    kind: Kind = "centroid",
) -> dict[str, float]:
    """Distance of every language to the medoid of *this* space (computed here if not given)."""
    langs = check_embeddings(emb, languages)
    if medoid is None:
        medoid = _medoid(emb, langs, kind=kind)
    return distance_to_target(emb, medoid, langs, kind=kind)


def mean_cosine(emb: Embeddings | np.ndarray, *, n_pairs: int = 10_000, seed: int = 0) -> float:
    """Average raw cosine between random pairs of *different* sentence ids (any languages).

    An anisotropy indicator: near 1 means every vector points the same way, and raw cosines carry
    little information until the space is centred. Pairs never share a sentence id, so
    translations of each other are never counted.
    """
    if isinstance(emb, np.ndarray):
        emb = {"_": emb}
    langs = check_embeddings(emb)
    n = np.shape(emb[langs[0]])[0]
    if n < 2:
        raise ValueError("mean_cosine needs at least two sentence ids")
    rng = np.random.default_rng(seed)
    i = rng.integers(0, n, n_pairs)
    j = (i + rng.integers(1, n, n_pairs)) % n  # never equal to i
    la = rng.integers(0, len(langs), n_pairs)
    lb = rng.integers(0, len(langs), n_pairs)
    total, count = 0.0, 0
    for start in range(0, n_pairs, 1024):  # chunks: never materialise (n_pairs, d) in float64
        sl = slice(start, start + 1024)
        cos = _row_cosines(_gather(emb, langs, la[sl], i[sl]), _gather(emb, langs, lb[sl], j[sl]))
        finite = np.isfinite(cos)
        total += float(cos[finite].sum())
        count += int(finite.sum())
    return total / count if count else float("nan")


def _gather(
    emb: Embeddings, langs: list[str], lang_idx: np.ndarray, rows: np.ndarray
) -> np.ndarray:
    d = np.shape(emb[langs[0]])[1]
    out = np.empty((len(rows), d), dtype=np.float64)
    for k, lang in enumerate(langs):
        mask = lang_idx == k
        if mask.any():
            out[mask] = np.asarray(emb[lang])[rows[mask]]
    return out


def centering_means(
    emb: Embeddings, mode: CenterMode, languages: Sequence[str] | None = None
) -> dict[str, np.ndarray] | np.ndarray | None:
    """Means to pass to :func:`center` later, estimated here (use a held-out split)."""
    langs = check_embeddings(emb, languages)
    if mode == "none":
        return None
    if mode == "global":
        return np.concatenate([_f64(emb[lang]) for lang in langs]).mean(axis=0)
    if mode == "per-language":
        return {lang: _f64(emb[lang]).mean(axis=0) for lang in langs}
    raise ValueError(f"mode must be 'none', 'global' or 'per-language', got {mode!r}")


def center(
    emb: Embeddings,
    mode: CenterMode = "none",
    means: Mapping[str, np.ndarray] | np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Subtract a mean vector: the anisotropy / language-offset control of the method's pitfalls.

    ``mode="global"`` removes one mean shared by all languages (the anisotropy); ``"per-language"``
    removes each language's own mean, which alone can make raw retrieval succeed, so a gain from an
    intervention must be compared with it. ``means`` (an array for global, ``{lang: vec}`` for
    per-language) lets the means come from a held-out split; when given, only those means are used
    and the evaluation sentences never enter them. Returns new float32 arrays (inputs untouched).
    """
    langs = check_embeddings(emb)
    if mode == "none":
        if means is not None:
            raise ValueError("means given with mode='none'")
        return {lang: np.asarray(emb[lang], dtype=np.float32) for lang in langs}
    if means is None:
        means = centering_means(emb, mode)
    d = np.shape(emb[langs[0]])[1]
    if mode == "global":
        if isinstance(means, Mapping):
            raise ValueError("global centring takes one mean vector, not a dict")
        mu = _f64(means)
        if mu.shape != (d,):
            raise ValueError(f"global mean must have shape ({d},), got {mu.shape}")
        return {lang: (_f64(emb[lang]) - mu).astype(np.float32) for lang in langs}
    if mode == "per-language":
        if not isinstance(means, Mapping):
            raise ValueError("per-language centring takes {language: mean vector}")
        missing = [lang for lang in langs if lang not in means]
        if missing:
            raise ValueError(f"no per-language mean for {missing}")
        out = {}
        for lang in langs:
            mu = _f64(means[lang])
            if mu.shape != (d,):
                raise ValueError(f"mean for {lang!r} must have shape ({d},), got {mu.shape}")
            out[lang] = (_f64(emb[lang]) - mu).astype(np.float32)
        return out
    raise ValueError(f"mode must be 'none', 'global' or 'per-language', got {mode!r}")


# --- whitening: anisotropy removal beyond a shared mean ------------------------------------------

# With shrinkage 0 the directions no estimate spans (n <= d) would get an infinite scale: floor it.
SHRINKAGE_FLOOR = 1e-3


@dataclass(frozen=True)
class Whitening:
    """A fitted, shrunk ZCA whitening ``x -> W (x - mean)``; apply it with :meth:`apply`.

    ``W = C_s^{-1/2}`` with ``C_s = (1 - a) C + a m I`` (``C`` the pooled sample covariance, ``m``
    its mean eigenvalue ``tr(C) / d``, ``a`` = ``shrinkage``): Ledoit-Wolf shrinkage towards a
    scaled identity. ``C_s`` is full rank for any ``a > 0``, so whitening is defined when
    ``n < d``: the ``r = min(n, d)`` sample principal directions (``components``) are rescaled by
    ``1 / sqrt((1 - a) lambda_i + a m)`` and everything orthogonal to them by
    ``1 / sqrt(a m)``. Language labels are not used (the statistics pool every language), so this
    removes shared anisotropy, not language offsets one by one.
    """

    mean: np.ndarray  # (d,)
    components: np.ndarray  # (r, d), orthonormal rows
    scales: np.ndarray  # (r,)
    rest_scale: float
    shrinkage: float
    shrinkage_method: str
    n: int

    def apply(self, emb: Embeddings) -> dict[str, np.ndarray]:
        """Whitened float32 copies of every language (inputs untouched)."""
        langs = check_embeddings(emb)
        d = self.mean.shape[0]
        out = {}
        for lang in langs:
            z = _f64(emb[lang]) - self.mean
            if z.shape[1] != d:
                raise ValueError(f"whitening fitted on d={d}, {lang!r} has d={z.shape[1]}")
            proj = z @ self.components.T
            white = self.rest_scale * z + (proj * (self.scales - self.rest_scale)) @ self.components
            out[lang] = white.astype(np.float32)
        return out

    def describe(self) -> dict[str, Any]:
        return {
            "kind": "ZCA, shrunk towards a scaled identity",
            "shrinkage": self.shrinkage,
            "shrinkage_method": self.shrinkage_method,
            "shrinkage_floor": SHRINKAGE_FLOOR,
            "n": self.n,
            "d": int(self.mean.shape[0]),
            "rank": int(self.components.shape[0]),
        }


def ledoit_wolf_shrinkage(z: np.ndarray) -> float:
    """Ledoit-Wolf shrinkage of centred rows ``z`` (n, d); scikit-learn's formula, O(n^2 d).

    Uses the Gram matrix ``z z^T`` instead of the ``d x d`` covariance, so it stays cheap when
    ``n << d``.
    """
    n, d = z.shape
    gram = z @ z.T
    sq_norms = np.diag(gram)
    mu = float(sq_norms.sum()) / (n * d)  # tr(S) / d, S = z^T z / n
    s_fro2 = float((gram**2).sum()) / n**2  # ||S||_F^2
    beta = (float((sq_norms**2).sum()) / n - s_fro2) / (d * n)
    delta = (s_fro2 - d * mu**2) / d
    if delta <= 0:
        return 1.0  # already a scaled identity
    return float(min(max(beta, 0.0), delta) / delta)


def _principal_directions(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Squared singular values and right singular vectors (rows) of ``z``, largest first.

    An eigendecomposition of the smaller of ``z z^T`` and ``z^T z`` (about 2x faster than an SVD
    here); directions with a squared singular value below 1e-12 of the largest are dropped (they
    fall in the shrunk remainder).
    """
    n, d = z.shape
    if n > d:
        sq, v = np.linalg.eigh(z.T @ z)
        order = np.argsort(sq)[::-1]
        return np.clip(sq[order], 0.0, None), v[:, order].T
    sq, u = np.linalg.eigh(z @ z.T)
    order = np.argsort(sq)[::-1]
    sq, u = sq[order], u[:, order]
    keep = sq > 1e-12 * max(float(sq[0]), 0.0)
    sq, u = sq[keep], u[:, keep]
    vt = (u.T @ z) / np.sqrt(sq)[:, None]
    return sq, vt


def fit_whitening(
    emb: Embeddings,
    languages: Sequence[str] | None = None,
    *,
    shrinkage: float | str = "ledoit-wolf",
) -> Whitening:
    """Shrunk ZCA whitening estimated on ``emb`` only (give it the held-out split for fairness).

    Mean and covariance pool every language's rows. ``shrinkage`` is a float in [0, 1] or
    ``"ledoit-wolf"`` (our default, estimated from the same rows); the value used is floored at
    :data:`SHRINKAGE_FLOOR` so that it is defined for ``n < d``, and recorded.
    """
    langs = check_embeddings(emb, languages)
    x = np.concatenate([_f64(emb[lang]) for lang in langs])
    if x.shape[0] < 2:
        raise ValueError("whitening needs at least two rows")
    mean = x.mean(axis=0)
    z = x - mean
    n, d = z.shape
    if shrinkage == "ledoit-wolf":
        alpha, method = ledoit_wolf_shrinkage(z), "ledoit-wolf"
    elif isinstance(shrinkage, int | float) and not isinstance(shrinkage, bool):
        if not 0.0 <= float(shrinkage) <= 1.0:
            raise ValueError(f"shrinkage must be in [0, 1], got {shrinkage}")
        alpha, method = float(shrinkage), "fixed"
    else:
        raise ValueError(f"shrinkage must be a float in [0, 1] or 'ledoit-wolf', got {shrinkage!r}")
    alpha = max(alpha, SHRINKAGE_FLOOR)
    sq, vt = _principal_directions(z)
    eig = sq / n
    m = float(np.einsum("ij,ij->", z, z)) / (n * d)  # tr(C) / d
    if not m > 0:
        raise ValueError("whitening undefined: every row is the same vector")
    shrunk = (1.0 - alpha) * eig + alpha * m
    return Whitening(
        mean=mean,
        components=vt,
        scales=1.0 / np.sqrt(shrunk),
        rest_scale=float(1.0 / np.sqrt(alpha * m)),
        shrinkage=alpha,
        shrinkage_method=method,
        n=int(n),
    )


def _pair_key(pair: Pair) -> str:
    return f"{pair[0]}|{pair[1]}"


def _mean(values: Iterable[float]) -> float:
    vals = list(values)
    return float(np.mean(vals)) if vals else float("nan")


def _space_summary(emb: Embeddings, target: str, langs: list[str], prefix: str) -> dict[str, Any]:
    cen = centroid_distances(emb, langs)
    par = parallel_distances(emb, langs)
    try:
        med: str | None = _medoid_of_table(cen, langs, "centroid")
    except ValueError:  # all centroids zero (per-language centred): no medoid, say so with NaNs
        med = None
    nan = float("nan")
    to_med = {lang: pair_value(cen, lang, med) if med else nan for lang in langs}
    to_tgt = {lang: pair_value(cen, lang, target) for lang in langs}
    to_tgt_par = {lang: pair_value(par, lang, target) for lang in langs}
    others = [lang for lang in langs if lang not in (target, med)]
    out: dict[str, Any] = {
        f"{prefix}.mean_pairwise_centroid": _mean(cen.values()),
        f"{prefix}.mean_pairwise_parallel": _mean(par.values()),
        f"{prefix}.medoid": med if med is not None else "",
        f"{prefix}.mean_to_medoid_nontarget": _mean(to_med[lang] for lang in others),
        f"{prefix}.mean_to_target_centroid": _mean(to_tgt[x] for x in langs if x != target),
        f"{prefix}.mean_to_target_parallel": _mean(to_tgt_par[x] for x in langs if x != target),
        f"{prefix}.mean_cosine": mean_cosine(emb),
    }
    out.update({f"{prefix}.to_medoid.{lang}": v for lang, v in to_med.items()})
    out.update({f"{prefix}.to_target.{lang}": v for lang, v in to_tgt.items()})
    out.update({f"{prefix}.to_target_parallel.{lang}": v for lang, v in to_tgt_par.items()})
    out.update({f"{prefix}.centroid.{_pair_key(p)}": v for p, v in cen.items()})
    out.update({f"{prefix}.parallel.{_pair_key(p)}": v for p, v in par.items()})
    return out


def geometry_summary(
    emb_pre: Embeddings,
    emb_post: Embeddings,
    target: str,
    languages: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Table 1 before and after, as one flat dict.

    Keys: ``{pre,post}.mean_pairwise_centroid``, ``.mean_pairwise_parallel``, ``.medoid`` (a
    language code; "" if undefined), ``.mean_to_medoid_nontarget`` (mean over languages that are
    neither the target nor the medoid), ``.mean_to_target_{centroid,parallel}`` (target excluded),
    ``.mean_cosine``, per-language ``.to_medoid.<lang>``, ``.to_target.<lang>``,
    ``.to_target_parallel.<lang>``, per-pair ``.centroid.<a>|<b>`` and ``.parallel.<a>|<b>``; and
    ``delta.<key>`` = post - pre for every numeric summary key. The post medoid is computed on the
    post embeddings (the paper's "new space"), so ``post.to_medoid`` measures distances to it.
    """
    langs = check_embeddings(emb_pre, languages)
    check_embeddings(emb_post, langs)
    if target not in langs:
        raise ValueError(f"target {target!r} not among the languages {langs}")
    pre = _space_summary(emb_pre, target, langs, "pre")
    post = _space_summary(emb_post, target, langs, "post")
    out = {**pre, **post}
    for key, v_pre in pre.items():
        name = key.split(".", 1)[1]
        v_post = post[f"post.{name}"]
        if name.count(".") == 0 and isinstance(v_pre, float):
            out[f"delta.{name}"] = v_post - v_pre
    return out


def select_layer(emb: Embeddings, layer: int) -> dict[str, np.ndarray]:
    """``{lang: (n, n_layers, d)}`` -> ``{lang: (n, d)}`` for one layer (negative indices work)."""
    out = {}
    for lang, x in emb.items():
        if np.ndim(x) != 3:
            raise ValueError(f"expected (n, n_layers, d) for {lang!r}, got shape {np.shape(x)}")
        out[lang] = np.asarray(x)[:, layer, :]
    return out


def map_layers(
    fn: Callable[..., Any],
    *embs: Embeddings,
    layers: Iterable[int] | None = None,
    **kwargs: Any,
) -> dict[int, Any]:
    """Apply a one-layer function to every layer: ``fn(*[emb at layer l], **kwargs)`` per layer.

    Example: ``map_layers(geometry_summary, pre, post, target="spa_Latn")``.
    """
    if not embs:
        raise ValueError("no embeddings given")
    first = next(iter(embs[0].values()))
    if np.ndim(first) != 3:
        raise ValueError(f"expected (n, n_layers, d) arrays, got shape {np.shape(first)}")
    n_layers = np.shape(first)[1]
    chosen = range(n_layers) if layers is None else layers
    return {int(layer): fn(*(select_layer(e, layer) for e in embs), **kwargs) for layer in chosen}


def flatten_layers(per_layer: Mapping[int, Mapping[str, Any]]) -> dict[str, Any]:
    """``{layer: {key: v}}`` -> ``{"layer<l>.<key>": v}``, one flat dict for a results file."""
    return {f"layer{layer}.{k}": v for layer, res in per_layer.items() for k, v in res.items()}
