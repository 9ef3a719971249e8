"""The rehearsal predicts what the daemon then does: same actions, same order, same times.

The rehearsal runs first (``taskwatch rehearse``'s own code: its virtual event loop, the
configuration with dry-run policies, treated as enforcing). Then the real daemon, built here from
the same configuration with ``enforce: true`` (not through the rehearsal's code), runs for the same
span against a fresh emulator of the same scenario: :meth:`Supervisor.run` (HTTP server, loops,
watcher, limiter, executor, SQLite journal) under looptime, with a wall clock that moves with loop
time, as ``tests/e2e/test_seeds.py`` runs it. The scenario's generators make tasks while both run,
so the prediction holds only if the rehearsal asks the world what the daemon asks, when it asks.
Both journals are compared row by row.
"""

from __future__ import annotations

import asyncio
import random
from datetime import datetime, timedelta
from pathlib import Path

import anyio
import pytest

from taskwatch.actions.sqlite import SqliteJournal
from taskwatch.cli.rehearsal.driver import rehearse
from taskwatch.clock import ManualClock
from taskwatch.emulator.scenario import loads_scenario
from taskwatch.emulator.server import Emulator
from taskwatch.metrics.registry import Metrics
from taskwatch.policy.rules import compile_rules
from taskwatch.settings import parse_settings
from taskwatch.supervisor import Supervisor
from tests.rehearsal.world import SCENARIO, config, write

SPAN = 30 * 60.0
"""Seconds of virtual time both run: half an hour."""
SEED = 5


class LoopCalendar:
    """Loop time, and a wall clock that moves with it from ``start`` (from the loop time when
    built)."""

    def __init__(self, start: datetime) -> None:
        self.start = start
        self.origin = asyncio.get_running_loop().time()

    def monotonic(self) -> float:
        return asyncio.get_running_loop().time()

    def now(self) -> datetime:
        return self.start + timedelta(seconds=self.monotonic() - self.origin)


Key = tuple[str, str, str, str, str, str, str]


def predicted(tmp_path: Path) -> tuple[list[Key], list[float]]:
    scenario = loads_scenario(write(tmp_path / "world.yaml", SCENARIO).read_text())
    raw = config(endpoint="http://127.0.0.1:1", state=tmp_path / "never.db", enforce=False)
    settings = parse_settings(raw, source="rehearsal")
    assert scenario.start is not None
    result = rehearse(settings, scenario, seconds=SPAN, start=scenario.start, seed=SEED)
    assert not (tmp_path / "never.db").exists(), "the configured journal is not touched"
    rows = [r for r in result.rows if r.result != "skipped_cap"]  # the journal holds no cap
    keys = [(r.policy, r.product, r.account, r.region, r.task_id, r.action, r.result) for r in rows]
    return keys, [r.at for r in rows]


async def taken(tmp_path: Path) -> tuple[list[Key], list[float]]:
    scenario = loads_scenario(write(tmp_path / "world.yaml", SCENARIO).read_text())
    assert scenario.start is not None
    clock = LoopCalendar(scenario.start)
    emulator = Emulator.from_scenario(scenario, clock)
    state = tmp_path / "daemon.db"
    async with emulator.serve() as url:
        settings = parse_settings(config(endpoint=url, state=state, enforce=True), source="daemon")
        daemon = Supervisor(
            settings,
            clock=clock,
            metrics=Metrics(clock=clock),
            rng=random.Random(SEED),
            rules=compile_rules(settings.policies, source="daemon"),
        )
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: daemon.run(install_signal_handlers=False))
            await daemon.started.wait()
            await anyio.sleep(SPAN - (clock.now() - clock.start).total_seconds())
            daemon.stop()
    t0 = scenario.start.timestamp()
    with SqliteJournal(state, clock=ManualClock(), read_only=True) as journal:
        records = journal.recent(t0)
    keys = [
        (r.policy, r.product, r.account, r.region, r.task_id, r.action, r.result) for r in records
    ]
    return keys, [r.time - t0 for r in records]


@pytest.mark.looptime
async def test_a_rehearsal_predicts_the_actions_the_daemon_then_takes_in_the_same_order(
    tmp_path: Path,
) -> None:
    (tmp_path / "r").mkdir()
    (tmp_path / "d").mkdir()
    keys, times = await asyncio.to_thread(predicted, tmp_path / "r")  # its own virtual loop
    actual_keys, actual_times = await taken(tmp_path / "d")
    assert {k[0] for k in keys} == {"abort-long-live", "cancel-endless-sql", "delete-ended-relays"}
    relays = {k[4] for k in keys if k[0] == "delete-ended-relays"}
    queries = [k for k in keys if k[0] == "cancel-endless-sql"]
    assert relays - {"10000", "10001"}, "relays the generator added are deleted too"
    assert len(queries) > 1, "queries the generator added are cancelled too"
    assert actual_keys == keys
    assert actual_times == pytest.approx(times, abs=1e-3)
