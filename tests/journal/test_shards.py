"""Leadership terms per shard, on both backends: accounts sharded across replicas, each shard's
term fences that shard's intents alone. A term of one shard ends no other's; an intent carries
its shard and is refused when its term is not that shard's current one; shard 0 (the default) is
the one term of an unsharded journal. Refusals are checked to have written nothing, by a
connection of the test's own (:func:`tests.journal.helpers.raw`).

The lock discipline (a new term of a shard waits for that shard's intents in flight, and only
theirs) needs two writers at once: PostgreSQL only, at the end (SQLite serialises every writer).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest

from taskwatch.actions.journal import Journal
from taskwatch.actions.postgres import PostgresJournal
from taskwatch.clock import ManualClock
from taskwatch.settings import State
from tests.journal.conftest import MakeJournal
from tests.journal.helpers import abort, raw
from tests.journal.test_postgres_races import waiting_on_locks
from tests.journal.test_rules import refused


def test_terms_of_different_shards_begin_at_zero_and_grow_independently(
    journal: Journal,
) -> None:
    assert journal.begin_term("pod-a", shard=1) == 1
    assert journal.term(0) == (0, None)
    assert journal.term() == (0, None)
    assert journal.begin_term("pod-b") == 1  # shard 0, as before shards
    assert journal.begin_term("pod-c", shard=1) == 2
    assert journal.begin_term("pod-c", shard=7) == 1
    assert [journal.term(shard) for shard in (0, 1, 2, 7)] == [
        (1, "pod-b"), (2, "pod-c"), (0, None), (1, "pod-c"),
    ]  # fmt: skip


def test_an_intent_of_an_ended_term_of_shard_2_is_refused_while_shard_0s_term_still_works(
    journal: Journal,
) -> None:
    zero = journal.begin_term("pod-a")
    ended = journal.begin_term("pod-a", shard=2)
    current = journal.begin_term("pod-b", shard=2)

    error = refused(journal, "term", task_id="t1", term=ended, shard=2)
    assert f"term {ended} of shard 2 is over (the journal is at {current})" in str(error)
    refused(journal, "term", task_id="t1", term=zero, shard=2)  # shard 0's term is not shard 2's
    first = journal.intent(**abort(task_id="t1"), term=zero)
    second = journal.intent(**abort(task_id="t2"), term=current, shard=2)

    rows = raw(journal, "SELECT id, shard, term FROM intents ORDER BY id")
    assert rows == [(first, 0, zero), (second, 2, current)]


def test_a_term_begun_on_shard_1_does_not_disturb_shard_0s_intents(journal: Journal) -> None:
    zero = journal.begin_term("pod-a")
    journal.intent(**abort(task_id="t1"), term=zero)
    for holder in ("pod-b", "pod-c", "pod-a"):
        journal.begin_term(holder, shard=1)
    journal.intent(**abort(task_id="t2"), term=zero)
    journal.intent(**abort(task_id="t3"), term=zero, shard=0)
    assert journal.term() == (zero, "pod-a")
    assert journal.term(1) == (3, "pod-a")
    assert len(raw(journal, "SELECT id FROM intents WHERE shard = 0 AND term = ?", (zero,))) == 3


def test_an_intent_without_election_records_its_shard_and_checks_no_term(
    journal: Journal,
) -> None:
    journal.begin_term("pod-a", shard=3)
    three = journal.intent(**abort(task_id="t1"), shard=3)
    decided = journal.record(**abort(task_id="t2"), result="fenced")
    assert raw(journal, "SELECT id, shard, term FROM intents ORDER BY id") == [
        (three, 3, None), (decided, 0, None),
    ]  # fmt: skip


def test_a_shard_of_a_term_not_begun_yet_is_at_term_0_and_refuses_any_other(
    journal: Journal,
) -> None:
    refused(journal, "term", term=1, shard=4)
    refused(journal, "term", term=-1, shard=4)  # NO_TERM: the replica does not lead it
    assert journal.term(4) == (0, None)


@pytest.mark.parametrize("shard", [-1, True, 1.0])
def test_a_shard_that_is_not_an_integer_from_0_is_a_programming_error(
    journal: Journal, shard: object
) -> None:
    with pytest.raises(ValueError, match="a shard is an integer from 0"):
        journal.begin_term("pod-a", shard=shard)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="a shard is an integer from 0"):
        journal.term(shard)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="a shard is an integer from 0"):
        journal.intent(**abort(), shard=shard)  # type: ignore[arg-type]
    assert raw(journal, "SELECT count(*) FROM intents") == [(0,)]


def test_the_terms_of_every_shard_survive_a_restart(make_journal: MakeJournal) -> None:
    first = make_journal()
    first.begin_term("pod-a")
    first.begin_term("pod-b", shard=5)
    first.begin_term("pod-c", shard=5)
    first.close()
    again = make_journal()
    assert (again.term(), again.term(5)) == ((1, "pod-a"), (2, "pod-c"))
    refused(again, "term", term=1, shard=5)


# -- the locks (PostgreSQL: two writers at once) ----------------------------------------------


def test_a_new_term_of_shard_1_does_not_wait_for_shard_0s_intent_in_flight_but_shard_0s_does(
    postgres_url: str, clock: ManualClock
) -> None:
    journals = [PostgresJournal(State(url=postgres_url), clock=clock) for _ in range(3)]
    for journal in journals:
        journal.open()
    in_flight, stopper, other = journals
    zero = in_flight.begin_term("pod-a")
    try:
        with psycopg.connect(postgres_url) as blocker, psycopg.connect(postgres_url) as watcher:
            watcher.autocommit = True
            # An uncommitted live row for task "x" holds the intent in its transaction, after it
            # took shard 0's term lock (shared) and read the term.
            blocker.execute(
                "INSERT INTO intents (time, policy, product, account, region, task_id, action,"
                " mode, live) VALUES (0, 'p', 'mps', 'prod', 'global', 'x', 'abort', 'enforce', 1)"
            )
            with ThreadPoolExecutor(max_workers=2) as pool:
                first = pool.submit(in_flight.intent, **abort(task_id="x"), term=zero)
                waiting_on_locks(watcher, 1)
                assert stopper.begin_term("pod-b", shard=1) == 1  # returns while it waits
                assert other.term(1) == (1, "pod-b")
                assert not first.done()
                stopped = pool.submit(stopper.begin_term, "pod-b")  # shard 0: waits for it
                waiting_on_locks(watcher, 2)
                blocker.rollback()
                written = first.result(timeout=30)
                assert stopped.result(timeout=30) == zero + 1
        assert raw(other, "SELECT id, shard, term FROM intents") == [(written, 0, zero)]
    finally:
        for journal in journals:
            journal.close()
