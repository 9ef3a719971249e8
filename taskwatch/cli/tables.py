"""Plain-text summaries of cycles, for ``taskwatch once`` and the demo."""

from __future__ import annotations

from collections.abc import Sequence

from taskwatch.watch import CycleReport

HEADER = ("source", "result", "seconds", "calls", "active", "new", "changed", "gone", "finished")


def summary_table(reports: Sequence[CycleReport]) -> str:
    """One row per source; failures show their error class and message below the table."""
    rows = [HEADER]
    rows.extend(
        (
            str(r.source),
            "ok" if r.ok else f"FAILED ({r.error})",
            f"{r.seconds:.2f}",
            str(r.total_calls),
            str(r.active),
            str(r.new),
            str(r.changed),
            str(r.gone),
            str(r.finished),
        )
        for r in reports
    )
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADER))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.extend(f"{r.source}: {r.message}" for r in reports if not r.ok)
    return "\n".join(line.rstrip() for line in lines)
