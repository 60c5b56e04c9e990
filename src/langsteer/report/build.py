"""Turn a study's ``results.json`` into ``report.md``, a self-contained ``report.html`` and PNGs.

The report is assembled once as blocks and rendered twice (Markdown, HTML), so both always say
the same thing. The first screen (:mod:`langsteer.report.headline`) is the verdict, the compact
leaderboard and one figure; every other section follows collapsed. Each section (and each part
of a per-target section) is built on its own and guarded: a results file from an older or newer
pipeline (a missing analysis, an unknown key, a malformed value) costs one section a note,
never the whole report after a long run.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from langsteer.io import atomic_write_bytes, atomic_write_text, strict_json
from langsteer.report.context import Ctx
from langsteer.report.extras import (
    full_board_section,
    original_section,
    setup_section,
    subsampling_section,
    timings_section,
)
from langsteer.report.fitted import candidates_section, experts_section, interventions_section
from langsteer.report.generation import generation_section
from langsteer.report.headline import first_screen, title_of
from langsteer.report.html import render_html
from langsteer.report.markdown import (
    Block,
    Details,
    Figure,
    Heading,
    Para,
    label,
    render_markdown,
    walk,
)
from langsteer.report.paper import PARTS
from langsteer.report.provenance import provenance_section

__all__ = ["build_blocks", "title_of", "write_report"]


def guarded(title: str, make: Callable[..., list[Block]], *args: Any) -> list[Block]:
    """``make(*args)``, or one note (and a warning) if it raises: one odd value must not cost
    the whole report."""
    try:
        return make(*args)
    except Exception as exc:
        warnings.warn(f"report section {title!r} failed: {exc!r}", stacklevel=2)
        why = f"{type(exc).__name__}: {exc}"
        return [Para(f"This section could not be rendered ({why}); see results.json.", "note")]


def target_blocks(ctx: Ctx, target: str) -> list[Block]:
    """The paper's measurements for one target, every model method side by side."""
    methods = ctx.targets[target]
    out: list[Block] = []
    for title, make in PARTS:
        body = guarded(f"{title} ({target})", make, ctx, target, methods)
        if body:
            out += [Heading(title, 3), *body]
    return out


SECTIONS: list[tuple[str, Callable[[Ctx], list[Block]]]] = [
    ("Full leaderboard: every model method under every embedding method", full_board_section),
    ("The untouched model at every layer", original_section),
    ("What each model method attached", interventions_section),
    ("Where the experts are", experts_section),
    ("Parameters chosen on the held-out split", candidates_section),
    ("Generation: target-language share and perplexity (paper Fig. 3)", generation_section),
    ("What was subsampled", subsampling_section),
    ("Setup", setup_section),
    ("Timings", timings_section),
    ("Provenance", provenance_section),
]
#: Where the per-target sections go among :data:`SECTIONS` (after the attached methods).
TARGETS_AT = 3


def build_blocks(results: dict) -> list[Block]:
    """The whole report as blocks: the first screen, then one collapsed section each."""
    results = strict_json(results)  # what results.json says: NaN and inf read as missing
    ctx = Ctx(results)
    blocks: list[Block] = [Heading(title_of(results), 1)]
    blocks += guarded("first screen", first_screen, ctx)
    per_target = [
        (f"{label(t)}: the paper's measurements of every model method", target_blocks, t)
        for t, methods in ctx.targets.items()
        if methods
    ]
    order: list[tuple[str, Callable[..., list[Block]], tuple]] = [
        (title, make, ()) for title, make in SECTIONS
    ]
    order[TARGETS_AT:TARGETS_AT] = [(title, make, (t,)) for title, make, t in per_target]
    for title, make, args in order:
        body = guarded(title, make, ctx, *args)
        if body:
            blocks.append(Details(title, body))
    return blocks


def write_report(results: dict, out_dir: Path) -> dict[str, Path]:
    """Write report.md, report.html and figures/*.png into ``out_dir``, each file atomically.

    Returns ``{"markdown": path, "html": path}`` plus ``"figures"`` (the folder) when figures
    were drawn. Figures go first, so report.md never points at a file not yet written.
    """
    out_dir = Path(out_dir)
    blocks = build_blocks(results)
    written: dict[str, Path] = {}
    for b in walk(blocks):
        if isinstance(b, Figure):
            atomic_write_bytes(out_dir / "figures" / b.name, b.png)
            written["figures"] = out_dir / "figures"
    md = atomic_write_text(out_dir / "report.md", render_markdown(blocks))
    page = atomic_write_text(out_dir / "report.html", render_html(blocks, title_of(results)))
    return {"markdown": md, "html": page, **written}
