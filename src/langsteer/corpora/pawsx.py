"""PAWS-X paraphrase pairs from local TSV files (paper Table 3: within-language retrieval).

PAWS-X rows are ``id<TAB>sentence1<TAB>sentence2<TAB>label`` with a header; label 1 means
paraphrase. Only label-1 rows are kept, because retrieval needs a true partner for every query.
"""

from __future__ import annotations

import os
from pathlib import Path

from langsteer.corpora.base import CorpusError, ParaphrasePairs
from langsteer.corpora.flores import read_lines
from langsteer.languages import UnknownLanguageError, get_language, normalize_language

__all__ = ["PAWSX_FILES", "load_pawsx"]

# split -> file names used by the PAWS-X release (x-final/<lang>/...), English first
PAWSX_FILES = {
    "test": ("test_2k.tsv", "test.tsv"),
    "dev": ("dev_2k.tsv", "dev.tsv"),
    "train": ("translated_train.tsv", "train.tsv"),
}
_COLUMNS = ("id", "sentence1", "sentence2", "label")


def _find_file(root: Path, lang: str | None, split: str) -> Path:
    if root.is_file():
        return root
    if split not in PAWSX_FILES:
        raise ValueError(f"PAWS-X split must be one of {sorted(PAWSX_FILES)}, got {split!r}")
    dirs = [root]
    if lang is not None:
        code = get_language(lang).iso1 or get_language(lang).iso3
        dirs.insert(0, root / code)
    for directory in dirs:
        for name in PAWSX_FILES[split]:
            if (directory / name).is_file():
                return directory / name
    raise CorpusError(
        f"no PAWS-X {split} file in {' or '.join(str(d) for d in dirs)}; "
        f"expected one of {PAWSX_FILES[split]}"
    )


def load_pawsx(
    path: str | os.PathLike[str],
    lang: str | None = None,
    *,
    split: str = "test",
    label: int = 1,
    drop_empty: bool = False,
) -> ParaphrasePairs:
    """Load PAWS-X pairs with ``label`` (default 1 = paraphrase) from a TSV file or the
    release directory (``<root>/<lang>/test_2k.tsv``). The language defaults to the name of
    the file's folder (``x-final/de/...``)."""
    root = Path(path)
    file = _find_file(root, lang, split)
    if lang is None:
        try:
            lang = normalize_language(file.parent.name)
        except UnknownLanguageError:
            raise CorpusError(
                f"cannot tell the language of {file} from its folder; pass lang='deu_Latn'"
            ) from None
    code = normalize_language(lang)
    lines = read_lines(file, strip=False)
    columns = {name: i for i, name in enumerate(_COLUMNS)}
    start = 0
    if lines and lines[0].split("\t")[0].strip().lower() == "id":
        header = [h.strip().lower() for h in lines[0].split("\t")]
        missing = [c for c in _COLUMNS if c not in header]
        if missing:
            raise CorpusError(f"{file}: header lacks column(s) {missing}; has {header}")
        columns = {name: header.index(name) for name in _COLUMNS}
        start = 1
    need = max(columns.values()) + 1
    ids: list[str] = []
    left: list[str] = []
    right: list[str] = []
    empty: list[str] = []
    n_rows = 0
    for lineno, line in enumerate(lines[start:], start=start + 1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) < need:
            raise CorpusError(f"{file}:{lineno}: expected {need} tab-separated columns")
        n_rows += 1
        try:
            row_label = int(fields[columns["label"]].strip())
        except ValueError:
            raise CorpusError(
                f"{file}:{lineno}: label {fields[columns['label']]!r} is not an integer"
            ) from None
        if row_label != label:
            continue
        s1, s2 = fields[columns["sentence1"]].strip(), fields[columns["sentence2"]].strip()
        row_id = fields[columns["id"]].strip()
        if not s1 or not s2:
            if not drop_empty:
                raise CorpusError(
                    f"{file}:{lineno}: empty sentence in pair {row_id!r}; "
                    "drop such pairs with corpus.drop_empty = true (CLI: --drop-empty; "
                    "Python: drop_empty=True)"
                )
            empty.append(row_id)
            continue
        ids.append(row_id)
        left.append(s1)
        right.append(s2)
    provenance = {
        "source": "paws-x",
        "split": split,
        "file": str(file),
        "label_kept": label,
        "n_rows": n_rows,
        "licence": "PAWS-X (Google): free to use, acknowledgement of Google appreciated",
    }
    if empty:
        provenance["dropped_empty"] = {"n": len(empty), "ids": empty}
    if not ids:
        raise CorpusError(f"{file}: no pairs with label {label}")
    return ParaphrasePairs(code, left, right, provenance=provenance, ids=ids)
