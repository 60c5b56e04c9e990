"""``langsteer experts``: rank every unit for each target language and save expert files.

One forward pass over the probing sentences serves every target (each target only relabels the
same pooled responses); each target's full ranking is written as one expert file, atomically.
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
    load_user_corpus,
    open_model,
    print_subsampling,
    subsample,
)
from langsteer.cli.flags import add_flag, config_data, corpus_check_flags, model_flags

__all__ = ["add_parser", "cmd_experts", "expert_lines", "experts_out"]

CORPUS_HELP = "'bible', 'bible:KJV,LSG', a FLORES dir, a dir of <lang>.txt files, or a pair file"


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "experts",
        help="find the expert units of target language(s)",
        description="Rank every unit by how well it detects each target language (one pass "
        "over the probing sentences) and write one expert file per target.",
    )
    model_flags(p)
    g = p.add_argument_group("probing data")
    add_flag(g, "corpus.source", "--corpus", help=CORPUS_HELP)
    add_flag(g, "corpus.split", help="corpus split (FLORES: dev or devtest)")
    add_flag(g, "corpus.translations", help="Bible translations (one per language)")
    add_flag(g, "experts.targets", "--target", help="target language code(s)")
    add_flag(
        g, "experts.negatives", help="extra negative languages (the other targets are negatives)"
    )
    add_flag(
        g,
        "corpus.n_expert",
        "--n-sentences",
        help="probing sentences per language, a seeded subset of --corpus (more than it has "
        "is an error)",
    )
    add_flag(g, "corpus.seed", "--seed", help="seeds the subset")
    e = p.add_argument_group("experts")
    add_flag(e, "experts.units", help="mlp, mlp-act, linear or re:<regex>")
    add_flag(e, "experts.pooling", help="how a unit's token activations become one number")
    add_flag(e, "experts.skip_bos", help="leave the BOS position out of the pooling")
    add_flag(e, "experts.score", help="expertise score of each unit")
    add_flag(e, "experts.k", help="experts kept (the file keeps the whole ranking)")
    add_flag(e, "experts.bottom_k", help="units most predictive of the other languages, kept too")
    add_flag(e, "run.batch_size", help="sentences per forward pass")
    add_flag(e, "run.max_length", help="tokens per sentence; longer ones are truncated, counted")
    add_out_flags(
        p, "expert file (.safetensors); with several targets <stem>.<target>.safetensors each"
    )
    corpus_check_flags(p)
    p.set_defaults(func=cmd_experts)
    return p


def experts_out(out: Path, targets: list[str]) -> dict[str, Path]:
    """Where each target's file goes (one target: ``out`` itself)."""
    if len(targets) == 1:
        return {targets[0]: out}
    return {t: out.with_name(f"{out.stem}.{t}{out.suffix}") for t in targets}


def cmd_experts(args: argparse.Namespace) -> int:
    from langsteer.config import config_from_dict

    data = config_data(args)
    if data["corpus"]["n_expert"] < 1:
        raise ValueError(
            f"--n-sentences {data['corpus']['n_expert']}: experts are found from probing "
            "sentences; give at least 2 per language (20 or more for reliable experts)"
        )
    config = config_from_dict({**data, "methods": [{"name": "experts"}, {"name": "none"}]})
    targets = flag_languages(config.experts.targets, "--target")
    negatives = flag_languages(config.experts.negatives, "--negatives")
    paths = experts_out(Path(args.out), targets)
    for path in paths.values():
        check_out_file(path, args.overwrite, "experts.safetensors")
    probed = list(dict.fromkeys([*targets, *negatives]))
    if len(probed) < 2:
        raise ValueError(
            "expertise needs negatives: give a second language with --target or --negatives"
        )
    check_device(config)
    c = config.corpus
    corpus = load_user_corpus(config, probed)
    parts, notes = subsample(
        corpus,
        {"probe": c.n_expert},
        seed=c.seed,
        flags={"probe": "--n-sentences"},
        source=c.source,
    )
    print_subsampling(notes)
    loaded = open_model(config)
    experts, responses = _find(loaded, parts["probe"], targets, negatives, config)
    for target, ex in experts.items():
        ex.save(paths[target])
        print(expert_lines(ex, responses.meta))
        print(f"wrote {paths[target]}")
    return 0


def _find(loaded: Any, corpus: Any, targets: list[str], negatives: list[str], config: Any):
    from langsteer.methods.experts import find_experts
    from langsteer.models.embedded import cache_root

    e, r = config.experts, config.run
    return find_experts(
        loaded,
        corpus,
        targets,
        negatives=negatives,
        units=e.units,
        pooling=e.pooling,
        score=e.score,
        k=e.k,
        bottom_k=e.bottom_k,
        skip_bos=e.skip_bos,
        batch_size=r.batch_size,
        max_length=r.max_length,
        cache_dir=cache_root(r.cache_dir),
        progress=r.progress,
    )


def _bar(count: int, largest: int, width: int = 40) -> str:
    return "#" * max(1 if count else 0, round(width * count / max(largest, 1)))


def expert_lines(experts: Any, responses_meta: dict[str, Any] | None = None) -> str:
    """Where the experts are (by layer and module kind) and how well they score."""
    s = experts.summary()
    meta = responses_meta or {}
    model = experts.meta.get("model", {})
    lines = [
        f"experts for {s['target']}: k={s['k']} (+{s['bottom_k']} bottom), "
        f"mean {s['score']} {s['mean_score']:.3f}, min {s['min_score']:.3f}",
        f"model {model.get('id', '?')}, units {experts.units.spec!r} "
        f"({experts.units.n_units} units), pooling {experts.meta.get('pooling')}, "
        f"{experts.meta.get('n_pos')} positive / {experts.meta.get('n_neg')} negative sentences",
    ]
    if meta.get("n_truncated"):
        lines.append(f"note: {meta['n_truncated']} sentence(s) truncated to {meta['max_length']}")
    if s["by_layer"]:
        largest = max(s["by_layer"].values())
        lines.append("by layer (decoder block):")
        n_layers = model.get("signature", {}).get("num_hidden_layers")
        for layer in range(n_layers) if n_layers else sorted(s["by_layer"]):
            c = s["by_layer"].get(layer, 0)
            lines.append(f"  {layer:>3} {c:>6} {_bar(c, largest)}")
        lines.append("by module kind:")
        largest = max(s["by_kind"].values())
        for kind, c in sorted(s["by_kind"].items(), key=lambda kv: -kv[1]):
            lines.append(f"  {kind:<14} {c:>6} {_bar(c, largest)}")
    return "\n".join(lines)
