"""The results as a plain-text (Markdown) table."""

from __future__ import annotations

from collections.abc import Sequence

from tests.bench.common import Row

HEADER = ("id", "figure", "taskwatch", "peers", "ratio", "goal", "met")


def fmt(value: float | None) -> str:
    if value is None:
        return "—"
    if value == int(value) and abs(value) >= 10:
        return f"{int(value):,}"
    return f"{value:.3g}" if abs(value) < 100 else f"{value:,.0f}"


def render(rows: Sequence[Row]) -> str:
    """A Markdown table, one line per row."""
    lines = [
        [
            r.id,
            r.figure,
            fmt(r.taskwatch),
            "; ".join(f"{k} {fmt(v)}" for k, v in r.peers.items()) or "—",
            fmt(r.ratio),
            r.goal,
            "—" if r.met is None else ("yes" if r.met else "NO"),
        ]
        for r in rows
    ]
    out = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    out += ["| " + " | ".join(cells) + " |" for cells in lines]
    return "\n".join(out)
