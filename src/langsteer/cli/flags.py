"""CLI flags derived from the study-config dataclasses, so a flag's default cannot drift.

:func:`add_flag` adds the flag of one ``section.key``: its type, default and choices come from
the dataclass field in :mod:`langsteer.config.sections` and the choices of
:mod:`langsteer.config.parse`, and its parsed value lands in ``args`` under the dotted key, from
which :func:`config_data` rebuilds the study-config dict. A flag whose default deliberately
differs from the config's says why (``unlike_config``); ``tests/test_cli.py`` checks every other.
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from langsteer.config import StudyConfig
from langsteer.config.parse import _CHOICES

__all__ = [
    "SECTIONS",
    "add_flag",
    "config_data",
    "config_default",
    "config_flags",
    "corpus_check_flags",
    "expert_file_flags",
    "model_flags",
    "name_or_number",
]

#: ``[section]`` -> its dataclass (every section of a study file but ``[[methods]]``)
SECTIONS: dict[str, type] = {
    f.name: f.default_factory for f in dataclasses.fields(StudyConfig) if f.name != "methods"
}


def _field(key: str) -> tuple[str, str, dataclasses.Field]:
    section, _, name = key.partition(".")
    if section not in SECTIONS:
        raise KeyError(f"no config section {section!r} (flag for {key!r})")
    fields = {f.name: f for f in dataclasses.fields(SECTIONS[section])}
    if name not in fields:
        raise KeyError(f"no config key {key!r}")
    return section, name, fields[name]


def config_default(key: str) -> Any:
    """The dataclass default of ``section.key`` (the one place defaults are declared)."""
    section, name, _ = _field(key)
    return getattr(SECTIONS[section](), name)


def name_or_number(text: str) -> str | float:
    """``--value mean`` or ``--value 2.5``: a number when it parses as one (finite or not: the
    config check refuses non-finite numbers with the key's name)."""
    try:
        return float(text)
    except ValueError:
        return text


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, list):
        return " ".join(map(str, value)) or "none"
    return "none" if value is None else str(value)


def add_flag(
    parser: Any,
    key: str,
    *flags: str,
    help: str,
    default: Any = dataclasses.MISSING,
    unlike_config: str | None = None,
    override: bool = False,
    metavar: str | None = None,
) -> argparse.Action:
    """Add the flag of config key ``section.key`` (``--key`` unless ``flags`` are given).

    Type, default and choices come from the config; ``default`` may differ only with a reason
    (``unlike_config``). ``override=True`` (``run``, ``demo``): the flag has no default and
    overrides the study file only when given.
    """
    section, name, fld = _field(key)
    annotation = str(fld.type)
    base = annotation.replace(" | None", "")
    value = config_default(key)
    if default is not dataclasses.MISSING:
        if unlike_config is None:
            raise ValueError(f"flag for {key}: a default other than the config's needs a reason")
        value = default
    kwargs: dict[str, Any] = {}
    if base == "bool":
        kwargs["action"] = argparse.BooleanOptionalAction if value else "store_true"
    elif base.startswith("list"):
        kwargs.update(nargs="+", type=int if base == "list[int]" else str)
    else:
        kwargs["type"] = {"int": int, "float": float, "str | float": name_or_number}.get(base, str)
    choices = _CHOICES.get((section, name))
    if choices and base == "str":
        kwargs["choices"] = choices
    elif choices:  # a name or a number: the config checks it, the help lists the names
        metavar = metavar or "{" + ",".join(choices) + "}|NUMBER"
    names = flags or ("--" + name.replace("_", "-"),)
    if metavar or ("choices" not in kwargs and base != "bool"):
        kwargs["metavar"] = metavar or names[0].lstrip("-").upper().replace("-", "_")
    if override:
        shown = "the study file's"
        kwargs["default"] = argparse.SUPPRESS
    else:
        shown = _shown(value)
        kwargs["default"] = value
    action = parser.add_argument(
        *names,
        dest=key,
        help=f"{help} (default: {shown}; study file: {key})",
        **kwargs,
    )
    action.config_key = key
    action.unlike_config = unlike_config
    return action


def config_flags(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    """``{section.key: action}`` of every config flag of one (sub)command."""
    return {a.config_key: a for a in parser._actions if getattr(a, "config_key", None)}


def config_data(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """The config sections the parsed flags give: ``{section: {key: value}}``."""
    out: dict[str, dict[str, Any]] = {}
    for dest, value in vars(args).items():
        section, dot, name = dest.partition(".")
        if dot and section in SECTIONS:
            out.setdefault(section, {})[name] = value
    return out


def model_flags(parser: argparse.ArgumentParser, *, override: bool = False) -> None:
    """Which model, on which device: ``[model]`` and the langsteer cache."""
    g = parser.add_argument_group("model")
    o = {"override": override}
    add_flag(
        g,
        "model.id",
        "--model",
        help="hub id or local path of a causal LM; 'embedded' = the packaged Gemma-3-270M",
        **o,
    )
    add_flag(g, "model.gguf_file", help="GGUF file name inside --model (or a path)", **o)
    add_flag(g, "model.revision", help="hub revision (branch, tag or commit)", **o)
    add_flag(g, "model.device", help="auto, cpu, cuda, cuda:1, mps", **o)
    add_flag(g, "model.dtype", help="weights' dtype (auto: bf16 on GPU, fp32 on CPU)", **o)
    add_flag(g, "model.device_map", help="passed to transformers, e.g. 'auto'", **o)
    add_flag(
        g,
        "model.allow_non_causal",
        help="accept a model without causal attention (e.g. a BERT-style encoder); the method "
        "assumes causal attention",
        **o,
    )
    add_flag(
        g,
        "run.cache_dir",
        help="langsteer cache (converted model, passes, generations); when unset: "
        "$LANGSTEER_CACHE or ~/.cache/langsteer",
        **o,
    )
    add_flag(g, "run.progress", help="progress bars", **o)


def corpus_check_flags(parser: argparse.ArgumentParser, *, override: bool = False) -> None:
    """How corpus files are checked (issue 11): language labels, licences, repeats, blanks."""
    g = parser.add_argument_group("corpus checks")
    o = {"override": override}
    add_flag(
        g,
        "corpus.language_check",
        help="a language identifier checks every corpus column against its label: error "
        "(refuse a column that plainly is another language), warn, or off",
        **o,
    )
    add_flag(
        g,
        "corpus.allow_copyrighted",
        help="let the Bible corpus read copyrighted translations at run time",
        **o,
    )
    add_flag(
        g,
        "corpus.duplicates",
        help="a sentence repeated within one language: error, drop or keep (none: the "
        "loader's default, error for files)",
        **o,
    )
    add_flag(
        g,
        "corpus.drop_empty",
        help="drop ids whose sentence is empty in any language instead of refusing them",
        **o,
    )


def expert_file_flags(group: Any, *, required: bool = False, random_control: bool = True) -> None:
    """``--experts`` files and what is done with them (value, mode, scale, positions), shared by
    every command that applies expert files."""
    group.add_argument(
        "--experts",
        nargs="+",
        default=[] if not required else None,
        required=required,
        help="expert file(s), one per target",
    )
    group.add_argument(
        "--allow-other-model",
        action="store_true",
        help="apply expert files made for another model id of the same architecture",
    )
    if random_control:
        group.add_argument(
            "--random-control",
            action="store_true",
            help="also the paper's control: random units given the experts' values",
        )
    add_flag(group, "intervention.value", help="value each expert is forced to")
    add_flag(group, "intervention.mode", help="set, aura (dampen), add or multiply")
    add_flag(group, "intervention.scale", help="multiplies the value (add, multiply: the strength)")
    add_flag(group, "intervention.positions", help="token positions the intervention touches")
    if random_control:
        add_flag(group, "intervention.random_seed", help="seed of the random units")
