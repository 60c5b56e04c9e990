"""Find experts for several target languages from one pass over a parallel corpus.

Every sentence of every language involved is forwarded once; each target then only relabels
the same response matrix (positives = its sentences, negatives = the other languages'), which
is the main saving over the older tools that re-forward sentences per target.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from langsteer.corpora import Corpus
from langsteer.distributed import collect_responses_distributed
from langsteer.experts import ExpertFinder, ExpertSet
from langsteer.languages import normalize_language
from langsteer.models import LoadedModel, resolve_units
from langsteer.responses import Responses


def probing_set(corpus: Corpus, languages: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """All sentences of ``languages`` in one list, and the language index of each."""
    sentences: list[str] = []
    lang_of: list[int] = []
    for j, lang in enumerate(languages):
        texts = corpus.sentences(lang)
        sentences.extend(texts)
        lang_of.extend([j] * len(texts))
    return sentences, np.asarray(lang_of)


def find_experts(
    loaded: LoadedModel,
    corpus: Corpus,
    targets: Sequence[str],
    *,
    negatives: Sequence[str] | None = None,
    units: str = "mlp",
    pooling: str = "max",
    score: str = "auroc",
    k: int = 2000,
    bottom_k: int = 0,
    skip_bos: bool = True,
    batch_size: int = 16,
    max_length: int = 256,
    cache_dir: str | Path | None = None,
    progress: bool = True,
) -> tuple[dict[str, ExpertSet], Responses]:
    """Experts for each target; negatives default to the other targets (and extra languages).

    The languages probed are ``targets`` plus ``negatives``; for target t the positives are
    t's sentences and the negatives every other probed language's (the paper's ~1:5 setup).
    """
    targets = [normalize_language(t) for t in targets]
    extra = [normalize_language(x) for x in (negatives or [])]
    languages = list(dict.fromkeys([*targets, *extra]))
    missing = [lang for lang in languages if lang not in corpus.languages]
    if missing:
        raise ValueError(
            f"language(s) {missing} are not in the corpus; it has {sorted(corpus.languages)}"
        )
    if len(languages) < 2:
        raise ValueError(
            "expertise needs negatives: give at least one other language (CLI: --negatives; "
            "study file: experts.negatives, or a second language in experts.targets)"
        )
    unit_set = resolve_units(loaded.model, units)
    sentences, lang_of = probing_set(corpus, languages)
    responses = collect_responses_distributed(
        loaded,
        sentences,
        unit_set,
        pooling=pooling,
        skip_bos=skip_bos,
        batch_size=batch_size,
        max_length=max_length,
        cache_dir=cache_dir,
        progress=progress,
    )
    result = {}
    for t in targets:
        labels = lang_of == languages.index(t)
        # score on the model's accelerator when it has one (exact either way; CPU is the floor)
        device = loaded.device if loaded.device.type == "cuda" else None
        finder = ExpertFinder(
            score=score, k=k, bottom_k=bottom_k, pooling=pooling, unit_set=units, device=device
        )
        finder.fit(responses, labels)
        result[t] = finder.expert_set(
            target=t,
            negatives=[x for x in languages if x != t],
            corpus=corpus.describe(),
            probed_languages=languages,
        )
    return result, responses
