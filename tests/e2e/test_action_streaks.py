"""A policy whose action keeps failing is told once when it starts failing and once when it stops;
every attempt is still counted and journaled; the status page folds the streak into one row, so the
other actions stay in sight. Webhooks go to a real local receiver; the executor's waits are
recorded, not slept."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest
import structlog
from structlog.testing import capture_logs

from taskwatch.actions.journal import ActionGroup
from taskwatch.emulator.faults import Fault
from taskwatch.supervisor import Supervisor
from taskwatch.web.statuspage import render
from tests.e2e.daemon import EMULATOR_LIMITS, LIFTED
from tests.e2e.test_policies import LONG_LIVE, live, policy_daemon, results
from tests.e2e.test_retries import recorded_waits
from tests.emulator.harness import Running, running_emulator
from tests.test_notify import Receiver

UNLIMITED = {**EMULATOR_LIMITS, ("mps", "ManageTask"): 100_000}
API = {"budget": 1.0, "limits": {**LIFTED, "mps.ManageTask": 100_000}}


@pytest.fixture
async def hooks() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    await receiver.start()
    try:
        yield receiver
    finally:
        await receiver.close()


def refusing(count: int, code: str = "InternalError") -> Fault:
    return Fault(kind="error", product="mps", action="ManageTask", code=code, count=count)


def streak_daemon(emu: Running, hooks: Receiver) -> Supervisor:
    d = policy_daemon(emu, LONG_LIVE, api=API, notifications=[{"name": "ops", "url": hooks.url()}])
    recorded_waits(d)
    return d


def told(hooks: Receiver, task: str) -> list[dict[str, Any]]:
    return [e for body in hooks.bodies() for e in body["events"] if e["task_id"] == task]


def loud(logs: list[dict[str, Any]], task: str) -> list[tuple[str, str]]:
    return [
        (e["event"], e["result"])
        for e in logs
        if e.get("task_id") == task and e["log_level"] in ("warning", "error")
    ]


def failed_rows(d: Supervisor, task: str) -> int:
    with sqlite3.connect(d.settings.state.path) as db:
        (n,) = db.execute(
            "SELECT count(*) FROM intents i JOIN outcomes o ON o.intent_id = i.id "
            "WHERE i.task_id = ? AND o.result = 'failed'",
            (task,),
        ).fetchone()
    return int(n)


async def test_a_stuck_task_is_told_once_when_it_starts_failing_and_once_when_it_is_done(
    hooks: Receiver,
) -> None:
    async with running_emulator(limits=UNLIMITED) as emu:
        others = [live(emu.world, 7 + i) for i in range(3)]
        d = streak_daemon(emu, hooks)
        (source,) = d.sources
        structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG))
        with d._journal_open(), capture_logs() as logs:
            async with d.transport, anyio.create_task_group() as tg:
                tg.start_soon(d.notifications.run)
                await source.cycle()  # the three others: done
                stuck = live(emu.world, 30)
                emu.emulator.faults.faults[:] = [refusing(27)]  # 3 attempts a cycle, 9 cycles
                for _ in range(10):
                    emu.clock.advance(10)
                    await source.cycle()
                snapshot = d.status_snapshot()
                await d.notifications.aclose()
    assert emu.world.mps[stuck].status == "FINISH"
    # Every attempt counted and journaled ...
    assert results(d, "abort-long-live") == {"failed": 27, "done": 4}
    assert failed_rows(d, stuck) == 27
    # ... but told twice: when it started failing, and when it was done.
    assert [(e["result"], e["code"]) for e in told(hooks, stuck)] == [
        ("failed", "InternalError"),
        ("done", None),
    ]
    end = told(hooks, stuck)[1]
    assert end["message"].startswith("after 27 failed attempt(s) since ")
    assert loud(logs, stuck) == [
        ("action", "failed"),
        ("action", "done"),
        ("action.failing_ended", "done"),
    ]
    still = [e for e in logs if e["event"] == "action.still_failing"]
    assert [e["attempt"] for e in still] == list(range(2, 28))
    assert sorted(e["task_id"] for e in hooks_done(hooks)) == sorted([*others, stuck])
    # The page: one row for the streak, the other actions still in sight.
    page = [(a.task_id, a.result, a.count) for a in snapshot.actions if isinstance(a, ActionGroup)]
    assert page[:2] == [(stuck, "done", 1), (stuck, "failed", 27)]
    assert sorted(page[2:]) == sorted((t, "done", 1) for t in others)
    group = snapshot.actions[1]
    assert isinstance(group, ActionGroup)
    assert group.first_time is not None
    assert group.time - group.first_time == 80  # nine cycles, ten seconds apart
    html = render(snapshot)
    assert "&times;27</span>" in html


def hooks_done(hooks: Receiver) -> list[dict[str, Any]]:
    return [e for body in hooks.bodies() for e in body["events"] if e["result"] == "done"]


async def test_a_streak_ends_when_the_task_ends_by_itself_and_its_end_reaches_who_heard_of_it(
    hooks: Receiver,
) -> None:
    denied = refusing(100, code="UnauthorizedOperation")  # permanent: once a cycle
    async with running_emulator(limits=UNLIMITED, faults=[denied]) as emu:
        stuck = live(emu.world, 9)
        d = streak_daemon(emu, hooks)
        (source,) = d.sources
        with d._journal_open(), capture_logs() as logs:
            async with d.transport, anyio.create_task_group() as tg:
                tg.start_soon(d.notifications.run)
                for _ in range(4):
                    emu.clock.advance(30)
                    await source.cycle()
                emu.world.finish_mps(emu.world.mps[stuck], emu.world.now())
                emu.clock.advance(30)
                await source.cycle()
                await source.cycle()  # nothing more to tell
                await d.notifications.aclose()
    # The default targets want done, failed and unknown: the end (already_done) reaches this one
    # because it heard of the start.
    assert [(e["result"], e["code"]) for e in told(hooks, stuck)] == [
        ("failed", "UnauthorizedOperation"),
        ("already_done", None),
    ]
    assert told(hooks, stuck)[1]["message"].endswith(": task ended")
    assert results(d, "abort-long-live") == {"failed": 4}
    assert loud(logs, stuck) == [("action", "failed"), ("action.failing_ended", "already_done")]
