"""The report as a list of blocks, number formatting, and the Markdown renderer.

The report is assembled once as plain blocks (:mod:`langsteer.report.build`) and rendered twice,
to Markdown here and to HTML in :mod:`langsteer.report.html`, so the two files can never say
different things. Block text is plain text: each renderer escapes it for its own format, so a
language code or config value such as ``<script>`` cannot inject markup into either file.
A :class:`Details` block is a collapsible section in HTML and a plain section in Markdown; a
:class:`Side` block puts its blocks side by side in HTML (wrapping below on narrow screens) and
one after another in Markdown.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
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
    bold: set[tuple[int, int]] = field(default_factory=set)  # (row, column) cells in bold
    #: rows whose second cell holds the value of every column after the first (the same for
    #: all of them): one cell across them in HTML, a ditto mark in each further one in Markdown
    merged: set[int] = field(default_factory=set)
    kind: str = ""  # "compact" or "" (styling hint for HTML: small single-line cells)


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
class Details:
    """A section: collapsed ``<details>`` in HTML, a heading of ``level`` and its body in
    Markdown (a section inside another one gives itself a deeper level)."""

    title: str
    blocks: list[Block]
    level: int = 2

    @property
    def anchor(self) -> str:
        return slug(self.title)


@dataclass
class Side:
    """Blocks side by side: a flex row in HTML that wraps below on narrow screens (so a table
    and its figure share the first screen when the page is wide enough), the blocks in order in
    Markdown."""

    blocks: list[Block]


Block = Heading | Para | Table | Figure | Code | Bullets | Details | Side
DITTO = "″"  # a merged cell's further columns in Markdown: "the same as on the left"


def walk(blocks: list[Block]) -> Iterator[Block]:
    """Every block, depth first, the blocks inside sections (and side-by-side rows) included."""
    for b in blocks:
        yield b
        if isinstance(b, Details | Side):
            yield from walk(b.blocks)


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
    def cells(row: list[str], i: int | None = None) -> str:
        out = []
        for j, c in enumerate(row):
            text = md_escape(c).replace("\n", " ")
            out.append(f"**{text}**" if text and (i, j) in t.bold else text)
        return "| " + " | ".join(out) + " |"

    def full(row: list[str], i: int) -> list[str]:
        if i in t.merged:
            return row[:2] + [DITTO] * (len(t.header) - 2)
        return row + [""] * (len(t.header) - len(row))

    lines = [cells(t.header), "|" + "|".join("---" for _ in t.header) + "|"]
    lines += [cells(full(r, i), i) for i, r in enumerate(t.rows)]
    if t.caption:
        lines += ["", f"*{md_escape(t.caption)}*"]
    return lines


def render_markdown(blocks: list[Block], figures_dir: str = "figures") -> str:
    """Markdown text; figures are referenced as ``figures/<name>`` (written next to it)."""
    return "\n".join(_md_blocks(blocks, figures_dir)).rstrip("\n") + "\n"


def _md_blocks(blocks: list[Block], figures_dir: str) -> list[str]:
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
        elif isinstance(b, Details):
            out += ["#" * b.level + " " + md_escape(b.title), ""]
            out += _md_blocks(b.blocks, figures_dir)
            continue
        elif isinstance(b, Side):
            out += _md_blocks(b.blocks, figures_dir)
            continue
        out.append("")
    return out
