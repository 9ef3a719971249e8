"""Clock skew: the host clock runs 400 s ahead of the API's, so every signature is refused with
``AuthFailure.SignatureExpire``. taskwatch says so once, clearly: while the clock is off, the
only lines at warning or above are one ``api.signature_expired`` warning (the cause, with the local
time and a hint) and one ``cycle.failed`` error (the effect); repeats go to debug. It counts every
refused attempt in ``taskwatch_api_requests_total{code="AuthFailure.SignatureExpire"}``, fails the
cycles (counted in ``taskwatch_scan_errors_total{reason="SignatureExpiredError"}``) without
stopping, and recovers on the first cycle after the clock is right again (one
``api.signature_recovered`` and one ``cycle.recovered`` line). A second episode is reported
again, once."""

from __future__ import annotations

import logging
from typing import Any

import structlog
from structlog.testing import capture_logs

from taskwatch.clock import SkewedClock
from taskwatch.metrics.registry import Metrics
from taskwatch.supervisor import Supervisor
from tests.e2e.daemon import EMULATOR_LIMITS, FollowClock, settings_for
from tests.e2e.test_policies import live
from tests.emulator.harness import running_emulator

ONLY_MPS = {"mps": {"interval": "5s"}, "dlc": {"enabled": False}, "live": {"enabled": False}}
LABELS = {"account": "main", "product": "mps", "action": "DescribeTasks"}
SOURCE = {"account": "main", "product": "mps", "region": "global"}


def sample(d: Supervisor, name: str, **labels: str) -> float:
    return d.metrics.registry.get_sample_value(name, labels) or 0.0


def events(logs: list[dict[str, Any]], name: str, level: str | None = None) -> list[dict[str, Any]]:
    return [e for e in logs if e["event"] == name and (level is None or e["log_level"] == level)]


async def test_a_skewed_clock_is_reported_once_counted_and_recovers_with_the_clock() -> None:
    async with running_emulator(limits=EMULATOR_LIMITS) as emu:
        live(emu.world, 2)
        clock = SkewedClock(FollowClock(emu.clock), 400.0)
        d = Supervisor(
            settings_for(emu, products=ONLY_MPS), metrics=Metrics(clock=clock), clock=clock
        )
        (source,) = d.sources
        structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG))
        with d._journal_open(), capture_logs() as logs:
            async with d.transport:
                skewed = [await source.cycle() for _ in range(4)]
                during = list(logs)
                clock.skew = 0.0
                healed = [await source.cycle() for _ in range(2)]
                recovery = logs[len(during) :]
                clock.skew = -400.0  # and it happens again, the other way
                again = [await source.cycle() for _ in range(2)]
                second = logs[len(during) + len(recovery) :]
    loud = [(e["event"], e["log_level"]) for e in during if e["log_level"] != "debug"]
    loud = [x for x in loud if x[1] in ("warning", "error", "critical")]
    refused = sample(
        d, "taskwatch_api_requests_total", **LABELS, code="AuthFailure.SignatureExpire"
    )
    failed = sample(d, "taskwatch_scan_errors_total", **SOURCE, reason="SignatureExpiredError")
    print(
        f"\nclock skew +400 s then -400 s: {len(skewed) + len(again)} cycles failed, "
        f"{int(refused)} refused attempts counted; {len(loud)} lines at warning or above in the "
        f"first episode ({len(skewed)} cycles): {loud}"
    )
    assert [r.error for r in skewed] == ["SignatureExpiredError"] * 4
    assert loud == [("api.signature_expired", "warning"), ("cycle.failed", "error")]
    (first,) = events(during, "api.signature_expired", "warning")
    assert "clock" in first["hint"]
    assert first["local_time"]
    assert first["code"] == "AuthFailure.SignatureExpire"
    assert len(events(during, "api.signature_expired", "debug")) == 3  # one per later cycle
    assert len(events(during, "cycle.failed", "debug")) == 3

    assert all(r.ok for r in healed)
    assert [e["event"] for e in recovery if e["log_level"] == "warning"] == [
        "api.signature_recovered",
        "cycle.recovered",
    ]
    (back,) = events(recovery, "cycle.recovered")
    assert back["failed_cycles"] == 4
    assert back["error"] == "SignatureExpiredError:AuthFailure.SignatureExpire"

    assert [r.error for r in again] == ["SignatureExpiredError"] * 2
    assert len(events(second, "api.signature_expired", "warning")) == 1  # a new episode
    assert len(events(second, "cycle.failed", "error")) == 1

    assert refused == 2 * 6  # each cycle re-signs once: 2 attempts for each of the 6 skewed cycles
    assert failed == 6
    assert sample(d, "taskwatch_api_requests_total", **LABELS, code="Success") >= 2
