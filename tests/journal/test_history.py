"""The property, on both backends: random histories of intents, outcomes, supersedes, dry-run
rows, restarts and time lose nothing; unresolved means "no outcome"; an intent is refused exactly
when a live one exists for its task; the per-hour count is what a model of the rules says.

Each example gets a database of its own (a temporary directory, or a new database of the
session's PostgreSQL: :mod:`tests.postgres`), so hypothesis' examples never meet. Longer under
``TASKWATCH_SLOW=1``.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from taskwatch.actions.journal import Journal
from taskwatch.actions.opening import journal_for
from taskwatch.clock import ManualClock
from taskwatch.errors import IntentRefused
from taskwatch.models import Outcome
from taskwatch.settings import State
from tests.journal.helpers import POLICY, abort
from tests.postgres import PostgresServer

IN_FLIGHT = 120.0
EXAMPLES = 300 if os.environ.get("TASKWATCH_SLOW") == "1" else 60


@dataclass
class Expected:
    """The model of one record."""

    mode: str
    task: int
    written: float
    result: str
    uncertain: bool = False


OUTCOMES = [o.value for o in Outcome if o is not Outcome.WOULD]
OPERATIONS = st.lists(
    st.one_of(
        st.tuples(st.just("intent"), st.integers(0, 3)),
        st.tuples(st.just("supersede"), st.integers(0, 3)),
        st.tuples(st.just("outcome"), st.integers(0, 1000), st.sampled_from(OUTCOMES)),
        st.tuples(st.just("would"), st.integers(0, 3)),
        st.tuples(st.just("reopen")),
        st.tuples(st.just("advance"), st.floats(0, 200)),
    ),
    max_size=30,
)


class Model:
    """The rules of :mod:`taskwatch.actions.journal`, kept in a dict."""

    def __init__(self, clock: ManualClock, *, shared: bool) -> None:
        self.clock = clock
        self.shared = shared
        self.records: dict[int, Expected] = {}
        self.live: dict[int, int] = {}  # task -> its live intent's id

    def now(self) -> float:
        return self.clock.now().timestamp()

    def refusal(self, task: int, supersedes: int | None) -> str | None:
        """Why an intent for ``task`` must be refused, or None."""
        live_id = self.live.get(task)
        if live_id is None:
            return None
        live = self.records[live_id]
        if live.result in ("done", "already_done"):
            return "done"
        if supersedes != live_id:
            return "open"
        if live.result == "intent" and self.shared and live.written > self.now() - IN_FLIGHT:
            return "open"
        return None

    def intent(self, journal: Journal, task: int, *, supersede: bool) -> None:
        supersedes = self.live.get(task) if supersede else None
        why = self.refusal(task, supersedes)
        if why is not None:
            with pytest.raises(IntentRefused) as caught:
                journal.intent(**abort(task_id=f"t{task}"), supersedes=supersedes)
            assert caught.value.why == why
            return
        new = journal.intent(**abort(task_id=f"t{task}"), supersedes=supersedes)
        assert new not in self.records
        if supersedes is not None:
            old = self.records[supersedes]
            old.uncertain |= old.result != "intent"
            old.result = "failed"
        self.records[new] = Expected("enforce", task, self.now(), "intent")
        self.live[task] = new

    def outcome(self, journal: Journal, pick: int, result: str) -> None:
        ids = sorted(self.records)
        intent_id = ids[pick % len(ids)]
        model = self.records[intent_id]
        replaceable = model.mode == "enforce" and model.result in ("intent", "unknown")
        assert journal.outcome(intent_id, result=result) is replaceable
        if replaceable:
            model.uncertain |= model.result == "unknown" or result == "unknown"
            model.result = result
            if result == "failed" and self.live.get(model.task) == intent_id:
                del self.live[model.task]

    def check(self, journal: Journal) -> None:
        records = journal.recent(0)
        ids = sorted(self.records)
        assert [r.id for r in records] == ids
        assert [(r.mode, r.result) for r in records] == [
            (self.records[i].mode, self.records[i].result) for i in ids
        ]
        assert [r.id for r in journal.unresolved()] == [
            i for i in ids if self.records[i].result == "intent"
        ]
        counted = [
            m
            for m in self.records.values()
            if m.mode == "enforce" and (m.result in ("intent", "done", "unknown") or m.uncertain)
        ]
        would = [m for m in self.records.values() if m.result == "would"]
        assert journal.count_since(POLICY, 0, include_dry_run=False) == len(counted)
        assert journal.count_since(POLICY, 0, include_dry_run=True) == len(counted) + len(would)


def run(state: State, operations: list[tuple[Any, ...]]) -> None:
    """Play ``operations`` on a journal of ``state`` and on the model; compare at the end."""
    clock = ManualClock()
    journal = journal_for(state, clock=clock, in_flight=IN_FLIGHT)
    journal.open()
    model = Model(clock, shared=journal.shared)
    try:
        for op in operations:
            if op[0] in ("intent", "supersede"):
                model.intent(journal, op[1], supersede=op[0] == "supersede")
            elif op[0] == "would":
                would = journal.would(**abort(task_id=f"t{op[1]}"))
                model.records[would] = Expected("dry-run", op[1], model.now(), "would")
            elif op[0] == "outcome" and model.records:
                model.outcome(journal, op[1], op[2])
            elif op[0] == "reopen":
                journal.close()
                journal = journal_for(state, clock=clock, in_flight=IN_FLIGHT)
                journal.open()
            elif op[0] == "advance":
                clock.advance(op[1])
        model.check(journal)
    finally:
        journal.close()


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(operations=OPERATIONS)
def test_random_histories_on_sqlite_lose_nothing_and_refuse_exactly_what_the_rules_refuse(
    operations: list[tuple[Any, ...]],
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        run(State(path=Path(tmp) / "state.db"), operations)


@settings(
    max_examples=EXAMPLES // 3,  # a database per example: ~150 ms each
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(operations=OPERATIONS)
def test_random_histories_on_postgresql_lose_nothing_and_refuse_exactly_what_the_rules_refuse(
    postgres: PostgresServer, operations: list[tuple[Any, ...]]
) -> None:
    name = postgres.create_database()  # the fixture is the session's server: shared on purpose
    try:
        run(State(url=postgres.url(name)), operations)
    finally:
        postgres.drop_database(name)
