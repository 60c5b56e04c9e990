"""Whether a loaded model attends causally: the check behind ``--allow-non-causal``.

Split from :mod:`langsteer.models.loading` because the answer is read from several places
(config flags, the ``is_causal`` flags of attention modules, encoder families) that differ
between transformers versions; expert finding, interventions and sentence embeddings all assume
causal attention, so a bidirectional model must be refused with the reason, not used quietly.
"""

from __future__ import annotations

import torch

__all__ = ["non_causal_reason"]

#: encoder families whose ``*ForCausalLM`` class is causal only with ``config.is_decoder`` (used
#: when the attention modules do not say it themselves, in older transformers)
_ENCODER_FAMILIES = frozenset(
    {
        "bert",
        "bert-generation",
        "big_bird",
        "camembert",
        "data2vec-text",
        "electra",
        "ernie",
        "megatron-bert",
        "rembert",
        "roberta",
        "roberta-prelayernorm",
        "xlm-roberta",
        "xlm-roberta-xl",
        "xmod",
    }
)


def non_causal_reason(model: torch.nn.Module) -> str | None:
    """Why ``model`` does not attend causally (a sentence's later tokens reach earlier
    positions), or None for a causal decoder.

    Checked in order: an encoder-decoder config; ``use_bidirectional_attention`` (e.g.
    EmbeddingGemma); the ``is_causal`` flag transformers sets on self-attention modules (False for
    a BERT-style encoder loaded without ``is_decoder=True``; GPT-NeoX and others leave
    ``config.is_decoder`` False although they are causal, so the config flag alone would be
    wrong); and, where attention modules carry no flag, an encoder family without ``is_decoder``.
    """
    cfg = getattr(model, "config", None)
    text_cfg = cfg.get_text_config() if hasattr(cfg, "get_text_config") else cfg
    if getattr(cfg, "is_encoder_decoder", False):
        return "its config is an encoder-decoder (is_encoder_decoder = true)"
    if getattr(text_cfg, "use_bidirectional_attention", False):
        return "its config sets use_bidirectional_attention = true"
    flagged = False
    for name, module in model.named_modules():
        if not hasattr(module, "is_causal") or not isinstance(module.is_causal, bool):
            continue
        lowered = name.lower()
        if (
            getattr(module, "is_cross_attention", False)
            or "cross" in lowered
            or ("encoder_attn" in lowered)
        ):
            continue
        flagged = True
        if not module.is_causal:
            return f"its self-attention {name} ({type(module).__name__}) is bidirectional"
    model_type = getattr(text_cfg, "model_type", None)
    if (
        not flagged
        and model_type in _ENCODER_FAMILIES
        and not getattr(text_cfg, "is_decoder", False)
    ):
        return f"it is a {model_type} encoder without is_decoder = true"
    return None
