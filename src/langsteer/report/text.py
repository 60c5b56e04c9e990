"""One-screen terminal summaries: expert files, a finished study and a generation sweep."""

from __future__ import annotations

import textwrap

from langsteer.io import strict_json
from langsteer.methods.experts import ExpertSet
from langsteer.report.board import BEST, cell_text, compact, selection_words, verdict
from langsteer.report.extras import subsampling_lines


def bar(count: int, largest: int, width: int = 40) -> str:
    return "#" * max(1 if count else 0, round(width * count / max(largest, 1)))


def expert_summary_table(experts: ExpertSet, responses_meta: dict | None = None) -> str:
    """Where the experts are (by layer and module kind) and how good they are."""
    s = experts.summary()
    meta = responses_meta or {}
    model = experts.meta.get("model", {})
    lines = [
        f"experts for {s['target']}: k={s['k']} (+{s['bottom_k']} bottom), "
        f"score={s['score']}, mean {s['score']}={s['mean_score']:.3f}, "
        f"min={s['min_score']:.3f}",
        f"model {model.get('id', '?')}, units {experts.units.spec!r} "
        f"({experts.units.n_units} units), pooling {experts.meta.get('pooling')}, "
        f"{experts.meta.get('n_pos')} positives / {experts.meta.get('n_neg')} negatives",
    ]
    if meta.get("n_truncated"):
        lines.append(f"note: {meta['n_truncated']} sentence(s) truncated to {meta['max_length']}")
    if s["by_layer"]:
        largest = max(s["by_layer"].values())
        lines.append("by layer:")
        n_layers = experts.meta.get("model", {}).get("signature", {}).get("num_hidden_layers")
        layers = range(n_layers) if n_layers else sorted(s["by_layer"])
        for layer in layers:
            c = s["by_layer"].get(layer, 0)
            lines.append(f"  {layer:>3} {c:>6} {bar(c, largest)}")
        lines.append("by module kind:")
        largest = max(s["by_kind"].values())
        for kind, c in sorted(s["by_kind"].items(), key=lambda kv: -kv[1]):
            lines.append(f"  {kind:<14} {c:>6} {bar(c, largest)}")
    return "\n".join(lines)


def _fmt(value, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


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


def sweep_table(sweep: dict) -> str:
    """Per target, method and k: share of generations in the target language and log-perplexity.

    ``sweep`` is :func:`langsteer.generation.sweep.method_sweep`'s output.
    """
    lines = [f"{'target':<10} {'method':<20} {'k':>8} {'target rate':>12} {'log ppl':>9}"]
    lines.append("-" * len(lines[0]))
    for lang, methods in (sweep.get("targets") or {}).items():
        for label, res in methods.items():
            for i, k in enumerate(res["k"]):
                point = "fitted" if k is None else str(k)
                rate, lp = _fmt(res["target_rate"][i]), _fmt(res["log_ppl"][i])
                lines.append(f"{lang:<10} {label:<20} {point:>8} {rate:>12} {lp:>9}")
    return "\n".join(lines)
