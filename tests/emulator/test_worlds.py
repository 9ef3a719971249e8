"""A world per SecretId (``Emulator(worlds=...)``): each key is an account of its own, over real
HTTP; a key without a world of its own sees the shared one."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import pytest

from taskwatch.clock import ManualClock
from taskwatch.emulator.scenario import EmulatorCredential, loads_scenario
from taskwatch.emulator.server import Emulator
from taskwatch.emulator.world import MpsTask, Plan, World
from taskwatch.tencent import errors as te
from taskwatch.tencent.transport import Transport
from tests.emulator.harness import (
    SECRET_ID,
    SECRET_KEY,
    Running,
    fast_transport,
    start_time,
    taskwatch_client,
)

KEYS = {name: (f"AKIDWORLD{name.upper()}{'0' * 20}", f"secret-of-{name}") for name in ("a", "b")}


def _world(clock: ManualClock, *ids: str, wait: float = 600.0) -> World:
    world = World(clock, seed=1)
    for task_id in ids:
        world.add_mps(MpsTask(task_id=task_id, task_type="WorkflowTask", status="WAITING",
                              created=world.now(), plan=Plan(wait=wait, run=600)))  # fmt: skip
    return world


@asynccontextmanager
async def accounts(worlds: dict[str, World], shared: World) -> AsyncIterator[Running]:
    credentials = [EmulatorCredential(SECRET_ID, SECRET_KEY)]
    credentials += [EmulatorCredential(*KEYS[n]) for n in KEYS]
    emulator = Emulator(
        world=shared,
        credentials=credentials,
        clock=shared.clock,
        worlds={KEYS[n][0]: w for n, w in worlds.items()},
    )
    async with emulator.serve() as url:
        assert isinstance(shared.clock, ManualClock)
        yield Running(url=url, emulator=emulator, world=shared, clock=shared.clock)


async def _listed(emu: Running, transport: Transport, key: str | None, status: str) -> set[str]:
    sid, secret = KEYS[key] if key else (SECRET_ID, SECRET_KEY)
    client = taskwatch_client(emu, transport, secret_id=sid, secret_key=secret)
    answer = await client.call("mps", "DescribeTasks", {"Status": status, "Limit": 100})
    return {t["TaskId"] for t in answer["TaskSet"]}


def _clock() -> ManualClock:
    return ManualClock(wall=start_time(), mono=1000.0)


async def test_each_key_lists_the_tasks_of_its_own_world_and_others_the_shared_one() -> None:
    clock = _clock()
    worlds = {"a": _world(clock, "a-1", "a-2"), "b": _world(clock, "b-1")}
    async with accounts(worlds, _world(clock, "shared-1")) as emu, fast_transport() as tr:
        assert await _listed(emu, tr, "a", "WAITING") == {"a-1", "a-2"}
        assert await _listed(emu, tr, "b", "WAITING") == {"b-1"}
        assert await _listed(emu, tr, None, "WAITING") == {"shared-1"}


async def test_a_world_moves_on_the_clock_when_its_own_key_calls() -> None:
    clock = _clock()
    worlds = {"a": _world(clock, "a-1", wait=10), "b": _world(clock, "b-1", wait=10)}
    async with accounts(worlds, _world(clock)) as emu, fast_transport() as tr:
        clock.advance(15)
        assert await _listed(emu, tr, "b", "PROCESSING") == {"b-1"}
        assert await _listed(emu, tr, "a", "PROCESSING") == {"a-1"}
        assert await _listed(emu, tr, "a", "WAITING") == set()


async def test_an_abort_through_one_key_reaches_only_its_own_world() -> None:
    clock = _clock()
    worlds = {"a": _world(clock, "same-id"), "b": _world(clock, "same-id")}
    async with accounts(worlds, _world(clock)) as emu, fast_transport() as tr:
        sid, secret = KEYS["a"]
        client = taskwatch_client(emu, tr, secret_id=sid, secret_key=secret)
        await client.call("mps", "ManageTask", {"OperationType": "Abort", "TaskId": "same-id"})
        assert worlds["a"].mps["same-id"].aborted
        assert not worlds["b"].mps["same-id"].aborted
        other = taskwatch_client(emu, tr)  # the shared world has no such task
        with pytest.raises(te.TencentError):
            await other.call("mps", "ManageTask", {"OperationType": "Abort", "TaskId": "same-id"})


async def test_a_posted_scenario_replaces_the_worlds_of_every_key() -> None:
    clock = _clock()
    sid, secret = KEYS["a"]
    posted = (
        f"credentials:\n  - {{secret_id: {sid}, secret_key: {secret}}}\n"
        "mps:\n  tasks:\n    - {type: WorkflowTask, status: WAITING, count: 1, created: 0s,"
        " wait: 10m, duration: 10m}\n"
    )
    async with accounts({"a": _world(clock, "a-1")}, _world(clock)) as emu:
        emu.emulator._scenario_loader = lambda body, c: Emulator.from_scenario(
            loads_scenario(body, source="posted"), c
        )
        async with (
            aiohttp.ClientSession() as s,
            s.post(emu.url + "/_emulator/scenario", data=posted.encode()) as r,
        ):
            assert r.status == 200
        async with fast_transport() as tr:
            listed = await _listed(emu, tr, "a", "WAITING")
    assert len(listed) == 1
    assert listed == set(emu.emulator.world.mps)
