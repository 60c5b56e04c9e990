"""The report as a list of blocks, number formatting, and the Markdown renderer.

The report is assembled once as plain blocks (:mod:`langsteer.report.build`) and rendered twice,
to Markdown here and to HTML in :mod:`langsteer.report.html`, so the two files can never say
different things. Block text is plain text: each renderer escapes it for its own format, so a
language code or config value such as ``<script>`` cannot inject markup into either file.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from langsteer.languages import language_name

# --- the document model -------------------------------------------------------------------------


@dataclass
class Heading:
    text: str
    level: int = 2

    @property
    def anchor(self) -> str:
        return slug(self.text)


@dataclass
class Para:
    text: str
    kind: str = ""  # "summary", "note" or "" (styling hint for HTML)


@dataclass
class Table:
    header: list[str]
    rows: list[list[str]]
    caption: str = ""


@dataclass
class Figure:
    name: str  # file name inside figures/
    png: bytes = field(repr=False)
    caption: str
    alt: str


@dataclass
class Code:
    text: str


@dataclass
class Bullets:
    items: list[str]


@dataclass
class Toc:
    """Placeholder: each renderer lists the level-2 headings with links in its own syntax."""


Block = Heading | Para | Table | Figure | Code | Bullets | Toc


def slug(text: str) -> str:
    """A stable anchor id (same in both outputs) for a heading."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "section"


# --- number and name formatting (units on every number) ------------------------------------------


def _num(x: object) -> float | None:
    if isinstance(x, bool) or not isinstance(x, int | float):
        return None
    return None if math.isnan(float(x)) else float(x)


def pct(x: object, digits: int = 1) -> str:
    """Accuracy/share in [0, 1] as a percentage: ``0.267 -> '26.7%'``."""
    v = _num(x)
    return "n/a" if v is None else f"{100 * v:.{digits}f}%"


def pp(x: object, digits: int = 1) -> str:
    """A change of accuracy in percentage points, signed: ``0.25 -> '+25.0 pp'``."""
    v = _num(x)
    return "n/a" if v is None else f"{100 * v:+.{digits}f} pp"


def num(x: object, digits: int = 3, signed: bool = False) -> str:
    """A plain number (cosine distances, r); the unit is in the column header or the sentence."""
    v = _num(x)
    if v is None:
        return "n/a"
    return f"{v:+.{digits}f}" if signed else f"{v:.{digits}f}"


def seconds(x: object) -> str:
    v = _num(x)
    if v is None:
        return "n/a"
    return f"{v:.2f} s" if v < 60 else f"{v:.0f} s ({v / 60:.1f} min)"


def name(code: object) -> str:
    """English name of a language code; the code itself when it is not a known language."""
    try:
        return language_name(str(code))
    except (ValueError, KeyError, TypeError):
        return str(code)


def label(code: object) -> str:
    """'German (deu_Latn)': the name for readers, the code for grepping results.json."""
    n = name(code)
    return n if n == str(code) else f"{n} ({code})"


def plain(value: object) -> str:
    """Any config/provenance value as short text (lists joined, None as 'none')."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list | tuple):
        return ", ".join(plain(v) for v in value) if value else "(empty)"
    return str(value)


# --- Markdown -------------------------------------------------------------------------------------

_MD_ESCAPE = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}


def md_escape(text: str) -> str:
    """Neutralise raw HTML (Markdown passes it through) and table/emphasis syntax."""
    out = "".join(_MD_ESCAPE.get(ch, ch) for ch in str(text))
    return re.sub(r"([\\`*|])", r"\\\1", out)


def _md_table(t: Table) -> list[str]:
    def cells(row: list[str]) -> str:
        return "| " + " | ".join(md_escape(c).replace("\n", " ") for c in row) + " |"

    lines = [cells(t.header), "|" + "|".join("---" for _ in t.header) + "|"]
    lines += [cells(r + [""] * (len(t.header) - len(r))) for r in t.rows]
    if t.caption:
        lines += ["", f"*{md_escape(t.caption)}*"]
    return lines


def render_markdown(blocks: list[Block], figures_dir: str = "figures") -> str:
    """Markdown text; figures are referenced as ``figures/<name>`` (written next to it)."""
    out: list[str] = []
    for b in blocks:
        if isinstance(b, Heading):
            out += ["#" * b.level + " " + md_escape(b.text)]
        elif isinstance(b, Para):
            text = md_escape(b.text)
            out += [f"> {text}" if b.kind == "note" else text]
        elif isinstance(b, Table):
            out += _md_table(b)
        elif isinstance(b, Figure):
            out += [
                f"![{md_escape(b.alt)}]({figures_dir}/{b.name})",
                "",
                f"*{md_escape(b.caption)}*",
            ]
        elif isinstance(b, Code):
            fence = "````" if "```" in b.text else "```"
            out += [fence, b.text.rstrip("\n"), fence]
        elif isinstance(b, Bullets):
            out += [f"- {md_escape(item)}" for item in b.items]
        elif isinstance(b, Toc):
            out += [f"- [{md_escape(h.text)}](#{h.anchor})" for h in toc(blocks)]
        out.append("")
    return "\n".join(out).rstrip("\n") + "\n"


def toc(blocks: list[Block]) -> list[Heading]:
    """The level-2 headings, for a table of contents."""
    return [b for b in blocks if isinstance(b, Heading) and b.level == 2]
