"""The report's per-analysis sections: where the experts are and the paper's analyses.

Each builder takes the :class:`~langsteer.report.context.Ctx` and returns blocks; one that raises
costs only its own section (see :func:`langsteer.report.build.build_blocks`). Sections follow the
paper (Table 1, Fig. 4, 5, 6, Table 2, 3, Sec. 7), and every retrieval number carries its variant
in a caption.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from langsteer.report import figures as F
from langsteer.report.context import Ctx, _dict, _diff, _get, _settings
from langsteer.report.markdown import Block, Heading, Para, Table, label, name, num, pct, plain, pp

# The columns of every pre / post comparison, and the two added by the random-unit control.
PRE_POST = ("Pre", "Post (experts)", "Change")
WITH_RANDOM = ("Post (random units)", "Change (random)")


def _compare_row(
    first: str, pre: Any, post: Any, rnd: Any, has_rnd: bool, cell: Callable, change: Callable
) -> list[str]:
    """One row of a pre / post table: pre, post, its change and, if run, the random control."""
    row = [first, cell(pre), cell(post), change(pre, post)]
    return [*row, cell(rnd), change(pre, rnd)] if has_rnd else row


# --- experts -------------------------------------------------------------------------------------


def experts_section(ctx: Ctx) -> list[Block]:
    out: list[Block] = []
    n_layers = _get(ctx.r, "model", "signature", "num_hidden_layers")
    for lang, t in ctx.targets.items():
        e, nm = _dict(t.get("experts")), name(lang)
        score = f"{plain(e.get('score'))}: mean {num(e.get('mean_score'))}, min "
        score += f"{num(e.get('min_score'))} (0.5 = chance, 1 = tells {nm} apart perfectly)"
        out.append(Heading(label(lang), 3))
        out.append(Para(
            f"{plain(e.get('k'))} experts (+{plain(e.get('bottom_k', 0))} bottom); {score}. "
            f"File: {plain(e.get('file'))}."))  # fmt: skip
        grid = {  # {layer: {kind: count}}; layer keys are strings after a JSON round trip
            int(k): {str(m): int(v) for m, v in _dict(row).items()}
            for k, row in _dict(e.get("by_layer_kind")).items()
        }
        if any(grid.values()):
            draw = partial(F.experts_heatmap, grid, n_layers, f"{nm} experts")
            cap = (
                f"Number of {nm} experts per decoder layer (columns) and MLP module kind (rows). "
                "Bars on top: total per layer; row labels: total per kind."
            )
            out.append(ctx.figure("experts", lang, draw, cap))
            continue
        by_layer = {int(k): int(v) for k, v in _dict(e.get("by_layer")).items()}
        by_kind = {str(k): int(v) for k, v in _dict(e.get("by_kind")).items()}
        if by_layer or by_kind:
            draw = partial(F.experts_where, by_layer, by_kind, n_layers, f"{nm} experts")
            cap = f"Number of {nm} experts per decoder layer and per MLP module kind."
            out.append(ctx.figure("experts", lang, draw, cap))
    return out


# --- geometry (Table 1) --------------------------------------------------------------------------

GEOMETRY_ROWS = {
    "mean_pairwise_centroid": "Mean distance between language centroids (all pairs)",
    "mean_pairwise_parallel": "Mean distance between translations (all pairs)",
    "mean_to_medoid_nontarget": "Mean distance to the medoid (every language but the target)",
    "medoid": "Medoid",
    "mean_to_target_centroid": "Mean distance to the target (centroids)",
    "mean_to_target_parallel": "Mean distance to the target (translations)",
    "mean_cosine": "Mean cosine similarity of unrelated sentences (anisotropy)",
}


def _change(key: str, a: Any, b: Any) -> str:
    if key == "medoid":
        return "same" if a == b else "changed"
    return num(_diff(b, a), signed=True)


def _medoid_cell(value: Any) -> str:
    """'fra_Latn #12' (a sentence embedding: language, row) or a language code, for readers."""
    lang, sep, row = str(value).partition(" #") if value is not None else ("", "", "")
    return f"{label(lang)} #{row}" if sep else label(value)


def _medoid_text(variant: Any) -> tuple[str, str]:
    """What the medoid is, and what a per-language distance to it is, under ``variant.medoid``.

    Results without the key predate the option and used the centroid-language medoid.
    """
    if variant in (None, "centroid-language"):
        return "the language whose centroid is closest to all others", "between centroids"
    return (
        "the sentence embedding (any language) with the smallest summed cosine distance to all "
        "others",
        "mean over the language's sentences",
    )


def geometry_section(ctx: Ctx) -> list[Block]:
    out: list[Block] = []
    for lang, t in ctx.targets.items():
        g, rg = _dict(t.get("geometry")), _get(t, "random_control", "geometry")
        if not g:
            continue
        has_rnd = isinstance(rg, dict)
        rows = []
        for key, text in GEOMETRY_ROWS.items():
            pre, post = g.get(f"geometry.pre.{key}"), g.get(f"geometry.post.{key}")
            rpost = rg.get(f"geometry.post.{key}") if has_rnd else None
            cell, change = _medoid_cell if key == "medoid" else num, partial(_change, key)
            if pre is not None or post is not None:
                rows.append(_compare_row(text, pre, post, rpost, has_rnd, cell, change))
        header = ["Quantity (cosine distance unless stated)", *PRE_POST]
        header += WITH_RANDOM if has_rnd else ()
        med_what, med_how = _medoid_text(g.get("geometry.variant.medoid"))
        cap = (
            f"Cosine distance = 1 - cos ({plain(g.get('geometry.variant.distance', 'n/a'))}; "
            f"centring {plain(g.get('geometry.variant.centering', 'n/a'))}). Translations = mean "
            f"distance between a sentence and its translation. Medoid = {med_what} in that "
            "space. " + (ctx.random_note() if has_rnd else "")
        )
        cols = ["pre", "post"] + (["random"] if has_rnd else [])
        per_lang = []
        for x in ctx.langs:
            row = [label(x)]
            for what in ("to_medoid", "to_target"):
                row += [num(g.get(f"geometry.{c}.{what}.{x}")) for c in ("pre", "post")]
                row += [num(rg.get(f"geometry.post.{what}.{x}"))] if has_rnd else []
            per_lang.append(row)
        head2 = ["Language", *(f"to medoid, {c}" for c in cols)]
        head2 += [f"to {name(lang)}, {c}" for c in cols]
        out += [Heading(label(lang), 3), Table(header, rows, cap)]
        cap2 = f"Per language: cosine distance; to medoid {med_how}, to target between centroids."
        out.append(Table(head2, per_lang, cap2))
    return out


# --- retrieval (Fig. 4, Fig. 5, per layer) -------------------------------------------------------


def top1_section(ctx: Ctx) -> list[Block]:
    out: list[Block] = []
    for lang, t in ctx.targets.items():
        r, rr = _dict(t.get("retrieval")), _get(t, "random_control", "retrieval")
        cands = [c for c in ctx.langs if c != lang and c in _dict(_get(r, "pre", lang))]
        if not cands:
            continue
        series = {w: [_get(r, w, lang, c) for c in cands] for w in ("pre", "post")}
        has_rnd = isinstance(rr, dict)
        if has_rnd:
            series["random"] = [_get(rr, "post", lang, c) for c in cands]
        header = ["Candidate language", *PRE_POST, *(WITH_RANDOM if has_rnd else ())]
        rnd = series.get("random", [None] * len(cands))
        rows = [
            _compare_row(label(c), pre, post, r1, has_rnd, pct, lambda a, b: pp(_diff(b, a)))
            for c, pre, post, r1 in zip(cands, series["pre"], series["post"], rnd, strict=True)
        ]
        nm = name(lang)
        draw = partial(F.top1_bars, [name(c) for c in cands], series, f"Query: {nm}")
        cap = f"Top-1 accuracy (%) with {nm} as the query, per candidate language. "
        out += [Heading(label(lang), 3), ctx.figure("top1", lang, draw, cap + ctx.variant(r))]
        out.append(Table(header, rows, f"Query language: {nm}. " + ctx.variant(r)))
    return out


def _matrix(table: dict, langs: list[str]) -> list[list[float | None]]:
    return [[None if q == c else _get(table, q, c) for c in langs] for q in langs]


def delta_section(ctx: Ctx) -> list[Block]:
    out: list[Block] = []
    names = [name(x) for x in ctx.langs]
    for lang, t in ctx.targets.items():
        r = _dict(t.get("retrieval"))
        if not isinstance(r.get("delta"), dict):
            continue
        panels = {"experts: post - pre": _matrix(r["delta"], ctx.langs)}
        rr = _get(t, "random_control", "retrieval", "delta")
        if isinstance(rr, dict):
            panels["random units: post - pre"] = _matrix(rr, ctx.langs)
        draw = partial(F.delta_heatmaps, names, panels, f"Change in top-1, {name(lang)} experts")
        cap = (
            "Change in top-1 accuracy (percentage points, post - pre) for every ordered pair "
            "(row = query, column = candidate); blue = better, red = worse, white = unchanged. "
        )
        out += [Heading(label(lang), 3), ctx.figure("delta", lang, draw, cap + ctx.variant(r))]
    return out


def layers_section(ctx: Ctx) -> list[Block]:
    out: list[Block] = []
    base = _get(ctx.r, "baseline", "retrieval_per_layer_mean_pre")
    for lang, t in ctx.targets.items():
        r = _dict(t.get("retrieval"))
        post = r.get("per_layer_mean_post")
        if not isinstance(post, list) or not post:
            continue
        series = {"pre": base} if isinstance(base, list) and base else {}
        series["post"] = post
        rnd = _get(t, "random_control", "retrieval", "per_layer_mean_post")
        if isinstance(rnd, list) and rnd:
            series["random"] = rnd
        layer = r.get("layer")
        idx = len(post) + layer if isinstance(layer, int) and layer < 0 else layer
        vals = [(v, i) for i, v in enumerate(post) if isinstance(v, int | float)]
        best = f" Best hidden state after the intervention: {max(vals)[1]} ({pct(max(vals)[0])})."
        draw = partial(F.layer_lines, series, idx, f"Mean top-1 per layer, {name(lang)} experts")
        cap = (
            "Mean top-1 accuracy (%) over all ordered language pairs, with the sentence "
            f"embedding taken at each hidden state.{best if vals else ''} " + ctx.variant(r)
        )
        out += [Heading(label(lang), 3), ctx.figure("layers", lang, draw, cap)]
    return out


# --- controls: could something simpler explain the gain? ---------------------------------------

CONTROL_NAMES = {
    "raw": "raw",
    "global": "global centring",
    "per_language_heldout": "per-language centring, held-out means",
    "per_language_optimistic": "per-language centring, evaluated means (optimistic)",
    "whitening_heldout": "whitening, held-out estimate",
    "whitening_optimistic": "whitening, evaluated estimate (optimistic)",
}
SPACE_NAMES = {"pre": "original model", "post": "experts forced", "random": "random units forced"}


def verdict_words(v: dict) -> str:
    """The verdict in one plain sentence (the long form is in the table below it)."""
    winner, best, who = v.get("winner"), plain(v.get("best_baseline")), plain(v.get("intervention"))
    d, lo, hi = (v.get(f"{x}.{best}") for x in ("delta", "ci_low", "ci_high"))
    diff = f"{pp(d)}, 95% CI [{pp(lo)}, {pp(hi)}]"
    warn = f"WARNING: {plain(v['note'])}. " if v.get("note") else ""
    if winner == "none":
        return (
            f"{warn}no winner: {who} is not distinguishable from the best control, {best} ({diff})."
        )
    if winner == v.get("intervention"):
        return f"{warn}{who} beats every control, the best being {best} ({diff})."
    return f"{warn}a control ({best}) does better than {who} ({diff})."


# Curves of the per-layer controls figure: (space, control, legend label, colour, dash).
LAYER_CURVES = (
    ("pre", "raw", "pre, raw", F.COLORS["pre"], "-"),
    ("pre", "centred", "pre, per-language centred", F.COLORS["pre"], "--"),
    ("post", "raw", "post (experts), raw", F.COLORS["post"], "-"),
    ("post", "centred", "post (experts), per-language centred", F.COLORS["post"], "--"),
    ("random", "raw", "random units, raw", F.COLORS["random"], "-"),
)


def _controls_by_layer(ctx: Ctx, lang: str, per_layer: dict) -> list[Block]:
    """Mean top-1 vs hidden state under the controls (held-out centring, else the optimistic)."""
    ret = _dict(per_layer.get("retrieval"))
    heldout = any(
        _num_list(_get(ret, s, "per_language_heldout")) for s in ret if isinstance(ret[s], dict)
    )
    centred = "per_language_heldout" if heldout else "per_language_optimistic"
    series, styles = {}, {}
    for space, control, text, color, dash in LAYER_CURVES:
        values = _get(ret, space, centred if control == "centred" else control)
        if not _num_list(values):
            continue
        text += "" if control == "raw" else " (held-out)" if heldout else " (OPTIMISTIC)"
        series[text], styles[text] = values, (color, dash)
    if not series:
        return []
    layer = per_layer.get("headline_layer")
    n = len(next(iter(series.values())))
    idx = n + layer if isinstance(layer, int) and layer < 0 else layer
    nm = name(lang)
    draw = partial(F.control_layer_lines, series, styles, idx, f"Controls per layer, {nm} experts")
    how = (
        "means from the held-out split"
        if heldout
        else "means from the evaluated sentences themselves: OPTIMISTIC, no held-out split"
    )
    cap = (
        "Mean top-1 accuracy (%) at every hidden state, raw and with per-language centring "
        f"({how}), for the original model, the experts forced and random units forced. "
        f"{plain(per_layer.get('layer_numbering'))}. results.json also holds every other "
        "control and the geometry per layer (controls.per_layer)."
    )
    return [ctx.figure("controls_layers", lang, draw, cap)]


def _num_list(x: Any) -> bool:
    return isinstance(x, list) and any(isinstance(v, int | float) for v in x)


def controls_section(ctx: Ctx) -> list[Block]:
    out: list[Block] = []
    for lang, t in ctx.targets.items():
        c = _dict(t.get("controls"))
        table, v = _dict(c.get("table")), _dict(c.get("verdict"))
        spaces = [k for k in table if isinstance(table[k], dict) and k in SPACE_NAMES]
        if not spaces and not v:
            continue
        out.append(Heading(label(lang), 3))
        if v:
            out.append(Para("Verdict: " + verdict_words(v), "summary"))
        keys = [k for k in CONTROL_NAMES if any(k in table[s] for s in spaces)]
        if spaces:
            rows = [[SPACE_NAMES[s], *(pct(table[s].get(k)) for k in keys)] for s in spaces]
            defs = _dict(table.get("definitions"))
            cap = "Mean top-1 of each space under each control. " + " ".join(
                f"{CONTROL_NAMES.get(k, k)}: {plain(d)}." for k, d in defs.items()
            )
            notes = table.get("notes") or []
            cap += (" Notes: " + "; ".join(map(plain, notes)) + ".") if notes else ""
            cap += f" Variant: {_settings(table.get('variant')) or 'not recorded'}."
            shrink = [
                f"{SPACE_NAMES.get(sp, sp)} {kind} {num(_get(w, kind, 'shrinkage'))}"
                for sp, w in _dict(table.get("whitening")).items()
                for kind in ("heldout", "optimistic")
                if _get(w, kind, "shrinkage") is not None
            ]
            cap += (" Whitening shrinkage used: " + ", ".join(shrink) + ".") if shrink else ""
            header = ["Space", *(CONTROL_NAMES.get(k, k) for k in keys)]
            out.append(Table(header, rows, cap))
        per_layer = _dict(c.get("per_layer"))
        if per_layer:
            out += _controls_by_layer(ctx, lang, per_layer)
        names = [k[len("mean.") :] for k in v if k.startswith("mean.")]
        if names:
            rows = []
            for b in names:
                lo, hi = v.get(f"ci_low.{b}"), v.get(f"ci_high.{b}")
                best = " (best control)" if b == v.get("best_baseline") else ""
                ci = f"[{pp(lo)}, {pp(hi)}]"
                rows.append([b + best, pct(v.get(f"mean.{b}")), pp(v.get(f"delta.{b}")), ci])
            cap = (
                f"{plain(v.get('intervention'))}: mean top-1 {pct(v.get('mean'))} over "
                f"{plain(v.get('n'))} sentences, against each control on the same sentences; "
                f"{plain(v.get('method'))}, {plain(v.get('n_boot'))} resamples. The CI covers "
                "sentence sampling only."
            )
            head = ["Control", "its mean top-1", "experts - control", "95% CI"]
            out.append(Table(head, rows, cap))
    return out


def projection_section(ctx: Ctx) -> list[Block]:
    out: list[Block] = []
    names = {x: name(x) for x in ctx.langs}
    for lang, t in ctx.targets.items():
        p, nm = _dict(t.get("projection")), name(lang)
        panels = {"original model (pre)": p.get("pre"), f"{nm} experts forced": p.get("post")}
        panels["random units forced"] = _get(t, "random_control", "projection", "post")
        panels = {k: v for k, v in panels.items() if isinstance(v, dict)}
        if not panels:
            continue
        draw = partial(F.projection, panels, names, f"Sentence embeddings, {nm} experts")
        cap = (
            "Sentence embeddings projected to 2-D (one point per sentence, one colour per "
            "language). Each panel is fitted on its own space, so axes are not comparable across "
            "panels: look at whether languages form separate clusters or mix."
        )
        out += [Heading(label(lang), 3), ctx.figure("projection", lang, draw, cap)]
    return out


# --- paraphrase (Table 3) and correlation (Table 2) ----------------------------------------------


def _both(t: dict, key: str) -> list[tuple[str, Any]]:
    """(who, value) for the experts and, when it was run, the random-unit control."""
    return [("experts", t.get(key)), ("random units", _get(t, "random_control", key))]


def paraphrase_section(ctx: Ctx) -> list[Block]:
    rows, variant = [], {}
    for lang, t in ctx.targets.items():
        for who, p in _both(t, "paraphrase"):
            if not isinstance(p, dict):
                continue
            prefix = "paraphrase.variant."
            variant = variant or {k[len(prefix) :]: v for k, v in p.items() if k.startswith(prefix)}
            n = p.get("paraphrase.n")
            scores = [pct(p.get(f"paraphrase.{w}")) for w in ("pre", "post", "mixed")]
            pairs = f"{int(n)} pairs" if isinstance(n, int | float) else "n/a"
            rows.append([label(lang), who, *scores, pairs])
    if not rows:
        on = plain(_get(ctx.cfg, "analyses", "paraphrase"))
        return [Para(f"Not run (analyses.paraphrase = {on}, or no paraphrase pairs).", "note")]
    src = _dict(ctx.r.get("paraphrase_pairs"))
    sides = _dict(_get(src, "provenance", "translations")).values()
    books = [f"{plain(v.get('name'))} ({label(v.get('language'))})" for v in sides if _dict(v)]
    where = f" {plain(src.get('n'))} pairs from {plain(_get(src, 'provenance', 'source'))}"
    where = (where + (": " + " vs ".join(books) if books else "") + ".") if src else ""
    cap = (
        "Top-1 paraphrase retrieval within one language. Pre = both sides embedded by the "
        "original model; Post = both by the intervened model; Mixed = original queries against "
        "intervened candidates (does the new space still agree with the old one?). Variant: "
        + (_settings(variant) or "not recorded")
        + "."
        + where
    )
    return [Table(["Experts of", "Units forced", "Pre", "Post", "Mixed", "n"], rows, cap)]


ROW_NAMES = {
    "acc_post~d_post": "top-1 post vs distance post",
    "acc_pre~d_pre": "top-1 pre vs distance pre",
    "d_post~d_pre": "distance post vs distance pre",
    "acc_gain~d_drop": "top-1 gain vs distance drop",
}


def correlation_section(ctx: Ctx) -> list[Block]:
    rows, n_boot = [], None
    for lang, t in ctx.targets.items():
        for who, c in _both(t, "correlation"):
            if not isinstance(c, dict):
                continue
            if not any(isinstance(v, dict) for v in c.values()):  # {"note": why not}
                rows.append(
                    [label(lang), who, "all", "n/a", "n/a", "n/a", "n/a", plain(c.get("note"))]
                )
                continue
            dicts = [v for v in c.values() if isinstance(v, dict)]
            notes = {plain(v.get("note")) for v in dicts}
            n_boot = n_boot or next((v.get("n_boot") for v in dicts if v.get("n_boot")), None)
            if len(notes) == 1 and all(v.get("r") is None for v in dicts):
                n = plain(dicts[0].get("n"))
                rows.append([label(lang), who, "all four", "n/a", "n/a", "n/a", n, notes.pop()])
                continue  # one line, not four identical "undefined" rows
            for key, row in c.items():
                if not isinstance(row, dict):
                    continue
                lo, hi = row.get("ci_low"), row.get("ci_high")
                ci = f"[{num(lo, 2)}, {num(hi, 2)}]" if lo is not None and hi is not None else "n/a"
                what = f"{ROW_NAMES.get(key, key)} ({plain(row.get('x'))} ~ {plain(row.get('y'))})"
                rows.append([
                    label(lang), who, what, num(row.get("r"), 2), ci, num(row.get("p_value"), 3),
                    plain(row.get("n")), plain(row.get("note") or ""),
                ])  # fmt: skip
    if not rows:
        return [Para("Not run (analyses.correlation is off).", "note")]
    n_boot = n_boot or _get(ctx.cfg, "evaluation", "n_boot")
    cap = (
        "Pearson r over candidate languages with the target as the query (one point per "
        f"language); 95% percentile-bootstrap CI ({plain(n_boot)} resamples). Distance = mean "
        "cosine distance between translations. Gain = post - pre top-1; drop = pre - post "
        "distance (positive = closer). n/a = undefined (see the note). " + ctx.study_variant()
    )
    header = ["Experts of", "Units forced", "Relation", "r", "95% CI", "p", "n", "Note"]
    return [Table(header, rows, cap)]
