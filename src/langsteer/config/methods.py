"""``[[methods]]`` entries: which methods a study compares, with parameters resolved and checked.

A parameter an entry does not give takes the study-wide default of the section key of the same
meaning (:data:`PARAM_DEFAULTS`); a parameter given as a list is a set of candidates that the
study chooses among on the held-out split. Every entry is validated by building its method.
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

from langsteer.config.errors import ConfigError
from langsteer.config.sections import MethodSpec, StudyConfig

__all__ = ["DEFAULT_METHODS", "PARAM_DEFAULTS", "build_methods", "candidates", "resolve_params"]

#: The methods a study compares when its file lists none: the paper's experts, its random-unit
#: control, the steering vector, and the embedding baselines.
DEFAULT_METHODS: tuple[dict[str, Any], ...] = (
    {"name": "experts"},
    {"name": "random-units"},
    {"name": "steering-vector"},
    {"name": "none"},
    {"name": "global-centring"},
    {"name": "per-language-centring"},
    {"name": "whitening"},
)
#: Method parameter -> the section key that gives its study-wide default.
PARAM_DEFAULTS: dict[str, tuple[str, str]] = {
    "units": ("experts", "units"),
    "pooling": ("experts", "pooling"),
    "score": ("experts", "score"),
    "k": ("experts", "k"),
    "bottom_k": ("experts", "bottom_k"),
    "value": ("intervention", "value"),
    "mode": ("intervention", "mode"),
    "scale": ("intervention", "scale"),
    "positions": ("intervention", "positions"),
    "seed": ("intervention", "random_seed"),
    "layer": ("steering", "layer"),
    "strength": ("steering", "strength"),
}
_SPECIAL = ("name", "label", "files")


def _default_label(entry: dict[str, Any], twins: int) -> str:
    if twins == 1:
        return entry["name"]
    given = ", ".join(f"{k}={v}" for k, v in entry.items() if k not in _SPECIAL)
    return f"{entry['name']} ({given})" if given else entry["name"]


def resolve_params(study: StudyConfig, spec: MethodSpec) -> dict[str, Any]:
    """The parameters of ``spec``: given, else the section default (:data:`PARAM_DEFAULTS`);
    parameters with neither are left to the method's own default."""
    from langsteer.methods import METHODS

    cls = METHODS[spec.name]
    params = {}
    for f in dataclasses.fields(cls.Params):
        if f.name in spec.given:
            params[f.name] = spec.given[f.name]
        elif f.name in PARAM_DEFAULTS and f.name not in cls.own_defaults:
            section, key = PARAM_DEFAULTS[f.name]
            params[f.name] = getattr(getattr(study, section), key)
    return params


def build_methods(study: StudyConfig, entries: Any) -> list[MethodSpec]:
    """``[[methods]]`` entries as :class:`MethodSpec` s, each validated by building it."""
    from langsteer.methods import METHODS, MethodError, make_method

    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise ConfigError("methods must be a list of tables ([[methods]] name = ...)")
    names = [e.get("name") for e in entries]
    out: list[MethodSpec] = []
    for entry in entries:
        name = entry.get("name")
        if name not in METHODS:
            raise ConfigError(
                f"[[methods]] name = {name!r} is not a method; known: {', '.join(sorted(METHODS))}"
            )
        cls = METHODS[name]
        given = {k: v for k, v in entry.items() if k not in _SPECIAL}
        known = [f.name for f in dataclasses.fields(cls.Params)]
        unknown = sorted(set(given) - set(known))
        if unknown:
            raise ConfigError(
                f"[[methods]] {name!r} has no parameter(s) {unknown}; it takes {known} "
                "(docs/methods.md)"
            )
        files = entry.get("files") or []
        if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
            raise ConfigError(f"method {name!r}: files must be a list of expert file paths")
        if files and not hasattr(cls, "from_expert_set"):
            raise ConfigError(f"method {name!r} takes no expert files")
        label = entry.get("label") or _default_label(entry, names.count(name))
        spec = MethodSpec(name, str(label), given, list(files), cls.kind)
        try:
            for combo in candidates(resolve_params(study, spec)):
                make_method(name, **combo)
        except MethodError as exc:
            raise ConfigError(f"[[methods]] {label!r}: {exc}") from None
        out.append(spec)
    labels = [m.label for m in out]
    twins = sorted({x for x in labels if labels.count(x) > 1})
    if twins:
        raise ConfigError(f'methods share the label(s) {twins}: give each a label = "..."')
    if not any(m.kind == "embedding" and m.name == "none" for m in out):
        raise ConfigError(
            'methods must include name = "none" (the original model\'s raw embeddings): it is '
            "the baseline every other method is compared with"
        )
    return out


def candidates(params: dict[str, Any]) -> list[dict[str, Any]]:
    keys = [k for k, v in params.items() if isinstance(v, list)]
    return [
        {**params, **dict(zip(keys, c, strict=True))}
        for c in itertools.product(*(params[k] for k in keys))
    ]
