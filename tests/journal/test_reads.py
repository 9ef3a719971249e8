"""The journal's reads on both backends: the audit (recent, grouped, newest last in id order),
pruning, a read-only reader beside the writer, text from the API that SQL or a database could
mangle (placeholders, percent signs, NUL bytes), and a closed journal.

Every test runs once on SQLite and once on PostgreSQL (``tests/journal/conftest.py``).
"""

from __future__ import annotations

import pytest

from taskwatch.actions.journal import Journal
from taskwatch.clock import ManualClock
from taskwatch.errors import StoreError
from tests.journal.conftest import MakeJournal
from tests.journal.helpers import ABORT, abort, intent_count, raw

# -- the audit ---------------------------------------------------------------------------------


def test_recent_is_newest_last_and_a_limit_keeps_the_newest(
    journal: Journal, clock: ManualClock
) -> None:
    ids = []
    for n in range(5):
        ids.append(journal.intent(**abort(task_id=f"t{n}")))
        clock.advance(600)
    assert [r.id for r in journal.recent(0)] == ids
    assert [r.id for r in journal.recent(0, limit=2)] == ids[-2:]
    since = clock.now().timestamp() - 1800
    assert [r.id for r in journal.recent(since)] == ids[-3:]


def test_recent_follows_journal_order_when_the_wall_clock_steps_back(
    journal: Journal, clock: ManualClock
) -> None:
    first = journal.intent(**abort(task_id="a"))
    clock.set_wall(clock.now().replace(year=2025))
    second = journal.intent(**abort(task_id="b"))
    assert [r.id for r in journal.recent(0)] == [first, second]


def test_recent_grouped_folds_like_records_into_one_row_with_their_count_and_first_time(
    journal: Journal, clock: ManualClock
) -> None:
    start = clock.now().timestamp()
    other = journal.intent(**abort(task_id="other"))
    journal.outcome(other, result="done", request_id="req-other")
    for n in range(30):  # a stuck task: thirty refused attempts, ten seconds apart
        clock.advance(10)
        journal.outcome(journal.intent(**abort(task_id="stuck")), result="failed", code=f"Code{n}")
    clock.advance(10)
    last = journal.intent(**abort(task_id="stuck"))
    journal.outcome(last, result="done", request_id="req-last")
    journal.would(**abort(task_id="stuck"))  # dry-run records are their own group

    groups = journal.recent_grouped(0, limit=25)

    assert [(g.task_id, g.mode, g.result, g.count) for g in groups] == [
        ("stuck", "dry-run", "would", 1),
        ("stuck", "enforce", "done", 1),
        ("stuck", "enforce", "failed", 30),
        ("other", "enforce", "done", 1),
    ]
    failed = groups[2]
    assert (failed.first_time, failed.time) == (start + 10, start + 300)
    assert failed.code == "Code29"  # the group's columns are its newest record's
    assert groups[1].id == last
    assert groups[3].request_id == "req-other"
    assert [g.result for g in journal.recent_grouped(0, limit=2)] == ["would", "done"]
    assert journal.recent_grouped(start + 5, limit=25)[-1].count == 30  # "other" is too old


def test_prune_removes_old_settled_records_and_keeps_unresolved_intents(
    journal: Journal, clock: ManualClock
) -> None:
    settled = journal.intent(**abort(task_id="settled"))
    journal.outcome(settled, result="done")
    journal.would(**abort(task_id="would"))
    unresolved = journal.intent(**abort(task_id="unresolved"))
    clock.advance(86400)
    recent = journal.intent(**abort(task_id="recent"))
    journal.outcome(recent, result="done")

    assert journal.prune(clock.now().timestamp() - 3600) == 2
    assert [r.id for r in journal.recent(0)] == [unresolved, recent]
    assert journal.get(settled) is None
    assert raw(journal, "SELECT count(*) FROM outcomes WHERE intent_id = ?", (settled,)) == [(0,)]


def test_ids_are_never_reused_after_pruning(journal: Journal, clock: ManualClock) -> None:
    last = journal.would(**ABORT)
    clock.advance(10)
    assert journal.prune(clock.now().timestamp()) == 1
    assert journal.would(**ABORT) > last


# -- readers beside the writer -----------------------------------------------------------------


def test_a_new_journal_is_at_the_current_schema(journal: Journal, backend: str) -> None:
    from taskwatch.actions.pgschema import PG_SCHEMA_VERSION
    from taskwatch.actions.schema import SCHEMA_VERSION

    current = SCHEMA_VERSION if backend == "sqlite" else PG_SCHEMA_VERSION
    assert journal.schema_version() == current


def test_a_read_only_journal_reads_and_writes_nothing(
    journal: Journal, make_journal: MakeJournal
) -> None:
    committed = journal.intent(**ABORT)
    reader = make_journal(read_only=True)
    assert [r.id for r in reader.recent(0)] == [committed]
    with pytest.raises(StoreError, match=r"read-?only") as caught:
        reader.intent(**abort(task_id="other"))
    assert journal.target in str(caught.value)
    with pytest.raises(StoreError):
        reader.set_switch(paused=True, actor="reader")
    assert [r.id for r in journal.recent(0)] == [committed]
    assert journal.switch().paused is False


# -- text from the API -------------------------------------------------------------------------


def test_placeholders_and_percent_signs_in_values_are_stored_verbatim(journal: Journal) -> None:
    odd = "100% done? %s %(x)s ?? '; --"
    intent_id = journal.intent(**abort(task_id=odd, params={"Note": odd}))
    journal.outcome(intent_id, result="failed", code=odd, request_id=odd, message=odd)
    record = journal.last_action("prod", "mps", odd, "abort")
    assert record is not None
    assert (record.id, record.task_id, record.code, record.message) == (intent_id, odd, odd, odd)


def test_an_outcome_whose_api_message_holds_a_nul_byte_is_not_lost(journal: Journal) -> None:
    intent_id = journal.intent(**ABORT)
    assert journal.outcome(intent_id, result="failed", code="Internal\x00Error", message="a\x00b")
    record = journal.get(intent_id)
    assert record is not None
    assert record.result == "failed"
    assert record.message is not None
    assert record.message.startswith("a")


def test_an_intent_for_a_task_id_holding_a_nul_byte_is_recorded(journal: Journal) -> None:
    intent_id = journal.intent(**abort(task_id="task\x00id"))
    assert [r.id for r in journal.unresolved()] == [intent_id]


def test_a_closed_journal_refuses_work_with_a_store_error(make_journal: MakeJournal) -> None:
    journal = make_journal(opened=False)
    with pytest.raises(StoreError, match="not open"):
        journal.intent(**ABORT)
    journal.open()
    journal.close()
    journal.close()
    with pytest.raises(StoreError, match="not open"):
        journal.recent(0)
    assert intent_count(journal) == 0
