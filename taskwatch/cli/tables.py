"""Plain-text summaries of cycles and of what the policies did, for ``taskwatch once`` and the
demo."""

from __future__ import annotations

from collections.abc import Sequence

from taskwatch.metrics.registry import Metrics
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
    lines = aligned(rows)
    lines.extend(f"{r.source}: {r.message}" for r in reports if not r.ok)
    return "\n".join(lines)


def aligned(rows: Sequence[Sequence[str]]) -> list[str]:
    """Rows of cells as lines of left-aligned columns two spaces apart (the first row is the
    header), without trailing spaces: every table the commands print."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


def policy_line(metrics: Metrics) -> str:
    """What each policy did so far, by result, from ``taskwatch_policy_actions_total`` (summed over
    accounts, products and actions): ``policies: abort-long-live: 3 done, 1 skipped_cap``."""
    counts: dict[str, dict[str, float]] = {}
    for family in metrics.registry.collect():
        for sample in family.samples:
            if sample.name != "taskwatch_policy_actions_total" or not sample.value:
                continue
            by_result = counts.setdefault(sample.labels["policy"], {})
            result = sample.labels["result"]
            by_result[result] = by_result.get(result, 0.0) + sample.value
    if not counts:
        return "policies: no action yet"
    done = (
        f"{policy}: " + ", ".join(f"{n:g} {result}" for result, n in sorted(results.items()))
        for policy, results in sorted(counts.items())
    )
    return "policies: " + "; ".join(done)
