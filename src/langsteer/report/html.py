"""The HTML renderer: one self-contained file (inline CSS, figures as base64 data: URIs, no JS).

Self-contained so the report can be mailed, attached to an issue or opened from an archive
without the figures folder and without network access. Every piece of text is escaped here.
Sections (:class:`~langsteer.report.markdown.Details`) collapse with plain ``<details>``, so the
first screen shows only what the report puts before them; a :class:`~langsteer.report.markdown.Side`
row is a wrapping flex container, so the leaderboard and its figure share that screen when the
window is wide. A table wider than the page scrolls inside its own box, so the page never
scrolls sideways; ``bench/check_report_browser.py`` checks that (and that figures load and the
verdict, the leaderboard and the headline figure are on the first screen) in Chromium.
"""

from __future__ import annotations

import base64
import html

from langsteer.report.markdown import (
    Block,
    Bullets,
    Code,
    Details,
    Figure,
    Heading,
    Para,
    Side,
    Table,
)

CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: #222;
       max-width: 1240px; margin: 1.2em auto; padding: 0 1.5em; line-height: 1.45;
       overflow-wrap: break-word; }
h1 { font-size: 1.6em; border-bottom: 2px solid #1f77b4; padding-bottom: .2em; }
h2 { font-size: 1.3em; margin-top: 2em; border-bottom: 1px solid #ddd; }
h3 { font-size: 1.05em; margin-top: 1.4em; }
p.summary { background: #f3f7fb; border-left: 4px solid #1f77b4; padding: .7em 1em; }
p.note { color: #555; border-left: 3px solid #ccc; padding-left: .8em; font-size: .92em; }
.table-scroll { overflow-x: auto; max-width: 100%; margin: .6em 0 .3em; }
table { border-collapse: collapse; font-size: .9em; }
th, td { border: 1px solid #d0d0d0; padding: .25em .6em; text-align: left; vertical-align: top; }
th { background: #f2f2f2; }
tr:nth-child(even) td { background: #fafafa; }
td.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.caption { color: #444; font-size: .88em; margin: .2em 0 1.2em; max-width: 60em; }
figure { margin: 1em 0 1.5em; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
pre { background: #f6f6f6; padding: .8em; overflow-x: auto; font-size: .82em; }
td.best { background: #e8f3e8 !important; }
details { margin: .4em 0; border-top: 1px solid #ddd; }
details > summary { cursor: pointer; font-weight: 600; padding: .45em 0; font-size: 1.15em; }
details details { margin-left: 1.2em; }
details details > summary { font-size: 1em; }
.side { display: flex; flex-wrap: wrap; gap: 0 1.5em; align-items: flex-start; }
.side > div { flex: 0 1 auto; min-width: 0; max-width: 100%; }
.side .caption { width: 0; min-width: 100%; margin-bottom: .6em; }
.side figure { margin: .6em 0 0; }
table.compact { font-size: .75em; line-height: 1.3; }
table.compact th, table.compact td { white-space: nowrap; padding: .15em .4em; }
table.compact td.merged { color: #444; text-align: center; }
"""


def esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def _is_number(cell: str) -> bool:
    """Right-align cells that are numbers with units (tables read better that way)."""
    c = cell.strip().replace("%", "").replace(" pp", "").replace(" s", "").lstrip("+-−")
    return bool(c) and (c.replace(".", "", 1).isdigit() or c == "n/a")


def _cell(t: Table, i: int, j: int, text: str, span: int = 1) -> str:
    classes = ["n"] if _is_number(text) else []
    body = esc(text)
    if (i, j) in t.bold and text:
        classes.append("best")
        body = f"<strong>{body}</strong>"
    if span > 1:
        classes.append("merged")
    cls = f' class="{" ".join(classes)}"' if classes else ""
    cls += f' colspan="{span}"' if span > 1 else ""
    return f"<td{cls}>{body}</td>"


def _row(t: Table, i: int, row: list[str]) -> str:
    width = len(t.header)
    if i in t.merged and width > 2:  # one cell across every column after the first
        return f"<tr>{_cell(t, i, 0, row[0])}{_cell(t, i, 1, row[1], width - 1)}</tr>"
    cells = [*row, *[""] * (width - len(row))]
    return "<tr>" + "".join(_cell(t, i, j, c) for j, c in enumerate(cells)) + "</tr>"


def _table(t: Table) -> str:
    head = "".join(f"<th>{esc(h)}</th>" for h in t.header)
    rows = [_row(t, i, row) for i, row in enumerate(t.rows)]
    cap = f'<div class="caption">{esc(t.caption)}</div>' if t.caption else ""
    # a table wider than the page scrolls inside its own box, never widens the page
    cls = f' class="{esc(t.kind)}"' if t.kind else ""
    body = f"<table{cls}><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    return f'<div class="table-scroll">{body}</div>{cap}'


def _figure(f: Figure) -> str:
    data = base64.b64encode(f.png).decode("ascii")
    return (
        f'<figure><img src="data:image/png;base64,{data}" alt="{esc(f.alt)}">'
        f'<figcaption class="caption">{esc(f.caption)}</figcaption></figure>'
    )


def render_html(blocks: list[Block], title: str) -> str:
    """One HTML5 document; headings and sections get ids (the same anchors as the Markdown)."""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{esc(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
        + "\n".join(_blocks(blocks, {}))
        + "\n</body>\n</html>\n"
    )


def _unique(anchor: str, used: dict[str, int]) -> str:
    """Ids must be unique: repeated titles get -1, -2 (as GitHub does)."""
    used[anchor] = used.get(anchor, 0) + 1
    return anchor + (f"-{used[anchor] - 1}" if used[anchor] > 1 else "")


def _blocks(blocks: list[Block], used: dict[str, int]) -> list[str]:
    body: list[str] = []
    for b in blocks:
        if isinstance(b, Heading):
            anchor = _unique(b.anchor, used)
            body.append(f'<h{b.level} id="{esc(anchor)}">{esc(b.text)}</h{b.level}>')
        elif isinstance(b, Para):
            cls = f' class="{esc(b.kind)}"' if b.kind else ""
            body.append(f"<p{cls}>{esc(b.text)}</p>")
        elif isinstance(b, Table):
            body.append(_table(b))
        elif isinstance(b, Figure):
            body.append(_figure(b))
        elif isinstance(b, Code):
            body.append(f"<pre>{esc(b.text)}</pre>")
        elif isinstance(b, Bullets):
            body.append("<ul>" + "".join(f"<li>{esc(i)}</li>" for i in b.items) + "</ul>")
        elif isinstance(b, Details):
            anchor = _unique(b.anchor, used)
            body.append(f'<details id="{esc(anchor)}"><summary>{esc(b.title)}</summary>')
            body += _blocks(b.blocks, used)
            body.append("</details>")
        elif isinstance(b, Side):
            body.append('<div class="side">')
            for part in b.blocks:  # one flex item per block
                body.append("<div>" + "\n".join(_blocks([part], used)) + "</div>")
            body.append("</div>")
    return body
