"""Where every number came from: versions, data hashes, the language check of every corpus
column, the probing passes, expert files and the whole study configuration.

A swapped column label gives plausible but wrong numbers, so the language identifier's verdict
on each column is shown, not just stored. Keys of results.json that no section renders are
listed, so nothing new is silently hidden.
"""

from __future__ import annotations

import json
from typing import Any

from langsteer.report.context import Ctx, _dict, _get, _list
from langsteer.report.markdown import Block, Code, Heading, Para, Table, label, name, plain

# Keys of results.json that some section renders; anything else is listed as not shown.
KNOWN_TOP = {"leaderboard", "baseline", "selection", "methods", "original", "targets"}
KNOWN_TOP |= {"generation", "subsampling", "config", "languages", "model", "corpora"}
KNOWN_TOP |= {"paraphrase_pairs", "probing", "versions", "machine", "langsteer", "timings"}
KNOWN_METHOD = {"method", "name", "kind", "params", "intervention", "experts", "candidates"}
KNOWN_METHOD |= {"candidates_chosen_on", "retrieval", "geometry", "paraphrase", "correlation"}
KNOWN_METHOD |= {"projection", "per_layer", "per_layer_heldout", "per_layer_geometry", "layers"}


def _text(v: Any) -> str:
    return json.dumps(v, default=str) if isinstance(v, dict) else plain(v)


def _identified(d: Any, n: int = 3) -> str:
    items = sorted(_dict(d).items(), key=lambda kv: -kv[1] if isinstance(kv[1], int) else 0)
    return ", ".join(f"{name(k)} {v}" for k, v in items[:n]) or "n/a"


def language_checks(ctx: Ctx) -> Table | None:
    """One row per checked column of every corpus (and the paraphrase pairs)."""
    sources = {
        split: _get(d, "provenance", "language_check")
        for split, d in _dict(ctx.r.get("corpora")).items()
    }
    sources["paraphrase pairs"] = _get(ctx.r, "paraphrase_pairs", "provenance", "language_check")
    rows = []
    for split, checks in sources.items():
        for col, c in _dict(checks).items():
            c = _dict(c)
            judged = f"{plain(c.get('n_judged'))} of {plain(c.get('n_sampled'))}"
            rows.append(
                [
                    split,
                    label(col),
                    plain(c.get("status")),
                    plain(c.get("where")),
                    judged,
                    _identified(c.get("identified")),
                    plain(c.get("reason") or ""),
                ]
            )
    if not rows:
        return None
    cap = (
        "The language identifier's check of every corpus column before use (a sample of lines "
        "per column; judged = lines it could identify). unchecked = too little or too ambiguous "
        "text to judge, which is common on tiny or synthetic corpora."
    )
    header = ["Corpus", "Column", "Check", "Where", "Judged", "Identified as", "Why"]
    return Table(header, rows, cap)


def provenance_section(ctx: Ctx) -> list[Block]:
    r = ctx.r
    rows = [["langsteer", plain(r.get("langsteer", _get(r, "versions", "langsteer")))]]
    for group in ("versions", "machine", "model"):
        rows += [[f"{group}: {k}", _text(v)] for k, v in _dict(r.get(group)).items()]
    for split, d in _dict(r.get("corpora")).items():
        prov = _dict(_get(d, "provenance"))
        rows.append([f"corpus {split}: content hash", plain(_get(d, "content_hash"))])
        size = f"{plain(_get(d, 'n'))} x {plain(_get(d, 'languages'))}"
        rows.append([f"corpus {split}: sentences x languages", size])
        rest = {k: v for k, v in prov.items() if k != "language_check"}
        rows.append([f"corpus {split}: provenance", _text(rest)])
    if isinstance(r.get("paraphrase_pairs"), dict):
        rows.append(["paraphrase pairs", _text(r["paraphrase_pairs"])])
    for i, p in enumerate(x for x in _list(r.get("probing")) if isinstance(x, dict)):
        facts = {k: p.get(k) for k in ("data_hash", "n_sentences", "n_tokens", "n_truncated")}
        facts["cache hit"] = _get(p, "cache", "hit")
        rows.append([f"probing pass {i + 1}", _text(facts)])
    for t, methods in ctx.targets.items():
        for m, rec in methods.items():
            if _get(rec, "experts", "file"):
                rows.append([f"expert file: {m}, {t}", plain(_get(rec, "experts", "file"))])
    blocks: list[Block] = [Table(["Item", "Value"], rows)]
    checks = language_checks(ctx)
    if checks is not None:
        blocks += [Heading("Language check of every corpus column", 3), checks]
    blocks += [Heading("Study configuration", 3), Code(json.dumps(ctx.cfg, indent=2, default=str))]
    other = sorted(set(r) - KNOWN_TOP)
    seen = {k for t in ctx.targets.values() for rec in t.values() for k in rec}
    other += sorted(f"targets.*.methods.*.{k}" for k in seen - KNOWN_METHOD)
    if other:
        blocks.append(Para(f"Also in results.json, not shown here: {', '.join(other)}.", "note"))
    return blocks
