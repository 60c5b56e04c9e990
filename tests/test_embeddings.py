"""Per-layer embeddings: padding-invariant, and changed only by an active intervention."""

from __future__ import annotations

import numpy as np
import pytest

from langsteer.encoding.embeddings import LangsteerEncoder, encode
from langsteer.evaluation import Encoder
from langsteer.methods.experts import find_experts
from langsteer.methods.forcing import intervene
from langsteer.models import tiny_model
from tests.test_experts import toy_corpus
from tests.test_responses import SENTENCES


@pytest.mark.parametrize("arch", ["llama", "gpt2", "bloom", "gemma3_text", "xglm"])
@pytest.mark.parametrize("side", ["left", "right"])
@pytest.mark.parametrize("pooling", ["mean", "last"])
def test_batched_equals_one_by_one(arch, side, pooling):
    loaded = tiny_model(arch, padding_side=side)
    one = encode(loaded, SENTENCES, batch_size=1, pooling=pooling, progress=False).values
    many = encode(loaded, SENTENCES, batch_size=4, pooling=pooling, progress=False).values
    np.testing.assert_allclose(many, one, rtol=1e-5, atol=1e-5)
    assert one.shape == (
        len(SENTENCES),
        loaded.signature()["num_hidden_layers"] + 1,
        32 if arch != "bloom" else 16,
    )


def test_mean_pooling_matches_hidden_states():
    import torch

    loaded = tiny_model("qwen2")
    emb = encode(loaded, SENTENCES[:2], skip_bos=True, progress=False)
    ids = loaded.tokenizer(SENTENCES[1], return_tensors="pt")["input_ids"]
    with torch.no_grad():
        hs = loaded.model(input_ids=ids, output_hidden_states=True).hidden_states
    for layer in (0, 1, 2):
        np.testing.assert_allclose(
            emb.layer(layer)[1], hs[layer][0, 1:].mean(0).numpy(), rtol=1e-5, atol=1e-5
        )


def test_embeddings_change_only_under_an_active_intervention(tmp_path):
    loaded = tiny_model("llama")
    experts, _ = find_experts(
        loaded, toy_corpus(12), ["eng_Latn"], negatives=["deu_Latn"], k=10, progress=False
    )
    ex = experts["eng_Latn"]
    pre = encode(loaded, SENTENCES, cache_dir=tmp_path, progress=False)
    with intervene(loaded, ex) as h:
        post = encode(loaded, SENTENCES, intervention=h, cache_dir=tmp_path, progress=False)
    again = encode(loaded, SENTENCES, cache_dir=tmp_path, progress=False)
    assert again.meta["cache"]["hit"] and not post.meta["cache"]["hit"]
    assert post.meta["intervention"]["k"] == 10
    # layer 0 (token embeddings) is upstream of every MLP unit: unchanged
    np.testing.assert_array_equal(pre.layer(0), post.layer(0))
    assert not np.allclose(pre.layer(-1), post.layer(-1))
    fresh = encode(loaded, SENTENCES, progress=False)
    np.testing.assert_array_equal(np.asarray(pre.values), fresh.values)
    with pytest.raises(ValueError, match="not attached"):
        encode(loaded, SENTENCES, intervention=h, progress=False)


def test_encoder_protocol_and_layers():
    loaded = tiny_model("gpt2")
    enc = LangsteerEncoder(loaded, layer=-1)
    assert isinstance(enc, Encoder)
    x = enc.encode(SENTENCES)
    full = encode(loaded, SENTENCES, progress=False)
    np.testing.assert_allclose(x, full.layer(-1), rtol=1e-6)
    with pytest.raises(ValueError, match="out of range"):
        encode(loaded, SENTENCES, layers=[99], progress=False)


def test_original_and_intervened_encoders_side_by_side(tmp_path):
    loaded = tiny_model("llama")
    experts, _ = find_experts(
        loaded, toy_corpus(12), ["eng"], negatives=["deu"], k=10, progress=False
    )
    h = intervene(loaded, experts["eng_Latn"])
    h.remove()
    original = LangsteerEncoder(loaded, cache_dir=tmp_path)
    intervened = LangsteerEncoder(loaded, intervention=h, cache_dir=tmp_path)
    a = original.encode(SENTENCES, task_name="x", prompt_type="query", show_progress_bar=False)
    b = intervened.encode(SENTENCES, batch_size=2, convert_to_numpy=True)
    assert not h.active  # attached for the call only
    with h:
        expected = encode(loaded, SENTENCES, layers=[2], intervention=h, progress=False)
    np.testing.assert_allclose(b, expected.layer(2), rtol=1e-5, atol=1e-6)
    assert not np.allclose(a, b)
    # the original encoder stays original even after the intervened one ran (cache included)
    np.testing.assert_array_equal(original.encode(SENTENCES), a)
    unit = original.encode(SENTENCES, normalize_embeddings=True)
    np.testing.assert_allclose(np.linalg.norm(unit, axis=1), 1.0, rtol=1e-5)
    with pytest.raises(TypeError, match="unexpected"):
        original.encode(SENTENCES, colour="red")


def test_an_attached_but_unnamed_intervention_is_refused(tmp_path):
    loaded = tiny_model("llama")
    experts, _ = find_experts(
        loaded, toy_corpus(12), ["eng"], negatives=["deu"], k=10, progress=False
    )
    with intervene(loaded, experts["eng_Latn"]), pytest.raises(ValueError, match="other"):
        encode(loaded, SENTENCES, cache_dir=tmp_path, progress=False)
    assert not list(tmp_path.rglob("*.npy"))  # nothing was cached under the wrong key
    encode(loaded, SENTENCES, cache_dir=tmp_path, progress=False)  # detached again: fine
