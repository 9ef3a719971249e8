"""A journal that cannot be written, against the emulator: nothing is sent that could not be
recorded, every failure is counted, the streak is logged once, readiness says why, and a call
that worked is still logged with its RequestId and notified.

The failure is SQLite's own: ``PRAGMA query_only`` on the daemon's connection makes every write
fail with "attempt to write a readonly database", the error a journal on a file or filesystem
gone read-only gives. Nothing is mocked: the executor meets a real ``sqlite3.OperationalError``.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest
import structlog
from structlog.testing import capture_logs

from taskwatch.supervisor import Supervisor
from tests.e2e.daemon import EMULATOR_LIMITS
from tests.e2e.test_policies import LONG_LIVE, acted, live, policy_daemon, results, sent
from tests.emulator.harness import running_emulator
from tests.test_notify import Receiver


@pytest.fixture
async def hooks() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    await receiver.start()
    try:
        yield receiver
    finally:
        await receiver.close()


def refuse_writes(d: Supervisor, refuse: bool = True) -> None:
    """The daemon's journal connection turns read-only (or back)."""
    conn = d.journal._conn
    assert conn is not None
    conn.execute(f"PRAGMA query_only = {int(refuse)}")


def journal_errors(d: Supervisor, operation: str) -> float | None:
    return d.metrics.registry.get_sample_value(
        "taskwatch_journal_errors_total", {"operation": operation}
    )


def rows(d: Supervisor) -> list[tuple[str, str | None, str | None]]:
    """(task, result, request id) of every record, read through a connection of our own."""
    with sqlite3.connect(d.settings.state.path) as db:
        return list(
            db.execute(
                "SELECT i.task_id, o.result, o.request_id FROM intents i "
                "LEFT JOIN outcomes o ON o.intent_id = i.id ORDER BY i.id"
            )
        )


def debug_logs() -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG))


def events(logs: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [e for e in logs if e["event"] == name]


async def test_a_journal_that_refuses_intents_sends_nothing_says_so_once_and_recovers() -> None:
    async with running_emulator(limits=EMULATOR_LIMITS) as emu:
        targets = {live(emu.world, 7 + i) for i in range(3)}
        d = policy_daemon(emu, LONG_LIVE)
        (source,) = d.sources
        debug_logs()
        with d._journal_open(), capture_logs() as logs:
            async with d.transport:
                refuse_writes(d)
                first = await source.cycle()
                await source.cycle()
                ready, why = d.readiness()
                sent_while_failing = sent(emu)
                failing = events(logs, "journal.failing")
                crashed = events(logs, "loop.cycle_crashed")
                del logs[:]
                refuse_writes(d, refuse=False)
                await source.cycle()
                ready_again, _ = d.readiness()
                recovered = events(logs, "journal.recovered")
    assert first.ok  # the scan itself worked: its metrics stand
    assert sent_while_failing == []  # no intent, no call
    assert crashed == []
    # Each cycle tried one intent; its refusal failed the cycle's other two tasks without a try.
    assert journal_errors(d, "intent") == 2
    assert results(d, "abort-long-live") == {"failed": 6, "done": 3}
    # The first write of the first cycle is the grace streaks' (they began): it starts the
    # streak, which is logged once, not once per failure.
    (line,) = failing
    assert line["log_level"] == "error"
    assert line["operation"] == "record"
    assert "grace streaks" in line["error"]
    assert "readonly" in line["error"]
    assert journal_errors(d, "record") == 1
    assert ready is False
    assert why["journal"]["writable"] is False
    assert why["journal"]["errors"] == 3  # the grace streaks, then one intent per cycle
    assert ready_again is True
    (back,) = recovered
    assert back["errors"] == 3
    assert sorted(sent(emu)) == sorted(targets)
    assert sorted(t for t, r, _ in rows(d) if r == "done") == sorted(targets)


async def test_an_abort_whose_outcome_cannot_be_written_is_still_logged_and_notified(
    hooks: Receiver,
) -> None:
    async with running_emulator(limits=EMULATOR_LIMITS) as emu:
        target = live(emu.world, 8)
        d = policy_daemon(emu, LONG_LIVE, notifications=[{"name": "ops", "url": hooks.url()}])
        (source,) = d.sources

        def disk_goes_read_only_as_the_abort_lands(task_id: str) -> None:
            if task_id == target and emu.world.mps[target].status == "FINISH":
                refuse_writes(d)

        emu.world.mps_listeners.append(disk_goes_read_only_as_the_abort_lands)
        debug_logs()
        with d._journal_open(), capture_logs() as logs:
            async with d.transport, anyio.create_task_group() as tg:
                tg.start_soon(d.notifications.run)
                await source.cycle()
                unwritten = rows(d)
                ready, why = d.readiness()
                emu.world.mps_listeners.remove(disk_goes_read_only_as_the_abort_lands)
                refuse_writes(d, refuse=False)
                await source.cycle()  # writes the kept outcome; sends nothing again
                await d.notifications.aclose()
    (call,) = [e for e in emu.emulator.log if e.action == "ManageTask"]
    assert acted(emu) == [target]
    (line,) = events(logs, "action")
    assert (line["result"], line["request_id"], line["task_id"]) == (
        "done",
        call.request_id,
        target,
    )
    notified = [e for body in hooks.bodies() for e in body["events"]]
    assert [(e["task_id"], e["result"], e["request_id"]) for e in notified] == [
        (target, "done", call.request_id)
    ]
    assert journal_errors(d, "outcome") == 1
    assert results(d, "abort-long-live") == {"done": 1}
    assert unwritten == [(target, None, None)]  # the intent was durable, its outcome was not
    assert (ready, why["journal"]["unwritten_outcomes"]) == (False, 1)
    assert rows(d) == [(target, "done", call.request_id)]  # written at the next cycle
