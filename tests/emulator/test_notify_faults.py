"""Notification faults, each observable at a real receiver: drop, duplicate, forge, replay of an
expired body, reorder and delay; failed deliveries in the emulator's log; a pump that stops
cleanly with sends in flight; one seed, one sequence of faults.
"""

from __future__ import annotations

import asyncio

import anyio

from taskwatch.emulator.notify import Notification
from taskwatch.emulator.notify_config import Notify, NotifyFaults
from taskwatch.emulator.outbox import Outbox
from taskwatch.emulator.world import LiveTask, MpsTask, Plan, World
from tests.e2e.waiting import eventually
from tests.emulator.harness import Running, running_emulator
from tests.emulator.receiver import KEY, Receiver, receiving, valid_sign


def finish_now(world: World, url: str) -> MpsTask:
    """A task with a notify config that finishes now: one notification on the next tick."""
    task = MpsTask(world.mps_id("WorkflowTask"), "WorkflowTask", "WAITING", world.now(),
                   plan=Plan(None, None), notify=Notify(url, KEY))  # fmt: skip
    world.add_mps(task)
    world.finish_mps(task, world.now())
    return task


def task_ids(rx: Receiver) -> list[str]:
    return [b["WorkflowTaskEvent"]["TaskId"] for b in rx.bodies()]


def faults_of(running: Running) -> list[str]:
    return [d.fault for d in running.emulator.notifications]


async def test_drop_with_probability_one_sends_nothing_and_records_the_drop() -> None:
    async with receiving() as rx, running_emulator() as running:
        running.emulator.notify_faults = NotifyFaults(drop=1.0)
        finish_now(running.world, f"{rx.url}/mps")
        await eventually(lambda: running.emulator.notifications, "the drop recorded")
        running.emulator.notify_faults = NotifyFaults()
        await rx.settle(running.world)
    assert rx.got == []
    dropped = running.emulator.notifications[0]
    assert (dropped.fault, dropped.status) == ("drop", None)


async def test_duplicate_sends_the_same_body_twice() -> None:
    async with receiving() as rx, running_emulator() as running:
        running.emulator.notify_faults = NotifyFaults(duplicate=1.0)
        finish_now(running.world, f"{rx.url}/mps")
        await rx.wait_for(2)
    first, second = rx.bodies()
    assert first == second
    assert faults_of(running) == ["", "duplicate"]


async def test_forge_sends_a_sign_the_key_does_not_verify() -> None:
    async with receiving() as rx, running_emulator() as running:
        running.emulator.notify_faults = NotifyFaults(forge=1.0)
        finish_now(running.world, f"{rx.url}/mps")
        await rx.wait_for(1)
    body = rx.bodies()[0]
    assert len(body["Sign"]) == 32
    assert not valid_sign(body)
    assert faults_of(running) == ["forge"]


async def test_a_forged_live_callback_goes_to_a_wrong_token() -> None:
    async with receiving() as rx, running_emulator() as running:
        running.emulator.notify_faults = NotifyFaults(forge=1.0)
        now = running.world.now()
        url = f"{rx.url}/live/prod/secret-token"
        running.world.add_live(LiveTask("20001", now, now, now + 1, now + 60, callback_url=url))
        running.clock.advance(1)
        await rx.wait_for(1)
    path = rx.got[0].path
    assert path.startswith("/live/prod/forged-")
    assert "secret-token" not in path


async def test_replay_expired_sends_the_same_body_again_once_its_timestamp_passed() -> None:
    async with receiving() as rx, running_emulator() as running:
        running.emulator.notify_faults = NotifyFaults(replay_expired=1.0)
        finish_now(running.world, f"{rx.url}/mps")
        await rx.wait_for(1)
        running.emulator.notify_faults = NotifyFaults()
        original = rx.bodies()[0]
        running.clock.advance(600)  # now == Timestamp: not yet past
        await rx.settle(running.world)
        assert len(rx.bodies("/mps")) == 1
        running.clock.advance(1)
        await rx.wait_for(2, path="/mps")
    assert rx.bodies("/mps")[1] == original
    assert original["Timestamp"] < running.clock.now().timestamp()
    assert faults_of(running)[-1] == "replay_expired"


async def test_reorder_holds_one_and_sends_it_after_the_next() -> None:
    async with receiving() as rx, running_emulator() as running:
        running.emulator.notify_faults = NotifyFaults(reorder=1.0)
        first = finish_now(running.world, f"{rx.url}/mps")
        second = finish_now(running.world, f"{rx.url}/mps")
        await rx.wait_for(2)
    assert task_ids(rx) == [second.task_id, first.task_id]
    assert faults_of(running) == ["", "reorder"]


async def test_delay_holds_each_send_for_real_time() -> None:
    async with receiving() as rx, running_emulator() as running:
        running.emulator.notify_faults = NotifyFaults(delay=(0.3, 0.3))
        began = asyncio.get_running_loop().time()
        finish_now(running.world, f"{rx.url}/mps")
        await rx.wait_for(1)
    assert rx.got[0].at - began >= 0.3
    assert running.emulator.notifications[0].delay == 0.3


async def test_a_failed_delivery_is_in_the_emulator_log_without_the_url_path() -> None:
    async with receiving() as rx, running_emulator() as running:
        rx.status = 500
        task = finish_now(running.world, f"{rx.url}/events/mps/secret-token")
        await eventually(lambda: running.emulator.notifications, "the attempt")
        await eventually(lambda: any(e.product == "notify" for e in running.emulator.log), "log")
    (entry,) = [e for e in running.emulator.log if e.product == "notify"]
    assert (entry.action, entry.code) == ("WorkflowTask", "HTTP 500")
    assert entry.params == {"task_id": task.task_id, "url": rx.url, "fault": ""}
    assert running.emulator.notifications[0].status == 500


async def test_an_unreachable_receiver_is_recorded_with_its_error_class() -> None:
    async with running_emulator() as running:
        finish_now(running.world, "http://127.0.0.1:9/nobody")  # discard port: refused
        await eventually(lambda: running.emulator.notifications, "the attempt")
    delivery = running.emulator.notifications[0]
    assert delivery.status is None
    assert delivery.error is not None
    assert "Error" in delivery.error


async def test_leaving_serve_cancels_a_delayed_send_and_stops_the_pump() -> None:
    async with receiving() as rx:
        with anyio.fail_after(5):
            async with running_emulator() as running:
                running.emulator.notify_faults = NotifyFaults(delay=(60.0, 60.0))
                finish_now(running.world, f"{rx.url}/mps")
                notifier = running.emulator.notifier
                await eventually(lambda: notifier._delayed, "a delayed send in flight")
        assert not running.emulator.notifier.running
    assert rx.got == []
    assert list(running.emulator.notifications) == []


def test_one_seed_gives_one_sequence_of_faults() -> None:
    def plan(seed: int) -> list[str]:
        outbox = Outbox(now=lambda: 0.0, faults=NotifyFaults(drop=0.3, duplicate=0.3,
                        forge=0.3, reorder=0.3, delay=(0, 1), seed=seed))  # fmt: skip
        out: list[str] = []
        for i in range(50):
            outbox.put(Notification("mps", "http://x/", {"Sign": "s", "n": i}, "WorkflowTask",
                                    str(i), 0.0))  # fmt: skip
            out += [f"{s.notification.task_id}:{s.fault}:{s.delay:.6f}" for s in outbox.ready(0)]
        return out

    assert plan(7) == plan(7)
    assert plan(7) != plan(8)
