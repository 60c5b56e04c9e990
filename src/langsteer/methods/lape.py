"""LAPE: language activation probability entropy (Tang et al., ACL 2024), as a unit selection.

For every post-activation neuron and language l, ``p_l`` = the share of l's tokens on which the
neuron is positive (counted in the probing pass, no extra forward). Normalised over languages,
its entropy ``H`` is low for a neuron that fires for few languages. A neuron *belongs* to the
languages whose ``p_l`` reaches a high quantile of all the probabilities (0.95 by default, the
paper's filter). LAPE's neurons for a target t are then the lowest-entropy neurons that belong
to t; ``k`` of them are kept, like the top-k experts of AUROC.

As a ranking (an expert file keeps one score per unit): ``score = -H`` for neurons that belong
to t, and ``-H - log(G) - 1`` for all others, which puts every non-member below every member
(``H`` lies in ``[0, log G]``) while keeping the scores finite.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from langsteer.config import ExpertsConfig, InterventionConfig
from langsteer.methods.base import MethodError, register
from langsteer.methods.forcing import ExpertForcing, ExpertParams
from langsteer.methods.probe import Need

__all__ = ["LAPE", "lape_scores"]


def lape_scores(
    rates: np.ndarray, target: int, *, quantile: float = 0.95
) -> tuple[np.ndarray, dict[str, Any]]:
    """``(scores, record)`` from activation probabilities ``rates`` ``(G, units)``."""
    p = np.asarray(rates, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] < 2:
        raise ValueError(f"LAPE needs (languages >= 2, units) probabilities, got {p.shape}")
    if not 0.0 < quantile < 1.0:
        raise ValueError(f"LAPE quantile must be in (0, 1), got {quantile}")
    g = p.shape[0]
    total = p.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        q = np.where(total > 0, p / total, 1.0 / g)
        entropy = -np.sum(np.where(q > 0, q * np.log(q), 0.0), axis=0)
    threshold = float(np.quantile(p, quantile))
    belongs = (p[target] >= threshold) & (p[target] > 0)
    scores = np.where(belongs, -entropy, -entropy - np.log(g) - 1.0)
    record = {
        "quantile": quantile,
        "threshold": threshold,
        "n_members": int(belongs.sum()),
        "definition": "score = -entropy of the normalised per-language activation "
        "probabilities for neurons whose target probability reaches the threshold (the "
        "quantile of all probabilities); every other neuron ranks below them",
    }
    return scores, record


@dataclass(frozen=True)
class LAPEParams(ExpertParams):
    units: str = "mlp-act"
    score: str = "lape"
    value: str | float = "token-mean"
    k: int = ExpertsConfig.k
    quantile: float = 0.95
    mode: str = InterventionConfig.mode


@register
class LAPE(ExpertForcing):
    """LAPE neurons of the target (post-activation), forced to their per-token mean."""

    name = "lape"
    summary = (
        "the target's language-specific post-activation neurons by activation-probability "
        "entropy (LAPE, Tang et al. 2024), forced to their per-token mean activation"
    )
    Params = LAPEParams
    own_defaults = ("units", "score", "value")  # LAPE's definition, not the [experts] defaults

    def check_params(self) -> None:
        super().check_params()
        if self.params.score != "lape":
            raise MethodError("method 'lape' selects by score = \"lape\" (use 'experts' for AUROC)")
        if not 0.0 < self.params.quantile < 1.0:
            raise MethodError(f"lape quantile must be in (0, 1), got {self.params.quantile}")

    def needs(self) -> list[Need]:
        return [Need(units=self.params.units, pooling=self.params.pooling)]

    def _finder_options(self) -> dict[str, Any]:
        return {"lape_quantile": self.params.quantile}

    def _check_selection(self, experts: Any) -> None:
        members = experts.meta.get("lape", {}).get("n_members", 0)
        if members < self.params.k:
            raise ValueError(
                f"only {members} neurons pass LAPE's filter for {experts.target} (quantile "
                f"{self.params.quantile}); lower k to at most {members} or the quantile"
            )
