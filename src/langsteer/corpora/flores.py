"""FLORES-200 / FLORES+ and generic "one file per language" directories (local files only).

Layouts accepted, per split directory ``<root>/<split>/``:

* FLORES-200 release: ``eng_Latn.dev``, ``eng_Latn.devtest``;
* FLORES+ release archives: ``dev.eng_Latn`` (also glottocode-suffixed ``dev.apc_Arab_nort3139``
  and relabelled codes such as ``cmn_Hans`` for ``zho_Hans``);
* plain ``eng_Latn``, ``eng_Latn.txt`` or the Hugging Face FLORES+ ``eng_Latn.parquet`` (needs
  ``pyarrow``).

Sentence ids are 1-based sentence numbers, identical to FLORES line numbers.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from langsteer.corpora.assemble import assemble_corpus
from langsteer.corpora.base import Corpus, CorpusError, MissingLanguageError
from langsteer.corpora.langcheck import check_corpus, check_mode
from langsteer.languages import UnknownLanguageError, normalize_language, normalize_languages

__all__ = ["FLORES_SPLITS", "find_language_files", "load_flores", "load_text_dir", "read_lines"]

FLORES_SPLITS = ("dev", "devtest")
FLORES_LICENCE = "CC BY-SA 4.0 (FLORES-200 / FLORES+, NLLB Team et al. 2022, OLDI)"


def read_lines(path: str | os.PathLike[str], *, strip: bool = True) -> list[str]:
    """Lines of a UTF-8 file (stripped unless ``strip=False``); a final newline is no line.

    Splits on ``\\n`` only: ``str.splitlines`` would also split on U+2028/U+0085 inside a
    sentence and shift every following line.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as err:
        raise CorpusError(f"{path} is not valid UTF-8 ({err})") from None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line.strip() if strip else line.rstrip("\r") for line in lines]


def _read_parquet(path: Path) -> list[str]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise CorpusError(
            f"reading {path} needs pyarrow (pip install pyarrow), or convert it to a text file "
            "with one sentence per line"
        ) from None
    table = pq.read_table(path)
    column = next((c for c in ("text", "sentence") if c in table.column_names), None)
    if column is None:
        raise CorpusError(f"{path}: no 'text' or 'sentence' column (has {table.column_names})")
    if "id" in table.column_names:
        table = table.sort_by("id")
    return [("" if s is None else str(s)).strip() for s in table.column(column).to_pylist()]


def _read_any(path: Path) -> list[str]:
    return _read_parquet(path) if path.suffix == ".parquet" else read_lines(path)


def _language_of(name: str, split: str | None) -> str | None:
    """FLORES code for a file name, or None when the name is no language."""
    if name.startswith("."):
        return None
    lower = name.lower()
    stem = name
    if split and lower.endswith("." + split):
        stem = name[: -len(split) - 1]
    elif split and lower.startswith(split + "."):
        stem = name[len(split) + 1 :]
    elif lower.endswith((".txt", ".parquet")):
        stem = name.rsplit(".", 1)[0]
    elif "." in name:
        return None
    try:
        return normalize_language(stem)
    except UnknownLanguageError:
        return None


def find_language_files(
    directory: str | os.PathLike[str], split: str | None = None
) -> dict[str, list[Path]]:
    """Map FLORES code -> files in ``directory`` whose names denote that language."""
    directory = Path(directory)
    found: dict[str, list[Path]] = {}
    for path in sorted(directory.iterdir()):
        if not path.is_file():
            continue
        code = _language_of(path.name, split)
        if code is not None:
            found.setdefault(code, []).append(path)
    return found


def _split_dir(root: Path, split: str) -> Path:
    if (root / split).is_dir():
        return root / split
    nested = sorted(p / split for p in root.iterdir() if p.is_dir() and (p / split).is_dir())
    if len(nested) == 1:  # e.g. the archive's top folder flores200_dataset/ or floresp-v2.0/
        return nested[0]
    if nested:
        raise CorpusError(f"several {split}/ directories under {root}: {[str(p) for p in nested]}")
    raise CorpusError(
        f"no {split}/ directory in {root}; expected the FLORES layout "
        f"<root>/{split}/<code>.{split} (FLORES-200) or <root>/{split}/{split}.<code> (FLORES+)"
    )


def _load_files(
    files: dict[str, list[Path]],
    languages: list[str] | None,
    directory: Path,
    provenance: dict[str, Any],
    drop_empty: bool,
    duplicates: str,
    language_check: str,
) -> Corpus:
    check_mode(language_check)
    if not files:
        raise CorpusError(f"no language files found in {directory}")
    wanted = list(files) if languages is None else normalize_languages(languages)
    missing = [lang for lang in wanted if lang not in files]
    if missing:
        raise MissingLanguageError(
            f"no file for {', '.join(missing)} in {directory}; "
            f"available languages: {', '.join(sorted(files))}"
        )
    chosen: dict[str, Path] = {}
    for lang in wanted:
        if len(files[lang]) > 1:
            raise CorpusError(
                f"several files for {lang} in {directory}: {[p.name for p in files[lang]]}"
            )
        chosen[lang] = files[lang][0]
    texts = {lang: _read_any(path) for lang, path in chosen.items()}
    counts = {lang: len(t) for lang, t in texts.items()}
    if len(set(counts.values())) > 1:
        detail = "; ".join(f"{chosen[lang]}: {n} lines" for lang, n in counts.items())
        raise CorpusError(f"misaligned files (different numbers of sentences): {detail}")
    n = next(iter(counts.values()))
    provenance = {**provenance, "files": {lang: str(p) for lang, p in chosen.items()}}
    corpus = assemble_corpus(
        [str(i + 1) for i in range(n)],
        texts,
        provenance,
        drop_empty=drop_empty,
        duplicates=duplicates,
        locate=lambda lang, i: f"{chosen[lang]}:{i + 1}",
    )
    return check_corpus(corpus, {lang: p.name for lang, p in chosen.items()}, language_check)


def load_flores(
    root: str | os.PathLike[str],
    split: str = "dev",
    languages: list[str] | None = None,
    *,
    drop_empty: bool = False,
    duplicates: str = "error",
    language_check: str = "error",
) -> Corpus:
    """Load a FLORES-200 or FLORES+ split from a local copy (all languages if none given).

    Each file is checked with a language identifier (``language_check``: ``"error"``,
    ``"warn"`` or ``"off"``; see :mod:`langsteer.corpora.langcheck`)."""
    if split not in FLORES_SPLITS:
        raise ValueError(f"FLORES split must be one of {FLORES_SPLITS}, got {split!r}")
    root = Path(root)
    if not root.is_dir():
        raise CorpusError(f"FLORES root {root} is not a directory")
    directory = _split_dir(root, split)
    provenance = {
        "source": "flores",
        "split": split,
        "root": str(root),
        "licence": FLORES_LICENCE,
    }
    return _load_files(
        find_language_files(directory, split),
        languages,
        directory,
        provenance,
        drop_empty,
        duplicates,
        language_check,
    )


def load_text_dir(
    directory: str | os.PathLike[str],
    languages: list[str] | None = None,
    *,
    drop_empty: bool = False,
    duplicates: str = "error",
    language_check: str = "error",
) -> Corpus:
    """Load ``<dir>/<code>.txt`` (or ``<dir>/<code>``) files, one sentence per line.

    File names may be any accepted language spelling (``en.txt``, ``eng_Latn.txt``); files
    whose names are no language are ignored and listed in the provenance. Each file is
    checked with a language identifier (``language_check``, as for :func:`load_flores`).
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise CorpusError(f"{directory} is not a directory")
    files = find_language_files(directory)
    known = {p for paths in files.values() for p in paths}
    ignored = sorted(p.name for p in directory.iterdir() if p.is_file() and p not in known)
    provenance = {"source": "text-dir", "root": str(directory), "ignored_files": ignored}
    return _load_files(
        files, languages, directory, provenance, drop_empty, duplicates, language_check
    )
