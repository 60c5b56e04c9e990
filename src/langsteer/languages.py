"""Language codes: FLORES-200 codes (``eng_Latn``) are canonical everywhere in langsteer.

Data sets name languages differently (FLORES ``eng_Latn``, FLORES+ ``cmn_Hans``, Tatoeba ``cmn``,
BUCC/PAWS-X ``de``, langid.py ``en``), and a study silently splits in two if ``en`` and
``eng_Latn`` are treated as different languages. Every public entry point therefore runs codes
through :func:`normalize_language`, which accepts FLORES codes, ISO 639-1, ISO 639-3 (and the
ISO 639-2/B variants), BCP-47-like tags (``zh-TW``, ``pt-BR``) and English names, all
case-insensitively, and fails loudly with close matches otherwise.

The variety table lives in ``data/languages.tsv`` (read once at import); the aliases stay here
beside the comments that justify them. Why this is not delegated to a library such as
``langcodes``: see "Hand-written or library" in docs/design.md.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources

__all__ = [
    "LANGID_LABELS",
    "LANGUAGES",
    "Language",
    "UnknownLanguageError",
    "from_langid",
    "get_language",
    "iso1",
    "iso3",
    "known_languages",
    "langid_supported",
    "language_name",
    "normalize_language",
    "normalize_languages",
    "to_langid",
]


class UnknownLanguageError(ValueError):
    """A language code/name that langsteer cannot map to a FLORES-200 code."""


@dataclass(frozen=True)
class Language:
    """One FLORES-200 (or FLORES+) language variety."""

    code: str  # FLORES-200 code, e.g. "eng_Latn"
    name: str  # English display name
    iso1: str | None  # ISO 639-1 code where the variety is the default for it

    @property
    def iso3(self) -> str:
        return self.code.split("_", 1)[0]

    @property
    def script(self) -> str:
        return self.code.split("_", 1)[1]


# The table (code, English name, ISO 639-1) is package data: FLORES-200 plus the FLORES+
# additions, names from the FLORES+ README, iso1 only for the variety it should resolve to.
_TABLE_FILE = "languages.tsv"


def _read_table() -> dict[str, Language]:
    text = (resources.files("langsteer") / "data" / _TABLE_FILE).read_text(encoding="utf-8")
    table: dict[str, Language] = {}
    rows = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    for line in rows[1:]:  # rows[0] is the header
        code, name, iso1_code = line.split("\t")
        table[code] = Language(code, name, iso1_code or None)
    return table


LANGUAGES: dict[str, Language] = _read_table()

# Extra spellings -> canonical code. FLORES+ relabelled some FLORES-200 files (same data):
# zho_Hans -> cmn_Hans, tgl_Latn -> fil_Latn, est_Latn -> ekk_Latn, grn_Latn -> gug_Latn,
# kon_Latn -> ktu_Latn, tzm_Tfng -> zgh_Tfng, and split apc/twi by glottocode. NLLB models
# call Santali sat_Beng although the FLORES file is sat_Olck.
_ALIASES: dict[str, str] = {
    "cmn_Hans": "zho_Hans",
    "cmn_Hant": "zho_Hant",
    "cmn": "zho_Hans",
    "fil_Latn": "tgl_Latn",
    "fil": "tgl_Latn",
    "filipino": "tgl_Latn",
    "ekk_Latn": "est_Latn",
    "ekk": "est_Latn",
    "gug_Latn": "grn_Latn",
    "gug": "grn_Latn",
    "ktu_Latn": "kon_Latn",
    "zgh_Tfng": "tzm_Tfng",
    "sat_Beng": "sat_Olck",
    "apc_Arab_nort3139": "apc_Arab",
    "apc_Arab_sout3123": "ajp_Arab",
    "twi_Latn_akua1239": "twi_Latn",
    "twi_Latn_asan1239": "aka_Latn",
    # ISO 639-3 macrolanguage codes -> the variety FLORES uses
    "ara": "arb_Arab",
    "fas": "pes_Arab",
    "msa": "zsm_Latn",
    "swa": "swh_Latn",
    "nor": "nob_Latn",
    "lav": "lvs_Latn",
    "mon": "khk_Cyrl",
    "nep": "npi_Deva",
    "orm": "gaz_Latn",
    "pus": "pbt_Arab",
    "sqi": "als_Latn",
    "uzb": "uzn_Latn",
    "mlg": "plt_Latn",
    "que": "quy_Latn",
    "kur": "kmr_Latn",
    "aze": "azj_Latn",
    "aym": "ayr_Latn",
    "zho": "zho_Hans",
    "yid": "ydd_Hebr",
    "kau": "knc_Latn",
    "ori": "ory_Orya",
    "pan": "pan_Guru",
    "no": "nob_Latn",
    # ISO 639-2/B bibliographic codes
    "alb": "als_Latn",
    "arm": "hye_Armn",
    "baq": "eus_Latn",
    "bur": "mya_Mymr",
    "chi": "zho_Hans",
    "cze": "ces_Latn",
    "dut": "nld_Latn",
    "fre": "fra_Latn",
    "geo": "kat_Geor",
    "ger": "deu_Latn",
    "gre": "ell_Grek",
    "ice": "isl_Latn",
    "mac": "mkd_Cyrl",
    "mao": "mri_Latn",
    "may": "zsm_Latn",
    "per": "pes_Arab",
    "rum": "ron_Latn",
    "slo": "slk_Latn",
    "tib": "bod_Tibt",
    "wel": "cym_Latn",
    # common English names that differ from the display names
    "chinese": "zho_Hans",
    "mandarin": "zho_Hans",
    "arabic": "arb_Arab",
    "persian": "pes_Arab",
    "farsi": "pes_Arab",
    "malay": "zsm_Latn",
    "latvian": "lvs_Latn",
    "mongolian": "khk_Cyrl",
    "albanian": "als_Latn",
    "uzbek": "uzn_Latn",
    "malagasy": "plt_Latn",
    "quechua": "quy_Latn",
    "kurdish": "kmr_Latn",
    "azerbaijani": "azj_Latn",
    "pashto": "pbt_Arab",
    "punjabi": "pan_Guru",
    "norwegian": "nob_Latn",
    "oromo": "gaz_Latn",
    "yiddish": "ydd_Hebr",
    "tibetan": "bod_Tibt",
    "aymara": "ayr_Latn",
}

# ISO 639-3 prefixes shared by several scripts: which one the bare code means.
_ISO3_DEFAULT = {
    "ace": "ace_Latn",
    "arb": "arb_Arab",
    "bjn": "bjn_Latn",
    "kas": "kas_Arab",
    "knc": "knc_Latn",
    "min": "min_Latn",
    "mni": "mni_Beng",
    "snd": "snd_Arab",
    "taq": "taq_Latn",
}

_CHINESE_TRADITIONAL_REGIONS = {"tw", "hk", "mo", "hant"}


def _build_lookup() -> dict[str, str]:
    lookup: dict[str, str] = {}
    for code, lang in LANGUAGES.items():
        lookup[code.lower()] = code
        lookup.setdefault(lang.iso3, _ISO3_DEFAULT.get(lang.iso3, code))
        if lang.iso1:
            lookup[lang.iso1] = code
        lookup.setdefault(lang.name.lower(), code)
    for alias, code in _ALIASES.items():
        lookup[alias.lower()] = code
    return lookup


_LOOKUP = _build_lookup()

# Labels of the py3langid 0.4 default model (langid.py conventions: ISO 639-1 where one exists,
# else ISO 639-3). Hard-coded so that checking support needs no import of the model.
_LANGID_TEXT = (
    "ace af am an ar ary arz as az ba bcl be bg bn br bs ca crh cs cy da de dz el en eo es et "
    "eu ext fa fi fo fr fuv fy ga gcf gcr gd gl gom grc gu gug guw ha hbo he hi hr ht hu hy id "
    "ig is it ja jv ka kab kik kk km kn ko ku ky la lb lg lij ln lo lt ltg lv mg mk ml mn mr ms "
    "mt my ne nl nn no nso oc om or pa pcm pl ps pt qu ro ru rw sa sdh se si sk sl sn so sq sr "
    "st sv sw ta te tg th tk tl tr tt ug uk ur uz uzs vec vi vo wa wuu xh yo yue zh zu zxx"
)
LANGID_LABELS: frozenset[str] = frozenset(_LANGID_TEXT.split())
# FLORES code -> langid label where the ISO 639-1 rule gives the wrong answer.
_LANGID_OVERRIDES = {"nob_Latn": "no", "zho_Hant": "zh", "grn_Latn": "gug", "kik_Latn": "kik"}


def _suggestions(key: str, n: int = 5, first: Iterable[str] = ()) -> list[str]:
    out: list[str] = list(first)
    for match in difflib.get_close_matches(key, list(_LOOKUP), n=n * 3, cutoff=0.6):
        code = _LOOKUP[match]
        if code not in out:
            out.append(code)
    return out[:n]


def _unknown(code: object, key: str, first: Iterable[str] = ()) -> UnknownLanguageError:
    hint = ", ".join(f"{c} ({LANGUAGES[c].name})" for c in _suggestions(key, first=first))
    did_you_mean = f" Did you mean: {hint}?" if hint else ""
    return UnknownLanguageError(
        f"unknown language {code!r}.{did_you_mean} Use a FLORES-200 code such as 'eng_Latn', "
        "an ISO 639-1 code ('en'), an ISO 639-3 code ('eng') or an English name; "
        "list the known codes with langsteer.languages.known_languages()."
    )


def normalize_language(code: str) -> str:
    """Return the canonical FLORES-200 code for ``code`` (case-insensitive, many spellings).

    Raises :class:`UnknownLanguageError` with close matches when nothing fits, instead of
    guessing, so a typo cannot quietly become a new language.
    """
    if isinstance(code, Language):
        return code.code
    if not isinstance(code, str):
        raise TypeError(f"language code must be a string, got {type(code).__name__}")
    key = code.strip().replace("-", "_").lower()
    if key in _LOOKUP:
        return _LOOKUP[key]
    parts = [p for p in key.split("_") if p]
    first: list[str] = []
    if len(parts) >= 2 and parts[0] in _LOOKUP:
        base = _LOOKUP[parts[0]]
        sub = parts[1]
        if base.startswith("zho_") and sub in _CHINESE_TRADITIONAL_REGIONS | {"cn", "sg", "hans"}:
            return "zho_Hant" if sub in _CHINESE_TRADITIONAL_REGIONS else "zho_Hans"
        if len(sub) == 4 and sub.isalpha():  # script subtag: must exist, never swap scripts
            candidate = f"{LANGUAGES[base].iso3}_{sub}"
            if candidate in _LOOKUP:
                return _LOOKUP[candidate]
            first = [c for c in LANGUAGES if c.startswith(LANGUAGES[base].iso3 + "_")]
        elif (len(sub) == 2 and sub.isalpha()) or (len(sub) == 3 and sub.isdigit()):
            return base  # region subtag (en_US, es_419): same language
    raise _unknown(code, key, first)


def normalize_languages(codes: Iterable[str]) -> list[str]:
    """Normalise several codes, keeping order; duplicates (``en`` and ``eng``) are an error."""
    if isinstance(codes, str):
        codes = [codes]
    out: list[str] = []
    seen: dict[str, str] = {}
    for code in codes:
        canonical = normalize_language(code)
        if canonical in seen:
            raise ValueError(
                f"language {code!r} given twice (as {seen[canonical]!r} and {code!r}, "
                f"both mean {canonical})"
            )
        seen[canonical] = code
        out.append(canonical)
    return out


def get_language(code: str) -> Language:
    """The :class:`Language` record for any accepted spelling of a language."""
    return LANGUAGES[normalize_language(code)]


def language_name(code: str) -> str:
    """English display name, e.g. ``language_name("de") == "German"``."""
    return get_language(code).name


def iso1(code: str) -> str | None:
    """ISO 639-1 code, or None for varieties that have none (or are not its default)."""
    return get_language(code).iso1


def iso3(code: str) -> str:
    """ISO 639-3 part of the FLORES code (``zho_Hans`` -> ``zho``)."""
    return get_language(code).iso3


def known_languages() -> list[str]:
    """All canonical codes, sorted."""
    return sorted(LANGUAGES)


def to_langid(code: str) -> str:
    """The label langid.py/py3langid use for this language (ISO 639-1, else ISO 639-3).

    It may not be one the identifier's model knows: check with :func:`langid_supported`.
    """
    lang = get_language(code)
    return _LANGID_OVERRIDES.get(lang.code) or lang.iso1 or lang.iso3


def langid_supported(code: str) -> bool:
    """Whether py3langid's default model can output this language at all."""
    return to_langid(code) in LANGID_LABELS


def from_langid(label: str) -> str:
    """FLORES code for a langid label (``"en"`` -> ``"eng_Latn"``, ``"zh"`` -> ``"zho_Hans"``).

    Labels of the identifier that are no FLORES language (``la``, ``zxx``, ...) raise
    :class:`UnknownLanguageError`.
    """
    try:
        return normalize_language(label)
    except UnknownLanguageError as err:
        raise UnknownLanguageError(f"langid label {label!r} has no FLORES code: {err}") from None
