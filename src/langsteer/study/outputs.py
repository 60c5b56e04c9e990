"""A run's outputs are one consistent set: written into a staging folder, then swapped in.

results.json, the expert files and the report (markdown, HTML, figures) of one run are written
next to the output folder, then renamed into place in one step; an earlier run's folder is
replaced only with ``--overwrite``, and then as a whole. An interrupted or failed run leaves the
previous outputs untouched and no half-written folder behind.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from langsteer.io import atomic_write_json, staged_folder, strict_json
from langsteer.study.results import expert_file_name

__all__ = ["write_outputs"]


def _save_experts(study: Any, folder: Path) -> None:
    for target, methods in study.fitted.items():
        for label, method in methods.items():
            experts = getattr(method, "experts_", None)
            random = getattr(method, "control", None) == "random"
            if experts is not None and not experts.meta.get("path") and not random:
                experts.save(folder / expert_file_name(label, target))


def write_outputs(out: Path, results: dict[str, Any], study: Any, *, report: bool = True) -> None:
    """Stage every output of ``results`` (and the study's fitted experts), then swap it in."""
    with staged_folder(out) as staging:
        _save_experts(study, staging)
        atomic_write_json(staging / "results.json", strict_json(results), allow_nan=False)
        if report:
            from langsteer.report.build import write_report

            write_report(results, staging)
