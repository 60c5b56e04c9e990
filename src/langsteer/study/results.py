"""The results dict of a study: the leaderboard first, then every measurement and provenance.

``results.json`` is self-describing: every number sits beside the options that produced it, the
data hashes, versions and the split that chose every layer or parameter. The top-level
``leaderboard`` is a list of rows (``method``, ``kind``, ``target``, ``embedding``, ``layer``,
``top1``, ``delta``, ``ci95``, ``verdict``, ``selected_on``...), one per method and, for model
methods, per target and embedding method; ``baseline`` names the row every other is compared
with.
"""

from __future__ import annotations

import platform
import re
from typing import Any

from langsteer import __version__
from langsteer.config import MethodSpec, StudyConfig
from langsteer.evaluation.comparison import SELECTED_ON, SpaceScores
from langsteer.methods import METHODS
from langsteer.methods.experts import versions

__all__ = ["assemble", "expert_file_name", "method_record", "space_record"]


def expert_file_name(label: str, target: str) -> str:
    """``experts/<label>.<target>.safetensors`` with the label made file-safe."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", label).strip("_") or "experts"
    return f"experts/{safe}.{target}.safetensors"


def method_record(
    method: Any, spec: MethodSpec, handle: Any, candidates: list[dict[str, Any]]
) -> dict[str, Any]:
    """What one fitted model method was, for one target (``handle``: it, attached)."""
    out: dict[str, Any] = {
        "method": spec.label,
        "name": spec.name,
        "kind": "model",
        "params": method.get_params(),
        "intervention": handle.describe(),
    }
    drawn = getattr(handle, "unit_indices", None)
    if drawn is not None and handle.describe().get("control") == "random":
        out["units_drawn"] = _units_summary(method.experts_.units, drawn)
    if candidates:
        out["candidates"] = candidates
        out["candidates_chosen_on"] = SELECTED_ON["heldout"]
    experts = getattr(method, "experts_", None)
    if experts is not None:
        file = experts.meta.get("path") or expert_file_name(spec.label, method.target_)
        if getattr(method, "control", None) == "random":  # not saved: units_drawn says it all
            file = None
        out["experts"] = {**experts.summary(), "file": file}
    return out


def _units_summary(units: Any, indices: Any) -> dict[str, Any]:
    """Where the units a random control drew are: counts by layer and by module kind."""
    hp_idx, _ = units.locate(indices)
    by_layer: dict[int, int] = {}
    by_kind: dict[str, int] = {}
    for h in hp_idx:
        hp = units.hook_points[int(h)]
        by_layer[hp.layer] = by_layer.get(hp.layer, 0) + 1
        by_kind[hp.kind] = by_kind.get(hp.kind, 0) + 1
    return {
        "n": len(indices),
        "by_layer": dict(sorted(by_layer.items())),
        "by_kind": by_kind,
        "layer_numbering": "decoder block index (0 = first block)",
    }


def space_record(scores: SpaceScores) -> dict[str, Any]:
    """Per-layer mean top-1 (evaluated), selection score (held-out) and geometry, per
    embedding method."""
    return {
        "per_layer": {emb: scores.per_layer(emb) for emb in scores.scores},
        "per_layer_heldout": {emb: [float(x) for x in v] for emb, v in scores.selection.items()},
        "per_layer_heldout_margin": {
            emb: [float(x) for x in v] for emb, v in scores.margin.items()
        },
        "first_layer": scores.first_layer,
        "per_layer_geometry": scores.geometry,
        "failed": scores.failed,
        "layers": list(scores.layers),
    }


def _methods(config: StudyConfig) -> list[dict[str, Any]]:
    return [
        {
            "method": m.label,
            "name": m.name,
            "kind": m.kind,
            "params": config.method_params(m),
            "files": list(m.files),
            "summary": METHODS[m.name].summary,
        }
        for m in config.methods
    ]


def assemble(
    config: StudyConfig,
    data: Any,
    loaded: Any,
    probe: Any,
    original: SpaceScores,
    per_target: dict[str, dict[str, Any]],
    table: list[dict[str, Any]],
    baseline: dict[str, Any],
    generation: dict[str, Any] | None,
    timings: dict[str, float],
) -> dict[str, Any]:
    how = table[0]["selected_on"] if table else config.evaluation.select_layer
    results: dict[str, Any] = {
        "leaderboard": table,
        "baseline": baseline,
        "selection": {"how": how, "split": SELECTED_ON.get(how, how)},
        "methods": _methods(config),
        "original": space_record(original),
        "targets": {t: {"methods": m} for t, m in per_target.items()},
    }
    if generation is not None:
        results["generation"] = generation
    results.update(
        subsampling=data.subsampling,
        config=config.to_dict(),
        languages=data.languages,
        model=loaded.describe(),
        corpora={name: c.describe() for name, c in data.corpora.items()},
        paraphrase_pairs=data.pairs.describe() if data.pairs is not None else None,
        probing=probe.passes if probe is not None else None,
        versions=versions(),
        machine={"platform": platform.platform(), "processor": platform.machine()},
        langsteer=__version__,
        timings=timings,
    )
    return results
