"""Embedding methods that remove or map away language-specific directions.

Each is fitted on the held-out split of a space (``{language: (n, d)}``, rows aligned across
languages) and applied to the evaluated sentences; the model is never touched.

- ``lsar`` (Xie et al., EMNLP 2022): the language means, centred on their average, span a
  low-rank "language subspace"; its top-``rank`` left singular vectors ``U`` are projected out of
  every embedding, ``x -> x - U U^T x``. Centring first follows their Algorithm 1: the average of
  the means is the component every language shares, not language identity (uncentred, the top
  singular vector is that shared anisotropic direction). Their second step re-estimates the
  shared component orthogonal to ``U`` and takes a second SVD; the matrix it decomposes has
  its columns in span(``U``), so the subspace is the same and we skip it.
- ``lir`` (Yang et al., EMNLP 2021, "language information removal"): each language's own
  top-``rank`` principal directions (right singular vectors of its *uncentred* embedding matrix,
  as in their code: the top one is mostly the language's mean direction) are projected out of
  that language's embeddings.
- ``linear-map`` (an INCLINE-style map, ACL 2025): for every language but the ``pivot``, a ridge
  least-squares affine map onto the pivot fitted on parallel rows (row i of every language is a
  translation of row i of the pivot), so it is **supervised**; the pivot is left as it is.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from langsteer.languages import normalize_language
from langsteer.methods.base import MethodError, register
from langsteer.methods.embedding import EmbeddingParams, EmbeddingTransform, _f64, check_space

__all__ = ["LIR", "LSAR", "LinearMap", "RidgeMap", "fit_ridge", "language_subspace"]

Space = Mapping[str, np.ndarray]
_TINY = 1e-10  # singular values below this share of the largest span no direction


def _positive_int(method: EmbeddingTransform, name: str, allow_none: bool = False) -> None:
    value = getattr(method.params, name)
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        none = " or none" if allow_none else ""
        raise MethodError(f"method {method.name!r}: {name} must be an integer >= 1{none}")


def _project_out(x: np.ndarray, basis: np.ndarray) -> np.ndarray:
    """``x - (x B^T) B`` for orthonormal rows ``B`` (r, d)."""
    return x - (x @ basis.T) @ basis


def _hash(*arrays: np.ndarray) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a, dtype=np.float64).tobytes())
    return h.hexdigest()[:16]


def language_subspace(means: np.ndarray, rank: int | None) -> tuple[np.ndarray, np.ndarray]:
    """``(basis (r, d) orthonormal rows, singular values)`` of the centred ``(L, d)`` means.

    ``rank`` None = every direction in which the means differ (at most L - 1).
    """
    m = np.asarray(means, np.float64)
    n_lang = m.shape[0]
    if n_lang < 2:
        raise ValueError("LSAR needs at least two languages to find a language subspace")
    if rank is not None and rank > n_lang - 1:
        raise ValueError(
            f"LSAR rank {rank} is more than the {n_lang - 1} directions that {n_lang} centred "
            f"language means span; set [[methods]] rank to at most {n_lang - 1} (or none)"
        )
    _, s, vt = np.linalg.svd(m - m.mean(axis=0), full_matrices=False)
    spanned = int(np.sum(s > _TINY * s[0])) if s[0] > 0 else 0
    if spanned == 0:
        raise ValueError("LSAR: every language has the same mean; there is no language subspace")
    r = spanned if rank is None else rank
    if r > spanned:
        raise ValueError(
            f"LSAR rank {r}: the language means differ in only {spanned} directions; lower "
            "[[methods]] rank"
        )
    return vt[:r], s


@dataclass(frozen=True)
class LSARParams(EmbeddingParams):
    rank: int | None = None  # None: every direction the centred means span (languages - 1)


@register
class LSAR(EmbeddingTransform):
    """Project out the rank-r span of the (centred) language means."""

    name = "lsar"
    summary = (
        "top-r left singular vectors of the centred per-language mean embeddings projected out "
        "of every embedding (LSAR, Xie et al. EMNLP 2022)"
    )
    Params = LSARParams

    def check_params(self) -> None:
        super().check_params()
        _positive_int(self, "rank", allow_none=True)

    def fit(self, space: Space) -> LSAR:
        langs = check_space(space)
        means = np.stack([_f64(space[lang]).mean(axis=0) for lang in langs])
        self.basis_, s = language_subspace(means, self.params.rank)
        self.languages_ = langs
        self.singular_values_ = [float(x) for x in s]
        total = float(np.sum(s**2))
        self.spread_share_ = float(np.sum(s[: len(self.basis_)] ** 2) / total)
        return self

    def transform(self, space: Space) -> dict[str, np.ndarray]:
        self._check_fitted()
        return {
            lang: _project_out(_f64(space[lang]), self.basis_).astype(np.float32)
            for lang in check_space(space)
        }

    def describe(self) -> dict[str, Any]:
        out = super().describe()
        if hasattr(self, "basis_"):
            out["fitted"] = {
                "rank": int(self.basis_.shape[0]),
                "means": "centred on their average before the SVD",
                "languages": self.languages_,
                "singular_values": self.singular_values_,
                "spread_share": self.spread_share_,
                "basis_hash": _hash(self.basis_),
            }
        return out


@dataclass(frozen=True)
class LIRParams(EmbeddingParams):
    rank: int = 1  # principal directions removed per language (Yang et al.: 1 works best)


@register
class LIR(EmbeddingTransform):
    """Remove each language's own top principal directions from its embeddings."""

    name = "lir"
    summary = (
        "each language's own top-r principal directions (uncentred SVD of its embeddings) "
        "projected out of its embeddings (LIR, Yang et al. EMNLP 2021)"
    )
    Params = LIRParams

    def check_params(self) -> None:
        super().check_params()
        _positive_int(self, "rank")

    def fit(self, space: Space) -> LIR:
        r = self.params.rank
        self.bases_: dict[str, np.ndarray] = {}
        self.removed_share_: dict[str, float] = {}
        for lang in check_space(space):
            x = _f64(space[lang])
            if r > min(x.shape):
                raise ValueError(
                    f"LIR rank {r} needs at least {r} fit sentences per language ({lang} has "
                    f"{x.shape[0]} of dimension {x.shape[1]}); lower [[methods]] rank or raise "
                    "corpus.n_center"
                )
            _, s, vt = np.linalg.svd(x, full_matrices=False)
            self.bases_[lang] = vt[:r]
            total = float(np.sum(s**2))
            self.removed_share_[lang] = float(np.sum(s[:r] ** 2) / total) if total > 0 else 0.0
        return self

    def transform(self, space: Space) -> dict[str, np.ndarray]:
        self._check_fitted()
        langs = check_space(space)
        missing = [lang for lang in langs if lang not in self.bases_]
        if missing:
            raise ValueError(f"LIR has no fitted directions for {missing}")
        return {
            lang: _project_out(_f64(space[lang]), self.bases_[lang]).astype(np.float32)
            for lang in langs
        }

    def describe(self) -> dict[str, Any]:
        out = super().describe()
        if hasattr(self, "bases_"):
            out["fitted"] = {
                "centred": False,
                "languages": list(self.bases_),
                "removed_share": self.removed_share_,
                "bases_hash": _hash(*self.bases_.values()),
            }
        return out


@dataclass(frozen=True)
class RidgeMap:
    """``x -> (x - mean_in) @ left @ right + mean_out``: a fitted affine ridge map.

    Stored factored (``left`` (d, m), ``right`` (m, d), m = min(n, d)) so it costs O(n d), not
    O(d^2), when there are fewer fit rows than dimensions.
    """

    mean_in: np.ndarray
    mean_out: np.ndarray
    left: np.ndarray
    right: np.ndarray
    penalty: float
    r2: float  # share of the centred target rows' variance the map explains on its fit rows

    def apply(self, x: np.ndarray) -> np.ndarray:
        return ((_f64(x) - self.mean_in) @ self.left) @ self.right + self.mean_out


def _ridge_solve(gram: np.ndarray, rhs: np.ndarray, penalty: float) -> np.ndarray:
    """``(gram + penalty I)^-1 rhs``; the pseudo-inverse (minimum-norm least squares) at 0."""
    if penalty > 0:
        return np.linalg.solve(gram + penalty * np.eye(gram.shape[0]), rhs)
    return np.linalg.pinv(gram, hermitian=True) @ rhs


def fit_ridge(x: np.ndarray, y: np.ndarray, alpha: float) -> RidgeMap:
    """Ridge least squares of centred ``y`` on centred ``x`` (rows paired), intercept free.

    The penalty is ``alpha`` times the mean nonzero eigenvalue of the centred ``x``'s Gram
    matrix (``||x_c||_F^2 / min(n - 1, d)``), so one ``alpha`` means the same at every layer
    and embedding scale; ``alpha = 0`` is the minimum-norm least-squares map.
    """
    x, y = _f64(x), _f64(y)
    n, d = x.shape
    if n < 2:
        raise ValueError("a linear map needs at least two fit rows per language")
    mx, my = x.mean(axis=0), y.mean(axis=0)
    xc, yc = x - mx, y - my
    scale = float(np.einsum("ij,ij->", xc, xc)) / min(n - 1, d)  # centred: rank <= n - 1
    if not scale > 0:
        raise ValueError("a linear map needs fit rows that differ (all rows are the same)")
    penalty = alpha * scale
    if n < d:  # dual form: W = xc^T (xc xc^T + p I)^-1 yc
        left, right = xc.T, _ridge_solve(xc @ xc.T, yc, penalty)
    else:
        left, right = _ridge_solve(xc.T @ xc, xc.T @ yc, penalty), np.eye(d)
    fitted = (xc @ left) @ right
    total = float(np.einsum("ij,ij->", yc, yc))
    r2 = 1.0 - float(np.sum((yc - fitted) ** 2)) / total if total > 0 else 0.0
    return RidgeMap(mx, my, left, right, penalty, r2)


@dataclass(frozen=True)
class LinearMapParams(EmbeddingParams):
    pivot: str | None = None  # None: English (eng_Latn) when present, else the first language
    alpha: float = 0.1  # ridge penalty, relative to the fit rows' mean eigenvalue


@register
class LinearMap(EmbeddingTransform):
    """Map every language onto a pivot language by ridge least squares (SUPERVISED)."""

    name = "linear-map"
    summary = (
        "SUPERVISED: per-language ridge least-squares affine map onto a pivot language, fitted "
        "on parallel held-out sentences (an INCLINE-style map, ACL 2025)"
    )
    Params = LinearMapParams
    supervised = True
    DEFAULT_PIVOT = "eng_Latn"

    def check_params(self) -> None:
        super().check_params()
        p = self.params
        if p.pivot is not None:
            if not isinstance(p.pivot, str):
                raise MethodError(f"method {self.name!r}: pivot must be a language code")
            try:
                normalize_language(p.pivot)
            except ValueError as exc:
                raise MethodError(f"method {self.name!r}: pivot {p.pivot!r}: {exc}") from None
        if isinstance(p.alpha, bool) or not isinstance(p.alpha, int | float) or p.alpha < 0:
            raise MethodError(f"method {self.name!r}: alpha must be a number >= 0, got {p.alpha!r}")

    def _pivot(self, langs: list[str]) -> str:
        if self.params.pivot is None:
            return self.DEFAULT_PIVOT if self.DEFAULT_PIVOT in langs else langs[0]
        pivot = normalize_language(self.params.pivot)
        if pivot not in langs:
            raise ValueError(
                f"linear-map pivot {pivot} is not an evaluated language {langs}; set "
                "[[methods]] pivot to one of them"
            )
        return pivot

    def fit(self, space: Space) -> LinearMap:
        langs = check_space(space)
        if len(langs) < 2:
            raise ValueError("a linear map needs a pivot and at least one other language")
        pivot = self._pivot(langs)
        y = space[pivot]
        self.pivot_ = pivot
        self.maps_ = {
            lang: fit_ridge(space[lang], y, float(self.params.alpha))
            for lang in langs
            if lang != pivot
        }
        return self

    def transform(self, space: Space) -> dict[str, np.ndarray]:
        self._check_fitted()
        langs = check_space(space)
        missing = [lang for lang in langs if lang != self.pivot_ and lang not in self.maps_]
        if missing:
            raise ValueError(f"no linear map fitted for {missing}")
        return {
            lang: (
                _f64(space[lang]) if lang == self.pivot_ else self.maps_[lang].apply(space[lang])
            ).astype(np.float32)
            for lang in langs
        }

    def describe(self) -> dict[str, Any]:
        out = {**super().describe(), "supervised": True}
        if hasattr(self, "maps_"):
            out["fitted"] = {
                "pivot": self.pivot_,
                "fitted_on": "parallel rows (translations) of the fit split",
                "alpha_means": "ridge penalty / mean nonzero eigenvalue of the centred fit rows",
                "per_language": {
                    lang: {"penalty": m.penalty, "fit_r2": m.r2} for lang, m in self.maps_.items()
                },
                "maps_hash": _hash(*(a for m in self.maps_.values() for a in (m.left, m.right))),
            }
        return out
