"""Replicas racing on one PostgreSQL journal: the point of the shared journal.

Each writer is a :class:`PostgresJournal` object of its own (its own connection, as a replica
would have) in a thread of its own, all released together by a barrier. Who wins a race may go
either way; the totals may not: exactly one intent per task, exactly ``N`` under a cap of ``N``,
nothing committed after a pause or a new term returned. SQLite cannot have two writers (the
process lock); its rules are checked in sequence in ``test_rules.py``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

import psycopg
import pytest

from taskwatch.actions.journal import Journal
from taskwatch.actions.postgres import PostgresJournal
from taskwatch.clock import ManualClock
from taskwatch.errors import IntentRefused
from taskwatch.settings import State
from tests.journal.helpers import POLICY, abort, intent_count, live_ids, raw

T = TypeVar("T")
Writer = Callable[[Journal, int], T]


@pytest.fixture
def replicas(postgres_url: str, clock: ManualClock) -> Iterator[Callable[[int], list[Journal]]]:
    """``n`` open journals on the test's database, closed after the test."""
    built: list[Journal] = []

    def make(n: int) -> list[Journal]:
        for _ in range(n):
            journal = PostgresJournal(State(url=postgres_url), clock=clock)
            journal.open()
            built.append(journal)
        return built[-n:]

    yield make
    for journal in built:
        journal.close()


def race(writers: list[Journal], work: Writer[T]) -> list[T]:
    """``work(journal, index)`` in a thread per writer, released together; the results."""
    barrier = threading.Barrier(len(writers))

    def run(index: int) -> T:
        barrier.wait(timeout=30)
        return work(writers[index], index)

    with ThreadPoolExecutor(max_workers=len(writers)) as pool:
        return list(pool.map(run, range(len(writers))))


@pytest.mark.parametrize("n", [2, 4])
def test_replicas_racing_for_fifty_tasks_write_exactly_one_intent_per_task(
    replicas: Callable[[int], list[Journal]], n: int
) -> None:
    tasks = [f"t{k:02}" for k in range(50)]

    def work(journal: Journal, _: int) -> tuple[list[tuple[str, int]], list[str]]:
        won, lost = [], []
        for task in tasks:  # every writer in the same order: they collide on every task
            try:
                won.append((task, journal.intent(**abort(task_id=task))))
            except IntentRefused as e:
                lost.append(e.why)
        return won, lost

    writers = replicas(n)
    results = race(writers, work)

    won = [w for ws, _ in results for w in ws]
    lost = [why for _, whys in results for why in whys]
    assert sorted(task for task, _ in won) == tasks  # every task once, by someone
    assert lost == ["open"] * (50 * (n - 1))
    assert intent_count(writers[0]) == 50
    assert sorted(live_ids(writers[0])) == sorted(i for _, i in won)


def test_a_per_hour_cap_of_seven_allows_exactly_seven_among_four_racing_replicas(
    replicas: Callable[[int], list[Journal]], clock: ManualClock
) -> None:
    cap = (7, clock.now().timestamp() - 3600)

    def work(journal: Journal, index: int) -> tuple[list[int], list[str]]:
        won, lost = [], []
        for k in range(10):  # 40 distinct tasks, 10 per writer: only the cap can refuse
            try:
                won.append(journal.intent(**abort(task_id=f"w{index}-t{k}"), per_hour=cap))
            except IntentRefused as e:
                lost.append(e.why)
        return won, lost

    writers = replicas(4)
    results = race(writers, work)

    assert sum(len(won) for won, _ in results) == 7
    assert [why for _, whys in results for why in whys] == ["cap"] * 33
    assert writers[0].count_since(POLICY, cap[1], include_dry_run=False) == 7
    assert intent_count(writers[0]) == 7


def test_replicas_racing_to_supersede_the_same_unknown_intents_replace_each_exactly_once(
    replicas: Callable[[int], list[Journal]],
) -> None:
    first, second = replicas(2)
    doubtful = {}
    for k in range(20):
        doubtful[k] = first.intent(**abort(task_id=f"t{k}"))
        first.outcome(doubtful[k], result="unknown")

    def work(journal: Journal, _: int) -> tuple[list[int], list[str]]:
        won, lost = [], []
        for k, old in doubtful.items():
            try:
                won.append(journal.intent(**abort(task_id=f"t{k}"), supersedes=old))
            except IntentRefused as e:
                lost.append(e.why)
        return won, lost

    results = race([first, second], work)

    assert sum(len(won) for won, _ in results) == 20
    assert [why for _, whys in results for why in whys] == ["open"] * 20
    assert sorted(live_ids(first)) == sorted(i for won, _ in results for i in won)
    assert {first.get(old).result for old in doubtful.values()} == {"failed"}  # type: ignore[union-attr]
    assert intent_count(first) == 40


def stream_until_refused(
    writers: list[Journal], stop: Callable[[Journal], object], *, after: int, term: int | None
) -> tuple[set[int], set[int], list[str]]:
    """Writers stream intents for tasks of their own until refused; once ``after`` intents are
    written in all, another journal calls ``stop`` and the ids in the database are read at once.
    The ids the writers were given, that snapshot, and why each writer stopped."""
    enough = threading.Event()
    written: list[int] = []
    lock = threading.Lock()

    def work(journal: Journal, index: int) -> str:
        for k in range(10_000):
            try:
                intent_id = journal.intent(**abort(task_id=f"w{index}-t{k}"), term=term)
            except IntentRefused as e:
                return e.why
            with lock:
                written.append(intent_id)
                if len(written) >= after:
                    enough.set()
        return "never refused"

    *streaming, stopper = writers

    def stop_then_snapshot(journal: Journal, index: int) -> str:
        if index < len(streaming):
            return work(journal, index)
        assert enough.wait(timeout=30)
        stop(stopper)
        snapshot.update(int(row[0]) for row in raw(stopper, "SELECT id FROM intents"))
        return "stopper"

    snapshot: set[int] = set()
    whys = race(writers, stop_then_snapshot)
    return set(written), snapshot, whys[:-1]


def test_no_intent_commits_after_a_pause_set_by_another_replica_returned(
    replicas: Callable[[int], list[Journal]],
) -> None:
    writers = replicas(4)
    given, snapshot, whys = stream_until_refused(
        writers,
        lambda journal: journal.set_switch(paused=True, actor="oncall", reason="incident"),
        after=15,
        term=None,
    )
    assert whys == ["paused"] * 3  # every streaming replica stopped at the pause
    assert len(given) >= 15
    assert given <= snapshot  # every intent that was written committed before the pause did
    final = {int(row[0]) for row in raw(writers[0], "SELECT id FROM intents")}
    assert final == snapshot  # and none after it
    assert [s.actor for s in writers[1].switch_history()] == ["oncall"]


def test_no_intent_of_a_deposed_leader_commits_after_its_successor_began(
    replicas: Callable[[int], list[Journal]],
) -> None:
    writers = replicas(3)
    old = writers[0].begin_term("pod-a")
    given, snapshot, whys = stream_until_refused(
        writers, lambda journal: journal.begin_term("pod-b"), after=10, term=old
    )
    assert whys == ["term"] * 2
    assert given <= snapshot
    final = {int(row[0]) for row in raw(writers[0], "SELECT id FROM intents")}
    assert final == snapshot
    assert writers[1].term() == (old + 1, "pod-b")


def waiting_on_locks(conn: psycopg.Connection[tuple[object, ...]], count: int) -> None:
    """Return once ``count`` other backends of this database wait on a lock (polled: the only
    signal the server gives; bounded, never a sleep)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        waiting = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
        ).fetchone()
        if waiting is not None and int(str(waiting[0])) >= count:
            return
    raise AssertionError(f"{count} writers never queued on the lock")


def test_two_replicas_settling_one_intent_at_once_keep_the_first_final_outcome(
    replicas: Callable[[int], list[Journal]], postgres_url: str
) -> None:
    first, second = replicas(2)
    doubtful = first.intent(**abort(task_id="t"))
    first.outcome(doubtful, result="unknown")
    with psycopg.connect(postgres_url) as blocker, psycopg.connect(postgres_url) as watcher:
        watcher.autocommit = True
        blocker.execute("SELECT 1 FROM outcomes WHERE intent_id = %s FOR UPDATE", (doubtful,))
        with ThreadPoolExecutor(max_workers=2) as pool:
            done = pool.submit(first.outcome, doubtful, result="already_done")
            failed = pool.submit(second.outcome, doubtful, result="failed")
            waiting_on_locks(watcher, 2)  # both read 'unknown' and queue behind the blocker
            blocker.commit()
            recorded = [done.result(timeout=30), failed.result(timeout=30)]
    assert sorted(recorded) == [False, True]  # one final outcome; the other is told it lost


@pytest.mark.parametrize("stop", ["pause", "new term"])
def test_a_pause_or_new_term_waits_for_the_intent_in_flight_and_holds_for_every_later_one(
    replicas: Callable[[int], list[Journal]], postgres_url: str, stop: str
) -> None:
    in_flight, stopper, late = replicas(3)
    term = in_flight.begin_term("pod-a")
    with psycopg.connect(postgres_url) as blocker, psycopg.connect(postgres_url) as watcher:
        watcher.autocommit = True
        # An uncommitted live row for task "x" makes the first intent wait at its insert, i.e.
        # in the middle of its transaction, after it read the switch and the term.
        blocker.execute(
            "INSERT INTO intents (time, policy, product, account, region, task_id, action, mode,"
            " live) VALUES (0, 'p', 'mps', 'prod', 'global', 'x', 'abort', 'enforce', 1)"
        )
        with ThreadPoolExecutor(max_workers=3) as pool:
            first = pool.submit(in_flight.intent, **abort(task_id="x"), term=term)
            waiting_on_locks(watcher, 1)
            stopped: Future[object]
            if stop == "pause":
                stopped = pool.submit(stopper.set_switch, paused=True, actor="oncall")
            else:
                stopped = pool.submit(stopper.begin_term, "pod-b")
            waiting_on_locks(watcher, 2)  # the flip waits for the intent in flight
            second = pool.submit(late.intent, **abort(task_id="y"), term=term)
            waiting_on_locks(watcher, 3)  # and a later intent waits for the flip
            blocker.rollback()
            written = first.result(timeout=30)
            stopped.result(timeout=30)
            with pytest.raises(IntentRefused) as caught:
                second.result(timeout=30)
    assert caught.value.why == ("paused" if stop == "pause" else "term")
    assert [(r.id, r.task_id) for r in late.recent(0)] == [(written, "x")]
