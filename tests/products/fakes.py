"""Stand-ins for the API client, for what the emulator cannot show: a broken pager, and how many
calls an adapter has in flight at once. Everything else is tested against the emulator."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from taskwatch.clock import ManualClock
from taskwatch.products.base import Caller

Respond = Callable[[str, Mapping[str, Any]], dict[str, Any]]
"""``(action, params) → Response``; may raise an API error."""


@dataclass
class ScriptedCaller:
    """Answers every call with ``respond`` and records ``(action, params, region)``; holds each
    call open for a few loop turns so concurrent calls overlap, and tracks how many did."""

    respond: Respond
    turns: int = 3
    log: list[tuple[str, dict[str, Any], str | None]] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0

    async def call(
        self,
        product: str,
        action: str,
        params: Mapping[str, Any] | None = None,
        *,
        region: str | None = None,
    ) -> dict[str, Any]:
        self.log.append((action, dict(params or {}), region))
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            for _ in range(self.turns):
                await asyncio.sleep(0)  # a loop turn, not a wait: lets other calls start
            return self.respond(action, params or {})
        finally:
            self.in_flight -= 1

    def actions(self) -> list[str]:
        return [action for action, _, _ in self.log]


@dataclass
class Stepping:
    """A real client whose clock moves ``step`` seconds after every call, and that runs
    ``after(n)`` after the n-th call: lets the world change between the pages of one scan."""

    inner: Caller
    clock: ManualClock
    step: float = 1.0
    after: Callable[[int], None] | None = None
    count: int = 0

    async def call(
        self,
        product: str,
        action: str,
        params: Mapping[str, Any] | None = None,
        *,
        region: str | None = None,
    ) -> dict[str, Any]:
        try:
            return await self.inner.call(product, action, params, region=region)
        finally:
            self.count += 1
            self.clock.advance(self.step)
            if self.after is not None:
                self.after(self.count)
