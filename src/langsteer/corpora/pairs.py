"""Two-language parallel data from local files: TSV, JSONL, Tatoeba (XTREME) and BUCC-18 gold.

Each loader returns a two-language :class:`~langsteer.corpora.base.Corpus`, so retrieval code
treats Tatoeba and BUCC exactly like a FLORES pair. BUCC gives only the gold pairs (the
sentences of both sides that are translations of each other), not the full mining pools.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from langsteer.corpora.base import Corpus, CorpusError, assemble_corpus
from langsteer.corpora.flores import read_lines
from langsteer.languages import (
    UnknownLanguageError,
    get_language,
    normalize_language,
    normalize_languages,
)

__all__ = [
    "languages_from_name",
    "load_bucc",
    "load_jsonl_pairs",
    "load_pairs",
    "load_tatoeba",
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


def _pair_languages(
    languages: list[str] | tuple[str, str] | None, path: Path, fallback: list[str] | None = None
) -> list[str]:
    if languages is not None:
        langs = normalize_languages(languages)
    elif fallback:
        langs = fallback
    else:
        guessed = languages_from_name(path)
        if guessed is None:
            raise CorpusError(
                f"cannot tell the two languages of {path}; pass languages=('deu_Latn', "
                "'eng_Latn') or name the file like 'deu-eng.tsv'"
            )
        langs = list(guessed)
    if len(langs) != 2:
        raise CorpusError(f"a pair file has two languages, got {langs}")
    return langs


def _require_file(path: Path) -> Path:
    if not path.is_file():
        raise CorpusError(f"file not found: {path}")
    return path


def load_tsv_pairs(
    path: str | os.PathLike[str],
    languages: list[str] | tuple[str, str] | None = None,
    *,
    columns: tuple[int, int] = (0, 1),
    header: bool | None = None,
    drop_empty: bool = False,
    duplicates: str = "error",
) -> Corpus:
    """``src<TAB>tgt`` lines. ``header=None`` detects a header row of language codes or
    src/tgt-like words (a language header also names the languages)."""
    path = _require_file(Path(path))
    rows = [line.split("\t") for line in read_lines(path, strip=False)]
    first_line = 1
    header_langs: list[str] | None = None
    if rows:
        cells = [c.strip() for c in rows[0]]
        picked = [cells[i] for i in columns if i < len(cells)]
        langs = [_try_language(c) for c in picked]
        is_header = all(langs) or all(c.lower() in _HEADER_WORDS for c in picked)
        if header if header is not None else is_header:
            if all(langs) and len(set(langs)) == 2:
                header_langs = [x for x in langs if x]
            rows, first_line = rows[1:], 2
    langs = _pair_languages(languages, path, header_langs)
    need = max(columns) + 1
    bad = [first_line + i for i, row in enumerate(rows) if len(row) < need]
    if bad:
        raise CorpusError(f"{path}: line(s) {bad[:5]} have fewer than {need} tab-separated columns")
    texts = {
        lang: [row[col].strip() for row in rows] for lang, col in zip(langs, columns, strict=True)
    }
    provenance = {"source": "tsv-pairs", "files": {lang: str(path) for lang in langs}}
    return assemble_corpus(
        [str(i + 1) for i in range(len(rows))],
        texts,
        provenance,
        drop_empty=drop_empty,
        duplicates=duplicates,
        locate=lambda lang, i: f"{path}:{first_line + i}",
    )


def load_jsonl_pairs(
    path: str | os.PathLike[str],
    languages: list[str] | tuple[str, str] | None = None,
    *,
    keys: tuple[str, str] | None = None,
    id_key: str | None = None,
    drop_empty: bool = False,
    duplicates: str = "error",
) -> Corpus:
    """One JSON object per line. ``keys=None``: ``src``/``tgt`` if present, else the two keys
    that are language codes (``{"deu": ..., "eng": ...}``). Ids from ``id_key`` (default
    ``"id"`` when present), else line numbers."""
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
    key_langs: list[str] | None = None
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
            key_langs = [normalize_language(k) for k in keys]
    langs = _pair_languages(languages, path, key_langs)
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
    provenance = {"source": "jsonl-pairs", "files": {lang: str(path) for lang in langs}}
    linenos = [n for n, _ in records]
    return assemble_corpus(
        ids,
        texts,
        provenance,
        drop_empty=drop_empty,
        duplicates=duplicates,
        locate=lambda _l, i: f"{path}:{linenos[i]}",
    )


_TATOEBA_RE = re.compile(r"^tatoeba\.([A-Za-z_]+)-eng\.\1$")


def load_tatoeba(
    root: str | os.PathLike[str], lang: str, *, drop_empty: bool = False, duplicates: str = "error"
) -> Corpus:
    """Tatoeba test pairs in the XTREME/LASER layout: ``tatoeba.<l>-eng.<l>`` and
    ``tatoeba.<l>-eng.eng`` (``<l>`` is Tatoeba's ISO 639-3 code: ``deu``, ``cmn``, ``ara``)."""
    root = Path(root)
    directory = root.parent if root.is_file() else root
    if not directory.is_dir():
        raise CorpusError(f"Tatoeba directory {directory} not found")
    target = normalize_language(lang)
    found: dict[str, str] = {}
    for path in directory.iterdir():
        match = _TATOEBA_RE.match(path.name)
        code = _try_language(match.group(1)) if match else None
        if code:
            found[code] = match.group(1)  # type: ignore[union-attr]
    if target not in found:
        raise CorpusError(
            f"no tatoeba.<l>-eng.<l> files for {target} in {directory}; "
            f"available: {', '.join(sorted(found)) or 'none'}"
        )
    tag = found[target]
    src = directory / f"tatoeba.{tag}-eng.{tag}"
    eng = _require_file(directory / f"tatoeba.{tag}-eng.eng")
    files = {target: src, "eng_Latn": eng}
    texts = {k: read_lines(p) for k, p in files.items()}
    if len(texts[target]) != len(texts["eng_Latn"]):
        raise CorpusError(
            f"misaligned Tatoeba files: {src}: {len(texts[target])} lines; "
            f"{eng}: {len(texts['eng_Latn'])} lines"
        )
    provenance = {
        "source": "tatoeba",
        "files": {k: str(p) for k, p in files.items()},
        "licence": "CC BY 2.0 FR (Tatoeba)",
    }
    return assemble_corpus(
        [str(i + 1) for i in range(len(texts[target]))],
        texts,
        provenance,
        drop_empty=drop_empty,
        duplicates=duplicates,
        locate=lambda lng, i: f"{files[lng]}:{i + 1}",
    )


def _read_id_file(path: Path) -> dict[str, tuple[str, int]]:
    out: dict[str, tuple[str, int]] = {}
    for lineno, line in enumerate(read_lines(path, strip=False), start=1):
        if not line.strip():
            continue
        sid, sep, text = line.partition("\t")
        sid = sid.strip()
        if not sep:
            raise CorpusError(f"{path}:{lineno}: expected 'id<TAB>sentence'")
        if sid in out:
            raise CorpusError(f"{path}:{lineno}: duplicate sentence id {sid!r}")
        out[sid] = (text.strip(), lineno)
    return out


def load_bucc(
    root: str | os.PathLike[str],
    lang: str,
    split: str = "test",
    *,
    drop_empty: bool = False,
    duplicates: str = "error",
) -> Corpus:
    """BUCC-18 gold pairs: ``<l>-en.<split>.<l>``, ``.en`` (``id<TAB>sentence``) and ``.gold``
    (``id_l<TAB>id_en``), in ``root`` or ``root/<l>-en/``. Ids are ``"<id_l>|<id_en>"``."""
    target = normalize_language(lang)
    code = get_language(target).iso1
    if code is None:
        raise CorpusError(f"BUCC uses ISO 639-1 file names; {target} has no ISO 639-1 code")
    root = Path(root)
    prefix = f"{code}-en.{split}"
    directory = next(
        (d for d in (root, root / f"{code}-en") if (d / f"{prefix}.{code}").is_file()), None
    )
    if directory is None:
        raise CorpusError(
            f"no BUCC file {prefix}.{code} in {root} or {root / f'{code}-en'}; expected "
            f"{prefix}.{code}, {prefix}.en and {prefix}.gold"
        )
    paths = {
        "src": directory / f"{prefix}.{code}",
        "en": _require_file(directory / f"{prefix}.en"),
        "gold": directory / f"{prefix}.gold",
    }
    if not paths["gold"].is_file():
        raise CorpusError(
            f"gold file {paths['gold']} not found (BUCC gold pairs are needed for evaluation)"
        )
    src, eng = _read_id_file(paths["src"]), _read_id_file(paths["en"])
    ids: list[str] = []
    texts: dict[str, list[str]] = {target: [], "eng_Latn": []}
    where: list[str] = []
    for lineno, line in enumerate(read_lines(paths["gold"]), start=1):
        if not line:
            continue
        fields = line.split()
        if len(fields) != 2:
            raise CorpusError(f"{paths['gold']}:{lineno}: expected 'id_{code}<TAB>id_en'")
        a, b = fields
        if a not in src and b in src and a in eng:  # gold written en-first
            a, b = b, a
        missing = [x for x, pool in ((a, src), (b, eng)) if x not in pool]
        if missing:
            raise CorpusError(f"{paths['gold']}:{lineno}: unknown sentence id(s) {missing}")
        ids.append(f"{a}|{b}")
        texts[target].append(src[a][0])
        texts["eng_Latn"].append(eng[b][0])
        where.append(f"{paths['src']}:{src[a][1]} / {paths['en']}:{eng[b][1]}")
    if not ids:
        raise CorpusError(f"{paths['gold']} holds no pairs")
    provenance = {
        "source": "bucc2018",
        "split": split,
        "files": {k: str(p) for k, p in paths.items()},
        "n_gold": len(ids),
        "pool_sizes": {target: len(src), "eng_Latn": len(eng)},
        "note": "gold pairs only, not the full mining pools",
    }
    return assemble_corpus(
        ids,
        texts,
        provenance,
        drop_empty=drop_empty,
        duplicates=duplicates,
        locate=lambda _l, i: where[i],
    )


def load_pairs(
    path: str | os.PathLike[str],
    languages: list[str] | tuple[str, str] | None = None,
    **kwargs: Any,
) -> Corpus:
    """Dispatch on the suffix: ``.jsonl`` -> JSONL, ``.tsv``/``.txt`` -> TSV."""
    suffix = Path(path).suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        return load_jsonl_pairs(path, languages, **kwargs)
    if suffix in (".tsv", ".txt", ".tab"):
        return load_tsv_pairs(path, languages, **kwargs)
    raise CorpusError(f"unknown pair file type {suffix!r} for {path}; use .tsv or .jsonl")
