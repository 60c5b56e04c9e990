"""The study file reference (docs/config.md) and the config dataclasses cannot drift apart."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from langsteer.config import ConfigError, StudyConfig, config_from_dict

DOCS = Path(__file__).resolve().parents[1] / "docs" / "config.md"


def documented_keys() -> dict[str, set[str]]:
    """``{section: {key, ...}}`` from the ``## [section]`` tables of docs/config.md."""
    out: dict[str, set[str]] = {}
    section = None
    for line in DOCS.read_text(encoding="utf-8").splitlines():
        head = re.match(r"^## \[(\[?)(\w+)\]", line)
        if head:  # [[methods]] lists method parameters, not section keys
            section = None if head.group(1) else out.setdefault(head.group(2), set())
            continue
        row = re.match(r"^\| `(\w+)` \|", line)
        if row and section is not None:
            section.add(row.group(1))
    return out


def test_every_key_is_documented_and_every_documented_key_exists():
    study = StudyConfig()
    code = {
        f.name: {g.name for g in dataclasses.fields(getattr(study, f.name))}
        for f in dataclasses.fields(StudyConfig)
        if f.name != "methods"
    }
    assert documented_keys() == code
    assert "## [[methods]]" in DOCS.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"sweep": {"ks": [0, -1]}}, "distinct non-negative"),
        ({"sweep": {"ks": [0, 5, 5]}}, "distinct non-negative"),
        ({"sweep": {"ks": []}}, "distinct non-negative"),
        ({"sweep": {"top_p": 5.0}}, r"top_p must be in \(0, 1\]"),
        ({"sweep": {"temperature": 0}}, "temperature must be > 0"),
        ({"sweep": {"seeds": []}}, "seeds is empty"),
        ({"sweep": {"n_samples": 0}}, "at least 1"),
        ({"model": {"dtype": "int3"}}, "not one of"),
        ({"corpus": {"n_center": -2}}, ">= 0"),
    ],
)
def test_bad_values_are_refused_before_any_work(data, message):
    with pytest.raises(ConfigError, match=message):
        config_from_dict(data)


def test_overrides_round_trip_every_default_including_none():
    from langsteer.config import DEMO_STUDY, apply_overrides, load_config

    demo = load_config(DEMO_STUDY)
    again = apply_overrides(demo, ["experts.k=50"])
    assert again.corpus.duplicates is None and again.experts.k == 50
    assert apply_overrides(StudyConfig(), ["corpus.duplicates=drop"]).corpus.duplicates == "drop"
