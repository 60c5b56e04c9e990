"""``langsteer run``, ``demo`` and ``evaluate``: a study, written as one staged set of outputs.

All three end in :func:`langsteer.study.pipeline.run_study`, which reads and checks every corpus
and expert file before it loads the model and writes results.json, the fitted expert files and
the report into ``--out`` in one step. ``evaluate`` is a study whose model methods come from
expert files (no probing split) beside the embedding-space baselines.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from langsteer.cli.common import (
    add_out_flags,
    check_device,
    check_out_folder,
    read_expert_files,
)
from langsteer.cli.experts import CORPUS_HELP
from langsteer.cli.flags import (
    add_flag,
    config_data,
    corpus_check_flags,
    expert_file_flags,
    model_flags,
)
from langsteer.config.parse import packaged_studies

__all__ = ["EVALUATE_EMBEDDING_METHODS", "add_parsers", "cmd_demo", "cmd_evaluate", "cmd_run"]

#: the methods ``evaluate`` compares the expert files with: no change, and the embedding
#: baselines that need no intervention
EVALUATE_EMBEDDING_METHODS = ("none", "global-centring", "per-language-centring", "whitening")


def _study_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override one study-file key (TOML syntax), repeatable; applied after the flags",
    )
    model_flags(p, override=True)
    p.add_argument(
        "--allow-other-model",
        action="store_true",
        help="apply expert files (files = [...]) made for another model id of the same "
        "architecture",
    )
    g = p.add_argument_group("run")
    add_flag(g, "run.batch_size", help="sentences per forward pass", override=True)
    add_flag(g, "run.max_length", help="tokens per sentence", override=True)
    corpus_check_flags(p, override=True)
    _report_flag(p)


def _report_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--report",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="write report.md, report.html and figures beside results.json (default: yes)",
    )


def add_parsers(sub: Any) -> None:
    p = sub.add_parser("run", help="run a whole study described by a TOML file")
    p.add_argument(
        "study",
        help="study file (docs/config.md), or a packaged study: " + ", ".join(packaged_studies()),
    )
    add_out_flags(p, "output folder (results.json, expert files, report)")
    _study_flags(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("demo", help="the packaged study on Gemma-3-270M and Bible verses")
    add_out_flags(p, "output folder", default="runs/demo")
    _study_flags(p)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser(
        "evaluate",
        help="retrieval and geometry under expert files, beside the embedding baselines",
        description="A study of the given expert files (and their random-unit control) against "
        f"the methods {', '.join(EVALUATE_EMBEDDING_METHODS)}, on every sentence pair of "
        "--corpus unless --n-sentences asks for a subset.",
    )
    model_flags(p)
    g = p.add_argument_group("methods")
    expert_file_flags(g)
    d = p.add_argument_group("data")
    add_flag(d, "corpus.source", "--corpus", help=CORPUS_HELP)
    add_flag(d, "corpus.split", help="corpus split (FLORES: dev or devtest)")
    add_flag(d, "corpus.translations", help="Bible translations (one per language)")
    add_flag(d, "evaluation.languages", help="languages evaluated (each expert file's too)")
    add_flag(
        d,
        "corpus.n_eval",
        "--n-sentences",
        help="evaluate a seeded subset of this many sentences per language (none: every "
        "sentence pair of --corpus but the --n-center held out; a subset is reported)",
        default=None,
        unlike_config="a user's corpus is evaluated whole unless a subset is asked for "
        "(issue 11: no silent subsampling)",
    )
    add_flag(
        d,
        "corpus.n_center",
        help="held-out sentences per language (fit the baselines, choose layers; 0: none, "
        "every choice in-sample)",
    )
    add_flag(d, "corpus.seed", "--seed", help="seeds the split")
    e = p.add_argument_group("measures")
    add_flag(e, "evaluation.layer", help="hidden-state index of the paper's tables")
    add_flag(e, "evaluation.select_layer", help="leaderboard layer: held-out choice or --layer")
    add_flag(e, "evaluation.direction", help="retrieval direction(s)")
    add_flag(e, "evaluation.scoring", help="retrieval score")
    add_flag(e, "evaluation.n_boot", help="bootstrap resamples of the confidence intervals")
    add_flag(e, "run.seed", "--bootstrap-seed", help="seeds the bootstrap")
    add_flag(e, "run.batch_size", help="sentences per forward pass")
    add_flag(e, "run.max_length", help="tokens per sentence; longer ones are truncated, counted")
    add_out_flags(p, "output folder (results.json, report)")
    _report_flag(p)
    corpus_check_flags(p)
    p.set_defaults(func=cmd_evaluate)


def _with_flags(config: Any, args: argparse.Namespace) -> Any:
    """The study file's config with the flags that were given (``--set`` is applied last)."""
    from langsteer.config import apply_overrides, config_from_dict

    given = config_data(args)
    if given:
        data = config.to_dict()
        for section, values in given.items():
            data.setdefault(section, {}).update(values)
        config = config_from_dict(data)
    return apply_overrides(config, args.set)


def _run(config: Any, args: argparse.Namespace, **options: Any) -> int:
    from langsteer.report.text import study_summary_table
    from langsteer.study.pipeline import run_study

    out = Path(args.out)
    check_device(config)
    results = run_study(config, out, overwrite=args.overwrite, report=args.report, **options)
    print(study_summary_table(results))  # the verdict, the leaderboard, what was subsampled
    written = sorted(p.name for p in out.iterdir()) if out.is_dir() else []
    print(f"wrote {out}: {', '.join(written)}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from langsteer.config import load_config

    check_out_folder(Path(args.out), args.overwrite)
    config = _with_flags(load_config(args.study), args)
    return _run(config, args, allow_other_model=args.allow_other_model)


def cmd_demo(args: argparse.Namespace) -> int:
    from langsteer.config import DEMO_STUDY, load_config

    check_out_folder(Path(args.out), args.overwrite)
    config = _with_flags(load_config(DEMO_STUDY), args)
    print(f"langsteer demo: study {DEMO_STUDY} (override keys with --set SECTION.KEY=VALUE)")
    return _run(config, args, allow_other_model=args.allow_other_model)


def evaluate_config(args: argparse.Namespace) -> tuple[Any, list[str]]:
    """The study ``evaluate`` runs: expert files (and their random control) as model methods,
    the embedding baselines, no probing split, every sentence unless --n-sentences."""
    from langsteer.config import config_from_dict

    data = config_data(args)
    data["corpus"]["n_expert"] = 0
    data["analyses"] = {"paraphrase": False}
    data["evaluation"]["paraphrase"] = []
    files = [str(f) for f in args.experts]
    methods: list[dict[str, Any]] = []
    if files:
        methods.append({"name": "experts", "files": files})
        if args.random_control:
            methods.append({"name": "random-units", "files": files})
    elif args.random_control:
        raise ValueError(
            "--random-control gives the experts' values to random units: give --experts"
        )
    methods += [{"name": m} for m in EVALUATE_EMBEDDING_METHODS]
    languages = data["evaluation"]["languages"]
    data["experts"] = {"targets": languages[:1]}
    data["methods"] = methods
    config = config_from_dict(data)
    targets = list(read_expert_files(config)) if files else []
    if targets:  # recorded in results.json; the files decide the targets
        config.experts.targets = targets
    return config, targets


def cmd_evaluate(args: argparse.Namespace) -> int:
    check_out_folder(Path(args.out), args.overwrite)
    config, _ = evaluate_config(args)
    return _run(config, args, allow_other_model=args.allow_other_model)
