"""The status page's HTML pieces: escaping, times, badges, tables, sections, and its stylesheet.

Split out of :mod:`taskwatch.web.statuspage` so that each section renderer (the page's own, and
:mod:`taskwatch.web.statuscost`'s) builds its HTML the same way. Every cell a caller passes to
:func:`table` is HTML already: the caller escapes what came from an API or the configuration with
:func:`escape` (a task id is attacker-controlled text as far as a browser is concerned).

Not guaranteed: anything about layout beyond what :data:`STYLESHEET` says; the page has no
JavaScript.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import UTC, datetime

__all__ = ["STYLESHEET", "badge", "empty", "escape", "section", "span", "table", "when"]


def escape(value: object) -> str:
    return html.escape(str(value), quote=True)


def span(seconds: float) -> str:
    """Two units at most, a zero second one left out: ``42s``, ``12m 5s``, ``3h``, ``2d 4h``."""
    s = max(0, round(seconds))
    for unit, size, sub, sub_size in (
        ("d", 86400, "h", 3600),
        ("h", 3600, "m", 60),
        ("m", 60, "s", 1),
    ):
        if s >= size:
            rest = (s % size) // sub_size
            return f"{s // size}{unit}" + (f" {rest}{sub}" if rest else "")
    return f"{s}s"


def when(ts: float | None, now: float) -> str:
    if ts is None:
        return '<span class="muted">never</span>'
    moment = datetime.fromtimestamp(ts, UTC)
    ago = now - ts
    relative = f"{span(ago)} ago" if ago >= 0 else f"in {span(-ago)}"
    return (
        f'<time datetime="{moment.isoformat()}" title="{moment:%Y-%m-%d %H:%M:%S} UTC">'
        f'{moment:%Y-%m-%d %H:%M:%S}</time> <span class="muted ago">({relative})</span>'
    )


def badge(text: str, kind: str) -> str:
    return f'<span class="badge {kind}">{escape(text)}</span>'


def table(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    numeric: set[int],
    narrow: bool = False,
) -> str:
    """Cells are HTML already (escaped by the caller); ``numeric`` columns align right."""

    def cls(i: int) -> str:
        return ' class="num"' if i in numeric else ""

    head = "".join(f'<th{cls(i)} scope="col">{escape(h)}</th>' for i, h in enumerate(headers))
    body = "\n".join(
        "<tr>" + "".join(f"<td{cls(i)}>{c}</td>" for i, c in enumerate(row)) + "</tr>"
        for row in rows
    )
    opening = '<table class="narrow">' if narrow else "<table>"
    return f"{opening}\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table>"


def section(ident: str, title: str, content: str, note: str = "") -> str:
    extra = f' <span class="muted note">{note}</span>' if note else ""
    return f'<section id="{ident}">\n<h2>{escape(title)}{extra}</h2>\n{content}\n</section>'


def empty(text: str) -> str:
    return f'<p class="empty">{escape(text)}</p>'


STYLESHEET = """\
:root { color-scheme: light; --fg: #1d2330; --muted: #6b7385; --line: #e3e6ec; --bg: #f6f7f9; }
* { box-sizing: border-box; }
body { margin: 0; padding: 24px 32px 48px; background: var(--bg); color: var(--fg);
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", sans-serif; }
header { margin-bottom: 16px; }
h1 { font-size: 22px; margin: 0 0 6px; }
h1 .version { font-weight: 400; color: var(--muted); font-size: 16px; }
h2 { font-size: 16px; margin: 0 0 10px; }
h2 .note { font-weight: 400; font-size: 13px; }
p { margin: 4px 0; }
a { color: #2556c4; }
section { background: #fff; border: 1px solid var(--line); border-radius: 8px;
  padding: 14px 16px; margin: 0 0 16px; overflow-x: auto; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 6px 10px; border-bottom: 1px solid var(--line);
  vertical-align: top; }
th { font-size: 12px; text-transform: uppercase; letter-spacing: .04em; color: var(--muted);
  font-weight: 600; white-space: nowrap; }
tbody tr:nth-child(even) { background: #fafbfc; }
tbody tr:last-child td { border-bottom: 0; }
.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
code { font: 12.5px/1.4 ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; }
code.id { word-break: break-all; }
.muted { color: var(--muted); }
.msg { color: #8a2a2a; }
.empty { color: var(--muted); font-style: italic; margin: 2px 0; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px;
  font-weight: 600; white-space: nowrap; border: 1px solid transparent; }
.badge.ok { background: #e5f5ea; color: #17642f; border-color: #b9e2c5; }
.badge.bad { background: #fdeaea; color: #9b1c1c; border-color: #f4c2c2; }
.badge.warn { background: #fff4e0; color: #8a4b00; border-color: #f5d9a6; }
.badge.info { background: #e8effd; color: #2447a0; border-color: #c3d3f5; }
.badge.idle { background: #eef0f3; color: #4b5263; border-color: #d9dce3; }
time, .ago, .name { white-space: nowrap; }
table.narrow { width: auto; min-width: 420px; }
.task { min-width: 17rem; }
"""
