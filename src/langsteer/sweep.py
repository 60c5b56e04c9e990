"""Sweep the number of experts k: target-language rate of generations vs. perplexity.

The paper picks k on this trade-off (step 6): more experts give more target-language text and
a higher perplexity. For each target and each k the top-k experts (same ranking, no refit) are
forced while sampling from a BOS-only prompt and while scoring the target's perplexity texts.
``k = 0`` is the unsteered model; its generations do not depend on the target, so they are
sampled once and re-identified for every target (same seeds, hence exactly what a separate run
without intervention gives), and its perplexities are computed once per distinct text list.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
from tqdm.auto import tqdm

from langsteer.evaluation.perplexity import check_window, default_context, perplexity
from langsteer.experts import ExpertSet
from langsteer.generation import check_sampling_options, generate_samples
from langsteer.interventions import MODES, VALUE_MODES, intervene
from langsteer.langid import identifier_info, language_rates
from langsteer.languages import langid_supported, normalize_language
from langsteer.models import LoadedModel
from langsteer.steering import SteeringVector

__all__ = ["steering_sweep"]


def _check_ks(ks: Sequence[int], experts_by_target: dict[str, ExpertSet]) -> list[int]:
    if isinstance(ks, (int, np.integer)):
        ks = [ks]
    ks = list(ks)
    if not ks:
        raise ValueError("ks is empty: give the numbers of experts to try (0 = no intervention)")
    if any(not isinstance(k, (int, np.integer)) or k < 0 for k in ks):
        raise ValueError(f"ks must be non-negative integers, got {ks}")
    if len(set(ks)) != len(ks):
        raise ValueError(f"ks {ks} contain duplicates")
    for target, ex in experts_by_target.items():
        if max(ks) + ex.bottom_k > ex.units.n_units:
            raise ValueError(
                f"k={max(ks)} (+ bottom_k={ex.bottom_k}) exceeds the {ex.units.n_units} units "
                f"ranked for {target}"
            )
    return [int(k) for k in ks]


def _normalize_targets(
    experts_by_target: dict[str, ExpertSet], ppl_texts: dict[str, list[str]] | None
) -> tuple[dict[str, ExpertSet], dict[str, list[str]] | None]:
    if not experts_by_target:
        raise ValueError("experts_by_target is empty")
    experts = {normalize_language(t): ex for t, ex in experts_by_target.items()}
    if len(experts) != len(experts_by_target):
        raise ValueError(f"targets {list(experts_by_target)} name one language twice")
    if ppl_texts is None:
        return experts, None
    texts = {normalize_language(t): list(v) for t, v in ppl_texts.items()}
    missing = [t for t in experts if t not in texts]
    if missing:
        raise ValueError(
            f"no perplexity texts for {missing}; give ppl_texts for every target "
            "(or ppl_texts=None to skip perplexity)"
        )
    return experts, texts


def steering_sweep(
    loaded: LoadedModel,
    experts_by_target: dict[str, ExpertSet],
    ks: Sequence[int],
    *,
    ppl_texts: dict[str, list[str]] | None,
    n_samples: int = 16,
    seeds: Sequence[int] = (0,),
    max_new_tokens: int = 32,
    temperature: float = 1.0,
    top_p: float = 0.9,
    value: str | float = "mean",
    mode: str = "set",
    scale: float = 1.0,
    batch_size: int = 8,
    ppl_context: int | None = None,
    ppl_stride: int = 512,
    langid_languages: Sequence[str] | None = None,
    n_keep: int = 5,
    allow_other_model: bool = False,
    progress: bool = True,
    steering_vectors: dict[str, SteeringVector] | None = None,
) -> dict:
    """Per target and k: target rate, language distribution, perplexity, a few samples.

    Returns ``{"targets": {target: {"k", "target_rate", "distribution", "log_ppl", "ppl",
    "n_ppl_tokens", "mean_score", "seconds", "samples": {k: [first n_keep texts]}}}, "options",
    "model", "identifier"}``; list entries follow ``ks``. ``ppl_texts=None`` skips perplexity
    (None entries). ``langid_languages`` restricts the identifier's candidates (None = all).
    ``steering_vectors`` (fitted, by target) adds ``targets[t]["steering_vector"]``: the same
    generation and perplexity measured under the vector instead of the experts (``target_rate``,
    ``distribution``, ``log_ppl``, ``ppl``, ``n_ppl_tokens``, ``layer``, ``strength``, ``norm``,
    ``seconds``, ``samples``).
    """
    seeds = check_sampling_options(
        n_samples=n_samples,
        seeds=seeds,
        temperature=temperature,
        top_p=top_p,
        max_new_tokens=max_new_tokens,
        batch_size=batch_size,
    )
    if mode not in MODES:
        raise ValueError(f"unknown intervention mode {mode!r}; choose one of {MODES}")
    if isinstance(value, str) and value not in VALUE_MODES:
        raise ValueError(f"unknown value {value!r}; choose one of {VALUE_MODES} or a number")
    if not isinstance(n_keep, int) or n_keep < 0:
        raise ValueError(f"n_keep must be a non-negative integer, got {n_keep!r}")
    experts, texts = _normalize_targets(experts_by_target, ppl_texts)
    ks = _check_ks(ks, experts)
    langs = None  # the targets are always candidates
    if langid_languages is not None:
        langs = list(dict.fromkeys([*map(normalize_language, langid_languages), *experts]))
    identifier = identifier_info(langs)  # validates the candidates, needs py3langid
    context = default_context(loaded) if ppl_context is None else ppl_context
    gen_opts = dict(
        n_samples=n_samples,
        seeds=seeds,
        temperature=temperature,
        top_p=top_p,
        max_new_tokens=max_new_tokens,
        batch_size=batch_size,
    )
    ppl_opts = dict(context=context, stride=ppl_stride, batch_size=batch_size)
    if texts is not None:  # fail on bad perplexity options before any sampling
        for target, t in texts.items():
            if not t or any(not isinstance(x, str) or not x.strip() for x in t):
                raise ValueError(f"ppl_texts[{target!r}] is empty or holds empty texts")
        check_window(context, ppl_stride)
    unsupported = [t for t in experts if not langid_supported(t)]
    if unsupported:
        raise ValueError(f"py3langid cannot identify {unsupported}: their target rate would be 0")
    for ex in experts.values():
        ex.check_compatible(loaded, allow_other_model=allow_other_model)
    vectors = {normalize_language(t): v for t, v in (steering_vectors or {}).items()}
    stray = [t for t in vectors if t not in experts]
    if stray:
        raise ValueError(f"steering vectors for {stray}, which are not sweep targets")

    baseline_texts: list[str] | None = None
    baseline_ppl: dict[tuple[str, ...], dict] = {}
    results: dict[str, dict] = {}
    bar = tqdm(total=len(experts) * len(ks), desc="sweep", unit="k", disable=not progress)
    for target, ex in experts.items():
        rows: dict[str, list] = {
            name: []
            for name in (
                "k",
                "target_rate",
                "distribution",
                "log_ppl",
                "ppl",
                "n_ppl_tokens",
                "mean_score",
                "seconds",
            )
        }
        samples: dict[int, list[str]] = {}
        for k in ks:
            t0 = time.perf_counter()
            ppl = None
            if k == 0:
                if baseline_texts is None:
                    baseline_texts = [s["text"] for s in generate_samples(loaded, **gen_opts)]
                gen = baseline_texts
                if texts is not None:
                    key = tuple(texts[target])
                    if key not in baseline_ppl:
                        baseline_ppl[key] = perplexity(loaded, texts[target], **ppl_opts)
                    ppl = baseline_ppl[key]
            else:
                with intervene(
                    loaded, ex.with_k(k), value=value, mode=mode, scale=scale, check=False
                ):
                    gen = [s["text"] for s in generate_samples(loaded, **gen_opts)]
                    if texts is not None:
                        ppl = perplexity(loaded, texts[target], **ppl_opts)
            rates = language_rates(gen, target, languages=langs)
            rows["k"].append(k)
            rows["target_rate"].append(rates["target_rate"])
            rows["distribution"].append(rates["distribution"])
            rows["log_ppl"].append(None if ppl is None else ppl["log_ppl"])
            rows["ppl"].append(None if ppl is None else ppl["ppl"])
            rows["n_ppl_tokens"].append(None if ppl is None else ppl["n_tokens"])
            rows["mean_score"].append(ex.with_k(k).summary()["mean_score"] if k else None)
            rows["seconds"].append(time.perf_counter() - t0)
            samples[k] = gen[:n_keep]
            bar.update(1)
        results[target] = {**rows, "samples": samples}
        if target in vectors:
            t0 = time.perf_counter()
            with vectors[target].apply(loaded) as h:
                gen = [s["text"] for s in generate_samples(loaded, **gen_opts)]
                ppl = perplexity(loaded, texts[target], **ppl_opts) if texts is not None else None
                described = h.describe()
            rates = language_rates(gen, target, languages=langs)
            results[target]["steering_vector"] = {
                "target_rate": rates["target_rate"],
                "distribution": rates["distribution"],
                "log_ppl": None if ppl is None else ppl["log_ppl"],
                "ppl": None if ppl is None else ppl["ppl"],
                "n_ppl_tokens": None if ppl is None else ppl["n_tokens"],
                **{k: described[k] for k in ("layer", "strength", "norm")},
                "seconds": time.perf_counter() - t0,
                "samples": gen[:n_keep],
            }
    bar.close()
    intervention = {
        "value": value,
        "mode": mode,
        "scale": float(scale),
        "positions": "all",
        "bottom_k": {t: e.bottom_k for t, e in experts.items()},
    }
    n_texts = None if texts is None else {t: len(v) for t, v in texts.items()}
    return {
        "targets": results,
        "options": {
            "ks": ks,
            **gen_opts,
            "prompt": None,
            "intervention": intervention,
            "perplexity": {
                **ppl_opts,
                "skipped": texts is None,
                "per_text": True,
                "n_texts": n_texts,
            },
            "langid_languages": langs,
            "n_keep": n_keep,
        },
        "model": loaded.describe(),
        "identifier": identifier,
    }
