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

The **medoid** of a space (Table 1's "distance to the medoid") has two named variants
(:data:`MEDOID_DEFINITIONS`): ``"point"`` (default, our reading of the paper's "medoid of the
space") is one sentence embedding, the point of the pooled space with the smallest summed cosine
distance to all the other points; ``"centroid-language"`` is the language whose centroid has the
smallest summed centroid distance to the other centroids (this package's earlier definition).

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
MedoidVariant = Literal["point", "centroid-language"]
MEDOID_VARIANTS: tuple[str, ...] = ("point", "centroid-language")
MEDOID_DEFINITIONS = {
    "point": (
        "medoid = the sentence embedding (any language, any sentence) with the smallest summed "
        "cosine distance to all the other sentence embeddings of that space, all languages pooled "
        "(zero rows excluded); a language's distance to it = mean over that language's sentences "
        "of the cosine distance to that point"
    ),
    "centroid-language": (
        "medoid = the language whose raw-mean centroid has the smallest summed cosine distance to "
        "the other languages' centroids; a language's distance to it = cosine distance between "
        "the two centroids (0 for the medoid language itself)"
    ),
}

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


@dataclass(frozen=True, eq=False)
class Medoid:
    """The medoid of one space, and which definition (``variant``) produced it.

    ``"point"``: ``language`` and ``index`` (row = sentence id) name the sentence embedding,
    ``vector`` is its raw float64 copy, ``summed_distance`` its summed cosine distance to all the
    other (non-zero) points. ``"centroid-language"``: ``language`` is the medoid language,
    ``index`` and ``vector`` are None, ``summed_distance`` its summed distance to the other
    languages (of the ``kind`` used, centroid or parallel).
    """

    variant: str
    language: str
    index: int | None
    vector: np.ndarray | None
    summed_distance: float

    def describe(self) -> str:
        """``"fra_Latn #12"`` for a point (language, row), the language code otherwise."""
        return self.language if self.index is None else f"{self.language} #{self.index}"


def _check_medoid_variant(variant: str) -> None:
    if variant not in MEDOID_VARIANTS:
        raise ValueError(f"medoid variant must be one of {MEDOID_VARIANTS}, got {variant!r}")


def _unit_rows_valid(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit rows in float64 with zero or non-finite rows set to 0, and the mask of valid rows."""
    x = _f64(x)
    norms = np.linalg.norm(x, axis=1)
    valid = np.isfinite(norms) & (norms > 0)
    unit = np.zeros_like(x)
    unit[valid] = x[valid] / norms[valid, None]
    return unit, valid


def _rows_per_block(d: int, block_rows: int | None) -> int:
    if block_rows is None:
        return max(1, _BLOCK_ELEMENTS // max(d, 1))
    if block_rows < 1:
        raise ValueError(f"block_rows must be >= 1, got {block_rows}")
    return int(block_rows)


def summed_point_distances(
    emb: Embeddings, languages: Sequence[str] | None = None, *, block_rows: int | None = None
) -> dict[str, np.ndarray]:
    """Per sentence embedding, its summed cosine distance to every other point of the space.

    All languages are pooled: point ``(l, i)`` is compared with every row of every language but
    itself. Zero (or non-finite) rows have an undefined cosine: they get NaN and are left out of
    everyone else's sum. Exact in float64 without an ``N x N`` matrix: with unit rows ``u`` and
    ``S`` the sum of all valid unit rows, ``sum_{j != i} (1 - u_i . u_j) = (N - 1) -
    (u_i . S - u_i . u_i)``; two passes over blocks of ``block_rows`` rows (default: about
    32 MiB of float64 per block), O(N d) time and O(block d) memory.
    """
    langs = check_embeddings(emb, languages)
    n, d = np.shape(emb[langs[0]])
    step = _rows_per_block(d, block_rows)
    total, count = np.zeros(d), 0
    for lang in langs:
        for start in range(0, n, step):
            unit, valid = _unit_rows_valid(np.asarray(emb[lang])[start : start + step])
            total += unit.sum(axis=0)
            count += int(valid.sum())
    out = {}
    for lang in langs:
        sums = np.empty(n)
        for start in range(0, n, step):
            unit, valid = _unit_rows_valid(np.asarray(emb[lang])[start : start + step])
            self_dot = np.einsum("ij,ij->i", unit, unit)
            block = (count - 1) - (unit @ total - self_dot)
            sums[start : start + step] = np.where(valid, block, np.nan)
        out[lang] = sums
    return out


def point_medoid(
    emb: Embeddings, languages: Sequence[str] | None = None, *, block_rows: int | None = None
) -> Medoid:
    """The paper's medoid (our reading): the sentence embedding closest to all the others.

    The point ``(language, row)`` with the smallest :func:`summed_point_distances`, all languages
    pooled; the first in (language order, row) order on exact ties. Raises when every row is zero.
    """
    langs = check_embeddings(emb, languages)
    n = np.shape(emb[langs[0]])[0]
    sums = summed_point_distances(emb, langs, block_rows=block_rows)
    flat = np.concatenate([sums[lang] for lang in langs])
    if np.all(np.isnan(flat)):
        raise ValueError("medoid undefined: every sentence embedding is zero")
    k = int(np.nanargmin(flat))
    lang, row = langs[k // n], k % n
    vector = _f64(np.asarray(emb[lang])[row]).copy()
    return Medoid("point", lang, int(row), vector, float(flat[k]))


def centroid_language_medoid(
    emb: Embeddings, languages: Sequence[str] | None = None, kind: Kind = "centroid"
) -> str:
    """Language with the smallest summed distance to all others (first one on exact ties).

    The ``"centroid-language"`` medoid variant. NaN distances make the sum NaN; if every language
    is NaN (e.g. after per-language centring with ``kind="centroid"``) there is no medoid and we
    raise rather than pick arbitrarily.
    """
    langs = check_embeddings(emb, languages)
    return _language_medoid_of_table(_pair_table(emb, kind, langs), langs, kind)[0]


def _language_medoid_of_table(
    table: Mapping[Pair, float], langs: list[str], kind: str
) -> tuple[str, float]:
    if len(langs) == 1:
        return langs[0], 0.0
    sums = np.array([sum(pair_value(table, a, b) for b in langs if b != a) for a in langs])
    if np.all(np.isnan(sums)):
        raise ValueError(f"medoid undefined: all {kind} distances are NaN (zero centroids?)")
    k = int(np.nanargmin(sums))
    return langs[k], float(sums[k])


def medoid(
    emb: Embeddings,
    languages: Sequence[str] | None = None,
    kind: Kind | None = None,
    *,
    variant: MedoidVariant = "point",
    block_rows: int | None = None,
) -> Medoid:
    """The medoid of the space under ``variant`` (see :data:`MEDOID_DEFINITIONS`).

    ``"point"`` (default): :func:`point_medoid`. ``"centroid-language"``: the language of
    :func:`centroid_language_medoid` with ``kind`` (default ``"centroid"``); ``kind`` applies to
    that variant only. Raises when the medoid is undefined (all rows / all centroids zero).
    """
    _check_medoid_variant(variant)
    langs = check_embeddings(emb, languages)
    if variant == "point":
        if kind is not None:
            raise ValueError("kind applies to the 'centroid-language' medoid only")
        return point_medoid(emb, langs, block_rows=block_rows)
    kind = "centroid" if kind is None else kind
    lang, total = _language_medoid_of_table(_pair_table(emb, kind, langs), langs, kind)
    return Medoid("centroid-language", lang, None, None, total)


_medoid = medoid  # distance_to_medoid's argument is also called ``medoid``


def distance_to_point(
    emb: Embeddings,
    point: np.ndarray,
    languages: Sequence[str] | None = None,
    *,
    block_rows: int | None = None,
) -> dict[str, float]:
    """Per language, mean over its sentences of the cosine distance to one vector ``point``.

    Zero rows (undefined cosine) are left out of their language's mean; NaN for a language with
    no valid row, and for every language when ``point`` is zero.
    """
    langs = check_embeddings(emb, languages)
    n, d = np.shape(emb[langs[0]])
    p = _f64(point).reshape(-1)
    norm = float(np.linalg.norm(p))
    if p.shape != (d,):
        raise ValueError(f"point must have shape ({d},), got {p.shape}")
    if not (np.isfinite(norm) and norm > 0):
        return {lang: float("nan") for lang in langs}
    p = p / norm
    step = _rows_per_block(d, block_rows)
    out = {}
    for lang in langs:
        total, count = 0.0, 0
        for start in range(0, n, step):
            unit, valid = _unit_rows_valid(np.asarray(emb[lang])[start : start + step])
            total += float((1.0 - unit[valid] @ p).sum())
            count += int(valid.sum())
        out[lang] = total / count if count else float("nan")
    return out


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
    medoid: Medoid | str | None = None,
    languages: Sequence[str] | None = None,
    kind: Kind | None = None,
    *,
    variant: MedoidVariant = "point",
    block_rows: int | None = None,
) -> dict[str, float]:
    """Distance of every language to the medoid of *this* space (computed here if not given).

    ``medoid`` None: computed with ``variant`` (and ``kind`` for ``"centroid-language"``). A
    ``"point"`` :class:`Medoid`: per language, mean over its sentences of the cosine distance to
    that point (:func:`distance_to_point`). A language code or a ``"centroid-language"``
    :class:`Medoid`: :func:`distance_to_target` to that language with ``kind`` (default
    ``"centroid"``), so the medoid language itself is at 0.
    """
    langs = check_embeddings(emb, languages)
    if medoid is None:
        medoid = _medoid(emb, langs, kind, variant=variant, block_rows=block_rows)
    if isinstance(medoid, Medoid) and medoid.variant == "point":
        if kind is not None:
            raise ValueError("kind applies to the 'centroid-language' medoid only")
        assert medoid.vector is not None
        return distance_to_point(emb, medoid.vector, langs, block_rows=block_rows)
    lang = medoid.language if isinstance(medoid, Medoid) else medoid
    return distance_to_target(emb, lang, langs, kind="centroid" if kind is None else kind)


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


def _medoid_summary(
    emb: Embeddings,
    langs: list[str],
    cen: Mapping[Pair, float],
    variant: str,
    block_rows: int | None,
) -> tuple[Medoid | None, dict[str, float]]:
    """The medoid of one space and every language's distance to it; (None, NaNs) if undefined."""
    _check_medoid_variant(variant)
    nan = float("nan")
    try:
        if variant == "point":
            med = point_medoid(emb, langs, block_rows=block_rows)
        else:  # reuse the centroid table already computed
            lang, total = _language_medoid_of_table(cen, langs, "centroid")
            med = Medoid("centroid-language", lang, None, None, total)
    except ValueError:  # all rows / all centroids zero: no medoid, say so with NaNs
        return None, {lang: nan for lang in langs}
    if med.vector is not None:
        return med, distance_to_point(emb, med.vector, langs, block_rows=block_rows)
    return med, {lang: pair_value(cen, lang, med.language) for lang in langs}


def _space_summary(
    emb: Embeddings,
    target: str,
    langs: list[str],
    prefix: str,
    medoid_variant: str = "point",
    block_rows: int | None = None,
) -> dict[str, Any]:
    cen = centroid_distances(emb, langs)
    par = parallel_distances(emb, langs)
    med, to_med = _medoid_summary(emb, langs, cen, medoid_variant, block_rows)
    to_tgt = {lang: pair_value(cen, lang, target) for lang in langs}
    to_tgt_par = {lang: pair_value(par, lang, target) for lang in langs}
    nontarget = [lang for lang in langs if lang != target]
    out: dict[str, Any] = {
        f"{prefix}.mean_pairwise_centroid": _mean(cen.values()),
        f"{prefix}.mean_pairwise_parallel": _mean(par.values()),
        f"{prefix}.medoid": med.describe() if med is not None else "",
        f"{prefix}.medoid_language": med.language if med is not None else "",
        f"{prefix}.medoid_index": "" if med is None or med.index is None else str(med.index),
        f"{prefix}.mean_to_medoid_nontarget": _mean(to_med[lang] for lang in nontarget),
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
    *,
    medoid: MedoidVariant = "point",
    block_rows: int | None = None,
) -> dict[str, Any]:
    """Table 1 before and after, as one flat dict.

    ``medoid`` picks the medoid definition (:data:`MEDOID_DEFINITIONS`): ``"point"`` (default,
    our reading of the paper: the sentence embedding with the smallest summed cosine distance to
    all others, languages pooled) or ``"centroid-language"`` (the language whose centroid is
    closest to the other centroids); it is recorded as ``variant.medoid``.

    Keys: ``{pre,post}.mean_pairwise_centroid``, ``.mean_pairwise_parallel``, ``.medoid`` (a
    description: ``"fra_Latn #12"`` = row 12 of fra_Latn for ``"point"``, a language code for
    ``"centroid-language"``; "" if undefined), ``.medoid_language``, ``.medoid_index`` (the row
    as a string, an identifier like the others; "" for ``"centroid-language"`` or if undefined),
    ``.mean_to_medoid_nontarget`` (mean of ``.to_medoid.<lang>`` over every language except the
    target; with ``"centroid-language"`` the medoid language counts, at distance 0),
    ``.mean_to_target_{centroid,parallel}`` (target excluded), ``.mean_cosine``, per-language
    ``.to_medoid.<lang>`` (``"point"``: mean over the language's sentences of the cosine distance
    to the medoid point; ``"centroid-language"``: centroid distance to the medoid language),
    ``.to_target.<lang>``, ``.to_target_parallel.<lang>``, per-pair ``.centroid.<a>|<b>`` and
    ``.parallel.<a>|<b>``; ``variant.medoid``; and ``delta.<key>`` = post - pre for every float
    summary key. The post medoid is computed on the post embeddings (the paper's "new space"), so
    ``post.to_medoid`` measures distances to it.
    """
    _check_medoid_variant(medoid)
    langs = check_embeddings(emb_pre, languages)
    check_embeddings(emb_post, langs)
    if target not in langs:
        raise ValueError(f"target {target!r} not among the languages {langs}")
    pre = _space_summary(emb_pre, target, langs, "pre", medoid, block_rows)
    post = _space_summary(emb_post, target, langs, "post", medoid, block_rows)
    out = {**pre, **post}
    for key, v_pre in pre.items():
        name = key.split(".", 1)[1]
        v_post = post[f"post.{name}"]
        if name.count(".") == 0 and isinstance(v_pre, float):
            out[f"delta.{name}"] = v_post - v_pre
    out["variant.medoid"] = medoid
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
