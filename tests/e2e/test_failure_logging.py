"""A streak of failed cycles is logged once, with a reminder while it lasts and a line when it
ends; every failed cycle is still counted."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import structlog
from structlog.testing import capture_logs

from taskwatch.clock import Clock
from taskwatch.emulator.faults import Fault
from taskwatch.scanfailures import FAILURE_REMINDER
from tests.e2e.daemon import EMULATOR_LIMITS, daemon
from tests.e2e.test_policies import workflow
from tests.emulator.harness import running_emulator

ONLY_MPS = {"mps": {"interval": "5s"}, "dlc": {"enabled": False}, "live": {"enabled": False}}


def denied(code: str) -> Fault:
    """A refusal that is not retried, so each cycle fails at once with that code."""
    return Fault(kind="error", product="mps", action="DescribeTasks", code=code, message="no")


class Ahead:
    """Another clock's loop time, moved ahead by hand (the daemon's loop time is real)."""

    def __init__(self, inner: Clock) -> None:
        self.inner, self.offset = inner, 0.0

    def monotonic(self) -> float:
        return self.inner.monotonic() + self.offset

    def now(self) -> datetime:
        return self.inner.now()


def loud(logs: list[dict[str, Any]]) -> list[tuple[str, str, Any]]:
    return [
        (e["event"], e["log_level"], e.get("error"))
        for e in logs
        if e["log_level"] in ("warning", "error") and e["event"].startswith("cycle")
    ]


async def test_a_failure_streak_is_logged_once_reminded_and_its_end_said() -> None:
    async with running_emulator(limits=EMULATOR_LIMITS) as emu:
        workflow(emu.world, 1)
        d = daemon(emu, products=ONLY_MPS)
        (source,) = d.sources
        source.watcher.clock = clock = Ahead(source.watcher.clock)
        faults = emu.emulator.faults.faults
        structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG))
        with d._journal_open(), capture_logs() as logs:
            async with d.transport:
                faults[:] = [denied("UnauthorizedOperation")]
                for _ in range(3):
                    await source.cycle()
                first = loud(logs)
                del logs[:]
                faults[:] = [denied("AuthFailure.SecretIdNotFound")]  # another reason
                await source.cycle()
                await source.cycle()
                changed = loud(logs)
                del logs[:]
                clock.offset = FAILURE_REMINDER + 1
                await source.cycle()
                reminded = loud(logs)
                del logs[:]
                faults[:] = []
                await source.cycle()
                await source.cycle()
                back = [e for e in logs if e["event"] == "cycle.recovered"]
    assert first == [("cycle.failed", "error", "AuthError")]
    assert changed == [("cycle.failed", "error", "AuthError")]  # another code: a new streak
    assert reminded == [("cycle.still_failing", "error", "AuthError")]
    (recovered,) = back  # said once, on the first good cycle
    assert recovered["failed_cycles"] == 3
    assert recovered["error"] == "AuthError:AuthFailure.SecretIdNotFound"
    errors = d.metrics.registry.get_sample_value(
        "taskwatch_scan_errors_total",
        {"account": "main", "product": "mps", "region": "global", "reason": "AuthError"},
    )
    assert errors == 6  # every failed cycle counted, logged or not
