"""Shared fixtures: tiny random-weight models built in code (no download, milliseconds each)."""

from __future__ import annotations

import pytest
import torch

from langsteer.models.tiny import SUPPORTED_ARCHITECTURES, tiny_model, tiny_tokenizer

# Tiny matmuls gain nothing from intra-op threads, and on a shared 2-core machine thread
# contention made the suite up to 4x slower.
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def _langsteer_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("langsteer-cache")


@pytest.fixture(autouse=True)
def _private_langsteer_cache(request, monkeypatch, _langsteer_cache):
    """Fast tests keep the langsteer cache (e.g. the memo of model-file hashes) out of the home
    folder; slow tests keep the real one, where the converted Gemma lives."""
    if request.node.get_closest_marker("slow") is None:
        monkeypatch.setenv("LANGSTEER_CACHE", str(_langsteer_cache))


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
