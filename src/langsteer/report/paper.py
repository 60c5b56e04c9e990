"""Per target, the paper's measurements of every model method side by side with the original.

For one target: Table 1 (geometry), Fig. 4 (top-1 with the target as query), Fig. 5 (change of
every ordered pair), the per-layer curves of every embedding method (with the layer the
leaderboard chose), Fig. 6 (projection), Table 3 (paraphrase) and Table 2 (correlations). Each
part is built on its own: one that fails becomes a note under its heading (see
:func:`langsteer.report.build.guarded`). Every retrieval number carries its variant.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from langsteer.evaluation.geometry import MEDOID_DEFINITIONS
from langsteer.report import figures as F
from langsteer.report.board import CHOSEN_ON, choose, embedding_words
from langsteer.report.context import Ctx, _dict, _diff, _get, _list, _settings
from langsteer.report.markdown import Block, Para, Table, label, name, num, pct, plain, pp

Methods = dict[str, dict]

GEOMETRY_ROWS = {
    "mean_pairwise_centroid": "Mean distance between language centroids (all pairs)",
    "mean_pairwise_parallel": "Mean distance between translations (all pairs)",
    "mean_to_medoid_nontarget": "Mean distance to the medoid (every language but the target)",
    "medoid": "Medoid",
    "mean_to_target_centroid": "Mean distance to the target (centroids)",
    "mean_to_target_parallel": "Mean distance to the target (translations)",
    "mean_cosine": "Mean cosine similarity of unrelated sentences (anisotropy)",
}


def _medoid_cell(value: Any) -> str:
    """'French (fra_Latn) #12' (a sentence: language, row) or a language, for readers."""
    lang, sep, row = str(value).partition(" #") if value is not None else ("", "", "")
    return f"{label(lang)} #{row}" if sep else label(value)


def _medoid_words(variant: Any) -> str:
    """What the medoid is under ``geometry.variant.medoid`` (absent: the older definition)."""
    return MEDOID_DEFINITIONS.get(str(variant or "centroid-language"), f"medoid {plain(variant)}")


def _medoid_key(variant: Any) -> str:
    if variant is None:
        return "variant.medoid not recorded: the older centroid-language medoid"
    return f"variant.medoid = {plain(variant)}"


def geometry_part(ctx: Ctx, target: str, methods: Methods) -> list[Block]:
    geo = {m: _dict(r.get("geometry")) for m, r in methods.items() if _dict(r.get("geometry"))}
    if not geo:
        return []
    first = next(iter(geo.values()))
    header = ["Quantity (cosine distance unless stated)", "original model"]
    for m in geo:
        header += [m, "change"]
    rows = []
    for key, text in GEOMETRY_ROWS.items():
        pre = first.get(f"geometry.pre.{key}")
        row = [text, _medoid_cell(pre) if key == "medoid" else num(pre)]
        for g in geo.values():
            post = g.get(f"geometry.post.{key}")
            if key == "medoid":
                row += [_medoid_cell(post), "same" if post == pre else "moved"]
            else:
                row += [num(post), num(_diff(post, pre), signed=True)]
        if pre is not None or any(g.get(f"geometry.post.{key}") is not None for g in geo.values()):
            rows.append(row)
    variant = first.get("geometry.variant.medoid")
    cap = (
        f"Paper Table 1 at the headline layer. Cosine distance = 1 - cos "
        f"({plain(first.get('geometry.variant.distance', 'n/a'))}; centring "
        f"{plain(first.get('geometry.variant.centering', 'n/a'))}). Translations = mean distance "
        f"between a sentence and its translation. Medoid ({_medoid_key(variant)}): "
        f"{_medoid_words(variant)}. Change = method - original (negative = closer)."
    )
    per_lang = []
    for x in ctx.langs:
        row = [label(x)]
        for what in ("to_medoid", "to_target"):
            row.append(num(first.get(f"geometry.pre.{what}.{x}")))
            row += [num(g.get(f"geometry.post.{what}.{x}")) for g in geo.values()]
        per_lang.append(row)
    cols = ["original", *geo]
    head2 = [
        "Language",
        *(f"to medoid, {c}" for c in cols),
        *(f"to {name(target)}, {c}" for c in cols),
    ]
    cap2 = "Per language: cosine distance to the medoid of each space and to the target's centroid."
    return [Table(header, rows, cap), Table(head2, per_lang, cap2)]


def _candidates(target: str, methods: Methods) -> list[str]:
    first = next((r for r in methods.values() if _get(r, "retrieval", "pre", target)), {})
    have = _dict(_get(first, "retrieval", "pre", target))
    return [c for c in have if c != target]


def _retrieval(methods: Methods) -> dict:
    return next((_dict(r.get("retrieval")) for r in methods.values() if r.get("retrieval")), {})


def top1_part(ctx: Ctx, target: str, methods: Methods) -> list[Block]:
    cands = [c for c in ctx.langs if c in _candidates(target, methods)] or _candidates(
        target, methods
    )
    if not cands:
        return []
    ret = {m: _dict(r.get("retrieval")) for m, r in methods.items() if _dict(r.get("retrieval"))}
    first = next(iter(ret.values()))
    series = {"original model": [_get(first, "pre", target, c) for c in cands]}
    series.update({m: [_get(r, "post", target, c) for c in cands] for m, r in ret.items()})
    rows = []
    for i, c in enumerate(cands):
        pre = series["original model"][i]
        rows.append([label(c), pct(pre)])
        rows[-1] += [f"{pct(series[m][i])} ({pp(_diff(series[m][i], pre))})" for m in ret]
    nm = name(target)
    draw = partial(F.top1_bars, [name(c) for c in cands], series, f"Query: {nm}")
    cap = f"Paper Fig. 4: top-1 (%) with {nm} as the query, per candidate language. "
    header = ["Candidate language", "original model", *(f"{m} (change)" for m in ret)]
    return [
        ctx.figure("top1", target, draw, cap + ctx.variant(first)),
        Table(header, rows, f"Query language: {nm}. " + ctx.variant(first)),
    ]


def _matrix(table: Any, langs: list[str]) -> list[list[float | None]]:
    return [[None if q == c else _get(table, q, c) for c in langs] for q in langs]


def delta_part(ctx: Ctx, target: str, methods: Methods) -> list[Block]:
    panels = {
        m: _matrix(_get(r, "retrieval", "delta"), ctx.langs)
        for m, r in methods.items()
        if isinstance(_get(r, "retrieval", "delta"), dict)
    }
    if not panels:
        return []
    names = [name(x) for x in ctx.langs]
    draw = partial(F.delta_heatmaps, names, panels, f"Change in top-1, methods for {name(target)}")
    cap = (
        "Paper Fig. 5: change in top-1 (percentage points, method - original) for every ordered "
        "pair (row = query, column = candidate); blue = better, red = worse. "
    )
    return [ctx.figure("delta", target, draw, cap + ctx.variant(_retrieval(methods)))]


def _chosen_words(row: dict) -> str:
    on = str(row.get("selected_on"))
    words = {"heldout": "chosen on held-out split", "fixed": "fixed layer"}.get(on, on)
    if on == "evaluated":
        words = "chosen on evaluated sentences (OPTIMISTIC)"
    return f"under {embedding_words(row.get('embedding'))}\n{words}"


def layers_part(ctx: Ctx, target: str, methods: Methods) -> list[Block]:
    original = _dict(ctx.r.get("original"))
    orig = _dict(original.get("per_layer"))
    panels, chosen, layers = {}, {}, _list(original.get("layers"))
    for m, r in methods.items():
        post = _dict(r.get("per_layer"))
        lines = {e: (_list(orig.get(e)), _list(v)) for e, v in post.items() if isinstance(v, list)}
        if not lines:
            continue
        panels[m] = lines
        layers = _list(r.get("layers")) or layers
        rows = [x for x in ctx.board if x.get("method") == m and x.get("target") == target]
        row = choose(rows)
        if row is not None:
            chosen[m] = (row.get("layer"), _chosen_words(row))
    if not panels:
        return []
    n = max(len(v) for p in panels.values() for pair in p.values() for v in pair)
    layers = layers if len(layers) >= n else list(range(n))
    draw = partial(F.layer_panels, panels, layers, chosen, f"Mean top-1 per layer, {name(target)}")
    how = CHOSEN_ON.get(str(_get(ctx.r, "selection", "how")), "")
    cap = (
        "Mean top-1 (%) over ordered pairs at every scored layer, under every embedding method "
        "(colour): dashed = the original model, solid = under the model method. Dotted line: "
        f"the layer and embedding method of the method's leaderboard row ({how}). results.json "
        "also holds the held-out selection scores (per_layer_heldout) and the geometry per layer "
        "(per_layer_geometry). " + ctx.board_variant()
    )
    return [ctx.figure("layers", target, draw, cap)]


def projection_part(ctx: Ctx, target: str, methods: Methods) -> list[Block]:
    panels: dict[str, Any] = {}
    for m, r in methods.items():
        p = _dict(r.get("projection"))
        if isinstance(p.get("pre"), dict) and not panels:
            panels["original model"] = p["pre"]
        if isinstance(p.get("post"), dict):
            panels[m] = p["post"]
    if len(panels) < 2:
        return []
    names = {x: name(x) for x in ctx.langs}
    draw = partial(F.projection, panels, names, f"Sentence embeddings, methods for {name(target)}")
    cap = (
        "Paper Fig. 6: sentence embeddings at the headline layer projected to 2-D (one point per "
        "sentence, one colour per language). Each panel is fitted on its own space, so axes are "
        "not comparable across panels: look at whether languages form clusters or mix."
    )
    return [ctx.figure("projection", target, draw, cap)]


def paraphrase_part(ctx: Ctx, target: str, methods: Methods) -> list[Block]:
    rows, variant = [], {}
    for m, r in methods.items():
        p = _dict(r.get("paraphrase"))
        if not p:
            continue
        pre = "paraphrase.variant."
        variant = variant or {k[len(pre) :]: v for k, v in p.items() if k.startswith(pre)}
        n = p.get("paraphrase.n")
        scores = [pct(p.get(f"paraphrase.{w}")) for w in ("pre", "post", "mixed")]
        rows.append([m, *scores, f"{int(n)} pairs" if isinstance(n, int | float) else "n/a"])
    if not rows:
        on = plain(_get(ctx.cfg, "analyses", "paraphrase"))
        return [Para(f"Not run (analyses.paraphrase = {on}, or no paraphrase pairs).", "note")]
    src = _dict(ctx.r.get("paraphrase_pairs"))
    lang = src.get("language")
    where = (
        f" {plain(src.get('n'))} pairs in {label(lang)} from "
        f"{plain(_get(src, 'provenance', 'source'))}."
        if src
        else ""
    )
    cap = (
        "Paper Table 3: top-1 paraphrase retrieval within one language. Pre = both sides "
        "embedded by the original model; Post = both under the method; Mixed = original queries "
        "against candidates under the method (does the new space still agree with the old "
        f"one?). At the headline layer. Variant: {_settings(variant) or 'not recorded'}.{where}"
    )
    return [Table(["Model method", "Pre", "Post", "Mixed", "n"], rows, cap)]


ROW_NAMES = {
    "acc_post~d_post": "top-1 post vs distance post",
    "acc_pre~d_pre": "top-1 pre vs distance pre",
    "d_post~d_pre": "distance post vs distance pre",
    "acc_gain~d_drop": "top-1 gain vs distance drop",
}


def _correlation_rows(c: dict) -> tuple[dict[str, dict], dict]:
    """The flat ``correlation.<row>.<field>`` dict as ``({row: fields}, variant)``."""
    rows: dict[str, dict] = {}
    variant = {}
    for k, v in c.items():
        key = str(k).removeprefix("correlation.")
        if key.startswith("variant."):
            variant[key[len("variant.") :]] = v
        elif "." in key:
            row, field = key.rsplit(".", 1)
            rows.setdefault(row, {})[field] = v
    return rows, variant


def correlation_part(ctx: Ctx, target: str, methods: Methods) -> list[Block]:
    out, variant = [], {}
    for m, r in methods.items():
        c = _dict(r.get("correlation"))
        if not c:
            continue
        rows, v = _correlation_rows(c)
        variant = variant or v
        if not rows:
            out.append([m, "all", "n/a", "n/a", "n/a", "n/a", plain(c.get("correlation.note"))])
            continue
        notes = {plain(d.get("note")) for d in rows.values()}
        if len(notes) == 1 and all(d.get("r") is None for d in rows.values()):
            n = plain(next(iter(rows.values())).get("n"))
            out.append([m, "all four", "n/a", "n/a", "n/a", n, notes.pop()])
            continue  # one line, not four identical "undefined" rows
        for key, d in rows.items():
            lo, hi = d.get("ci_low"), d.get("ci_high")
            ci = f"[{num(lo, 2)}, {num(hi, 2)}]" if lo is not None and hi is not None else "n/a"
            r_, p_ = num(d.get("r"), 2), num(d.get("p_value"), 3)
            note = plain(d.get("note") or "")
            out.append([m, ROW_NAMES.get(key, key), r_, ci, p_, plain(d.get("n")), note])
    if not out:
        return [Para("Not run (analyses.correlation is off).", "note")]
    cap = (
        f"Paper Table 2: Pearson r over candidate languages with {name(target)} as the query "
        f"(one point per language); {plain(variant.get('ci', '95% bootstrap CI'))}; distance = "
        f"{plain(variant.get('distance', 'n/a'))} cosine distance. Gain = post - pre top-1; drop "
        "= pre - post distance. n/a = undefined (see the note). " + ctx.variant(_retrieval(methods))
    )
    return [Table(["Model method", "Relation", "r", "95% CI", "p", "n", "Note"], out, cap)]


PARTS: list[tuple[str, Callable[[Ctx, str, Methods], list[Block]]]] = [
    ("Embedding-space geometry (paper Table 1)", geometry_part),
    ("Retrieval with the target as query (paper Fig. 4)", top1_part),
    ("Change in retrieval over all language pairs (paper Fig. 5)", delta_part),
    ("Retrieval at every layer, every embedding method", layers_part),
    ("2-D projection of the embedding space (paper Fig. 6)", projection_part),
    ("Paraphrase retrieval within one language (paper Table 3)", paraphrase_part),
    ("Correlation of retrieval with distance (paper Table 2)", correlation_part),
]
