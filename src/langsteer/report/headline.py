"""The report's first screen: the verdict, the compact leaderboard and one headline figure.

Nothing else goes above the fold: a reader who opens report.html sees which method aligns
languages best per target, against the best method that leaves the model untouched, with the
interval that says whether the difference is more than sentence sampling, and on which split
every choice was made. Everything else follows in collapsed sections. To fit one 1280 x 900
screen (``bench/check_report_browser.py`` checks it), the verdict is two or three short
sentences, every table cell is one line (the untouched model's value once across the targets),
and the figure is a dot plot that stands beside the table, wrapping below it on narrow screens.
"""

from __future__ import annotations

from functools import partial

from langsteer.report import figures as F
from langsteer.report.board import (
    BEST,
    Line,
    cell_text,
    column_title,
    compact,
    selection_words,
    short_names,
    verdict,
)
from langsteer.report.context import Ctx, _dict, _get
from langsteer.report.markdown import Block, Para, Side, Table, name, pct, plain

MARK = "○"  # an untouched-model row (an embedding method alone) in the table and the figure


def title_of(results: dict) -> str:
    model = _get(results, "model", "id") or _get(results, "config", "model", "id") or "?"
    targets = ", ".join(name(x) for x in _dict(results.get("targets"))) or "no targets"
    return f"langsteer report: which method aligns languages in {model}? ({targets})"


def board_table(ctx: Ctx) -> Table:
    """One single-line row per method, one column per target; the untouched model first, its
    value once across the targets; best per column bold and starred."""
    cols, lines = compact(ctx.r)
    short = short_names(lines)
    rows: list[list[str]] = []
    bold, merged = set(), set()
    for i, line in enumerate(lines):
        untouched = line.kind != "model"
        cells = [cell_text(line, c, short) for c in cols]
        rows.append([f"{MARK} {line.title}" if untouched else line.title])
        if untouched and len(cols) > 1 and len(set(cells)) == 1:  # (best in all or none)
            merged.add(i)
            rows[-1].append(cells[0])
            bold |= {(i, 1)} if line.best else set()
        else:
            rows[-1] += cells
            bold |= {(i, j + 1) for j, col in enumerate(cols) if col in line.best}
    base = ctx.baseline
    legend = ", ".join(f"{s} = {e}" for e, s in short.items() if s != e)
    caption = (
        f"Each cell: top-1 (%) · the difference from the baseline ({plain(base.get('method'))} "
        f"at layer {plain(base.get('layer'))}, {pct(base.get('top1'))}) in pp with its paired "
        f"95% bootstrap interval over sentences ({plain(base.get('n_boot'))} resamples; one "
        "that excludes 0 is a real difference) · the layer L"
        + (f" and, for model methods, the embedding method ({legend})" if legend else "")
        + f". {MARK} = the untouched model with an embedding method: one value for every "
        f"target. {BEST} bold = best in its column (in-sample rows never). Model methods show "
        "their combination with the highest held-out selection score; every combination is in "
        f"the full leaderboard below. {selection_words(ctx.r)} {ctx.board_variant()}"
    )
    header = [f"Method ({MARK} untouched)", *(column_title(c) for c in cols)]
    return Table(header, rows, caption.replace("  ", " "), bold, merged, "compact")


def _rows(lines: list[Line], cols: list[str | None]) -> list:
    """The dot plot's rows: one point for an untouched-model line, one per target otherwise."""
    out = []
    for line in lines:
        if line.kind != "model":
            row = next((r for r in line.cells.values() if r), None)
            points = [(F.UNTOUCHED, row.get("top1"), _interval(row))] if row else []
            title = line.title
        else:
            points = [
                (name(c) if c else "all", line.cells[c].get("top1"), _interval(line.cells[c]))
                for c in cols
                if line.cells.get(c)
            ]
            title = line.title
        if points:
            out.append((title, points))
    return out


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
    label = f"baseline ({plain(base.get('method'))})"
    # beside the table on a 1280 px screen: the more target columns, the less room it has
    width = 4.4 if len(cols) <= 2 else 3.8 if len(cols) == 3 else 3.2
    draw = partial(F.leaderboard_dots, _rows(lines, cols), base.get("top1"), label, width)
    cap = (
        f"Top-1 (%) per method, as in the table: a grey square for the untouched model with an "
        f"embedding method ({MARK} rows), a dot per target for a model method. Whiskers: the "
        "baseline's top-1 plus the 95% interval of the difference; one that crosses the dashed "
        "baseline line means no difference."
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
    return [Para(verdict(ctx.r), "summary"), Side([board_table(ctx), headline_figure(ctx)])]
