"""Methods that align languages: model methods change the forward pass, embedding methods
transform its sentence embeddings. Every built-in method registers itself here by name; a study
lists them as data (``[[methods]]`` tables)."""

from langsteer.methods.base import (
    METHODS,
    EmbeddingMethod,
    Method,
    MethodError,
    ModelMethod,
    make_method,
    register,
)
from langsteer.methods.embedding import (
    GlobalCentring,
    Identity,
    PerLanguageCentring,
    Whitening,
    fit_whitening,
)
from langsteer.methods.forcing import ExpertForcing, Intervention, RandomUnits, intervene
from langsteer.methods.hooks import Edit, HookSet
from langsteer.methods.probe import Need, ProbeData
from langsteer.methods.residual import SteeringVector

__all__ = [
    "METHODS",
    "Edit",
    "EmbeddingMethod",
    "ExpertForcing",
    "GlobalCentring",
    "HookSet",
    "Identity",
    "Intervention",
    "Method",
    "MethodError",
    "ModelMethod",
    "Need",
    "PerLanguageCentring",
    "ProbeData",
    "RandomUnits",
    "SteeringVector",
    "Whitening",
    "fit_whitening",
    "intervene",
    "make_method",
    "register",
]
