"""This replica's terms (:class:`~taskwatch.tenure.Tenure`) over a real journal, on both backends:
a term per shard, begun at the shard's first intent of each leadership, forgotten on a reset of
that shard (or of all), ``NO_TERM`` for a shard not led or when the journal could not begin one,
``None`` without election. Unsharded (no ``holds``), everything is shard 0, as before shards.
"""

from __future__ import annotations

from taskwatch.actions.journal import Journal
from taskwatch.tenure import NO_TERM, Tenure
from tests.journal.helpers import abort
from tests.journal.test_rules import refused


def sharded(journal: Journal, led: set[int]) -> Tenure:
    """A replica "pod-a" leading the shards in ``led`` (changed by the test as it goes)."""
    return Tenure(journal, "pod-a", fenced=True, leading=lambda: False, holds=led.__contains__)


def test_without_election_no_shard_carries_a_term(journal: Journal) -> None:
    tenure = Tenure(journal, "pod-a", fenced=False, leading=lambda: False)
    assert [tenure.current(), tenure.current(3)] == [None, None]
    assert [journal.term(), journal.term(3)] == [(0, None), (0, None)]


def test_unsharded_the_term_is_shard_0s_begun_once_per_leadership(journal: Journal) -> None:
    leading = [True]
    tenure = Tenure(journal, "pod-a", fenced=True, leading=lambda: leading[0])
    assert tenure.current() == tenure.current(0) == 1
    assert journal.term() == (1, "pod-a")
    leading[0] = False
    assert tenure.current() == NO_TERM
    leading[0] = True
    assert tenure.current() == 2  # a new leadership: a new term
    tenure.reset()
    assert tenure.current() == 3


def test_each_shard_led_begins_its_own_term_at_its_first_intent(journal: Journal) -> None:
    tenure = sharded(journal, {0, 2})
    assert journal.begin_term("pod-b", shard=2) == 1  # someone led shard 2 before
    assert tenure.current(2) == 2
    assert tenure.current(0) == 1
    assert [tenure.current(2), tenure.current(0)] == [2, 1]  # begun once each
    assert [journal.term(0), journal.term(1), journal.term(2)] == [
        (1, "pod-a"), (0, None), (2, "pod-a"),
    ]  # fmt: skip
    assert tenure.terms == {0: 1, 2: 2}


def test_a_shard_not_led_carries_no_term_and_its_intent_is_refused(journal: Journal) -> None:
    led = {0}
    tenure = sharded(journal, led)
    assert tenure.current(1) == NO_TERM
    assert journal.term(1) == (0, None)  # nothing begun for a shard not led
    refused(journal, "term", term=tenure.current(1), shard=1)
    assert journal.intent(**abort(), term=tenure.current(0), shard=0) > 0


def test_resetting_one_shard_begins_a_new_term_there_only(journal: Journal) -> None:
    tenure = sharded(journal, {0, 1})
    zero, one = tenure.current(0), tenure.current(1)
    tenure.reset(1)
    assert tenure.current(1) == one + 1  # type: ignore[operator]
    assert tenure.current(0) == zero
    journal.intent(**abort(task_id="t0"), term=zero, shard=0)  # shard 0's intents go on
    tenure.reset()
    assert [tenure.current(0), tenure.current(1)] == [zero + 1, one + 2]  # type: ignore[operator]


def test_losing_a_shard_forgets_its_term_and_its_old_intents_are_refused(journal: Journal) -> None:
    led = {0, 2}
    tenure = sharded(journal, led)
    old = tenure.current(2)
    led.discard(2)
    assert tenure.current(2) == NO_TERM
    assert journal.begin_term("pod-b", shard=2) == old + 1  # type: ignore[operator]
    refused(journal, "term", term=old, shard=2)  # the late write of the deposed leader
    led.add(2)
    assert tenure.current(2) == old + 2  # type: ignore[operator]
    assert tenure.current(0) == 1


def test_a_journal_that_cannot_begin_a_term_gives_no_term_and_retries_at_the_next_intent(
    journal: Journal,
) -> None:
    tenure = sharded(journal, {0, 1})
    assert tenure.current(0) == 1
    journal.close()
    assert tenure.current(1) == NO_TERM  # fail closed
    assert tenure.current(0) == 1  # a term begun stays: the journal refuses it if it is over
    journal.open()
    assert tenure.current(1) == 1
