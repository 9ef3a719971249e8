"""P2: API calls per steady-state cycle, 10,000 MPS tasks with about 1 % churn per minute.

The large scenario (``config/emulator/large.yaml``) runs in-process on a virtual clock with its
rate limits lifted (this figure is about counts, not rates). taskwatch's watcher runs a first cycle
(which sweeps ``FINISH`` and records history), the clock moves one interval (60 s), and the second
cycle is counted from the emulator's log. The naive poller (official SDK: list every status, then
describe every task) runs one cycle on the same world at the same moment, counted the same way.

Quick mode uses the same scenario scaled to 1,000 tasks (one generator every 18 s): the naive
poller's 10,000 describes alone would take longer than the quick budget.

``P2.notify`` runs the same minute with MPS notifications (``NotifyMode: Change``) on half of the
tasks that are waiting or running: each notification the emulator's world emits in that minute
is handed to the source's hint path (:meth:`taskwatch.cycle.Cycle.hint`, what the daemon does
with an accepted notification: one describe) before the second cycle; the figure is every call
of the minute, hints and cycle together.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
from pathlib import Path
from typing import Any

from taskwatch.clock import ManualClock
from taskwatch.emulator.notify_config import Notify
from taskwatch.emulator.ratelimit import RateLimits
from taskwatch.emulator.scenario import EmulatorCredential, loads_scenario
from taskwatch.emulator.server import Emulator
from taskwatch.emulator.world import MpsTask, Transition
from tests.bench.common import LIFTED, ROOT, Row, sdk_mps
from tests.bench.peers import NaivePoller
from tests.e2e.daemon import daemon
from tests.emulator.harness import Running, start_time

INTERVAL = 60.0
ONLY_MPS = {
    "mps": {"interval": "60s", "finish_sweep": "1h"},
    "dlc": {"enabled": False},
    "live": {"enabled": False},
}


def large_scenario(scale: float = 1.0) -> str:
    """``config/emulator/large.yaml`` with its credentials swapped for the harness's and every
    count (and the generator's rate) scaled."""
    text = Path(ROOT / "config/emulator/large.yaml").read_text(encoding="utf-8")
    if scale != 1.0:
        text = re.sub(r"count: (\d+)", lambda m: f"count: {max(1, round(int(m[1]) * scale))}", text)
        text = text.replace("every: 1.8s", f"every: {1.8 / scale:g}s")
    return text


def _notifying(emulator: Emulator, share: float) -> list[str]:
    """Give ``share`` of the waiting and running MPS tasks a Change-mode notification (to an
    address nobody serves: the benchmark takes them from the world, not the wire); the ids of
    the tasks whose notifications the world emits are collected in the list returned."""
    heard: list[str] = []
    active = sorted(k for k, t in emulator.world.mps.items() if t.status != "FINISH")
    for task_id in active[: round(len(active) * share)]:
        emulator.world.mps[task_id].notify = Notify(
            url="http://127.0.0.1:9/", key="k", mode="Change"
        )

    def listen(change: Transition) -> None:
        if isinstance(change.task, MpsTask) and change.event in ("PROCESSING", "FINISH"):
            heard.append(change.task.task_id)

    emulator.world.transition_listeners.append(listen)
    return heard


def _api_calls(emulator: Emulator, since: int) -> int:
    """API requests logged after sequence number ``since`` (failed notification deliveries,
    logged as product ``notify``, are not calls)."""
    return sum(1 for e in emulator.log if e.seq > since and e.product != "notify")


async def measure(scale: float, *, notify_share: float = 0.0) -> dict[str, Any]:
    from tests.emulator.harness import SECRET_ID, SECRET_KEY

    scenario = loads_scenario(large_scenario(scale), source="large.yaml")
    daemon_key = EmulatorCredential(SECRET_ID, SECRET_KEY)
    scenario = dataclasses.replace(scenario, credentials=(*scenario.credentials, daemon_key))
    clock = ManualClock(wall=start_time(), mono=1000.0)
    emulator = Emulator.from_scenario(scenario, clock)
    emulator.limits = RateLimits({tuple(k.split(".")): v for k, v in LIFTED.items()})  # type: ignore[misc]
    tasks = len(emulator.world.mps)
    heard = _notifying(emulator, notify_share) if notify_share else []
    async with emulator.serve() as url:
        running = Running(url=url, emulator=emulator, world=emulator.world, clock=clock)
        d = daemon(running, products=ONLY_MPS)
        source = d.sources[0]
        watcher = source.watcher
        async with d.transport:
            first = await watcher.cycle()
            del heard[:]
            clock.advance(INTERVAL)
            before = emulator._seq
            emulator.world.tick()  # the minute's transitions (and notifications) happen
            for task_id in dict.fromkeys(heard):
                await source.cycle.hint(task_id)
            hint_calls = _api_calls(emulator, before)
            second = await watcher.cycle()
            tw_calls = _api_calls(emulator, before)
        assert first.ok, first
        assert second.ok, second
        poller = NaivePoller(sdk_mps(url))
        before = emulator._seq
        await asyncio.to_thread(poller.cycle)
        naive_calls = _api_calls(emulator, before)
    return {
        "tasks": tasks,
        "taskwatch": tw_calls,
        "hints": len(dict.fromkeys(heard)),
        "hint_calls": hint_calls,
        "taskwatch_by_action": second.calls,
        "changed": {"new": second.new, "changed": second.changed, "gone": second.gone},
        "naive": naive_calls,
    }


async def run(quick: bool) -> list[Row]:
    scale = 0.1 if quick else 1.0
    m = await measure(scale)
    n = await measure(scale, notify_share=0.5)
    ratio = m["naive"] / m["taskwatch"]
    rest = {k: v for k, v in m.items() if k not in ("taskwatch", "naive")}
    notes = {k: v for k, v in n.items() if k not in ("taskwatch", "naive")}
    return [
        Row("P2", f"API calls per steady-state cycle, {m['tasks']:,} tasks, 1 %/min churn",
            m["taskwatch"], {"naive SDK poller": m["naive"]}, ratio, "naive ÷ taskwatch ≥ 20",
            ratio >= 20, rest),
        Row("P2.notify", "the same minute, notifications (Change) on half the active tasks: "
            "hint describes + cycle", n["taskwatch"],
            {"taskwatch without notifications": m["taskwatch"], "naive SDK poller": n["naive"]},
            n["naive"] / n["taskwatch"], "≤ 1.1 × without notifications",
            n["taskwatch"] <= 1.1 * m["taskwatch"], notes),
    ]  # fmt: skip
