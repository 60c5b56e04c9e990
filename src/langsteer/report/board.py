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


#: Short names of the packaged embedding methods for the single-line leaderboard cells.
SHORT = {
    "none": "raw",
    "global-centring": "gc",
    "per-language-centring": "plc",
    "whitening": "wh",
    "linear-map": "map",
}


def short_names(lines: list[Line]) -> dict[str, str]:
    """``{embedding method: short name}`` for the model methods' cells (the caption's legend):
    packaged methods by :data:`SHORT`, others by their initials (or first letters), made unique."""
    embs = [
        str(r.get("embedding"))
        for ln in lines
        if ln.kind == "model"
        for r in ln.cells.values()
        if r and r.get("embedding") is not None
    ]
    out: dict[str, str] = {}
    for emb in dict.fromkeys(embs):
        parts = [p for p in emb.replace("_", "-").split("-") if p]
        short = SHORT.get(emb) or (
            "".join(p[0] for p in parts) if len(parts) > 1 else emb[:5] if len(emb) > 6 else emb
        )
        base, i = short, 2
        while short in out.values():
            short, i = f"{base}{i}", i + 1
        out[emb] = short
    return out


def cell_text(line: Line, col: str | None, short: dict[str, str] | None = None) -> str:
    """One single-line cell, '★ 97.7 +3.1 [+1.4,+4.9] L11 wh': top-1 (%), its difference from
    the baseline in pp with the 95% interval, the layer and, for model methods, the embedding
    method (``short``: its short name, as :func:`short_names` gives; default: its name)."""
    row = line.cells.get(col)
    if not row:
        return "—"
    mark = f"{BEST} " if col in line.best else ""
    top = _num(row.get("top1"))
    diff = "baseline" if "baseline" in line.flags else ci_text(row)
    diff = diff.replace(" pp", "").replace(", ", ",")
    where = f"L{plain(row.get('layer'))}"
    if line.kind == "model":
        emb = row.get("embedding")
        where += f" {(short or {}).get(str(emb)) or embedding_words(emb)}"
    return f"{mark}{'n/a' if top is None else f'{100 * top:.1f}'} {diff} {where}"


def column_title(col: str | None) -> str:
    return "top-1 %" if col is None else f"{name(col)} ({col})"


def selection_words(results: dict) -> str:
    """Which split chose every layer and embedding combination, in one sentence ('' unknown)."""
    sel = _dict(results.get("selection"))
    if sel.get("how") == "fixed":
        return "Every row is at the fixed layer evaluation.layer: no layer was chosen."
    if sel.get("how") == "evaluated":
        return (
            "Layers were chosen on the evaluated sentences themselves (no held-out split): "
            "every number is OPTIMISTIC."
        )
    if sel.get("split"):
        return f"Layers and embedding combinations were chosen on the {sel['split']}."
    return ""


def _gains(items: list[tuple[Line, dict]]) -> str:
    """'LAPE neurons +3.1 pp, additive experts +3.0 pp': the largest first, at most two."""
    items = sorted(items, key=lambda lr: -(_num(lr[1].get("delta")) or 0.0))
    shown = [
        f"{ln.label} {signed(r.get('delta'))} pp" + (" (in-sample)" if r.get("in_sample") else "")
        for ln, r in items[:2]
    ]
    more = f" and {len(items) - 2} more" if len(items) > 2 else ""
    return ", ".join(shown) + more


def verdict(results: dict) -> str:
    """Two or three short sentences: the baseline and its layer, and per target which model
    method (if any) beats it beyond the 95% interval of the difference. Which split chose the
    layers is :func:`selection_words` (the table's caption), unless it makes numbers OPTIMISTIC."""
    if not any(isinstance(r, dict) for r in results.get("leaderboard") or []):
        return ""
    cols, lines = compact(results)
    base = _dict(results.get("baseline"))
    if base.get("method") is None:
        out = ["results.json names no baseline, so no row is compared with one."]
    else:
        who = plain(base.get("method")) + (" (raw embeddings)" if base["method"] == "none" else "")
        out = [
            f"Baseline: {who} on the untouched model, top-1 {pct(base.get('top1'))} at layer "
            f"{plain(base.get('layer'))}."
        ]
    chosen = {
        c: [(ln, ln.cells[c]) for ln in lines if ln.kind == "model" and ln.cells.get(c)]
        for c in cols
    }
    n = sum(len(v) for v in chosen.values())
    better = {
        c: [(ln, r) for ln, r in v if r.get("verdict") == "better"] for c, v in chosen.items()
    }
    if not n:
        out.append("No model method was compared (the study lists only embedding methods).")
    elif not any(better.values()):
        worse = sum(r.get("verdict") == "worse" for v in chosen.values() for _, r in v)
        out.append(
            f"No model method beats it beyond the 95% interval for any target ({worse} of {n} "
            "method-target pairs are worse)."
        )
    else:
        wins = [f"{name(c) if c else 'all targets'}: {_gains(v)}" for c, v in better.items() if v]
        losers = [name(c) for c, v in better.items() if not v and chosen[c]]
        tail = f"; none for {', '.join(losers)}" if losers else ""
        out.append(f"Beating it beyond the 95% interval: {'; '.join(wins)}{tail}.")
    if _dict(results.get("selection")).get("how") in ("fixed", "evaluated"):
        out.append(selection_words(results))
    return " ".join(out)
