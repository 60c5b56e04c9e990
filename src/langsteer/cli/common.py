"""What every command checks before anything expensive: output paths, languages, the device.

Commands validate the config, the output path, languages, corpora and expert files first and
load the model last, so a typo fails in seconds and never after minutes of forward passes.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from langsteer.config import StudyConfig

__all__ = [
    "add_out_flags",
    "check_device",
    "check_out_file",
    "check_out_folder",
    "flag_languages",
    "intervention_params",
    "load_user_corpus",
    "open_model",
    "print_subsampling",
    "read_expert_files",
    "subsample",
]


def add_out_flags(p: argparse.ArgumentParser, what: str, *, default: str | None = None) -> None:
    g = p.add_argument_group("output")
    if default is None:
        g.add_argument("--out", required=True, help=what)
    else:
        g.add_argument("--out", default=default, help=f"{what} (default: {default})")
    g.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing --out as a whole (otherwise an existing one is refused)",
    )


def _blocking_file(path: Path) -> Path | None:
    """The first existing ancestor of ``path`` that is a file (so no folder can be made)."""
    for parent in path.parents:
        if parent.exists():
            return None if parent.is_dir() else parent
    return None


def check_out_folder(out: Path, overwrite: bool) -> None:
    """Refuse an ``--out`` folder that cannot be made, or one that holds an earlier run."""
    from langsteer.study.data import ensure_output

    blocker = _blocking_file(out)
    if blocker is not None:
        raise ValueError(f"--out {out}: {blocker} is a file, so the folder cannot be created")
    ensure_output(out, overwrite)


def check_out_file(out: Path, overwrite: bool, example: str) -> None:
    """Refuse an ``--out`` file path that is a folder, lies under a file, or exists already."""
    if out.is_dir():
        raise ValueError(
            f"--out {out} is an existing folder, but this command writes one file; give a file "
            f"name, e.g. {out / example}"
        )
    blocker = _blocking_file(out)
    if blocker is not None:
        raise ValueError(f"--out {out}: {blocker} is a file, so {out.name} cannot be written")
    if out.exists() and not overwrite:
        raise FileExistsError(
            f"--out {out} exists: give a new file name, or --overwrite to replace it"
        )


def flag_languages(codes: Iterable[str], flag: str) -> list[str]:
    """Normalised, de-duplicated FLORES codes; an unknown code is an error naming ``flag``."""
    from langsteer.languages import normalize_language

    out = []
    for code in codes:
        try:
            out.append(normalize_language(code))
        except ValueError as exc:
            raise ValueError(f"{flag} {code}: {exc}") from None
    return list(dict.fromkeys(out))


def check_device(config: StudyConfig) -> None:
    """A device this machine lacks is refused now, not after the corpora are read."""
    from langsteer.models import resolve_device

    if config.model.device_map is None:
        resolve_device(config.model.device)


def open_model(config: StudyConfig) -> Any:
    """The study's model, loaded the one way a study loads it."""
    from langsteer.study import pipeline

    return pipeline.open_model(config)


def print_subsampling(notes: list[dict[str, Any]]) -> None:
    """Every subsampling of the user's data, on the console (issue 11: nothing silent)."""
    for n in notes:
        print(f"subsampled {n['what']}: {n['used']} of {n['available']} ({n['how']})")


def load_user_corpus(config: StudyConfig, languages: list[str]) -> Any:
    """``corpus.source`` for ``languages``, read and checked with the study's loader options."""
    from langsteer.corpora import load_corpus
    from langsteer.study.data import _load_options

    c = config.corpus
    return load_corpus(
        c.source, split=c.split, languages=languages, **_load_options(config, c.source)
    )


def subsample(
    corpus: Any, sizes: dict[str, int], *, seed: int, flags: dict[str, str], source: str
) -> tuple:
    """Disjoint seeded parts of ``corpus`` (``sizes`` per part; ``flags`` names each part's
    flag), and the subsampling notes; more than the corpus holds is an error, never a clip."""
    from langsteer.corpora import split

    n = len(corpus)
    total = sum(sizes.values())
    if total > n:
        asked = " + ".join(f"{flags[k]} {v}" for k, v in sizes.items())
        if len(sizes) > 1:
            asked += f" = {total} sentences"
        raise ValueError(
            f"{asked} per language, but --corpus {source} has {n} aligned sentences per "
            f"language; ask for at most {n} (nothing is clipped silently)"
        )
    parts = split(corpus, sizes, seed=seed)
    notes = []
    if total < n:
        notes.append(
            {
                "what": "corpus sentences",
                "available": n,
                "used": total,
                "how": f"seeded random split, --seed {seed}: "
                + ", ".join(f"{k} {v}" for k, v in sizes.items()),
            }
        )
    return parts, notes


def read_expert_files(config: StudyConfig, label: str = "experts") -> dict[str, Any]:
    """``{target: ExpertSet}`` of the ``--experts`` files, each turned into its method now, so
    a damaged file, two files for one target, k = 0 or AurA on AP scores fail before the model
    loads."""
    from langsteer.methods import METHODS
    from langsteer.study.data import load_expert_files

    try:
        sets = load_expert_files(config).get(label, {})
    except FileNotFoundError as exc:
        raise FileNotFoundError(f"--experts: {exc}") from None
    except ValueError as exc:
        raise ValueError(f"--experts: {exc}") from None
    spec = next(m for m in config.methods if m.label == label)
    params = intervention_params(config, label)
    for ex in sets.values():
        path = ex.meta.get("path")
        if len(ex) == 0:
            raise ValueError(
                f"--experts {path} holds no experts (k = 0): find experts with --k 1 or more"
            )
        if params["mode"] == "aura" and ex.meta.get("score") != "auroc":
            raise ValueError(
                f"--mode aura dampens by AUROC but --experts {path} was scored by "
                f"{ex.meta.get('score')!r}: find experts with --score auroc or use --mode set"
            )
        try:
            METHODS[spec.name].from_expert_set(ex, **params)
        except ValueError as exc:
            raise ValueError(f"--experts {path}: {exc}") from None
    return sets


def intervention_params(config: StudyConfig, label: str = "experts") -> dict[str, Any]:
    """The forcing parameters of an expert-file method (the file gives units, k...)."""
    spec = next(m for m in config.methods if m.label == label)
    keep = ("value", "mode", "scale", "positions", "seed")
    return {k: v for k, v in config.method_params(spec).items() if k in keep}
