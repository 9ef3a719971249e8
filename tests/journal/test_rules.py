"""The journal's rules on both backends: what refuses an intent (the kill switch, an old term, a
policy's cap, a live intent for the same task and action), what supersedes one, what ends an
intent's life, and the shared controls (kill switch events, leadership terms) surviving a restart.

Every refusal is checked to have written nothing, read by a connection of the test's own
(:func:`tests.journal.helpers.raw`), not by the journal that refused. SQLite cannot have two
writers at once (the process lock), so "another journal object" is sequential there; the races
between PostgreSQL writers are in ``tests/journal/test_postgres_races.py``.
"""

from __future__ import annotations

from typing import Any

import pytest

from taskwatch.actions.journal import Journal
from taskwatch.clock import ManualClock
from taskwatch.errors import IntentRefused
from taskwatch.models import Outcome
from tests.journal.conftest import MakeJournal
from tests.journal.helpers import ABORT, KEY, POLICY, abort, intent_count, live_ids


def refused(journal: Journal, why: str, **intent: Any) -> IntentRefused:
    """The refusal of ``intent`` (``ABORT`` with changes), having checked it wrote nothing."""
    before = intent_count(journal)
    with pytest.raises(IntentRefused) as caught:
        journal.intent(**{**ABORT, **intent})
    assert caught.value.why == why, caught.value
    assert intent_count(journal) == before
    return caught.value


# -- the kill switch ---------------------------------------------------------------------------


def test_an_intent_is_refused_while_paused_and_allowed_after_resume(journal: Journal) -> None:
    paused = journal.set_switch(paused=True, actor="alice", reason="incident 42")
    assert (paused.paused, paused.actor, paused.reason) == (True, "alice", "incident 42")
    error = refused(journal, "paused")
    assert "alice" in str(error)
    assert "incident 42" in str(error)
    assert journal.set_switch(paused=False, actor="bob").paused is False
    assert journal.intent(**ABORT) > 0


def test_a_pause_does_not_stop_outcomes_nor_records_of_decisions(journal: Journal) -> None:
    # An intent written before the pause is a call in flight: its outcome must still land.
    in_flight = journal.intent(**ABORT)
    journal.set_switch(paused=True, actor="alice")
    assert journal.outcome(in_flight, result="done")
    journal.record(**abort(task_id="other"), result="skipped_cap", message="paused")
    assert [r.result for r in journal.recent(0)] == ["done", "skipped_cap"]


def test_the_kill_switch_is_off_until_flipped_and_its_history_is_newest_first(
    journal: Journal, clock: ManualClock
) -> None:
    assert journal.switch().paused is False
    assert journal.switch_history() == []
    start = clock.now().timestamp()
    journal.set_switch(paused=True, actor="alice", reason="first")
    clock.advance(5)
    journal.set_switch(paused=False, actor="bob")
    clock.advance(5)
    journal.set_switch(paused=True, actor="carol", reason="again " + "x" * 5000)
    history = journal.switch_history()
    assert [(s.paused, s.actor) for s in history] == [
        (True, "carol"),
        (False, "bob"),
        (True, "alice"),
    ]
    assert [s.time for s in history] == [start + 10, start + 5, start]
    assert len(history[0].reason) == 1000  # cut, not refused
    assert [s.actor for s in journal.switch_history(limit=1)] == ["carol"]
    assert journal.switch() == history[0]


def test_the_kill_switch_holds_across_a_restart_and_for_another_journal_object(
    make_journal: MakeJournal, backend: str
) -> None:
    first = make_journal()
    first.set_switch(paused=True, actor="alice", reason="incident")
    if backend == "sqlite":
        first.close()  # one writer per file: the second object is the restarted daemon
    second = make_journal()
    assert (second.switch().paused, second.switch().actor) == (True, "alice")
    refused(second, "paused")
    second.set_switch(paused=False, actor="bob")
    if backend == "sqlite":
        second.close()
        first = make_journal()
    assert first.switch().paused is False
    assert [s.actor for s in first.switch_history()] == ["bob", "alice"]
    assert first.intent(**ABORT) > 0


# -- leadership terms --------------------------------------------------------------------------


def test_terms_begin_at_zero_and_each_new_one_increments(journal: Journal) -> None:
    assert journal.term() == (0, None)
    assert journal.begin_term("pod-a") == 1
    assert journal.begin_term("pod-b") == 2
    assert journal.term() == (2, "pod-b")


def test_an_intent_of_an_old_term_is_refused_and_of_the_current_term_allowed(
    journal: Journal,
) -> None:
    old = journal.begin_term("pod-a")
    first = journal.intent(**abort(task_id="t1"), term=old)
    current = journal.begin_term("pod-b")
    error = refused(journal, "term", task_id="t2", term=old)
    assert f"term {old}" in str(error)
    assert str(current) in str(error)
    refused(journal, "term", task_id="t2", term=current + 1)  # not a term yet: refused too
    second = journal.intent(**abort(task_id="t2"), term=current)
    assert second > first
    assert journal.intent(**abort(task_id="t3")) > second  # no election: no term to check
    # The deposed leader's outcome is the truth of a call that was made: it is kept.
    assert journal.outcome(first, result="done")


def test_the_term_survives_a_restart(make_journal: MakeJournal) -> None:
    first = make_journal()
    first.begin_term("pod-a")
    first.begin_term("pod-b")
    first.close()
    again = make_journal()
    assert again.term() == (2, "pod-b")
    refused(again, "term", term=1)


# -- per-hour caps -----------------------------------------------------------------------------


def test_an_intent_at_the_cap_is_refused_counting_what_may_have_acted(
    journal: Journal, clock: ManualClock
) -> None:
    since = clock.now().timestamp()
    cap = (2, since)
    failed = journal.intent(**abort(task_id="t0"), per_hour=cap)
    journal.outcome(failed, result="failed")  # did nothing: not counted
    journal.intent(**abort(task_id="t1"), per_hour=cap)
    journal.intent(**abort(task_id="t2"), per_hour=cap)
    error = refused(journal, "cap", task_id="t3", per_hour=cap)
    assert f"per_hour 2 of {POLICY}" in str(error)
    refused(journal, "cap", task_id="t0", per_hour=cap)
    assert journal.intent(**abort(task_id="t3", policy="another"), per_hour=cap) > 0
    assert journal.intent(**abort(task_id="t4")) > 0  # no cap given: none checked
    clock.advance(3600)
    later = (2, clock.now().timestamp() - 3600 + 0.5)  # the window moved past t1..t4
    assert journal.intent(**abort(task_id="t5"), per_hour=later) > 0


# -- one live intent per task and action -------------------------------------------------------


def test_an_intent_is_refused_while_another_for_the_same_task_is_open(journal: Journal) -> None:
    first = journal.intent(**ABORT)
    error = refused(journal, "open")
    assert str(first) in str(error)
    journal.outcome(first, result="unknown")  # in doubt: still open
    refused(journal, "open")
    # The same task under another account, product or action is another key.
    for other in ({"account": "staging"}, {"product": "dlc"}, {"action": "cancel"}):
        assert journal.intent(**abort(**other)) > first
    assert live_ids(journal) == [first, first + 1, first + 2, first + 3]


@pytest.mark.parametrize("result", ["done", "already_done"])
def test_an_intent_is_refused_for_good_once_one_did_it(journal: Journal, result: str) -> None:
    first = journal.intent(**ABORT)
    journal.outcome(first, result=result)
    error = refused(journal, "done")
    assert "already did" in str(error)
    refused(journal, "done", supersedes=first)  # done is not in doubt: nothing to supersede


def test_a_failed_outcome_lets_a_new_intent_through(journal: Journal) -> None:
    first = journal.intent(**ABORT)
    assert live_ids(journal) == [first]
    journal.outcome(first, result="failed", code="InternalError")
    assert live_ids(journal) == []
    second = journal.intent(**ABORT)
    assert live_ids(journal) == [second]
    assert journal.get(first).result == "failed"  # type: ignore[union-attr]


def test_an_unknown_then_failed_outcome_ends_the_intents_life(journal: Journal) -> None:
    first = journal.intent(**ABORT)
    journal.outcome(first, result="unknown")
    journal.outcome(first, result="failed")  # re-described: the call did nothing after all
    assert journal.intent(**ABORT) > first


def test_records_and_would_rows_are_never_live(journal: Journal) -> None:
    journal.record(**ABORT, result="fenced", mode="enforce")
    journal.record(**ABORT, result="already_done", mode="enforce")
    journal.would(**ABORT)
    assert live_ids(journal) == []
    intent_id = journal.intent(**ABORT)  # none of them blocks it
    journal.record(**ABORT, result="skipped_cap")  # nor is it blocked by the live intent
    assert live_ids(journal) == [intent_id]


# -- superseding an intent in doubt ------------------------------------------------------------


def test_an_unknown_intent_is_superseded_closed_as_failed_and_replaced(
    journal: Journal,
) -> None:
    first = journal.intent(**ABORT)
    journal.outcome(first, result="unknown", message="timed out")
    second = journal.intent(**ABORT, supersedes=first)
    closed = journal.get(first)
    assert closed is not None
    assert closed.result == "failed"
    assert closed.message == f"superseded by intent {second}: task was still running"
    assert live_ids(journal) == [second]
    assert journal.last_action(*KEY).id == second  # type: ignore[union-attr]
    assert not journal.outcome(first, result="done")  # failed is final


def test_superseding_another_intent_than_the_live_one_is_refused(journal: Journal) -> None:
    other = journal.intent(**abort(task_id="other"))
    first = journal.intent(**ABORT)
    journal.outcome(first, result="unknown")
    refused(journal, "open", supersedes=other)
    refused(journal, "open", supersedes=first + 1000)
    assert live_ids(journal) == [other, first]


def test_supersedes_with_nothing_live_is_a_plain_intent(journal: Journal) -> None:
    earlier = journal.intent(**ABORT)
    journal.outcome(earlier, result="failed")
    assert journal.intent(**ABORT, supersedes=earlier) > earlier
    assert journal.get(earlier).message is None  # type: ignore[union-attr]


def test_an_intent_without_outcome_may_be_superseded_at_once_only_by_its_only_writer(
    make_journal: MakeJournal, clock: ManualClock
) -> None:
    journal = make_journal(in_flight=120.0)
    first = journal.intent(**ABORT)
    clock.advance(119)
    if not journal.shared:
        # SQLite: one process writes, and it is opening: nothing of it can still be in flight.
        assert journal.intent(**ABORT, supersedes=first) > first
        return
    error = refused(journal, "open", supersedes=first)
    assert "may be in flight" in str(error)
    assert live_ids(journal) == [first]
    clock.advance(1.5)  # now older than in_flight: its writer gave up long ago
    second = journal.intent(**ABORT, supersedes=first)
    assert live_ids(journal) == [second]
    assert journal.get(first).result == "failed"  # type: ignore[union-attr]


def test_an_unknown_intent_may_be_superseded_at_once_on_every_backend(
    make_journal: MakeJournal,
) -> None:
    journal = make_journal(in_flight=3600.0)
    first = journal.intent(**ABORT)
    journal.outcome(
        first, result=Outcome.UNKNOWN
    )  # its writer is done waiting: no longer in flight
    assert journal.intent(**ABORT, supersedes=first) > first


# -- reconciling after a crash -----------------------------------------------------------------


def test_reconcilable_is_every_unresolved_intent_alone_and_only_old_ones_when_shared(
    make_journal: MakeJournal, clock: ManualClock
) -> None:
    journal = make_journal(in_flight=120.0)
    old = journal.intent(**abort(task_id="old"))
    settled = journal.intent(**abort(task_id="settled"))
    journal.outcome(settled, result="done")
    clock.advance(121)
    young = journal.intent(**abort(task_id="young"))
    journal.would(**abort(task_id="would"))
    reconcilable = [r.id for r in journal.reconcilable()]
    if journal.shared:  # another replica may still be waiting for the answer to the young one
        assert reconcilable == [old]
    else:
        assert reconcilable == [old, young]
    assert [r.id for r in journal.unresolved()] == [old, young]


def test_a_second_writer_sees_the_first_ones_live_intents_and_cap_count(
    make_journal: MakeJournal, backend: str, clock: ManualClock
) -> None:
    # Two replicas on PostgreSQL; on SQLite (one writer per file) the same daemon restarted.
    cap = (7, clock.now().timestamp())
    first = make_journal()
    for k in range(5):
        first.intent(**abort(task_id=f"t{k}"), per_hour=cap)
    if backend == "sqlite":
        first.close()
    second = make_journal()
    whys = []
    for k in range(10):
        try:
            second.intent(**abort(task_id=f"t{k}"), per_hour=cap)
            whys.append("written")
        except IntentRefused as e:
            whys.append(e.why)
    assert whys == ["open"] * 5 + ["written"] * 2 + ["cap"] * 3
    assert second.count_since(POLICY, cap[1], include_dry_run=False) == 7
