"""Reading API values without trusting them: every reader answers ``None`` for what it cannot
use, never raises.

The estimators read raw API records (``Task.fields``, ``Task.detail``) that the adapters keep as
the API returned them; a field of the wrong type, a negative size, ``NaN`` or a garbled time makes
that figure unknown (the task unpriced, with why), never an exception in a scan.

``iso_time`` repeats ``taskwatch.products.timefmt.parse_iso`` (a layer above this one).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

__all__ = ["at", "iso_time", "mapping", "number", "sequence"]


def number(value: object) -> float | None:
    """A finite, non-negative number (an int, a float, or a string of one); else ``None``."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    if not isinstance(value, int | float):
        return None
    result = float(value)
    return result if math.isfinite(result) and result >= 0 else None


def mapping(value: object) -> Mapping[str, Any] | None:
    return value if isinstance(value, Mapping) else None


def sequence(value: object) -> Sequence[Any]:
    """A list's items; anything else reads as no items."""
    return value if isinstance(value, list | tuple) else ()


def at(value: object, *path: str | int) -> object:
    """The value at ``path`` (keys of mappings, indexes of lists); ``None`` when any step is
    missing or of the wrong kind."""
    for step in path:
        if isinstance(step, int):
            items = sequence(value)
            if not -len(items) <= step < len(items):
                return None
            value = items[step]
        else:
            found = mapping(value)
            if found is None:
                return None
            value = found.get(step)
    return value


def iso_time(value: object) -> float | None:
    """Epoch seconds of an ISO 8601 time (naive: UTC); ``None`` for unset (MPS ``0000-``),
    empty or unreadable values."""
    if not isinstance(value, str) or not value.strip() or value.startswith("0000-"):
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()
