"""``langsteer mteb``: MTEB's own bitext-mining evaluation, before and after an intervention.

MTEB (its task class, evaluator, metrics and result files) runs on local parallel data, any
langsteer corpus, with no hub access: for the original model and under each intervention, i.e.
expert files (``--experts``), their random-unit control, or a model method fitted here on a
probing split disjoint from the evaluated sentences (``--method``). Every model state is one
MTEB experiment; ``--out`` holds MTEB's ``results/`` and ``predictions/`` and
``langsteer_mteb.json`` (data, splits, model, methods, scores), written as one set.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from langsteer.cli.common import (
    add_out_flags,
    check_device,
    check_out_folder,
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

__all__ = ["add_parser", "cmd_mteb", "mteb_lines"]


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "mteb",
        help="MTEB's own bitext mining on local data, before and after an intervention",
        description="Run MTEB's bitext-mining evaluation (every ordered pair of --languages) "
        "on --corpus for the original model and under each intervention; MTEB's result files "
        'go to --out. Needs the extra: pip install -e ".[mteb]".',
    )
    model_flags(p)
    d = p.add_argument_group("data")
    add_flag(d, "corpus.source", "--corpus", help=CORPUS_HELP)
    add_flag(d, "corpus.split", help="corpus split (FLORES: dev or devtest)")
    add_flag(d, "corpus.translations", help="Bible translations (one per language)")
    add_flag(d, "evaluation.languages", help="languages of the task (each ordered pair: a subset)")
    d.add_argument(
        "--n-sentences",
        type=int,
        default=None,
        metavar="N",
        help="evaluate a seeded subset of N sentences per language (default: every sentence "
        "of --corpus that --method does not probe)",
    )
    add_flag(d, "corpus.seed", "--seed", help="seeds the subset and the probing split")
    m = p.add_argument_group("interventions (the original model is always evaluated)")
    expert_file_flags(m)
    m.add_argument(
        "--method",
        default=None,
        help="a model method fitted per --target on a probing split of --corpus, e.g. "
        "experts, steering-vector, lape, sparse-dims",
    )
    m.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a parameter of --method (TOML value), repeatable, e.g. --param k=300",
    )
    m.add_argument("--target", nargs="+", default=[], help="target language(s) of --method")
    add_flag(m, "experts.negatives", help="probed languages besides --languages and --target")
    add_flag(m, "corpus.n_expert", "--n-probe", help="probing sentences per language (--method)")
    e = p.add_argument_group("embeddings")
    add_flag(e, "evaluation.layer", help="hidden-state index embedded (0: token embeddings)")
    add_flag(e, "evaluation.pooling", help="how a sentence's token states become one vector")
    add_flag(e, "evaluation.skip_bos", help="leave the BOS position out of the pooling")
    add_flag(e, "run.batch_size", help="sentences per forward pass")
    add_flag(e, "run.max_length", help="tokens per sentence; longer ones are truncated")
    add_out_flags(p, "output folder (MTEB's results/ and predictions/, langsteer_mteb.json)")
    corpus_check_flags(p)
    p.set_defaults(func=cmd_mteb)
    return p


def _method_entry(args: argparse.Namespace) -> dict[str, Any] | None:
    """``--method NAME --param k=v ...`` as a ``[[methods]]`` entry (validated by the config)."""
    from langsteer.config.parse import tomllib
    from langsteer.methods import METHODS

    if args.method is None:
        if args.param or args.target:
            raise ValueError("--param and --target set up --method: give --method NAME")
        return None
    model_methods = sorted(name for name, cls in METHODS.items() if cls.kind == "model")
    if args.method not in METHODS:
        raise ValueError(f"--method {args.method}: no such method; model methods: {model_methods}")
    if METHODS[args.method].kind != "model":
        raise ValueError(
            f"--method {args.method} is an embedding method (fitted on every language's "
            "held-out embeddings, applied after encoding), which MTEB's encoder interface "
            "cannot express: give a model method, or compare it with langsteer evaluate or run"
        )
    if not args.target:
        raise ValueError(f"--method {args.method} is fitted per target language: give --target")
    entry: dict[str, Any] = {"name": args.method}
    for item in args.param:
        key, eq, raw = item.partition("=")
        if not eq or not key.strip():
            raise ValueError(f"--param expects KEY=VALUE, got {item!r}")
        try:
            value = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw  # a bare word such as mean or last
        if isinstance(value, list):
            raise ValueError(
                f"--param {item}: a list is a set of candidates chosen on a held-out split, "
                "which langsteer mteb does not have; give one value (or use langsteer run)"
            )
        entry[key.strip()] = value
    return entry


def mteb_config(args: argparse.Namespace) -> Any:
    from langsteer.config import ConfigError, config_from_dict

    data = config_data(args)
    methods: list[dict[str, Any]] = []
    files = [str(f) for f in args.experts]
    if files:
        methods.append({"name": "experts", "files": files})
        if args.random_control:
            methods.append({"name": "random-units", "files": files})
    elif args.random_control:
        raise ValueError(
            "--random-control gives the experts' values to random units: give --experts"
        )
    entry = _method_entry(args)
    if entry is not None:
        methods.append(entry)
    data["methods"] = [*methods, {"name": "none"}]
    data.setdefault("experts", {})["targets"] = list(args.target) or ["eng"]
    try:
        return config_from_dict(data)
    except ConfigError as exc:
        if entry is None or "[[methods]]" not in str(exc):
            raise
        raise ValueError(str(exc).replace("[[methods]]", "--method / --param:")) from None


def cmd_mteb(args: argparse.Namespace) -> int:
    from langsteer.integrations.mteb import bitext_task, require_mteb

    require_mteb()
    out = Path(args.out)
    check_out_folder(out, args.overwrite)
    config = mteb_config(args)
    files = {}
    if args.experts:
        files["experts"] = read_expert_files(config)
        if args.random_control:
            files["random-units"] = read_expert_files(config, "random-units")
    languages = flag_languages(config.evaluation.languages, "--languages")
    if len(languages) < 2:
        raise ValueError(f"bitext mining needs two languages or more: --languages {languages}")
    targets = flag_languages(args.target, "--target")
    negatives = flag_languages(config.experts.negatives, "--negatives")
    probed = list(dict.fromkeys([*languages, *targets, *negatives]))
    check_device(config)
    corpus = load_user_corpus(config, probed if args.method else languages)
    probe, evaluated, splits, notes = _splits(config, corpus, languages, args)
    task = bitext_task(evaluated, languages, source=config.corpus.source)  # checked by MTEB
    print_subsampling(notes)
    loaded = open_model(config)
    encoders = _encoders(loaded, config, files, probe, probed, targets, args)
    record = {
        "corpus": evaluated.describe(),
        "splits": splits,
        "subsampling": notes,
        "model": loaded.describe(),
        "config": config.to_dict(),
    }
    runs = _write(out, encoders, task, record, config)
    print(mteb_lines(runs))
    print(f"wrote {out}: MTEB's results/ and predictions/, langsteer_mteb.json")
    return 0


def _splits(config: Any, corpus: Any, languages: list[str], args: argparse.Namespace) -> tuple:
    """The probing split (``--method`` only) and the evaluated sentences, disjoint and seeded."""
    c, n = config.corpus, len(corpus)
    sizes: dict[str, int] = {}
    if args.method:
        if c.n_expert < 2:
            raise ValueError(f"--n-probe {c.n_expert}: --method needs probing sentences (20+)")
        sizes["probe"] = c.n_expert
    if args.n_sentences is not None and args.n_sentences < 2:
        raise ValueError(f"--n-sentences {args.n_sentences}: bitext mining needs 2 or more")
    sizes["eval"] = args.n_sentences if args.n_sentences is not None else n - sizes.get("probe", 0)
    if sizes["eval"] < 2:
        raise ValueError(
            f"--n-probe {c.n_expert} leaves {max(sizes['eval'], 0)} of the {n} sentences of "
            f"--corpus {c.source} to evaluate: lower --n-probe"
        )
    flags = {"probe": "--n-probe", "eval": "--n-sentences"}
    if sum(sizes.values()) == n and "probe" not in sizes:
        parts, notes = {"eval": corpus}, []
    else:
        parts, notes = subsample(corpus, sizes, seed=c.seed, flags=flags, source=c.source)
    evaluated = parts["eval"].subset(languages=languages)
    splits = {"seed": c.seed, **{k: {"n": len(v), "ids": list(v.ids)} for k, v in parts.items()}}
    return parts.get("probe"), evaluated, splits, notes


def _encoders(
    loaded: Any,
    config: Any,
    files: dict[str, dict[str, Any]],
    probe_corpus: Any,
    probed: list[str],
    targets: list[str],
    args: argparse.Namespace,
) -> list[Any]:
    """The original encoder, then one per (method, target), each with its detached handle."""
    from langsteer.encoding.embeddings import LangsteerEncoder
    from langsteer.methods import METHODS
    from langsteer.models.embedded import cache_root

    e, r = config.evaluation, config.run
    options = {
        "pooling": e.pooling,
        "skip_bos": e.skip_bos,
        "batch_size": r.batch_size,
        "max_length": r.max_length,
        "cache_dir": cache_root(r.cache_dir),
        "progress": r.progress,
    }
    n_hidden = loaded.signature()["num_hidden_layers"] + 1
    if not -n_hidden <= e.layer < n_hidden:
        raise ValueError(
            f"--layer {e.layer}: the model has hidden-state indices 0..{n_hidden - 1} "
            f"(or -1..-{n_hidden} from the last)"
        )
    encoders = [LangsteerEncoder(loaded, layer=e.layer, **options)]
    fitted: list[tuple[str, Any]] = []
    for label, sets in files.items():
        params = intervention_params(config, label)
        for ex in sets.values():
            ex.check_compatible(loaded, allow_other_model=args.allow_other_model)
            method = METHODS[label].from_expert_set(
                ex, allow_other_model=args.allow_other_model, **params
            )
            fitted.append((label, method))
    if args.method:
        fitted += [(args.method, m) for m in _fit(loaded, config, probe_corpus, probed, targets)]
    for label, method in fitted:
        handle = method.attach(loaded)
        handle.remove()  # each encoder attaches its own handle for its calls only
        encoders.append(
            LangsteerEncoder(loaded, layer=e.layer, intervention=handle, label=label, **options)
        )
    return encoders


def _fit(loaded: Any, config: Any, corpus: Any, probed: list[str], targets: list[str]) -> list:
    from langsteer.methods import ProbeData, make_method
    from langsteer.models.embedded import cache_root

    spec = next(m for m in config.methods if m.name != "none" and not m.files)
    params = config.method_params(spec)
    try:  # parameters this model cannot take (k above its units, a layer it lacks...)
        check = make_method(spec.name, **params)
        check.check_model(loaded)
    except ValueError as exc:
        text = str(exc).replace("[[methods]] ", "--param ")
        raise ValueError(f"--method {spec.name}: {text} (set it with --param KEY=VALUE)") from None
    r = config.run
    probe = ProbeData(
        loaded,
        corpus,
        probed,
        skip_bos=config.experts.skip_bos,
        batch_size=r.batch_size,
        max_length=r.max_length,
        cache_dir=cache_root(r.cache_dir),
        progress=r.progress,
    )
    probe.prepare(check.needs())
    try:
        return [make_method(spec.name, **params).fit(probe, t) for t in targets]
    except ValueError as exc:
        text = str(exc).replace("[[methods]] ", "--param ")
        raise ValueError(f"--method {spec.name}: {text} (set it with --param KEY=VALUE)") from None


def _write(out: Path, encoders: list, task: Any, record: dict, config: Any) -> list[dict]:
    """MTEB's files and langsteer_mteb.json, staged beside ``out`` and swapped in as one set
    (an earlier ``--out`` is replaced only with --overwrite, and then as a whole)."""
    from langsteer import __version__
    from langsteer.integrations.mteb import run_mteb
    from langsteer.io import atomic_write_json, staged_folder, strict_json

    with staged_folder(out) as staging:
        runs = run_mteb(encoders, task, staging, progress=config.run.progress)
        result = {"langsteer": __version__, "task": task.metadata.name, **record, "runs": runs}
        atomic_write_json(staging / "langsteer_mteb.json", strict_json(result), allow_nan=False)
    return runs


def mteb_lines(runs: list[dict[str, Any]]) -> str:
    """Per model state: MTEB's accuracy and F1, averaged over the ordered language pairs."""
    head = f"{'method':<18} {'target':<10} {'layer':>5} {'accuracy':>9} {'f1':>7}  pairs"
    lines = [head, "-" * len(head)]
    for run in runs:
        kw, scores = run["experiment_kwargs"], run["scores"].values()
        acc = sum(s["accuracy"] for s in scores) / len(scores)
        f1 = sum(s["f1"] for s in scores) / len(scores)
        lines.append(
            f"{kw['method']:<18} {kw.get('target', '-'):<10} {kw['layer']:>5} {acc:>9.3f} "
            f"{f1:>7.3f}  {len(scores)}"
        )
    lines.append("MTEB's metrics (forward: query language -> candidate language, mean over pairs)")
    return "\n".join(lines)
