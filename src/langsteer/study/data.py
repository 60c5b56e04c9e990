"""A study's data, prepared and checked before any model is loaded.

Languages, corpora (with every column's language checked against its label), disjoint seeded
splits (probing / held-out / evaluated), paraphrase pairs and expert files are all read and
validated here, so a typo or a mislabelled file fails in seconds, not after the expensive
passes. Nothing is clipped silently: a split that does not fit is an error that says what
fits, and every subsampling is recorded in ``StudyData.subsampling`` (results.json and the
console summary show it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from langsteer.config import ConfigError, StudyConfig
from langsteer.corpora import (
    Corpus,
    ParaphrasePairs,
    bible_paraphrases,
    load_corpus,
    load_pawsx,
    split,
)
from langsteer.languages import normalize_language
from langsteer.methods.experts import ExpertSet

__all__ = ["StudyData", "prepare_data", "study_languages"]


def _unique(items) -> list[str]:
    return list(dict.fromkeys(items))


@dataclass
class StudyData:
    """Everything a study reads, checked: languages, splits, pairs, expert files."""

    languages: dict[str, list[str]]
    corpora: dict[str, Corpus]
    pairs: ParaphrasePairs | None
    expert_files: dict[str, dict[str, ExpertSet]] = field(default_factory=dict)  # label->t->set
    subsampling: list[dict[str, Any]] = field(default_factory=list)


def study_languages(config: StudyConfig, file_targets: list[str] | None = None) -> dict:
    """Targets, negatives, evaluation and probed languages (normalised FLORES codes)."""
    targets = _unique(normalize_language(x) for x in (file_targets or config.experts.targets))
    negatives = _unique(normalize_language(x) for x in config.experts.negatives)
    evaluation = _unique(normalize_language(x) for x in config.evaluation.languages)
    missing = [t for t in targets if t not in evaluation]
    if missing:
        raise ConfigError(
            f"targets {missing} must also be evaluation languages (evaluation.languages; CLI "
            "--languages)"
        )
    probed = _unique([*targets, *negatives])
    return {"targets": targets, "negatives": negatives, "evaluation": evaluation, "probed": probed}


def _load_options(config: StudyConfig, source: str) -> dict[str, Any]:
    c = config.corpus
    kw: dict[str, Any] = {
        "language_check": c.language_check,
        "drop_empty": c.drop_empty,
        "allow_copyrighted": c.allow_copyrighted,
    }
    if c.duplicates is not None:
        kw["duplicates"] = c.duplicates
    if source == "bible" and c.translations:
        kw["translations"] = c.translations
    return kw


def _sizes(config: StudyConfig, n: int, what: str, with_experts: bool) -> dict[str, int]:
    """Split sizes that fit ``n`` sentences, or an error that says what does."""
    c = config.corpus
    n_expert = c.n_expert if with_experts else 0
    n_eval = c.n_eval if c.n_eval is not None else n - n_expert - c.n_center
    total = n_expert + c.n_center + n_eval
    if n_eval < 1 or total > n:
        keys = "corpus.n_expert + n_center + n_eval" if with_experts else "corpus.n_center + n_eval"
        room = n - n_expert - c.n_center
        raise ConfigError(
            f"{keys} = {total} but {what} has {n} aligned sentences per language; lower "
            f"n_eval to at most {max(room, 0)} (or n_center: 0 makes every control in-sample); "
            "nothing is clipped silently"
        )
    return {"experts": n_expert, "center": c.n_center, "eval": n_eval}


def load_corpora(config: StudyConfig, langs: dict[str, list[str]], need_probe: bool) -> tuple:
    """Disjoint, seeded probing / held-out / evaluated splits; and what was subsampled."""
    c = config.corpus
    everything = _unique([*langs["probed"], *langs["evaluation"]])
    notes: list[dict[str, Any]] = []
    if c.expert_source is None:
        corpus = load_corpus(
            c.source, split=c.split, languages=everything, **_load_options(config, c.source)
        )
        sizes = _sizes(config, len(corpus), repr(c.source), need_probe)
        parts = split(corpus, {k: v for k, v in sizes.items() if v}, seed=c.seed)
        out = {"eval": parts["eval"].subset(languages=langs["evaluation"])}
        if "experts" in parts:
            out["experts"] = parts["experts"].subset(languages=langs["probed"])
        if "center" in parts:
            out["center"] = parts["center"].subset(languages=langs["evaluation"])
        used = sum(sizes.values())
        if used < len(corpus):
            notes.append(
                {
                    "what": "corpus sentences",
                    "available": len(corpus),
                    "used": used,
                    "how": f"seeded random split (corpus.seed = {c.seed})",
                }
            )
        return out, notes
    probe = load_corpus(
        c.expert_source,
        split=c.expert_split,
        languages=langs["probed"],
        **_load_options(config, c.expert_source),
    )
    evals = load_corpus(
        c.source, split=c.split, languages=langs["evaluation"], **_load_options(config, c.source)
    )
    out: dict[str, Corpus] = {}
    if need_probe:
        if c.n_expert > len(probe):
            raise ConfigError(
                f"corpus.n_expert = {c.n_expert} but {c.expert_source!r} has {len(probe)} "
                f"sentences per language; set corpus.n_expert to at most {len(probe)}"
            )
        out["experts"] = split(probe, {"experts": c.n_expert}, seed=c.seed)["experts"]
        if c.n_expert < len(probe):
            notes.append(
                {
                    "what": "probing sentences",
                    "available": len(probe),
                    "used": c.n_expert,
                    "how": f"seeded (corpus.seed = {c.seed})",
                }
            )
    sizes = _sizes(config, len(evals), repr(c.source), False)
    parts = split(evals, {k: v for k, v in sizes.items() if k != "experts" and v}, seed=c.seed)
    out.update(parts)
    if sizes["center"] + sizes["eval"] < len(evals):
        notes.append(
            {
                "what": "evaluation corpus sentences",
                "available": len(evals),
                "used": sizes["center"] + sizes["eval"],
                "how": f"seeded random split (corpus.seed = {c.seed})",
            }
        )
    return out, notes


def paraphrase_pairs(config: StudyConfig, eval_ids: list[str]) -> tuple:
    """PAWS-X pairs (a seeded subset of n_eval), or two Bible translations of one language on
    the evaluation verses only (so no probing verse is ever evaluated); and what was dropped."""
    e, c = config.evaluation, config.corpus
    if not config.analyses.paraphrase:
        return None, []
    if e.paraphrase_source is not None:
        pairs = load_pawsx(e.paraphrase_source, e.paraphrase_language, drop_empty=c.drop_empty)
        n = min(len(eval_ids), len(pairs))
        rows = np.random.default_rng(c.seed).choice(len(pairs), n, replace=False)
        notes = []
        if n < len(pairs):
            notes.append(
                {
                    "what": "paraphrase pairs",
                    "available": len(pairs),
                    "used": n,
                    "how": "seeded, as many as evaluated sentences",
                }
            )
        return pairs.subset(np.sort(rows)), notes
    if c.source != "bible" or len(e.paraphrase) != 2:
        return None, []
    pairs = bible_paraphrases(
        e.paraphrase_language, translations=e.paraphrase, public_domain_only=not c.allow_copyrighted
    )
    wanted = set(eval_ids)
    keep = [i for i, x in enumerate(pairs.ids) if x in wanted]
    return pairs.subset(keep), []


def load_expert_files(config: StudyConfig) -> dict[str, dict[str, ExpertSet]]:
    """``{method label: {target: ExpertSet}}`` of every ``files = [...]`` method entry."""
    out: dict[str, dict[str, ExpertSet]] = {}
    for m in config.methods:
        if not m.files:
            continue
        sets: dict[str, ExpertSet] = {}
        for path in m.files:
            ex = ExpertSet.load(path)
            if ex.target in sets:
                raise ConfigError(
                    f"two expert files for target {ex.target} in method {m.label!r}: "
                    f"{sets[ex.target].meta.get('path')} and {path}; give one file per target"
                )
            ex.meta["path"] = str(path)
            sets[ex.target] = ex
        out[m.label] = sets
    return out


def prepare_data(config: StudyConfig) -> StudyData:
    """Read and check everything the study needs before the model is loaded."""
    files = load_expert_files(config)
    file_targets = _unique(t for sets in files.values() for t in sets) or None
    langs = study_languages(config, file_targets)
    need_probe = any(m.kind == "model" and not m.files for m in config.methods)
    if need_probe and config.corpus.n_expert < 1 and config.corpus.expert_source is None:
        raise ConfigError(
            "corpus.n_expert = 0 but model methods without expert files must be fitted on a "
            "probing split: set corpus.n_expert (or give files = [...] for every model method)"
        )
    corpora, notes = load_corpora(config, langs, need_probe)
    pairs, pair_notes = paraphrase_pairs(config, corpora["eval"].ids)
    for label, sets in files.items():
        stray = [t for t in sets if t not in langs["evaluation"]]
        if stray:
            raise ConfigError(
                f"expert files of {label!r} target {stray}, not evaluation languages "
                f"{langs['evaluation']}; add them to evaluation.languages (CLI --languages)"
            )
    return StudyData(langs, corpora, pairs, files, notes + pair_notes)


def ensure_output(out: Path, overwrite: bool) -> None:
    """Refuse an output path that is a file, or a non-empty folder without ``overwrite``."""
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"--out {out} is an existing file: give a folder")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise FileExistsError(
            f"--out {out} is not empty: give a new folder, or --overwrite to replace it as a "
            "whole (a run never mixes its files with an earlier run's)"
        )
