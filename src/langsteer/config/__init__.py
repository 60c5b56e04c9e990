"""A whole study as one TOML file: every value has a documented default, unknown keys are errors.

Sections mirror the pipeline: ``[model]``, ``[corpus]``, ``[experts]``, ``[intervention]``,
``[evaluation]``, ``[analyses]``, ``[sweep]``, ``[steering]``, ``[run]``, and the methods the
study compares as ``[[methods]]`` tables (``name`` from the method registry, an optional
``label``, ``files`` of fitted experts, and parameters; a parameter given as a list is a set of
candidates chosen on the held-out split). A method parameter that an entry does not give takes
the study-wide default of the section key of the same meaning (``experts.k`` for ``k``,
``intervention.value`` for ``value``...; :data:`PARAM_DEFAULTS`), so every default is declared
once, here. ``docs/config.md`` lists every key; ``tests/test_config.py`` checks it against
these dataclasses so the two cannot drift apart.
"""

from langsteer.config.errors import ConfigError
from langsteer.config.methods import DEFAULT_METHODS, PARAM_DEFAULTS, build_methods
from langsteer.config.parse import DEMO_STUDY, apply_overrides, config_from_dict, load_config
from langsteer.config.sections import (
    AnalysesConfig,
    CorpusConfig,
    EvaluationConfig,
    ExpertsConfig,
    InterventionConfig,
    MethodSpec,
    ModelConfig,
    RunConfig,
    SteeringConfig,
    StudyConfig,
    SweepConfig,
)

__all__ = [
    "DEFAULT_METHODS",
    "DEMO_STUDY",
    "PARAM_DEFAULTS",
    "AnalysesConfig",
    "ConfigError",
    "CorpusConfig",
    "EvaluationConfig",
    "ExpertsConfig",
    "InterventionConfig",
    "MethodSpec",
    "ModelConfig",
    "RunConfig",
    "SteeringConfig",
    "StudyConfig",
    "SweepConfig",
    "apply_overrides",
    "build_methods",
    "config_from_dict",
    "load_config",
]
