"""The journal's rows on both backends: intents before calls, outcomes after, what survives a
restart, and what the executor asks of them (last action, per-hour counts, unresolved). The
audit's reads, pruning, readers and odd text are in ``test_reads.py``.

Every test runs once on SQLite and once on PostgreSQL (the ``journal`` fixture of
``tests/journal/conftest.py``), each on a database of its own with its own :class:`ManualClock`.
"""

from __future__ import annotations

import itertools
from concurrent.futures import ThreadPoolExecutor

import pytest

from taskwatch.actions.journal import Journal
from taskwatch.clock import ManualClock
from taskwatch.errors import StoreError, TaskwatchError
from taskwatch.models import Outcome
from tests.journal.conftest import MakeJournal
from tests.journal.helpers import ABORT, KEY, POLICY, TASK_ID, abort, intent_count, raw

# -- the life of a record ----------------------------------------------------------------------


def test_an_intent_then_its_outcome_read_back_as_one_record(
    journal: Journal, clock: ManualClock
) -> None:
    start = clock.now().timestamp()
    intent_id = journal.intent(**ABORT)
    assert journal.get(intent_id) is not None
    assert journal.get(intent_id).result == "intent"  # type: ignore[union-attr]
    clock.advance(2)
    assert journal.outcome(intent_id, result=Outcome.DONE, request_id="req-1")

    [record] = journal.recent(start)
    assert record.id == intent_id
    assert (record.policy, record.product, record.account, record.region) == (
        "long-transcodes",
        "mps",
        "prod",
        "global",
    )
    assert (record.task_id, record.action, record.mode) == (TASK_ID, "abort", "enforce")
    assert (record.result, record.request_id, record.code) == ("done", "req-1", None)
    assert record.time == start
    assert record.finished_time == start + 2
    assert journal.unresolved() == []


def test_an_outcome_may_be_given_as_a_plain_string(journal: Journal) -> None:
    intent_id = journal.intent(**ABORT)
    journal.outcome(intent_id, result="failed", code="InvalidParameter", message="bad task id")
    record = journal.get(intent_id)
    assert record is not None
    assert (record.result, record.code, record.message) == (
        "failed",
        "InvalidParameter",
        "bad task id",
    )


def test_an_outcome_that_is_not_an_outcome_is_refused(journal: Journal) -> None:
    intent_id = journal.intent(**ABORT)
    with pytest.raises(ValueError):
        journal.outcome(intent_id, result="intent")
    with pytest.raises(ValueError):
        journal.outcome(intent_id, result=Outcome.WOULD)
    assert [r.id for r in journal.unresolved()] == [intent_id]


def test_a_dry_run_would_row_is_complete_at_once(journal: Journal) -> None:
    would_id = journal.would(**ABORT)
    record = journal.get(would_id)
    assert record is not None
    assert (record.mode, record.result) == ("dry-run", "would")
    assert record.finished_time == record.time
    assert journal.unresolved() == []


def test_decisions_that_never_reached_the_api_are_recorded_for_the_audit(journal: Journal) -> None:
    capped = journal.record(**ABORT, result=Outcome.SKIPPED_CAP, message="per_hour 5 reached")
    fenced = journal.record(**ABORT, result="fenced", mode="dry-run")
    assert [(r.id, r.mode, r.result) for r in journal.recent(0)] == [
        (capped, "enforce", "skipped_cap"),
        (fenced, "dry-run", "fenced"),
    ]
    assert journal.unresolved() == []


@pytest.mark.parametrize("result", ["done", "unknown", "failed"])
def test_a_dry_run_record_cannot_claim_an_api_result(journal: Journal, result: str) -> None:
    with pytest.raises(ValueError):
        journal.record(**ABORT, result=result, mode="dry-run")
    assert journal.recent(0) == []


def test_an_enforce_record_cannot_be_a_would(journal: Journal) -> None:
    with pytest.raises(ValueError):
        journal.record(**ABORT, result="would")
    assert journal.recent(0) == []


def test_the_first_final_outcome_is_kept(journal: Journal) -> None:
    intent_id = journal.intent(**ABORT)
    assert journal.outcome(intent_id, result="done", request_id="req-1")
    assert not journal.outcome(intent_id, result="failed", request_id="req-2")
    record = journal.get(intent_id)
    assert record is not None
    assert (record.result, record.request_id) == ("done", "req-1")


def test_an_unknown_outcome_is_replaced_by_the_result_found_later(
    journal: Journal, clock: ManualClock
) -> None:
    intent_id = journal.intent(**ABORT)
    assert journal.outcome(intent_id, result="unknown", message="timed out")
    clock.advance(60)
    assert journal.outcome(intent_id, result="already_done")
    assert not journal.outcome(intent_id, result="done")
    record = journal.get(intent_id)
    assert record is not None
    assert (record.result, record.message) == ("already_done", None)
    assert record.finished_time == record.time + 60


def test_a_would_row_keeps_its_outcome(journal: Journal) -> None:
    would_id = journal.would(**ABORT)
    assert not journal.outcome(would_id, result="done")
    assert journal.get(would_id).result == "would"  # type: ignore[union-attr]


def test_an_outcome_for_an_intent_that_does_not_exist_is_a_store_error_naming_the_journal(
    journal: Journal,
) -> None:
    with pytest.raises(StoreError, match="no intent 42") as caught:
        journal.outcome(42, result="done")
    assert journal.target in str(caught.value)
    assert caught.value.path == journal.target
    assert isinstance(caught.value, TaskwatchError)
    assert intent_count(journal) == 0


def test_long_messages_are_cut(journal: Journal) -> None:
    intent_id = journal.intent(**ABORT)
    journal.outcome(intent_id, result="failed", message="x" * 10_000)
    assert len(journal.get(intent_id).message or "") == 1000  # type: ignore[union-attr]


def test_credentials_in_params_are_never_stored(journal: Journal) -> None:
    params = {
        "TaskId": TASK_ID,
        "SecretKey": "sk-LEAKED",
        "Headers": {"X-TC-Token": "tok-LEAKED", "Authorization": "TC3 LEAKED"},
    }
    journal.intent(**abort(params=params))
    [(stored,)] = raw(journal, "SELECT params FROM intents")
    assert "LEAKED" not in stored
    assert TASK_ID in stored


def test_params_must_be_plain_json(journal: Journal) -> None:
    with pytest.raises(ValueError, match="plain JSON"):
        journal.intent(**abort(params={"TaskId": object()}))
    assert journal.recent(0) == []
    assert intent_count(journal) == 0


# -- restarts ----------------------------------------------------------------------------------


def test_an_intent_without_outcome_is_unresolved_in_a_brand_new_journal(
    make_journal: MakeJournal,
) -> None:
    crashed = make_journal()
    intent_id = crashed.intent(**ABORT)
    settled = crashed.intent(**abort(task_id="other"))
    crashed.outcome(settled, result="done")
    # The first process "dies" here, before the outcome (tests/journal/test_sqlite.py kills a
    # real process; here the handle is closed so that a SQLite restart may take the lock).
    crashed.close()
    [record] = make_journal().unresolved()
    assert (record.id, record.task_id, record.result) == (intent_id, TASK_ID, "intent")


def test_unresolved_intents_are_listed_oldest_first(journal: Journal, clock: ManualClock) -> None:
    ids = []
    for n in range(3):
        ids.append(journal.intent(**abort(task_id=f"t{n}")))
        clock.advance(1)
    journal.outcome(ids[1], result="done")
    assert [r.id for r in journal.unresolved()] == [ids[0], ids[2]]
    assert [r.id for r in journal.unresolved(before=clock.now().timestamp() - 2)] == [ids[0]]


def test_a_journal_may_be_shared_by_threads(journal: Journal) -> None:
    def write(n: int) -> int:
        intent_id = journal.intent(**abort(task_id=f"t{n}"))
        journal.outcome(intent_id, result="done")
        return intent_id

    with ThreadPoolExecutor(max_workers=4) as pool:
        ids = list(pool.map(write, range(40)))
    assert sorted(ids) == [r.id for r in journal.recent(0)]
    assert journal.unresolved() == []


# -- what the executor asks --------------------------------------------------------------------


def test_last_action_is_the_latest_enforce_record_of_that_task_and_action(
    journal: Journal,
) -> None:
    assert journal.last_action(*KEY) is None
    first = journal.intent(**ABORT)
    journal.outcome(first, result="failed")  # a failed call ends the intent's life
    second = journal.intent(**ABORT)
    journal.would(**ABORT)  # dry-run: not an action
    journal.intent(**abort(task_id="other"))
    journal.intent(**abort(account="staging"))
    journal.intent(**abort(product="dlc"))
    journal.intent(**abort(action="cancel"))

    last = journal.last_action(*KEY)
    assert last is not None
    assert (last.id, last.result) == (second, "intent")
    journal.outcome(second, result="done")
    assert journal.last_action(*KEY).result == "done"  # type: ignore[union-attr]


def test_last_action_is_the_live_intent_even_behind_a_later_decision(journal: Journal) -> None:
    in_doubt = journal.intent(**ABORT)
    journal.outcome(in_doubt, result="unknown")
    journal.record(**ABORT, result="fenced", mode="enforce", message="no longer matches")
    assert journal.last_action(*KEY).id == in_doubt  # type: ignore[union-attr]
    journal.outcome(in_doubt, result="done")
    journal.record(**ABORT, result="already_done", mode="enforce")
    assert journal.last_action(*KEY).id == in_doubt  # type: ignore[union-attr]


def test_last_action_is_the_latest_record_when_nothing_is_live(journal: Journal) -> None:
    failed = journal.intent(**ABORT)
    journal.outcome(failed, result="failed")
    fenced = journal.record(**ABORT, result="fenced", mode="enforce")
    assert fenced > failed
    assert journal.last_action(*KEY).id == fenced  # type: ignore[union-attr]


def test_last_action_ignores_dry_run_records(journal: Journal) -> None:
    journal.would(**ABORT)
    journal.record(**ABORT, result="fenced", mode="dry-run")
    assert journal.last_action(*KEY) is None


def test_the_per_hour_cap_counts_what_may_have_acted(journal: Journal, clock: ManualClock) -> None:
    tasks = itertools.count()

    def enforce(result: str | None, *, then: str | None = None) -> None:
        intent_id = journal.intent(**abort(task_id=f"t{next(tasks)}"))
        if result is not None:
            journal.outcome(intent_id, result=result)
        if then is not None:
            journal.outcome(intent_id, result=then)

    enforce("done")  # counted: it acted
    enforce("done")  # counted
    enforce("unknown")  # counted: it may have acted
    enforce(None)  # counted: unresolved, it may have been sent
    enforce("unknown", then="already_done")  # counted: our call may be why it ended
    enforce("failed")  # not counted: the API refused, nothing happened
    enforce("already_done")  # not counted
    journal.record(**abort(task_id="capped"), result="skipped_cap")  # not counted
    journal.record(**abort(task_id="fenced"), result="fenced")  # not counted
    journal.would(**abort(task_id="w1"))
    journal.would(**abort(task_id="w2"))
    journal.record(**abort(task_id="w3"), result="skipped_cap", mode="dry-run")
    journal.intent(**abort(policy="another"))  # another policy

    since = clock.now().timestamp()
    assert journal.count_since(POLICY, since, include_dry_run=False) == 5
    assert journal.count_since(POLICY, since, include_dry_run=True) == 7
    assert journal.count_since("another", since, include_dry_run=False) == 1
    assert journal.count_since("nobody", since, include_dry_run=True) == 0


def test_a_superseded_unknown_intent_still_counts_toward_the_cap(journal: Journal) -> None:
    first = journal.intent(**ABORT)
    journal.outcome(first, result="unknown")
    journal.intent(**ABORT, supersedes=first)
    # The first one may have acted (it was in doubt) although it is now closed as failed.
    assert journal.get(first).result == "failed"  # type: ignore[union-attr]
    assert journal.count_since(POLICY, 0, include_dry_run=False) == 2


def test_the_per_hour_cap_forgets_records_older_than_its_window(
    journal: Journal, clock: ManualClock
) -> None:
    journal.intent(**abort(task_id="old"))
    clock.advance(3600)
    journal.intent(**abort(task_id="new"))
    hour_ago = clock.now().timestamp() - 3600
    assert journal.count_since(POLICY, hour_ago, include_dry_run=False) == 2
    clock.advance(0.5)
    hour_ago = clock.now().timestamp() - 3600
    assert journal.count_since(POLICY, hour_ago, include_dry_run=False) == 1
