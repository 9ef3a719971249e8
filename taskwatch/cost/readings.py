"""Reading API values without trusting them: every reader answers ``None`` for what it cannot
use, never raises.

The estimators read raw API records (``Task.fields``, ``Task.detail``) that the adapters keep as
the API returned them; a field of the wrong type, a negative size, ``NaN`` or a garbled time makes
that figure unknown (the task unpriced, with why), never an exception in a scan.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["at", "mapping", "number", "sequence"]


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
