"""Injected failures: what the real API and the network in front of it do on a bad day.

A fault matches a product and action (either may be omitted for "any") and fires by probability,
on every Nth matching request, inside a time window since the emulator started, and at most
``count`` times. Kinds:

- ``error``: an API error envelope with ``code`` (any code, ``RequestLimitExceeded.*`` included);
- ``http``: a bare HTTP status (default 502) with an HTML body, as a gateway answers;
- ``latency``: ``seconds`` added before answering (combines with one other fault);
- ``reset``: the connection is reset mid-response;
- ``truncate``: the body is cut short of its announced length;
- ``garbage``: HTTP 200 with a body that is not JSON;
- ``missing_field``: a well-formed success whose ``field`` (default ``RequestId``) is removed.

Decisions use the emulator's seeded random generator, so a scenario replays identically.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

FaultKind = Literal["error", "http", "latency", "reset", "truncate", "garbage", "missing_field"]
FAULT_KINDS: tuple[str, ...] = (
    "error", "http", "latency", "reset", "truncate", "garbage", "missing_field",
)  # fmt: skip


@dataclass(slots=True)
class Fault:
    kind: FaultKind
    product: str | None = None
    action: str | None = None
    probability: float = 1.0
    every: int | None = None
    after: float | None = None
    until: float | None = None
    count: int | None = None
    code: str = "InternalError"
    message: str = "An internal error has occurred. Retry your request."
    status: int = 502
    seconds: float = 1.0
    field: str = "RequestId"
    seen: int = 0
    fired: int = 0

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"fault kind {self.kind!r} is not one of {', '.join(FAULT_KINDS)}")
        if not 0.0 <= self.probability <= 1.0:
            raise ValueError("fault probability must be within [0, 1]")
        if self.every is not None and self.every < 1:
            raise ValueError("fault every must be at least 1")

    def matches(self, product: str, action: str) -> bool:
        return (self.product in (None, product)) and (self.action in (None, action))

    def fires(self, elapsed: float, rng: random.Random) -> bool:
        """Count this matching request; whether the fault fires on it."""
        self.seen += 1
        if self.count is not None and self.fired >= self.count:
            return False
        if self.after is not None and elapsed < self.after:
            return False
        if self.until is not None and elapsed >= self.until:
            return False
        if self.every is not None and self.seen % self.every != 0:
            return False
        if self.probability < 1.0 and rng.random() >= self.probability:
            return False
        self.fired += 1
        return True


@dataclass(slots=True)
class FaultPlan:
    """The faults of a scenario; ``pick`` decides for one request."""

    faults: list[Fault] = field(default_factory=list)

    def pick(
        self, product: str, action: str, *, elapsed: float, rng: random.Random
    ) -> tuple[float, Fault | None]:
        """Added latency, and at most one other fault (the first listed that fires)."""
        delay = 0.0
        chosen: Fault | None = None
        for f in self.faults:
            if not f.matches(product, action):
                continue
            if f.kind == "latency":
                if f.fires(elapsed, rng):
                    delay += f.seconds
            elif chosen is None and f.fires(elapsed, rng):
                chosen = f
        return delay, chosen

    def counts(self) -> list[dict[str, Any]]:
        """For the inspection API: how often each fault matched and fired."""
        return [
            {"kind": f.kind, "product": f.product, "action": f.action, "code": f.code,
             "seen": f.seen, "fired": f.fired}
            for f in self.faults
        ]  # fmt: skip


def fault_from_mapping(spec: Mapping[str, Any]) -> Fault:
    """A fault from its scenario mapping; ``ValueError`` names the bad key."""
    known = set(Fault.__dataclass_fields__) - {"seen", "fired"}
    for key in spec:
        if key not in known:
            raise ValueError(f"unknown fault key {key!r} (known: {', '.join(sorted(known))})")
    if "kind" not in spec:
        raise ValueError("a fault needs a kind")
    return Fault(**dict(spec))
