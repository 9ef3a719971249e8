"""The journal fixtures: ``journal`` and ``make_journal`` run every test that asks for them once
on SQLite (a file under ``tmp_path``) and once on PostgreSQL (a fresh database of the session's
throwaway server, :mod:`tests.postgres`; started only when a PostgreSQL test runs).

``make_journal`` builds more journal objects on the *same* database: a reopen after a close, a
read-only reader, or (PostgreSQL) a second replica. Every object it built is closed after the
test. Tests that only make sense on one backend ask for ``sqlite_journal`` or take the fixtures of
:mod:`tests.postgres` themselves, and say so in their module.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import pytest

from taskwatch.actions.backend import IN_FLIGHT
from taskwatch.actions.journal import Journal
from taskwatch.actions.opening import journal_for
from taskwatch.clock import Clock, ManualClock
from taskwatch.settings import State
from tests.postgres import postgres_fixture, postgres_url_fixture

__all__ = ["postgres_fixture", "postgres_url_fixture"]

BACKENDS = ["sqlite", "postgresql"]


class MakeJournal(Protocol):
    def __call__(
        self,
        *,
        clock: Clock | None = ...,
        read_only: bool = ...,
        in_flight: float = ...,
        opened: bool = ...,
    ) -> Journal: ...


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def state(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> State:
    """The ``state`` section of the test's one database (the PostgreSQL one made on demand)."""
    if backend == "sqlite":
        return State(path=tmp_path / "state" / "state.db")
    return State(url=str(request.getfixturevalue("postgres_url")))


@pytest.fixture
def make_journal(state: State, clock: ManualClock) -> Iterator[MakeJournal]:
    built: list[Journal] = []

    def make(
        *,
        clock: Clock | None = clock,
        read_only: bool = False,
        in_flight: float = IN_FLIGHT,
        opened: bool = True,
    ) -> Journal:
        journal = journal_for(
            state, clock=clock or ManualClock(), read_only=read_only, in_flight=in_flight
        )
        built.append(journal)
        if opened:
            journal.open()
        return journal

    yield make
    for journal in built:
        journal.close()


@pytest.fixture
def journal(make_journal: MakeJournal) -> Journal:
    """An open, writable journal on the test's database (SQLite, then PostgreSQL)."""
    return make_journal()
