"""Hook points and units: which channels of a model we read and force, with stable names.

A unit set is data, not code: every unit has a string name that depends only on the Hugging Face
module tree (``"<module path>:<side>:<channel>"``), so responses, expert files and interventions can
be matched across runs and machines without re-running the discovery.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import asdict, dataclass
from functools import cached_property
from typing import Any, Literal

import numpy as np
import torch
from transformers.pytorch_utils import Conv1D

__all__ = [
    "MLP_LAYOUTS",
    "UNIT_SPECS",
    "HookPoint",
    "MLPLayout",
    "UnitSet",
    "UnsupportedArchitectureError",
    "decoder_blocks",
    "is_linear_like",
    "linear_width",
    "mlp_layout",
    "resolve_units",
]

UNIT_SPECS = ("mlp", "mlp-act", "linear", "re:<regex>")


class UnsupportedArchitectureError(ValueError):
    """The model's MLP cannot be found; the message says what was found and how to use a regex."""


@dataclass(frozen=True)
class MLPLayout:
    """Where a block's MLP lives: ``mlp`` child (None: the block itself), Linears, down one."""

    mlp: str | None
    linears: tuple[str, ...]
    down: str


_GATED = MLPLayout("mlp", ("gate_proj", "up_proj", "down_proj"), "down_proj")
_GPT2 = MLPLayout("mlp", ("c_fc", "c_proj"), "c_proj")
_H4H = MLPLayout("mlp", ("dense_h_to_4h", "dense_4h_to_h"), "dense_4h_to_h")
_FC = MLPLayout(None, ("fc1", "fc2"), "fc2")

# Keyed by config.model_type. A Gemma-3 GGUF file loads as "gemma3_text" (Gemma3ForCausalLM).
MLP_LAYOUTS: dict[str, MLPLayout] = {
    "gpt2": _GPT2,  # PolyLM is a GPT-2
    "bloom": _H4H,
    "gpt_neox": _H4H,
    "llama": _GATED,
    "mistral": _GATED,
    "qwen2": _GATED,
    "qwen3": _GATED,
    "gemma": _GATED,
    "gemma2": _GATED,
    "gemma3_text": _GATED,
    "cohere": _GATED,  # Aya 23
    "cohere2": _GATED,
    "xglm": _FC,
    "opt": _FC,
}


def is_linear_like(module: torch.nn.Module) -> bool:
    """nn.Linear (quantized subclasses included) or GPT-2's transposed Conv1D."""
    return isinstance(module, torch.nn.Linear | Conv1D)


def linear_width(module: torch.nn.Module, side: Literal["out", "in"] = "out") -> int:
    """Channels of a Linear-like module's output or input (a Conv1D weight is [in, out])."""
    if isinstance(module, Conv1D):
        return int(module.weight.shape[1] if side == "out" else module.weight.shape[0])
    if isinstance(module, torch.nn.Linear):
        return int(module.out_features if side == "out" else module.in_features)
    raise TypeError(f"not a Linear-like module: {type(module).__name__}")


@dataclass(frozen=True)
class HookPoint:
    """One tensor we read or force: the output (forward hook) or input (pre-hook) of a module."""

    name: str
    module: str
    side: Literal["out", "in"]
    width: int
    layer: int
    kind: str


@dataclass(frozen=True)
class UnitSet:
    """Ordered hook points; unit i is global column i of the [sentences x units] response matrix."""

    spec: str
    hook_points: tuple[HookPoint, ...]

    @cached_property
    def widths(self) -> np.ndarray:
        w = np.array([hp.width for hp in self.hook_points], dtype=np.int64)
        w.flags.writeable = False
        return w

    @cached_property
    def offsets(self) -> np.ndarray:
        """Start column of each hook point (cached: locate() is called per batch of indices)."""
        off = np.zeros(len(self.hook_points), dtype=np.int64)
        if len(self.hook_points) > 1:
            off[1:] = np.cumsum(self.widths)[:-1]
        off.flags.writeable = False
        return off

    @property
    def n_units(self) -> int:
        return int(self.widths.sum())

    def __len__(self) -> int:
        return self.n_units

    @cached_property
    def _hp_index(self) -> dict[str, int]:
        return {hp.name: i for i, hp in enumerate(self.hook_points)}

    def locate(self, indices: Any) -> tuple[np.ndarray, np.ndarray]:
        """Global unit indices -> (hook point index, channel), vectorised."""
        idx = np.asarray(indices, dtype=np.int64)
        if idx.size and (idx.min() < 0 or idx.max() >= self.n_units):
            bad = idx[(idx < 0) | (idx >= self.n_units)].ravel()[:5].tolist()
            raise IndexError(f"unit indices out of range [0, {self.n_units}): {bad}")
        hp = np.searchsorted(self.offsets, idx, side="right") - 1
        return hp, idx - self.offsets[hp]

    def unit_name(self, i: int) -> str:
        hp, ch = self.locate(int(i))
        return f"{self.hook_points[int(hp)].name}:{int(ch)}"

    def names(self) -> list[str]:
        return [f"{hp.name}:{c}" for hp in self.hook_points for c in range(hp.width)]

    def index_of(self, names: str | list[str] | tuple[str, ...]) -> np.ndarray:
        """Unit names -> global indices (inverse of unit_name)."""
        if isinstance(names, str):
            names = [names]
        out = np.empty(len(names), dtype=np.int64)
        for k, name in enumerate(names):
            hp_name, _, ch = name.rpartition(":")
            i = self._hp_index.get(hp_name)
            if i is None or not ch.isdigit() or int(ch) >= self.hook_points[i].width:
                known = ", ".join(hp.name for hp in self.hook_points[:3])
                raise KeyError(
                    f"unknown unit {name!r} for unit set {self.spec!r} "
                    f"({len(self.hook_points)} hook points, e.g. {known}, ...)"
                )
            out[k] = self.offsets[i] + int(ch)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "spec": self.spec,
            "n_units": self.n_units,
            "hook_points": [asdict(hp) for hp in self.hook_points],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> UnitSet:
        hps = tuple(HookPoint(**hp) for hp in d["hook_points"])
        return cls(spec=d["spec"], hook_points=hps)

    def summary(self) -> dict[str, Any]:
        """Unit counts by layer and by kind, for logs and result files."""
        by_layer: Counter[int] = Counter()
        by_kind: Counter[str] = Counter()
        for hp in self.hook_points:
            by_layer[hp.layer] += hp.width
            by_kind[hp.kind] += hp.width
        return {
            "spec": self.spec,
            "n_units": self.n_units,
            "n_hook_points": len(self.hook_points),
            "by_layer": dict(sorted(by_layer.items())),
            "by_kind": dict(by_kind),
        }


def _text_config(model: torch.nn.Module) -> Any:
    cfg = model.config
    return cfg.get_text_config() if hasattr(cfg, "get_text_config") else cfg


def _n_layers(model: torch.nn.Module) -> int | None:
    cfg = _text_config(model)
    for key in ("num_hidden_layers", "n_layer", "num_layers"):
        n = getattr(cfg, key, None)
        if isinstance(n, int):
            return n
    return None


def decoder_blocks(model: torch.nn.Module) -> list[tuple[str, torch.nn.Module]]:
    """The decoder blocks as (path, module): the first ModuleList of config.num_hidden_layers
    entries that holds Linear-like modules. Generic, so new architectures need no code here."""
    n = _n_layers(model)
    for path, mod in model.named_modules():
        if not isinstance(mod, torch.nn.ModuleList) or len(mod) == 0:
            continue
        if n is not None and len(mod) != n:
            continue
        if any(is_linear_like(m) for m in mod[0].modules()):
            return [(f"{path}.{i}", block) for i, block in enumerate(mod)]
    mt = getattr(_text_config(model), "model_type", "?")
    raise UnsupportedArchitectureError(
        f"could not find the decoder blocks of model_type {mt!r}: no nn.ModuleList of "
        f"num_hidden_layers={n} modules containing Linear layers"
    )


def _linears(block: torch.nn.Module, prefix: str) -> list[tuple[str, torch.nn.Module]]:
    return [(f"{prefix}.{p}", m) for p, m in block.named_modules() if p and is_linear_like(m)]


def _fallback_layout(blocks: list[tuple[str, torch.nn.Module]]) -> MLPLayout | None:
    """Llama- or GPT-2-style MLP names under an ``mlp`` child of every block, else None."""
    for layout in (_GATED, _GPT2):
        ok = True
        for _, block in blocks:
            mlp = getattr(block, "mlp", None)
            if mlp is None or not all(
                is_linear_like(getattr(mlp, n, None)) for n in layout.linears
            ):
                ok = False
                break
        if ok:
            return layout
    return None


def mlp_layout(model: torch.nn.Module) -> MLPLayout:
    """The MLP layout for this model: table entry by model_type, or the Llama/GPT-2 fallback."""
    blocks = decoder_blocks(model)
    mt = getattr(_text_config(model), "model_type", None)
    layout = MLP_LAYOUTS.get(mt) or _fallback_layout(blocks)
    if layout is None:
        found = [p for p, _ in _linears(blocks[0][1], blocks[0][0])]
        listing = "\n  ".join(found) if found else "(none)"
        raise UnsupportedArchitectureError(
            f"model_type {mt!r} is not in langsteer's MLP table and its blocks have no "
            f"'mlp' child with gate_proj/up_proj/down_proj (or c_fc/c_proj).\n"
            f"Linear-like modules in block 0:\n  {listing}\n"
            f"Select units with a regex over module paths instead, e.g. "
            f"--units 're:layers\\.\\d+\\.mlp\\.' (spec 're:<regex>', matched with re.search)."
        )
    return layout


def _block_mlp(block: torch.nn.Module, layout: MLPLayout, path: str, mt: Any) -> torch.nn.Module:
    mlp = block if layout.mlp is None else getattr(block, layout.mlp, None)
    if mlp is None or not all(is_linear_like(getattr(mlp, n, None)) for n in layout.linears):
        raise UnsupportedArchitectureError(
            f"block {path} of model_type {mt!r} lacks the expected MLP modules "
            f"{layout.mlp or '<block>'}.{{{', '.join(layout.linears)}}}"
        )
    return mlp


def _hook_point(path: str, module: torch.nn.Module, side: str, layer: int, kind: str) -> HookPoint:
    return HookPoint(
        name=f"{path}:{side}",
        module=path,
        side=side,  # type: ignore[arg-type]
        width=linear_width(module, side),  # type: ignore[arg-type]
        layer=layer,
        kind=kind,
    )


def resolve_units(model: torch.nn.Module, spec: str = "mlp") -> UnitSet:
    """Discover the hook points of a unit set on a model (module paths relative to ``model``).

    Specs: ``mlp`` (outputs of every Linear in each block's MLP), ``mlp-act`` (input of the MLP
    down projection), ``linear`` (every Linear output in the blocks, never the LM head),
    ``re:<regex>`` (outputs of Linear-like modules in the blocks whose path matches re.search).
    Hook points are ordered by layer, then by module registration order inside the block.
    """
    if spec not in ("mlp", "mlp-act", "linear") and not spec.startswith("re:"):
        raise ValueError(f"unknown unit spec {spec!r}; expected one of {', '.join(UNIT_SPECS)}")
    blocks = decoder_blocks(model)
    mt = getattr(_text_config(model), "model_type", None)
    hps: list[HookPoint] = []
    if spec in ("mlp", "mlp-act"):
        layout = mlp_layout(model)
        for layer, (bpath, block) in enumerate(blocks):
            mlp = _block_mlp(block, layout, bpath, mt)
            mpath = bpath if layout.mlp is None else f"{bpath}.{layout.mlp}"
            if spec == "mlp-act":
                down = getattr(mlp, layout.down)
                hps.append(_hook_point(f"{mpath}.{layout.down}", down, "in", layer, "act"))
                continue
            wanted = set(layout.linears)
            for rel, mod in mlp.named_modules():
                if rel in wanted and is_linear_like(mod):
                    hps.append(_hook_point(f"{mpath}.{rel}", mod, "out", layer, rel))
        return UnitSet(spec=spec, hook_points=tuple(hps))

    pattern = None
    if spec.startswith("re:"):
        try:
            pattern = re.compile(spec[3:])
        except re.error as e:
            raise ValueError(f"invalid unit regex {spec[3:]!r}: {e}") from e
    for layer, (bpath, block) in enumerate(blocks):
        for path, mod in _linears(block, bpath):
            if pattern is None or pattern.search(path):
                hps.append(_hook_point(path, mod, "out", layer, path.rsplit(".", 1)[-1]))
    if not hps:
        example = [p for p, _ in _linears(blocks[0][1], blocks[0][0])][:6]
        raise ValueError(
            f"unit regex {spec[3:]!r} matches no Linear-like module in the decoder blocks; "
            f"block 0 has e.g. {example}"
        )
    return UnitSet(spec=spec, hook_points=tuple(hps))
