"""The report's first screen: the verdict, the compact leaderboard and one headline figure.

Nothing else goes above the fold: a reader who opens report.html sees which method aligns
languages best per target, against the best method that leaves the model untouched, with the
interval that says whether the difference is more than sentence sampling, and on which split
every choice was made. Everything else follows in collapsed sections.
"""

from __future__ import annotations

from functools import partial

from langsteer.report import figures as F
from langsteer.report.board import BEST, CHOSEN_ON, Line, cell_text, column_title, compact, verdict
from langsteer.report.context import Ctx, _dict, _get
from langsteer.report.markdown import Block, Para, Table, name, pct, plain

KIND_WORDS = {"embedding": "untouched model", "model": "model method"}


def title_of(results: dict) -> str:
    model = _get(results, "model", "id") or _get(results, "config", "model", "id") or "?"
    targets = ", ".join(name(x) for x in _dict(results.get("targets"))) or "no targets"
    return f"langsteer report: which method aligns languages in {model}? ({targets})"


def board_table(ctx: Ctx) -> Table:
    """One row per method, one column per target; best per column bold and starred."""
    cols, lines = compact(ctx.r)
    rows, bold = [], set()
    for i, line in enumerate(lines):
        rows.append([line.title, KIND_WORDS.get(line.kind, line.kind)])
        for j, col in enumerate(cols):
            rows[-1].append(cell_text(line, col))
            if col in line.best:
                bold.add((i, j + 2))
    base = ctx.baseline
    on = CHOSEN_ON.get(str(_get(ctx.r, "selection", "how")), "chosen as results.json says")
    caption = (
        f"Each cell: top-1 · its difference from the baseline ({plain(base.get('method'))}, "
        f"{pct(base.get('top1'))}) with the paired 95% bootstrap interval over sentences "
        f"({plain(base.get('n_boot'))} resamples) · the layer L (and, for model methods, the "
        f"embedding method: raw = none), {on}; an interval that excludes 0 is "
        f"a real difference. {BEST} = best in its column (in-sample rows excluded). Untouched-"
        "model rows do not depend on the target, so they repeat across columns. Model methods "
        "show their combination with the highest held-out selection score; every combination "
        "is in the full leaderboard below. " + ctx.board_variant()
    )
    header = ["Method", "Kind", *(column_title(c) for c in cols)]
    return Table(header, rows, caption, bold)


def _groups(lines: list[Line], cols: list[str | None]) -> list:
    base = F.UNTOUCHED
    groups = []
    for line in lines:
        if line.kind != "model":
            row = next((r for r in line.cells.values() if r), None)
            bars = [(base, row.get("top1"), _interval(row))] if row else []
        else:
            bars = [
                (name(c) if c else "all", line.cells[c].get("top1"), _interval(line.cells[c]))
                for c in cols
                if line.cells.get(c)
            ]
        if bars:
            groups.append((line.title, bars))
    return groups


def _interval(row: dict) -> tuple[float, float] | None:
    ci, delta, top = row.get("ci95"), row.get("delta"), row.get("top1")
    if not isinstance(ci, list | tuple) or len(ci) != 2 or None in ci:
        return None
    if not all(isinstance(x, int | float) for x in (*ci, delta, top)):
        return None
    base = top - delta  # the baseline's top-1 on the same sentences
    return base + ci[0], base + ci[1]


def headline_figure(ctx: Ctx) -> Block:
    cols, lines = compact(ctx.r)
    base = ctx.baseline
    label = f"baseline: {plain(base.get('method'))} ({pct(base.get('top1'))})"
    draw = partial(
        F.leaderboard_bars, _groups(lines, cols), base.get("top1"), label, "Top-1 per method"
    )
    on = CHOSEN_ON.get(str(base.get("selected_on")), "")
    cap = (
        "Top-1 (%) of each method (grey: the untouched model with an embedding method; "
        "coloured: a model method for one target, at its held-out-chosen layer and embedding "
        "combination). Whiskers: the baseline's top-1 plus the 95% interval of the difference, "
        "so a whisker that crosses the dashed baseline line means no difference. Baseline "
        f"layer {on}."
    )
    return ctx.figure("headline", "", draw, cap)


def first_screen(ctx: Ctx) -> list[Block]:
    """The verdict, the compact leaderboard and the headline figure (or a note saying why not)."""
    if not ctx.board:
        why = (
            "This results.json has no leaderboard: it was written by a langsteer from before "
            "methods were compared (or the run compared nothing). The sections below show what "
            "it holds."
            if ctx.targets or ctx.r
            else "results.json is empty: nothing to report."
        )
        return [Para(why, "summary")]
    return [Para(verdict(ctx.r), "summary"), board_table(ctx), headline_figure(ctx)]
