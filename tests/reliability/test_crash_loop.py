"""Crashes: the daemon is SIGKILLed at seeded random points while it enforces, and restarted each
time; then one clean run finishes the work.

The world holds more targets than one cycle may act on (``per_cycle: 2``), so enforcement spans the
kills, and a third of the aborts are held 0.4 s by the emulator, so some kills land between an
intent and its outcome. At the end:

- the emulator's log: every target was aborted exactly once (one ``ManageTask`` reached the
  handler), and no other task got one;
- the journal: every abort the emulator executed has its intent (no record lost), and every intent
  has an outcome after the clean run (done, or already_done for the ones a kill interrupted);
- the audit: ``taskwatch audit --json`` lists every done action.

Every form runs on both journal backends: a SQLite file, and a fresh PostgreSQL database
(:mod:`tests.postgres`), where a kill also drops the daemon's connection mid-transaction. The
journal is read around the code under test (sqlite3, psycopg).

Short form: 8 kills. ``--run-slow``: 50.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import json
import os
import random
import signal
import sys
import time
from pathlib import Path

import pytest

from taskwatch.actions.backend import IN_FLIGHT
from taskwatch.emulator.faults import Fault
from tests.e2e.daemon import EMULATOR_LIMITS
from tests.e2e.test_crash import CONFIG, ROOT, start
from tests.e2e.test_crash import journal as sqlite_rows
from tests.e2e.test_policies import live, workflow
from tests.e2e.waiting import eventually
from tests.emulator.harness import SECRET_ID, SECRET_KEY, Running, running_emulator
from tests.postgres import postgres_fixture, postgres_url_fixture

__all__ = ["postgres_fixture", "postgres_url_fixture"]

BACKENDS = ["sqlite", "postgresql"]
REACHED = ("Success", "InvalidParameterValue.NotProcessingTask")
CAPPED = CONFIG.replace(
    "    enforce: true\n", "    enforce: true\n    max_actions: {per_cycle: 2}\n"
)
ON_POSTGRES = CAPPED.replace("state: {path: %(state)s}", 'state: {url: "%(state)s"}')
assert ON_POSTGRES != CAPPED

Rows = list[tuple[int, str, str | None]]


@pytest.fixture(params=BACKENDS)
def journal_at(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where the test's journal lives: a SQLite file's path, or a fresh PostgreSQL URL."""
    if request.param == "sqlite":
        return str(tmp_path / "state" / "journal.db")
    return str(request.getfixturevalue("postgres_url"))


def journal(where: str) -> Rows:
    """(intent id, task, result or None) of every intent, in id order, from either backend."""
    if not where.startswith("postgresql://"):
        return sqlite_rows(Path(where))
    import psycopg

    try:
        with psycopg.connect(where, autocommit=True, connect_timeout=5) as db:
            return [
                (int(i), str(t), r)
                for i, t, r in db.execute(
                    "SELECT i.id, i.task_id, o.result FROM intents i "
                    "LEFT JOIN outcomes o ON o.intent_id = i.id ORDER BY i.id"
                )
            ]
    except psycopg.errors.UndefinedTable:  # the daemon has not created it yet: look again later
        return []


def reached(emu: Running) -> collections.Counter[str]:
    return collections.Counter(
        e.params["TaskId"]
        for e in emu.emulator.log
        if e.action == "ManageTask" and e.code in REACHED
    )


async def audit(config: Path) -> list[dict[str, object]]:
    """``taskwatch audit --config``: the journal the configuration's ``state`` names."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "taskwatch", "audit", "--config", str(config), "--since", "1d",
        "--json", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    out, err = await proc.communicate()
    assert proc.returncode == 0, err
    from tests import canary_check

    canary_check.record("taskwatch audit --json", out + err)
    rows = json.loads(out)
    assert isinstance(rows, list)
    return rows


async def crash_loop(
    tmp_path: Path, state: str, *, kills: int, targets: int, seed: int, settle_all: bool = False
) -> dict[str, object]:
    """``settle_all``: on PostgreSQL, also wait (``IN_FLIGHT``, two minutes) until the intents
    the kills left without outcome are settled by the running daemon. Before that they may be
    another replica's calls in flight, so no replica touches them; SQLite's single writer
    reconciles them at its start."""
    shared = state.startswith("postgresql://")
    rng = random.Random(seed)
    began = time.monotonic()
    held = Fault(kind="latency", product="mps", action="ManageTask", seconds=0.4, probability=0.33)
    # The emulator's clock stands still here, so its one-second windows never roll: lift the
    # ManageTask limit too, or every abort after the 20th would be throttled for ever.
    limits = {**EMULATOR_LIMITS, ("mps", "ManageTask"): 100_000.0}
    async with running_emulator(limits=limits, faults=[held], seed=seed) as emu:
        wanted = {live(emu.world, 7 + i / 10) for i in range(targets)}
        spared = {live(emu.world, 2) for _ in range(5)} | {workflow(emu.world, 9) for _ in range(5)}
        config = tmp_path / "taskwatch.yaml"
        template = ON_POSTGRES if shared else CAPPED
        config.write_text(
            template % {"sid": SECRET_ID, "key": SECRET_KEY, "url": emu.url, "state": state}
        )
        delays = []
        open_at_kill = 0
        for _ in range(kills):
            seen = emu.emulator._seq
            proc = await start(config)
            first_request = functools.partial(lambda n: emu.emulator._seq > n, seen)
            await eventually(first_request, "the daemon's first request")
            delay = rng.uniform(0.0, 1.5)  # after its first request: mid-scan to mid-enforcement
            delays.append(delay)
            await asyncio.sleep(delay)
            proc.send_signal(signal.SIGKILL)
            await proc.wait()
            open_at_kill += sum(1 for *_, r in journal(state) if r is None)
        acted_during_kills = sum(reached(emu).values())

        final = await start(config)
        settling = not shared or settle_all
        try:
            await eventually(
                lambda: (
                    all(emu.world.mps[t].status == "FINISH" for t in wanted)
                    and (not settling or all(r is not None for *_, r in journal(state)))
                ),
                "every target aborted and every intent resolved",
                # a kill between an intent and its call leaves a running task that a shared
                # journal lets no one touch for IN_FLIGHT seconds
                within=90 if not shared else IN_FLIGHT + 60,
            )
        except AssertionError:
            final.send_signal(signal.SIGKILL)
            left = sorted(emu.world.mps[t].status for t in wanted)
            raise AssertionError(
                f"targets {collections.Counter(left)}; journal "
                f"{collections.Counter(r for *_, r in journal(state))}; emulator ManageTask "
                f"{collections.Counter(e.code for e in emu.emulator.log if e.action == 'ManageTask')}"  # noqa: E501
            ) from None
        await asyncio.sleep(2.5)  # two more cycles: nothing more may be sent
        final.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(final.wait(), timeout=15) == 0
        calls = reached(emu)
        sent = {e.params["TaskId"] for e in emu.emulator.log if e.action == "ManageTask"}
        rows = journal(state)
        spared_alive = all(emu.world.mps[t].status == "PROCESSING" for t in spared)
    audited = await audit(config)
    results = collections.Counter(r for *_, r in rows)
    backend = "postgresql" if shared else "sqlite"
    print(
        f"\ncrash loop ({backend}, {time.monotonic() - began:.1f} s): {kills} SIGKILLs at "
        f"{min(delays):.2f}–{max(delays):.2f}s after the first request; "
        f"{acted_during_kills}/{targets} aborts landed during the kills; {open_at_kill} intents "
        f"were open at a kill; journal {dict(results)}"
    )
    assert calls == dict.fromkeys(wanted, 1), calls  # each target exactly once, no other
    assert sent <= wanted
    assert spared_alive
    journaled = {t for _, t, _ in rows}
    assert wanted <= journaled  # no executed abort without its intent
    unresolved = {t for _, t, r in rows if r is None}
    if settling:
        assert unresolved == set()
    settled = {t for _, t, r in rows if r in ("done", "already_done")}
    assert settled | unresolved == wanted  # an unresolved intent's task was aborted once, above
    done = sorted(t for _, t, r in rows if r == "done")
    listed = sorted(str(a["task_id"]) for a in audited if a.get("result") == "done")
    assert listed == done, (listed, done)
    return {"open_at_kill": open_at_kill, "unresolved": len(unresolved)}


async def test_sigkill_at_random_points_of_enforcement_loses_nothing_and_acts_once(
    tmp_path: Path, journal_at: str
) -> None:
    await crash_loop(tmp_path, journal_at, kills=8, targets=12, seed=5)


@pytest.mark.slow
async def test_fifty_sigkills_at_random_points_lose_nothing_and_act_once(
    tmp_path: Path, journal_at: str
) -> None:
    await crash_loop(tmp_path, journal_at, kills=50, targets=60, seed=50, settle_all=True)
