"""Human durations: ``90m``, ``6h``, ``2d``, ``1h30m``, ``-5h50m``, ``250ms``.

Config files, policies and emulator scenarios all spell time this way; one parser keeps them
consistent. A bare number means seconds. Units: ``ms``, ``s``, ``m``, ``h``, ``d``, ``w``.
"""

from __future__ import annotations

import re

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")


def parse_duration(value: str | float | int, *, allow_negative: bool = False) -> float:
    """Seconds in ``value``; ``ValueError`` with the accepted forms when it is not a duration."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        text = value.strip().replace(" ", "")
        sign = 1.0
        if text.startswith("-"):
            sign, text = -1.0, text[1:]
        elif text.startswith("+"):
            text = text[1:]
        try:
            seconds = sign * float(text)
        except ValueError:
            pos, total = 0, 0.0
            for m in _PART.finditer(text):
                if m.start() != pos:
                    break
                total += float(m.group(1)) * _UNITS[m.group(2)]
                pos = m.end()
            if pos != len(text) or not text:
                raise ValueError(
                    f"{value!r} is not a duration (use e.g. 30s, 90m, 6h, 2d, 1h30m)"
                ) from None
            seconds = sign * total
    if seconds < 0 and not allow_negative:
        raise ValueError(f"{value!r}: a duration must not be negative")
    return seconds


def format_duration(seconds: float) -> str:
    """The shortest exact spelling, e.g. ``5400`` → ``1h30m``."""
    if seconds == 0:
        return "0s"
    sign = "-" if seconds < 0 else ""
    rest = abs(seconds)
    parts = []
    for unit in ("d", "h", "m"):
        n, rest = divmod(rest, _UNITS[unit])
        if n:
            parts.append(f"{int(n)}{unit}")
    if rest:
        parts.append(f"{rest:g}s")
    return sign + "".join(parts)
