"""MTEB and sentence-transformers as independent checks of langsteer's top-1 (issue 14).

Each tool's OWN evaluation runs on langsteer's encoder and is compared with
:class:`~langsteer.evaluation.BitextRetrievalEvaluator` on the same embeddings, query by query.
They agree wherever no candidate ties with the gold; where one does (a planted duplicate),
the documented relation (docs/design.md, "MTEB and sentence-transformers") is asserted.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

pytest.importorskip("mteb", reason='the mteb extra is not installed (pip install -e ".[mteb]")')
pytest.importorskip(
    "sentence_transformers", reason='the mteb extra is not installed (pip install -e ".[mteb]")'
)

from sentence_transformers.sentence_transformer.evaluation import (
    TranslationEvaluator,
)

from langsteer.cli import main
from langsteer.corpora import Corpus
from langsteer.encoding.embeddings import LangsteerEncoder
from langsteer.evaluation import BitextRetrievalEvaluator
from langsteer.integrations.mteb import SPLIT, TASK_NAME, bitext_task, run_mteb
from langsteer.methods.experts import find_experts
from langsteer.methods.forcing import intervene
from langsteer.metrics import retrieval_top1
from langsteer.models import tiny_model
from tests.test_pipeline import make_parallel_dir, save_tiny_model

N = 24
LANGS = ("eng_Latn", "deu_Latn", "fra_Latn")
#: the pair planted with a duplicate: candidate ``DUP`` of deu gets the text of candidate ``KEPT``
KEPT, DUP = 3, 17


def near_translations(n: int = N, seed: int = 0) -> dict[str, list[str]]:
    """deu and fra re-draw 40% / 60% of eng's words: a tiny random model retrieves some right
    and some wrong, which is what an equality test needs."""
    rng = np.random.default_rng(seed)
    words = ["".join(rng.choice(list("abcdefghijklmnop"), size=4)) for _ in range(40)]
    eng = [rng.integers(0, 40, size=rng.integers(4, 9)) for _ in range(n)]
    texts = {}
    for lang, p in zip(LANGS, (0.0, 0.4, 0.6), strict=True):
        out = []
        for s in eng:
            t = s.copy()
            redraw = rng.random(len(t)) < p
            t[redraw] = rng.integers(0, 40, size=int(redraw.sum()))
            out.append(" ".join(words[w] for w in t))
        texts[lang] = out
    return texts


@pytest.fixture(scope="module")
def loaded():
    return tiny_model("llama")


@pytest.fixture(scope="module")
def corpus():
    return Corpus(ids=[str(i) for i in range(N)], texts=near_translations())


@pytest.fixture(scope="module")
def encoders(loaded, corpus, tmp_path_factory):
    """The original encoder (last layer) and an intervened one at an inner layer."""
    cache = tmp_path_factory.mktemp("cache")
    experts, _ = find_experts(
        loaded, corpus, ["eng"], negatives=["deu", "fra"], k=10, progress=False
    )
    handle = intervene(loaded, experts["eng_Latn"])
    handle.remove()
    original = LangsteerEncoder(loaded, cache_dir=cache)
    intervened = LangsteerEncoder(
        loaded, layer=1, intervention=handle, label="experts", cache_dir=cache
    )
    return original, intervened


def embed(encoder, corpus) -> dict[str, np.ndarray]:
    return {lang: encoder.encode(corpus.sentences(lang)) for lang in corpus.languages}


def top1(x, a, b, direction="forward"):
    """langsteer's strict top-1 of queries ``a`` against candidates ``b``, with its items (and
    the evaluator the studies use says the same)."""
    res = retrieval_top1(x[a], x[b], direction=direction)
    table = BitextRetrievalEvaluator(direction=direction).accuracies({a: x[a], b: x[b]})
    assert table[(a, b)] == res.accuracy
    return res


def min_gap(q: np.ndarray, c: np.ndarray) -> float:
    """The smallest cosine gap between a gold and the best other candidate, both directions:
    far above float32 rounding, so no tool can break a near-tie differently from ours."""
    q = q / np.linalg.norm(q, axis=1, keepdims=True)
    c = c / np.linalg.norm(c, axis=1, keepdims=True)
    s = q.astype(np.float64) @ c.T.astype(np.float64)
    gold = np.diag(s).copy()
    np.fill_diagonal(s, -np.inf)
    return float(min(np.abs(gold - s.max(axis=1)).min(), np.abs(gold - s.max(axis=0)).min()))


def mteb_predictions(out, run) -> dict[str, np.ndarray]:
    data = json.loads((out / run["predictions_file"]).read_text())
    subsets = data["parallel"][SPLIT]
    return {k: np.array([p["corpus_id"] for p in v]) for k, v in subsets.items()}


def test_mteb_accuracy_is_langsteer_top1_query_by_query(corpus, encoders, tmp_path):
    out = tmp_path / "mteb"
    runs = run_mteb(list(encoders), bitext_task(corpus), out)
    assert len({r["experiment"] for r in runs}) == 2  # one MTEB experiment per model state
    for enc, run in zip(encoders, runs, strict=True):
        stored = json.loads((out / run["result_file"]).read_text())  # MTEB's own result file
        assert stored["task_name"] == TASK_NAME
        by_subset = {s["hf_subset"]: s for s in stored["scores"][SPLIT]}
        predicted = mteb_predictions(out, run)
        x = embed(enc, corpus)
        accuracies = []
        for a in LANGS:
            for b in (lang for lang in LANGS if lang != a):
                assert min_gap(x[a], x[b]) > 1e-4  # no near-tie: the tools must agree exactly
                ours = top1(x, a, b)
                subset = f"{a}-{b}"
                mteb_right = predicted[subset] == np.arange(N)
                np.testing.assert_array_equal(mteb_right, ours.correct)  # query by query
                score = run["scores"][subset]
                assert score["accuracy"] == pytest.approx(ours.accuracy, abs=1e-6)
                assert by_subset[subset]["accuracy"] == pytest.approx(ours.accuracy, abs=1e-6)
                # sklearn's weighted metrics with one gold per candidate: recall is accuracy;
                # precision credits a candidate predicted c times with 1/c, so it is lower
                assert score["recall"] == pytest.approx(score["accuracy"], abs=1e-9)
                assert score["precision"] <= score["f1"] + 1e-9 <= score["accuracy"] + 2e-9
                accuracies.append(ours.accuracy)
        assert min(accuracies) > 0 and max(accuracies) < 1  # right and wrong answers: a test


def test_mteb_and_a_planted_duplicate(corpus, encoders, tmp_path):
    original = encoders[0]
    clean = embed(original, corpus)
    assert top1(clean, "eng_Latn", "deu_Latn").correct[KEPT]  # the kept one is retrieved
    texts = {lang: corpus.sentences(lang) for lang in LANGS}
    texts["deu_Latn"][DUP] = texts["deu_Latn"][KEPT]
    dup = Corpus(ids=corpus.ids, texts=texts)
    out = tmp_path / "mteb"
    (run,) = run_mteb([original], bitext_task(dup, ["eng_Latn", "deu_Latn"]), out)
    x = embed(original, dup)
    np.testing.assert_array_equal(x["deu_Latn"][KEPT], x["deu_Latn"][DUP])  # an exact tie
    ours = top1(x, "eng_Latn", "deu_Latn")
    assert not ours.correct[KEPT] and not ours.correct[DUP]  # langsteer: a tie is wrong
    pred = mteb_predictions(out, run)["eng_Latn-deu_Latn"]
    # MTEB takes torch.topk's pick among the tied candidates: query KEPT gets KEPT or DUP
    assert pred[KEPT] in (KEPT, DUP)
    mteb_right = pred == np.arange(N)
    others = np.ones(N, dtype=bool)
    others[[KEPT, DUP]] = False
    np.testing.assert_array_equal(mteb_right[others], ours.correct[others])
    extra = int(mteb_right[KEPT]) + int(mteb_right[DUP])
    n_mteb = round(run["scores"]["eng_Latn-deu_Latn"]["accuracy"] * N)
    assert n_mteb == int(ours.correct.sum()) + extra


def test_sentence_transformers_translation_evaluator(corpus, encoders):
    for enc in encoders:
        x = embed(enc, corpus)
        for a, b in (("eng_Latn", "deu_Latn"), ("deu_Latn", "fra_Latn")):
            ev = TranslationEvaluator(corpus.sentences(a), corpus.sentences(b), write_csv=False)
            st = ev(enc)
            both = top1(x, a, b, direction="both")
            fwd, bwd = both.correct
            assert st["src2trg_accuracy"] == pytest.approx(fwd.mean(), abs=1e-12)
            assert st["trg2src_accuracy"] == pytest.approx(bwd.mean(), abs=1e-12)
            assert st["mean_accuracy"] == pytest.approx(both.accuracy, abs=1e-12)
        assert enc.model_card_data.evaluations[-1]["evaluator"] == "TranslationEvaluator"
        assert enc.intervention is None or not enc.intervention.active  # attached per call


def test_sentence_transformers_credits_a_duplicate_text(corpus, encoders):
    """ST compares texts: retrieving an identical copy of the gold counts as right, where
    langsteer counts the tie as wrong; the other direction (no duplicate there) agrees."""
    original = encoders[0]
    texts = {lang: corpus.sentences(lang) for lang in LANGS}
    texts["deu_Latn"][DUP] = texts["deu_Latn"][KEPT]
    x = {lang: original.encode(texts[lang]) for lang in ("eng_Latn", "deu_Latn")}
    st = TranslationEvaluator(texts["eng_Latn"], texts["deu_Latn"], write_csv=False)(original)
    fwd, bwd = top1(x, "eng_Latn", "deu_Latn", direction="both").correct
    q = x["eng_Latn"] / np.linalg.norm(x["eng_Latn"], axis=1, keepdims=True)
    c = x["deu_Latn"] / np.linalg.norm(x["deu_Latn"], axis=1, keepdims=True)
    nearest = np.argmax(q.astype(np.float64) @ c.T.astype(np.float64), axis=1)
    credited = sum(texts["deu_Latn"][nearest[i]] == texts["deu_Latn"][i] for i in (KEPT, DUP))
    assert not fwd[KEPT] and not fwd[DUP] and credited >= 1  # KEPT's nearest is the pair
    assert round(st["src2trg_accuracy"] * N) == int(fwd.sum()) + credited
    assert st["trg2src_accuracy"] == pytest.approx(bwd.mean(), abs=1e-12)


def test_encoder_speaks_both_protocols(encoders):
    import torch
    from mteb.models import EncoderProtocol

    original = encoders[0]
    assert isinstance(original, EncoderProtocol)
    sentences = ["abcd efgh", "ijkl mnop qrst"]
    batches = [{"text": sentences[:1]}, {"text": sentences[1:]}]  # MTEB's DataLoader batches
    x = original.encode(sentences)
    np.testing.assert_array_equal(original.encode(batches, task_metadata=None, hf_subset="x"), x)
    rows = original.encode(sentences, convert_to_numpy=False)
    assert isinstance(rows, list) and torch.equal(torch.stack(rows), torch.from_numpy(x))
    assert original.encode(sentences[0]).shape == x[0].shape
    assert original.encode(sentences, truncate_dim=5).shape == (2, 5)
    np.testing.assert_array_equal(
        original.encode(sentences, prompt="abcd "),
        original.encode(["abcd " + s for s in sentences]),
    )
    sim = original.similarity(x, x)
    assert sim.shape == (2, 2) and torch.allclose(torch.diagonal(sim), torch.ones(2))
    assert original.similarity_pairwise(x, x).shape == (2,)
    meta = original.mteb_model_meta
    assert meta.name == "tiny-random-llama" and meta.experiment_kwargs["method"] == "none"
    assert encoders[1].mteb_model_meta.experiment_kwargs["target"] == "eng_Latn"
    with pytest.raises(ValueError, match="no named prompts"):
        original.encode(sentences, prompt_name="query")
    with pytest.raises(TypeError, match="sentences"):
        original.encode([1, 2])


def test_mteb_command(tmp_path, capsys, monkeypatch):
    model = save_tiny_model(tmp_path / "model")
    corpus = make_parallel_dir(tmp_path / "corpus", n=30)
    experts = tmp_path / "e.safetensors"
    common = ["--model", str(model), "--corpus", str(corpus), "--no-progress"]
    find = ["experts", *common, "--target", "eng", "--negatives", "fra", "--k", "6"]
    assert main([*find, "--n-sentences", "20", "--out", str(experts)]) == 0
    out = tmp_path / "out"
    argv = ["mteb", *common, "--languages", "eng", "deu", "--n-sentences", "12", "--out"]
    assert main([*argv, str(out), "--experts", str(experts), "--layer", "1"]) == 0
    printed = capsys.readouterr().out
    assert "subsampled corpus sentences: 12 of 30" in printed and "experts" in printed
    record = json.loads((out / "langsteer_mteb.json").read_text())
    assert [r["experiment_kwargs"]["method"] for r in record["runs"]] == ["none", "experts"]
    assert record["corpus"]["n"] == 12 and record["splits"]["eval"]["n"] == 12
    for run in record["runs"]:
        assert run["experiment_kwargs"]["layer"] == 1
        stored = json.loads((out / run["result_file"]).read_text())
        for s in stored["scores"][SPLIT]:
            # MTEB's files round to 6 decimals
            assert s["accuracy"] == pytest.approx(
                run["scores"][s["hf_subset"]]["accuracy"], abs=1e-6
            )
        assert (out / run["predictions_file"]).exists()
    # an existing --out is refused (one line naming the flag), then replaced as a whole
    assert main([*argv, str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main([*argv, str(out), "--overwrite", "--method", "steering-vector"]) == 2
    assert "give --target" in capsys.readouterr().err
    line = [*argv, str(out), "--overwrite", "--method", "steering-vector", "--target", "eng"]
    assert main([*line, "--n-probe", "10", "--param", "strength=2"]) == 0
    record = json.loads((out / "langsteer_mteb.json").read_text())
    assert [r["experiment_kwargs"]["method"] for r in record["runs"]] == [
        "none",
        "steering-vector",
    ]
    assert record["runs"][1]["encoder"]["intervention"]["strength"] == 2
    assert not set(record["splits"]["probe"]["ids"]) & set(record["splits"]["eval"]["ids"])
    capsys.readouterr()
    assert main([*argv, str(tmp_path / "o2"), "--method", "whitening", "--target", "eng"]) == 2
    assert "is an embedding method" in capsys.readouterr().err
    assert main([*line, "--param", "strength=[1, 2]"]) == 2
    assert "one value" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "mteb", None)  # the extra missing
    assert main([*argv, str(tmp_path / "o3")]) == 2
    assert 'pip install -e ".[mteb]"' in capsys.readouterr().err
