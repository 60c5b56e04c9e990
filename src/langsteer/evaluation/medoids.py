"""The medoid of a sentence-embedding space (paper Table 1's "distance to the medoid").

Two named definitions (:data:`~langsteer.evaluation.geometry.MEDOID_DEFINITIONS`), because the
paper does not spell its medoid out: ``"point"`` (default, our reading of the paper's "medoid of
the space") is one sentence embedding, the point of the pooled space with the smallest summed
cosine distance to all the other points; ``"centroid-language"`` is the language whose centroid
has the smallest summed centroid distance to the other centroids (this package's earlier
definition). The point medoid is exact in float64 without an ``N x N`` matrix (see
:func:`summed_point_distances`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from langsteer.evaluation.geometry import (
    MEDOID_VARIANTS,
    Embeddings,
    Kind,
    MedoidVariant,
    Pair,
    check_embeddings,
    distance_to_target,
    pair_table,
    pair_value,
)

# Work arrays are processed in blocks of about this many float64 elements (32 MiB).
_BLOCK_ELEMENTS = 1 << 22


def _f64(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


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


def check_medoid_variant(variant: str) -> None:
    """Refuse a medoid definition that is not one of :data:`MEDOID_VARIANTS`."""
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
    return medoid_of_table(pair_table(emb, kind, langs), langs, kind)[0]


def medoid_of_table(table: Mapping[Pair, float], langs: list[str], kind: str) -> tuple[str, float]:
    """``(language, summed distance)`` of the language medoid of a pair table already computed."""
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
    """The medoid of the space under ``variant`` (one of ``MEDOID_DEFINITIONS``).

    ``"point"`` (default): :func:`point_medoid`. ``"centroid-language"``: the language of
    :func:`centroid_language_medoid` with ``kind`` (default ``"centroid"``); ``kind`` applies to
    that variant only. Raises when the medoid is undefined (all rows / all centroids zero).
    """
    check_medoid_variant(variant)
    langs = check_embeddings(emb, languages)
    if variant == "point":
        if kind is not None:
            raise ValueError("kind applies to the 'centroid-language' medoid only")
        return point_medoid(emb, langs, block_rows=block_rows)
    kind = "centroid" if kind is None else kind
    lang, total = medoid_of_table(pair_table(emb, kind, langs), langs, kind)
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
