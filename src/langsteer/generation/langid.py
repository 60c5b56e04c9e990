"""Which language did the model write? py3langid (a fork of langid.py, the paper's identifier).

Codes come back as FLORES-200 codes (``eng_Latn``) like everywhere else in langsteer; a label
of the identifier that is no FLORES language (``la``, ``zxx``, ...) is kept as the identifier's
own label, and a text the identifier cannot judge (empty, whitespace, no features at all) is
``"und"`` (undetermined) rather than an arbitrary guess, so a model that emits nothing under a
strong intervention lowers the target rate instead of crashing or being counted as a language.
Probabilities are normalised (softmax over the candidate languages, ``norm_probs=True``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from langsteer.languages import (
    LANGID_LABELS,
    UnknownLanguageError,
    from_langid,
    normalize_language,
    to_langid,
)

__all__ = ["UNDETERMINED", "identifier_info", "identify", "language_rates"]

UNDETERMINED = "und"
_IDENTIFIERS: dict[tuple[str, ...] | None, Any] = {}


def _py3langid():
    try:
        import py3langid
        from py3langid.langid import MODEL_FILE, LanguageIdentifier
    except ImportError as err:
        raise ImportError(
            "language identification needs py3langid: pip install py3langid "
            "(or pip install 'langsteer[demo]')"
        ) from err
    return py3langid, LanguageIdentifier, MODEL_FILE


def _candidate_labels(languages: Iterable[str] | None) -> tuple[str, ...] | None:
    """langid labels of the candidate languages (sorted, so equal sets share one identifier)."""
    if languages is None:
        return None
    if isinstance(languages, str):
        languages = [languages]
    labels = set()
    for code in languages:
        label = to_langid(code)
        if label not in LANGID_LABELS:
            raise ValueError(
                f"py3langid cannot identify {normalize_language(code)} (label {label!r}); "
                "drop it from the candidate languages"
            )
        labels.add(label)
    if not labels:
        raise ValueError("languages is empty; pass None to allow every language py3langid knows")
    return tuple(sorted(labels))


def _identifier(labels: tuple[str, ...] | None):
    """One private identifier per candidate set: never touches py3langid's global one."""
    if labels not in _IDENTIFIERS:
        _, cls, model_file = _py3langid()
        ident = cls.from_model_file(model_file, norm_probs=True)
        if labels is not None:
            ident.set_languages(list(labels))
        _IDENTIFIERS[labels] = ident
    return _IDENTIFIERS[labels]


def _to_code(label: str) -> str:
    try:
        return from_langid(label)
    except UnknownLanguageError:
        return label


def _abstained(ident, text: str, prob: float) -> bool:
    """No feature matched ("...", "xq"): py3langid then returns a uniform distribution (script
    aliases folded), and its argmax is an arbitrary first label. A text with features gives a
    peaked Naive Bayes posterior whose least likely language is far below the uniform share."""
    n_columns = len(ident.nb_classes)
    if n_columns < 2 or prob > 2.0 / n_columns + 1e-6:
        return False
    lowest = min(p for _, p in ident.rank(text))
    return abs(lowest * n_columns - 1.0) < 1e-4


def identify(
    texts: Sequence[str], *, languages: Iterable[str] | None = None
) -> list[tuple[str, float]]:
    """(FLORES code, probability) of the most likely language of each text.

    ``languages`` restricts the candidates (any accepted spelling); None = all 140 labels
    of py3langid's model. Empty or featureless texts give ``("und", 0.0)``.
    """
    if isinstance(texts, str):
        raise TypeError("identify() takes a list of texts, not one string")
    labels = _candidate_labels(languages)
    ident = _identifier(labels)
    out: list[tuple[str, float]] = []
    for text in texts:
        if not isinstance(text, str):
            raise TypeError(f"texts must be strings, got {type(text).__name__}")
        if not text.strip():
            out.append((UNDETERMINED, 0.0))
            continue
        label, prob = ident.classify(text)
        if _abstained(ident, text, prob):
            out.append((UNDETERMINED, 0.0))
        else:
            out.append((_to_code(label), float(prob)))
    return out


def identifier_info(languages: Iterable[str] | None = None) -> dict:
    """What identified the texts, for result files."""
    mod, _, _ = _py3langid()
    labels = _candidate_labels(languages)
    return {
        "name": "py3langid",
        "version": getattr(mod, "__version__", None),
        "norm_probs": True,
        "languages": None if labels is None else sorted(_to_code(x) for x in labels),
    }


def language_rates(
    texts: Sequence[str], target: str, *, languages: Iterable[str] | None = None
) -> dict:
    """Share of texts identified as ``target`` and the full distribution over codes.

    ``distribution`` maps each code (``"und"`` included) to its share, largest first; ``n`` is
    the number of texts, each counted once whatever its length (as in the paper).
    """
    if isinstance(texts, str) or len(texts) == 0:
        raise ValueError("texts must be a non-empty list of generated texts")
    target = normalize_language(target)
    if to_langid(target) not in LANGID_LABELS:
        raise ValueError(f"py3langid cannot identify the target {target}: its rate would be 0")
    if languages is not None:
        languages = list(languages)
        if target not in {normalize_language(x) for x in languages}:
            languages.append(target)
    codes = [c for c, _ in identify(texts, languages=languages)]
    n = len(codes)
    counts = Counter(codes)
    distribution = {c: cnt / n for c, cnt in sorted(counts.items(), key=lambda x: (-x[1], x[0]))}
    return {
        "target": target,
        "target_rate": counts.get(target, 0) / n,
        "distribution": distribution,
        "n": n,
        "identifier": identifier_info(languages),
    }
