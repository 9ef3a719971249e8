"""Split brain on purpose: two daemons, leader election off (each one believes it leads), one
PostgreSQL journal, one enforcing policy over 60 matching tasks. The journal alone keeps them
from acting twice and from exceeding a shared ``per_hour`` cap.

The race is real: the targets appear once both daemons serve, and the emulator holds every abort
``HELD`` seconds, so one daemon's cycle over the targets outlasts the other's start and they take
the same tasks, in the same order, at the same time (each test checks that both sent aborts). The
emulator's log is the witness of what reached Tencent Cloud; the journal is read back with a
journal of the test's own; each daemon's refusals come from its own log.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
from psycopg.pq import TransactionStatus

from taskwatch.actions.journal import Journal
from taskwatch.actions.opening import journal_for
from taskwatch.actions.postgres import PostgresJournal
from taskwatch.clock import SystemClock
from taskwatch.settings import State
from tests.e2e.test_policies import live, workflow
from tests.e2e.waiting import eventually
from tests.emulator.harness import running_emulator
from tests.ha.pair import LIMITS, Daemon, Pair, held_aborts
from tests.postgres import PostgresServer, postgres_fixture, postgres_url_fixture

__all__ = ["postgres_fixture", "postgres_url_fixture"]

TARGETS = 60
PER_HOUR = 20


@asynccontextmanager
async def split_brain(workdir: Path, url: str, caps: str = "{}") -> AsyncIterator[Pair]:
    async with running_emulator(limits=LIMITS, faults=[held_aborts()], seed=7) as emu:
        pair = Pair(emu, url, workdir)
        pair.add("a", caps=caps)
        pair.add("b", caps=caps)
        try:
            yield pair
        finally:
            await pair.kill_all()


def report(name: str, daemons: list[Daemon], took: float) -> None:
    parts = [
        f"{d.name}: intents {dict(d.results())}, refused {dict(d.refusals())}" for d in daemons
    ]
    print(f"\nsplit brain ({name}, {took:.1f} s): " + "; ".join(parts))


async def test_two_daemons_that_both_lead_abort_every_target_exactly_once_through_one_journal(
    tmp_path: Path, postgres_url: str
) -> None:
    async with split_brain(tmp_path, postgres_url) as pair:
        spared = {live(pair.emu.world, 2) for _ in range(5)}
        spared |= {workflow(pair.emu.world, 9) for _ in range(5)}
        await pair.start_all()
        started = time.monotonic()
        wanted = {live(pair.emu.world, 7 + i / 100) for i in range(TARGETS)}
        await eventually(
            lambda: all(pair.emu.world.mps[t].status == "FINISH" for t in wanted),
            "every target aborted",
            within=60,
        )
        await anyio.sleep(2.5)  # two more cycles of each: nothing more may be sent
        for d in pair.daemons:
            assert await d.stop() == 0, d.tail()
        took = time.monotonic() - started
        a, b = pair.daemons
        records = pair.records()
        sent = pair.sent()
        spared_alive = all(pair.emu.world.mps[t].status == "PROCESSING" for t in spared)
    report("no per_hour", [a, b], took)
    assert pair.aborts() == dict.fromkeys(wanted, 1)  # the witness: each target exactly once
    assert sent == dict.fromkeys(wanted, 1)  # and no other request, refused or not
    assert spared_alive
    done = collections.Counter(r.task_id for r in records if r.result == "done")
    assert done == dict.fromkeys(wanted, 1), [
        (r.id, r.task_id[-8:], r.result, r.message) for r in records if done[r.task_id] != 1
    ]
    # The race was real: both daemons sent aborts, and the journal refused each some intents.
    assert a.results()["done"] > 0, a.tail()
    assert b.results()["done"] > 0, b.tail()
    assert a.results()["done"] + b.results()["done"] == TARGETS
    assert sum((a.refusals() + b.refusals()).values()) > 0
    assert set(a.refusals()) | set(b.refusals()) <= {"open", "done"}
    refused = [r for r in records if (r.message or "").startswith("the journal refused")]
    assert {r.result for r in refused} <= {"fenced"}
    assert len(refused) == sum((a.refusals() + b.refusals()).values())


async def test_a_per_hour_cap_holds_across_two_daemons_that_both_lead(
    tmp_path: Path, postgres_url: str
) -> None:
    async with split_brain(tmp_path, postgres_url, caps=f"{{per_hour: {PER_HOUR}}}") as pair:
        await pair.start_all()
        started = time.monotonic()
        wanted = {live(pair.emu.world, 7 + i / 100) for i in range(TARGETS)}
        await eventually(lambda: sum(pair.aborts().values()) >= PER_HOUR, f"{PER_HOUR} aborts")
        await anyio.sleep(2.5)  # two more cycles of each: the cap must hold in both
        for d in pair.daemons:
            assert await d.stop() == 0, d.tail()
        took = time.monotonic() - started
        a, b = pair.daemons
        records = pair.records()
        sent = pair.sent()
    report(f"per_hour {PER_HOUR}", [a, b], took)
    assert sum(sent.values()) == PER_HOUR, sent  # exactly N across both daemons
    assert max(sent.values()) == 1
    assert set(sent) <= wanted
    assert a.results()["done"] > 0, a.tail()
    assert b.results()["done"] > 0, b.tail()
    assert a.results()["done"] + b.results()["done"] == PER_HOUR
    assert sum(1 for r in records if r.result == "done") == PER_HOUR


def test_two_journals_opening_a_fresh_database_at_once_both_open(
    postgres: PostgresServer, postgres_url: str
) -> None:
    """Two replicas deployed together on a new database: both wait for the migration lock (held
    here until both wait), one migrates, the other finds the journal migrated and opens it."""
    database = postgres_url.rsplit("/", 1)[1]
    journals = [journal_for(State(url=postgres_url), clock=SystemClock()) for _ in range(2)]
    errors: list[BaseException] = []

    def open_one(journal: Journal) -> None:
        try:
            journal.open()
        except BaseException as exc:  # reported by the test below
            errors.append(exc)

    with postgres.connect(database) as holder:
        holder.execute("SELECT pg_advisory_lock(hashtextextended('taskwatch:migrate', 0))")
        threads = [threading.Thread(target=open_one, args=(j,)) for j in journals]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 10
        while waiting(holder) < 2:
            assert time.monotonic() < deadline, errors or "the journals never waited for the lock"
            time.sleep(0.01)  # another thread's state, in the database
        holder.execute("SELECT pg_advisory_unlock(hashtextextended('taskwatch:migrate', 0))")
        for t in threads:
            t.join(timeout=15)
    try:
        assert errors == []
        assert all(j.is_open for j in journals)
    finally:
        for j in journals:
            j.close()


def waiting(conn: Any) -> int:
    """Sessions waiting for an advisory lock."""
    row = conn.execute(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
    ).fetchone()
    return int(row[0])


def test_a_replica_whose_check_straddles_another_s_migration_still_opens(postgres_url: str) -> None:
    state = State(url=postgres_url)
    first = journal_for(state, clock=SystemClock())

    class Straddling(PostgresJournal):
        """Reads the version outside any transaction (as the check before the migration lock
        does) just before the first replica's migration commits."""

        def _version(self, conn: Any) -> int:
            version = super()._version(conn)
            if not first.is_open and conn.info.transaction_status == TransactionStatus.IDLE:
                first.open()  # the other replica migrates and commits right now
            return version

    second = Straddling(state, clock=SystemClock())
    try:
        second.open()
        assert second.schema_version() == first.schema_version()
    finally:
        second.close()
        first.close()
