"""Language identification of generations: FLORES codes, candidate sets, 'und' for nothing."""

from __future__ import annotations

import sys

import pytest

from langsteer.generation import langid
from langsteer.generation.langid import identifier_info, identify, language_rates

SENTENCES = {
    "eng_Latn": [
        "The weather was cold this morning, so we stayed at home and read books.",
        "She told me that the train to the city leaves every hour from the old station.",
        "Children should drink more water and eat fresh vegetables every day.",
    ],
    "deu_Latn": [
        "Das Wetter war heute Morgen kalt, deshalb sind wir zu Hause geblieben.",
        "Sie hat mir gesagt, dass der Zug in die Stadt jede Stunde vom alten Bahnhof fährt.",
        "Kinder sollten jeden Tag mehr Wasser trinken und frisches Gemüse essen.",
    ],
    "fra_Latn": [
        "Il faisait froid ce matin, alors nous sommes restés à la maison pour lire.",
        "Elle m'a dit que le train pour la ville part toutes les heures de la vieille gare.",
        "Les enfants devraient boire plus d'eau et manger des légumes frais chaque jour.",
    ],
    "spa_Latn": [
        "Hacía frío esta mañana, así que nos quedamos en casa leyendo libros.",
        "Ella me dijo que el tren a la ciudad sale cada hora desde la estación vieja.",
        "Los niños deberían beber más agua y comer verduras frescas todos los días.",
    ],
}


def test_identifies_real_sentences_as_flores_codes():
    for lang, sents in SENTENCES.items():
        for code, prob in identify(sents):
            assert code == lang
            assert 0.5 < prob <= 1.0


def test_candidate_set_restricts_the_answer():
    text = ["Quid est veritas? Veni, vidi, vici, et alea iacta est."]  # Latin
    free = identify(text)[0][0]
    restricted, prob = identify(text, languages=["en", "fra_Latn", "German"])[0]
    assert restricted in {"eng_Latn", "fra_Latn", "deu_Latn"} and restricted != free
    assert 0 < prob <= 1
    assert identify(["The cat is sleeping on the sofa."], languages=["de", "fr"])[0][0] in {
        "deu_Latn",
        "fra_Latn",
    }
    with pytest.raises(ValueError, match="cannot identify"):
        identify(text, languages=["wol_Latn"])  # no such label in the identifier's model
    with pytest.raises(ValueError, match="empty"):
        identify(text, languages=[])


def test_empty_and_featureless_generations_are_undetermined():
    got = identify(["", "   \n\t", "...", "The weather is nice today."])
    assert got[:3] == [("und", 0.0)] * 3
    assert got[3][0] == "eng_Latn"
    assert identify([]) == []
    # with two candidates a featureless text gives 0.5 / 0.5: still undetermined
    assert identify(["..."], languages=["en", "de"]) == [("und", 0.0)]


def test_language_rates():
    texts = SENTENCES["spa_Latn"] + SENTENCES["fra_Latn"][:1] + ["", " "]
    r = language_rates(texts, "es")
    assert r["target"] == "spa_Latn" and r["n"] == 6
    assert r["target_rate"] == pytest.approx(0.5)
    assert r["distribution"] == pytest.approx({"spa_Latn": 0.5, "und": 2 / 6, "fra_Latn": 1 / 6})
    assert next(iter(r["distribution"])) == "spa_Latn"  # largest share first
    assert sum(r["distribution"].values()) == pytest.approx(1.0)
    assert r["identifier"]["name"] == "py3langid" and r["identifier"]["version"]
    # the target always joins a restricted candidate set
    r2 = language_rates(SENTENCES["deu_Latn"], "de", languages=["en", "fr"])
    assert r2["target_rate"] == 1.0
    assert r2["identifier"]["languages"] == ["deu_Latn", "eng_Latn", "fra_Latn"]
    assert identifier_info()["languages"] is None


def test_bad_inputs():
    with pytest.raises(ValueError, match="non-empty"):
        language_rates([], "en")
    with pytest.raises(TypeError):
        identify("one string, not a list")
    with pytest.raises(ValueError, match="cannot identify the target"):
        language_rates(["text"], "wol_Latn")
    from langsteer.languages import UnknownLanguageError

    with pytest.raises(UnknownLanguageError):
        language_rates(["text"], "klingon")


def test_missing_py3langid_gives_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "py3langid", None)
    monkeypatch.setitem(sys.modules, "py3langid.langid", None)
    monkeypatch.setattr(langid, "_IDENTIFIERS", {})
    with pytest.raises(ImportError, match="pip install py3langid"):
        identify(["The weather is nice today."])
