"""Unit discovery on every supported architecture: counts, kinds, widths, names."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from langsteer.models import (
    MLP_LAYOUTS,
    SUPPORTED_ARCHITECTURES,
    UnitSet,
    UnsupportedArchitectureError,
    resolve_units,
    tiny_model,
)
from langsteer.models.units import is_linear_like

GATED = ("gate_proj", "up_proj", "down_proj")
# (kinds of the "mlp" hook points in one layer, index of the down projection)
EXPECTED_MLP = {
    "gpt2": ("c_fc", "c_proj"),
    "bloom": ("dense_h_to_4h", "dense_4h_to_h"),
    "gpt_neox": ("dense_h_to_4h", "dense_4h_to_h"),
    "xglm": ("fc1", "fc2"),
    "opt": ("fc1", "fc2"),
    **{a: GATED for a in ("llama", "mistral", "qwen2", "qwen3", "gemma", "gemma3_text", "cohere")},
}


def _dims(lm) -> tuple[int, int, int]:
    """(layers, hidden, intermediate) as the tiny configs define them."""
    emb = lm.model.get_input_embeddings().weight
    return 2, emb.shape[1], 64


def _capture_shapes(model, units: UnitSet, input_ids) -> dict[str, tuple[int, ...]]:
    shapes: dict[str, tuple[int, ...]] = {}
    handles = []
    for hp in units.hook_points:
        mod = model.get_submodule(hp.module)
        if hp.side == "out":
            fn = lambda m, i, o, n=hp.name: shapes.__setitem__(n, tuple(o.shape))  # noqa: E731
            handles.append(mod.register_forward_hook(fn))
        else:
            fn = lambda m, i, n=hp.name: shapes.__setitem__(n, tuple(i[0].shape))  # noqa: E731
            handles.append(mod.register_forward_pre_hook(fn))
    with torch.no_grad():
        model(input_ids=input_ids)
    for h in handles:
        h.remove()
    return shapes


def test_table_covers_supported():
    assert set(SUPPORTED_ARCHITECTURES) <= set(MLP_LAYOUTS)
    assert set(EXPECTED_MLP) == set(SUPPORTED_ARCHITECTURES)


def test_mlp_units(tiny_lm):
    arch = tiny_lm.model.config.model_type
    n_layers, hidden, inter = _dims(tiny_lm)
    us = resolve_units(tiny_lm.model, "mlp")
    kinds = EXPECTED_MLP[arch]
    assert [hp.kind for hp in us.hook_points] == list(kinds) * n_layers
    assert [hp.layer for hp in us.hook_points] == [i for i in range(n_layers) for _ in kinds]
    widths = [hidden if k == kinds[-1] else inter for k in kinds] * n_layers
    assert [hp.width for hp in us.hook_points] == widths
    assert us.n_units == sum(widths) == len(us)
    assert all(hp.side == "out" and hp.name == f"{hp.module}:out" for hp in us.hook_points)
    summary = us.summary()
    assert sum(summary["by_layer"].values()) == us.n_units
    assert sum(summary["by_kind"].values()) == us.n_units


def test_mlp_act_units(tiny_lm):
    arch = tiny_lm.model.config.model_type
    n_layers, _, inter = _dims(tiny_lm)
    us = resolve_units(tiny_lm.model, "mlp-act")
    assert len(us.hook_points) == n_layers
    for layer, hp in enumerate(us.hook_points):
        assert (hp.side, hp.kind, hp.width, hp.layer) == ("in", "act", inter, layer)
        assert hp.module.endswith("." + EXPECTED_MLP[arch][-1])
        assert hp.name == f"{hp.module}:in"


def test_linear_units_exclude_head_and_include_mlp(tiny_lm):
    model = tiny_lm.model
    lin = resolve_units(model, "linear")
    mlp = resolve_units(model, "mlp")
    head = model.get_output_embeddings()
    head_names = {n for n, m in model.named_modules() if m is head}
    modules = [hp.module for hp in lin.hook_points]
    assert not head_names & set(modules)
    assert all("lm_head" not in m and "embed" not in m for m in modules)
    assert {hp.name for hp in mlp.hook_points} < {hp.name for hp in lin.hook_points}
    assert all(is_linear_like(model.get_submodule(m)) for m in modules)
    layers = [hp.layer for hp in lin.hook_points]
    assert layers == sorted(layers)


def test_regex_units(tiny_lm):
    lin = resolve_units(tiny_lm.model, "linear")
    us = resolve_units(tiny_lm.model, r"re:\.1\.")
    assert us.spec == r"re:\.1\."
    assert [hp.name for hp in us.hook_points] == [
        hp.name for hp in lin.hook_points if hp.layer == 1
    ]


def test_widths_match_forward(tiny_lm):
    model = tiny_lm.model
    ids = tiny_lm.tokenizer(["hello wörld", "αβγ δε"], return_tensors="pt", padding=True)
    for spec in ("linear", "mlp-act"):
        us = resolve_units(model, spec)
        shapes = _capture_shapes(model, us, ids.input_ids)
        assert set(shapes) == {hp.name for hp in us.hook_points}
        for hp in us.hook_points:
            # OPT flattens [batch, seq] before its MLP: only the last dim is the channel dim.
            assert shapes[hp.name][-1] == hp.width, hp.name


def test_names_round_trip(tiny_lm):
    for spec in ("mlp", "mlp-act"):
        us = resolve_units(tiny_lm.model, spec)
        names = us.names()
        assert len(names) == us.n_units == len(set(names))
        np.testing.assert_array_equal(us.index_of(names), np.arange(us.n_units))
        hp, ch = us.locate(np.arange(us.n_units))
        np.testing.assert_array_equal(us.offsets[hp] + ch, np.arange(us.n_units))
        for i in (0, us.hook_points[0].width, us.n_units - 1):
            assert us.unit_name(i) == names[i]
            assert us.index_of(names[i])[0] == i
        d = json.loads(json.dumps(us.to_dict()))
        assert UnitSet.from_dict(d) == us


def test_unit_name_format():
    us = resolve_units(tiny_model("llama").model)
    assert us.unit_name(0) == "model.layers.0.mlp.gate_proj:out:0"
    assert us.unit_name(64 + 17) == "model.layers.0.mlp.up_proj:out:17"
    hp, ch = us.locate([64 + 17])
    assert (hp[0], ch[0]) == (1, 17)
    us_act = resolve_units(tiny_model("gpt2").model, "mlp-act")
    assert us_act.unit_name(3) == "transformer.h.0.mlp.c_proj:in:3"


def test_bad_names_and_indices(tiny_llama):
    us = resolve_units(tiny_llama.model)
    for bad in (
        "model.layers.0.mlp.gate_proj:out:64",
        "nope:out:1",
        "model.layers.0.mlp.gate_proj:out",
    ):
        with pytest.raises(KeyError, match="unknown unit"):
            us.index_of([bad])
    with pytest.raises(IndexError):
        us.locate([us.n_units])
    with pytest.raises(IndexError):
        us.locate([-1])


def test_bad_specs(tiny_llama):
    with pytest.raises(ValueError, match="unknown unit spec"):
        resolve_units(tiny_llama.model, "attention")
    with pytest.raises(ValueError, match="matches no"):
        resolve_units(tiny_llama.model, "re:lm_head")
    with pytest.raises(ValueError, match="invalid unit regex"):
        resolve_units(tiny_llama.model, "re:(")


def test_unknown_model_type_llama_style_is_accepted(tiny_llama):
    tiny_llama.model.config.model_type = "mystery-llama"
    us = resolve_units(tiny_llama.model, "mlp")
    assert [hp.kind for hp in us.hook_points[:3]] == list(GATED)


def test_unsupported_architecture_lists_modules():
    lm = tiny_model("gpt_neox")
    lm.model.config.model_type = "mystery"
    with pytest.raises(UnsupportedArchitectureError) as err:
        resolve_units(lm.model, "mlp")
    msg = str(err.value)
    assert "mystery" in msg
    assert "gpt_neox.layers.0.attention.query_key_value" in msg
    assert "gpt_neox.layers.0.mlp.dense_h_to_4h" in msg
    assert "re:" in msg
    assert isinstance(err.value, ValueError)
    # the way out the message suggests works
    us = resolve_units(lm.model, r"re:layers\.\d+\.mlp\.")
    assert len(us.hook_points) == 4
