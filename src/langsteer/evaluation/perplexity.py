"""Perplexity with a sliding window: the cost side of the steering trade-off (paper step 6).

Each text is scored on its own (no concatenation: no text is predicted from another's tail,
and the numbers do not depend on the order of the texts). Within a text of ``L`` tokens
(BOS included when the tokenizer adds it), windows of at most ``context`` input tokens start at
``0, stride, 2 stride, ...``; the window starting at ``b`` predicts tokens ``b+1 .. e`` from the
tokens before them inside the window, and only the tokens not predicted by an earlier window are
scored. So every token but the first is predicted exactly once, with ``t - b`` (at most
``context``) tokens of left context, which is the Hugging Face recipe ("Perplexity of
fixed-length models") without its off-by-one: there, with ``stride == context``, the first
token of every window is never scored. ``stride`` must not exceed ``context`` (tokens would be
skipped). Windows after the first start on a mid-text token without a BOS, as in that recipe.

Log-probabilities are computed in fp32 whatever the model dtype. The model runs as it is, so
an intervention attached to it (``positions="all"``) is part of what is measured.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from langsteer.config import SweepConfig
from langsteer.models import LoadedModel

__all__ = [
    "DEFAULT_MAX_CONTEXT",
    "check_window",
    "default_context",
    "perplexity",
    "sliding_windows",
]

# Models announce 32k-128k positions; one window's logits are context x vocabulary floats
# (Gemma-3: 262k), so the default is capped. Pass context= to go further.
DEFAULT_MAX_CONTEXT = 1024


def default_context(loaded: LoadedModel) -> int:
    """The model's maximum positions (or the tokenizer's), capped at ``DEFAULT_MAX_CONTEXT``."""
    cfg = loaded.config
    for name in ("max_position_embeddings", "n_positions", "n_ctx", "seq_length"):
        value = getattr(cfg, name, None)
        if isinstance(value, int) and value > 1:
            return min(value, DEFAULT_MAX_CONTEXT)
    value = getattr(loaded.tokenizer, "model_max_length", None)
    if isinstance(value, int) and 1 < value < 10**7:
        return min(value, DEFAULT_MAX_CONTEXT)
    return DEFAULT_MAX_CONTEXT


def sliding_windows(n_tokens: int, context: int, stride: int) -> list[tuple[int, int, int]]:
    """``(begin, end, first_scored)`` per window: inputs ``[begin, end)`` predict tokens
    ``begin+1 .. end`` (so ``end <= n_tokens - 1``); tokens ``first_scored .. end`` count."""
    check_window(context, stride)
    windows = []
    done = 0  # last token position already scored (token 0 is never predicted)
    begin = 0
    while done < n_tokens - 1:
        end = min(begin + context, n_tokens - 1)
        windows.append((begin, end, done + 1))
        done = end
        begin += stride
    return windows


def check_window(context: int, stride: int) -> None:
    """Reject windows that cannot predict anything or would skip tokens."""
    if not isinstance(context, int) or context < 2:
        raise ValueError(f"context must be an integer >= 2 tokens, got {context!r}")
    if not isinstance(stride, int) or stride < 1:
        raise ValueError(f"stride must be an integer >= 1, got {stride!r}")
    if stride > context:
        raise ValueError(
            f"stride={stride} > context={context} would skip tokens; use stride <= context"
        )


@torch.no_grad()
def perplexity(
    loaded: LoadedModel,
    texts: Sequence[str],
    *,
    context: int | None = None,
    stride: int = 512,
    batch_size: int = SweepConfig.batch_size,
) -> dict:
    """Token-level perplexity of ``texts`` under the model as it is (interventions included).

    ``log_ppl`` is the mean negative log-likelihood per predicted token in nats, pooled over all
    texts (long texts weigh more, as in a corpus perplexity); ``ppl = exp(log_ppl)``.
    ``context=None`` uses :func:`default_context`. Memory grows with
    ``batch_size x window length x vocabulary``.
    """
    if isinstance(texts, str) or len(texts) == 0:
        raise ValueError("texts must be a non-empty list of strings")
    bad = [i for i, t in enumerate(texts) if not isinstance(t, str) or not t.strip()]
    if bad:
        raise ValueError(f"{len(bad)} empty or non-text text(s) at positions {bad[:5]}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    context = default_context(loaded) if context is None else context
    check_window(context, stride)

    tok = loaded.tokenizer
    ids = tok(list(texts), add_special_tokens=True, truncation=False)["input_ids"]
    # (input ids, targets, how many trailing targets are scored)
    jobs: list[tuple[list[int], list[int], int]] = []
    for row in ids:
        for begin, end, first in sliding_windows(len(row), context, stride):
            jobs.append((row[begin:end], row[begin + 1 : end + 1], end - first + 1))
    if not jobs:
        raise ValueError("no text has a token to predict (each is a single token)")
    pad_id = tok.pad_token_id if tok.pad_token_id is not None else 0
    order = sorted(range(len(jobs)), key=lambda j: -len(jobs[j][0]))  # longest first
    total_nll = 0.0
    n_scored = 0
    device = loaded.device
    for s in range(0, len(order), batch_size):
        batch = [jobs[j] for j in order[s : s + batch_size]]
        width = max(len(inp) for inp, _, _ in batch)
        # right padding: real tokens keep positions 0..n-1 and never attend to the pads
        input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for r, (inp, _, _) in enumerate(batch):
            input_ids[r, : len(inp)] = torch.tensor(inp)
            mask[r, : len(inp)] = 1
        logits = loaded.model(
            input_ids=input_ids.to(device), attention_mask=mask.to(device), use_cache=False
        ).logits
        for r, (inp, tgt, n_new) in enumerate(batch):
            n = len(inp)
            row = logits[r, n - n_new : n].float().log_softmax(-1)
            target = torch.tensor(tgt[n - n_new :], device=row.device)
            total_nll -= row.gather(-1, target[:, None]).sum().double().item()
            n_scored += n_new
    log_ppl = total_nll / n_scored
    return {
        "ppl": math.exp(log_ppl),
        "log_ppl": log_ppl,
        "n_tokens": n_scored,
        "n_windows": len(jobs),
        "n_texts": len(texts),
        "context": context,
        "stride": stride,
    }
