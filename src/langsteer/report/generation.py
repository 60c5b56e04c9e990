"""What each model method does to generation (paper Fig. 3): target-language share, perplexity.

Reads ``results["generation"]`` (:func:`langsteer.generation.sweep.method_sweep`): per target and
method, lists that follow ``k`` (``0`` = the unsteered model, ``None`` = the method as fitted)
and the kept samples per point.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from langsteer.report import figures as F
from langsteer.report.context import Ctx, _dict, _get, _list, _num
from langsteer.report.markdown import (
    Block,
    Code,
    Details,
    Heading,
    Para,
    Table,
    label,
    name,
    num,
    pct,
    plain,
    seconds,
)


def k_words(k: Any) -> str:
    if k is None or k == "fitted":
        return "as fitted"
    return "0 (unsteered model)" if str(k) == "0" else f"k = {plain(k)}"


def _top_languages(dist: Any, n: int = 3) -> str:
    """'English 60%, French 25%': what the generations were identified as."""
    items = sorted(_dict(dist).items(), key=lambda kv: -kv[1] if _num(kv[1]) else 0)[:n]
    return ", ".join(f"{name(c)} {pct(v, 0)}" for c, v in items) or "n/a"


def _at(values: Any, i: int) -> Any:
    values = _list(values)
    return values[i] if i < len(values) else None


def _options(gen: dict) -> str:
    o = _dict(gen.get("options"))
    shown = ("n_samples", "seeds", "max_new_tokens", "temperature", "top_p", "prompt")
    how = ", ".join(f"{k} {plain(o[k])}" for k in shown if k in o)
    ident = _dict(gen.get("identifier"))
    how += f"; language identifier {plain(ident.get('name'))} {plain(ident.get('version'))}"
    ppl = _dict(o.get("perplexity"))
    if ppl.get("skipped"):
        how += "; perplexity skipped"
    elif ppl:
        how += (
            f"; perplexity: window {plain(ppl.get('context'))}, stride {plain(ppl.get('stride'))}"
        )
    return how


def generation_section(ctx: Ctx, max_chars: int = 300) -> list[Block]:
    gen = _dict(ctx.r.get("generation"))
    per_target = _dict(gen.get("targets"))
    if not per_target:
        on = plain(_get(ctx.cfg, "sweep", "enabled"))
        return [Para(f"Not run (sweep.enabled = {on}).", "note")]
    out: list[Block] = []
    n_ppl = _get(ctx.cfg, "sweep", "n_ppl")
    for t, methods in per_target.items():
        rows, points, samples = [], {}, []
        unsteered = False
        for m, s in _dict(methods).items():
            ks = _list(_dict(s).get("k"))
            points[m] = []
            for i, k in enumerate(ks):
                rate, lp = _at(s.get("target_rate"), i), _at(s.get("log_ppl"), i)
                point = "0" if str(k) == "0" else "as fitted" if k is None else f"k={k}"
                points[m].append((point, rate, lp))
                if str(k) == "0" and unsteered:
                    continue  # the unsteered model is the same point for every method
                rows.append(
                    [
                        "unsteered model" if str(k) == "0" else m,
                        k_words(k),
                        pct(rate),
                        _top_languages(_at(s.get("distribution"), i)),
                        num(lp),
                        num(_at(s.get("ppl"), i), 1),
                        seconds(_at(s.get("seconds"), i)),
                    ]
                )
                key = "fitted" if k is None else str(k)
                texts = [str(x) for x in _list(_dict(s.get("samples")).get(key))]
                if texts:
                    who = "unsteered model" if str(k) == "0" else f"{m}, {k_words(k)}"
                    shown = [x if len(x) <= max_chars else x[:max_chars] + " …" for x in texts]
                    samples += [Para(f"{who}:"), Code("\n---\n".join(shown))]
            unsteered = unsteered or any(str(k) == "0" for k in ks)
        nm = name(t)
        header = ["Method", "Point", f"in {nm}", "identified as", "log-ppl", "ppl", "time"]
        cap = (
            f"Generations from the model's BOS prompt identified as {nm} (share), and perplexity "
            f"of {nm} text (the first {plain(n_ppl)} evaluated sentences; log-ppl in nats per "
            f"token) under each method. {_options(gen)}."
        )
        draw = partial(F.tradeoff, points, f"{nm}: steering vs perplexity")
        fig_cap = (
            f"Share of generations in {nm} against log-perplexity of {nm} text, one line per "
            "method through its points (labels: k, the number of units; the star is the "
            "unsteered model). Up and right = steers, at a cost in fluency."
        )
        out += [Heading(label(t), 3), Table(header, rows, cap)]
        if any(r is not None and p is not None for pts in points.values() for _, r, p in pts):
            out.append(ctx.figure("generation", t, draw, fig_cap))
        if samples:
            out.append(Details(f"{label(t)}: generated samples", samples, 4))
    return out
