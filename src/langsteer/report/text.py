"""One-screen terminal summaries."""

from __future__ import annotations

from langsteer.methods.experts import ExpertSet


def bar(count: int, largest: int, width: int = 40) -> str:
    return "#" * max(1 if count else 0, round(width * count / max(largest, 1)))


def expert_summary_table(experts: ExpertSet, responses_meta: dict | None = None) -> str:
    """Where the experts are (by layer and module kind) and how good they are."""
    s = experts.summary()
    meta = responses_meta or {}
    model = experts.meta.get("model", {})
    lines = [
        f"experts for {s['target']}: k={s['k']} (+{s['bottom_k']} bottom), "
        f"score={s['score']}, mean {s['score']}={s['mean_score']:.3f}, "
        f"min={s['min_score']:.3f}",
        f"model {model.get('id', '?')}, units {experts.units.spec!r} "
        f"({experts.units.n_units} units), pooling {experts.meta.get('pooling')}, "
        f"{experts.meta.get('n_pos')} positives / {experts.meta.get('n_neg')} negatives",
    ]
    if meta.get("n_truncated"):
        lines.append(f"note: {meta['n_truncated']} sentence(s) truncated to {meta['max_length']}")
    if s["by_layer"]:
        largest = max(s["by_layer"].values())
        lines.append("by layer:")
        n_layers = experts.meta.get("model", {}).get("signature", {}).get("num_hidden_layers")
        layers = range(n_layers) if n_layers else sorted(s["by_layer"])
        for layer in layers:
            c = s["by_layer"].get(layer, 0)
            lines.append(f"  {layer:>3} {c:>6} {bar(c, largest)}")
        lines.append("by module kind:")
        largest = max(s["by_kind"].values())
        for kind, c in sorted(s["by_kind"].items(), key=lambda kv: -kv[1]):
            lines.append(f"  {kind:<14} {c:>6} {bar(c, largest)}")
    return "\n".join(lines)


def _fmt(value, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def study_summary_table(results: dict) -> str:
    """The end-of-run table: per target, retrieval and distances pre -> post (random)."""
    head = (
        f"{'target':<10} {'k':>5}  {'top-1 pre':>9} {'post':>6} {'random':>7}  "
        f"{'dist pre':>8} {'post':>6} {'random':>7}  {'para mixed':>10}"
    )
    lines = [head, "-" * len(head)]
    for lang, t in results.get("targets", {}).items():
        r = t["retrieval"]
        g = t.get("geometry", {})
        rc = t.get("random_control", {})
        lines.append(
            f"{lang:<10} {t['experts']['k']:>5}  {_fmt(r['mean_pre']):>9} "
            f"{_fmt(r['mean_post']):>6} {_fmt(rc.get('retrieval', {}).get('mean_post')):>7}  "
            f"{_fmt(g.get('geometry.pre.mean_pairwise_centroid')):>8} "
            f"{_fmt(g.get('geometry.post.mean_pairwise_centroid')):>6} "
            f"{_fmt(rc.get('geometry', {}).get('geometry.post.mean_pairwise_centroid')):>7}  "
            f"{_fmt(t.get('paraphrase', {}).get('paraphrase.mixed')):>10}"
        )
    lines.append(
        "top-1: mean over ordered language pairs (query -> candidate, cosine, ties wrong);"
    )
    lines.append("dist: mean cosine distance between language centroids; random: random units")
    return "\n".join(lines)


def sweep_table(sweep: dict) -> str:
    """Per target and k: share of generations in the target language and log-perplexity."""
    lines = [f"{'target':<10} {'k':>6} {'target rate':>12} {'log ppl':>9}", "-" * 40]
    for lang, res in sweep.items():
        for i, k in enumerate(res["k"]):
            lines.append(
                f"{lang:<10} {k:>6} {_fmt(res['target_rate'][i]):>12} {_fmt(res['log_ppl'][i]):>9}"
            )
    return "\n".join(lines)
