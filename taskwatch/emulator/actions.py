"""What an emulated action is: its parameters, and a function from the world to a response.

Product modules (``mps``, ``dlc``, ``live``) each export ``ACTIONS: dict[str, Action]``. The server
does everything common (signature, clock skew, rate limit, region, parameter validation, faults,
envelope, log) and calls ``handler(world, params, ctx)`` with validated parameters; the handler
returns the ``Response`` fields without ``RequestId``, or raises :class:`EmulatedError`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from taskwatch.emulator.wire import ParamSpec
from taskwatch.emulator.world import World

DAY = 86400.0


@dataclass(frozen=True, slots=True)
class Options:
    """Behaviour the reference leaves open, chosen per scenario ([inferred] where marked)."""

    mps_list_window: float = 7 * DAY
    """DescribeTasks lists tasks created within the last 7 days (168 h)."""
    mps_detail_retention: float = 7 * DAY
    """DescribeTaskDetail answers for tasks created within this window (docs say 3 or 7 days)."""
    mps_detail_missing_code: str = "ResourceNotFound"
    """[inferred] The code for an unknown or expired DescribeTaskDetail id."""
    dlc_query_window: float = 45 * DAY
    live_limit_task_num: int = 20
    """``LimitTaskNum`` in DescribeLivePullStreamTasks: how many tasks the account may create."""
    live_regions: frozenset[str] = field(
        default_factory=lambda: frozenset(
            {
                "ap-bangkok", "ap-beijing", "ap-guangzhou", "ap-hongkong", "ap-mumbai",
                "ap-seoul", "ap-shanghai", "ap-singapore", "ap-tokyo", "eu-frankfurt",
                "na-ashburn", "na-siliconvalley",
            }
        )
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class CallContext:
    """Who called and how: handlers read the region, language and options from here."""

    region: str | None
    language: str
    secret_id: str
    options: Options


Handler = Callable[[World, dict[str, Any], CallContext], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Action:
    name: str
    spec: ParamSpec
    handler: Handler
