"""What a scenario may say, and the readers of its plain values: the vocabulary (products,
actions, statuses, the product fields a task may set), :class:`ScenarioError`, the key path
:class:`At` that every error names, and the readers of durations, numbers, choices, options,
limits, faults and the start time.

Every reader raises a :class:`ScenarioError` naming the file, the key path and the reason, and
suggests the closest known key for an unknown one; none guesses. The sections that build tasks
and generators are :mod:`taskwatch.emulator.scenario`'s.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Literal, NoReturn, cast

from taskwatch.durations import parse_duration
from taskwatch.emulator.actions import DAY, Options
from taskwatch.emulator.faults import FAULT_KINDS, Fault
from taskwatch.emulator.world import (
    DLC_CANCELLED,
    DLC_FAILED,
    DLC_INIT,
    DLC_QUEUED,
    DLC_RUNNING,
    DLC_SUCCEEDED,
    DLC_WRITING,
)

Product = Literal["mps", "dlc", "live"]
PRODUCTS: tuple[Product, ...] = ("mps", "dlc", "live")
ACTIONS: dict[str, tuple[str, ...]] = {
    "mps": ("DescribeTasks", "DescribeTaskDetail", "ManageTask"),
    "dlc": ("DescribeTasks", "CancelTask"),
    "live": (
        "DescribeLivePullStreamTasks", "DeleteLivePullStreamTask",
        "DescribeLivePullStreamTaskStatus",
    ),
}  # fmt: skip
"""The actions ``limits`` and ``faults`` may name, per product."""
ALL_ACTIONS = sorted({a for actions in ACTIONS.values() for a in actions})
MPS_STATUSES = ("WAITING", "PROCESSING", "FINISH")
DLC_STATES = {
    "queued": DLC_QUEUED, "init": DLC_INIT, "running": DLC_RUNNING, "writing": DLC_WRITING,
    "succeeded": DLC_SUCCEEDED, "failed": DLC_FAILED, "cancelled": DLC_CANCELLED,
}  # fmt: skip
LIVE_STATUSES = ("enable", "pause")
LIVE_SOURCE_TYPES = ("PullLivePushLive", "PullVodPushLive", "PullPicPushLive")
LIVE_MAX_WINDOW = 7 * DAY
"""EndTime − StartTime must stay under 7 days, as the real API requires."""

# Product fields a task or generator entry may set, and how each is read.
FieldKind = Literal["str", "strs", "int"]
MPS_FIELDS: dict[str, FieldKind] = {
    "url": "str", "session_id": "str", "session_context": "str", "ext_info": "str",
    "priority": "int", "sub_task_types": "strs", "input_url": "str",
}  # fmt: skip
DLC_FIELDS: dict[str, FieldKind] = {
    "sql": "str", "sql_type": "str", "task_type": "str", "engine": "str", "engine_type": "str",
    "database": "str", "operator": "str", "data_amount": "int", "percentage": "int",
    "output_message": "str", "resource_group": "str", "session_id": "str", "batch_id": "str",
}  # fmt: skip
LIVE_FIELDS: dict[str, FieldKind] = {
    "source_type": "str", "source_urls": "strs", "domain": "str", "app": "str", "stream": "str",
    "region": "str", "created_by": "str", "comment": "str", "callback_url": "str",
    "vod_loop_times": "int", "callback_events": "strs",
}  # fmt: skip
MPS_OUTCOME = ("err_code", "message")
"""MPS task keys that say how a task stands (``ErrCode``, ``Message`` as DescribeTaskDetail shows
them); a task entry may set them, a generator may not (its tasks' outcomes are drawn)."""
FIELD_BOUNDS = {"priority": (-10, 10), "percentage": (0, 100), "data_amount": (0, None),
                 "vod_loop_times": (-1, None)}  # fmt: skip
GENERATOR_KEYS = {"mps": ("type", "failure_ratio"), "dlc": ("failure_ratio",), "live": ("status",)}
GENERATOR_DURATION = {"mps": ["1m", "10m"], "dlc": ["30s", "10m"], "live": ["1h", "6h"]}
TIMES = ("count", "created", "spread", "started", "finished", "wait", "duration")
TOP_KEYS = ("description", "seed", "start", "appid", "credentials", "options", "limits",
            "mps", "dlc", "live", "faults")  # fmt: skip


@dataclass(frozen=True, slots=True)
class Span:
    """A length in seconds drawn uniformly from ``[lo, hi]``; ``from_start``: counted from the
    scenario start rather than from the task's own creation (or start)."""

    lo: float
    hi: float
    from_start: bool = False


class ScenarioError(ValueError):
    """A scenario that cannot be used; the message names the file, the key path and the reason."""

    def __init__(self, source: str, path: str, reason: str) -> None:
        super().__init__(f"{source}: {path or '(top level)'}: {reason}")
        self.source, self.path, self.reason = source, path, reason


# --- parsing ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class At:
    """Where in the document a value sits: the source name and the key path."""

    source: str
    path: str = ""

    def __truediv__(self, key: str | int) -> At:
        if isinstance(key, int):
            return At(self.source, f"{self.path}[{key}]")
        return At(self.source, f"{self.path}.{key}" if self.path else key)

    def fail(self, reason: str) -> NoReturn:
        raise ScenarioError(self.source, self.path, reason)


def kind_of(value: object) -> str:
    return "null" if value is None else type(value).__name__


def read_table(value: object, at: At, known: Collection[str]) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        at.fail(f"expected a mapping, got {kind_of(value)}")
    for key in value:
        if not isinstance(key, str) or key not in known:
            close = difflib.get_close_matches(str(key), list(known), n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            (at / str(key)).fail(f"unknown key ({hint}known: {', '.join(sorted(known))})")
    return dict(value)


def read_list(value: object, at: At) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        at.fail(f"expected a list, got {kind_of(value)}")
    return value


def read_duration(
    value: object, at: At, *, negative: bool = False, positive: bool = False
) -> float:
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        at.fail(f"expected a duration such as 30s, 5m or -2h, got {kind_of(value)}")
    try:
        seconds = parse_duration(value, allow_negative=negative)
    except ValueError as exc:
        at.fail(str(exc))
    if positive and seconds <= 0:
        at.fail(f"{value!r}: must be longer than zero")
    return seconds


def read_span(value: object, at: At) -> Span | None:
    """A duration, ``[min, max]`` (drawn per task), or null."""
    if value is None:
        return None
    if isinstance(value, list):
        if len(value) != 2:
            at.fail("a range is [min, max]")
        lo, hi = read_duration(value[0], at / 0), read_duration(value[1], at / 1)
        if hi < lo:
            at.fail(f"range [{value[0]}, {value[1]}] has its maximum below its minimum")
        return Span(lo, hi)
    seconds = read_duration(value, at)
    return Span(seconds, seconds)


def read_int(value: object, at: At, lo: int | None = None, hi: int | None = None) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        at.fail(f"expected an integer, got {kind_of(value)}")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        at.fail(f"{value} is outside [{'' if lo is None else lo}, {'' if hi is None else hi}]")
    return value


def read_number(value: object, at: At) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool):
        at.fail(f"expected a number, got {kind_of(value)}")
    return float(value)


def read_ratio(value: object, at: At) -> float:
    ratio = read_number(value, at)
    if not 0.0 <= ratio <= 1.0:
        at.fail(f"{value} is not a ratio within [0, 1]")
    return ratio


def read_rate(value: object, at: At) -> float:
    rate = read_number(value, at)
    if rate <= 0:
        at.fail(f"{value} calls per second: must be more than zero")
    return rate


def read_text(value: object, at: At) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        at.fail(f"expected a string, got {kind_of(value)}")
    return str(value)


def read_texts(value: object, at: At) -> list[str]:
    return [read_text(v, at / i) for i, v in enumerate(read_list(value, at))]


def read_choice(value: object, at: At, choices: Collection[str]) -> str:
    if not isinstance(value, str) or value not in choices:
        at.fail(f"{value!r} is not one of {', '.join(choices)}")
    return value


def read_product_fields(
    table: Mapping[str, Any], at: At, kinds: Mapping[str, FieldKind]
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, kind in kinds.items():
        if key not in table:
            continue
        value, here = table[key], at / key
        if kind == "int":
            out[key] = read_int(value, here, *FIELD_BOUNDS.get(key, (None, None)))
        else:
            out[key] = read_texts(value, here) if kind == "strs" else read_text(value, here)
    if "source_type" in out:
        read_choice(out["source_type"], at / "source_type", LIVE_SOURCE_TYPES)
    return out


def read_dlc_state(value: object, at: At) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value in DLC_STATES.values():
        return value
    if isinstance(value, str) and value in DLC_STATES:
        return DLC_STATES[value]
    names = ", ".join(f"{k} ({v})" for k, v in DLC_STATES.items())
    at.fail(f"{value!r} is not one of {names}")


def read_past(t: Mapping[str, Any], key: str, at: At, low: float, low_name: str) -> float | None:
    """The offset at ``key`` if given; it must lie between ``low`` and the start."""
    if key not in t:
        return None
    value = read_duration(t[key], at / key, negative=True)
    if not low <= value <= 0:
        (at / key).fail(f"{t[key]!r} must lie between {low_name} and the start (0)")
    return value


def read_options(raw: object, at: At) -> Options:
    specs = {f.name: str(f.type) for f in dataclasses.fields(Options)}
    t = read_table(raw, at, specs)
    kwargs: dict[str, Any] = {}
    for key, value in t.items():
        kind, here = specs[key], at / key
        if kind == "float":
            kwargs[key] = read_duration(value, here, positive=True)
        elif kind == "int":
            kwargs[key] = read_int(value, here, lo=0)
        elif kind == "str":
            kwargs[key] = read_text(value, here)
        elif kind.startswith("frozenset"):
            kwargs[key] = frozenset(read_texts(value, here))
        else:
            here.fail(f"cannot be set from a scenario ({kind})")
    return Options(**kwargs)


def read_limits(raw: object, at: At) -> dict[tuple[str, str], float]:
    names = [f"{p}.{a}" for p, actions in ACTIONS.items() for a in actions]
    t = read_table(raw, at, names)
    return {
        cast(tuple[str, str], tuple(k.split(".", 1))): read_rate(v, at / k) for k, v in t.items()
    }


def read_fault(raw: object, at: At) -> dict[str, Any]:
    known = sorted(set(Fault.__dataclass_fields__) - {"seen", "fired"})
    t = read_table(raw, at, known)
    if "kind" not in t:
        (at / "kind").fail(f"required: one of {', '.join(FAULT_KINDS)}")
    out: dict[str, Any] = {"kind": read_choice(t["kind"], at / "kind", FAULT_KINDS)}
    if t.get("product") is not None:
        out["product"] = read_choice(t["product"], at / "product", PRODUCTS)
    if t.get("action") is not None:
        actions = ACTIONS.get(out.get("product", ""), ALL_ACTIONS)
        out["action"] = read_choice(t["action"], at / "action", actions)
    for key in ("code", "message", "field"):
        if key in t:
            out[key] = read_text(t[key], at / key)
    for key in ("after", "until", "seconds"):
        if t.get(key) is not None:
            out[key] = read_duration(t[key], at / key)
    if "probability" in t:
        out["probability"] = read_ratio(t["probability"], at / "probability")
    if t.get("every") is not None:
        out["every"] = read_int(t["every"], at / "every", lo=1)
    if t.get("count") is not None:
        out["count"] = read_int(t["count"], at / "count", lo=0)
    if "status" in t:
        out["status"] = read_int(t["status"], at / "status", lo=100, hi=599)
    return out


def read_start(value: object, at: At) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            at.fail(f"{value!r} is not an ISO 8601 time such as 2026-11-23T08:00:00Z")
    if not isinstance(value, datetime):
        at.fail(f"expected a time such as 2026-11-23T08:00:00Z, got {kind_of(value)}"
                + (" (a date without a time)" if isinstance(value, date) else ""))  # fmt: skip
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
