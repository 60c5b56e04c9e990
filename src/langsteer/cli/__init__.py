"""The ``langsteer`` command line: experts, sweep, mteb, evaluate, run and demo.

Every flag that sets a study-config key takes its type, default and choices from the config
dataclasses (:mod:`langsteer.cli.flags`), so the command line and a study file cannot disagree.
Commands check everything cheap (config, output path, languages, corpora, expert files) before
they load a model, and every error is one line naming a flag, never a traceback.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from langsteer import __version__
from langsteer.cli import experts, mteb, study, sweep
from langsteer.cli.flags import config_flags
from langsteer.cli.messages import cli_message

__all__ = ["build_parser", "main"]

#: errors that are the user's to fix: printed as one line, exit status 2
USER_ERRORS = (ValueError, OSError, ImportError, FloatingPointError)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="langsteer",
        description="Find language-expert neurons, intervene on them, and compare what every "
        "training-free alignment method does to the sentence-embedding space.",
    )
    parser.add_argument("--version", action="version", version=f"langsteer {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    experts.add_parser(sub)
    sweep.add_parser(sub)
    mteb.add_parser(sub)
    study.add_parsers(sub)
    for name, p in sub.choices.items():
        options = {o for a in p._actions for o in a.option_strings}
        p.set_defaults(
            _flags=config_flags(p), _options=options, _study_file=name in ("run", "demo")
        )
    return parser


def _exit_on_sigterm(signum, frame) -> None:
    # turn SIGTERM into an exception so that temp files are removed as on Ctrl-C
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print(
            "interrupted: finished files are kept, unfinished ones were discarded; a re-run "
            "reuses every cached pass",
            file=sys.stderr,
        )
        return 130
    except USER_ERRORS as exc:
        text = cli_message(exc, args._flags, options=args._options, study_file=args._study_file)
        print(f"langsteer: error: {text}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
