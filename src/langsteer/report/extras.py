"""The report's sections around the paper's analyses: setup, the k sweep, samples, provenance.

Like :mod:`langsteer.report.sections`, each builder takes the
:class:`~langsteer.report.context.Ctx` and returns blocks, and one that raises costs only its own
section.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import partial
from typing import Any

from langsteer.report import figures as F
from langsteer.report.context import Ctx, _bos, _dict, _diff, _get, _num
from langsteer.report.markdown import (
    Block,
    Code,
    Heading,
    Para,
    Table,
    label,
    name,
    num,
    pct,
    plain,
    pp,
    seconds,
)

# Keys of results.json that some section renders; anything else is listed under Provenance.
KNOWN_TOP = {
    "targets", "baseline", "config", "languages", "model", "corpora", "paraphrase_pairs",
    "responses", "versions", "machine", "langsteer", "timings", "sweep", "sweep_options",
    "generation",
}  # fmt: skip
KNOWN_TARGET = {
    "retrieval", "geometry", "paraphrase", "correlation", "projection", "experts",
    "intervention", "random_control", "controls", "steering_vector",
}  # fmt: skip


# --- setup ---------------------------------------------------------------------------------------


def setup_section(ctx: Ctx) -> list[Block]:
    r, c = ctx.r, ctx.cfg
    m, langs = _dict(r.get("model")), _dict(r.get("languages"))
    sig, units = _dict(m.get("signature")), _dict(_get(r, "responses", "units"))
    x, iv = _dict(c.get("experts")), _dict(c.get("intervention"))
    ev = _dict(c.get("evaluation"))
    n_par, n_units = m.get("n_parameters"), units.get("n_units")
    arch = f"{plain(sig.get('model_type'))}, {plain(sig.get('num_hidden_layers'))} layers, "
    arch += f"hidden size {plain(sig.get('hidden_size'))}, "
    arch += f"{n_par / 1e6:.2f} M parameters" if isinstance(n_par, int) else "size n/a"
    rows = [
        ["Model", f"{plain(m.get('id'))} (revision {plain(m.get('revision'))})"],
        ["Architecture", arch],
        ["Weights", f"dtype {plain(m.get('dtype'))} on {plain(m.get('device'))}"],
        ["Units", f"{plain(units.get('spec', x.get('units')))} ({plain(n_units)} units)"],
        ["Expert score", f"{plain(x.get('score'))} of {plain(x.get('pooling'))}-pooled "
                         f"per-sentence responses{_bos(x)}"],
        ["Experts per target", f"k = {plain(x.get('k'))} (+{plain(x.get('bottom_k', 0))} bottom)"],
        ["Intervention", ", ".join(f"{k} {plain(v)}" for k, v in iv.items() if k != "random_seed")],
        ["Random-unit control", plain(_get(c, "analyses", "random_control"))],
        ["Target languages", ", ".join(map(label, langs.get("targets", [])))],
        ["Extra negatives", ", ".join(map(label, langs.get("negatives", []))) or "none"],
        ["Evaluation languages", ", ".join(map(label, ctx.langs))],
        ["Sentence embedding", f"{plain(ev.get('pooling'))} over tokens{_bos(ev)}, "
                               f"hidden state {plain(ev.get('layer'))}"],
        ["Retrieval", f"direction {plain(ev.get('direction'))}, {plain(ev.get('scoring'))}"],
    ]  # fmt: skip
    for split, d in _dict(r.get("corpora")).items():
        src = _get(d, "provenance", "source") or _get(c, "corpus", "source")
        what = f"{plain(_get(d, 'n'))} sentences x {len(_get(d, 'languages') or [])} languages"
        rows.append([f"Corpus: {split}", f"{what} ({plain(src)}), hash {_short(d)}"])
    seeds = {"corpus split": ("corpus", "seed"), "run": ("run", "seed")}
    seeds["random units"] = ("intervention", "random_seed")
    rows.append(["Seeds", ", ".join(f"{k} {plain(_get(c, *p))}" for k, p in seeds.items())])
    rows.append(["Bootstrap resamples", plain(ev.get("n_boot"))])
    return [Table(["Setting", "Value"], rows, "Full configuration and hashes: see Provenance.")]


def _short(d: Any) -> str:
    return str(_get(d, "content_hash") or "n/a")[:12]


# --- later additions: k sweep (Fig. 3) and generated samples -------------------------------------


def _top_languages(dist: Any, n: int = 3) -> str:
    """'English 60%, French 25%': what the generations were identified as."""
    items = sorted(_dict(dist).items(), key=lambda kv: -kv[1] if _num(kv[1]) else 0)[:n]
    return ", ".join(f"{name(c)} {pct(v, 0)}" for c, v in items) or "n/a"


# (key in results["sweep"][target], column header, formatter); shown when present
SWEEP_COLUMNS: list[tuple[str, str, Callable[[Any], str]]] = [
    ("target_rate", "target-language share", pct),
    ("distribution", "identified as", _top_languages),
    ("log_ppl", "log-perplexity (nats/token)", partial(num, digits=3)),
    ("ppl", "perplexity", partial(num, digits=1)),
    ("retrieval_mean", "mean top-1", pct),
    ("retrieval_gain", "top-1 gain vs k = 0", pp),
    ("retrieval_mean_centred", "mean top-1, per-language centred", pct),
    ("mean_score", "mean expert score", num),
    ("seconds", "time", seconds),
]


def sweep_section(ctx: Ctx) -> list[Block]:
    out: list[Block] = []
    opts = _dict(ctx.r.get("sweep_options"))
    shown = ("n_samples", "seeds", "max_new_tokens", "temperature", "top_p")
    how = ", ".join(f"{k} {plain(opts[k])}" for k in shown if k in opts)
    ident = _dict(opts.get("identifier"))
    how += f"; language identifier {plain(ident.get('name'))} {plain(ident.get('version'))}"
    for lang, s in _dict(ctx.r.get("sweep")).items():
        if not isinstance(s, dict) or not isinstance(s.get("k"), list):
            continue
        ks, nm = s["k"], name(lang)
        cols = [(key, head, f) for key, head, f in SWEEP_COLUMNS if isinstance(s.get(key), list)]
        rows = [[plain(k) + (" (original model)" if k == 0 else "")] for k in ks]
        for key, _, fmt in cols:
            for row, v in zip(rows, s[key], strict=False):
                row.append(fmt(v))
        series = {k: s.get(k) if isinstance(s.get(k), list) else [None] * len(ks)
                  for k in ("target_rate", "log_ppl")}  # fmt: skip
        gain = s.get("retrieval_gain") if isinstance(s.get("retrieval_gain"), list) else None
        title = f"{nm}: steering vs perplexity"
        draw = partial(F.sweep, ks, series["target_rate"], series["log_ppl"], gain, title)
        cap = (
            f"Share of generations identified as {nm} (%, left axis) and log-perplexity on {nm} "
            "text (nats per token, right axis) against the number of experts forced."
        )
        out += [Heading(label(lang), 3), ctx.figure("sweep", lang, draw, cap)]
        header = ["k (experts)", *(head for _, head, _ in cols)]
        cap = f"Generation: {how}. " if opts else ""
        if any(key.startswith("retrieval") for key, _, _ in cols):
            cap += "Retrieval columns: mean over ordered pairs. " + ctx.study_variant()
        out.append(Table(header, rows, cap))
    return out


# --- experts vs a steering vector (issue 7 item 4) -----------------------------------------------


def _vector_words(v: Any) -> str:
    """'layer 9, strength 4, norm 12.3': which steering vector, in words."""
    v = _dict(v)
    return (
        f"layer {plain(v.get('layer'))}, strength {plain(v.get('strength'))}, "
        f"norm {num(v.get('norm'), 2)}"
    )


def _experts_rate(sweep: Any, k: Any) -> tuple[str, Any]:
    """The sweep's target share at the study's k, else at its largest k (labelled)."""
    ks, rates = _get(sweep, "k"), _get(sweep, "target_rate")
    if not isinstance(ks, list) or not isinstance(rates, list) or not ks:
        return "n/a", None
    i = ks.index(k) if k in ks else max(range(len(ks)), key=lambda j: ks[j])
    return f"k = {plain(ks[i])}", rates[i] if i < len(rates) else None


def steering_section(ctx: Ctx) -> list[Block]:
    rows = []
    for lang, t in ctx.targets.items():
        sv = t.get("steering_vector")
        if not isinstance(sv, dict):
            continue
        sw = _get(ctx.r, "sweep", lang)
        pre = _get(t, "retrieval", "mean_pre")
        ex, vec = _get(t, "retrieval", "mean_post"), _get(sv, "retrieval", "mean_post")
        at_k, ex_rate = _experts_rate(sw, _get(t, "experts", "k"))
        rate0 = _experts_rate(sw, 0)[1] if 0 in (_get(sw, "k") or []) else None
        rows.append([
            label(lang), _vector_words(sv.get("vector")), pct(pre),
            f"{pct(ex)} ({pp(_diff(ex, pre))})", f"{pct(vec)} ({pp(_diff(vec, pre))})",
            pct(rate0), f"{pct(ex_rate)} ({at_k})", pct(_get(sw, "steering_vector", "target_rate")),
        ])  # fmt: skip
    if not rows:
        return []
    header = ["Target", "Steering vector", "mean top-1, original", "experts", "steering vector",
              "target share, original", "experts", "steering vector"]  # fmt: skip
    cap = (
        "Forcing the experts against adding one direction to the residual stream: the mean "
        "hidden state of the target's expert-split sentences minus the mean of the other probed "
        "languages' means, times the strength, added at every position of every forward call to "
        "the block output that gives that hidden state. Mean top-1: raw, over ordered pairs, "
        "change vs the original in brackets. Target share: generations (from BOS) identified as "
        "the target, from the k sweep (n/a without it). " + ctx.study_variant()
    )
    return [Table(header, rows, cap)]


def _k_order(k: Any) -> tuple:
    return (0, int(k), "") if str(k).isdigit() else (1, 0, str(k))


def generation_section(ctx: Ctx, max_samples: int = 5, max_chars: int = 400) -> list[Block]:
    out: list[Block] = []
    for lang, by_k in _dict(ctx.r.get("generation")).items():
        if not isinstance(by_k, dict):
            continue
        out.append(Heading(label(lang), 3))
        for k in sorted(by_k, key=_k_order):
            entry = _dict(by_k[k])
            facts = [
                f"{key} {pct(v) if 'rate' in key or 'share' in key else plain(v)}"
                for key, v in entry.items()
                if isinstance(v, int | float | str) and not isinstance(v, bool)
            ]
            samples = [str(x) for x in entry.get("samples") or []]
            who = "steering vector" if k == "steering_vector" else f"k = {plain(k)}"
            out.append(Para(f"{who}: " + ("; ".join(facts) or f"{len(samples)} samples")))
            if samples:
                shown = [x if len(x) <= max_chars else x[:max_chars] + " …" for x in samples]
                text = "\n---\n".join(shown[:max_samples])
                if len(samples) > max_samples:
                    text += f"\n[{len(samples) - max_samples} more samples in results.json]"
                out.append(Code(text))
    return out


# --- timings and provenance ----------------------------------------------------------------------


def timings_section(ctx: Ctx) -> list[Block]:
    tm = {k: v for k, v in _dict(ctx.r.get("timings")).items() if isinstance(v, int | float)}
    if not tm:
        return [Para("No timings recorded.", "note")]
    total = sum(tm.values())
    rows = [[k, seconds(v), f"{100 * v / total:.0f}%" if total else "n/a"] for k, v in tm.items()]
    rows.append(["total", seconds(total), "100%"])
    return [Table(["Stage", "Wall time", "Share"], rows, "Wall-clock time per pipeline stage.")]


def _text(v: Any) -> str:
    return json.dumps(v, default=str) if isinstance(v, dict) else plain(v)


def provenance_section(ctx: Ctx) -> list[Block]:
    r = ctx.r
    rows = [["langsteer", plain(r.get("langsteer", _get(r, "versions", "langsteer")))]]
    for group in ("versions", "machine", "model", "responses"):
        rows += [[f"{group}: {k}", _text(v)] for k, v in _dict(r.get(group)).items()]
    for split, d in _dict(r.get("corpora")).items():
        rows.append([f"corpus {split}: content hash", plain(_get(d, "content_hash"))])
        rows.append([f"corpus {split}: sentences", plain(_get(d, "n"))])
        rows.append([f"corpus {split}: languages", plain(_get(d, "languages"))])
        rows.append([f"corpus {split}: provenance", _text(_get(d, "provenance"))])
    if isinstance(r.get("paraphrase_pairs"), dict):
        rows.append(["paraphrase pairs", _text(r["paraphrase_pairs"])])
    rows += [
        [f"experts file: {x}", plain(_get(t, "experts", "file"))] for x, t in ctx.targets.items()
    ]
    blocks: list[Block] = [Table(["Item", "Value"], rows)]
    blocks += [Heading("Study configuration", 3), Code(json.dumps(ctx.cfg, indent=2, default=str))]
    other = sorted(set(r) - KNOWN_TOP)
    other += sorted({f"targets.*.{k}" for t in ctx.targets.values() for k in t} - {
        f"targets.*.{k}" for k in KNOWN_TARGET})  # fmt: skip
    if other:
        blocks.append(Para(f"Also in results.json, not shown here: {', '.join(other)}.", "note"))
    return blocks
