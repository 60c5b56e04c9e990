"""The ``langsteer`` command line."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from langsteer import __version__


def _model_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("model")
    g.add_argument(
        "--model",
        default="embedded",
        help="hub id or local path of a causal LM; 'embedded' = the packaged Gemma-3-270M "
        "(demo extra)",
    )
    g.add_argument("--gguf-file", default=None, help="GGUF file name inside --model (or a path)")
    g.add_argument("--revision", default=None)
    g.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, mps")
    g.add_argument("--dtype", default="auto", help="auto, float32, bfloat16, float16")
    g.add_argument("--device-map", default=None, help="passed to transformers, e.g. 'auto'")
    g.add_argument(
        "--allow-non-causal",
        action="store_true",
        help="accept a model without causal attention (e.g. a BERT-style encoder); the method "
        "assumes causal attention",
    )
    g.add_argument(
        "--cache-dir",
        default=None,
        help="langsteer cache (converted model, responses, embeddings); default "
        "~/.cache/langsteer or $LANGSTEER_CACHE",
    )


def _corpus_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("corpus checks")
    g.add_argument(
        "--language-check",
        default="error",
        choices=["error", "warn", "off"],
        help="a language identifier checks every corpus column against its label: error "
        "(refuse a column that plainly is another language; default), warn, or off "
        "(config: corpus.language_check)",
    )
    g.add_argument(
        "--allow-copyrighted",
        action="store_true",
        help="let the Bible corpus read copyrighted translations at run time "
        "(config: corpus.allow_copyrighted)",
    )
    g.add_argument(
        "--duplicates",
        default=None,
        choices=["error", "drop", "keep"],
        help="a sentence repeated within one language (default: the loader's, error for "
        "files; config: corpus.duplicates)",
    )
    g.add_argument(
        "--drop-empty",
        action="store_true",
        help="drop ids whose sentence is empty in any language instead of refusing them "
        "(config: corpus.drop_empty)",
    )


def _corpus_kwargs(args) -> dict:
    kw = {
        "language_check": args.language_check,
        "allow_copyrighted": args.allow_copyrighted,
        "drop_empty": args.drop_empty,
    }
    if args.duplicates is not None:
        kw["duplicates"] = args.duplicates
    return kw


def _load(args):
    from langsteer.models.embedded import EMBEDDED_ALIASES, load_embedded
    from langsteer.models import load_model

    if args.model in EMBEDDED_ALIASES:
        return load_embedded(device=args.device, dtype=args.dtype, root=args.cache_dir)
    return load_model(
        args.model,
        gguf_file=args.gguf_file,
        revision=args.revision,
        device=args.device,
        dtype=args.dtype,
        device_map=args.device_map,
        allow_non_causal=args.allow_non_causal,
        memo_dir=args.cache_dir,
    )


def _blocking_file(path: Path) -> Path | None:
    """The first existing ancestor of ``path`` that is a file (so no folder can be made)."""
    for parent in path.parents:
        if parent.exists():
            return None if parent.is_dir() else parent
    return None


def _check_out_folder(out: str) -> None:
    """Refuse an ``--out`` folder that cannot be created, before any model load."""
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise ValueError(
            f"--out {out} is an existing file, but this command writes a folder there; give a "
            "folder path (it is created if missing)"
        )
    blocker = _blocking_file(path)
    if blocker is not None:
        raise ValueError(f"--out {out}: {blocker} is a file, so the folder cannot be created")


def _check_out_file(out: str | Path, example: str) -> None:
    """Refuse an ``--out`` file path that is a folder or lies under a file."""
    path = Path(out)
    if path.is_dir():
        raise ValueError(
            f"--out {out} is an existing folder, but this command writes one file; give a file "
            f"name, e.g. {path / example}"
        )
    blocker = _blocking_file(path)
    if blocker is not None:
        raise ValueError(f"--out {out}: {blocker} is a file, so {path.name} cannot be written")


def _experts_out(out: Path, targets: list[str]) -> dict[str, Path]:
    """Where ``langsteer experts`` writes each target's file (one target: ``out`` itself)."""
    if len(targets) == 1:
        return {targets[0]: out}
    return {t: out.with_name(f"{out.stem}.{t}{out.suffix}") for t in targets}


def _corpus(args, languages):
    from langsteer.corpora import load_corpus, split

    corpus = load_corpus(args.corpus, split=args.split, languages=languages, **_corpus_kwargs(args))
    if args.n_sentences and args.n_sentences < len(corpus):
        corpus = split(corpus, {"probe": args.n_sentences}, seed=args.seed)["probe"]
    return corpus


def cmd_experts(args) -> int:
    from langsteer.methods.experts import MIN_SENTENCES_PER_CLASS
    from langsteer.methods.experts import find_experts
    from langsteer.languages import normalize_language
    from langsteer.report.text import expert_summary_table

    if args.k < 1:
        raise ValueError(f"--k {args.k}: the number of experts must be at least 1")
    if args.bottom_k < 0:
        raise ValueError(f"--bottom-k {args.bottom_k} must be >= 0")
    if args.n_sentences is not None and args.n_sentences < MIN_SENTENCES_PER_CLASS:
        raise ValueError(
            f"--n-sentences {args.n_sentences}: finding experts needs at least "
            f"{MIN_SENTENCES_PER_CLASS} sentences per language (20 or more for reliable experts)"
        )
    targets = list(dict.fromkeys(normalize_language(t) for t in args.target))
    for path in _experts_out(Path(args.out), targets).values():
        _check_out_file(path, "experts.safetensors")
    loaded = _load(args)
    corpus = _corpus(args, [*args.target, *(args.negatives or [])])
    experts, responses = find_experts(
        loaded,
        corpus,
        args.target,
        negatives=args.negatives,
        units=args.units,
        pooling=args.pooling,
        score=args.score,
        k=args.k,
        bottom_k=args.bottom_k,
        skip_bos=not args.keep_bos,
        batch_size=args.batch_size,
        max_length=args.max_length,
        cache_dir=args.cache_dir,
    )
    out = Path(args.out)
    paths = _experts_out(out, list(experts))
    for lang, ex in experts.items():
        path = paths[lang]
        path.parent.mkdir(parents=True, exist_ok=True)
        ex.save(path)
        print(expert_summary_table(ex, responses.meta))
        print(f"wrote {path}")
    return 0


def _finish_study(results: dict, out: Path, metrics_name: str = "results.json") -> None:
    from langsteer.report.build import write_report
    from langsteer.report.text import study_summary_table

    written = write_report(results, out)
    print(study_summary_table(results))
    print(f"wrote {out / metrics_name}, " + ", ".join(str(p) for p in written.values()))


def cmd_run(args) -> int:
    from langsteer.config import apply_overrides, load_config
    from langsteer.study.pipeline import run_study

    config = apply_overrides(load_config(args.study), args.set or [])
    _check_out_folder(args.out)
    results = run_study(config, args.out)
    _finish_study(results, Path(args.out))
    return 0


def cmd_demo(args) -> int:
    from langsteer.config import DEMO_STUDY, apply_overrides, load_config
    from langsteer.study.pipeline import run_study

    config = apply_overrides(load_config(DEMO_STUDY), args.set or [])
    if args.cache_dir:
        config.run.cache_dir = args.cache_dir
    _check_out_folder(args.out)
    print(f"langsteer demo: study {DEMO_STUDY} (override keys with --set section.key=value)")
    results = run_study(config, args.out)
    _finish_study(results, Path(args.out))
    return 0


def cmd_evaluate(args) -> int:
    from langsteer.config import config_from_dict
    from langsteer.methods.experts import ExpertSet
    from langsteer.study.pipeline import run_study

    _check_out_folder(args.out)
    files = {}
    for f in args.experts:  # cheap checks of the files before any model load
        ex = ExpertSet.load(f)
        if ex.target in files:
            raise ValueError(
                f"expert files {files[ex.target]} and {f} both target {ex.target}: give one "
                "expert file per target language to --experts"
            )
        if len(ex) == 0:
            raise ValueError(
                f"expert file {f} holds no experts (k = 0): find experts with --k 1 or more"
            )
        if args.mode == "aura" and ex.meta.get("score") != "auroc":
            raise ValueError(
                f"--mode aura dampens by AUROC but expert file {f} was scored by "
                f"{ex.meta.get('score')!r}: find experts with --score auroc or use --mode set"
            )
        files[ex.target] = f
    targets = list(files) or args.languages[:1]
    config = config_from_dict(
        {
            "model": {
                "id": args.model,
                "gguf_file": args.gguf_file,
                "revision": args.revision,
                "device": args.device,
                "dtype": args.dtype,
                "device_map": args.device_map,
                "allow_non_causal": args.allow_non_causal,
            },
            "corpus": {
                "source": args.corpus,
                "split": args.split,
                "n_expert": 0,
                "n_eval": args.n_sentences,
                "n_center": args.n_center,
                "seed": args.seed,
                **_corpus_kwargs(args),
            },
            "experts": {"targets": targets},
            "intervention": {"value": _number_or_name(args.value), "mode": args.mode},
            "evaluation": {
                "languages": args.languages,
                "layer": args.layer,
                "direction": args.direction,
                "scoring": args.scoring,
                "paraphrase": [],
            },
            "analyses": {"random_control": args.random_control, "paraphrase": False},
            "run": {
                "cache_dir": args.cache_dir,
                "batch_size": args.batch_size,
                "max_length": args.max_length,
            },
        }
    )
    out = Path(args.out)
    results = run_study(
        config, out, expert_files=args.experts, allow_other_model=args.allow_other_model
    )
    (out / "results.json").replace(out / "metrics.json")
    _finish_study(results, out, "metrics.json")
    return 0


def cmd_sweep(args) -> int:
    from langsteer.methods.experts import ExpertSet
    from langsteer.io import atomic_write_json, strict_json
    from langsteer.report.text import sweep_table
    from langsteer.generation.sweep import steering_sweep

    _check_out_file(args.out, "sweep.json")
    _number_or_name(args.value)  # a bad --value fails before the model loads
    loaded = _load(args)
    experts = {}
    for path in args.experts:
        ex = ExpertSet.load(path)
        ex.check_compatible(loaded, allow_other_model=args.allow_other_model)
        experts[ex.target] = ex
    ppl_texts = None
    if args.corpus:
        corpus = _corpus(args, list(experts))
        ppl_texts = {t: corpus.sentences(t) for t in experts}
    out = steering_sweep(
        loaded,
        experts,
        args.ks,
        ppl_texts=ppl_texts,
        n_samples=args.n_samples,
        seeds=args.seeds,
        max_new_tokens=args.max_new_tokens,
        temperature=args.temperature,
        top_p=args.top_p,
        value=_number_or_name(args.value),
        mode=args.mode,
        batch_size=args.batch_size,
    )
    path = Path(args.out)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, strict_json(out), allow_nan=False)
    print(sweep_table(out["targets"]))
    print(f"wrote {path}")
    return 0


def _number_or_name(value: str):
    import math

    try:
        number = float(value)
    except ValueError:
        return value
    if not math.isfinite(number):
        raise ValueError(f"--value {value}: use mean, median, zero or a finite number")
    return number


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="langsteer",
        description="Find language-expert neurons, intervene on them, measure the embedding space.",
    )
    parser.add_argument("--version", action="version", version=f"langsteer {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("experts", help="find the expert units of target language(s)")
    _model_args(p)
    p.add_argument(
        "--corpus",
        required=True,
        help="'bible', 'bible:KJV,LSG', a FLORES dir, a dir of <lang>.txt files, or a pair file",
    )
    p.add_argument("--split", default=None, help="corpus split (FLORES: dev or devtest)")
    p.add_argument("--target", nargs="+", required=True, help="target language code(s)")
    p.add_argument("--negatives", nargs="*", default=None, help="extra negative languages")
    p.add_argument("--n-sentences", type=int, default=None, help="use a seeded subset")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--units", default="mlp", help="mlp, mlp-act, linear or re:<regex>")
    p.add_argument("--pooling", default="max", choices=["max", "mean", "last"])
    p.add_argument("--keep-bos", action="store_true", help="pool the BOS position too")
    p.add_argument("--score", default="auroc", choices=["auroc", "ap"])
    p.add_argument("--k", type=int, default=2000)
    p.add_argument("--bottom-k", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--max-length", type=int, default=256)
    p.add_argument("--out", required=True, help="expert file (.safetensors)")
    _corpus_options(p)
    p.set_defaults(func=cmd_experts)

    p = sub.add_parser("run", help="run a whole study described by a TOML file")
    p.add_argument("study", help="study file (see docs/config.md)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument(
        "--set",
        action="append",
        metavar="SECTION.KEY=VALUE",
        help="override one config value (TOML syntax), repeatable",
    )
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("demo", help="the packaged study on Gemma-3-270M and Bible verses")
    p.add_argument("--out", default="runs/demo", help="output folder")
    p.add_argument("--cache-dir", default=None)
    p.add_argument(
        "--set",
        action="append",
        metavar="SECTION.KEY=VALUE",
        help="override one config value (TOML syntax), repeatable",
    )
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("sweep", help="generation target-language rate and perplexity per k")
    _model_args(p)
    p.add_argument("--experts", nargs="+", required=True, help="expert file(s), one per target")
    p.add_argument("--allow-other-model", action="store_true")
    p.add_argument("--ks", nargs="+", type=int, default=[0, 100, 300, 1000])
    p.add_argument("--corpus", default=None, help="held-out target text for perplexity")
    p.add_argument("--split", default=None)
    p.add_argument("--n-sentences", type=int, default=50, help="perplexity sentences per target")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--n-samples", type=int, default=16, help="samples per seed (paper: 256)")
    p.add_argument("--seeds", nargs="+", type=int, default=[0], help="paper: 8 seeds")
    p.add_argument("--max-new-tokens", type=int, default=32)
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--top-p", type=float, default=0.9)
    p.add_argument("--value", default="mean")
    p.add_argument("--mode", default="set", choices=["set", "aura"])
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--out", required=True, help="sweep results (.json)")
    _corpus_options(p)
    p.set_defaults(func=cmd_sweep)

    p = sub.add_parser("evaluate", help="embedding geometry and retrieval, with or without experts")
    _model_args(p)
    p.add_argument("--experts", nargs="*", default=[], help="expert file(s) to apply")
    p.add_argument(
        "--allow-other-model",
        action="store_true",
        help="apply expert files made for another model id of the same architecture",
    )
    p.add_argument("--corpus", required=True, help="as for `langsteer experts`")
    p.add_argument("--split", default=None)
    p.add_argument("--languages", nargs="+", required=True)
    p.add_argument("--n-sentences", type=int, default=200, help="seeded subset per language")
    p.add_argument(
        "--n-center",
        type=int,
        default=40,
        help="held-out sentences per language for the centring controls (0: none)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--layer", type=int, default=-1, help="hidden-state index of the headline")
    p.add_argument("--direction", default="forward", choices=["forward", "both", "strict-both"])
    p.add_argument("--scoring", default="cosine", choices=["cosine", "margin"])
    p.add_argument("--value", default="mean", help="mean, median, zero or a number")
    p.add_argument("--mode", default="set", choices=["set", "aura"])
    p.add_argument("--random-control", action="store_true")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--max-length", type=int, default=128)
    p.add_argument("--out", required=True)
    _corpus_options(p)
    p.set_defaults(func=cmd_evaluate)
    return parser


def _exit_on_sigterm(signum, frame) -> None:
    # turn SIGTERM into an exception so that temp files are removed as on Ctrl-C
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print(
            "interrupted: finished files are kept, unfinished ones were discarded", file=sys.stderr
        )
        return 130
    except (ValueError, FileNotFoundError, ImportError, FloatingPointError) as exc:
        print(f"langsteer: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
