"""What every report section needs: the results, the languages, variant captions and figures.

:class:`Ctx` wraps one ``results.json`` for the section builders (:mod:`langsteer.report.sections`,
:mod:`langsteer.report.extras`) and the summary (:mod:`langsteer.report.build`); the helpers read
nested values without trusting their shape, since a results file may come from an older or newer
pipeline.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from typing import Any

from langsteer.report import figures as F
from langsteer.report.markdown import Block, Figure, Para, plain

RANDOM = "random units = the same number of randomly chosen units given the experts' values"


def _get(d: Any, *keys: Any, default: Any = None) -> Any:
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return default
        d = d[k]
    return d


def _diff(a: Any, b: Any) -> float | None:
    return a - b if _num(a) and _num(b) else None


def _mean(values: Any) -> float | None:
    vals = [float(v) for v in values if isinstance(v, int | float)]
    return sum(vals) / len(vals) if vals else None


def _dict(x: Any) -> dict:
    return x if isinstance(x, dict) else {}


def _num(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


def _bos(d: dict) -> str:
    return ", BOS excluded" if d.get("skip_bos") else ""


def _settings(d: Any) -> str:
    """'direction forward, scoring cosine': a variant or settings dict in words ('' if none)."""
    return ", ".join(f"{k} {plain(x)}" for k, x in _dict(d).items())


class Ctx:
    """The results plus what every section needs: languages, variant captions, figures."""

    def __init__(self, results: dict) -> None:
        self.r = results
        self.targets = {k: v for k, v in _dict(results.get("targets")).items() if _dict(v)}
        self.cfg = _dict(results.get("config"))
        self.draw = F.available()
        self.n_eval = _get(results, "corpora", "eval", "n")
        langs = _get(results, "languages", "evaluation")
        if not langs:  # fall back to whatever the retrieval tables mention
            seen: dict[str, None] = {}
            for t in self.targets.values():
                for q, row in _dict(_get(t, "retrieval", "pre")).items():
                    seen.update({q: None, **dict.fromkeys(row)})
            langs = list(seen)
        self.langs: list[str] = [str(x) for x in langs]

    def figure(self, stem: str, target: str, draw: Callable[[], bytes], caption: str) -> Block:
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
        file = f"{stem}_{re.sub(r'[^A-Za-z0-9_-]+', '_', target)}.png"
        return Figure(file, png, caption, caption.split(". ")[0])

    def variant(self, retrieval: dict) -> str:
        """What 'top-1' means for these numbers (the peers disagree, so always say it)."""
        ev = _dict(self.cfg.get("evaluation"))
        parts = _settings(retrieval.get("variant"))
        layer = retrieval.get("layer", ev.get("layer"))
        where = "the last layer" if layer == -1 else f"hidden state {plain(layer)}"
        n = self.n_eval
        per = f"; {n} sentences per language (1 sentence = {100 / n:.1f} pp)" if n else ""
        return (
            "Top-1 retrieval = share of query sentences whose nearest candidate sentence is "
            f"their translation. Variant: {parts or 'not recorded'}; sentence embedding = "
            f"{plain(ev.get('pooling', '?'))} over tokens{_bos(ev)}, at {where}{per}."
        )

    def study_variant(self) -> str:
        """The variant of the first target's retrieval: the study-wide setting, for summaries."""
        first = next(iter(self.targets.values()), {})
        return self.variant(_dict(first.get("retrieval")))

    def random_note(self) -> str:
        seed = _get(self.cfg, "intervention", "random_seed")
        return f"{RANDOM.capitalize()} (seed {plain(seed)})."
