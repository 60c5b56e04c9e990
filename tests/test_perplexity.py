"""Sliding-window perplexity equals a brute-force token-by-token computation."""

from __future__ import annotations

import math

import pytest
import torch

from langsteer.evaluation.perplexity import default_context, perplexity, sliding_windows
from langsteer.methods.experts import find_experts
from langsteer.methods.forcing import intervene
from langsteer.models import tiny_model
from tests.test_experts import toy_corpus

TEXT = "the quick brown fox jumps over"  # 31 tokens with BOS (character-level tokenizer)


def brute_force_nll(loaded, ids: list[int], context: int, stride: int) -> list[float]:
    """-log p(x_t | x_b .. x_{t-1}) with one forward pass per token t >= 1, where b is the start
    of the first window (starts 0, stride, 2 stride, ...; inputs at most ``context`` tokens)
    that reaches t: b = 0 if t <= context else stride * ceil((t - context) / stride)."""
    out = []
    for t in range(1, len(ids)):
        b = 0 if t <= context else stride * math.ceil((t - context) / stride)
        assert 0 < t - b <= context
        with torch.no_grad():
            logits = loaded.model(input_ids=torch.tensor([ids[b:t]])).logits[0, -1]
        out.append(-logits.float().log_softmax(-1)[ids[t]].item())
    return out


@pytest.mark.parametrize(
    ("context", "stride"),
    [(8, 3), (8, 8), (5, 1), (6, 4), (64, 16), (2, 2), (2, 1)],  # (64, 16): text < context
)
def test_windows_match_brute_force(context, stride):
    loaded = tiny_model("llama")
    ids = loaded.tokenizer(TEXT)["input_ids"]
    expected = brute_force_nll(loaded, ids, context, stride)
    got = perplexity(loaded, [TEXT], context=context, stride=stride, batch_size=3)
    assert got["n_tokens"] == len(ids) - 1 == len(expected)
    assert got["log_ppl"] == pytest.approx(sum(expected) / len(expected), abs=1e-5)
    assert got["ppl"] == pytest.approx(math.exp(got["log_ppl"]), rel=1e-12)
    assert got["n_windows"] == len(sliding_windows(len(ids), context, stride))
    assert (got["context"], got["stride"]) == (context, stride)


def test_every_token_scored_exactly_once():
    for n in (2, 3, 10, 31):
        for context, stride in ((2, 1), (2, 2), (4, 3), (7, 7), (40, 5)):
            scored = []
            for begin, end, first in sliding_windows(n, context, stride):
                assert end - begin <= context and begin < first <= end <= n - 1
                scored.extend(range(first, end + 1))
            assert scored == list(range(1, n))
    assert sliding_windows(1, 4, 2) == []


def test_several_texts_are_scored_separately_and_batching_does_not_matter():
    loaded = tiny_model("gpt2")
    texts = [TEXT, "abc", "hello there, world"]
    per_text = [perplexity(loaded, [t], context=6, stride=4) for t in texts]
    together = perplexity(loaded, texts, context=6, stride=4, batch_size=2)
    one_by_one = perplexity(loaded, texts, context=6, stride=4, batch_size=1)
    reordered = perplexity(loaded, texts[::-1], context=6, stride=4, batch_size=5)
    total = sum(r["log_ppl"] * r["n_tokens"] for r in per_text)
    n = sum(r["n_tokens"] for r in per_text)
    assert together["n_tokens"] == n and together["n_texts"] == 3
    for r in (together, one_by_one, reordered):
        assert r["log_ppl"] == pytest.approx(total / n, abs=1e-5)


def test_default_context_and_intervention():
    loaded = tiny_model("llama")
    assert default_context(loaded) == 512  # the tiny models' max positions
    base = perplexity(loaded, [TEXT])
    assert base["context"] == 512 and base["stride"] == 512 and base["n_windows"] == 1
    experts, _ = find_experts(
        loaded, toy_corpus(12), ["eng_Latn"], negatives=["deu_Latn"], k=8, progress=False
    )
    with intervene(loaded, experts["eng_Latn"]):
        steered = perplexity(loaded, [TEXT])
    assert steered["log_ppl"] != pytest.approx(base["log_ppl"], abs=1e-4)
    assert perplexity(loaded, [TEXT])["log_ppl"] == base["log_ppl"]  # removed: exact again


@pytest.mark.parametrize(
    ("texts", "kw"),
    [
        ([], {}),
        ([TEXT, "  "], {}),
        ([TEXT], {"stride": 0}),
        ([TEXT], {"context": 1}),
        ([TEXT], {"context": 4, "stride": 5}),
        ([TEXT], {"batch_size": 0}),
    ],
)
def test_bad_inputs(texts, kw):
    with pytest.raises(ValueError):
        perplexity(tiny_model("llama"), texts, **kw)
