"""The sections of a study file as dataclasses: every default of langsteer is declared here once.

Library functions, the CLI flags and the study file all take their defaults from these classes.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "AnalysesConfig",
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
]


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
    n_eval: int | None = 100  # sentences per language evaluated (None: all the rest)
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
    score: str = "auroc"  # auroc, ap, lape
    k: int = 500  # experts used by the main analyses
    bottom_k: int = 0


@dataclass
class InterventionConfig:
    value: str | float = "token-mean"  # token-mean, mean (paper: pooled), median, zero, number
    mode: str = "set"  # set, aura, add, multiply
    scale: float = 1.0
    positions: str = "all"  # all, last
    random_seed: int = 0  # seed of the random-unit control


@dataclass
class EvaluationConfig:
    languages: list[str] = field(
        default_factory=lambda: ["eng", "deu", "fra", "spa", "por", "ita", "rus", "vie"]
    )
    layer: int = -1  # hidden-state index of the paper's analyses (-1 = last)
    select_layer: str = "heldout"  # leaderboard layers: chosen on the held-out split, or fixed
    layers: list[int] = field(default_factory=list)  # hidden states scored ([] = all)
    medoid: str = "point"  # Table 1's medoid: a sentence embedding, or centroid-language
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
    prompt: str | None = None  # None: a BOS-only prompt (the paper)


@dataclass
class SteeringConfig:
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
class MethodSpec:
    """One ``[[methods]]`` entry: registry ``name``, unique ``label``, the parameters the entry
    ``given`` (a list value = candidates chosen on the held-out split), expert ``files`` and
    ``kind``. :meth:`StudyConfig.method_params` resolves the rest from the sections."""

    name: str
    label: str
    given: dict[str, Any] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    kind: str = "model"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "label": self.label, **self.given}
        if self.files:
            out["files"] = list(self.files)
        return out


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
    methods: list[MethodSpec] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.methods:  # the default comparison (built lazily: it needs the registry)
            from langsteer.config.methods import DEFAULT_METHODS, build_methods

            self.methods = build_methods(self, [dict(m) for m in DEFAULT_METHODS])

    def method_params(self, spec: MethodSpec) -> dict[str, Any]:
        """Every parameter of ``spec``'s method: given, else the section default, else the
        method's own default (resolved now, so later changes of a section key count)."""
        from langsteer.config.methods import resolve_params

        return resolve_params(self, spec)

    def to_dict(self) -> dict[str, Any]:
        out = {
            f.name: dataclasses.asdict(getattr(self, f.name))
            for f in dataclasses.fields(self)
            if f.name != "methods"
        }
        out["methods"] = [m.to_dict() for m in self.methods]
        return out
