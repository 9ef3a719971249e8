"""Times as the three APIs print them, read into UTC epoch seconds (``None`` when unset).

One reader per spelling, so every adapter agrees (reference §8):

- MPS and Live print ISO 8601 UTC with ``Z`` and whole seconds (``2019-07-16T06:21:27Z``). MPS
  prints ``0000-00-00T00:00:00Z`` for a BeginProcessTime or FinishTime that has not happened, which
  ``datetime.fromisoformat`` rejects; it means "unset", so it reads as ``None``.
- DLC outputs epoch *milliseconds* as strings (``"1611646962000"``); ``""`` and ``"0"`` mean unset.

Lenient on purpose: a value the API garbles reads as ``None`` (unknown) instead of failing the
whole listing it came in; a naive ISO time is taken as UTC. Not handled: DLC's *input* format
(``yyyy-mm-dd HH:MM:SS``), which taskwatch never sends.
"""

from __future__ import annotations

from datetime import UTC, datetime

MPS_UNSET = "0000-00-00T00:00:00Z"
"""MPS's spelling of a time that has not come (BeginProcessTime, FinishTime)."""


def parse_iso(value: object) -> float | None:
    """Epoch seconds of an ISO 8601 time; ``None`` for absent, empty, the MPS sentinel (any
    ``0000-`` date) or unparseable values."""
    if not isinstance(value, str) or not value.strip() or value.startswith("0000-"):
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def parse_epoch_ms(value: object) -> float | None:
    """Epoch seconds of an epoch-milliseconds value (string or number); ``None`` when absent,
    empty, zero or not a number."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        ms = float(value)
    elif isinstance(value, str) and value.strip():
        try:
            ms = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return ms / 1000.0 if ms > 0 else None
