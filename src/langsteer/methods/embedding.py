"""Embedding methods: transform sentence embeddings, leave the model untouched.

Each is fitted on held-out embeddings of a space (``{language: (n, d)}``, rows aligned across
languages; never the evaluated sentences unless ``fit_on = "evaluated"``, which the results
label *in-sample*) and applied to the evaluated ones:

- ``none``: the embeddings as they are (raw);
- ``global-centring``: subtract one mean over all languages (anisotropy; cannot align languages);
- ``per-language-centring``: subtract each language's own mean (removes language offsets; the
  control that a raw retrieval gain after an intervention must beat);
- ``whitening``: ZCA whitening, mean and covariance pooled over the languages, covariance shrunk
  towards a scaled identity (Ledoit-Wolf by default) so it is defined with fewer sentences than
  dimensions (Su et al. 2021 for sentence embeddings).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from langsteer.methods.base import EmbeddingMethod, MethodError, register

__all__ = [
    "FIT_ON",
    "SHRINKAGE_FLOOR",
    "EmbeddingParams",
    "EmbeddingTransform",
    "GlobalCentring",
    "Identity",
    "PerLanguageCentring",
    "Whitening",
    "WhiteningMap",
    "check_space",
    "fit_whitening",
    "ledoit_wolf_shrinkage",
]

FIT_ON = ("heldout", "evaluated")
# With shrinkage 0 the directions no estimate spans (n <= d) would get an infinite scale: floor it.
SHRINKAGE_FLOOR = 1e-3
Space = Mapping[str, np.ndarray]


def check_space(space: Space) -> list[str]:
    """Languages of an ``{language: (n, d)}`` space; refuses misaligned or empty input."""
    langs = list(space)
    if not langs:
        raise ValueError("no languages given")
    shapes = {lang: np.shape(space[lang]) for lang in langs}
    first = shapes[langs[0]]
    if len(first) != 2 or first[0] == 0:
        raise ValueError(f"expected non-empty (n, d) arrays per language, got {first}")
    bad = {lang: s for lang, s in shapes.items() if s != first}
    if bad:
        raise ValueError(f"rows must be aligned across languages: {langs[0]} has {first}, {bad}")
    return langs


def _f64(x: Any) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


@dataclass(frozen=True)
class EmbeddingParams:
    fit_on: str = "heldout"  # "evaluated" = in-sample: labelled, never a fair baseline


class EmbeddingTransform(EmbeddingMethod):
    """An embedding method with the ``fit_on`` parameter every study reads: subclass this."""

    Params = EmbeddingParams

    def check_params(self) -> None:
        if self.params.fit_on not in FIT_ON:
            raise MethodError(f"method {self.name!r}: fit_on must be one of {FIT_ON}")


@register
class Identity(EmbeddingTransform):
    """The embeddings as they are."""

    name = "none"
    summary = "raw sentence embeddings (mean of a layer's hidden states over the tokens)"

    def fit(self, space: Space) -> Identity:
        self.fitted_ = True
        return self

    def transform(self, space: Space) -> dict[str, np.ndarray]:
        return {lang: np.asarray(space[lang], dtype=np.float32) for lang in check_space(space)}


@register
class GlobalCentring(EmbeddingTransform):
    """Subtract the mean over every language's fit rows."""

    name = "global-centring"
    summary = "one mean over all languages subtracted (anisotropy removal)"

    def fit(self, space: Space) -> GlobalCentring:
        langs = check_space(space)
        self.mean_ = np.concatenate([_f64(space[lang]) for lang in langs]).mean(axis=0)
        return self

    def transform(self, space: Space) -> dict[str, np.ndarray]:
        self._check_fitted()
        return {
            lang: (_f64(space[lang]) - self.mean_).astype(np.float32) for lang in check_space(space)
        }


@register
class PerLanguageCentring(EmbeddingTransform):
    """Subtract each language's own mean."""

    name = "per-language-centring"
    summary = "each language's mean subtracted (language-offset removal; a fair control)"

    def fit(self, space: Space) -> PerLanguageCentring:
        self.means_ = {lang: _f64(space[lang]).mean(axis=0) for lang in check_space(space)}
        return self

    def transform(self, space: Space) -> dict[str, np.ndarray]:
        self._check_fitted()
        missing = [lang for lang in check_space(space) if lang not in self.means_]
        if missing:
            raise ValueError(f"no mean fitted for {missing}")
        return {lang: (_f64(x) - self.means_[lang]).astype(np.float32) for lang, x in space.items()}


@dataclass(frozen=True)
class WhiteningParams(EmbeddingParams):
    shrinkage: float | str = "ledoit-wolf"


@register
class Whitening(EmbeddingTransform):
    """Shrunk ZCA whitening pooled over the languages (no language labels used)."""

    name = "whitening"
    summary = (
        "ZCA whitening, covariance shrunk towards a scaled identity (Ledoit-Wolf), pooled over "
        "languages (anisotropy removal beyond centring; Su et al. 2021)"
    )
    Params = WhiteningParams

    def check_params(self) -> None:
        super().check_params()
        s = self.params.shrinkage
        if s != "ledoit-wolf" and not (isinstance(s, int | float) and 0.0 <= float(s) <= 1.0):
            raise MethodError("whitening shrinkage must be 'ledoit-wolf' or a number in [0, 1]")

    def fit(self, space: Space) -> Whitening:
        self.map_ = fit_whitening(space, shrinkage=self.params.shrinkage)
        return self

    def transform(self, space: Space) -> dict[str, np.ndarray]:
        self._check_fitted()
        return self.map_.apply(space)

    def describe(self) -> dict[str, Any]:
        out = super().describe()
        if hasattr(self, "map_"):
            out["fitted"] = self.map_.describe()
        return out


@dataclass(frozen=True)
class WhiteningMap:
    """A fitted, shrunk ZCA whitening ``x -> W (x - mean)``; apply it with :meth:`apply`.

    ``W = C_s^{-1/2}`` with ``C_s = (1 - a) C + a m I`` (``C`` the pooled sample covariance, ``m``
    its mean eigenvalue ``tr(C) / d``, ``a`` = ``shrinkage``). ``C_s`` is full rank for any
    ``a > 0``, so whitening is defined when ``n < d``: the ``r = min(n, d)`` sample principal
    directions (``components``) are rescaled by ``1 / sqrt((1 - a) lambda_i + a m)`` and
    everything orthogonal to them by ``1 / sqrt(a m)``.
    """

    mean: np.ndarray  # (d,)
    components: np.ndarray  # (r, d), orthonormal rows
    scales: np.ndarray  # (r,)
    rest_scale: float
    shrinkage: float
    shrinkage_method: str
    n: int

    def apply(self, space: Space) -> dict[str, np.ndarray]:
        """Whitened float32 copies of every language (inputs untouched)."""
        d = self.mean.shape[0]
        out = {}
        for lang in check_space(space):
            z = _f64(space[lang]) - self.mean
            if z.shape[1] != d:
                raise ValueError(f"whitening fitted on d={d}, {lang!r} has d={z.shape[1]}")
            proj = z @ self.components.T
            white = self.rest_scale * z + (proj * (self.scales - self.rest_scale)) @ self.components
            out[lang] = white.astype(np.float32)
        return out

    def describe(self) -> dict[str, Any]:
        return {
            "kind": "ZCA, shrunk towards a scaled identity",
            "shrinkage": self.shrinkage,
            "shrinkage_method": self.shrinkage_method,
            "shrinkage_floor": SHRINKAGE_FLOOR,
            "n": self.n,
            "d": int(self.mean.shape[0]),
            "rank": int(self.components.shape[0]),
        }


def ledoit_wolf_shrinkage(z: np.ndarray) -> float:
    """Ledoit-Wolf shrinkage of centred rows ``z`` (n, d); scikit-learn's formula.

    O(min(n, d)^2 max(n, d)): ``||S||_F`` comes from the smaller of the Gram matrix ``z z^T`` and
    ``z^T z`` (equal Frobenius norms), so it stays cheap when ``n << d`` (scikit-learn's is
    O(n d^2); see docs/design.md "Hand-written or library").
    """
    n, d = z.shape
    small = z @ z.T if n <= d else z.T @ z
    sq_norms = np.einsum("ij,ij->i", z, z)
    mu = float(sq_norms.sum()) / (n * d)  # tr(S) / d, S = z^T z / n
    s_fro2 = float((small**2).sum()) / n**2  # ||S||_F^2
    beta = (float((sq_norms**2).sum()) / n - s_fro2) / (d * n)
    delta = (s_fro2 - d * mu**2) / d
    if delta <= 0:
        return 1.0  # already a scaled identity
    return float(min(max(beta, 0.0), delta) / delta)


def _principal_directions(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Squared singular values and right singular vectors (rows) of ``z``, largest first.

    An eigendecomposition of the smaller of ``z z^T`` and ``z^T z``; directions with a squared
    singular value below 1e-12 of the largest are dropped (they fall in the shrunk remainder).
    """
    n, d = z.shape
    if n > d:
        sq, v = np.linalg.eigh(z.T @ z)
        order = np.argsort(sq)[::-1]
        return np.clip(sq[order], 0.0, None), v[:, order].T
    sq, u = np.linalg.eigh(z @ z.T)
    order = np.argsort(sq)[::-1]
    sq, u = sq[order], u[:, order]
    keep = sq > 1e-12 * max(float(sq[0]), 0.0)
    sq, u = sq[keep], u[:, keep]
    vt = (u.T @ z) / np.sqrt(sq)[:, None]
    return sq, vt


def fit_whitening(space: Space, *, shrinkage: float | str = "ledoit-wolf") -> WhiteningMap:
    """Shrunk ZCA whitening estimated on ``space`` only (give it a held-out split).

    ``shrinkage`` is a float in [0, 1] or ``"ledoit-wolf"`` (estimated from the same rows); the
    value used is floored at :data:`SHRINKAGE_FLOOR` so that it is defined for ``n < d``.
    """
    x = np.concatenate([_f64(space[lang]) for lang in check_space(space)])
    if x.shape[0] < 2:
        raise ValueError("whitening needs at least two rows")
    mean = x.mean(axis=0)
    z = x - mean
    n, d = z.shape
    if shrinkage == "ledoit-wolf":
        alpha, method = ledoit_wolf_shrinkage(z), "ledoit-wolf"
    elif isinstance(shrinkage, int | float) and not isinstance(shrinkage, bool):
        if not 0.0 <= float(shrinkage) <= 1.0:
            raise ValueError(f"shrinkage must be in [0, 1], got {shrinkage}")
        alpha, method = float(shrinkage), "fixed"
    else:
        raise ValueError(f"shrinkage must be a float in [0, 1] or 'ledoit-wolf', got {shrinkage!r}")
    alpha = max(alpha, SHRINKAGE_FLOOR)
    sq, vt = _principal_directions(z)
    eig = sq / n
    m = float(np.einsum("ij,ij->", z, z)) / (n * d)  # tr(C) / d
    if not m > 0:
        raise ValueError("whitening undefined: every row is the same vector")
    shrunk = (1.0 - alpha) * eig + alpha * m
    return WhiteningMap(
        mean=mean,
        components=vt,
        scales=1.0 / np.sqrt(shrunk),
        rest_scale=float(1.0 / np.sqrt(alpha * m)),
        shrinkage=alpha,
        shrinkage_method=method,
        n=int(n),
    )
