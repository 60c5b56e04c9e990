"""The report's reference sections: the full leaderboard, the untouched model per layer, what
was subsampled, the setup and the timings.

Like every section builder, each takes the :class:`~langsteer.report.context.Ctx` and returns
blocks; one that raises costs only its own section.
"""

from __future__ import annotations

from langsteer.report.board import CHOSEN_ON, choose, ci_text
from langsteer.report.context import Ctx, _bos, _dict, _get, _list, _num
from langsteer.report.markdown import Block, Bullets, Para, Table, label, pct, plain, seconds


def full_board_section(ctx: Ctx) -> list[Block]:
    """Every row of the leaderboard: each model method under every embedding method."""
    if not ctx.board:
        return []
    chosen = set()
    for key in {(r.get("method"), r.get("target")) for r in ctx.board if r.get("target")}:
        row = choose([r for r in ctx.board if (r.get("method"), r.get("target")) == key])
        chosen.add(id(row))
    rows = []
    for r in ctx.board:
        flags = [f for f in ("in_sample", "supervised") if r.get(f)]
        if id(r) in chosen:
            flags.insert(0, "headline")
        rows.append(
            [
                plain(r.get("method")),
                plain(r.get("kind")),
                label(r.get("target")) if r.get("target") else "(untouched model)",
                plain(r.get("embedding")),
                plain(r.get("layer")),
                pct(r.get("top1")),
                ci_text(r),
                plain(r.get("verdict")),
                plain(r.get("selected_on")),
                pct(r.get("selection_score")),
                plain(r.get("n")),
                ", ".join(f.replace("_", "-") for f in flags),
            ]
        )
    base, sel = ctx.baseline, _dict(ctx.r.get("selection"))
    cap = (
        f"Every (method, target, embedding method) row. Difference = row - baseline "
        f"({plain(base.get('method'))} at layer {plain(base.get('layer'))}) on the same "
        f"sentences, with its {plain(base.get('test', 'paired bootstrap'))} 95% interval "
        f"({plain(base.get('n_boot'))} resamples); verdict better/worse when the interval "
        "excludes 0. Each row's layer maximises its selection score (mean top-1 on the held-out "
        f"split, embedding methods cross-fitted); selected on: {plain(sel.get('split'))}. "
        "headline = the combination shown on the first screen (highest selection score of its "
        "method and target); in-sample = fitted on the evaluated sentences (OPTIMISTIC, never "
        "the baseline); supervised = fitted with translation pairs. " + ctx.board_variant()
    )
    header = ["Method", "Kind", "Target", "Embedding", "Layer", "Top-1", "Difference [95% CI]"]
    header += ["Verdict", "Selected on", "Selection score", "n", "Flags"]
    return [Table(header, rows, cap)]


def original_section(ctx: Ctx) -> list[Block]:
    """The untouched model at every layer: evaluated top-1 and held-out selection score."""
    orig = _dict(ctx.r.get("original"))
    per, sel = _dict(orig.get("per_layer")), _dict(orig.get("per_layer_heldout"))
    embs = [e for e, v in per.items() if isinstance(v, list)]
    if not embs:
        return []
    n = max(len(per[e]) for e in embs)
    layers = _list(orig.get("layers"))
    layers = layers if len(layers) == n else list(range(n))
    picked = {
        str(r.get("embedding")): r.get("layer")
        for r in ctx.board
        if r.get("target") is None and r.get("kind") == "embedding"
    }
    rows = []
    for i, layer in enumerate(layers):
        row = [plain(layer)]
        for e in embs:
            ev, ho = _list(per[e]), _list(sel.get(e))
            cell = pct(ev[i] if i < len(ev) else None)
            cell += f" ({pct(ho[i])})" if i < len(ho) and _num(ho[i]) else ""
            row.append(cell + (" ← chosen" if picked.get(e) == layer else ""))
        rows.append(row)
    on = CHOSEN_ON.get(str(_get(ctx.r, "selection", "how")), "")
    cap = (
        "The original model under each embedding method at every scored layer: evaluated top-1 "
        "(held-out selection score in brackets). ← chosen = the layer of its leaderboard row "
        f"({on}). " + ctx.board_variant()
    )
    return [Table(["Layer", *embs], rows, cap)]


def subsampling_section(ctx: Ctx) -> list[Block]:
    if "subsampling" not in ctx.r:
        return [Para("results.json does not record what was subsampled (older langsteer).", "note")]
    items = [s for s in _list(ctx.r.get("subsampling")) if isinstance(s, dict)]
    if not items:
        return [Para("Nothing was subsampled: every available sentence and pair was used.")]
    lines = [
        f"{plain(s.get('what'))}: {plain(s.get('used'))} of {plain(s.get('available'))} used "
        f"({plain(s.get('how'))})."
        for s in items
    ]
    return [Bullets(lines)]


def subsampling_lines(results: dict) -> list[str]:
    """The subsampling as console lines (shared with :mod:`langsteer.report.text`)."""
    items = [s for s in _list(results.get("subsampling")) if isinstance(s, dict)]
    if "subsampling" not in results:
        return ["subsampling: not recorded"]
    if not items:
        return ["subsampled: nothing (every available sentence and pair was used)"]
    return [
        f"subsampled: {plain(s.get('what'))}, {plain(s.get('used'))} of "
        f"{plain(s.get('available'))} ({plain(s.get('how'))})"
        for s in items
    ]


def setup_section(ctx: Ctx) -> list[Block]:
    r, c = ctx.r, ctx.cfg
    m, langs = _dict(r.get("model")), _dict(r.get("languages"))
    sig, ev = _dict(m.get("signature")), _dict(c.get("evaluation"))
    n_par = m.get("n_parameters")
    arch = f"{plain(sig.get('model_type'))}, {plain(sig.get('num_hidden_layers'))} layers, "
    arch += f"hidden size {plain(sig.get('hidden_size'))}, "
    arch += f"{n_par / 1e6:.2f} M parameters" if isinstance(n_par, int) else "size n/a"
    sel, base = _dict(r.get("selection")), ctx.baseline
    rows = [
        ["Model", f"{plain(m.get('id'))} (revision {plain(m.get('revision'))})"],
        ["Architecture", arch],
        ["Weights", f"dtype {plain(m.get('dtype'))} on {plain(m.get('device'))}"],
        ["Target languages", ", ".join(map(label, _list(langs.get("targets"))))],
        ["Extra negatives", ", ".join(map(label, _list(langs.get("negatives")))) or "none"],
        ["Evaluation languages", ", ".join(map(label, ctx.langs))],
        ["Sentence embedding", f"{plain(ev.get('pooling'))} over tokens{_bos(ev)}"],
        ["Retrieval", f"direction {plain(ev.get('direction'))}, {plain(ev.get('scoring'))}"],
        ["Layer selection", f"{plain(sel.get('how'))}: {plain(sel.get('split'))}"],
        [
            "Headline layer of the paper's measurements",
            f"evaluation.layer = {plain(ev.get('layer'))}",
        ],
        ["Medoid", plain(ev.get("medoid"))],
        ["Comparison", f"{plain(base.get('test'))}, {plain(base.get('n_boot'))} resamples"],
    ]
    for split, d in _dict(r.get("corpora")).items():
        src = _get(d, "provenance", "source") or _get(c, "corpus", "source")
        what = f"{plain(_get(d, 'n'))} sentences x {len(_list(_get(d, 'languages')))} languages"
        rows.append([f"Corpus: {split}", f"{what} ({plain(src)})"])
    seeds = {"corpus split": ("corpus", "seed"), "run": ("run", "seed")}
    seeds["random units"] = ("intervention", "random_seed")
    rows.append(["Seeds", ", ".join(f"{k} {plain(_get(c, *p))}" for k, p in seeds.items())])
    out: list[Block] = [Table(["Setting", "Value"], rows, "Hashes and versions: see Provenance.")]
    methods = [
        [
            plain(d.get("method")),
            plain(d.get("name")),
            plain(d.get("kind")),
            ", ".join(f"{k} {plain(v)}" for k, v in _dict(d.get("params")).items()) or "none",
            plain(d.get("summary")),
        ]
        for d in ctx.declared.values()
    ]
    if methods:
        cap = "The methods this study compares ([[methods]]); a list = candidates."
        out.append(Table(["Label", "Method", "Kind", "Parameters", "What it does"], methods, cap))
    return out


def timings_section(ctx: Ctx) -> list[Block]:
    tm = {k: v for k, v in _dict(ctx.r.get("timings")).items() if _num(v)}
    if not tm:
        return [Para("No timings recorded.", "note")]
    total = sum(tm.values())
    rows = [[k, seconds(v), f"{100 * v / total:.0f}%" if total else "n/a"] for k, v in tm.items()]
    rows.append(["total", seconds(total), "100%"])
    return [Table(["Stage", "Wall time", "Share"], rows, "Wall-clock time per pipeline stage.")]
