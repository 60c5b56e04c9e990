"""The report's figures, as PNG bytes (the callers decide where they go: a file, a data: URI).

Every function takes plain numbers and display labels (language *names*, not codes) and returns
PNG bytes. We build :class:`matplotlib.figure.Figure` objects on an explicit Agg canvas instead of
using ``pyplot``: nothing enters pyplot's global figure registry (so nothing needs closing and
nothing leaks in long sessions), and the user's interactive backend is never switched.
matplotlib is optional (the ``demo`` extra): :func:`available` says whether figures can be drawn.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from typing import Any

DPI = 100
PRE = "#8c8c8c"  # the original model, in every figure
# One colour per model method (or target), in declaration order, the same in every figure.
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf")


def color(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def available() -> bool:
    """True when matplotlib can be imported (figures are skipped, with a note, otherwise)."""
    try:
        import matplotlib  # noqa: F401
        from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: F401
    except ImportError:
        return False
    return True


def _figure(width: float, height: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _png(fig: Any) -> bytes:
    """Small, reproducible PNG bytes: no 'Software' tag, 256-colour palette.

    Plots have few colours, so a palette PNG is 2-3x smaller than RGBA at no visible cost; that
    keeps the self-contained HTML small. Pillow ships with matplotlib; without it, plain RGBA.
    """
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None}, facecolor="white")
    fig.clear()
    try:
        from PIL import Image
    except ImportError:
        return buf.getvalue()
    buf.seek(0)
    with Image.open(buf) as im:
        small = im.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    out = io.BytesIO()
    small.save(out, format="PNG", optimize=True)
    return out.getvalue() if out.tell() < len(buf.getvalue()) else buf.getvalue()


def _pct(values: Sequence[float | None]) -> list[float]:
    return [math.nan if v is None else 100.0 * float(v) for v in values]


def _rotate(ax: Any, labels: Sequence[str], max_chars: int = 12) -> None:
    long = len(labels) > 6 or max((len(x) for x in labels), default=0) > max_chars
    ax.set_xticks(range(len(labels)))
    ax.set_xticklabels(labels, rotation=45 if long else 0, ha="right" if long else "center")


def experts_heatmap(
    by_layer_kind: Mapping[int, Mapping[str, int]], n_layers: int | None, title: str
) -> bytes:
    """Expert count per decoder layer x module kind, with the per-layer totals as bars on top.

    Every layer gets a column (zeros left blank) and kinds are rows, most experts first; the row
    labels carry the per-kind totals, so this says all that :func:`experts_where` says and also
    which kind the experts of each layer are.
    """
    import numpy as np
    from matplotlib.ticker import MaxNLocator

    layers = sorted(set(range(n_layers or 0)) | set(by_layer_kind))
    totals: dict[str, int] = {}
    for row in by_layer_kind.values():
        for kind, count in row.items():
            totals[kind] = totals.get(kind, 0) + count
    kinds = sorted(totals, key=lambda k: -totals[k])
    grid = [[by_layer_kind.get(x, {}).get(k, 0) for x in layers] for k in kinds]
    mat = np.array(grid, dtype=float).reshape(len(kinds), len(layers))
    n = len(layers)
    heat = max(0.7, 0.32 * len(kinds))
    fig = _figure(min(11.0, max(6.0, 0.17 * n + 3.0)), 1.2 + heat + 1.1)
    ax1, ax2 = fig.subplots(2, 1, sharex=True, height_ratios=[1.2, heat])
    ax1.bar(range(n), mat.sum(axis=0), color=PALETTE[0])
    ax1.set_ylabel("experts")
    ax1.yaxis.set_major_locator(MaxNLocator(integer=True))
    vmax = max(float(mat.max(initial=0)), 1.0)
    image = ax2.imshow(np.ma.masked_equal(mat, 0), cmap="Blues", vmin=0, vmax=vmax, aspect="auto")
    if n <= 40 and len(kinds) <= 12:  # small enough to print the counts
        size = 7 if n > 16 else 8
        for i, j in zip(*np.nonzero(mat), strict=True):
            color = "white" if mat[i, j] > 0.6 * vmax else "black"
            ax2.text(j, i, f"{mat[i, j]:.0f}", ha="center", va="center", fontsize=size, color=color)
    ax2.set_yticks(range(len(kinds)))
    ax2.set_yticklabels([f"{k} ({totals[k]})" for k in kinds], fontsize=8)
    step = max(1, math.ceil(n / 40))
    ax2.set_xticks(range(0, n, step))
    ax2.set_xticklabels([str(layers[i]) for i in range(0, n, step)])
    ax2.tick_params(axis="x", labelsize=7 if n > 16 else 9)
    ax2.set_xlabel("decoder layer (0 = first)")
    ax2.set_ylabel("module kind")
    fig.colorbar(image, ax=ax2, label="experts", aspect=8, ticks=MaxNLocator(integer=True))
    fig.suptitle(title, fontsize=10)
    return _png(fig)


def top1_bars(
    candidates: Sequence[str], series: Mapping[str, Sequence[float | None]], title: str
) -> bytes:
    """Grouped bars (paper Fig. 4): top-1 accuracy in % per candidate language; the first series
    is the original model (grey), then one per model method."""
    n, m = len(candidates), max(len(series), 1)
    fig = _figure(min(11.0, max(5.5, 0.2 * n * m + 3.2)), 3.2 if n <= 6 else 4.0)
    ax = fig.subplots()
    width = 0.8 / m
    for j, (cond, values) in enumerate(series.items()):
        xs = [i - 0.4 + width * (j + 0.5) for i in range(n)]
        ax.bar(xs, _pct(values), width, label=cond, color=PRE if j == 0 else color(j - 1))
    _rotate(ax, candidates)
    ax.set_xlabel("candidate language")
    ax.set_ylabel("top-1 accuracy (%)")
    ax.set_ylim(0, 100)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.set_title(title, fontsize=10)
    return _png(fig)


def delta_heatmaps(
    languages: Sequence[str], panels: Mapping[str, Sequence[Sequence[float | None]]], title: str
) -> bytes:
    """Heatmaps of post - pre top-1 in percentage points (paper Fig. 5), one panel per condition.

    All panels share one colour scale, symmetric about 0, so white means "no change" everywhere
    and the methods (the experts, the random-unit control ...) can be compared by colour.
    """
    import numpy as np

    mats = {k: np.array(_pct_rows(v), dtype=float) for k, v in panels.items()}
    finite = [np.abs(m[np.isfinite(m)]) for m in mats.values()]
    vmax = max([float(a.max()) for a in finite if a.size] + [5.0])
    n = len(languages)
    side = min(9.0, max(3.2, 0.3 * n + 1.8))
    stack = n > 10  # many languages: panels one above the other, so cells stay legible
    rows, cols = (len(mats), 1) if stack else (1, len(mats))
    fig = _figure(side * cols + 1.0, side * rows + 0.3)
    axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
    image = None
    for ax, (name, mat) in zip(axes, mats.items(), strict=True):
        image = ax.imshow(np.ma.masked_invalid(mat), cmap="RdBu", vmin=-vmax, vmax=vmax)
        ax.set_xticks(range(n))
        ax.set_xticklabels(
            languages, rotation=45 if n > 3 else 0, ha="right" if n > 3 else "center"
        )
        ax.set_yticks(range(n))
        ax.set_yticklabels(languages)
        ax.set_xlabel("candidate language")
        ax.set_ylabel("query language")
        ax.set_title(name, fontsize=9)
        size = 8 if n <= 8 else 6 if n <= 14 else 5.5
        digits = 1 if n <= 8 else 0
        for i in range(n):
            for j in range(n):
                v = mat[i, j]
                if np.isfinite(v):
                    color = "white" if abs(v) > 0.6 * vmax else "black"
                    text = "0" if round(v, digits) == 0 else f"{v:+.{digits}f}"
                    ax.text(j, i, text, ha="center", va="center", fontsize=size, color=color)
    if image is not None:
        fig.colorbar(image, ax=list(axes), shrink=0.8, label="change in top-1 (percentage points)")
    fig.suptitle(title, fontsize=10)
    return _png(fig)


def _pct_rows(rows: Sequence[Sequence[float | None]]) -> list[list[float]]:
    return [_pct(r) for r in rows]


def projection(
    panels: Mapping[str, Mapping[str, Any]], names: Mapping[str, str], title: str
) -> bytes:
    """2-D PCA scatter (paper Fig. 6), one panel per space, one colour per language."""
    from matplotlib import colormaps

    langs = list(dict.fromkeys(lang for p in panels.values() for lang in p.get("points", {})))
    cmap = colormaps["tab10" if len(langs) <= 10 else "tab20"]
    markers = "os^Dv<>p"
    fig = _figure(3.3 * len(panels) + 1.8 * math.ceil(len(langs) / 14), 3.6)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (panel_title, p) in zip(axes, panels.items(), strict=True):
        for i, lang in enumerate(langs):
            pts = p.get("points", {}).get(lang) or []
            if not pts:
                continue
            xs, ys = zip(*((pt[0], pt[1]) for pt in pts), strict=True)
            ax.scatter(
                xs,
                ys,
                s=9,
                alpha=0.75,
                color=cmap(i % cmap.N),
                marker=markers[(i // cmap.N) % len(markers)],
                label=names.get(lang, lang),
            )
        ev = [*(p.get("explained_variance") or []), None, None]
        method = str(p.get("method", "pca")).upper()
        ax.set_xlabel(f"{method} 1" + (f" ({100 * ev[0]:.0f}% of variance)" if ev[0] else ""))
        ax.set_ylabel(f"{method} 2" + (f" ({100 * ev[1]:.0f}% of variance)" if ev[1] else ""))
        ax.set_title(panel_title, fontsize=9)
        ax.tick_params(labelsize=7)
    handles, labels = axes[0].get_legend_handles_labels()
    if handles:
        ncols = math.ceil(len(handles) / 14)  # a legend taller than the figure gets clipped
        fig.legend(
            handles, labels, loc="outside right center", fontsize=8, markerscale=1.5, ncols=ncols
        )
    fig.suptitle(title, fontsize=10)
    return _png(fig)


UNTOUCHED = "untouched model"
Point = tuple[str, float | None, Sequence[float] | None]  # (series, top-1, (low, high) or None)


def leaderboard_dots(
    rows: Sequence[tuple[str, Sequence[Point]]],
    baseline: float | None,
    baseline_label: str,
    width: float = 4.4,
) -> bytes:
    """The headline: a dot plot of top-1 (%), one row per method, one dot per target.

    ``rows = [(method, [(series, top1, (low, high) or None), ...]), ...]``; the series
    :data:`UNTOUCHED` is a grey square, every other series (a target) a dot of its own colour,
    side by side within the row. Whiskers are the baseline's top-1 plus the 95% interval of the
    difference, so a whisker that crosses the dashed baseline line means "no difference". A row
    is about a third of a bar chart's height per target, so the figure fits beside the table.
    """
    series = list(dict.fromkeys(s for _, points in rows for s, _, _ in points))
    targets = [s for s in series if s != UNTOUCHED]
    colours = {s: PRE if s == UNTOUCHED else color(targets.index(s)) for s in series}
    ncols = 3 if width >= 4 else 2
    legend_rows = math.ceil((len(series) + (baseline is not None)) / ncols)
    fig = _figure(width, 0.6 + 0.24 * max(len(rows), 2) + 0.17 * legend_rows)
    ax = fig.subplots()
    seen: set[str] = set()
    for y, (_, points) in enumerate(rows):
        k = len(points)
        for i, (s, value, ci) in enumerate(points):
            dy = 0.0 if k == 1 else -0.27 + 0.54 * i / (k - 1)  # targets side by side
            if ci is not None and len(ci) == 2 and None not in ci:
                lo, hi = _pct(ci)
                ax.plot([lo, hi], [y + dy, y + dy], color=colours[s], linewidth=1, alpha=0.8)
            marker = "s" if s == UNTOUCHED else "o"
            ax.plot(
                _pct([value]),
                [y + dy],
                marker,
                color=colours[s],
                markersize=4.5,
                label=None if s in seen else s,
            )
            seen.add(s)
    n_untouched = sum(1 for _, points in rows if points and points[0][0] == UNTOUCHED)
    if 0 < n_untouched < len(rows):  # a thin rule between the untouched model and the methods
        ax.axhline(n_untouched - 0.5, color="#bbbbbb", linewidth=0.8)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([label for label, _ in rows], fontsize=8)
    ax.set_ylim(max(len(rows), 1) - 0.5, -0.5)  # the first row at the top, as in the table
    if baseline is not None:
        ax.axvline(100 * baseline, color="black", linestyle="--", linewidth=1, label=baseline_label)
    ax.grid(axis="x", color="#e5e5e5", linewidth=0.6)
    ax.set_axisbelow(True)
    ax.tick_params(axis="x", labelsize=7)
    ax.set_xlabel("top-1 accuracy (%)", fontsize=8)
    handles, names = ax.get_legend_handles_labels()
    fig.legend(
        handles,
        names,
        fontsize=7,
        loc="outside lower center",
        ncols=ncols,
        handletextpad=0.3,
        columnspacing=1.0,
        frameon=False,
    )
    return _png(fig)


def layer_panels(
    panels: Mapping[str, Mapping[str, tuple[Sequence[float | None], Sequence[float | None]]]],
    layers: Sequence[int],
    chosen: Mapping[str, tuple[int | None, str]],
    title: str,
) -> bytes:
    """Mean top-1 (%) per layer, one panel per model method: every embedding method (a colour)
    on the original model (dashed) and under the method (solid); ``chosen[panel] = (layer,
    words)`` marks the layer its leaderboard row uses (``words``: how it was chosen)."""
    from matplotlib.lines import Line2D
    from matplotlib.ticker import MaxNLocator

    n = max(len(panels), 1)
    cols = min(3, n)
    rows = math.ceil(n / cols)
    fig = _figure(3.6 * cols + 1.9, 2.9 * rows + 0.4)
    axes = fig.subplots(rows, cols, squeeze=False, sharey=True).ravel()
    embs = list(dict.fromkeys(e for p in panels.values() for e in p))
    for ax, (panel, lines) in zip(axes, panels.items(), strict=False):
        for emb, (orig, post) in lines.items():
            c = color(embs.index(emb))
            ax.plot(layers[: len(orig)], _pct(orig), linestyle="--", color=c, alpha=0.7)
            ax.plot(layers[: len(post)], _pct(post), marker="o", markersize=3, color=c)
        layer, words = chosen.get(panel, (None, ""))
        if layer is not None:
            ax.axvline(layer, color="black", linestyle=":", linewidth=1)
        ax.set_title(panel + (f"\ndotted: layer {layer} {words}" if words else ""), fontsize=8)
        ax.set_xlabel("hidden state (0 = embeddings)", fontsize=8)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.tick_params(labelsize=7)
    values = [x for p in panels.values() for pair in p.values() for v in pair for x in _pct(v)]
    top = max([x for x in values if math.isfinite(x)] + [1.0])
    axes[0].set_ylim(0, top * 1.08)
    for ax in axes[len(panels) :]:
        ax.set_visible(False)
    axes[0].set_ylabel("mean top-1 accuracy (%)")
    handles = [Line2D([], [], color=color(i), label=e) for i, e in enumerate(embs)]
    handles += [
        Line2D([], [], color="black", linestyle="--", label="original model"),
        Line2D([], [], color="black", marker="o", markersize=3, label="under the method"),
    ]
    fig.legend(handles=handles, loc="outside right upper", fontsize=7)
    fig.suptitle(title, fontsize=10)
    return _png(fig)


def tradeoff(
    methods: Mapping[str, Sequence[tuple[str, float | None, float | None]]], title: str
) -> bytes:
    """Paper Fig. 3 for any method: target-language share (%) against log-perplexity, one line
    per method through its points ``(k label, share, log ppl)`` in order; ``"0"`` is the
    unsteered model (a black star)."""
    fig = _figure(6.4, 3.6)
    ax = fig.subplots()
    for i, (label, points) in enumerate(methods.items()):
        pts = [(k, 100 * r, p) for k, r, p in points if r is not None and p is not None]
        if not pts:
            continue
        ax.plot([p[1] for p in pts], [p[2] for p in pts], marker="o", color=color(i), label=label)
        for k, x, y in pts:
            if k == "0":
                ax.plot([x], [y], marker="*", markersize=11, color="black", linestyle="none")
            else:
                ax.annotate(k, (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.set_xlabel("generations in the target language (%)")
    ax.set_ylabel("log-perplexity (nats per token)")
    ax.set_xlim(-3, 103)
    ax.legend(fontsize=8, loc="best")
    ax.set_title(title + " (star: unsteered model)", fontsize=10)
    return _png(fig)
