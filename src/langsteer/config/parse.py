"""Study files: TOML -> validated :class:`StudyConfig`, and ``--set`` overrides.

Unknown sections and keys, values of the wrong type and values outside their choices are errors
that name the key and what is allowed, raised before anything expensive runs.
"""

from __future__ import annotations

import dataclasses
import math
import sys
from pathlib import Path
from typing import Any

from langsteer.config.errors import ConfigError
from langsteer.config.methods import DEFAULT_METHODS, build_methods
from langsteer.config.sections import StudyConfig, SweepConfig

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = [
    "DEMO_STUDY",
    "apply_overrides",
    "config_from_dict",
    "load_config",
    "packaged_studies",
]

DEMO_STUDY = Path(__file__).resolve().parents[1] / "data" / "demo.toml"
_REPLACED = {
    ("steering", "enabled"): 'a [[methods]] entry with name = "steering-vector"',
    ("analyses", "random_control"): 'a [[methods]] entry with name = "random-units"',
    ("sweep", "retrieval"): "[[methods]] entries of the same method with different k",
}
_CHOICES = {
    ("experts", "units"): None,  # validated when resolved against the model
    ("experts", "pooling"): ("max", "mean", "last"),
    ("experts", "score"): ("auroc", "ap", "lape"),
    ("intervention", "value"): ("mean", "token-mean", "median", "zero"),
    ("intervention", "mode"): ("set", "aura", "add", "multiply"),
    ("intervention", "positions"): ("all", "last"),
    ("evaluation", "pooling"): ("mean", "last"),
    ("evaluation", "direction"): ("forward", "both", "strict-both"),
    ("evaluation", "scoring"): ("cosine", "margin"),
    ("evaluation", "select_layer"): ("heldout", "fixed"),
    ("evaluation", "medoid"): ("point", "centroid-language"),
    ("model", "dtype"): ("auto", "float32", "bfloat16", "float16"),
    ("corpus", "duplicates"): ("error", "drop", "keep"),
    ("corpus", "language_check"): ("error", "warn", "off"),
}
_POSITIVE = {
    ("corpus", "n_eval"),
    ("run", "batch_size"),
    ("run", "max_length"),
    ("evaluation", "n_boot"),
    ("sweep", "n_samples"),
    ("sweep", "max_new_tokens"),
    ("sweep", "batch_size"),
    ("sweep", "n_ppl"),
    ("sweep", "ppl_stride"),
}


def _check_type(where: str, value: Any, default: Any, annotation: str) -> Any:
    if isinstance(default, bool) or annotation == "bool":
        if not isinstance(value, bool):
            raise ConfigError(f"{where} must be true or false, got {value!r}")
        return value
    if annotation == "list[int]":
        if not isinstance(value, list) or not all(
            isinstance(v, int) and not isinstance(v, bool) for v in value
        ):
            raise ConfigError(f"{where} must be a list of integers, got {value!r}")
        return value
    if annotation.startswith("list"):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{where} must be a list of strings, got {value!r}")
        return value
    if annotation == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where} must be an integer, got {value!r}")
        return value
    if annotation == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where} must be a number, got {value!r}")
        if not math.isfinite(value):
            raise ConfigError(f"{where} must be a finite number, got {value}")
        return float(value)
    if annotation == "str | float":
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise ConfigError(f"{where} must be a name or a number, got {value!r}")
        if not isinstance(value, str) and not math.isfinite(value):
            raise ConfigError(f"{where} must be a name or a finite number, got {value}")
        return value
    if not isinstance(value, str):
        raise ConfigError(f"{where} must be a string, got {value!r}")
    return value


def _set_section(study: StudyConfig, name: str, values: Any) -> None:
    if not isinstance(values, dict):
        raise ConfigError(f"[{name}] must be a table of keys")
    section = getattr(study, name)
    fields = {f.name: f for f in dataclasses.fields(section)}
    for key, value in values.items():
        if (name, key) in _REPLACED:
            raise ConfigError(f"{name}.{key} was replaced by {_REPLACED[(name, key)]}")
        if key not in fields:
            raise ConfigError(
                f"unknown key {name}.{key}; [{name}] accepts {sorted(fields)} (see docs/config.md)"
            )
        annotation = str(fields[key].type)
        if value is None or (value == "" and "None" in annotation):
            value = None
        else:
            base = annotation.replace(" | None", "")
            value = _check_type(f"{name}.{key}", value, getattr(section, key), base)
        choices = _CHOICES.get((name, key))
        if choices and value is not None and isinstance(value, str) and value not in choices:
            raise ConfigError(f"{name}.{key} = {value!r} is not one of {list(choices)}")
        if (name, key) in _POSITIVE and value is not None and value < 1:
            raise ConfigError(f"{name}.{key} must be at least 1, got {value}")
        setattr(section, key, value)


def config_from_dict(data: dict[str, Any]) -> StudyConfig:
    """Build and validate a config; every error names the key and what is allowed."""
    study = StudyConfig()
    sections = {f.name for f in dataclasses.fields(StudyConfig)}
    for name, values in data.items():
        if name not in sections:
            raise ConfigError(f"unknown section [{name}]; sections are {sorted(sections)}")
        if name != "methods":
            _set_section(study, name, values)
    _check_study(study)
    entries = data.get("methods")
    entries = [dict(e) for e in DEFAULT_METHODS] if entries is None else entries
    study.methods = build_methods(study, entries)
    return study


def _check_study(study: StudyConfig) -> None:
    for where, value in (
        ("experts.k", study.experts.k),
        ("experts.bottom_k", study.experts.bottom_k),
        ("corpus.n_expert", study.corpus.n_expert),
        ("corpus.n_center", study.corpus.n_center),
    ):
        if value < 0:
            raise ConfigError(f"{where} must be >= 0, got {value}")
    if 0 < study.corpus.n_center < 4:
        raise ConfigError(
            f"corpus.n_center = {study.corpus.n_center}: the held-out split chooses layers and "
            "parameters with its halves cross-fitted, so it needs at least 4 sentences per "
            "language (0: no held-out split, every choice then made in-sample)"
        )
    if study.experts.k < 1:
        raise ConfigError(
            f"experts.k = {study.experts.k}: the analyses force the top-k experts, so k must be "
            "at least 1 (CLI: --k); the unmodified model is always measured as the baseline"
        )
    if 0 < study.corpus.n_expert < 2:
        raise ConfigError(
            f"corpus.n_expert = {study.corpus.n_expert}: finding experts needs at least 2 "
            "sentences per language (with one positive every unit that ranks it first ties at "
            "AUROC 1.0 and the experts are arbitrary; below 20 they are unreliable); use 0 only "
            "when expert files are given"
        )
    if study.intervention.mode == "aura" and study.experts.score != "auroc":
        raise ConfigError(
            'intervention.mode = "aura" dampens by AUROC: it needs experts.score = "auroc", '
            f"got {study.experts.score!r}"
        )
    if not study.experts.targets:
        raise ConfigError("experts.targets is empty: name at least one target language")
    _check_sweep(study.sweep)


def _check_sweep(sw: SweepConfig) -> None:
    """Refuse sampling options that would only fail after the expensive stages."""
    if not sw.ks or any(k < 0 for k in sw.ks) or len(set(sw.ks)) != len(sw.ks):
        raise ConfigError(f"sweep.ks must be distinct non-negative integers, got {sw.ks}")
    if not sw.seeds:
        raise ConfigError("sweep.seeds is empty: give at least one sampling seed")
    if not sw.temperature > 0:
        raise ConfigError(f"sweep.temperature must be > 0, got {sw.temperature}")
    if not 0 < sw.top_p <= 1:
        raise ConfigError(f"sweep.top_p must be in (0, 1], got {sw.top_p}")
    if sw.n_keep < 0:
        raise ConfigError(f"sweep.n_keep must be >= 0, got {sw.n_keep}")


def packaged_studies() -> list[str]:
    """Names of the studies shipped with langsteer (``langsteer run <name>``)."""
    return sorted(p.stem for p in DEMO_STUDY.parent.glob("*.toml"))


def load_config(path: str | Path) -> StudyConfig:
    """A study file, or a packaged study by name (``demo``, ``compare``, ...)."""
    path = Path(path)
    if not path.exists() and str(path) in packaged_studies():
        path = DEMO_STUDY.parent / f"{path}.toml"
    if not path.exists():
        raise FileNotFoundError(
            f"study file {path} does not exist (packaged studies: {', '.join(packaged_studies())})"
        )
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from exc
    return config_from_dict(data)


def apply_overrides(config: StudyConfig, overrides: list[str]) -> StudyConfig:
    """Apply ``section.key=value`` strings (value in TOML syntax, bare words allowed).

    Method parameters the study file did not give follow the overridden section defaults
    (``--set experts.k=1000`` changes every experts-like method without its own ``k``).
    """
    data = config.to_dict()
    for item in overrides:
        if "=" not in item or "." not in item.split("=", 1)[0]:
            raise ConfigError(f"--set expects SECTION.KEY=VALUE, got {item!r}")
        path, raw = item.split("=", 1)
        section, key = path.strip().split(".", 1)
        try:
            value = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw  # a bare word such as cpu or bfloat16
        data.setdefault(section, {})[key] = value
    return config_from_dict(data) if overrides else config
