"""Building a :class:`~langsteer.corpora.base.Corpus` from loaded data: the screening loaders share.

Split from :mod:`langsteer.corpora.base` (the data types) because the policy for empty and
repeated sentences (refuse naming file and line, drop the id in every language, or keep and
count) is one piece of loader machinery: every loader calls :func:`assemble_corpus`, so all of
them treat bad lines alike and record what they dropped in the provenance.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from langsteer.corpora.base import Corpus, CorpusError, _empty_positions, _shown
from langsteer.languages import normalize_language

__all__ = ["DUPLICATE_POLICIES", "assemble_corpus"]

DUPLICATE_POLICIES = ("error", "drop", "keep")


def assemble_corpus(
    ids: Sequence[str],
    texts: Mapping[str, Sequence[str]],
    provenance: dict[str, Any],
    *,
    drop_empty: bool = False,
    duplicates: str = "error",
    locate: Callable[[str, int], str] | None = None,
) -> Corpus:
    """Build a corpus from loaded data, handling empty and repeated sentences as loaders promise.

    Without ``drop_empty`` an empty sentence is an error naming its language and location
    (``locate(lang, index)`` -> "file:line"); with it, the id is dropped from every language
    and the count is recorded in ``provenance["dropped_empty"]``.

    A sentence repeated within one language makes retrieval ambiguous (its translation ties with
    the copy, which counts as wrong). ``duplicates="error"`` refuses it, naming the places;
    ``"drop"`` drops every later copy's id from every language (counted in
    ``provenance["dropped_duplicates"]``); ``"keep"`` keeps them and records the count.
    """
    if duplicates not in DUPLICATE_POLICIES:
        raise ValueError(f"duplicates must be one of {DUPLICATE_POLICIES}, got {duplicates!r}")
    provenance = dict(provenance)
    ids, texts = _screen(
        ids,
        texts,
        provenance,
        _empty_positions,
        "empty or whitespace-only sentence(s)",
        "drop these ids in every language with corpus.drop_empty = true (CLI: --drop-empty; "
        "Python: drop_empty=True)",
        "error" if not drop_empty else "drop",
        "empty",
        locate,
    )
    ids, texts = _screen(
        ids,
        texts,
        provenance,
        _repeated_positions,
        "sentence(s) repeating an earlier one",
        "retrieval cannot tell such copies apart: drop the later copies' ids in every "
        'language with corpus.duplicates = "drop" (CLI: --duplicates drop; Python: '
        "duplicates='drop'), or keep them with \"keep\"",
        duplicates,
        "duplicates",
        locate,
    )
    return Corpus(
        ids=list(ids), texts={k: list(v) for k, v in texts.items()}, provenance=provenance
    )


def _screen(
    ids: Sequence[str],
    texts: Mapping[str, Sequence[str]],
    provenance: dict[str, Any],
    find: Callable[[Sequence[str]], list[int]],
    what: str,
    fix: str,
    policy: str,
    name: str,
    locate: Callable[[str, int], str] | None,
) -> tuple[list[str], dict[str, list[str]]]:
    """Find bad positions per language; raise naming them (``"error"``), or drop their ids from
    every language (``"drop"``) or keep them (``"keep"``), recording ``<dropped|kept>_<name>``."""
    found = {lang: pos for lang, sents in texts.items() if (pos := find(list(sents)))}
    ids, texts = list(ids), {k: list(v) for k, v in texts.items()}
    if not found:
        return ids, texts
    if policy == "error":
        lang, positions = next(iter(found.items()))
        where = [locate(lang, i) if locate else f"position {i}" for i in positions]
        others = f" (also in: {', '.join(list(found)[1:])})" if len(found) > 1 else ""
        raise CorpusError(
            f"language {normalize_language(lang)}: {len(positions)} {what} at {_shown(where)} "
            f"(ids {_shown([ids[i] for i in positions])}){others}; {fix}"
        )
    bad = {i for positions in found.values() for i in positions}
    record: dict[str, Any] = {
        "n": len(bad),
        "by_language": {normalize_language(k): len(v) for k, v in found.items()},
    }
    if policy == "drop":
        record["ids"] = [ids[i] for i in sorted(bad)]
        keep = [i for i in range(len(ids)) if i not in bad]
        ids = [ids[i] for i in keep]
        texts = {lang: [sents[i] for i in keep] for lang, sents in texts.items()}
    provenance[f"{'dropped' if policy == 'drop' else 'kept'}_{name}"] = record
    return ids, texts


def _repeated_positions(texts: Sequence[str]) -> list[int]:
    """Positions whose sentence already occurred earlier (after stripping)."""
    seen: set[str] = set()
    out = []
    for i, t in enumerate(texts):
        key = t.strip()
        if key in seen:
            out.append(i)
        seen.add(key)
    return out
