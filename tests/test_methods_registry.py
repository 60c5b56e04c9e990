"""The registry: every method is reachable from a study file and documented, and the worked
example of docs/methods.md is real, working code."""

from __future__ import annotations

import dataclasses
import re
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from langsteer.config import PARAM_DEFAULTS, ConfigError, config_from_dict
from langsteer.methods import METHODS, EmbeddingMethod, MethodError, ModelMethod, make_method
from tests.test_methods_subspace import top1

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DOC = Path(__file__).resolve().parents[1] / "docs" / "methods.md"
ADDED = {"sparse-dims", "lsar", "lir", "linear-map", "lape"}


def study(*entries: dict, **sections) -> dict:
    methods = list(entries)
    if not any(e["name"] == "none" for e in methods):
        methods.append({"name": "none"})
    return {**sections, "methods": methods}


@pytest.mark.parametrize("name", sorted(METHODS))
def test_every_method_builds_from_a_study_entry_and_round_trips(name):
    cfg = config_from_dict(study({"name": name}))
    spec = next(m for m in cfg.methods if m.name == name)
    assert spec.kind == METHODS[name].kind
    method = make_method(name, **cfg.method_params(spec))
    assert isinstance(method, ModelMethod if spec.kind == "model" else EmbeddingMethod)
    again = config_from_dict(cfg.to_dict())
    assert again.to_dict() == cfg.to_dict()
    assert again.method_params(again.methods[0]) == cfg.method_params(spec)


@pytest.mark.parametrize("name", sorted(METHODS))
def test_every_method_is_documented_with_params_and_a_source(name):
    cls = METHODS[name]
    assert cls.summary and "\n" not in cls.summary
    if name in ADDED:  # the field's methods: the summary names the publication
        assert re.search(r"\d{4}", cls.summary), cls.summary
    doc = DOC.read_text()
    assert f"### `{name}`" in doc
    section = doc.split(f"### `{name}`", 1)[1].split("\n### ", 1)[0]
    assert re.search(r"Source|\(paper|baseline|control|anisotropy", section), name
    for f in dataclasses.fields(cls.Params):
        if f.name == "fit_on":  # documented once for every embedding method
            continue
        assert f"`{f.name}`" in section, f"{name}: parameter {f.name} undocumented"
        if f.name in PARAM_DEFAULTS and f.name not in cls.own_defaults:
            continue  # a section key's default: docs/config.md documents it
        if f.default is not None:
            shown = f'"{f.default}"' if isinstance(f.default, str) else str(f.default)
            assert f"`{shown}`" in section, f"{name}.{f.name}: default {shown} undocumented"


def test_the_new_methods_are_registered_and_the_supervised_one_is_labelled():
    assert ADDED.issubset(METHODS)
    assert [n for n, c in METHODS.items() if getattr(c, "supervised", False)] == ["linear-map"]
    assert METHODS["sparse-dims"].kind == "model" and METHODS["lape"].kind == "model"
    assert {METHODS[n].kind for n in ("lsar", "lir", "linear-map")} == {"embedding"}


def test_section_defaults_flow_into_methods_unless_the_method_owns_them():
    cfg = config_from_dict(
        study(
            {"name": "experts"},
            {"name": "lape"},
            {"name": "lape", "label": "lape on mlp", "units": "mlp", "value": "mean"},
            experts={"units": "linear", "k": 7},
            intervention={"value": "median", "mode": "add"},
        )
    )
    by_label = {
        m.label: make_method(m.name, **cfg.method_params(m)).get_params() for m in cfg.methods
    }
    assert by_label["experts"]["units"] == "linear" and by_label["experts"]["value"] == "median"
    lape = by_label["lape"]
    assert lape["units"] == "mlp-act" and lape["score"] == "lape"  # LAPE's own definition
    assert lape["value"] == "token-mean"
    assert lape["k"] == 7 and lape["mode"] == "add"  # section defaults otherwise
    assert by_label["lape on mlp"]["units"] == "mlp" and by_label["lape on mlp"]["value"] == "mean"


def test_bad_entries_name_the_method_and_the_parameter():
    for entry, match in (
        ({"name": "sparse-dims", "dims": 0}, "dims"),
        ({"name": "lsar", "rank": "2"}, "rank"),
        ({"name": "lir", "rank": 0}, "rank"),
        ({"name": "linear-map", "pivot": "xx"}, "pivot"),
        ({"name": "linear-map", "alpha": -1}, "alpha"),
        ({"name": "experts", "k": "300"}, "k must be int"),
        ({"name": "lape", "score": "auroc"}, "lape"),
        ({"name": "steering-vector", "layer": [3, "x"]}, "layer"),
    ):
        with pytest.raises(ConfigError, match=match):
            config_from_dict(study(entry))
    with pytest.raises(MethodError, match="no parameter"):
        make_method("lsar", k=3)


def doc_blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", DOC.read_text(), flags=re.S)


@pytest.fixture
def doc_example():
    """The worked example of docs/methods.md, executed and registered (unregistered after)."""
    before = set(METHODS)
    module = types.ModuleType("docs_methods_example")  # dataclasses look their module up
    sys.modules[module.__name__] = module
    try:
        exec(compile(doc_blocks("python")[0], str(DOC), "exec"), module.__dict__)
        added = set(METHODS) - before
        yield module.__dict__, added
    finally:
        for name in set(METHODS) - before:
            METHODS.pop(name)
        sys.modules.pop(module.__name__)


def test_the_docs_example_method_works_from_its_study_snippet(doc_example):
    namespace, added = doc_example
    assert added == {"top-direction-removal"}
    cfg = config_from_dict(tomllib.loads(doc_blocks("toml")[0]))
    spec = next(m for m in cfg.methods if m.name == "top-direction-removal")
    assert spec.label == "all-but-the-top" and spec.kind == "embedding"
    method = make_method(spec.name, **cfg.method_params(spec))
    assert isinstance(method, namespace["TopDirectionRemoval"]) and method.params.directions == 2
    # planted: two directions shared by every language with a large independent coefficient
    # per sentence and language swamp the meaning; removing them restores retrieval
    rng = np.random.default_rng(0)
    d, n = 20, 80
    shared = np.linalg.qr(rng.normal(size=(d, 2)))[0].T
    z = rng.normal(size=(n, d))
    z -= (z @ shared.T) @ shared
    space = {
        lang: 5.0 + z + rng.normal(scale=25.0, size=(n, 2)) @ shared
        for lang in ("eng_Latn", "deu_Latn", "fra_Latn")
    }
    fit = {k: v[:40] for k, v in space.items()}
    ev = {k: v[40:] for k, v in space.items()}

    assert top1(ev) < 0.3
    method.fit(fit)
    assert top1(method.transform(ev)) == 1.0
    assert method.describe()["fitted"]["variance_share_removed"] > 0.9
    with pytest.raises(ConfigError, match="directions"):
        config_from_dict(study({"name": "top-direction-removal", "directions": 0}))


def test_numpy_scalars_are_plain_parameters():
    """A layer or k chosen by argmax arrives as a NumPy scalar: accepted, described as JSON."""
    import json

    m = make_method("sparse-dims", layer=np.int64(3), dims=np.int32(4))
    assert m.get_params() == {"layer": 3, "dims": 4, "positions": "all"}
    assert type(m.params.layer) is int
    json.dumps(make_method("linear-map", alpha=np.float32(0.5)).describe())
    with pytest.raises(MethodError, match="dims must be int"):
        make_method("sparse-dims", dims=np.float64(4.0))
