"""One-screen terminal summaries."""

from __future__ import annotations

from langsteer.experts import ExpertSet


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
