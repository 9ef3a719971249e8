"""A cycle cut at its loop's timeout is a failed cycle everywhere (looptime, emulator, real HTTP).

The emulator answers each call 40 s late (its latency fault sleeps on loop time, which looptime
fast-forwards), under the client's timeout (45 s here): no call fails, yet an MPS cycle (two
active lists, at least) needs 80 s, past the loop's timeout (the larger of 5 intervals and 60 s).
The whole daemon runs (:meth:`Supervisor.run`), and what it says is read where an operator reads
it: ``/metrics``, ``/readyz``, the status page and the log."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import anyio
import pytest
import structlog
from structlog.testing import capture_logs

from taskwatch.emulator.faults import Fault
from taskwatch.supervisor import Supervisor
from tests.e2e.daemon import EMULATOR_LIMITS, LIFTED, daemon
from tests.e2e.test_policies import LONG_LIVE, live
from tests.emulator.harness import Running, running_emulator

pytestmark = pytest.mark.looptime

MPS_10S = {
    "mps": {"interval": "10s", "finish_sweep": "1h"},
    "dlc": {"enabled": False},
    "live": {"enabled": False},
}
API = {"budget": 1.0, "limits": LIFTED, "timeout": "45s"}
TIMEOUT = 60.0
"""The loop's timeout for a 10 s interval: max(5 × 10 s, 60 s)."""


def slow(seconds: float = 40.0, action: str | None = None) -> Fault:
    return Fault(kind="latency", product="mps", action=action, seconds=seconds)


def sample(d: Supervisor, name: str, **labels: str) -> float:
    where = {"account": "main", "product": "mps", "region": "global", **labels}
    return d.metrics.registry.get_sample_value(name, where) or 0.0


def cycles(d: Supervisor) -> dict[str, float]:
    return {r: sample(d, "taskwatch_scan_cycles_total", result=r) for r in ("ok", "failed")}


@asynccontextmanager
async def running(emu: Running, **overrides: Any) -> AsyncIterator[Supervisor]:
    d = daemon(emu, products=MPS_10S, api=API, **overrides)
    async with anyio.create_task_group() as tg:
        tg.start_soon(lambda: d.run(install_signal_handlers=False))
        await d.started.wait()
        yield d
        d.stop()


async def get(d: Supervisor, path: str) -> tuple[int, str]:
    assert d.http is not None
    async with aiohttp.ClientSession() as s, s.get(f"{d.http.url}{path}") as r:
        return r.status, await r.text()


def failures(logs: list[dict[str, Any]]) -> list[tuple[str, str, Any]]:
    return [
        (e["event"], e["log_level"], e.get("error"))
        for e in logs
        if e["event"].startswith("cycle.") and e["log_level"] in ("debug", "warning", "error")
    ]


async def test_a_cycle_wedged_past_its_timeout_is_counted_failed_logged_and_not_ready() -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG))
    async with running_emulator(limits=EMULATOR_LIMITS) as emu:
        emu.emulator.faults.faults[:] = [slow()]
        with capture_logs() as logs:
            async with running(emu) as d:
                await anyio.sleep(TIMEOUT + 5)  # the first tick, within 1 s of jitter, + 60 s
                counted = cycles(d)
                reason = sample(d, "taskwatch_scan_errors_total", reason="CycleTimeout")
                ready = await get(d, "/readyz")
                page = await get(d, "/")
    assert counted == {"ok": 0.0, "failed": 1.0}
    assert reason == 1.0
    assert ready[0] == 503
    assert '"last_error": "CycleTimeout"' in ready[1] or '"last_error":"CycleTimeout"' in ready[1]
    assert page[0] == 200
    assert "CycleTimeout" in page[1]
    assert failures(logs)[0] == ("cycle.failed", "error", "CycleTimeout")
    report = d.sources[0].watcher.last_report
    assert report is not None
    assert report.error == "CycleTimeout"
    assert report.calls.get("DescribeTasks", 0) >= 1  # what it had spent when it was cut
    assert report.seconds == pytest.approx(TIMEOUT, abs=0.1)


async def test_timed_out_cycles_after_good_ones_are_one_failure_streak_that_recovers() -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG))
    async with running_emulator(limits=EMULATOR_LIMITS) as emu:
        faults = emu.emulator.faults.faults
        with capture_logs() as logs:
            async with running(emu) as d:
                await anyio.sleep(5)  # one good cycle (the sweep included)
                good = cycles(d)
                faults[:] = [slow()]
                await anyio.sleep(TIMEOUT * 3)
                wedged = cycles(d)
                status, body = await get(d, "/readyz")
                faults[:] = []
                await anyio.sleep(TIMEOUT + 20)  # the cycle in flight, then a good one
                back = cycles(d)
    assert good == {"ok": 1.0, "failed": 0.0}
    assert wedged["ok"] == 1.0
    assert wedged["failed"] >= 2
    assert status == 200  # ready: a cycle succeeded once (as for any other failure)
    assert "CycleTimeout" in body  # and the probe says what the last one did
    assert back["ok"] > 1.0
    streak = [f for f in failures(logs) if f[2] == "CycleTimeout" or f[0] == "cycle.recovered"]
    assert streak[0] == ("cycle.failed", "error", "CycleTimeout")
    assert {f[1] for f in streak[1:-1]} == {"debug"}  # repeats of one streak stay quiet
    assert streak[-1][0] == "cycle.recovered"


async def test_a_timeout_while_acting_lets_the_shielded_abort_finish_and_the_scan_stay_ok() -> None:
    async with running_emulator(limits=EMULATOR_LIMITS) as emu:
        targets = [live(emu.world, 8) for _ in range(4)]
        emu.emulator.faults.faults[:] = [slow(25, "ManageTask")]  # an abort every 25 s
        with capture_logs() as logs:
            async with running(emu, policies=[LONG_LIVE]) as d:
                await anyio.sleep(77)  # the third abort runs from 50 s to 75 s, past the 60 s
                counted = cycles(d)
                statuses = sorted(emu.world.mps[t].status for t in targets)
    assert statuses == ["FINISH", "FINISH", "FINISH", "PROCESSING"]  # in flight: finished
    assert counted == {"ok": 1.0, "failed": 0.0}  # the scan itself had succeeded
    assert [e["event"] for e in logs if e["event"] == "loop.cycle_timeout"] == [
        "loop.cycle_timeout"
    ]
    assert not [e for e in logs if e.get("error") == "CycleTimeout"]
