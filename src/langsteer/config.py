"""A whole study as one TOML file: every value has a documented default, unknown keys are errors.

Sections mirror the pipeline: ``[model]``, ``[corpus]``, ``[experts]``, ``[intervention]``,
``[evaluation]``, ``[analyses]``, ``[sweep]``, ``[steering]``, ``[run]``. ``docs/config.md``
lists every key; ``tests/test_config.py`` checks it against these dataclasses so the two cannot
drift apart.
"""

from __future__ import annotations

import dataclasses
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


DEMO_STUDY = Path(__file__).parent / "data" / "demo.toml"


class ConfigError(ValueError):
    """A study file with an unknown key or a bad value."""


@dataclass
class ModelConfig:
    id: str = "embedded"  # hub id, local path, or "embedded" (packaged Gemma-3-270M)
    gguf_file: str | None = None  # GGUF file inside `id`
    revision: str | None = None
    device: str = "auto"  # auto, cpu, cuda, cuda:N
    dtype: str = "auto"  # auto (bf16 on GPU, fp32 on CPU), float32, bfloat16, float16
    device_map: str | None = None  # e.g. "auto" to split a big model over GPUs
    allow_non_causal: bool = False  # accept a model without causal attention (e.g. BERT)


@dataclass
class CorpusConfig:
    source: str = "bible"  # "bible", a FLORES dir, a dir of <lang>.txt files
    translations: list[str] = field(
        default_factory=list
    )  # Bible translations (default: one PD per language)
    split: str | None = None  # FLORES split for evaluation (e.g. "devtest")
    expert_source: str | None = None  # separate corpus for experts (default: `source`)
    expert_split: str | None = None  # e.g. FLORES "dev"
    n_expert: int = 400  # sentences per language for finding experts (0: experts given)
    n_eval: int = 100  # sentences per language for evaluation (disjoint from n_expert)
    n_center: int = 40  # held-out sentences per language for centring means (0: no held-out)
    seed: int = 0  # seeds the split
    duplicates: str | None = None  # repeated sentences: error, drop, keep (None: loader default)
    drop_empty: bool = False  # drop ids whose sentence is empty in any language (else an error)
    language_check: str = "error"  # identifier check of every column's language: error, warn, off
    allow_copyrighted: bool = False  # read copyrighted Bible translations at run time


@dataclass
class ExpertsConfig:
    targets: list[str] = field(default_factory=lambda: ["eng", "deu", "fra", "spa"])
    negatives: list[str] = field(default_factory=list)  # extra negative languages
    units: str = "mlp"  # mlp, mlp-act, linear, re:<regex>
    pooling: str = "max"  # max, mean, last
    skip_bos: bool = True
    score: str = "auroc"  # auroc, ap
    k: int = 500  # experts used by the main analyses
    bottom_k: int = 0


@dataclass
class InterventionConfig:
    value: str | float = "mean"  # mean (paper), median, zero, or a number
    mode: str = "set"  # set, aura
    scale: float = 1.0
    positions: str = "all"  # all, last
    random_seed: int = 0  # seed of the random-unit control


@dataclass
class EvaluationConfig:
    languages: list[str] = field(
        default_factory=lambda: ["eng", "deu", "fra", "spa", "por", "ita", "rus", "vie"]
    )
    layer: int = -1  # hidden-state index of the headline numbers (-1 = last)
    pooling: str = "mean"  # mean (paper), last
    skip_bos: bool = True
    direction: str = "forward"  # forward, both, strict-both
    scoring: str = "cosine"  # cosine, margin
    paraphrase: list[str] = field(default_factory=lambda: ["KJV", "WEB"])  # two translations
    paraphrase_language: str = "eng"  # language of the paraphrase pairs
    paraphrase_source: str | None = None  # PAWS-X TSV file or release folder (else the Bible)
    correlation_languages: list[str] = field(default_factory=list)  # default: all evaluated
    n_boot: int = 2000


@dataclass
class AnalysesConfig:
    retrieval: bool = True
    geometry: bool = True
    paraphrase: bool = True
    random_control: bool = True
    correlation: bool = True
    projection: bool = True


@dataclass
class SweepConfig:
    enabled: bool = False  # the k sweep: generation target-language rate and perplexity per k
    ks: list[int] = field(default_factory=lambda: [0, 100, 300, 1000])  # 0 = no intervention
    n_samples: int = 16  # samples per seed from a BOS-only prompt (paper: 256)
    seeds: list[int] = field(default_factory=lambda: [0])  # paper: 8 seeds
    max_new_tokens: int = 24
    temperature: float = 1.0
    top_p: float = 0.9
    batch_size: int = 16
    n_ppl: int = 20  # held-out target sentences (evaluation split) scored for perplexity
    ppl_stride: int = 512
    langid_languages: list[str] = field(default_factory=list)  # identifier candidates ([] = all)
    n_keep: int = 5  # sample generations kept per (target, k) for the report
    retrieval: bool = False  # also re-encode per k: mean top-1 raw and per-language centred


@dataclass
class SteeringConfig:
    enabled: bool = False  # the steering-vector baseline (issue 7 item 4)
    layer: int | None = None  # hidden-state index 1..L-1 (None = middle, L // 2; negative ok)
    strength: float = 1.0  # multiples of the target-minus-others difference of means


@dataclass
class RunConfig:
    batch_size: int = 16
    max_length: int = 64  # tokens; longer sentences are truncated and counted
    seed: int = 0
    cache_dir: str | None = None  # default ~/.cache/langsteer or $LANGSTEER_CACHE
    progress: bool = True


@dataclass
class StudyConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    corpus: CorpusConfig = field(default_factory=CorpusConfig)
    experts: ExpertsConfig = field(default_factory=ExpertsConfig)
    intervention: InterventionConfig = field(default_factory=InterventionConfig)
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)
    analyses: AnalysesConfig = field(default_factory=AnalysesConfig)
    sweep: SweepConfig = field(default_factory=SweepConfig)
    steering: SteeringConfig = field(default_factory=SteeringConfig)
    run: RunConfig = field(default_factory=RunConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


_CHOICES = {
    ("experts", "units"): None,  # validated when resolved against the model
    ("experts", "pooling"): ("max", "mean", "last"),
    ("experts", "score"): ("auroc", "ap"),
    ("intervention", "mode"): ("set", "aura"),
    ("intervention", "positions"): ("all", "last"),
    ("evaluation", "pooling"): ("mean", "last"),
    ("evaluation", "direction"): ("forward", "both", "strict-both"),
    ("evaluation", "scoring"): ("cosine", "margin"),
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


def config_from_dict(data: dict[str, Any]) -> StudyConfig:
    """Build and validate a config; every error names the key and what is allowed."""
    study = StudyConfig()
    sections = {f.name: f for f in dataclasses.fields(StudyConfig)}
    for name, values in data.items():
        if name not in sections:
            raise ConfigError(f"unknown section [{name}]; sections are {sorted(sections)}")
        if not isinstance(values, dict):
            raise ConfigError(f"[{name}] must be a table of keys")
        section = getattr(study, name)
        fields = {f.name: f for f in dataclasses.fields(section)}
        for key, value in values.items():
            if key not in fields:
                raise ConfigError(
                    f"unknown key {name}.{key}; [{name}] accepts {sorted(fields)} "
                    "(see docs/config.md)"
                )
            annotation = str(fields[key].type)
            if value is None or (value == "" and "None" in annotation):
                value = None
            else:
                base = annotation.replace(" | None", "")
                value = _check_type(f"{name}.{key}", value, getattr(section, key), base)
            choices = _CHOICES.get((name, key))
            if choices and value is not None and value not in choices:
                raise ConfigError(f"{name}.{key} = {value!r} is not one of {list(choices)}")
            if (name, key) in _POSITIVE and value < 1:
                raise ConfigError(f"{name}.{key} must be at least 1, got {value}")
            setattr(section, key, value)
    for where, value in (
        ("experts.k", study.experts.k),
        ("experts.bottom_k", study.experts.bottom_k),
        ("corpus.n_expert", study.corpus.n_expert),
        ("corpus.n_center", study.corpus.n_center),
    ):
        if value < 0:
            raise ConfigError(f"{where} must be >= 0, got {value}")
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
    if isinstance(study.intervention.value, str) and study.intervention.value not in (
        "mean",
        "median",
        "zero",
    ):
        raise ConfigError(
            f"intervention.value = {study.intervention.value!r}: use mean, median, zero or a number"
        )
    _check_sweep(study.sweep)
    if not math.isfinite(study.steering.strength):
        raise ConfigError(f"steering.strength must be finite, got {study.steering.strength}")
    return study


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


def load_config(path: str | Path) -> StudyConfig:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"study file {path} does not exist")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from exc
    return config_from_dict(data)


def apply_overrides(config: StudyConfig, overrides: list[str]) -> StudyConfig:
    """Apply ``section.key=value`` strings (value in TOML syntax, bare words allowed)."""
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
