"""Tokenise, de-duplicate and batch sentences for hooked forward passes.

Shared by response collection and embedding extraction, so both see exactly the same tokens,
the same pooling mask (padding never pooled, BOS optionally excluded) and the same explicit
position ids (so left padding gives the same numbers as no padding on absolute-position models).
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

if TYPE_CHECKING:
    pass


@dataclass(frozen=True)
class Batch:
    """One padded batch; ``rows`` index the unique sentences it holds."""

    rows: np.ndarray
    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    pool_mask: torch.Tensor  # bool (B, T): tokens that enter the pooling
    last_index: torch.Tensor  # (B,): position of the last real token


@dataclass(frozen=True)
class TokenizedSentences:
    """Unique sentences, their token ids and how the input list maps onto them."""

    unique: list[str]
    inverse: np.ndarray  # input position -> unique row
    token_ids: list[list[int]]
    n_truncated: int
    max_length: int

    @property
    def n_tokens(self) -> int:
        return sum(len(t) for t in self.token_ids)

    @property
    def first_position(self) -> np.ndarray:
        """For each unique sentence, the first input position holding it."""
        return np.unique(self.inverse, return_index=True)[1]

    def copy_to_duplicates(self, out: np.ndarray) -> None:
        """Fill the rows of repeated sentences from the row that was computed."""
        source = self.first_position[self.inverse]
        dup = np.flatnonzero(source != np.arange(len(self.inverse)))
        if dup.size:
            out[dup] = out[source[dup]]


def check_sentences(sentences: Sequence[str]) -> None:
    """Reject what would silently produce garbage: no sentences, empty or non-string ones."""
    if len(sentences) == 0:
        raise ValueError(
            "no sentences given: the corpus (or the selected languages/split) is empty"
        )
    bad = [i for i, s in enumerate(sentences) if not isinstance(s, str) or not s.strip()]
    if bad:
        raise ValueError(
            f"{len(bad)} empty or non-text sentence(s) at positions {bad[:5]}; "
            "remove them from the corpus, or drop them (their ids in every language) with "
            "corpus.drop_empty = true in the study file (CLI: --drop-empty)"
        )


def tokenize_unique(tokenizer, sentences: Sequence[str], max_length: int) -> TokenizedSentences:
    """Tokenise each distinct sentence once, truncating (and counting) over-long ones."""
    check_sentences(sentences)
    if max_length < 2:
        raise ValueError(f"max_length must be at least 2 tokens, got {max_length}")
    index: dict[str, int] = {}
    inverse = np.empty(len(sentences), dtype=np.int64)
    for i, s in enumerate(sentences):
        inverse[i] = index.setdefault(s, len(index))
    unique = list(index)
    ids = tokenizer(unique, add_special_tokens=True, truncation=False)["input_ids"]
    n_truncated = sum(len(t) > max_length for t in ids)
    ids = [list(t[:max_length]) for t in ids]
    return TokenizedSentences(unique, inverse, ids, n_truncated, max_length)


def iter_batches(
    tokenizer,
    tok: TokenizedSentences,
    *,
    batch_size: int,
    device: torch.device | str,
    skip_bos: bool,
    max_tokens: int | None = None,
) -> Iterator[Batch]:
    """Yield length-sorted padded batches (longest first, so memory peaks early).

    ``max_tokens`` caps batch_size x longest sequence, keeping activation memory flat when a
    corpus mixes short and very long sentences.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    order = np.argsort([-len(t) for t in tok.token_ids], kind="stable")
    pad_id = tokenizer.pad_token_id
    if pad_id is None:
        raise ValueError("the tokenizer has no pad token; set tokenizer.pad_token (e.g. to eos)")
    bos_id = tokenizer.bos_token_id
    left = getattr(tokenizer, "padding_side", "right") == "left"
    start = 0
    while start < len(order):
        longest = len(tok.token_ids[order[start]])
        size = batch_size
        if max_tokens is not None:
            size = max(1, min(batch_size, max_tokens // max(longest, 1)))
        rows = order[start : start + size]
        start += size
        seqs = [tok.token_ids[r] for r in rows]
        width = max(len(s) for s in seqs)
        ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(seqs), width), dtype=torch.long)
        first = torch.empty(len(seqs), dtype=torch.long)
        for b, s in enumerate(seqs):
            off = width - len(s) if left else 0
            ids[b, off : off + len(s)] = torch.tensor(s, dtype=torch.long)
            mask[b, off : off + len(s)] = 1
            first[b] = off
        pool = mask.bool()
        if skip_bos and bos_id is not None:
            lengths = mask.sum(1)
            is_bos = ids[torch.arange(len(seqs)), first] == bos_id
            # never drop a sentence's only token: a lone BOS is all there is to pool
            drop = is_bos & (lengths > 1)
            pool[torch.arange(len(seqs))[drop], first[drop]] = False
        last = first + mask.sum(1) - 1
        yield Batch(
            rows=np.asarray(rows),
            input_ids=ids.to(device),
            attention_mask=mask.to(device),
            pool_mask=pool.to(device),
            last_index=last.to(device),
        )


def forward_kwargs(module: torch.nn.Module, batch: Batch) -> dict:
    """Arguments for a forward pass; explicit position ids where the model takes them."""
    params = inspect.signature(module.forward).parameters
    kwargs = {"input_ids": batch.input_ids, "attention_mask": batch.attention_mask}
    if "position_ids" in params:
        kwargs["position_ids"] = (batch.attention_mask.cumsum(-1) - 1).clamp(min=0)
    if "use_cache" in params:
        kwargs["use_cache"] = False
    return kwargs
