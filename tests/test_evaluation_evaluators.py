"""Evaluators on planted embeddings and a mock encoder: flat dicts, primary metrics, variants."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

from langsteer.evaluation import (
    BitextRetrievalEvaluator,
    CorrelationEvaluator,
    Encoder,
    EncoderBitextEvaluator,
    EncoderParaphraseEvaluator,
    GeometryEvaluator,
    ParaphraseEvaluator,
    PrePostRetrievalEvaluator,
)

LANGS = ["eng_Latn", "deu_Latn", "fra_Latn", "spa_Latn"]


def _world(seed: int = 0, n: int = 50, d: int = 32, offset: float = 0.0, noise: float = 0.01):
    """Shared semantic rows + optional big per-language offsets + small noise, aligned by row."""
    rng = np.random.default_rng(seed)
    sem = rng.normal(size=(n, d)) / math.sqrt(d)
    return {
        lang: (
            sem + offset * rng.normal(size=d) / math.sqrt(d) + noise * rng.normal(size=(n, d))
        ).astype(np.float32)
        for lang in LANGS
    }


def _check_flat(out: dict, evaluator) -> None:
    assert all(k.startswith(evaluator.name + ".") for k in out)
    assert evaluator.primary_key == f"{evaluator.name}.{evaluator.primary_metric}"
    assert evaluator.primary_key in out
    assert isinstance(out[evaluator.primary_key], float)
    assert all(isinstance(v, (float, str)) for v in out.values())


def test_bitext_flat_dict_all_pairs_and_variant() -> None:
    ev = BitextRetrievalEvaluator(LANGS)
    out = ev(_world())
    _check_flat(out, ev)
    pairs = [k for k in out if k.startswith("bitext.top1.") and "->" in k]
    assert len(pairs) == len(LANGS) * (len(LANGS) - 1)
    assert out["bitext.top1.eng_Latn->deu_Latn"] == 1.0
    assert out["bitext.top1.mean"] == 1.0
    assert out["bitext.top1.from.eng_Latn"] == 1.0
    assert out["bitext.n"] == 50.0
    assert out["bitext.variant.direction"] == "forward"
    assert out["bitext.variant.scoring"] == "cosine"
    assert out["bitext.variant.centering"] == "none"
    assert "bitext.variant.ties" in out
    assert ev.variant["direction"] == "forward"


def test_bitext_query_languages_and_options() -> None:
    ev = BitextRetrievalEvaluator(
        LANGS, query_languages=["spa_Latn"], direction="both", scoring="margin", name="x"
    )
    out = ev(_world())
    pairs = [k for k in out if "->" in k]
    assert sorted(pairs) == sorted(f"x.top1.spa_Latn->{c}" for c in LANGS if c != "spa_Latn")
    assert out["x.top1.mean"] == 1.0
    assert out["x.variant.direction"] == "both"
    assert out["x.variant.scoring"] == "margin"
    assert out["x.variant.margin_k"] == 4.0
    with pytest.raises(ValueError, match="query languages"):
        BitextRetrievalEvaluator(LANGS, query_languages=["jpn_Jpan"])(_world())


def test_bitext_per_language_centring_control() -> None:
    emb = _world(offset=50.0)
    raw = BitextRetrievalEvaluator(LANGS)(emb)
    centred = BitextRetrievalEvaluator(LANGS, centering="per-language")(emb)
    assert raw["bitext.top1.mean"] < 0.2
    assert centred["bitext.top1.mean"] == 1.0
    assert centred["bitext.variant.centering"] == "per-language"


@pytest.mark.parametrize(
    ("kwargs", "queries"),
    [
        ({}, None),
        ({"centering": "per-language"}, None),
        ({"centering": "global", "direction": "both"}, ["fra_Latn"]),
        ({"direction": "strict-both"}, ["eng_Latn", "deu_Latn"]),
        ({"scoring": "margin", "margin_k": 3}, None),
        ({"scoring": "margin", "direction": "both", "centering": "per-language"}, ["spa_Latn"]),
    ],
)
def test_sentence_scores_mean_equals_the_mean_top1(kwargs, queries) -> None:
    space = _world(seed=6, offset=0.5, noise=0.2)  # mid accuracy: not all 0 or all 1
    ev = BitextRetrievalEvaluator(LANGS, query_languages=queries, **kwargs)
    s = ev.sentence_scores(space)
    assert s.shape == (50,) and s.dtype == np.float64
    assert 0.05 < s.mean() < 0.95
    assert s.mean() == pytest.approx(ev.evaluate(space)["bitext.top1.mean"], abs=1e-12)
    # a share of the ordered pairs ("both" averages two directions): a multiple of 1 / (2 pairs)
    halves = 2 * len(queries or LANGS) * (len(LANGS) - 1)
    assert np.allclose(s * halves, np.round(s * halves)) and s.min() >= 0 and s.max() <= 1


def test_sentence_scores_with_heldout_means_by_hand() -> None:
    from langsteer.metrics.retrieval import pairwise_top1

    evaluated = _world(seed=4, offset=5.0, noise=0.3)
    heldout = _world(seed=5, offset=5.0, noise=0.3)  # other offsets: the means must carry them
    means = {lang: heldout[lang].astype(np.float64).mean(0) for lang in LANGS}
    ev = BitextRetrievalEvaluator(LANGS, centering="per-language", means=means)
    got = ev.sentence_scores(evaluated)
    by_hand = {lang: evaluated[lang].astype(np.float64) - means[lang] for lang in LANGS}
    res = pairwise_top1(by_hand, return_correct=True)
    np.testing.assert_allclose(got, np.mean([r.item_scores() for r in res.values()], axis=0))
    in_sample = BitextRetrievalEvaluator(LANGS, centering="per-language").sentence_scores(evaluated)
    assert got.mean() < in_sample.mean()  # the held-out means are not the evaluated ones
    with pytest.raises(ValueError, match="no ordered pair"):
        BitextRetrievalEvaluator(["eng_Latn"]).sentence_scores(evaluated)


def test_prepost_delta_and_controls() -> None:
    pre = _world(offset=50.0)  # language offsets hide the shared meaning
    post = _world(offset=0.0)  # "intervention" removed them
    ev = PrePostRetrievalEvaluator(LANGS, controls=("per-language",))
    out = ev(pre, post)
    _check_flat(out, ev)
    assert out["bitext_prepost.pre.top1.mean"] < 0.2
    assert out["bitext_prepost.post.top1.mean"] == 1.0
    assert out["bitext_prepost.delta.top1.mean"] == pytest.approx(
        out["bitext_prepost.post.top1.mean"] - out["bitext_prepost.pre.top1.mean"]
    )
    key = "bitext_prepost.delta.top1.eng_Latn->fra_Latn"
    assert out[key] == pytest.approx(
        out["bitext_prepost.post.top1.eng_Latn->fra_Latn"]
        - out["bitext_prepost.pre.top1.eng_Latn->fra_Latn"]
    )
    # The control: per-language centring alone gives the same "gain" without any intervention.
    assert out["bitext_prepost.per-language.pre.top1.mean"] == 1.0
    assert out["bitext_prepost.variant.controls"] == "per-language"


def test_geometry_evaluator() -> None:
    pre, post = _world(offset=5.0), _world(offset=0.5)
    ev = GeometryEvaluator("spa_Latn")
    out = ev(pre, post)
    _check_flat(out, ev)
    # The medoid is a sentence embedding ("<lang> #<row>"), not a language (paper Table 1).
    for side in ("pre", "post"):
        lang, row = out[f"geometry.{side}.medoid_language"], out[f"geometry.{side}.medoid_index"]
        assert lang in LANGS and 0 <= int(row) < 50
        assert out[f"geometry.{side}.medoid"] == f"{lang} #{row}"
    assert out["geometry.variant.medoid"] == "point"
    assert out["geometry.delta.mean_pairwise_centroid"] < 0  # languages moved closer
    assert "geometry.post.to_target.eng_Latn" in out
    assert out["geometry.variant.centering"] == "none"
    # The language-centroid variant is a named option and says so.
    ev2 = GeometryEvaluator("spa_Latn", medoid="centroid-language")
    out2 = ev2(pre, post)
    assert out2["geometry.pre.medoid"] in LANGS and out2["geometry.post.medoid"] in LANGS
    assert out2["geometry.pre.medoid_index"] == ""
    assert out2["geometry.variant.medoid"] == "centroid-language"
    with pytest.raises(ValueError, match="medoid"):
        GeometryEvaluator("spa_Latn", medoid="mean")  # type: ignore[arg-type]


def test_paraphrase_mixed_fails_under_rotation() -> None:
    rng = np.random.default_rng(5)
    n, d = 60, 32
    sem = rng.normal(size=(n, d))
    q, c = sem + 0.05 * rng.normal(size=(n, d)), sem + 0.05 * rng.normal(size=(n, d))
    rot, _ = np.linalg.qr(rng.normal(size=(d, d)))  # the "new space" is a rotation of the old
    ev = ParaphraseEvaluator()
    out = ev((q, c), (q @ rot, c @ rot))
    _check_flat(out, ev)
    assert ev.primary_key == "paraphrase.mixed"
    assert out["paraphrase.pre"] == 1.0
    assert out["paraphrase.post"] == 1.0  # rotations keep cosines
    assert out["paraphrase.mixed"] < 0.2  # but the old and new spaces disagree
    same = ev((q, c), (q, c))
    assert same["paraphrase.mixed"] == 1.0
    with pytest.raises(ValueError, match="aligned"):
        ev((q, c), (q[:10], c))


def test_correlation_evaluator() -> None:
    rng = np.random.default_rng(11)
    n, d = 40, 16
    sem = rng.normal(size=(n, d))
    langs = ["tgt", "l1", "l2", "l3", "l4", "l5", "l6"]

    def space(sigmas: list[float]) -> dict[str, np.ndarray]:
        return {
            lang: (sem + s * rng.normal(size=(n, d))).astype(np.float32)
            for lang, s in zip(langs, sigmas, strict=True)
        }

    # Noisier languages are both farther from their translations and harder to retrieve.
    pre = space([0.1, 0.6, 0.9, 1.2, 1.5, 1.8, 2.1])
    post = space([0.1, 0.3, 0.45, 0.6, 0.75, 0.9, 1.05])
    ev = CorrelationEvaluator(query_languages=["tgt"], n_boot=500)
    out = ev(pre, post)
    _check_flat(out, ev)
    assert out["correlation.acc_pre~d_pre.n"] == 6.0
    assert out["correlation.acc_pre~d_pre.r"] < -0.8
    assert out["correlation.acc_post~d_post.r"] < -0.8
    row = "correlation.acc_gain~d_drop"
    assert out[f"{row}.ci_low"] <= out[f"{row}.r"] <= out[f"{row}.ci_high"]
    assert out["correlation.variant.distance"] == "parallel"
    assert out["correlation.variant.direction"] == "forward"
    # Precomputed values, degenerate: constant accuracy gives NaN and a note, not an exception.
    keys = ["a", "b", "c", "d"]
    zero = dict.fromkeys(keys, 0.0)
    flat = ev.evaluate_values(
        zero,
        zero,
        dict(zip(keys, [1.0, 2, 3, 4], strict=True)),
        dict(zip(keys, [1.0, 3, 2, 4], strict=True)),
    )
    assert math.isnan(flat["correlation.acc_pre~d_pre.r"])
    assert "constant" in flat["correlation.acc_pre~d_pre.note"]
    assert flat["correlation.d_post~d_pre.r"] == pytest.approx(0.8)


class MockEncoder:
    """Sentence "<id>|<lang>" -> shared semantic row for <id> + optional offset for <lang>."""

    def __init__(self, d: int = 24, offset: float = 0.0, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.sem = rng.normal(size=(100, d)) / math.sqrt(d)
        self.offsets = {lang: offset * rng.normal(size=d) / math.sqrt(d) for lang in LANGS}
        self.noise = rng
        self.calls: list[tuple[str, int]] = []

    def encode(self, sentences: list[str], **kwargs: object) -> np.ndarray:
        langs = {s.split("|")[1] for s in sentences}
        self.calls.append((next(iter(langs)), len(sentences)))
        rows = [self.sem[int(s.split("|")[0])] + self.offsets[s.split("|")[1]] for s in sentences]
        return np.asarray(rows) + 0.01 * self.noise.normal(size=(len(rows), self.sem.shape[1]))


def test_encoder_end_to_end() -> None:
    corpus = {lang: [f"{i}|{lang}" for i in range(30)] for lang in LANGS}
    enc = MockEncoder()
    assert isinstance(enc, Encoder)
    ev = EncoderBitextEvaluator(corpus)
    out = ev.evaluate(enc)
    assert ev.primary_key == "bitext.top1.mean"
    assert out["bitext.top1.mean"] == 1.0
    assert sorted(enc.calls) == sorted((lang, 30) for lang in LANGS)  # each language once

    original, intervened = MockEncoder(offset=50.0), MockEncoder(offset=0.0)
    prepost = EncoderBitextEvaluator(corpus, PrePostRetrievalEvaluator(LANGS))
    out = prepost.evaluate(original, intervened)
    _check_flat(out, prepost)
    assert out["bitext_prepost.delta.top1.mean"] > 0.8
    assert len(original.calls) == len(intervened.calls) == len(LANGS)

    class Broken:
        def encode(self, sentences: list[str], **kwargs: object) -> np.ndarray:
            return np.zeros((len(sentences) + 1, 4))

    with pytest.raises(ValueError, match="encoder returned shape"):
        ev.evaluate(Broken())
    with pytest.raises(ValueError, match="at least one"):
        ev.evaluate()


class _CorpusLike:
    """Not a mapping: ``.languages`` and ``.sentences(lang)``, like langsteer.corpora.Corpus."""

    def __init__(self, texts: dict[str, list[str]]) -> None:
        self.texts = texts

    @property
    def languages(self) -> list[str]:
        return list(self.texts)

    def __len__(self) -> int:
        return len(next(iter(self.texts.values())))

    def sentences(self, lang: str) -> list[str]:
        return list(self.texts[lang])


def test_encoder_evaluators_accept_corpus_objects_and_paraphrase_pairs() -> None:
    corpus = _CorpusLike({lang: [f"{i}|{lang}" for i in range(20)] for lang in LANGS[:2]})
    ev = EncoderBitextEvaluator(corpus)
    assert ev.languages == LANGS[:2]
    assert ev.evaluate(MockEncoder())["bitext.top1.mean"] == 1.0

    pairs = (
        SimpleNamespace(  # like langsteer.corpora.ParaphrasePairs; deu stands in for a paraphrase
            left=[f"{i}|eng_Latn" for i in range(25)], right=[f"{i}|deu_Latn" for i in range(25)]
        )
    )
    para = EncoderParaphraseEvaluator(pairs)
    original, intervened = MockEncoder(), MockEncoder(seed=1)  # unrelated "new space"
    out = para.evaluate(original, intervened)
    assert para.primary_key == "paraphrase.mixed"
    assert out["paraphrase.pre"] == 1.0 and out["paraphrase.post"] == 1.0
    assert out["paraphrase.mixed"] < 0.3
    assert [c[1] for c in original.calls] == [25, 25]  # each side encoded once
    with pytest.raises(ValueError, match="left but"):
        EncoderParaphraseEvaluator((["a"], ["b", "c"]))
