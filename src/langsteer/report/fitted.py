"""What each model method fitted: what it attaches, where its experts are, which candidate won.

Each builder takes the :class:`~langsteer.report.context.Ctx` and returns blocks; one that raises
costs only its own section.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from langsteer.report import figures as F
from langsteer.report.context import Ctx, _dict, _get, _list
from langsteer.report.markdown import Block, Heading, Para, Table, label, name, num, pct, plain

# what a unit score means, per ranking (the text after "mean ..., min ...")
SCALES = {
    "auroc": "0.5 = chance, 1 = tells {lang} apart perfectly",
    "ap": "the share of {lang} sentences = chance, 1 = tells {lang} apart perfectly",
    "lape": "minus the entropy of the unit's activation probabilities over the probed languages: "
    "0 = fires for one language only, -ln(number of languages) = equally often in all",
}


def _words(d: Any, skip: tuple[str, ...] = ()) -> str:
    """'k 8, value mean, mode set': a flat dict in words (nested values summarised)."""
    parts = []
    for k, v in _dict(d).items():
        if k in skip:
            continue
        text = plain(v) if not isinstance(v, dict) else "{...}"
        parts.append(f"{k} {text[:12] if k.endswith('hash') else text}")
    return ", ".join(parts) or "none"


def interventions_section(ctx: Ctx) -> list[Block]:
    """Per target and model method: what was attached to the model (its ``describe()``)."""
    rows = []
    for t, methods in ctx.targets.items():
        for m, r in methods.items():
            what = r.get("intervention") or r.get("params")
            rows.append([label(t), m, plain(r.get("name", m)), _words(what, ("target",))])
    if not rows:
        return []
    cap = (
        "Exactly what each model method attached for each target (from its describe(), which also "
        "keys the cache). Layers are hidden-state indices unless the entry says otherwise."
    )
    return [Table(["Target", "Method", "Kind of method", "Attached"], rows, cap)]


def experts_section(ctx: Ctx) -> list[Block]:
    out: list[Block] = []
    n_layers = _get(ctx.r, "model", "signature", "num_hidden_layers")
    for t, methods in ctx.targets.items():
        for m, r in methods.items():
            e = _dict(r.get("experts"))
            if not e:
                continue
            nm = name(t)
            iv = _dict(r.get("intervention"))
            if iv.get("control"):  # random units: drawn when attached, not these experts
                scores = plain(iv.get("experts_scores_hash"))
                text = (
                    f"{m} forces {plain(e.get('k'))} {plain(iv.get('control'))} non-expert units "
                    f"(seed {plain(iv.get('seed'))}), drawn when attached, with the values of the "
                    f"experts ranked by the same scores (hash {scores}); where those experts are "
                    "is shown for the expert method."
                )
                out += [Heading(f"{label(t)}: {m}", 3), Para(text)]
                continue
            score = f"{plain(e.get('score'))}: mean {num(e.get('mean_score'))}, min "
            scale = SCALES.get(e.get("score"), "see docs/methods.md").format(lang=nm)
            score += f"{num(e.get('min_score'))} ({scale})"
            out.append(Heading(f"{label(t)}: {m}", 3))
            text = (
                f"{plain(e.get('k'))} units (+{plain(e.get('bottom_k', 0))} bottom); {score}. "
                f"File: {plain(e.get('file'))}."
            )
            out.append(Para(text))
            grid = {  # {layer: {kind: count}}; layer keys are strings after a JSON round trip
                int(k): {str(kind): int(v) for kind, v in _dict(row).items()}
                for k, row in _dict(e.get("by_layer_kind")).items()
            }
            if not any(grid.values()):  # only per-layer counts recorded
                grid = {int(k): {"units": int(v)} for k, v in _dict(e.get("by_layer")).items()}
            if any(grid.values()):
                draw = partial(F.experts_heatmap, grid, n_layers, f"{m}: {nm} units")
                cap = (
                    f"Where the {m} units for {nm} are: their number per decoder layer (columns, "
                    f"{plain(e.get('layer_numbering', 'decoder block index'))}) and module kind "
                    "(rows). Bars on top: total per layer; row labels: total per kind."
                )
                out.append(ctx.figure("experts", f"{t}_{m}", draw, cap))
    if not out:
        return [Para("No method of this study selects units (experts).", "note")]
    return out


def _varying(cands: list[dict]) -> list[str]:
    """The parameters that differ between candidates (the others are the same for all)."""
    params = [_dict(c.get("params")) for c in cands]
    keys = list(dict.fromkeys(k for p in params for k in p))
    return [k for k in keys if len({repr(p.get(k)) for p in params}) > 1] or keys[:1]


def candidates_section(ctx: Ctx) -> list[Block]:
    out: list[Block] = []
    for t, methods in ctx.targets.items():
        for m, r in methods.items():
            cands = [c for c in _list(r.get("candidates")) if isinstance(c, dict)]
            if not cands:
                continue
            keys = _varying(cands)
            rows = []
            for c in cands:
                p = _dict(c.get("params"))
                rows.append(
                    [
                        *(plain(p.get(k)) for k in keys),
                        pct(c.get("score")),
                        plain(c.get("embedding")),
                        plain(c.get("layer")),
                        "chosen" if c.get("chosen") else "",
                    ]
                )
            on = plain(r.get("candidates_chosen_on") or _get(ctx.r, "selection", "split"))
            cap = (
                f"Candidate parameters of {m} for {name(t)}, each scored by its best held-out "
                "selection score over (embedding method, layer): mean top-1 on the held-out "
                f"split, embedding methods cross-fitted. Chosen on: {on}. The evaluated "
                "sentences were not looked at. " + ctx.board_variant()
            )
            header = [*keys, "held-out score", "best embedding", "at layer", ""]
            out += [Heading(f"{label(t)}: {m}", 3), Table(header, rows, cap)]
    if not out:
        return [
            Para(
                "No method listed candidate parameters (a list-valued parameter in [[methods]]): "
                "the only choices were each row's layer and, for model methods, the embedding "
                "combination, both on the split the full leaderboard names.",
                "note",
            )
        ]
    return out
