"""``langsteer sweep``: what forcing experts (and a steering vector) does to generation.

For each expert file and each k: the share of BOS-prompted samples a language identifier
assigns to the target, and the perplexity of held-out target sentences (paper Fig. 3). With
``--steering-vector`` a DiffMean vector fitted on a probing split of ``--corpus`` is measured
beside the experts. The probing and perplexity sentences are disjoint seeded splits, both
recorded. Every point is cached under ``--cache-dir``, so an interrupted sweep resumes.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from langsteer.cli.common import (
    add_out_flags,
    check_device,
    check_out_file,
    flag_languages,
    intervention_params,
    load_user_corpus,
    open_model,
    print_subsampling,
    read_expert_files,
    subsample,
)
from langsteer.cli.experts import CORPUS_HELP
from langsteer.cli.flags import (
    add_flag,
    config_data,
    corpus_check_flags,
    expert_file_flags,
    model_flags,
)

__all__ = ["add_parser", "cmd_sweep", "sweep_lines"]

_SWEEP_KEYS = (
    "ks",
    "n_samples",
    "seeds",
    "max_new_tokens",
    "temperature",
    "top_p",
    "batch_size",
    "ppl_stride",
    "prompt",
    "n_keep",
)


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "sweep",
        help="generation target-language rate and perplexity per k",
        description="Sample under each expert file at each k (and under a steering vector) "
        "and measure the target-language rate and the perplexity of held-out target text.",
    )
    model_flags(p)
    m = p.add_argument_group("methods")
    expert_file_flags(m, required=True, random_control=False)
    m.add_argument(
        "--steering-vector",
        action="store_true",
        help="also a steering vector per target, fitted on a probing split of --corpus",
    )
    add_flag(m, "steering.layer", "--steering-layer", help="hidden state the vector is added to")
    add_flag(m, "steering.strength", help="multiples of the steering vector added")
    d = p.add_argument_group("data")
    add_flag(
        d,
        "corpus.source",
        "--corpus",
        help=f"held-out target text for perplexity and the steering vector's probing split: "
        f"{CORPUS_HELP}",
        default=None,
        unlike_config="a sweep samples from a prompt: text is needed only for perplexity "
        "and the steering vector, so none is read unless given",
    )
    add_flag(d, "corpus.split", help="corpus split (FLORES: dev or devtest)")
    add_flag(d, "corpus.translations", help="Bible translations (one per language)")
    add_flag(d, "experts.negatives", help="other languages of the steering vector's probing")
    add_flag(d, "corpus.n_expert", "--n-probe", help="probing sentences per language")
    add_flag(d, "sweep.n_ppl", help="perplexity sentences per target (disjoint from probing)")
    add_flag(d, "corpus.seed", "--seed", help="seeds the probing / perplexity split")
    add_flag(d, "experts.skip_bos", help="leave BOS out of the steering vector's means")
    add_flag(d, "run.max_length", help="tokens per probing sentence")
    s = p.add_argument_group("sampling")
    add_flag(s, "sweep.ks", help="numbers of experts forced (0: no intervention)")
    add_flag(s, "sweep.n_samples", help="samples per seed (paper: 256)")
    add_flag(s, "sweep.seeds", help="sampling seeds (paper: 8)")
    add_flag(s, "sweep.max_new_tokens", help="tokens generated per sample")
    add_flag(s, "sweep.temperature", help="sampling temperature")
    add_flag(s, "sweep.top_p", help="nucleus sampling")
    add_flag(s, "sweep.prompt", help="prompt text (none: a BOS-only prompt, the paper's)")
    add_flag(s, "sweep.batch_size", help="samples (and sentences) per forward pass")
    add_flag(s, "sweep.ppl_stride", help="perplexity window stride (tokens)")
    add_flag(s, "sweep.langid_languages", help="language identifier candidates (none: all)")
    add_flag(s, "sweep.n_keep", help="sample texts kept per point in the output")
    add_out_flags(p, "sweep results (.json)")
    corpus_check_flags(p)
    p.set_defaults(func=cmd_sweep)
    return p


def sweep_config(args: argparse.Namespace) -> Any:
    from langsteer.config import config_from_dict

    data = config_data(args)
    methods: list[dict[str, Any]] = [{"name": "experts", "files": [str(f) for f in args.experts]}]
    if args.steering_vector:
        methods.append({"name": "steering-vector"})
    data["methods"] = [*methods, {"name": "none"}]
    data.setdefault("experts", {})["targets"] = ["eng"]  # replaced by the files' targets
    return config_from_dict(data)


def _splits(config: Any, targets: list[str], probed: list[str], steering: bool) -> tuple:
    """Disjoint seeded probing and perplexity sentences of ``--corpus`` (None without it)."""
    c = config.corpus
    if c.source is None:
        return None, None, None, []
    corpus = load_user_corpus(config, probed if steering else targets)
    sizes = {"probe": c.n_expert} if steering else {}
    sizes["perplexity"] = config.sweep.n_ppl
    parts, notes = subsample(
        corpus,
        sizes,
        seed=c.seed,
        flags={"probe": "--n-probe", "perplexity": "--n-ppl"},
        source=c.source,
    )
    record = {
        "corpus": corpus.describe(),
        "seed": c.seed,
        **{name: {"n": len(part), "ids": list(part.ids)} for name, part in parts.items()},
    }
    ppl = {t: parts["perplexity"].sentences(t) for t in targets}
    return parts.get("probe"), ppl, record, notes


def cmd_sweep(args: argparse.Namespace) -> int:
    out = Path(args.out)
    check_out_file(out, args.overwrite, "sweep.json")
    config = sweep_config(args)
    sets = read_expert_files(config)
    targets = list(sets)
    config.experts.targets = targets  # recorded in the output
    negatives = flag_languages(config.experts.negatives, "--negatives")
    probed = list(dict.fromkeys([*targets, *negatives]))
    steering = bool(args.steering_vector)
    if steering and config.corpus.source is None:
        raise ValueError("--steering-vector is fitted on a probing split of --corpus: give one")
    if steering and len(probed) < 2:
        raise ValueError(
            "--steering-vector is the target's mean minus the other languages' means: give "
            "--negatives (or expert files of two targets)"
        )
    check_device(config)
    probe_corpus, ppl, splits, notes = _splits(config, targets, probed, steering)
    print_subsampling(notes)
    loaded = open_model(config)
    for ex in sets.values():
        ex.check_compatible(loaded, allow_other_model=args.allow_other_model)
    fitted = _fit(loaded, config, sets, probe_corpus, probed, args)
    result = _measure(loaded, config, fitted, ppl)
    result.update(
        expert_files={t: ex.meta.get("path") for t, ex in sets.items()},
        fitted={t: {label: m.describe() for label, m in per.items()} for t, per in fitted.items()},
        splits=splits,
        subsampling=notes,
        model=loaded.describe(),
        config=config.to_dict(),
    )
    _write(out, result)
    print(sweep_lines(result))
    print(f"wrote {out}")
    return 0


def _fit(loaded: Any, config: Any, sets: dict, probe_corpus: Any, probed: list, args) -> dict:
    from langsteer.methods import METHODS, ProbeData, make_method
    from langsteer.methods.probe import Need
    from langsteer.models.embedded import cache_root

    params = intervention_params(config)
    fitted = {
        t: {
            "experts": METHODS["experts"].from_expert_set(
                ex, allow_other_model=args.allow_other_model, **params
            )
        }
        for t, ex in sets.items()
    }
    if probe_corpus is not None:
        r = config.run
        probe = ProbeData(
            loaded,
            probe_corpus,
            probed,
            skip_bos=config.experts.skip_bos,
            batch_size=config.sweep.batch_size,
            max_length=r.max_length,
            cache_dir=cache_root(r.cache_dir),
            progress=r.progress,
        )
        probe.prepare([Need(embeddings=True)])
        spec = next(m for m in config.methods if m.name == "steering-vector")
        for t in fitted:
            sv = make_method(spec.name, **config.method_params(spec))
            fitted[t][spec.label] = sv.fit(probe, t)
    return fitted


def _measure(loaded: Any, config: Any, fitted: dict, ppl: dict | None) -> dict[str, Any]:
    from langsteer.generation.sweep import method_sweep
    from langsteer.models.embedded import cache_root

    sw = config.sweep
    return method_sweep(
        loaded,
        fitted,
        ppl_texts=ppl,
        langid_languages=sw.langid_languages or None,
        cache_dir=cache_root(config.run.cache_dir),
        progress=config.run.progress,
        **{k: getattr(sw, k) for k in _SWEEP_KEYS},
    )


def _write(out: Path, result: dict[str, Any]) -> None:
    from langsteer import __version__
    from langsteer.io import atomic_write_json, strict_json

    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out, strict_json({**result, "langsteer": __version__}), allow_nan=False)


def _fmt(value: Any) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def sweep_lines(result: dict[str, Any]) -> str:
    """Per target, method and k: the target-language rate and the log-perplexity."""
    head = f"{'target':<10} {'method':<18} {'k':>6} {'target rate':>12} {'log ppl':>9}"
    lines = [head, "-" * len(head)]
    for target, per in result["targets"].items():
        for label, rows in per.items():
            for i, k in enumerate(rows["k"]):
                shown = "fitted" if k is None else k
                lines.append(
                    f"{target:<10} {label:<18} {shown:>6} {_fmt(rows['target_rate'][i]):>12} "
                    f"{_fmt(rows['log_ppl'][i]):>9}"
                )
    lines.append("k = 0: the unsteered model (same seeds); target rate by the language identifier")
    return "\n".join(lines)
