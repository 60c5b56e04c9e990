"""``langsteer.compare``: a comparison study from Python, without writing a TOML file.

The arguments become a study-config dict that goes through the same
:func:`~langsteer.config.config_from_dict` as a study file, so every key is validated the same
way and every default is the config's.
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from langsteer.config import ConfigError, StudyConfig, config_from_dict

__all__ = ["compare", "compare_config"]

_SECTIONS: dict[str, type] = {
    f.name: f.default_factory for f in dataclasses.fields(StudyConfig) if f.name != "methods"
}


def _owners(key: str) -> list[str]:
    return [s for s, cls in _SECTIONS.items() if key in {f.name for f in dataclasses.fields(cls)}]


def _put(data: dict, section: str, key: str, value: Any) -> None:
    values = data.setdefault(section, {})
    if key in values:
        raise ConfigError(f"{section}.{key} is given twice")
    values[key] = value


def compare_config(
    *,
    model: str | Mapping[str, Any] | None = None,
    corpus: str | Mapping[str, Any] | None = None,
    languages: Sequence[str] | None = None,
    targets: Sequence[str] | None = None,
    methods: Sequence[str | Mapping[str, Any]] | None = None,
    **config_overrides: Any,
) -> StudyConfig:
    """The validated :class:`StudyConfig` that :func:`compare` runs (same arguments)."""
    data: dict[str, Any] = {}
    for section, main_key, value in (("model", "id", model), ("corpus", "source", corpus)):
        if isinstance(value, Mapping):
            for key, v in value.items():
                _put(data, section, key, v)
        elif value is not None:
            _put(data, section, main_key, value)
    if languages is not None:
        _put(
            data,
            "evaluation",
            "languages",
            [languages] if isinstance(languages, str) else list(languages),
        )
    if targets is not None:
        _put(data, "experts", "targets", [targets] if isinstance(targets, str) else list(targets))
    for key, value in config_overrides.items():
        if key in _SECTIONS:
            if not isinstance(value, Mapping):
                raise ConfigError(f"{key}= must be a dict of [{key}] keys, e.g. {key}={{...}}")
            for k, v in value.items():
                _put(data, key, k, v)
            continue
        owners = _owners(key)
        if not owners:
            raise ConfigError(
                f"compare() has no option {key!r}: give a study-file key (e.g. k=300, "
                f"n_eval=50) or a section dict (e.g. run={{'batch_size': 8}}); sections: "
                f"{sorted(_SECTIONS)} (see docs/config.md)"
            )
        if len(owners) > 1:
            raise ConfigError(
                f"{key!r} is a key of several sections {owners}: say which, e.g. "
                f"{owners[0]}={{{key!r}: ...}}"
            )
        _put(data, owners[0], key, value)
    if methods is not None:
        if isinstance(methods, (str, Mapping)):
            methods = [methods]
        data["methods"] = [{"name": m} if isinstance(m, str) else dict(m) for m in methods]
    return config_from_dict(data)


def compare(
    *,
    model: str | Mapping[str, Any] | None = None,
    corpus: str | Mapping[str, Any] | None = None,
    languages: Sequence[str] | None = None,
    targets: Sequence[str] | None = None,
    methods: Sequence[str | Mapping[str, Any]] | None = None,
    out: str | Path | None = None,
    report: bool | None = None,
    overwrite: bool = False,
    allow_other_model: bool = False,
    **config_overrides: Any,
) -> dict[str, Any]:
    """Compare training-free alignment methods on one model and corpus; the results dict.

    ``model`` is a hub id, a local path or ``"embedded"`` (or a dict of ``[model]`` keys),
    ``corpus`` a corpus spec such as ``"bible"`` or a folder (or a dict of ``[corpus]`` keys),
    ``languages`` the evaluated languages, ``targets`` the target languages of model methods,
    ``methods`` a list of method names or ``[[methods]]`` dicts (default: the config's
    comparison). Any other study-file key is a keyword: a key that only one section has by its
    name (``k=300``, ``n_eval=50``, ``dtype="bfloat16"``), or a section as a dict
    (``run={"batch_size": 8}``). Everything is validated as a study file is, before anything
    loads. Unset keys take the config's defaults (``docs/config.md``).

    ``out=None`` runs in a temporary folder that is removed afterwards (the report is not
    written); with ``out`` the results, fitted expert files and (``report``, default yes) the
    report are written there as in ``langsteer run``. The returned dict is what results.json
    holds: ``results["leaderboard"]`` first, one row per method (and target, embedding method),
    each compared with the best method that leaves the model untouched.

    Example::

        import langsteer

        results = langsteer.compare(
            model="embedded",
            corpus="bible",
            languages=["eng", "deu", "fra", "spa"],
            targets=["fra"],
            methods=[{"name": "experts", "k": 300}, "random-units", "none",
                     "per-language-centring"],
            n_eval=100,
        )
        for row in results["leaderboard"][:5]:
            print(row["method"], row["target"], row["embedding"], row["top1"], row["verdict"])
    """
    from langsteer.study.pipeline import run_study

    config = compare_config(
        model=model,
        corpus=corpus,
        languages=languages,
        targets=targets,
        methods=methods,
        **config_overrides,
    )
    if report is None:
        report = out is not None
    if out is None:
        if report:
            raise ValueError("report=True writes the report into a folder: give out=...")
        with tempfile.TemporaryDirectory(prefix="langsteer-compare-") as tmp:
            return run_study(
                config, Path(tmp) / "study", report=False, allow_other_model=allow_other_model
            )
    return run_study(
        config, out, overwrite=overwrite, report=report, allow_other_model=allow_other_model
    )
