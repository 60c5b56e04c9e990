"""Controls that can explain away a retrieval gain, and a verdict that says which one wins.

A rise in raw cross-lingual top-1 after forcing "language experts" can come from things that need
no intervention at all: removing each language's mean offset (per-language centring), removing the
shared mean (global centring, anisotropy), reading a better layer of the same model, or forcing
*random* units to the same values. This module scores every sentence under each of those controls
and compares the intervention with them on the SAME sentence ids, with a paired bootstrap.

Per-sentence scores (:func:`sentence_scores`) are the share of ordered language pairs in which a
sentence is retrieved (strict ties count as wrong, see :mod:`langsteer.metrics.retrieval`); their
mean is the mean top-1 of :class:`~langsteer.evaluation.evaluators.BitextRetrievalEvaluator` with
the same settings, so the bootstrap resamples exactly the number that is reported.

Held-out means must come from sentences that are not evaluated: means estimated on the evaluated
sentences themselves are an optimistic bound (they use the test set) and are labelled as such.
The same holds for whitening (shrunk ZCA, :func:`~langsteer.evaluation.geometry.fit_whitening`):
``whitening_heldout`` is fitted on the held-out split, ``whitening_optimistic`` on the evaluated
sentences. :func:`per_layer_controls` gives every control's mean top-1 and mean geometry at every
hidden state; :func:`pick_controls` chooses the controls a verdict competes with, falling back to
the optimistic ones, with :data:`NO_HELDOUT_NOTE`, when there is no held-out split.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from langsteer.evaluation.geometry import (
    MEDOID_DEFINITIONS,
    MEDOID_VARIANTS,
    CenterMode,
    Embeddings,
    MedoidVariant,
    Whitening,
    center,
    centroid_distances,
    check_embeddings,
    distance_to_medoid,
    fit_whitening,
    medoid,
    parallel_distances,
    select_layer,
)
from langsteer.metrics.retrieval import pairwise_top1

CONTROLS = (
    "raw",
    "global",
    "per_language_heldout",
    "per_language_optimistic",
    "whitening_heldout",
    "whitening_optimistic",
)
CONTROL_LABELS = {
    "raw": "raw",
    "global": "global centring",
    "per_language_heldout": "per-language centring, held-out means",
    "per_language_optimistic": "per-language centring, evaluated means (optimistic)",
    "whitening_heldout": "whitening, held-out estimate",
    "whitening_optimistic": "whitening, evaluated estimate (optimistic)",
}
# The controls a verdict may compete with: the fair ones, or (no held-out split) the optimistic.
FAIR_CONTROLS = ("raw", "global", "per_language_heldout", "whitening_heldout")
FALLBACK_CONTROLS = ("raw", "global", "per_language_optimistic", "whitening_optimistic")
NO_HELDOUT_NOTE = (
    "no held-out split: compared with OPTIMISTIC in-sample centring and whitening (means and "
    "covariance estimated on the evaluated sentences themselves; a held-out split, "
    "corpus.n_center, gives the fair version)"
)
# Geometry under each control (per_language_optimistic is left out: its centroids are exactly 0,
# so every centroid distance is undefined).
GEOMETRY_CONTROLS = (
    "raw",
    "global",
    "per_language_heldout",
    "whitening_heldout",
    "whitening_optimistic",
)
GEOMETRY_QUANTITIES = {
    "mean_pairwise_centroid": "mean cosine distance between language centroids, all pairs",
    "mean_to_medoid": (
        "mean over every language but the target (when given) of the mean cosine distance of its "
        "sentences to the medoid of that space, the sentence embedding (any language) with the "
        "smallest summed cosine distance to all others, languages pooled"
    ),
    "mean_pairwise_parallel": "mean cosine distance between a sentence and its translation",
}
# ``mean_to_medoid`` under the other medoid variant (``medoid="centroid-language"``).
MEAN_TO_MEDOID_CENTROID_LANGUAGE = (
    "mean over every language but the target (when given) of the cosine distance of its centroid "
    "to the medoid language of that space (the language whose centroid is closest to the other "
    "centroids; it counts, at distance 0)"
)
LAYER_NUMBERING = (
    "hidden-state index: list position i = hidden state i; 0 = token embeddings, i = output of "
    "decoder block i (1-based), the last entry = the last layer"
)
DEFINITIONS = {
    "raw": "no centring: cosine top-1 on the vectors as they are",
    "global": (
        "one mean over all languages and evaluated sentences of this space subtracted "
        "(anisotropy removal; a single shared vector, so it cannot align languages)"
    ),
    "per_language_heldout": (
        "each language's mean, estimated on a held-out split that is not evaluated, subtracted: "
        "the fair offset-removal control that needs no intervention"
    ),
    "per_language_optimistic": (
        "each language's mean over the evaluated sentences themselves subtracted: an OPTIMISTIC "
        "bound, since the means see the test sentences"
    ),
    "whitening_heldout": (
        "ZCA whitening, mean and covariance pooled over all languages of a held-out split that is "
        "not evaluated, covariance shrunk towards a scaled identity (Ledoit-Wolf by default, "
        "floored at 1e-3) so it is defined with fewer sentences than dimensions: anisotropy "
        "removal beyond global centring, with no language labels"
    ),
    "whitening_optimistic": (
        "the same whitening estimated on the evaluated sentences themselves: an OPTIMISTIC "
        "bound, since the covariance sees the test sentences"
    ),
    "sentence score": (
        "share of ordered language pairs (query, candidate) in which the sentence, as query, "
        "retrieves its translation; strict ties are errors"
    ),
}
_RESERVED = {"definitions", "notes", "variant", "scores", "whitening"}
# Bootstrap means are computed in blocks of about this many elements to bound memory.
_BLOCK_ELEMENTS = 1 << 22
# Held-out means this close to the evaluated sentences' own means mean they were not held out.
_LEAK_RTOL = 1e-9


def sentence_scores(
    space: Embeddings,
    *,
    centering: CenterMode = "none",
    means: Mapping[str, np.ndarray] | np.ndarray | None = None,
    languages: Sequence[str] | None = None,
    query_languages: Sequence[str] | None = None,
    direction: str = "forward",
    scoring: str = "cosine",
    margin_k: int = 4,
) -> np.ndarray:
    """Per sentence id, the share of ordered pairs ``(q, c)``, ``q != c``, it is retrieved in.

    Why per sentence: a paired bootstrap over sentence ids needs one number per id whose mean is
    the reported mean top-1. Pairs and centring follow ``BitextRetrievalEvaluator`` exactly
    (queries in ``query_languages``, candidates in ``languages``; global means over both).
    """
    langs = check_embeddings(space, languages)
    queries = langs if query_languages is None else list(query_languages)
    missing = [q for q in queries if q not in space]
    if missing:
        raise ValueError(f"query languages missing from the space: {missing}")
    used = list(dict.fromkeys([*langs, *queries]))
    centred = center({lang: space[lang] for lang in used}, centering, means)
    pairs = [(q, c) for q in queries for c in langs if c != q]
    if not pairs:
        raise ValueError("no ordered pair of distinct languages to score")
    results = pairwise_top1(
        centred,
        pairs,
        return_correct=True,
        direction=direction,  # type: ignore[arg-type]
        scoring=scoring,  # type: ignore[arg-type]
        margin_k=margin_k,
    )
    return np.mean([res.item_scores() for res in results.values()], axis=0)


def check_disjoint(eval_ids: Iterable[Any], heldout_ids: Iterable[Any]) -> None:
    """Raise if a held-out sentence is also evaluated: its means would then see the test set."""
    overlap = set(eval_ids) & set(heldout_ids)
    if overlap:
        first = sorted(overlap, key=str)[:5]
        raise ValueError(
            f"{len(overlap)} sentence ids are both evaluated and held out (first: {first}); "
            "held-out means must come from sentences that are never evaluated"
        )


def heldout_means(
    space_heldout: Embeddings,
    languages: Sequence[str] | None = None,
    *,
    eval_ids: Iterable[Any] | None = None,
    heldout_ids: Iterable[Any] | None = None,
) -> dict[str, np.ndarray]:
    """``{lang: float64 mean}`` of the held-out space ONLY (the evaluated space is not an input).

    Taking only the held-out space is the leakage guard: there is no way to pass evaluated
    sentences in. With both id lists given, :func:`check_disjoint` checks the split too.
    """
    if eval_ids is not None and heldout_ids is not None:
        check_disjoint(eval_ids, heldout_ids)
    langs = check_embeddings(space_heldout, languages)
    return {lang: np.asarray(space_heldout[lang], dtype=np.float64).mean(axis=0) for lang in langs}


def _check_not_in_sample(
    name: str, space: Embeddings, means: Mapping[str, Any], langs: list[str]
) -> None:
    """Held-out means equal to the evaluated means can only come from the evaluated sentences."""
    for lang in langs:
        if lang not in means:
            raise ValueError(f"held-out means for {name!r} lack language {lang!r}")
    own = [np.asarray(space[lang], dtype=np.float64).mean(axis=0) for lang in langs]
    given = [np.asarray(means[lang], dtype=np.float64) for lang in langs]
    if all(
        g.shape == o.shape and np.allclose(g, o, rtol=_LEAK_RTOL, atol=0.0)
        for g, o in zip(given, own, strict=True)
    ):
        raise ValueError(
            f"held-out means for {name!r} equal the evaluated sentences' own means: they were "
            "estimated on the evaluated split (use per_language_optimistic for that bound)"
        )


def heldout_whitening(
    space_heldout: Embeddings,
    languages: Sequence[str] | None = None,
    *,
    shrinkage: float | str = "ledoit-wolf",
    eval_ids: Iterable[Any] | None = None,
    heldout_ids: Iterable[Any] | None = None,
) -> Whitening:
    """Whitening fitted on the held-out space ONLY (the evaluated space is not an input).

    The same leakage guard as :func:`heldout_means`: evaluated sentences cannot be passed in, and
    with both id lists given the split is checked too.
    """
    if eval_ids is not None and heldout_ids is not None:
        check_disjoint(eval_ids, heldout_ids)
    return fit_whitening(space_heldout, languages, shrinkage=shrinkage)


def _check_whitening_not_in_sample(
    name: str, space: Embeddings, whitening: Whitening, langs: list[str]
) -> None:
    """A held-out whitening whose mean is the evaluated rows' pooled mean was fitted on them."""
    own = np.concatenate([np.asarray(space[lang], dtype=np.float64) for lang in langs]).mean(0)
    if own.shape == whitening.mean.shape and np.allclose(
        whitening.mean, own, rtol=_LEAK_RTOL, atol=0.0
    ):
        raise ValueError(
            f"held-out whitening for {name!r} has the evaluated sentences' own mean: it was "
            "estimated on the evaluated split (use whitening_optimistic for that bound)"
        )


def _control_spaces(
    name: str,
    space: Embeddings,
    used: list[str],
    means: Mapping[str, np.ndarray] | None,
    whitening: Whitening | None,
    shrinkage: float | str,
    notes: list[str],
    wanted: Sequence[str] = CONTROLS,
) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, Any]]:
    """``{control: transformed space}`` (the ``used`` languages) and the whitening records.

    A held-out control with no held-out estimate is left out and a note says so.
    """
    sub = {lang: space[lang] for lang in used}
    out: dict[str, dict[str, np.ndarray]] = {}
    record: dict[str, Any] = {}
    for control in wanted:
        if control == "raw":
            out[control] = center(sub, "none")
        elif control == "global":
            out[control] = center(sub, "global")
        elif control == "per_language_heldout":
            if means is None:
                notes.append(f"{name}: no held-out means given; per_language_heldout skipped (NaN)")
                continue
            _check_not_in_sample(name, space, means, used)
            out[control] = center(sub, "per-language", {lang: means[lang] for lang in used})
        elif control == "per_language_optimistic":
            out[control] = center(sub, "per-language")
        elif control == "whitening_heldout":
            if whitening is None:
                notes.append(
                    f"{name}: no held-out whitening given; whitening_heldout skipped (NaN)"
                )
                continue
            _check_whitening_not_in_sample(name, space, whitening, used)
            out[control] = whitening.apply(sub)
            record["heldout"] = whitening.describe()
        elif control == "whitening_optimistic":
            fitted = fit_whitening(sub, shrinkage=shrinkage)
            out[control] = fitted.apply(sub)
            record["optimistic"] = fitted.describe()
        else:
            raise ValueError(f"unknown control {control!r}; known: {CONTROLS}")
    return out, record


def _variant_record(variant: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "direction": variant.get("direction", "forward"),
        "scoring": variant.get("scoring", "cosine"),
        "ties": "strict",
        "score": "mean over sentences and ordered language pairs of top-1 correctness",
    }


def _used_languages(space: Embeddings, variant: Mapping[str, Any]) -> list[str]:
    langs = check_embeddings(space, variant.get("languages"))
    return list(dict.fromkeys([*langs, *(variant.get("query_languages") or [])]))


def control_table(
    spaces: Mapping[str, Embeddings],
    *,
    held_out_means: Mapping[str, Mapping[str, np.ndarray] | None] | None = None,
    held_out_whitening: Mapping[str, Whitening | None] | None = None,
    shrinkage: float | str = "ledoit-wolf",
    eval_ids: Iterable[Any] | None = None,
    heldout_ids: Iterable[Any] | None = None,
    return_scores: bool = False,
    **variant: Any,
) -> dict[str, Any]:
    """Mean top-1 of every space (e.g. "pre", "post", "random") under each control.

    Returns ``{space: {<each of CONTROLS>, n}}`` plus ``definitions``, ``notes`` (e.g. held-out
    estimates missing: that entry is NaN), ``variant`` and ``whitening`` (``{space: {heldout,
    optimistic}}``: shrinkage used, n, rank); with ``return_scores``, ``scores`` =
    ``{"<space> (<control label>)": (n,) array}``, ready to pass as baselines to :func:`verdict`.
    ``held_out_means[space]`` (:func:`heldout_means`) and ``held_out_whitening[space]``
    (:func:`heldout_whitening`) must be estimated on that space's held-out split: each space has
    its own offsets. ``shrinkage`` is for the optimistic (in-sample) whitening. ``variant`` goes
    to :func:`sentence_scores` (languages, query_languages, direction, scoring, margin_k).
    """
    bad = _RESERVED & set(spaces)
    if bad:
        raise ValueError(f"space names {sorted(bad)} are reserved for the table's own keys")
    if eval_ids is not None and heldout_ids is not None:
        check_disjoint(eval_ids, heldout_ids)
    held_out_means = held_out_means or {}
    held_out_whitening = held_out_whitening or {}
    out: dict[str, Any] = {}
    notes: list[str] = []
    scores: dict[str, np.ndarray] = {}
    records: dict[str, Any] = {}
    for name, space in spaces.items():
        used = _used_languages(space, variant)
        runs, records[name] = _control_spaces(
            name,
            space,
            used,
            held_out_means.get(name),
            held_out_whitening.get(name),
            shrinkage,
            notes,
        )
        row: dict[str, float] = {}
        for control in CONTROLS:
            if control not in runs:
                row[control] = float("nan")
                continue
            s = sentence_scores(runs[control], **variant)
            row[control] = float(s.mean())
            scores[f"{name} ({CONTROL_LABELS[control]})"] = s
        row["n"] = float(np.shape(space[used[0]])[0])
        out[name] = row
    out["definitions"] = dict(DEFINITIONS)
    out["notes"] = notes
    out["variant"] = _variant_record(variant)
    out["whitening"] = records
    if return_scores:
        out["scores"] = scores
    return out


_medoid_of = medoid  # geometry_means's argument is also called ``medoid``


def _check_medoid(variant: str) -> None:
    if variant not in MEDOID_VARIANTS:
        raise ValueError(f"medoid must be one of {MEDOID_VARIANTS}, got {variant!r}")


def geometry_means(
    space: Embeddings,
    target: str | None = None,
    languages: Sequence[str] | None = None,
    *,
    medoid: MedoidVariant = "point",
) -> dict[str, float]:
    """The language-level geometry of one space as means only (see ``GEOMETRY_QUANTITIES``).

    ``mean_to_medoid`` is the geometry table's ``mean_to_medoid_nontarget``: the mean over every
    language except ``target`` (when given) of its distance to the medoid of this space, with
    ``medoid`` = ``"point"`` (default; :data:`~langsteer.evaluation.geometry.MEDOID_DEFINITIONS`)
    or ``"centroid-language"`` (the medoid language counts, at 0; NaN where centroids are zero).
    """
    _check_medoid(medoid)
    langs = check_embeddings(space, languages)
    cen = centroid_distances(space, langs)
    par = parallel_distances(space, langs)
    nan = float("nan")
    to_med = nan
    others = [x for x in langs if x != target]
    try:
        med = _medoid_of(space, langs, variant=medoid)
    except ValueError:  # undefined (all rows, or all centroids, zero)
        med = None
    if med is not None and others:
        dist = distance_to_medoid(space, med, langs)
        to_med = float(np.mean([dist[x] for x in others]))
    return {
        "mean_pairwise_centroid": float(np.mean(list(cen.values()))) if cen else nan,
        "mean_to_medoid": to_med,
        "mean_pairwise_parallel": float(np.mean(list(par.values()))) if par else nan,
    }


def per_layer_controls(
    spaces: Mapping[str, Embeddings],
    held_out: Mapping[str, Embeddings | None] | None = None,
    *,
    target: str | None = None,
    layers: Iterable[int] | None = None,
    shrinkage: float | str = "ledoit-wolf",
    geometry: bool = True,
    medoid: MedoidVariant = "point",
    **variant: Any,
) -> dict[str, Any]:
    """Mean top-1 and mean geometry of every space under every control, at every layer.

    ``spaces`` / ``held_out``: ``{space: {lang: (n, n_layers, d)}}``; the held-out split of each
    space gives its per-language means and its whitening, layer by layer (never the evaluated
    rows). Means only, so the size is ``spaces x controls x layers``. Returns ``retrieval``
    (``{space: {control: [per layer]}}``), ``geometry`` (``{space: {control: {quantity: [per
    layer]}}}``, for ``GEOMETRY_CONTROLS``), ``whitening_shrinkage`` (``{space: {heldout,
    optimistic}: [per layer]}``), ``layers``, ``layer_numbering``, ``definitions``, ``notes``
    and ``variant`` (with ``variant.medoid``, the medoid definition of ``mean_to_medoid``, see
    :func:`geometry_means`). Cost per layer and space: one top-1 pass per control and two whitening
    fits (thin SVDs of the held-out and evaluated rows), no quadratic blow-up in layers.
    """
    _check_medoid(medoid)
    held_out = held_out or {}
    first = next(iter(next(iter(spaces.values())).values()))
    if np.ndim(first) != 3:
        raise ValueError(f"expected (n, n_layers, d) arrays, got shape {np.shape(first)}")
    chosen = list(range(np.shape(first)[1]) if layers is None else layers)
    retrieval: dict[str, dict[str, list[float]]] = {}
    geo: dict[str, dict[str, dict[str, list[float]]]] = {}
    alphas: dict[str, dict[str, list[float]]] = {}
    notes: list[str] = []
    for name, space3 in spaces.items():
        used = _used_languages({k: v[:, 0] for k, v in space3.items()}, variant)
        retrieval[name] = {c: [] for c in CONTROLS}
        geo[name] = {c: {q: [] for q in GEOMETRY_QUANTITIES} for c in GEOMETRY_CONTROLS}
        alphas[name] = {"heldout": [], "optimistic": []}
        h3 = held_out.get(name)
        for layer in chosen:
            space = select_layer({lang: space3[lang] for lang in used}, layer)
            means = whitening = None
            if h3 is not None:
                h = select_layer({lang: h3[lang] for lang in used}, layer)
                means = heldout_means(h)
                whitening = heldout_whitening(h, shrinkage=shrinkage)
            layer_notes: list[str] = []
            runs, rec = _control_spaces(name, space, used, means, whitening, shrinkage, layer_notes)
            if layer == chosen[0]:
                notes += layer_notes
            for control in CONTROLS:
                value = float("nan")
                if control in runs:
                    value = float(sentence_scores(runs[control], **variant).mean())
                retrieval[name][control].append(value)
            for key in ("heldout", "optimistic"):
                alphas[name][key].append(rec[key]["shrinkage"] if key in rec else float("nan"))
            if not geometry:
                continue
            for control in GEOMETRY_CONTROLS:
                g = {}
                if control in runs:
                    g = geometry_means(runs[control], target, medoid=medoid)
                for q in GEOMETRY_QUANTITIES:
                    geo[name][control][q].append(g.get(q, float("nan")))
    out: dict[str, Any] = {
        "layers": [int(x) for x in chosen],
        "layer_numbering": LAYER_NUMBERING,
        "retrieval": retrieval,
        "whitening_shrinkage": alphas,
        "definitions": {
            **{k: v for k, v in DEFINITIONS.items() if k in CONTROLS},
            **GEOMETRY_QUANTITIES,
            **({} if medoid == "point" else {"mean_to_medoid": MEAN_TO_MEDOID_CENTROID_LANGUAGE}),
            "medoid": MEDOID_DEFINITIONS[medoid],
        },
        "notes": notes,
        "variant": {**_variant_record(variant), "medoid": medoid},
    }
    if geometry:
        out["geometry"] = geo
    return out


def pick_controls(
    scores: Mapping[str, np.ndarray], space: str = "pre"
) -> tuple[dict[str, np.ndarray], str | None]:
    """The controls of ``space`` a verdict competes with, keyed by label, and a note or None.

    The fair ones (``FAIR_CONTROLS``) when held-out estimates exist; otherwise the optimistic
    in-sample ones (``FALLBACK_CONTROLS``) and :data:`NO_HELDOUT_NOTE`, so a missing held-out
    split never silently drops the per-language centring from the competition.
    """

    def key(control: str) -> str:
        return f"{space} ({CONTROL_LABELS[control]})"

    if f"{space} (raw)" not in scores:
        raise ValueError(f"no scores for space {space!r}")
    heldout = key("per_language_heldout") in scores or key("whitening_heldout") in scores
    chosen, note = (FAIR_CONTROLS, None) if heldout else (FALLBACK_CONTROLS, NO_HELDOUT_NOTE)
    picked = {CONTROL_LABELS[c]: scores[key(c)] for c in chosen if key(c) in scores}
    return picked, note


def best_layer(per_layer_scores: Sequence[float]) -> dict[str, Any]:
    """The best layer of the un-intervened model: a baseline the intervention must also beat.

    NaN layers are ignored; the first layer wins exact ties.
    """
    vals = np.asarray(per_layer_scores, dtype=np.float64)
    if vals.ndim != 1 or vals.size == 0 or not np.any(np.isfinite(vals)):
        raise ValueError("need a non-empty 1-D list with at least one finite score per layer")
    layer = int(np.nanargmax(vals))
    return {"layer": layer, "value": float(vals[layer])}


def _scores(x: Any, name: str, n: int | None) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 1 or a.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array of per-sentence scores")
    if n is not None and a.size != n:
        raise ValueError(f"{name} has {a.size} sentences, the intervention {n}: not paired")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} has non-finite per-sentence scores")
    return a


def paired_bootstrap_means(diffs: np.ndarray, *, n_boot: int = 2000, seed: int = 0) -> np.ndarray:
    """``(n_boot, k)`` resampled means of ``k`` paired difference columns ``(n, k)``.

    One index draw serves every column, so all baselines are compared on the same resampled ids.
    """
    n = diffs.shape[0]
    rng = np.random.default_rng(seed)
    block = max(1, _BLOCK_ELEMENTS // n)
    parts = []
    for start in range(0, n_boot, block):
        idx = rng.integers(0, n, size=(min(block, n_boot - start), n))
        parts.append(np.stack([diffs[idx, j].mean(axis=1) for j in range(diffs.shape[1])], 1))
    return np.concatenate(parts)


def verdict(
    intervention: np.ndarray,
    baselines: Mapping[str, np.ndarray],
    *,
    n_boot: int = 2000,
    seed: int = 0,
    ci: float = 0.95,
    intervention_name: str = "intervention",
) -> dict[str, Any]:
    """Intervention vs every baseline on the same sentences, and which one wins, in plain words.

    ``delta.<b>`` = mean(intervention - baseline) with a paired percentile bootstrap CI over
    sentence ids (``ci_low.<b>``, ``ci_high.<b>``). ``best_baseline`` has the highest mean;
    ``beats_best_baseline`` is True only if the CI of the difference to it lies above 0. The CI
    covers sentence sampling only, not the choice of languages, layers or random-unit draws.
    """
    if not baselines:
        raise ValueError("give at least one baseline")
    if not 0 < ci < 1:
        raise ValueError(f"ci must be in (0, 1), got {ci}")
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    a = _scores(intervention, intervention_name, None)
    names = list(baselines)
    base = np.stack([_scores(baselines[b], b, a.size) for b in names], axis=1)
    boots = paired_bootstrap_means(a[:, None] - base, n_boot=n_boot, seed=seed)
    alpha = (1.0 - ci) / 2.0
    # scores are sums of fractions: round off float noise so an exact 0 bound is not "< 0"
    lows, highs = np.round(np.quantile(boots, [alpha, 1.0 - alpha], axis=0), 12)
    out: dict[str, Any] = {"intervention": intervention_name, "mean": float(a.mean())}
    parts = []
    for j, b in enumerate(names):
        m, d = float(base[:, j].mean()), float(a.mean() - base[:, j].mean())
        lo, hi = float(lows[j]), float(highs[j])
        out[f"mean.{b}"], out[f"delta.{b}"] = m, d
        out[f"ci_low.{b}"], out[f"ci_high.{b}"] = lo, hi
        parts.append(f"{d:+.3f} [{lo:+.3f}, {hi:+.3f}] vs {b} ({m:.3f})")
    best = names[int(np.argmax(base.mean(axis=0)))]
    lo, hi = out[f"ci_low.{best}"], out[f"ci_high.{best}"]
    level = f"{ci:.0%} CI"
    if lo > 0:
        winner = intervention_name
        end = (
            f"winner: {intervention_name}, which beats the best baseline ({best}); "
            f"the {level} of the difference excludes 0"
        )
    elif hi < 0:
        winner = best
        end = (
            f"winner: the baseline {best}; the {level} of the difference excludes 0, so this "
            f"control does better than {intervention_name}"
        )
    else:
        winner = "none"
        end = (
            f"no winner: {intervention_name} and the best baseline ({best}) are not "
            f"distinguishable (the {level} of the difference includes 0), so the gain is not "
            "shown to exceed this control"
        )
    out.update(
        best_baseline=best,
        beats_best_baseline=bool(lo > 0),
        winner=winner,
        n=int(a.size),
        n_boot=int(n_boot),
        ci=float(ci),
        method="paired percentile bootstrap over sentence ids (same ids for both sides)",
    )
    out["summary"] = (
        f"{intervention_name}: mean top-1 {a.mean():.3f} over {a.size} sentences; "
        + "; ".join(parts)
        + f"; {end}."
    )
    return out
