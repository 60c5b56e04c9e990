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
from langsteer.methods.lape import LAPE
from langsteer.methods.probe import Need, ProbeData
from langsteer.methods.residual import SteeringVector
from langsteer.methods.sparse import SparseDims
from langsteer.methods.subspace import LIR, LSAR, LinearMap

__all__ = [
    "LAPE",
    "LIR",
    "LSAR",
    "METHODS",
    "Edit",
    "EmbeddingMethod",
    "ExpertForcing",
    "GlobalCentring",
    "HookSet",
    "Identity",
    "Intervention",
    "LinearMap",
    "Method",
    "MethodError",
    "ModelMethod",
    "Need",
    "PerLanguageCentring",
    "ProbeData",
    "RandomUnits",
    "SparseDims",
    "SteeringVector",
    "Whitening",
    "fit_whitening",
    "intervene",
    "make_method",
    "register",
]
