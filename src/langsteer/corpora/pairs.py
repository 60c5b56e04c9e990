"""Two-language parallel data from local TSV and JSONL files.

Each loader returns a two-language :class:`~langsteer.corpora.base.Corpus`, so retrieval code
treats such a file exactly like a FLORES pair. Which column is which language comes from
the data (file names, a header row, JSON keys), never from the order in which a caller lists
languages, and a language identifier checks every column
(:mod:`langsteer.corpora.langcheck`). Tatoeba and BUCC-18, whose file layouts fix the
languages, are read by :mod:`langsteer.corpora.tatoeba_bucc`.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

from langsteer.corpora.assemble import assemble_corpus
from langsteer.corpora.base import Corpus, CorpusError
from langsteer.corpora.flores import read_lines
from langsteer.corpora.langcheck import check_corpus, check_mode
from langsteer.languages import (
    UnknownLanguageError,
    normalize_language,
    normalize_languages,
)

__all__ = [
    "languages_from_name",
    "load_jsonl_pairs",
    "load_pairs",
    "load_tsv_pairs",
]

_HEADER_WORDS = {"src", "tgt", "source", "target", "sentence1", "sentence2", "text1", "text2"}


def _try_language(token: str) -> str | None:
    try:
        return normalize_language(token)
    except UnknownLanguageError:
        return None


def languages_from_name(path: str | os.PathLike[str]) -> tuple[str, str] | None:
    """Guess the pair from names like ``tatoeba.deu-eng.tsv`` or ``de-en.jsonl``."""
    for token in Path(path).name.split("."):
        parts = token.split("-")
        if len(parts) == 2:
            a, b = _try_language(parts[0]), _try_language(parts[1])
            if a and b and a != b:
                return a, b
    return None


def _column_languages(
    path: Path,
    languages: list[str] | tuple[str, ...] | None,
    name_langs: tuple[str, str] | None,
    inner_langs: list[str] | None = None,
    inner: str = "header",
) -> tuple[list[str], str, list[str]]:
    """The languages of the two columns in file order, where that order came from, and the
    languages to keep.

    The file says which column is which: its name (``eng-jpn.tsv``) or ``inner`` (a header
    row of language codes, or JSON keys that are language codes). ``languages`` then only
    selects or confirms (any order, any spelling), and a contradiction is an error naming
    both. Only a file that says nothing takes its column order from ``languages``.
    """
    given = None if languages is None else normalize_languages(languages)
    name = list(name_langs) if name_langs else None
    if name and inner_langs:
        # a header fixes the order; JSON keys label each value whatever the key order
        same = name == inner_langs if inner == "header" else set(name) == set(inner_langs)
        if not same:
            raise CorpusError(
                f"{path}: the file name says the columns are {', '.join(name)} but its "
                f"{inner} {_say(inner)} {', '.join(inner_langs)}; rename the file or fix the "
                f"{inner}"
            )
    file_langs, source = (inner_langs, inner) if inner_langs else (name, "file name")
    if file_langs:
        unknown = [x for x in given or [] if x not in file_langs]
        if unknown:
            raise CorpusError(
                f"languages={given} contradict {path.name}: its {source} {_say(source)} "
                f"column 1 is {file_langs[0]} and column 2 is {file_langs[1]}; the file, not "
                "languages=, says which column is which (rename the file or fix its header "
                "if it is wrong)"
            )
        return list(file_langs), source, given or list(file_langs)
    if given is None:
        raise CorpusError(
            f"cannot tell the two languages of {path}; name the file like 'deu-eng.tsv' "
            "(column 1 German, column 2 English), add a header row 'deu<TAB>eng', or pass "
            "languages=('deu_Latn', 'eng_Latn') in column order"
        )
    if len(given) != 2:
        raise CorpusError(f"a pair file has two languages, got {given}")
    return given, "given by the caller", given


def _say(subject: str) -> str:
    return "say" if subject == "keys" else "says"


def _finish(
    corpus: Corpus,
    where: dict[str, str],
    source: str,
    keep: list[str],
    language_check: str,
) -> Corpus:
    """Check each column's language, then keep the selected languages (file order)."""
    context = (
        "their order was given by the caller (languages=)"
        if source == "given by the caller"
        else f"the column order came from the {source}"
    )
    check_corpus(corpus, where, language_check, context=context)
    if set(keep) != set(corpus.languages):
        corpus = corpus.subset(languages=[x for x in corpus.languages if x in keep])
    return corpus


def _require_file(path: Path) -> Path:
    if not path.is_file():
        raise CorpusError(f"file not found: {path}")
    return path


def _fields(line: str, need: int) -> list[str]:
    """Tab-separated fields; empty fields after the last needed one are dropped (a trailing
    tab is no extra column)."""
    fields = line.split("\t")
    while len(fields) > need and not fields[-1].strip():
        fields.pop()
    return fields


def load_tsv_pairs(
    path: str | os.PathLike[str],
    languages: list[str] | tuple[str, str] | None = None,
    *,
    columns: tuple[int, int] = (0, 1),
    header: bool | None = None,
    drop_empty: bool = False,
    duplicates: str = "error",
    language_check: str = "error",
) -> Corpus:
    """``src<TAB>tgt`` lines. ``header=None`` detects a header row of language codes or
    src/tgt-like words.

    Which column is which language comes from the file: its name (``eng-jpn.tsv``: column 1
    English) or a header row of language codes; ``languages`` only selects or confirms, and
    gives the order only when the file says nothing (recorded as ``column_order``). Every
    column is checked with a language identifier (``language_check``: ``"error"``,
    ``"warn"``, ``"off"``). A row with more fields than the others (a tab inside a sentence)
    is an error.
    """
    check_mode(language_check)
    path = _require_file(Path(path))
    need = max(columns) + 1
    rows = [_fields(line, need) for line in read_lines(path, strip=False)]
    first_line = 1
    header_langs: list[str] | None = None
    width: int | None = None
    if rows:
        cells = [c.strip() for c in rows[0]]
        picked = [cells[i] for i in columns if i < len(cells)]
        langs = [_try_language(c) for c in picked]
        is_header = all(langs) or all(c.lower() in _HEADER_WORDS for c in picked)
        if header if header is not None else is_header:
            if all(langs) and len(set(langs)) == 2:
                header_langs = [x for x in langs if x]
            width = max(len(rows[0]), need)
            rows, first_line = rows[1:], 2
    langs, source, keep = _column_languages(
        path, languages, languages_from_name(path), header_langs, "header"
    )
    bad = [first_line + i for i, row in enumerate(rows) if len(row) < need]
    if bad:
        raise CorpusError(f"{path}: line(s) {bad[:5]} have fewer than {need} tab-separated columns")
    if width is None and rows:  # no header: the usual width of the rows
        counts = Counter(len(row) for row in rows)
        width = max(min(counts, key=lambda w: (-counts[w], w)), need)
    wide = [(first_line + i, len(row)) for i, row in enumerate(rows) if len(row) > (width or 0)]
    if wide:
        shown = ", ".join(f"{path}:{n} ({k} fields)" for n, k in wide[:5])
        more = f" and {len(wide) - 5} more" if len(wide) > 5 else ""
        raise CorpusError(
            f"{shown}{more}: more tab-separated fields than the {width} of the "
            f"{'header' if first_line == 2 else 'other rows'}; probably a tab inside a "
            "sentence, which would cut the sentence short: replace it with a space"
        )
    texts = {
        lang: [row[col].strip() for row in rows] for lang, col in zip(langs, columns, strict=True)
    }
    provenance = {
        "source": "tsv-pairs",
        "files": {lang: str(path) for lang in langs},
        "columns": {lang: col + 1 for lang, col in zip(langs, columns, strict=True)},
        "column_order": source,
    }
    corpus = assemble_corpus(
        [str(i + 1) for i in range(len(rows))],
        texts,
        provenance,
        drop_empty=drop_empty,
        duplicates=duplicates,
        locate=lambda lang, i: f"{path}:{first_line + i}",
    )
    where = {
        lang: f"column {col + 1} of {path.name}" for lang, col in zip(langs, columns, strict=True)
    }
    return _finish(corpus, where, source, keep, language_check)


def load_jsonl_pairs(
    path: str | os.PathLike[str],
    languages: list[str] | tuple[str, str] | None = None,
    *,
    keys: tuple[str, str] | None = None,
    id_key: str | None = None,
    drop_empty: bool = False,
    duplicates: str = "error",
    language_check: str = "error",
) -> Corpus:
    """One JSON object per line. ``keys=None``: ``src``/``tgt`` if present, else the two keys
    that are language codes (``{"deu": ..., "eng": ...}``). Ids from ``id_key`` (default
    ``"id"`` when present), else line numbers.

    Keys that are language codes label their values; otherwise the file name
    (``deu-eng.jsonl``: ``src`` German) does, and ``languages`` only when neither says
    anything (see :func:`load_tsv_pairs`). Every side is checked with a language identifier.
    """
    check_mode(language_check)
    path = _require_file(Path(path))
    records: list[tuple[int, dict[str, Any]]] = []
    for lineno, line in enumerate(read_lines(path), start=1):
        if not line:
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as err:
            raise CorpusError(f"{path}:{lineno}: invalid JSON ({err.msg})") from None
        if not isinstance(obj, dict):
            raise CorpusError(f"{path}:{lineno}: expected a JSON object")
        records.append((lineno, obj))
    if not records:
        raise CorpusError(f"{path} holds no records")
    first = records[0][1]
    if keys is None:
        if "src" in first and "tgt" in first:
            keys = ("src", "tgt")
        else:
            lang_keys = [k for k in first if k != id_key and k != "id" and _try_language(k)]
            if len(lang_keys) != 2:
                raise CorpusError(
                    f"{path}: cannot tell which keys hold the two sentences (keys: "
                    f"{sorted(first)}); pass keys=('src', 'tgt')"
                )
            keys = (lang_keys[0], lang_keys[1])
    key_codes = [_try_language(k) for k in keys]
    key_langs = [x for x in key_codes if x] if all(key_codes) and len(set(key_codes)) == 2 else None
    langs, source, keep = _column_languages(
        path, languages, languages_from_name(path), key_langs, "keys"
    )
    if id_key is None and "id" in first:
        id_key = "id"
    texts: dict[str, list[str]] = {lang: [] for lang in langs}
    ids: list[str] = []
    for lineno, obj in records:
        for lang, key in zip(langs, keys, strict=True):
            value = obj.get(key)
            if not isinstance(value, str):
                raise CorpusError(f"{path}:{lineno}: key {key!r} missing or not a string")
            texts[lang].append(value.strip())
        ids.append(str(obj[id_key]) if id_key else str(lineno))
    provenance = {
        "source": "jsonl-pairs",
        "files": {lang: str(path) for lang in langs},
        "keys": dict(zip(langs, keys, strict=True)),
        "column_order": source,
    }
    linenos = [n for n, _ in records]
    corpus = assemble_corpus(
        ids,
        texts,
        provenance,
        drop_empty=drop_empty,
        duplicates=duplicates,
        locate=lambda _l, i: f"{path}:{linenos[i]}",
    )
    where = {lang: f"key {key!r} of {path.name}" for lang, key in zip(langs, keys, strict=True)}
    return _finish(corpus, where, source, keep, language_check)


def load_pairs(
    path: str | os.PathLike[str],
    languages: list[str] | tuple[str, str] | None = None,
    **kwargs: Any,
) -> Corpus:
    """Dispatch on the suffix: ``.jsonl`` -> JSONL, ``.tsv``/``.txt`` -> TSV. The file's name
    or header says which column is which; ``languages`` selects or confirms."""
    suffix = Path(path).suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        return load_jsonl_pairs(path, languages, **kwargs)
    if suffix in (".tsv", ".txt", ".tab"):
        return load_tsv_pairs(path, languages, **kwargs)
    raise CorpusError(f"unknown pair file type {suffix!r} for {path}; use .tsv or .jsonl")
