"""The method interface: two kinds, one registry, parameters as data.

A **model method** changes the model: ``fit(probe, target)`` learns from the probing (expert)
split, ``attach(loaded)`` returns a :class:`~langsteer.methods.hooks.HookSet` (a context
manager) under which every forward pass is changed. Expert forcing, random units and the
steering vector are model methods.

An **embedding method** leaves the model alone and changes its sentence embeddings:
``fit(space)`` learns from held-out embeddings ``{language: (n, d)}`` (rows aligned across
languages), ``transform(space)`` maps any space. Centring and whitening are embedding methods.

Both follow scikit-learn: keyword parameters (a frozen ``Params`` dataclass per method, so a
study lists methods as data: ``[[methods]] name = "experts", k = 300``), ``fit()`` returns
``self``, learned state ends in ``_``, and ``describe()`` names everything that changes a number
(it feeds cache keys and result files). Adding a method is one module with one class decorated
by :func:`register`; ``docs/methods.md`` shows how.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

__all__ = [
    "METHODS",
    "EmbeddingMethod",
    "Method",
    "MethodError",
    "ModelMethod",
    "make_method",
    "register",
]

METHODS: dict[str, type[Method]] = {}


class MethodError(ValueError):
    """An unknown method, an unknown parameter or a bad parameter value."""


def register(cls: type[Method]) -> type[Method]:
    """Class decorator: make a method available by its ``name`` to studies and the CLI."""
    if cls.name in METHODS and METHODS[cls.name] is not cls:
        raise MethodError(f"two methods are called {cls.name!r}")
    METHODS[cls.name] = cls
    return cls


_TYPES: dict[str, tuple[type, ...]] = {
    "int": (int, np.integer),
    "float": (int, float, np.integer, np.floating),
    "str": (str,),
    "bool": (bool,),
    "None": (type(None),),
}


def _wrong_type(name: str, value: Any, annotation: Any) -> str | None:
    """Why ``value`` does not fit a ``Params`` annotation such as ``"int | None"`` (None if it
    does): study files hand method parameters over untyped. ``True`` is no number."""
    allowed = [a.strip() for a in str(annotation).split("|")]
    if not all(a in _TYPES for a in allowed):
        return None  # an annotation this check does not know: the method's check_params decides
    for a in allowed:
        if isinstance(value, _TYPES[a]) and not (a != "bool" and isinstance(value, bool)):
            return None
    return f"{name} must be {' or '.join(allowed)}, got {value!r}"


class Method:
    """What every method has: a registry ``name``, a ``kind``, validated ``Params``."""

    name: ClassVar[str]
    kind: ClassVar[str]
    summary: ClassVar[str] = ""  # one line: what it does and its source
    Params: ClassVar[type]
    #: parameters whose default is part of the method's definition (LAPE's ``units``): a study
    #: section key of the same name does not replace it; a ``[[methods]]`` entry still can
    own_defaults: ClassVar[tuple[str, ...]] = ()

    def __init__(self, **params: Any) -> None:
        fields = {f.name for f in dataclasses.fields(self.Params)}
        unknown = sorted(set(params) - fields)
        if unknown:
            raise MethodError(
                f"method {self.name!r} has no parameter(s) {unknown}; it takes {sorted(fields)}"
            )
        # NumPy scalars (a layer chosen by argmax) as plain Python: describe() must be JSON
        params = {k: v.item() if isinstance(v, np.generic) else v for k, v in params.items()}
        try:
            self.params = self.Params(**params)
        except (TypeError, ValueError) as exc:
            raise MethodError(f"method {self.name!r}: {exc}") from exc
        for f in dataclasses.fields(self.params):
            value = getattr(self.params, f.name)
            wrong = _wrong_type(f.name, value, f.type)
            if wrong:
                raise MethodError(f"method {self.name!r}: {wrong}")
            if isinstance(value, float) and not math.isfinite(value):
                raise MethodError(f"method {self.name!r}: {f.name} must be finite, got {value}")
        self.check_params()

    def check_params(self) -> None:
        """Refuse values the dataclass types cannot express (override in subclasses)."""

    def get_params(self) -> dict[str, Any]:
        return dataclasses.asdict(self.params)

    def describe(self) -> dict[str, Any]:
        """Everything that changes this method's numbers: parameters and learned state."""
        return {"method": self.name, "kind": self.kind, **self.get_params()}

    def _check_fitted(self) -> None:
        if not any(k.endswith("_") and not k.startswith("_") for k in vars(self)):
            raise ValueError(f"method {self.name!r} is not fitted; call fit(...) first")

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"


class ModelMethod(Method):
    """Changes the model's forward pass; fitted per target language on the probing split."""

    kind: ClassVar[str] = "model"

    def needs(self) -> list[Any]:
        """What the probing pass must record for :meth:`fit` (``probe.Need`` s)."""
        return []

    def check_model(self, loaded: Any) -> None:
        """Refuse parameters this model cannot take (a layer it lacks...), before any pass."""

    def fit(self, probe: Any, target: str) -> ModelMethod:
        raise NotImplementedError

    def attach(self, loaded: Any) -> Any:
        """Attach now; returns a :class:`~langsteer.methods.hooks.HookSet`."""
        raise NotImplementedError


class EmbeddingMethod(Method):
    """Transforms sentence embeddings; fitted on held-out embeddings of the same space."""

    kind: ClassVar[str] = "embedding"
    supervised: ClassVar[bool] = False  # uses translations (parallel rows) to fit

    def fit(self, space: Mapping[str, np.ndarray]) -> EmbeddingMethod:
        raise NotImplementedError

    def transform(self, space: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def fit_transform(self, fit_on: Mapping[str, np.ndarray], space: Mapping[str, np.ndarray]):
        return self.fit(fit_on).transform(space)


def make_method(name: str, **params: Any) -> Method:
    """A method by registry name, e.g. ``make_method("experts", k=300)``."""
    from langsteer import methods as _  # noqa: F401  (registers the built-in methods)

    if name not in METHODS:
        raise MethodError(f"unknown method {name!r}; known: {', '.join(sorted(METHODS))}")
    return METHODS[name](**params)
