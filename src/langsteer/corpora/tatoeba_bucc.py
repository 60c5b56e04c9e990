"""Tatoeba (XTREME/LASER layout) and BUCC-18 gold pairs: benchmark bitext in fixed file layouts.

Split from :mod:`langsteer.corpora.pairs` (generic TSV/JSONL pair files, where the columns'
languages must be worked out) because here the file names fix the languages: each loader
finds its files by a naming convention, aligns them, and checks every side with a language
identifier (:mod:`langsteer.corpora.langcheck`). BUCC gives only the gold pairs (the
sentences of both sides that are translations of each other), not the full mining pools.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from langsteer.corpora.assemble import assemble_corpus
from langsteer.corpora.base import Corpus, CorpusError
from langsteer.corpora.flores import read_lines
from langsteer.corpora.langcheck import check_corpus, check_mode
from langsteer.corpora.pairs import _require_file, _try_language
from langsteer.languages import get_language, normalize_language

__all__ = ["load_bucc", "load_tatoeba"]

_TATOEBA_RE = re.compile(r"^tatoeba\.([A-Za-z_]+)-eng\.\1$")


def load_tatoeba(
    root: str | os.PathLike[str],
    lang: str,
    *,
    drop_empty: bool = False,
    duplicates: str = "error",
    language_check: str = "error",
) -> Corpus:
    """Tatoeba test pairs in the XTREME/LASER layout: ``tatoeba.<l>-eng.<l>`` and
    ``tatoeba.<l>-eng.eng`` (``<l>`` is Tatoeba's ISO 639-3 code: ``deu``, ``cmn``, ``ara``).
    The file names fix the languages; each file is checked with a language identifier."""
    check_mode(language_check)
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
    corpus = assemble_corpus(
        [str(i + 1) for i in range(len(texts[target]))],
        texts,
        provenance,
        drop_empty=drop_empty,
        duplicates=duplicates,
        locate=lambda lng, i: f"{files[lng]}:{i + 1}",
    )
    return check_corpus(corpus, {k: p.name for k, p in files.items()}, language_check)


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
    language_check: str = "error",
) -> Corpus:
    """BUCC-18 gold pairs: ``<l>-en.<split>.<l>``, ``.en`` (``id<TAB>sentence``) and ``.gold``
    (``id_l<TAB>id_en``), in ``root`` or ``root/<l>-en/``. Ids are ``"<id_l>|<id_en>"``.
    The file names fix the languages; each side is checked with a language identifier."""
    check_mode(language_check)
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
    corpus = assemble_corpus(
        ids,
        texts,
        provenance,
        drop_empty=drop_empty,
        duplicates=duplicates,
        locate=lambda _l, i: where[i],
    )
    names = {target: paths["src"].name, "eng_Latn": paths["en"].name}
    return check_corpus(corpus, names, language_check)
