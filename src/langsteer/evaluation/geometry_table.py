"""The geometry table of a space (paper Table 1): one flat dict, or its means only per layer.

:func:`geometry_summary` is Table 1 before and after an intervention (every language, every pair,
the medoid, the deltas); :func:`geometry_means` is the same language-level geometry reduced to
three means (:data:`GEOMETRY_QUANTITIES`), cheap enough to record at every layer for every
(space, embedding method) of a comparison.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from langsteer.evaluation.geometry import (
    Embeddings,
    Pair,
    centroid_distances,
    check_embeddings,
    mean_cosine,
    pair_value,
    parallel_distances,
)
from langsteer.evaluation.medoids import (
    Medoid,
    MedoidVariant,
    check_medoid_variant,
    distance_to_point,
    medoid_of_table,
    point_medoid,
)

GEOMETRY_QUANTITIES = {
    "mean_pairwise_centroid": "mean cosine distance between language centroids, all pairs",
    "mean_to_medoid": (
        "mean over every language but the target (when given) of its distance to the medoid of "
        "that space (see MEDOID_DEFINITIONS; default: the sentence embedding with the smallest "
        "summed cosine distance to all others, languages pooled)"
    ),
    "mean_pairwise_parallel": "mean cosine distance between a sentence and its translation",
}


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
    check_medoid_variant(variant)
    nan = float("nan")
    try:
        if variant == "point":
            med = point_medoid(emb, langs, block_rows=block_rows)
        else:  # reuse the centroid table already computed
            lang, total = medoid_of_table(cen, langs, "centroid")
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
    check_medoid_variant(medoid)
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


def geometry_means(
    space: Embeddings,
    target: str | None = None,
    languages: Sequence[str] | None = None,
    *,
    medoid: MedoidVariant = "point",
) -> dict[str, float]:
    """The language-level geometry of one space as means only (see :data:`GEOMETRY_QUANTITIES`).

    ``mean_to_medoid`` is :func:`geometry_summary`'s ``mean_to_medoid_nontarget``: the mean over
    every language except ``target`` (when given) of its distance to the medoid of this space,
    with ``medoid`` = ``"point"`` (default) or ``"centroid-language"`` (the medoid language
    counts, at 0); NaN where the medoid is undefined (all rows, or all centroids, zero).
    """
    check_medoid_variant(medoid)
    langs = check_embeddings(space, languages)
    cen = centroid_distances(space, langs)
    par = parallel_distances(space, langs)
    _, to_med = _medoid_summary(space, langs, cen, medoid, None)
    return {
        "mean_pairwise_centroid": _mean(cen.values()),
        "mean_to_medoid": _mean(to_med[lang] for lang in langs if lang != target),
        "mean_pairwise_parallel": _mean(par.values()),
    }
