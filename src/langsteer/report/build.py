"""Turn a study's ``results.json`` into ``report.md``, a self-contained ``report.html`` and PNGs.

The report is assembled once as blocks and rendered twice (Markdown, HTML), so both always say
the same thing. Each section is built on its own and guarded: a results file from an older or
newer pipeline (a missing analysis, an unknown key, a malformed value) costs one section a
note, never the whole report after a long run. Sections follow the paper (Table 1, Fig. 4, 5,
6, Table 2, 3, Sec. 7), and every retrieval number carries its variant in a caption.
"""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from langsteer.io import atomic_write_bytes, atomic_write_text
from langsteer.report import figures as F
from langsteer.report.html import render_html
from langsteer.report.markdown import (
    Block,
    Code,
    Figure,
    Heading,
    Para,
    Table,
    Toc,
    label,
    name,
    num,
    pct,
    plain,
    pp,
    render_markdown,
    seconds,
)

__all__ = ["build_blocks", "title_of", "write_report"]

# Keys of results.json that some section renders; anything else is listed under Provenance.
KNOWN_TOP = {
    "targets", "baseline", "config", "languages", "model", "corpora", "paraphrase_pairs",
    "responses", "versions", "machine", "langsteer", "timings", "sweep", "sweep_options",
    "generation",
}  # fmt: skip
KNOWN_TARGET = {
    "retrieval", "geometry", "paraphrase", "correlation", "projection", "experts",
    "intervention", "random_control", "controls",
}  # fmt: skip
RANDOM = "random units = the same number of randomly chosen units given the experts' values"


def _get(d: Any, *keys: Any, default: Any = None) -> Any:
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return default
        d = d[k]
    return d


def _diff(a: Any, b: Any) -> float | None:
    ok = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (a, b))
    return a - b if ok else None


def _mean(values: Any) -> float | None:
    vals = [float(v) for v in values if isinstance(v, int | float)]
    return sum(vals) / len(vals) if vals else None


def _dict(x: Any) -> dict:
    return x if isinstance(x, dict) else {}


class Ctx:
    """The results plus what every section needs: languages, variant captions, figures."""

    def __init__(self, results: dict) -> None:
        self.r = results
        self.targets = {k: v for k, v in _dict(results.get("targets")).items() if _dict(v)}
        self.cfg = _dict(results.get("config"))
        self.draw = F.available()
        self.n_eval = _get(results, "corpora", "eval", "n")
        langs = _get(results, "languages", "evaluation")
        if not langs:  # fall back to whatever the retrieval tables mention
            seen: dict[str, None] = {}
            for t in self.targets.values():
                for q, row in _dict(_get(t, "retrieval", "pre")).items():
                    seen.update({q: None, **dict.fromkeys(row)})
            langs = list(seen)
        self.langs: list[str] = [str(x) for x in langs]

    def figure(self, stem: str, target: str, draw: Callable[[], bytes], caption: str) -> Block:
        """A figure block, or a note when matplotlib is missing or the drawing fails."""
        if not self.draw:
            return Para(
                "Figure skipped: matplotlib is not installed (pip install matplotlib).", "note"
            )
        try:
            png = draw()
        except Exception as exc:  # a figure must never cost the report
            warnings.warn(f"report figure {stem} failed: {exc!r}", stacklevel=2)
            return Para(f"Figure {stem} could not be drawn ({type(exc).__name__}: {exc}).", "note")
        file = f"{stem}_{re.sub(r'[^A-Za-z0-9_-]+', '_', target)}.png"
        return Figure(file, png, caption, caption.split(". ")[0])

    def variant(self, retrieval: dict) -> str:
        """What 'top-1' means for these numbers (the peers disagree, so always say it)."""
        ev = _dict(self.cfg.get("evaluation"))
        parts = ", ".join(f"{k} {plain(x)}" for k, x in _dict(retrieval.get("variant")).items())
        layer = retrieval.get("layer", ev.get("layer"))
        where = "the last layer" if layer == -1 else f"hidden state {plain(layer)}"
        bos = ", BOS excluded" if ev.get("skip_bos") else ""
        n = self.n_eval
        per = f"; {n} sentences per language (1 sentence = {100 / n:.1f} pp)" if n else ""
        return (
            "Top-1 retrieval = share of query sentences whose nearest candidate sentence is "
            f"their translation. Variant: {parts or 'not recorded'}; sentence embedding = "
            f"{plain(ev.get('pooling', '?'))} over tokens{bos}, at {where}{per}."
        )

    def study_variant(self) -> str:
        """The variant of the first target's retrieval: the study-wide setting, for summaries."""
        first = next(iter(self.targets.values()), {})
        return self.variant(_dict(first.get("retrieval")))

    def random_note(self) -> str:
        seed = _get(self.cfg, "intervention", "random_seed")
        return f"{RANDOM.capitalize()} (seed {plain(seed)})."


# --- the plain-language summary ------------------------------------------------------------------


def _intervention_words(t: dict, lang: str) -> str:
    iv = _dict(t.get("intervention"))
    if not iv:
        return "intervention not recorded"
    value, scale, mode = iv.get("value"), iv.get("scale", 1.0), iv.get("mode")
    if mode == "aura":
        what = "dampened by AurA's factor 1 - 2(AUROC - 0.5)"
    elif value == "zero":
        what = "set to zero"
    elif isinstance(value, str):
        what = f"set to its {value} response on {lang} sentences"
    else:
        what = f"set to {plain(value)}"
    if scale not in (None, 1, 1.0) and mode != "aura":
        what += f" times {plain(scale)}"
    pos = iv.get("positions", "all")
    return what + (" at every token position" if pos == "all" else f" at positions '{pos}'")


def _versus(what: str, expert: float | None, rand: float | None, fmt: Callable) -> str:
    """One plain sentence comparing the random control with the experts (paper Sec. 7)."""
    if expert is None or rand is None:
        return ""
    both = f"(random {fmt(rand)} vs experts {fmt(expert)})"
    if expert <= 0:
        return f"On {what}, random units did better than the experts {both}." if rand > 0 else ""
    if rand / expert >= 0.8:
        return (
            f"On {what}, random units did as well as the experts {both}: this change is not "
            "specific to the experts."
        )
    if rand / expert >= 0.25:
        return f"On {what}, random units got part of the experts' effect {both}."
    return f"On {what}, random units did not reproduce the experts' effect {both}."


def _summary_for(ctx: Ctx, lang: str, t: dict) -> str:
    r, g, nm = _dict(t.get("retrieval")), _dict(t.get("geometry")), name(lang)
    k = _get(t, "experts", "k", default="?")
    units = _get(t, "intervention", "units") or _get(ctx.cfg, "experts", "units", default="?")
    head = f"Forcing {k} {nm} experts ({units} units, each {_intervention_words(t, nm)})"
    d0 = g.get("geometry.pre.mean_pairwise_centroid")
    d1 = g.get("geometry.post.mean_pairwise_centroid")
    clauses = []
    if _diff(d1, d0) is not None:
        verb = "moved languages closer" if d1 < d0 else "pushed languages apart"
        verb = verb if d1 != d0 else "left language distances unchanged"
        dist = f"{num(d0, 2)} → {num(d1, 2)}"
        clauses.append(f"{verb}: mean cosine distance between language centroids {dist}")
    m0, m1 = r.get("mean_pre"), r.get("mean_post")
    if _diff(m1, m0) is not None:
        n_pairs = sum(len(v) for v in _dict(r.get("pre")).values())
        q0 = _mean(_dict(_get(r, "pre", lang)).values())
        q1 = _mean(_dict(_get(r, "post", lang)).values())
        clauses.append(
            f"mean top-1 retrieval over {n_pairs} ordered language pairs {pct(m0)} → {pct(m1)} "
            f"({pp(m1 - m0)}; with {nm} as the query {pct(q0)} → {pct(q1)})"
        )
    out = [head + (" " + "; ".join(clauses) if clauses else " (nothing measured)") + "."]
    rc = t.get("random_control")
    if isinstance(rc, dict):
        rd1 = _get(rc, "geometry", "geometry.post.mean_pairwise_centroid")
        rm1 = _get(rc, "retrieval", "mean_post")
        out.append(
            f"Random units of the same count: centroid distance {num(d0, 2)} → {num(rd1, 2)}, "
            f"mean top-1 {pct(m0)} → {pct(rm1)} ({pp(_diff(rm1, m0))})."
        )
        out.append(_versus("retrieval", _diff(m1, m0), _diff(rm1, m0), pp))
        drop = partial(num, digits=2, signed=True)
        out.append(_versus("centroid distance", _diff(d0, d1), _diff(d0, rd1), lambda x: drop(-x)))
    else:
        out.append("No random-unit control was run, so nothing shows the change needs the experts.")
    v = _get(t, "controls", "verdict")
    if isinstance(v, dict) and v.get("winner") is not None:
        out.append("Against the controls: " + verdict_words(v))
    para = _dict(t.get("paraphrase"))
    if para.get("paraphrase.mixed") is not None:
        out.append(
            f"Within-language paraphrase retrieval: Pre {pct(para.get('paraphrase.pre'))}, "
            f"Post {pct(para.get('paraphrase.post'))}, Mixed {pct(para.get('paraphrase.mixed'))}."
        )
    return " ".join(x for x in out if x)


def summary_blocks(ctx: Ctx) -> list[Block]:
    blocks: list[Block] = [Para(_summary_for(ctx, x, t), "summary") for x, t in ctx.targets.items()]
    if not blocks:
        blocks.append(Para("results.json holds no target languages: nothing to report.", "summary"))
    if ctx.targets:
        has_ci = any(_get(t, "controls", "verdict") for t in ctx.targets.values())
        ci = " (the Controls section gives bootstrap CIs)" if has_ci else ""
        note = f"{ctx.study_variant()} Changes of a sentence or two are noise{ci}."
        blocks.append(Para(note, "note"))
    return blocks


# --- setup and experts ---------------------------------------------------------------------------


def _bos(d: dict) -> str:
    return ", BOS excluded" if d.get("skip_bos") else ""


def setup_section(ctx: Ctx) -> list[Block]:
    r, c = ctx.r, ctx.cfg
    m, langs = _dict(r.get("model")), _dict(r.get("languages"))
    sig, units = _dict(m.get("signature")), _dict(_get(r, "responses", "units"))
    x, iv = _dict(c.get("experts")), _dict(c.get("intervention"))
    ev = _dict(c.get("evaluation"))
    n_par, n_units = m.get("n_parameters"), units.get("n_units")
    arch = f"{plain(sig.get('model_type'))}, {plain(sig.get('num_hidden_layers'))} layers, "
    arch += f"hidden size {plain(sig.get('hidden_size'))}, "
    arch += f"{n_par / 1e6:.2f} M parameters" if isinstance(n_par, int) else "size n/a"
    rows = [
        ["Model", f"{plain(m.get('id'))} (revision {plain(m.get('revision'))})"],
        ["Architecture", arch],
        ["Weights", f"dtype {plain(m.get('dtype'))} on {plain(m.get('device'))}"],
        ["Units", f"{plain(units.get('spec', x.get('units')))} ({plain(n_units)} units)"],
        ["Expert score", f"{plain(x.get('score'))} of {plain(x.get('pooling'))}-pooled "
                         f"per-sentence responses{_bos(x)}"],
        ["Experts per target", f"k = {plain(x.get('k'))} (+{plain(x.get('bottom_k', 0))} bottom)"],
        ["Intervention", ", ".join(f"{k} {plain(v)}" for k, v in iv.items() if k != "random_seed")],
        ["Random-unit control", plain(_get(c, "analyses", "random_control"))],
        ["Target languages", ", ".join(map(label, langs.get("targets", [])))],
        ["Extra negatives", ", ".join(map(label, langs.get("negatives", []))) or "none"],
        ["Evaluation languages", ", ".join(map(label, ctx.langs))],
        ["Sentence embedding", f"{plain(ev.get('pooling'))} over tokens{_bos(ev)}, "
                               f"hidden state {plain(ev.get('layer'))}"],
        ["Retrieval", f"direction {plain(ev.get('direction'))}, {plain(ev.get('scoring'))}"],
    ]  # fmt: skip
    for split, d in _dict(r.get("corpora")).items():
        src = _get(d, "provenance", "source") or _get(c, "corpus", "source")
        what = f"{plain(_get(d, 'n'))} sentences x {len(_get(d, 'languages') or [])} languages"
        rows.append([f"Corpus: {split}", f"{what} ({plain(src)}), hash {_short(d)}"])
    seeds = {"corpus split": ("corpus", "seed"), "run": ("run", "seed")}
    seeds["random units"] = ("intervention", "random_seed")
    rows.append(["Seeds", ", ".join(f"{k} {plain(_get(c, *p))}" for k, p in seeds.items())])
    rows.append(["Bootstrap resamples", plain(ev.get("n_boot"))])
    return [Table(["Setting", "Value"], rows, "Full configuration and hashes: see Provenance.")]


def _short(d: Any) -> str:
    return str(_get(d, "content_hash") or "n/a")[:12]


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
    "mean_to_medoid_nontarget": "Mean distance to the medoid (languages but target and medoid)",
    "medoid": "Medoid language",
    "mean_to_target_centroid": "Mean distance to the target (centroids)",
    "mean_to_target_parallel": "Mean distance to the target (translations)",
    "mean_cosine": "Mean cosine similarity of unrelated sentences (anisotropy)",
}


def _change(key: str, a: Any, b: Any) -> str:
    if key == "medoid":
        return "same" if a == b else "changed"
    return num(_diff(b, a), signed=True)


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
            cell = label if key == "medoid" else num
            row = [text, cell(pre), cell(post), _change(key, pre, post)]
            if has_rnd:
                rpost = rg.get(f"geometry.post.{key}")
                row += [cell(rpost), _change(key, pre, rpost)]
            if pre is not None or post is not None:
                rows.append(row)
        header = ["Quantity (cosine distance unless stated)", "Pre", "Post (experts)", "Change"]
        header += ["Post (random units)", "Change (random)"] if has_rnd else []
        cap = (
            f"Cosine distance = 1 - cos ({plain(g.get('geometry.variant.distance', 'n/a'))}; "
            f"centring {plain(g.get('geometry.variant.centering', 'n/a'))}). Translations = mean "
            "distance between a sentence and its translation. Medoid = the language closest to "
            "all others in that space. " + (ctx.random_note() if has_rnd else "")
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
        out.append(Table(head2, per_lang, "Per language: cosine distance between centroids."))
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
        header = ["Candidate language", "Pre", "Post (experts)", "Change"]
        if isinstance(rr, dict):
            series["random"] = [_get(rr, "post", lang, c) for c in cands]
            header += ["Post (random units)", "Change (random)"]
        rows = []
        for i, c in enumerate(cands):
            pre, post = series["pre"][i], series["post"][i]
            row = [label(c), pct(pre), pct(post), pp(_diff(post, pre))]
            if "random" in series:
                row += [pct(series["random"][i]), pp(_diff(series["random"][i], pre))]
            rows.append(row)
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
}
SPACE_NAMES = {"pre": "original model", "post": "experts forced", "random": "random units forced"}


def verdict_words(v: dict) -> str:
    """The verdict in one plain sentence (the long form is in the table below it)."""
    winner, best, who = v.get("winner"), plain(v.get("best_baseline")), plain(v.get("intervention"))
    d, lo, hi = (v.get(f"{x}.{best}") for x in ("delta", "ci_low", "ci_high"))
    diff = f"{pp(d)}, 95% CI [{pp(lo)}, {pp(hi)}]"
    if winner == "none":
        return f"no winner: {who} is not distinguishable from the best control, {best} ({diff})."
    if winner == v.get("intervention"):
        return f"{who} beats every control, the best being {best} ({diff})."
    return f"a control ({best}) does better than {who} ({diff})."


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
            variant = ", ".join(f"{k} {plain(x)}" for k, x in _dict(table.get("variant")).items())
            cap += f" Variant: {variant or 'not recorded'}."
            header = ["Space", *(CONTROL_NAMES.get(k, k) for k in keys)]
            out.append(Table(header, rows, cap))
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
        + (", ".join(f"{k} {plain(v)}" for k, v in variant.items()) or "not recorded")
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


# --- later additions: k sweep (Fig. 3) and generated samples -------------------------------------


def _top_languages(dist: Any, n: int = 3) -> str:
    """'English 60%, French 25%': what the generations were identified as."""
    items = sorted(_dict(dist).items(), key=lambda kv: -kv[1] if _num(kv[1]) else 0)[:n]
    return ", ".join(f"{name(c)} {pct(v, 0)}" for c, v in items) or "n/a"


def _num(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


# (key in results["sweep"][target], column header, formatter); shown when present
SWEEP_COLUMNS: list[tuple[str, str, Callable[[Any], str]]] = [
    ("target_rate", "target-language share", pct),
    ("distribution", "identified as", _top_languages),
    ("log_ppl", "log-perplexity (nats/token)", partial(num, digits=3)),
    ("ppl", "perplexity", partial(num, digits=1)),
    ("retrieval_mean", "mean top-1", pct),
    ("retrieval_gain", "top-1 gain vs k = 0", pp),
    ("retrieval_mean_centred", "mean top-1, per-language centred", pct),
    ("mean_score", "mean expert score", num),
    ("seconds", "time", seconds),
]


def sweep_section(ctx: Ctx) -> list[Block]:
    out: list[Block] = []
    opts = _dict(ctx.r.get("sweep_options"))
    shown = ("n_samples", "seeds", "max_new_tokens", "temperature", "top_p")
    how = ", ".join(f"{k} {plain(opts[k])}" for k in shown if k in opts)
    ident = _dict(opts.get("identifier"))
    how += f"; language identifier {plain(ident.get('name'))} {plain(ident.get('version'))}"
    for lang, s in _dict(ctx.r.get("sweep")).items():
        if not isinstance(s, dict) or not isinstance(s.get("k"), list):
            continue
        ks, nm = s["k"], name(lang)
        cols = [(key, head, f) for key, head, f in SWEEP_COLUMNS if isinstance(s.get(key), list)]
        rows = [[plain(k) + (" (original model)" if k == 0 else "")] for k in ks]
        for key, _, fmt in cols:
            for row, v in zip(rows, s[key], strict=False):
                row.append(fmt(v))
        series = {k: s.get(k) if isinstance(s.get(k), list) else [None] * len(ks)
                  for k in ("target_rate", "log_ppl")}  # fmt: skip
        gain = s.get("retrieval_gain") if isinstance(s.get("retrieval_gain"), list) else None
        title = f"{nm}: steering vs perplexity"
        draw = partial(F.sweep, ks, series["target_rate"], series["log_ppl"], gain, title)
        cap = (
            f"Share of generations identified as {nm} (%, left axis) and log-perplexity on {nm} "
            "text (nats per token, right axis) against the number of experts forced."
        )
        out += [Heading(label(lang), 3), ctx.figure("sweep", lang, draw, cap)]
        header = ["k (experts)", *(head for _, head, _ in cols)]
        cap = f"Generation: {how}. " if opts else ""
        if any(key.startswith("retrieval") for key, _, _ in cols):
            cap += "Retrieval columns: mean over ordered pairs. " + ctx.study_variant()
        out.append(Table(header, rows, cap))
    return out


def _k_order(k: Any) -> tuple:
    return (0, int(k), "") if str(k).isdigit() else (1, 0, str(k))


def generation_section(ctx: Ctx, max_samples: int = 5, max_chars: int = 400) -> list[Block]:
    out: list[Block] = []
    for lang, by_k in _dict(ctx.r.get("generation")).items():
        if not isinstance(by_k, dict):
            continue
        out.append(Heading(label(lang), 3))
        for k in sorted(by_k, key=_k_order):
            entry = _dict(by_k[k])
            facts = [
                f"{key} {pct(v) if 'rate' in key or 'share' in key else plain(v)}"
                for key, v in entry.items()
                if isinstance(v, int | float | str) and not isinstance(v, bool)
            ]
            samples = [str(x) for x in entry.get("samples") or []]
            out.append(Para(f"k = {plain(k)}: " + ("; ".join(facts) or f"{len(samples)} samples")))
            if samples:
                shown = [x if len(x) <= max_chars else x[:max_chars] + " …" for x in samples]
                text = "\n---\n".join(shown[:max_samples])
                if len(samples) > max_samples:
                    text += f"\n[{len(samples) - max_samples} more samples in results.json]"
                out.append(Code(text))
    return out


# --- timings and provenance ----------------------------------------------------------------------


def timings_section(ctx: Ctx) -> list[Block]:
    tm = {k: v for k, v in _dict(ctx.r.get("timings")).items() if isinstance(v, int | float)}
    if not tm:
        return [Para("No timings recorded.", "note")]
    total = sum(tm.values())
    rows = [[k, seconds(v), f"{100 * v / total:.0f}%" if total else "n/a"] for k, v in tm.items()]
    rows.append(["total", seconds(total), "100%"])
    return [Table(["Stage", "Wall time", "Share"], rows, "Wall-clock time per pipeline stage.")]


def _text(v: Any) -> str:
    return json.dumps(v, default=str) if isinstance(v, dict) else plain(v)


def provenance_section(ctx: Ctx) -> list[Block]:
    r = ctx.r
    rows = [["langsteer", plain(r.get("langsteer", _get(r, "versions", "langsteer")))]]
    for group in ("versions", "machine", "model", "responses"):
        rows += [[f"{group}: {k}", _text(v)] for k, v in _dict(r.get(group)).items()]
    for split, d in _dict(r.get("corpora")).items():
        rows.append([f"corpus {split}: content hash", plain(_get(d, "content_hash"))])
        rows.append([f"corpus {split}: sentences", plain(_get(d, "n"))])
        rows.append([f"corpus {split}: languages", plain(_get(d, "languages"))])
        rows.append([f"corpus {split}: provenance", _text(_get(d, "provenance"))])
    if isinstance(r.get("paraphrase_pairs"), dict):
        rows.append(["paraphrase pairs", _text(r["paraphrase_pairs"])])
    rows += [
        [f"experts file: {x}", plain(_get(t, "experts", "file"))] for x, t in ctx.targets.items()
    ]
    blocks: list[Block] = [Table(["Item", "Value"], rows)]
    blocks += [Heading("Study configuration", 3), Code(json.dumps(ctx.cfg, indent=2, default=str))]
    other = sorted(set(r) - KNOWN_TOP)
    other += sorted({f"targets.*.{k}" for t in ctx.targets.values() for k in t} - {
        f"targets.*.{k}" for k in KNOWN_TARGET})  # fmt: skip
    if other:
        blocks.append(Para(f"Also in results.json, not shown here: {', '.join(other)}.", "note"))
    return blocks


# --- assembly ------------------------------------------------------------------------------------

SECTIONS: list[tuple[str, Callable[[Ctx], list[Block]]]] = [
    ("Setup", setup_section),
    ("Where the experts are", experts_section),
    ("Embedding-space geometry (paper Table 1)", geometry_section),
    ("Retrieval with the target as query (paper Fig. 4)", top1_section),
    ("Change in retrieval over all language pairs (paper Fig. 5)", delta_section),
    ("Retrieval at every layer", layers_section),
    ("Controls: can something simpler explain the gain?", controls_section),
    ("2-D projection of the embedding space (paper Fig. 6)", projection_section),
    ("Paraphrase retrieval within one language (paper Table 3)", paraphrase_section),
    ("Correlation of retrieval with distance (paper Table 2)", correlation_section),
    ("Number of experts: steering vs perplexity (paper Fig. 3)", sweep_section),
    ("Generated samples", generation_section),
    ("Timings", timings_section),
    ("Provenance", provenance_section),
]


def title_of(results: dict) -> str:
    model = _get(results, "model", "id") or _get(results, "config", "model", "id") or "?"
    targets = ", ".join(name(x) for x in _dict(results.get("targets"))) or "no"
    return f"langsteer report: {targets} experts in {model}"


def build_blocks(results: dict) -> list[Block]:
    """The whole report as blocks; a section that fails becomes a note (and a warning)."""
    ctx = Ctx(results)
    blocks: list[Block] = [Heading(title_of(results), 1), *summary_blocks(ctx), Toc()]
    for title, make in SECTIONS:
        try:
            body = make(ctx)
        except Exception as exc:  # one odd value must not cost the whole report
            warnings.warn(f"report section {title!r} failed: {exc!r}", stacklevel=2)
            why = f"{type(exc).__name__}: {exc}"
            body = [Para(f"This section could not be rendered ({why}); see results.json.", "note")]
        if body:
            blocks += [Heading(title, 2), *body]
    return blocks


def write_report(results: dict, out_dir: Path) -> dict[str, Path]:
    """Write report.md, report.html and figures/*.png into ``out_dir``, each file atomically.

    Returns ``{"markdown": path, "html": path}`` plus ``"figures"`` (the folder) when figures
    were drawn. Figures go first, so report.md never points at a file not yet written.
    """
    out_dir = Path(out_dir)
    blocks = build_blocks(results)
    written: dict[str, Path] = {}
    for b in blocks:
        if isinstance(b, Figure):
            atomic_write_bytes(out_dir / "figures" / b.name, b.png)
            written["figures"] = out_dir / "figures"
    md = atomic_write_text(out_dir / "report.md", render_markdown(blocks))
    page = atomic_write_text(out_dir / "report.html", render_html(blocks, title_of(results)))
    return {"markdown": md, "html": page, **written}
