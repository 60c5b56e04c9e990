"""Error messages as a command-line user reads them: options, never Python keywords.

Library errors name what a Python caller can change (``drop_empty=True``) and a study-file key
(``corpus.n_expert``); many also name a CLI flag. On the command line the Python half is noise
and a key may have a flag of its own in this command: :func:`cli_message` drops the Python
keywords and names the command's flag beside each config key (issue 11, item 3).
"""

from __future__ import annotations

import argparse
import re

from langsteer.cli.flags import SECTIONS

__all__ = ["cli_message"]

_KEY = re.compile(
    r"\b(?P<key>(?:" + "|".join(SECTIONS) + r")\.[a-z_]+)\b"
    r"(?P<assign>\s*=\s*(?P<value>[\"']?[\w.+-]+[\"']?))?"
)
#: "pass allow_other_model=True (CLI: --allow-other-model)" -> "pass --allow-other-model"
_PY_THEN_CLI = re.compile(r"\b\w+=(?:True|False|'[^']*'|\"[^\"]*\")\s*\(CLI: ([^;)]*)\)")
#: "(CLI: --drop-empty; Python: drop_empty=True)" -> "(CLI: --drop-empty)"
_PY_CLAUSE = re.compile(r";\s*Python:[^)]*(?=\))")
_PY_ONLY = re.compile(r"\s*\(Python:[^)]*\)")
#: Python keywords whose flag is not their name with dashes
_PY_FLAGS = {
    "public_domain_only=False": "--allow-copyrighted",
    "allow_copyrighted=True": "--allow-copyrighted",
    "drop_empty=True": "--drop-empty",
    "allow_other_model=True": "--allow-other-model",
    "allow_non_causal=True": "--allow-non-causal",
}
_PY_BOOL = re.compile(r"\b([a-z]\w*)=(True|False)\b")


def _flag_text(action: argparse.Action, value: str | None) -> str:
    flag = action.option_strings[0]
    if action.nargs == 0 or value is None:  # a switch, or a key named without a value
        if value is not None and value.lower() == "false" and len(action.option_strings) > 1:
            return action.option_strings[1]  # --no-...
        return flag
    return f"{flag} {value.strip(chr(34) + chr(39))}"


def _names(text: str, flag: str) -> bool:
    return re.search(re.escape(flag) + r"(?![\w-])", text) is not None


def _python_bool(match: re.Match, options: set[str]) -> str:
    known = _PY_FLAGS.get(match.group(0))
    if known:
        return known
    flag = "--" + match.group(1).replace("_", "-")
    return flag if flag in options and match.group(2) == "True" else match.group(0)


def _bare_keys(text: str, flags: dict[str, argparse.Action]) -> str:
    """``n_eval`` after a ``corpus.`` key: the flag of that section's key too (once)."""
    for key, action in flags.items():
        section, name = key.split(".", 1)
        flag = action.option_strings[0]
        if "_" not in name or f"{section}." not in text or _names(text, flag):
            continue
        bare = re.compile(rf"(?<![.\w'\"]){name}\b(?![\s'\"]*\()(?!['\"])")
        text = bare.sub(f"{name} ({flag})", text, count=1)
    return text


def _corpus_hint(text: str, options: set[str]) -> str:
    """A corpus error: which flags chose the corpus and its languages."""
    langs = [o for o in ("--languages", "--target", "--negatives") if o in options]
    if "--corpus" not in options:
        return f"{text} (study file: corpus.source; --set corpus.source=... overrides it)"
    where = f" (languages: {' / '.join(langs)})" if langs else ""
    return f"--corpus: {text}{where}"


def cli_message(
    exc: BaseException, flags: dict[str, argparse.Action], *, options: set[str], study_file: bool
) -> str:
    """The error as the command line shows it: Python keywords replaced by flags, config keys
    paired with this command's flags; ``study_file`` commands (run, demo) point at ``--set``."""
    from langsteer.corpora import CorpusError

    text = str(exc)
    if isinstance(exc, CorpusError) and "--" not in text:
        text = _corpus_hint(text, options)
    text = _PY_THEN_CLI.sub(r"\1", text)
    text = _PY_CLAUSE.sub("", text)
    text = _PY_ONLY.sub("", text)
    text = _PY_BOOL.sub(lambda m: _python_bool(m, options), text)
    done: set[str] = set()

    def pair(m: re.Match) -> str:
        key = m.group("key")
        action = flags.get(key)
        if action is None or key in done or _names(text, action.option_strings[0]):
            return m.group(0)
        done.add(key)
        return f"{m.group(0)} ({_flag_text(action, m.group('value'))})"

    text = _bare_keys(_KEY.sub(pair, text), flags)
    if "--" not in text:
        if study_file and _KEY.search(text):
            text += " (a study-file key: --set SECTION.KEY=VALUE overrides it)"
        elif study_file:
            text += " (see langsteer run --help)"
    return text
