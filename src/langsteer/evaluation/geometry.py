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

The medoid of a space (its definitions, :data:`MEDOID_DEFINITIONS`, are here) is computed in
:mod:`langsteer.evaluation.medoids`, the Table 1 summary built from all of these in
:mod:`langsteer.evaluation.geometry_table`. Every per-layer quantity is
computed on one layer ``(n, d)``; :func:`map_layers` loops layers of ``(n, n_layers, d)`` arrays.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Literal

import numpy as np

Embeddings = Mapping[str, np.ndarray]
Pair = tuple[str, str]
Kind = Literal["centroid", "parallel"]
CenterMode = Literal["none", "global", "per-language"]
# The medoid's two named definitions (computed in :mod:`langsteer.evaluation.medoids`).
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


def pair_table(emb: Embeddings, kind: Kind, languages: Sequence[str] | None) -> dict[Pair, float]:
    """:func:`centroid_distances` or :func:`parallel_distances`, by ``kind``."""
    if kind == "centroid":
        return centroid_distances(emb, languages)
    if kind == "parallel":
        return parallel_distances(emb, languages)
    raise ValueError(f"kind must be 'centroid' or 'parallel', got {kind!r}")


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
