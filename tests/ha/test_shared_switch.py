"""The kill switch every daemon sharing a journal obeys: ``POST /-/pause`` to one of two daemons
on one PostgreSQL journal stops both within a cycle, holds across a restart of both, says who and
why, and ``POST /-/resume`` to the other lets both act again.

Real ``taskwatch run`` children with ``http.lifecycle: true`` on loopback; tasks that match the
policy appear in the emulator's world only after the pause, so any abort while paused would be in
the emulator's log. The daemons run on real time; the test polls them with short real waits.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio

from tests.e2e.test_policies import live
from tests.e2e.waiting import eventually
from tests.emulator.harness import running_emulator
from tests.ha.pair import (
    INTERVAL,
    LIMITS,
    Daemon,
    Pair,
    held_aborts,
)
from tests.postgres import postgres_fixture, postgres_url_fixture
from tests.processes import ROOT

__all__ = ["postgres_fixture", "postgres_url_fixture"]

PAUSED = "taskwatch_actions_paused"
REASON = "incident 7: aborts look wrong"


async def until(check: Callable[[], Awaitable[bool]], what: str, within: float) -> float:
    """Poll an async check (another process's state) until true; how long it took."""
    started = time.monotonic()
    with anyio.move_on_after(within):
        while not await check():  # noqa: ASYNC110 - the state lives in another process
            await anyio.sleep(0.05)
        return time.monotonic() - started
    raise AssertionError(f"timed out after {within:g}s waiting for {what}")


async def gauges(daemons: list[Daemon]) -> list[float | None]:
    return [await d.metric(PAUSED) for d in daemons]


async def switch_shown(config: Path) -> dict[str, object]:
    """``taskwatch switch --config --json``: the journal's switch as an operator reads it."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "taskwatch", "switch", "--config", str(config), "--json",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    out, err = await proc.communicate()
    assert proc.returncode == 0, err
    shown = json.loads(out)
    assert isinstance(shown, dict)
    return shown


async def test_a_pause_sent_to_one_daemon_holds_both_across_restarts_until_the_other_resumes(
    tmp_path: Path, postgres_url: str
) -> None:
    async with running_emulator(limits=LIMITS, faults=[held_aborts()], seed=3) as emu:
        pair = Pair(emu, postgres_url, tmp_path)
        a = pair.add("a", lifecycle=True)
        b = pair.add("b", lifecycle=True)
        both = [a, b]
        try:
            await pair.start_all()
            first = live(emu.world, 8)  # acted on before the pause (by one of them)
            await eventually(lambda: pair.aborts()[first] == 1, "the first target aborted")
            assert await until(lambda: _all(both, 0.0), "both exporting the gauge at 0", 5)

            status, body = await a.post("/-/pause", {"reason": REASON})
            assert status == 200, body
            assert (body["actions_paused"], body["shared"], body["reason"]) == (True, True, REASON)
            assert str(body["by"]).startswith("anonymous@127.0.0.1")
            late = {live(emu.world, 7 + i / 10) for i in range(20)}  # they appear after the pause
            took = await until(lambda: _all(both, 1.0), "both paused", INTERVAL + 1.5)
            await anyio.sleep(2.5 * INTERVAL)  # cycles of both, scans included: no abort
            assert set(pair.sent()) == {first}

            for d in both:
                assert await d.stop() == 0, d.tail()
            await pair.start_all()
            restarted = await until(lambda: _all(both, 1.0), "both paused again", INTERVAL + 3)
            await anyio.sleep(2.5 * INTERVAL)
            assert set(pair.sent()) == {first}
            shown = await switch_shown(a.config)
            assert (shown["actions_paused"], shown["reason"]) == (True, REASON)
            assert str(shown["by"]).startswith("anonymous@127.0.0.1")

            before = {d.name: d.results()["done"] for d in both}
            status, body = await b.post("/-/resume", {"reason": "fixed"})
            assert status == 200, body
            assert body["actions_paused"] is False
            await eventually(
                lambda: all(emu.world.mps[t].status == "FINISH" for t in late),
                "every late target aborted after the resume",
            )
            assert await until(lambda: _all(both, 0.0), "both resumed", INTERVAL + 1.5)
            await anyio.sleep(1.5 * INTERVAL)
            for d in both:
                assert await d.stop() == 0, d.tail()
        finally:
            await pair.kill_all()
        aborts = pair.aborts()
        after = {d.name: d.results()["done"] - before[d.name] for d in both}
        history = await switch_shown(b.config)
    print(
        f"\nshared switch: both held {took:.2f} s after the pause; both held "
        f"{restarted:.2f} s after serving again; after the resume a aborted "
        f"{after['a']} task(s), b {after['b']}"
    )
    assert aborts == dict.fromkeys({first, *late}, 1)
    assert sum(after.values()) == len(late)
    assert min(after.values()) > 0, after  # both act again, not only the one resumed
    events = history["history"]
    assert isinstance(events, list)
    assert [(e["actions_paused"], e["reason"]) for e in events] == [
        (False, "fixed"),
        (True, REASON),
    ]


async def _all(daemons: list[Daemon], value: float) -> bool:
    return all(g == value for g in await gauges(daemons))
