"""Shared fixtures: tiny random-weight models built in code (no download, milliseconds each)."""

from __future__ import annotations

import pytest
import torch

from langsteer.models.tiny import SUPPORTED_ARCHITECTURES, tiny_model, tiny_tokenizer

# Tiny matmuls gain nothing from intra-op threads, and on a shared 2-core machine thread
# contention made the suite up to 4x slower.
torch.set_num_threads(1)


@pytest.fixture(params=SUPPORTED_ARCHITECTURES)
def tiny_lm(request):
    """A fresh tiny model of every supported architecture (fresh: tests may edit its weights)."""
    return tiny_model(request.param)


@pytest.fixture
def tiny_llama():
    return tiny_model("llama")


@pytest.fixture
def tiny_tok():
    return tiny_tokenizer()
