"""The one-screen terminal summary of a finished study (expert files and sweeps: ``cli``)."""

from __future__ import annotations

import textwrap

from langsteer.io import strict_json
from langsteer.report.board import BEST, cell_text, compact, selection_words, verdict
from langsteer.report.extras import subsampling_lines


def study_summary_table(results: dict, width: int = 100) -> str:
    """The end-of-run summary: the verdict, one line per method with its top-1 per target
    (difference from the baseline with its 95% interval, layer), and what was subsampled."""
    try:
        return _study_summary(strict_json(results), width)
    except Exception as exc:  # the results are written already: never a traceback here
        return f"(no summary: {type(exc).__name__}: {exc}; see the report)"


def _study_summary(results: dict, width: int) -> str:
    lines = []
    if any(isinstance(r, dict) for r in results.get("leaderboard") or []):
        cols, rows = compact(results)
        cells = [[line.title, *(cell_text(line, c) for c in cols)] for line in rows]
        head = ["method", *(c or "top-1" for c in cols)]
        widths = [max(len(r[j]) for r in [head, *cells]) for j in range(len(head))]
        for r in [head, None, *cells]:
            if r is None:
                lines.append("-" * (sum(widths) + 2 * len(widths)))
                continue
            lines.append("  ".join(x.ljust(w) for x, w in zip(r, widths, strict=True)).rstrip())
        said = verdict(results)
        chosen = selection_words(results)
        lines += textwrap.wrap(
            "cell: top-1 % (mean over ordered language pairs, evaluated split), difference from "
            "the baseline in pp [95% paired bootstrap interval], layer L (and embedding method); "
            f"{BEST} best per target. " + ("" if chosen in said else chosen),
            width,
        )
        lines += textwrap.wrap(
            said,
            width,
            initial_indent="verdict: ",
            subsequent_indent="  ",
            break_on_hyphens=False,
        )
    else:
        lines.append("results hold no leaderboard (an older langsteer schema): see the report")
    lines += subsampling_lines(results)
    return "\n".join(lines)
