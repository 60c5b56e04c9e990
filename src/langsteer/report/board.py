"""The leaderboard read for people: one line per method, one column per target, and the verdict.

``results["leaderboard"]`` has a row per (method, target, embedding method). People first want
one number per method and target, chosen without looking at the evaluated sentences: each
embedding method on the untouched model (the same for every target), and each model method with
the embedding combination that scored best on the held-out split (its highest
``selection_score``; in-sample rows only when nothing else exists). The report's first screen
(:mod:`langsteer.report.headline`) and the console summary (:mod:`langsteer.report.text`) both
read these lines, so they always agree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from langsteer.report.markdown import name, pct, plain

#: ``selected_on`` in words (short; ``results["selection"]["split"]`` says it in full).
CHOSEN_ON = {
    "heldout": "chosen on the held-out split",
    "fixed": "fixed by evaluation.layer (no choice made)",
    "evaluated": "chosen on the evaluated sentences themselves (OPTIMISTIC)",
}
BEST = "★"


def _num(x: Any) -> float | None:
    if isinstance(x, bool) or not isinstance(x, int | float) or math.isnan(float(x)):
        return None
    return float(x)


def _dict(x: Any) -> dict:
    return x if isinstance(x, dict) else {}


def _score(row: dict) -> float:
    s = _num(row.get("selection_score"))
    return -math.inf if s is None else s


@dataclass
class Line:
    """One method of the compact leaderboard: its row per target (None: not run there)."""

    label: str
    kind: str
    cells: dict[str | None, dict | None]
    flags: list[str] = field(default_factory=list)
    best: set[str | None] = field(default_factory=set)  # columns where this line is best

    @property
    def title(self) -> str:
        extra = ", ".join(self.flags)
        return f"{self.label} ({extra})" if extra else self.label


def choose(rows: list[dict]) -> dict | None:
    """The held-out-chosen row among one method's rows for one target."""
    fair = [r for r in rows if not r.get("in_sample")] or rows
    return max(fair, key=_score) if fair else None


def columns(results: dict) -> list[str | None]:
    """The targets (leaderboard order, then results order); ``[None]`` when no row has one."""
    board = [r for r in results.get("leaderboard") or [] if isinstance(r, dict)]
    seen = dict.fromkeys(str(r["target"]) for r in board if r.get("target") is not None)
    seen.update(dict.fromkeys(str(t) for t in _dict(results.get("targets")) if t in seen))
    return list(seen) or [None]


def compact(results: dict) -> tuple[list[str | None], list[Line]]:
    """``(columns, lines)``: embedding methods first, then model methods, in results order."""
    board = [r for r in results.get("leaderboard") or [] if isinstance(r, dict)]
    cols = columns(results)
    lines: list[Line] = []
    base = _dict(results.get("baseline"))
    for r in (r for r in board if r.get("target") is None):
        line = Line(str(r.get("method")), str(r.get("kind", "embedding")), dict.fromkeys(cols, r))
        lines.append(line)
        if r.get("verdict") == "baseline" or (
            base and r.get("method") == base.get("method") and r.get("layer") == base.get("layer")
        ):
            line.flags.append("baseline")
    labels = dict.fromkeys(str(r.get("method")) for r in board if r.get("target") is not None)
    for label in labels:
        mine = [r for r in board if str(r.get("method")) == label and r.get("target") is not None]
        cells = {t: choose([r for r in mine if r.get("target") == t]) for t in cols}
        lines.append(Line(label, str(mine[0].get("kind", "model")), cells))
    for line in lines:
        rows = [r for r in line.cells.values() if r]
        if any(r.get("in_sample") for r in rows):
            line.flags.append("in-sample: OPTIMISTIC")
        if any(r.get("supervised") for r in rows):
            line.flags.append("supervised")
    for col in cols:
        fair = [(ln, ln.cells[col]) for ln in lines if ln.cells.get(col)]
        fair = [(ln, r) for ln, r in fair if not r.get("in_sample") and _num(r.get("top1"))]
        if fair:
            top = max(_num(r.get("top1")) or 0.0 for _, r in fair)
            for ln, r in fair:
                if (_num(r.get("top1")) or 0.0) >= top - 1e-12:
                    ln.best.add(col)
    return cols, lines


def signed(x: Any) -> str:
    v = _num(x)
    return "n/a" if v is None else f"{100 * v:+.1f}"


def ci_text(row: dict) -> str:
    """'+4.8 [-1.2, +10.7] pp': the difference from the baseline with its 95% interval."""
    ci = row.get("ci95") if isinstance(row.get("ci95"), list | tuple) else [None, None]
    lo, hi = [*ci, None, None][:2]
    return f"{signed(row.get('delta'))} [{signed(lo)}, {signed(hi)}] pp"


def embedding_words(emb: Any) -> str:
    return "raw" if emb in (None, "none") else str(emb)


def cell_text(line: Line, col: str | None, short: bool = False) -> str:
    """One cell: top-1, its difference from the baseline with the interval, the layer
    (``short``: the console's terser form, '9.5% +4.8[-1.2,+10.7] L1')."""
    row = line.cells.get(col)
    if not row:
        return "—"
    mark = f"{BEST} " if col in line.best else ""
    diff = "baseline" if "baseline" in line.flags else ci_text(row)
    if short:
        diff = diff.replace(" pp", "").replace(" [", "[").replace(", ", ",")
    where = f"L{plain(row.get('layer'))}"
    if line.kind == "model":
        where += f" {embedding_words(row.get('embedding'))}"
    sep = " " if short else " · "
    return f"{mark}{pct(row.get('top1'))}{sep}{diff}{sep}{where}"


def column_title(col: str | None) -> str:
    return "top-1" if col is None else f"{name(col)} ({col})"


def _best_words(lines: list[Line], col: str | None) -> str:
    names = []
    for ln in lines:
        if col in ln.best and ln.cells.get(col):
            row = ln.cells[col]
            how = f", {embedding_words(row.get('embedding'))}" if ln.kind == "model" else ""
            names.append(
                f"{ln.label} ({pct(row.get('top1'))}, layer {plain(row.get('layer'))}{how})"
            )
    who = " = ".join(names) or "n/a"
    return who if col is None else f"{name(col)}: {who}"


def verdict(results: dict) -> str:
    """Two to four plain sentences: the baseline, the best per target, and whether any model
    method beats the baseline beyond its 95% interval, at which layer, chosen on which split."""
    if not any(isinstance(r, dict) for r in results.get("leaderboard") or []):
        return ""
    cols, lines = compact(results)
    base = _dict(results.get("baseline"))
    on = CHOSEN_ON.get(str(base.get("selected_on")), f"chosen on {plain(base.get('selected_on'))}")
    who_base = plain(base.get("method"))
    who_base += " (the raw embeddings)" if who_base == "none" else ""
    out = [
        f"The best method that leaves the model untouched is {who_base}: top-1 "
        f"{pct(base.get('top1'))} at layer {plain(base.get('layer'))}, {on}; every other row is "
        "compared with it."
    ]
    out.append("Highest top-1: " + "; ".join(_best_words(lines, c) for c in cols) + ".")
    chosen = [
        (ln, c, ln.cells[c]) for ln in lines if ln.kind == "model" for c in cols if ln.cells.get(c)
    ]
    better = [(ln, c, r) for ln, c, r in chosen if r.get("verdict") == "better"]
    worse = [(ln, c, r) for ln, c, r in chosen if r.get("verdict") == "worse"]

    def who(items: list) -> str:
        shown = [
            f"{ln.label}{'' if c is None else ' for ' + name(c)} ({ci_text(r)}, layer "
            f"{plain(r.get('layer'))}, {CHOSEN_ON.get(str(r.get('selected_on')), 'chosen')})"
            for ln, c, r in items[:3]
        ]
        return "; ".join(shown) + (f"; and {len(items) - 3} more" if len(items) > 3 else "")

    if not chosen:
        out.append("No model method was compared (the study lists only embedding methods).")
    elif better:
        out.append(f"Beating it beyond the 95% interval: {who(better)}.")
    else:
        tail = f" ({len(worse)} of {len(chosen)} are worse: {who(worse)})" if worse else ""
        out.append(
            f"No model method beats it: the 95% interval of the difference includes 0 or lies "
            f"below it for all {len(chosen)} (method, target) pairs{tail}."
        )
    sel = _dict(results.get("selection"))
    if sel.get("how") == "fixed":
        out.append("Every row is at the fixed layer evaluation.layer: no layer was chosen.")
    elif sel.get("how") == "evaluated":
        out.append(
            "Layers were chosen on the evaluated sentences themselves (no held-out split): "
            "every number is OPTIMISTIC."
        )
    elif sel.get("split"):
        out.append(f"Layers and embedding combinations were chosen on the {sel['split']}.")
    return " ".join(out)
