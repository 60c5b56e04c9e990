"""Turn a study's ``results.json`` into ``report.md``, a self-contained ``report.html`` and PNGs.

The report is assembled once as blocks and rendered twice (Markdown, HTML), so both always say
the same thing. Each section is built on its own and guarded: a results file from an older or
newer pipeline (a missing analysis, an unknown key, a malformed value) costs one section a
note, never the whole report after a long run. Sections follow the paper (Table 1, Fig. 4, 5,
6, Table 2, 3, Sec. 7), and every retrieval number carries its variant in a caption.

This module holds the entry point, the plain-language summary at the top and the order of the
sections; the sections themselves are in :mod:`langsteer.report.sections` (the analyses) and
:mod:`langsteer.report.extras` (setup, k sweep, samples, timings, provenance), and what they share
in :mod:`langsteer.report.context`.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from functools import partial
from pathlib import Path

from langsteer.io import atomic_write_bytes, atomic_write_text
from langsteer.report.context import Ctx, _dict, _diff, _get, _mean
from langsteer.report.extras import (
    _vector_words,
    generation_section,
    provenance_section,
    setup_section,
    steering_section,
    sweep_section,
    timings_section,
)
from langsteer.report.html import render_html
from langsteer.report.markdown import (
    Block,
    Figure,
    Heading,
    Para,
    Toc,
    name,
    num,
    pct,
    plain,
    pp,
    render_markdown,
)
from langsteer.report.sections import (
    controls_section,
    correlation_section,
    delta_section,
    experts_section,
    geometry_section,
    layers_section,
    paraphrase_section,
    projection_section,
    top1_section,
    verdict_words,
)

__all__ = ["build_blocks", "title_of", "write_report"]


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
    sv = _dict(t.get("steering_vector"))
    if sv:
        sm = _get(sv, "retrieval", "mean_post")
        out.append(
            f"A {nm} steering vector added instead of the experts "
            f"({_vector_words(sv.get('vector'))}): mean top-1 {pct(m0)} → {pct(sm)} "
            f"({pp(_diff(sm, m0))})."
        )
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


# --- assembly ------------------------------------------------------------------------------------

SECTIONS: list[tuple[str, Callable[[Ctx], list[Block]]]] = [
    ("Setup", setup_section),
    ("Where the experts are", experts_section),
    ("Embedding-space geometry (paper Table 1)", geometry_section),
    ("Retrieval with the target as query (paper Fig. 4)", top1_section),
    ("Change in retrieval over all language pairs (paper Fig. 5)", delta_section),
    ("Retrieval at every layer", layers_section),
    ("Controls: can something simpler explain the gain?", controls_section),
    ("Experts vs a steering vector", steering_section),
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
