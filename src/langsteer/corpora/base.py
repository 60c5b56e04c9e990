"""Parallel corpora as plain data: sentence ids shared by all languages + aligned texts.

Every evaluation in langsteer (experts, geometry, retrieval) assumes that sentence ``i`` of every
language is a translation of the same source; a single missing or shifted line silently
destroys retrieval accuracy. So the constructor validates alignment, ids and emptiness, loaders
report the file and line of a problem, and ``content_hash()`` lets a result file say exactly
which sentences produced it. Loaders build corpora through
:func:`langsteer.corpora.assemble.assemble_corpus`, which screens empty and repeated sentences.
"""

from __future__ import annotations

import copy
import hashlib
import random
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from langsteer.languages import normalize_language

__all__ = [
    "Corpus",
    "CorpusError",
    "MissingLanguageError",
    "ParaphrasePairs",
    "split",
]

_MAX_SHOWN = 5


class CorpusError(ValueError):
    """Malformed, misaligned or inconsistent corpus data."""


class MissingLanguageError(CorpusError, KeyError):
    """A language that the corpus (or a data directory) does not have."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0]) if self.args else ""


def _shown(items: Sequence[Any]) -> str:
    head = ", ".join(repr(x) for x in items[:_MAX_SHOWN])
    return head + (f", ... ({len(items)} in all)" if len(items) > _MAX_SHOWN else "")


def _hash_update(digest: Any, text: str) -> None:
    data = text.encode("utf-8")
    digest.update(len(data).to_bytes(8, "little"))
    digest.update(data)


def _empty_positions(texts: Sequence[str]) -> list[int]:
    return [i for i, t in enumerate(texts) if not t.strip()]


def _check_ids(ids: Sequence[str], what: str = "sentence ids") -> None:
    dupes = [k for k, n in Counter(ids).items() if n > 1]
    if dupes:
        raise CorpusError(f"duplicate {what}: {_shown(dupes)}; ids must be unique")


@dataclass
class Corpus:
    """Sentences of several languages aligned by shared ids.

    ``texts[lang][i]`` is the sentence with id ``ids[i]`` in ``lang`` (FLORES-200 code).
    ``provenance`` records where the data came from (source, split, files, licence, selection);
    it is copied into result files by :meth:`describe`.
    """

    ids: list[str]
    texts: dict[str, list[str]]
    provenance: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.ids = [i if isinstance(i, str) else str(i) for i in self.ids]
        _check_ids(self.ids)
        if not self.texts:
            raise CorpusError("a corpus needs at least one language")
        files = self.provenance.get("files") if isinstance(self.provenance, dict) else None
        normalised: dict[str, list[str]] = {}
        for lang, sentences in self.texts.items():
            code = normalize_language(lang)
            if code in normalised:
                raise CorpusError(f"language {lang!r} appears twice (both mean {code})")
            sentences = list(sentences)
            if len(sentences) != len(self.ids):
                raise CorpusError(
                    f"language {code} has {len(sentences)} sentences but the corpus has "
                    f"{len(self.ids)} ids; every language must have one sentence per id"
                )
            bad_types = [i for i, s in enumerate(sentences) if not isinstance(s, str)]
            if bad_types:
                raise CorpusError(
                    f"language {code}: non-string sentences at positions {_shown(bad_types)}"
                )
            empty = _empty_positions(sentences)
            if empty:
                where = (
                    f" (file {files[lang]})" if isinstance(files, dict) and lang in files else ""
                )
                raise CorpusError(
                    f"language {code}{where}: {len(empty)} empty or whitespace-only sentence(s) "
                    f"at positions {_shown(empty)}, ids {_shown([self.ids[i] for i in empty])}; "
                    "loaders drop such ids in every language with corpus.drop_empty = true "
                    "(CLI: --drop-empty; Python: drop_empty=True)"
                )
            normalised[code] = sentences
        self.texts = normalised
        self.provenance = dict(self.provenance or {})

    @property
    def languages(self) -> list[str]:
        """FLORES codes in the corpus, in insertion order."""
        return list(self.texts)

    def __len__(self) -> int:
        return len(self.ids)

    def __contains__(self, lang: object) -> bool:
        try:
            return normalize_language(lang) in self.texts  # type: ignore[arg-type]
        except (ValueError, TypeError):
            return False

    def _code(self, lang: str) -> str:
        code = normalize_language(lang)
        if code not in self.texts:
            raise MissingLanguageError(
                f"language {code} is not in this corpus; it has: {', '.join(self.languages)}"
            )
        return code

    def sentences(self, lang: str) -> list[str]:
        """The sentences of ``lang`` (any accepted spelling), aligned with :attr:`ids`."""
        return list(self.texts[self._code(lang)])

    def subset(
        self,
        languages: Iterable[str] | None = None,
        ids: Iterable[str] | None = None,
        indices: Iterable[int] | None = None,
    ) -> Corpus:
        """A new corpus restricted to some languages and/or sentences (in the order given)."""
        if ids is not None and indices is not None:
            raise ValueError("give either ids or indices, not both")
        langs = self.languages if languages is None else [self._code(x) for x in languages]
        if not langs:
            raise CorpusError("subset needs at least one language")
        if ids is not None:
            position = {k: i for i, k in enumerate(self.ids)}
            wanted = [str(k) for k in ids]
            missing = [k for k in wanted if k not in position]
            if missing:
                raise CorpusError(f"ids not in the corpus: {_shown(missing)}")
            index_list = [position[k] for k in wanted]
        elif indices is not None:
            index_list = [int(i) for i in indices]
            bad = [i for i in index_list if not 0 <= i < len(self.ids)]
            if bad:
                raise IndexError(f"indices out of range 0..{len(self.ids) - 1}: {_shown(bad)}")
        else:
            index_list = list(range(len(self.ids)))
        provenance = copy.deepcopy(self.provenance)
        if ids is not None or indices is not None or languages is not None:
            provenance.setdefault("selections", []).append(
                {"languages": langs, "n": len(index_list), "parent_n": len(self.ids)}
            )
        return Corpus(
            ids=[self.ids[i] for i in index_list],
            texts={lang: [self.texts[lang][i] for i in index_list] for lang in langs},
            provenance=provenance,
        )

    def content_hash(self) -> str:
        """sha256 over languages (sorted), ids (in order) and texts; independent of provenance."""
        digest = hashlib.sha256(b"langsteer-corpus-v1")
        langs = sorted(self.texts)
        for part in (langs, self.ids):
            digest.update(len(part).to_bytes(8, "little"))
            for item in part:
                _hash_update(digest, item)
        for lang in langs:
            for text in self.texts[lang]:
                _hash_update(digest, text)
        return digest.hexdigest()

    def describe(self) -> dict[str, Any]:
        """What a result file should record about its data."""
        return {
            "provenance": copy.deepcopy(self.provenance),
            "n": len(self),
            "languages": self.languages,
            "content_hash": self.content_hash(),
        }


def _resolve_sizes(sizes: Mapping[str, int | float | None], n: int) -> dict[str, int]:
    resolved: dict[str, int] = {}
    rest: str | None = None
    for name, size in sizes.items():
        if size is None:
            if rest is not None:
                raise ValueError(f"only one split may take the rest (None): {rest!r}, {name!r}")
            rest = name
            resolved[name] = 0
        elif isinstance(size, bool) or not isinstance(size, int | float):
            raise TypeError(f"split size for {name!r} must be an int, a float or None")
        elif isinstance(size, float):
            if not 0.0 < size <= 1.0:
                raise ValueError(f"fraction for {name!r} must be in (0, 1], got {size}")
            resolved[name] = int(size * n)
        else:
            if size < 0:
                raise ValueError(f"size for {name!r} must be >= 0, got {size}")
            resolved[name] = size
    total = sum(resolved.values())
    if total > n:
        raise ValueError(f"split sizes {resolved} add up to {total} but the corpus has {n} ids")
    if rest is not None:
        resolved[rest] = n - total
    return resolved


def split(
    corpus: Corpus, sizes: Mapping[str, int | float | None], seed: int = 0
) -> dict[str, Corpus]:
    """Seeded, disjoint splits by id, e.g. ``split(c, {"experts": 1000, "eval": 300}, seed=0)``.

    Sizes are counts (int), fractions of the corpus (float) or ``None`` for "all the rest".
    Ids are drawn with ``random.Random(seed)``; each split keeps the corpus order. The seed, the
    resolved sizes and the parent's content hash go into each split's provenance.
    """
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError("seed must be an int so that splits are reproducible")
    if not sizes:
        raise ValueError("split needs at least one named size")
    resolved = _resolve_sizes(sizes, len(corpus))
    order = list(range(len(corpus)))
    random.Random(seed).shuffle(order)
    parent_hash = corpus.content_hash()
    out: dict[str, Corpus] = {}
    start = 0
    for name, size in resolved.items():
        chosen = sorted(order[start : start + size])
        start += size
        part = corpus.subset(indices=chosen)
        part.provenance["partition"] = {
            "name": name,
            "seed": seed,
            "sizes": dict(resolved),
            "requested": dict(sizes),
            "parent_n": len(corpus),
            "parent_content_hash": parent_hash,
        }
        out[name] = part
    return out


@dataclass
class ParaphrasePairs:
    """Paraphrase pairs within one language: ``left[i]`` paraphrases ``right[i]``.

    Kept apart from :class:`Corpus` because both sides are the same language.
    """

    lang: str
    left: list[str]
    right: list[str]
    provenance: dict[str, Any] = field(default_factory=dict)
    ids: list[str] | None = None

    def __post_init__(self) -> None:
        self.lang = normalize_language(self.lang)
        self.left, self.right = list(self.left), list(self.right)
        if len(self.left) != len(self.right):
            raise CorpusError(
                f"paraphrase pairs ({self.lang}): {len(self.left)} left but "
                f"{len(self.right)} right sentences"
            )
        self.ids = [str(i) for i in (self.ids or range(len(self.left)))]
        if len(self.ids) != len(self.left):
            raise CorpusError(f"{len(self.ids)} ids for {len(self.left)} paraphrase pairs")
        _check_ids(self.ids, "pair ids")
        for side, texts in (("left", self.left), ("right", self.right)):
            bad = [i for i, t in enumerate(texts) if not isinstance(t, str) or not t.strip()]
            if bad:
                raise CorpusError(
                    f"paraphrase pairs ({self.lang}): empty or non-string {side} sentence(s) "
                    f"at pairs {_shown([self.ids[i] for i in bad])}"
                )
        self.provenance = dict(self.provenance or {})

    def __len__(self) -> int:
        return len(self.left)

    def subset(self, indices: Iterable[int]) -> ParaphrasePairs:
        idx = [int(i) for i in indices]
        ids = self.ids or []
        return ParaphrasePairs(
            self.lang,
            [self.left[i] for i in idx],
            [self.right[i] for i in idx],
            provenance=copy.deepcopy(self.provenance),
            ids=[ids[i] for i in idx],
        )

    def content_hash(self) -> str:
        digest = hashlib.sha256(b"langsteer-paraphrases-v1")
        _hash_update(digest, self.lang)
        for part in (self.ids or [], self.left, self.right):
            digest.update(len(part).to_bytes(8, "little"))
            for item in part:
                _hash_update(digest, item)
        return digest.hexdigest()

    def describe(self) -> dict[str, Any]:
        return {
            "provenance": copy.deepcopy(self.provenance),
            "n": len(self),
            "language": self.lang,
            "content_hash": self.content_hash(),
        }
