"""What a model method does to generation: target-language rate and perplexity (paper Fig. 3).

For each target and each fitted model method: sample from a BOS-only prompt with the method
attached and ask a language identifier what came out; score the perplexity of held-out target
text under it. Methods with a number of units ``k`` (experts, random units, LAPE) are swept over
``ks`` from the same ranking (no refit); ``k = 0`` is the unsteered model, sampled once and
re-identified for every target (same seeds, hence exactly what a run without intervention
gives). Every (method state, options) point is cached on disk as JSON, so an interrupted sweep
resumes where it stopped and a re-run recomputes nothing.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from langsteer.config import SweepConfig
from langsteer.encoding.cache import cache_key
from langsteer.evaluation.perplexity import check_window, default_context, perplexity
from langsteer.generation.langid import identifier_info, language_rates
from langsteer.generation.sampling import check_sampling_options, generate_samples
from langsteer.io import atomic_write_json
from langsteer.languages import langid_supported, normalize_language
from langsteer.models import LoadedModel

__all__ = ["method_sweep", "study_generation"]

_ROW_KEYS = ("k", "target_rate", "distribution", "log_ppl", "ppl", "n_ppl_tokens", "seconds")


def _cached(cache_dir: Path | None, kind: str, key: dict[str, Any], compute) -> Any:
    """``compute()``, or its JSON cached under ``<cache>/<kind>/<hash of key>.json``."""
    path = None if cache_dir is None else cache_dir / kind / f"{cache_key(key)}.json"
    if path is not None and path.exists():
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            pass  # an unreadable entry is computed again
    value = compute()
    if path is not None:
        atomic_write_json(path, value)
    return value


def _point(
    loaded: LoadedModel,
    method: Any,
    gen: dict[str, Any],
    ppl_texts: list[str] | None,
    ppl_opts: dict[str, Any],
    cache_dir: Path | None,
) -> dict[str, Any]:
    """Samples and perplexity under ``method`` (None: the unsteered model), each cached (the
    unsteered samples are shared by every target)."""
    state = {"model": loaded.describe(), "method": None if method is None else method.describe()}

    def run(fn):
        handle = None if method is None else method.attach(loaded)
        try:
            return fn()
        finally:
            if handle is not None:
                handle.remove()

    def sample() -> dict[str, Any]:
        t0 = time.perf_counter()
        texts = run(lambda: [s["text"] for s in generate_samples(loaded, **gen)])
        return {"texts": texts, "seconds": time.perf_counter() - t0}

    samples = _cached(cache_dir, "generations", {**state, "gen": gen}, sample)
    ppl = None
    if ppl_texts:
        key = {**state, "ppl": ppl_opts, "texts": ppl_texts}
        ppl = _cached(
            cache_dir,
            "perplexities",
            key,
            lambda: run(lambda: perplexity(loaded, ppl_texts, **ppl_opts)),
        )
    return {"texts": samples["texts"], "ppl": ppl, "seconds": samples["seconds"]}


def method_sweep(
    loaded: LoadedModel,
    methods: Mapping[str, Mapping[str, Any]],
    *,
    ks: Sequence[int] = SweepConfig().ks,
    ppl_texts: Mapping[str, list[str]] | None = None,
    n_samples: int = SweepConfig.n_samples,
    seeds: Sequence[int] = (0,),
    max_new_tokens: int = SweepConfig.max_new_tokens,
    temperature: float = SweepConfig.temperature,
    top_p: float = SweepConfig.top_p,
    batch_size: int = SweepConfig.batch_size,
    ppl_stride: int = SweepConfig.ppl_stride,
    ppl_context: int | None = None,
    prompt: str | None = None,
    langid_languages: Sequence[str] | None = None,
    n_keep: int = SweepConfig.n_keep,
    cache_dir: str | Path | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Generation measures of fitted model methods: ``methods = {target: {label: method}}``.

    Returns ``{"targets": {target: {label: {"k", "target_rate", "distribution", "log_ppl",
    "ppl", "n_ppl_tokens", "seconds": [...], "samples": {k: [texts]}}}}, "options",
    "identifier"}``; list entries follow ``k`` (methods without ``k`` have one entry, ``k`` =
    None, plus the unsteered ``k = 0``).
    """
    seeds = check_sampling_options(
        n_samples=n_samples,
        seeds=seeds,
        temperature=temperature,
        top_p=top_p,
        max_new_tokens=max_new_tokens,
        batch_size=batch_size,
    )
    targets = {normalize_language(t): v for t, v in methods.items()}
    unsupported = [t for t in targets if not langid_supported(t)]
    if unsupported:
        raise ValueError(f"py3langid cannot identify {unsupported}: their target rate would be 0")
    texts = (
        None
        if ppl_texts is None
        else {normalize_language(t): list(v) for t, v in ppl_texts.items()}
    )
    missing = [t for t in targets if texts is not None and not texts.get(t)]
    if missing:
        raise ValueError(f"no perplexity texts for {missing}")
    langs = None
    if langid_languages:
        langs = list(dict.fromkeys([*map(normalize_language, langid_languages), *targets]))
    identifier = identifier_info(langs)
    context = default_context(loaded) if ppl_context is None else ppl_context
    check_window(context, ppl_stride)
    gen = {
        "prompt": prompt,
        "n_samples": n_samples,
        "seeds": seeds,
        "temperature": temperature,
        "top_p": top_p,
        "max_new_tokens": max_new_tokens,
        "batch_size": batch_size,
    }
    ppl_opts = {"context": context, "stride": ppl_stride, "batch_size": batch_size}
    cache = None if cache_dir is None else Path(cache_dir)
    n_points = sum(len(_ks(m, ks)) for per in targets.values() for m in per.values())
    bar = tqdm(total=n_points, desc="generation", unit="point", disable=not progress)
    results: dict[str, dict[str, Any]] = {}
    for target, per in targets.items():
        results[target] = {}
        for label, method in per.items():
            rows: dict[str, list] = {k: [] for k in _ROW_KEYS}
            samples: dict[str, list[str]] = {}
            for k in _ks(method, ks):
                state = None if k == 0 else (method if k is None else method.with_k(k))
                p = _point(loaded, state, gen, texts[target] if texts else None, ppl_opts, cache)
                rates = language_rates(p["texts"], target, languages=langs)
                ppl = p["ppl"] or {}
                for name, value in (
                    ("k", k),
                    ("target_rate", rates["target_rate"]),
                    ("distribution", rates["distribution"]),
                    ("log_ppl", ppl.get("log_ppl")),
                    ("ppl", ppl.get("ppl")),
                    ("n_ppl_tokens", ppl.get("n_tokens")),
                    ("seconds", p["seconds"]),
                ):
                    rows[name].append(value)
                samples["fitted" if k is None else str(k)] = p["texts"][:n_keep]
                bar.update(1)
            results[target][label] = {**rows, "samples": samples}
    bar.close()
    options = {
        **gen,
        "ks": list(ks),
        "perplexity": {**ppl_opts, "skipped": texts is None},
        "langid_languages": langs,
        "n_keep": n_keep,
    }
    return {"targets": results, "options": options, "identifier": identifier}


def _ks(method: Any, ks: Sequence[int]) -> list[int | None]:
    """The points of one method: 0 (unsteered) and each k, or 0 and the method as fitted."""
    if hasattr(method, "with_k"):
        return [0, *[k for k in ks if k != 0]]
    return [0, None]


def study_generation(
    loaded: LoadedModel,
    fitted: Mapping[str, Mapping[str, Any]],
    data: Any,
    sentences: Any,
    config: Any,
    *,
    cache_dir: str | Path | None,
) -> dict[str, Any]:
    """The study's generation sweep: perplexity on held-out target sentences of the evaluated
    split (``sweep.n_ppl`` each)."""
    sw = config.sweep
    ppl = {t: data.corpora["eval"].sentences(t)[: sw.n_ppl] for t in fitted}
    return method_sweep(
        loaded,
        fitted,
        ks=sw.ks,
        ppl_texts=ppl,
        n_samples=sw.n_samples,
        seeds=sw.seeds,
        max_new_tokens=sw.max_new_tokens,
        temperature=sw.temperature,
        top_p=sw.top_p,
        batch_size=sw.batch_size,
        ppl_stride=sw.ppl_stride,
        prompt=sw.prompt,
        langid_languages=sw.langid_languages or None,
        n_keep=sw.n_keep,
        cache_dir=cache_dir,
        progress=config.run.progress,
    )
