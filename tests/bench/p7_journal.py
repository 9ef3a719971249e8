"""P7: the journal's write latency on each backend (the closing note of issue 15 asks for it).

What is timed: ``N`` pairs of ``intent()`` then ``outcome(done)`` for distinct tasks, each call
one durable transaction, on a fresh journal: SQLite (a file in a temporary directory,
``synchronous=FULL`` as the daemon runs it: an fsync per commit) and PostgreSQL (the throwaway
server of :mod:`tests.postgres` on loopback, ``fsync=on``, ``synchronous_commit=on``, a new
database per repeat; the server is started for the run and removed after). Each configuration is
repeated ``R`` times; the figures are the median over repeats of each repeat's p50 and p99 per
write (a write is one call: an intent or an outcome), and the spread (min..max over repeats).

No peer: the figure is informational (the goal is that a write stays far below the API's own
latency, which is ~100 ms); PostgreSQL's is over TCP to a server on the same two cores, so it
includes a round trip per statement and the server's CPU. Not measured: contention between
replicas (``tests/journal/test_postgres_races.py`` checks its correctness, not its speed).
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from taskwatch.actions.opening import journal_for
from taskwatch.clock import SystemClock
from taskwatch.settings import State
from tests.bench.common import Row, percentile

GOAL_MS = 50.0
"""p99 per write the row's goal asks for: far below an API call (~100 ms)."""


@dataclass
class Latency:
    """One backend's figures: per repeat, milliseconds."""

    backend: str
    p50: list[float] = field(default_factory=list)
    p99: list[float] = field(default_factory=list)
    pair_p50: list[float] = field(default_factory=list)


def spread(values: list[float]) -> str:
    return f"{min(values):.2f}..{max(values):.2f}"


def pairs(state: State, n: int) -> tuple[list[float], list[float]]:
    """Seconds of each write and of each intent+outcome pair, ``n`` pairs on ``state``."""
    writes: list[float] = []
    both: list[float] = []
    with journal_for(state, clock=SystemClock()) as journal:
        journal.intent(  # the first call also connects / warms the page cache: not timed
            policy="warm", product="mps", account="a", region="global", task_id="warm",
            action="abort", params={},
        )  # fmt: skip
        for k in range(n):
            task = f"task-{k:05}"
            t0 = time.perf_counter()
            intent_id = journal.intent(
                policy="bench", product="mps", account="a", region="global", task_id=task,
                action="abort", params={"TaskId": task, "OperationType": "Abort"},
            )  # fmt: skip
            t1 = time.perf_counter()
            journal.outcome(intent_id, result="done", request_id=f"req-{k}")
            t2 = time.perf_counter()
            writes += [t1 - t0, t2 - t1]
            both.append(t2 - t0)
    return writes, both


def measure(backend: str, fresh: Callable[[], Iterator[State]], n: int, repeats: int) -> Latency:
    """``repeats`` runs of :func:`pairs`, each on a journal ``fresh`` makes (and removes)."""
    figures = Latency(backend)
    for _ in range(repeats):
        with contextmanager(fresh)() as state:
            writes, both = pairs(state, n)
        figures.p50.append(percentile(writes, 50) * 1000)
        figures.p99.append(percentile(writes, 99) * 1000)
        figures.pair_p50.append(percentile(both, 50) * 1000)
    return figures


def sqlite_files() -> Iterator[State]:
    with tempfile.TemporaryDirectory(prefix="taskwatch-p7-") as tmp:
        yield State(path=Path(tmp) / "state.db")


def postgres_databases(server: object) -> Callable[[], Iterator[State]]:
    """Fresh databases of ``server`` (a :class:`tests.postgres.PostgresServer`)."""
    from tests.postgres import PostgresServer

    assert isinstance(server, PostgresServer)

    def fresh() -> Iterator[State]:
        name = server.create_database()
        try:
            yield State(url=server.url(name))
        finally:
            server.drop_database(name)

    return fresh


def measure_both(n: int, repeats: int) -> tuple[Latency, Latency | None, str]:
    """SQLite's figures, PostgreSQL's (None when no server can be had here), and why not."""
    from tests.postgres import PostgresServer

    sqlite = measure("sqlite", sqlite_files, n, repeats)
    try:
        server = PostgresServer.create()
    except (pytest.skip.Exception, pytest.fail.Exception, RuntimeError, OSError) as e:
        return sqlite, None, f"no PostgreSQL: {e}"
    try:
        return sqlite, measure("postgresql", postgres_databases(server), n, repeats), ""
    finally:
        server.close()


def rows(sqlite: Latency, postgresql: Latency | None, *, n: int, why: str = "") -> list[Row]:
    def notes(figures: Latency | None) -> dict[str, object]:
        if figures is None:
            return {"postgresql": why}
        return {
            f"{figures.backend} p50 spread ms": spread(figures.p50),
            f"{figures.backend} p99 spread ms": spread(figures.p99),
            f"{figures.backend} pair p50 ms": round(statistics.median(figures.pair_p50), 3),
        }

    pg = {} if postgresql is None else {"PostgreSQL": postgresql}
    repeats = len(sqlite.p50)
    common = {"pairs": n, "repeats": repeats, **notes(sqlite), **notes(postgresql)}
    out = []
    for name, pick in (("p50", _p50), ("p99", _p99)):
        mine = statistics.median(pick(sqlite))
        theirs = {k: statistics.median(pick(v)) for k, v in pg.items()}
        ratio = theirs["PostgreSQL"] / mine if theirs and mine else None
        met = None if name == "p50" else all(v <= GOAL_MS for v in [mine, *theirs.values()])
        peers: dict[str, float | None] = {"PostgreSQL": theirs.get("PostgreSQL")}
        out.append(
            Row("P7", f"journal write {name} (ms), SQLite (fsync) vs PostgreSQL (loopback)",
                mine, peers, ratio,
                f"p99 ≤ {GOAL_MS:g} ms on both" if name == "p99" else "informational",
                met, common)
        )  # fmt: skip
    return out


def _p50(figures: Latency) -> list[float]:
    return figures.p50


def _p99(figures: Latency) -> list[float]:
    return figures.p99


async def run(quick: bool) -> list[Row]:
    n, repeats = (100, 3) if quick else (500, 3)
    sqlite, postgresql, why = await asyncio.to_thread(measure_both, n, repeats)
    return rows(sqlite, postgresql, n=n, why=why)
