"""SIGKILL between intent and outcome, then a restart: reconciled, and no task acted on twice."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import signal
import sqlite3
from pathlib import Path

from taskwatch.emulator.faults import Fault
from tests.e2e.daemon import EMULATOR_LIMITS
from tests.e2e.test_policies import live
from tests.e2e.waiting import eventually
from tests.emulator.harness import SECRET_ID, SECRET_KEY, Running, running_emulator
from tests.processes import spawn

ROOT = Path(__file__).parent.parent.parent

CONFIG = """
accounts:
  - name: main
    credentials: {from: static, secret_id: %(sid)s, secret_key: %(key)s}
    endpoint: %(url)s
products:
  mps: {interval: 1s, jitter: 0}
  dlc: {enabled: false}
  live: {enabled: false}
api: {budget: 1.0}
http: {listen: "127.0.0.1:0"}
state: {path: %(state)s}
policies:
  - name: abort-long-live
    product: mps
    filters:
      - type: LiveStreamProcessTask
      - status: PROCESSING
      - running_longer_than: 6h
    action: abort
    enforce: true
"""


async def start(config: Path) -> asyncio.subprocess.Process:
    return await spawn(
        "run",
        "--config",
        str(config),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )


def journal(state: Path) -> list[tuple[int, str, str | None]]:
    if not state.exists():
        return []
    try:
        with sqlite3.connect(f"file:{state}?mode=ro", uri=True, timeout=5) as db:
            return list(
                db.execute(
                    "SELECT i.id, i.task_id, o.result FROM intents i "
                    "LEFT JOIN outcomes o ON o.intent_id = i.id ORDER BY i.id"
                )
            )
    except sqlite3.OperationalError:  # the daemon is creating it right now: look again later
        return []


def abort_calls(emu: Running) -> collections.Counter[str]:
    return collections.Counter(
        e.params["TaskId"] for e in emu.emulator.log if e.action == "ManageTask"
    )


async def test_sigkill_between_intent_and_outcome_then_restart_acts_on_no_task_twice(
    tmp_path: Path,
) -> None:
    slow_abort = Fault(kind="latency", product="mps", action="ManageTask", seconds=1.5, count=1)
    async with running_emulator(limits=EMULATOR_LIMITS, faults=[slow_abort]) as emu:
        targets = {live(emu.world, 7 + i) for i in range(3)}
        state = tmp_path / "state" / "journal.db"
        config = tmp_path / "taskwatch.yaml"
        config.write_text(
            CONFIG % {"sid": SECRET_ID, "key": SECRET_KEY, "url": emu.url, "state": state}
        )
        first = await start(config)
        # The first abort is in flight (the emulator holds it 1.5 s): its intent has no outcome.
        await eventually(lambda: any(r is None for _, _, r in journal(state)), "an open intent")
        first.send_signal(signal.SIGKILL)
        await first.wait()
        (killed_id, killed_task, _), *_ = journal(state)
        # Either the request had left before the kill (the emulator holds it, then aborts the
        # task) or it had not (the task keeps running). Both are legitimate crash histories.
        with contextlib.suppress(AssertionError):  # a request already on the wire arrives
            await eventually(lambda: slow_abort.fired, "an abort on the wire", within=1.0)
        sent_before_kill = any(
            e.action == "ManageTask" and e.params.get("TaskId") == killed_task
            for e in emu.emulator.log
        ) or bool(slow_abort.fired)
        if sent_before_kill:
            await eventually(
                lambda: emu.world.mps[killed_task].status == "FINISH", "the held abort"
            )

        second = await start(config)
        await eventually(
            lambda: (
                all(emu.world.mps[t].status == "FINISH" for t in targets)
                and all(r is not None for _, _, r in journal(state))
            ),
            "every target aborted and every intent resolved",
        )
        await asyncio.sleep(2.5)  # two more cycles: nothing more may be sent
        second.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(second.wait(), timeout=15) == 0
        calls = abort_calls(emu)
        rows = journal(state)
    assert calls == dict.fromkeys(targets, 1), calls
    resolved = {i: r for i, _, r in rows}
    if sent_before_kill:  # re-described after the restart: it had ended, nothing sent again
        assert resolved[killed_id] == "already_done"
        assert sorted(t for _, t, r in rows if r == "done") == sorted(targets - {killed_task})
    else:  # still running after the restart: acted on once, the stale intent superseded
        assert resolved[killed_id] == "failed"
        assert sorted(t for _, t, r in rows if r == "done") == sorted(targets)
