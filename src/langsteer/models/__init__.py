"""Loading models, discovering their units (hook points), and tiny random-weight test models."""

from .loading import (
    LoadedModel,
    base_model,
    from_pretrained_objects,
    load_model,
    resolve_device,
    resolve_dtype,
)
from .tiny import SUPPORTED_ARCHITECTURES, plant_language_unit, tiny_model, tiny_tokenizer
from .units import (
    MLP_LAYOUTS,
    HookPoint,
    UnitSet,
    UnsupportedArchitectureError,
    decoder_blocks,
    resolve_units,
)

__all__ = [
    "MLP_LAYOUTS",
    "SUPPORTED_ARCHITECTURES",
    "HookPoint",
    "LoadedModel",
    "UnitSet",
    "UnsupportedArchitectureError",
    "base_model",
    "decoder_blocks",
    "from_pretrained_objects",
    "load_model",
    "plant_language_unit",
    "resolve_device",
    "resolve_dtype",
    "resolve_units",
    "tiny_model",
    "tiny_tokenizer",
]
