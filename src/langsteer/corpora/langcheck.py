"""Does each column of a corpus hold the language it is labelled with? A cheap py3langid check.

A swapped or mislabelled column (an ``eng-jpn.tsv`` read as Japanese first, a FLORES file
renamed by hand) gives plausible but wrong numbers, so every loader checks every column:
py3langid identifies a seeded sample of up to :data:`SAMPLE_SIZE` non-trivial lines, and a
column that *plainly* is another language is refused. "Plainly" means all of:

* at least :data:`MIN_JUDGED` sampled lines got a language (lines with too few letters are not
  sampled; lines the identifier abstains on, ``und``/``zxx``, are not judged);
* one other language has at least :data:`MISMATCH_SHARE` of the judged lines;
* the labelled language (with the languages py3langid confuses it with, see
  :func:`consistent`) has at most :data:`LABELLED_AT_MOST` of them.

A language the identifier does not know (or a script it was not trained on) is "unchecked",
never refused; so is a column that is neither plainly right nor plainly wrong (made-up test
text). The outcome is memoised on the column's content and label, so a study that loads the
same file twice identifies it once; it is recorded per language in
``corpus.provenance["language_check"]``.
"""

from __future__ import annotations

import copy
import hashlib
import random
import warnings
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from langsteer.corpora.base import Corpus, CorpusError
from langsteer.generation.langid import UNDETERMINED, identify
from langsteer.languages import (
    UnknownLanguageError,
    from_langid,
    langid_supported,
    normalize_language,
    to_langid,
)

__all__ = [
    "LANGUAGE_CHECK_MODES",
    "LanguageCheckWarning",
    "check_columns",
    "check_corpus",
    "check_mode",
    "consistent",
]

LANGUAGE_CHECK_MODES = ("error", "warn", "off")
SAMPLE_SIZE = 50  # lines identified per column
SEED = 0  # seeds the sample
MIN_LETTER_BYTES = 15  # a line needs this many UTF-8 bytes of letters (~3 words, 5 CJK chars)
MIN_JUDGED = 8  # fewer judged lines: too little text to judge
MISMATCH_SHARE = 0.6  # one other language in at least this share of the judged lines ...
LABELLED_AT_MOST = 0.2  # ... and the labelled language in at most this share: refused
OK_SHARE = 0.5  # the labelled language in at least this share: "ok"
TOP = 5  # identified labels recorded per column
OVERRIDE = (
    'if the labels are right, override with corpus.language_check = "warn" '
    '(CLI: --language-check warn; Python: language_check="warn"), or "off" to skip the check'
)
_NO_LANGUAGE = {UNDETERMINED, "zxx"}  # abstained / "no linguistic content"

# ISO 639-3 codes that py3langid confuses, or that belong to one macro-language: a column
# identified as any member of its label's group is consistent with the label.
_GROUPS: tuple[frozenset[str], ...] = tuple(
    frozenset(g.split())
    for g in (
        "nob nno dan nor no nn",  # Norwegian (macro-language nor) and Danish
        "hrv srp bos hbs cnr",  # Serbo-Croatian
        "ind zsm msa",  # Malay (macro-language msa)
        "glg por",
        "cat spa ext an",  # Catalan, Spanish, Extremaduran, Aragonese
        "ces slk",
        "arb ara ary arz apc ajp acm acq aeb ars",  # Arabic (macro-language ara)
        "pes prs fas",  # Persian
        "zho cmn yue wuu",  # Chinese
        "lvs ltg lav",  # Latvian
        "est ekk",
        "kmr ckb sdh kur",  # Kurdish
        "azj azb aze",  # Azerbaijani
        "uzn uzs uzb",  # Uzbek
        "fuv ful ff",  # Fulah
        "grn gug",  # Guarani
        "swh swa swc",  # Swahili
        "als sqi",  # Albanian
        "npi nep",  # Nepali
        "gaz orm",  # Oromo
        "pbt pus",  # Pashto
        "khk mon",  # Mongolian
        "plt mlg",  # Malagasy
        "quy que",  # Quechua
        "ell grc",  # Greek, Ancient Greek
        "heb hbo",  # Hebrew, Biblical Hebrew
    )
)
_MEMO: dict[tuple[str, str], dict[str, Any]] = {}
_WARNED_NO_IDENTIFIER: list[str] = []


class LanguageCheckWarning(UserWarning):
    """A column that looks like another language, loaded anyway (``language_check="warn"``)."""


def check_mode(mode: str) -> str:
    if mode not in LANGUAGE_CHECK_MODES:
        raise ValueError(f"language_check must be one of {LANGUAGE_CHECK_MODES}, got {mode!r}")
    return mode


def _key(code: str) -> str:
    """ISO 639-3-like key of a FLORES code or of a raw identifier label (``la``, ``ext``)."""
    return code.split("_", 1)[0]


def consistent(label: str, identified: str) -> bool:
    """Whether a line identified as ``identified`` is consistent with the column's ``label``."""
    a, b = _key(label), _key(identified)
    return a == b or any(a in g and b in g for g in _GROUPS)


def _unchecked_reason(label: str) -> str | None:
    if not langid_supported(label):
        return f"py3langid does not know {label}"
    try:
        modelled = from_langid(to_langid(label))
    except UnknownLanguageError:  # pragma: no cover - every supported label maps back
        return None
    script, trained = label.split("_", 1)[1], modelled.split("_", 1)[1]
    if script != trained and {script, trained} != {"Hans", "Hant"}:
        return f"py3langid knows {_key(label)} in the {trained} script only"
    return None


def _letter_bytes(text: str) -> int:
    return sum(len(ch.encode("utf-8")) for ch in text if ch.isalpha())


def _sample(texts: Sequence[str]) -> list[str]:
    order = list(range(len(texts)))
    random.Random(SEED).shuffle(order)
    out: list[str] = []
    for i in order:
        if _letter_bytes(texts[i]) >= MIN_LETTER_BYTES:
            out.append(texts[i])
            if len(out) == SAMPLE_SIZE:
                break
    return out


def _digest(texts: Sequence[str]) -> str:
    digest = hashlib.sha256()
    for text in texts:
        digest.update(text.encode("utf-8", "surrogatepass"))
        digest.update(b"\x00")
    return digest.hexdigest()


def _judge(label: str, texts: Sequence[str]) -> dict[str, Any]:
    """The outcome for one column (memoised on label and content): status ``ok``,
    ``unchecked`` (with a reason) or ``mismatch`` (with the other language)."""
    memo_key = (label, _digest(texts))
    if memo_key in _MEMO:
        return copy.deepcopy(_MEMO[memo_key])
    reason = _unchecked_reason(label)
    if reason is not None:
        outcome: dict[str, Any] = {"status": "unchecked", "reason": reason}
        _MEMO[memo_key] = outcome
        return copy.deepcopy(outcome)
    sample = _sample(texts)
    try:
        codes = [code for code, _ in identify(sample)] if sample else []
    except ImportError as err:  # py3langid is an optional dependency: say so once
        reason = str(err)
        if not _WARNED_NO_IDENTIFIER:
            _WARNED_NO_IDENTIFIER.append(reason)
            warnings.warn(f"corpus languages are not checked: {reason}", stacklevel=3)
        return {"status": "unchecked", "reason": reason}
    counts = Counter(codes)
    judged = [c for c in codes if c not in _NO_LANGUAGE]
    n_labelled = sum(1 for c in judged if consistent(label, c))
    others = Counter(c for c in judged if not consistent(label, c))
    outcome = {
        "n_sampled": len(sample),
        "n_judged": len(judged),
        "n_labelled": n_labelled,
        "identified": dict(sorted(counts.items(), key=lambda x: (-x[1], x[0]))[:TOP]),
    }
    other, n_other = others.most_common(1)[0] if others else (None, 0)
    if len(judged) < MIN_JUDGED:
        outcome.update(
            status="unchecked",
            reason=f"too little text to judge: {len(judged)} line(s) identified, "
            f"{MIN_JUDGED} needed",
        )
    elif n_other >= MISMATCH_SHARE * len(judged) and n_labelled <= LABELLED_AT_MOST * len(judged):
        outcome.update(status="mismatch", looks_like=other, n_looks_like=n_other)
    elif n_labelled >= OK_SHARE * len(judged):
        outcome.update(status="ok")
    else:
        outcome.update(
            status="unchecked",
            reason=f"inconclusive: {label} in {n_labelled} of {len(judged)} judged lines",
        )
    _MEMO[memo_key] = outcome
    return copy.deepcopy(outcome)


def _evidence(label: str, where: str, outcome: dict[str, Any]) -> str:
    return (
        f"{where} looks like {outcome['looks_like']} in {outcome['n_looks_like']} of "
        f"{outcome['n_sampled']} lines, labelled {label}"
    )


def check_columns(
    columns: Mapping[str, tuple[Sequence[str], str]],
    mode: str = "error",
    *,
    context: str = "",
) -> dict[str, dict[str, Any]]:
    """Check ``{language: (texts, where)}``; ``where`` names the column in messages
    (``"column 1 of eng-jpn.tsv"``, ``"eng_Latn.dev"``, ``"Bible translation KJV"``).

    ``mode="error"`` raises :class:`CorpusError` with the evidence for every column that is
    plainly another language; ``"warn"`` warns and records them as ``"warned"``; ``"off"``
    identifies nothing and records ``"off"``. Returns the record per language.
    """
    check_mode(mode)
    records: dict[str, dict[str, Any]] = {}
    bad: list[str] = []
    for lang, (texts, where) in columns.items():
        label = normalize_language(lang)
        if mode == "off":
            records[label] = {"status": "off", "where": where}
            continue
        outcome = _judge(label, texts)
        if outcome["status"] == "mismatch":
            bad.append(_evidence(label, where, outcome))
            outcome["status"] = "warned"
        records[label] = {"status": outcome.pop("status"), "where": where, **outcome}
    if bad:
        message = "; ".join(bad)
        if len(bad) == 2 and len(records) == 2:
            (a, ra), (b, rb) = records.items()
            if consistent(b, ra.get("looks_like", "")) and consistent(a, rb.get("looks_like", "")):
                message += " (the two columns look swapped)"
        if context:
            message += f" ({context})"
        if mode == "error":
            raise CorpusError(f"language check: {message}; {OVERRIDE}")
        warnings.warn(f"language check: {message}; loaded anyway", LanguageCheckWarning, 2)
    return records


def check_corpus(
    corpus: Corpus, where: Mapping[str, str], mode: str = "error", *, context: str = ""
) -> Corpus:
    """Check every language of ``corpus`` (``where[lang]`` names its file or column) and
    record the outcome in ``corpus.provenance["language_check"]``; returns the corpus."""
    columns = {lang: (corpus.texts[lang], where.get(lang, lang)) for lang in corpus.languages}
    corpus.provenance["language_check"] = check_columns(columns, mode, context=context)
    return corpus
