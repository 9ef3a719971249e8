"""What an estimate says, and what "no estimate" says: :class:`Estimate` and :class:`Unpriced`.

Money is in the price table's currency (a float, rounded to the cent only for display); times are
UTC epoch seconds and hours.

Not guaranteed: any figure is a bill (list prices, and what the APIs say of the task).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["HOUR", "Estimate", "Unpriced"]

HOUR = 3600.0


@dataclass(frozen=True, slots=True)
class Estimate:
    """One task's estimated cost at one instant, in the table's currency."""

    so_far: float
    """Spent from its start to ``now`` (to its end once ended)."""
    per_hour: float
    """What it spends per hour now; 0 once ended or while it waits."""
    currency: str
    basis: str
    """How it was computed, for people (``running 2.50 h x 1.2/h``)."""
    remaining_hours: float | None = None
    """How much longer it is planned (Live ``EndTime``) or projected (MPS transcoding progress)
    to run; ``None`` when nothing says."""


@dataclass(frozen=True, slots=True)
class Unpriced:
    """No estimate, and why (for logs and tests; never a figure of 0)."""

    why: str
