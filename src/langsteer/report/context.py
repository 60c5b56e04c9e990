"""What every report section needs: the results, the languages, variant captions and figures.

:class:`Ctx` wraps one ``results.json`` for the section builders; the helpers read nested values
without trusting their shape, since a results file may come from an older or newer pipeline. A
file from before methods were compared (``targets[t]`` holding ``retrieval``, ``experts``,
``random_control`` ... directly) is read as one model method per old entry, so its paper
measurements still render.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from typing import Any

from langsteer.report import figures as F
from langsteer.report.markdown import Block, Figure, Para, plain

LAYER_WORDS = "layer = hidden-state index (0 = token embeddings, -1 = last)"


def _get(d: Any, *keys: Any, default: Any = None) -> Any:
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return default
        d = d[k]
    return d


def _diff(a: Any, b: Any) -> float | None:
    return a - b if _num(a) and _num(b) else None


def _dict(x: Any) -> dict:
    return x if isinstance(x, dict) else {}


def _list(x: Any) -> list:
    return x if isinstance(x, list) else []


def _num(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


def _bos(d: dict) -> str:
    return ", BOS excluded" if d.get("skip_bos") else ""


def _settings(d: Any) -> str:
    """'direction forward, scoring cosine': a variant or settings dict in words ('' if none)."""
    return ", ".join(f"{k} {plain(x)}" for k, x in _dict(d).items())


def _flat_correlation(old: dict) -> dict:
    """The pre-redesign ``{row: {r, ci_low, ...}}`` correlation as the evaluator's flat dict."""
    out = {
        f"correlation.{row}.{k}": v
        for row, d in old.items()
        if isinstance(d, dict)
        for k, v in d.items()
    }
    if isinstance(old.get("note"), str):
        out["correlation.note"] = old["note"]
    return out


def _old_methods(t: dict) -> dict[str, dict]:
    """A pre-redesign target entry as ``{label: record}`` (experts, random units, vector)."""
    keys = ("retrieval", "geometry", "paraphrase", "correlation", "projection")
    experts = {k: t[k] for k in (*keys, "experts", "intervention") if k in t}
    out = {"experts": {**experts, "name": "experts", "kind": "model"}} if experts else {}
    for key, label in (("random_control", "random units"), ("steering_vector", "steering vector")):
        rec = _dict(t.get(key))
        if rec:
            out[label] = {k: rec[k] for k in keys if k in rec} | {"kind": "model", "name": label}
            pre = _get(t, "retrieval", "pre")
            if (
                isinstance(out[label].get("retrieval"), dict)
                and pre
                and "pre" not in rec["retrieval"]
            ):
                out[label]["retrieval"] = {"pre": pre, **rec["retrieval"]}
    for rec in out.values():
        corr = rec.get("correlation")
        if isinstance(corr, dict) and not any(str(k).startswith("correlation.") for k in corr):
            rec["correlation"] = _flat_correlation(corr)
    return out


class Ctx:
    """The results plus what every section needs: languages, method records, captions, figures."""

    def __init__(self, results: dict) -> None:
        self.r = results
        self.cfg = _dict(results.get("config"))
        self.board = [row for row in _list(results.get("leaderboard")) if isinstance(row, dict)]
        self.baseline = _dict(results.get("baseline"))
        self.declared = {
            str(m.get("method")): m for m in _list(results.get("methods")) if isinstance(m, dict)
        }
        self.old = False
        self.targets: dict[str, dict[str, dict]] = {}
        for t, entry in _dict(results.get("targets")).items():
            if isinstance(_get(entry, "methods"), dict):
                self.targets[t] = {k: v for k, v in entry["methods"].items() if isinstance(v, dict)}
            elif isinstance(entry, dict) and entry:
                self.old, self.targets[t] = True, _old_methods(entry)
        self.draw = F.available()
        self.n_eval = _get(results, "corpora", "eval", "n")
        langs = _get(results, "languages", "evaluation")
        if not isinstance(langs, list) or not langs:  # whatever the retrieval tables mention
            seen: dict[str, None] = {}
            for rec in (m for t in self.targets.values() for m in t.values()):
                for q, row in _dict(_get(rec, "retrieval", "pre")).items():
                    seen.update({q: None, **dict.fromkeys(_dict(row))})
            langs = list(seen)
        self.langs: list[str] = [str(x) for x in langs]

    def summary(self, label: str) -> str:
        """What a declared method does, in its registry's words ('' when not recorded)."""
        return str(_get(self.declared, label, "summary") or "")

    def figure(self, stem: str, key: str, draw: Callable[[], bytes], caption: str) -> Block:
        """A figure block, or a note when matplotlib is missing or the drawing fails."""
        if not self.draw:
            return Para(
                "Figure skipped: matplotlib is not installed (pip install matplotlib).", "note"
            )
        try:
            png = draw()
        except Exception as exc:  # a figure must never cost the report
            warnings.warn(f"report figure {stem} failed: {exc!r}", stacklevel=2)
            return Para(f"Figure {stem} could not be drawn ({type(exc).__name__}: {exc}).", "note")
        file = re.sub(r"[^A-Za-z0-9_-]+", "_", f"{stem}_{key}" if key else stem).strip("_")
        alt = re.split(r"(?<!Fig)(?<!Sec)\. ", caption)[0]
        return Figure(f"{file}.png", png, caption, alt)

    def per_sentence(self) -> str:
        n = self.n_eval
        return f"{n} evaluated sentences per language" if _num(n) else "sentences per language n/a"

    def variant(self, retrieval: dict) -> str:
        """What 'top-1' means for these numbers (the peers disagree, so always say it)."""
        ev = _dict(self.cfg.get("evaluation"))
        parts = _settings(retrieval.get("variant"))
        layer = retrieval.get("layer", ev.get("layer"))
        where = "the last layer" if layer == -1 else f"hidden state {plain(layer)}"
        return (
            "Top-1 retrieval = share of query sentences whose nearest candidate sentence is "
            f"their translation. Variant: {parts or 'not recorded'}; sentence embedding = "
            f"{plain(ev.get('pooling', '?'))} over tokens{_bos(ev)}, at {where} (the headline "
            f"layer evaluation.layer, not a chosen one); {self.per_sentence()}."
        )

    def board_variant(self) -> str:
        """What the leaderboard's top-1 is (each row at its own chosen layer)."""
        ev = _dict(self.cfg.get("evaluation"))
        how = ", ".join(f"{k} {plain(ev[k])}" for k in ("direction", "scoring") if k in ev)
        return (
            "Top-1 = mean over every ordered language pair of the share of query sentences whose "
            f"nearest candidate (ties count as errors; {how or 'variant not recorded'}) is their "
            f"translation, on the evaluated split ({self.per_sentence()}); sentence embedding = "
            f"{plain(ev.get('pooling', 'mean'))} over tokens{_bos(ev)}; {LAYER_WORDS}."
        )
