"""One notifier for the daemon's life: handing queued events over, and swapping notifiers.

Against the real local receiver of :mod:`tests.test_notify`; time never passes for real (the
notifiers' ``sleep`` is injected and holds until the test lets it go). Notifiers are counted as
running tasks: each running one serves each target in a task named ``notify:<target>``.
"""

from __future__ import annotations

import random
from collections import Counter

import anyio
import pytest

from taskwatch.actions.notify import Notifier, NotifierHost, Target
from taskwatch.clock import ManualClock
from tests.test_notify import HeldSleep, Receiver, Results, record, target
from tests.test_notify import receiver as receiver  # the fixture


class Pair:
    """Notifiers on one manual clock, held sleep and result log, as the daemon builds them."""

    def __init__(self) -> None:
        self.clock = ManualClock()
        self.sleep = HeldSleep(self.clock)
        self.results = Results()

    def notifier(self, *targets: Target) -> Notifier:
        return Notifier(
            targets,
            clock=self.clock,
            sleep=self.sleep,
            on_result=self.results,
            rng=random.Random(7),
            drain_timeout=2,
        )


def serving() -> Counter[str]:
    """Running tasks that serve a target (``notify:<target>``): one per target per notifier."""
    names = (t.name or "" for t in anyio.get_running_tasks())
    return Counter(n for n in names if n.startswith("notify:"))


async def settle() -> None:
    await anyio.wait_all_tasks_blocked()


def test_hand_over_moves_what_the_same_named_target_wants_and_keeps_the_rest() -> None:
    p = Pair()
    failures_only = frozenset({"failed"})
    old = p.notifier(target("http://a.example/", name="ops"), target("http://b.example/", name="x"))
    old.notify(record(1))
    old.notify(record(2, result="failed"))
    new = p.notifier(target("http://c.example/", name="ops", results=failures_only))
    assert old.hand_over(new) == 1
    assert (new.pending("ops"), old.pending("ops"), old.pending("x")) == (1, 1, 2)
    assert p.results.seen == []  # nothing counted: nothing sent, nothing dropped yet


async def test_handed_over_events_keep_their_age_so_the_swap_does_not_put_the_flush_off(
    receiver: Receiver,
) -> None:
    p = Pair()
    old = p.notifier(target(receiver.url(), flush_interval=10))
    old.notify(record(1))
    p.clock.advance(7)
    new = p.notifier(target(receiver.url(), flush_interval=10, batch_size=50))
    old.hand_over(new)
    async with anyio.create_task_group() as tg:
        tg.start_soon(new.run)
        await p.sleep.asked()
        assert p.sleep.delays == [3.0]  # 10 s after it was queued, not after the swap
        p.sleep.release()
        await receiver.wait_for(1)
        await new.aclose()
        await old.aclose()
    assert [b["events"][0]["task_id"][-1] for b in receiver.bodies()] == ["1"]
    assert p.results.seen == [("ops", "sent")]


async def test_the_host_runs_one_notifier_through_replacements_and_closes_each_old_one(
    receiver: Receiver,
) -> None:
    p = Pair()
    first = p.notifier(target(receiver.url(), flush_interval=60))
    host = NotifierHost(first)
    async with anyio.create_task_group() as tg:
        tg.start_soon(host.run)
        await settle()
        assert serving() == Counter({"notify:ops": 1})
        first.notify(record(1))
        replacements = [p.notifier(target(receiver.url(), flush_interval=60)) for _ in range(5)]
        for n in replacements:
            host.replace(n)
            await settle()
            assert serving() == Counter({"notify:ops": 1})
        assert host.current is replacements[-1]
        assert replacements[-1].pending("ops") == 1  # handed along the whole chain
        await host.aclose()
    assert [b["events"][0]["task_id"][-1] for b in receiver.bodies()] == ["1"]
    assert p.results.seen == [("ops", "sent")]
    first.notify(record(2))  # closed, every one of them: counted, never queued
    assert p.results.seen[-1] == ("ops", "dropped")


async def test_a_target_a_reload_removed_gets_its_queue_flushed_by_the_old_notifier(
    receiver: Receiver,
) -> None:
    p = Pair()
    old = p.notifier(target(receiver.url("/gone"), name="gone", flush_interval=60))
    host = NotifierHost(old)
    async with anyio.create_task_group() as tg:
        tg.start_soon(host.run)
        old.notify(record(1))
        await settle()
        host.replace(p.notifier(target(receiver.url("/new"), name="new")))
        await receiver.wait_for(1)  # the old one's close flushed it at once
        await host.aclose()
    assert [(r.path, r.json()["events"][0]["task_id"][-1]) for r in receiver.requests] == [
        ("/gone", "1")
    ]


async def test_a_replacement_before_the_host_runs_starts_with_it_and_the_old_one_closes(
    receiver: Receiver,
) -> None:
    p = Pair()
    old = p.notifier(target(receiver.url("/gone"), name="gone"))
    old.notify(record(1))
    host = NotifierHost(old)
    new = p.notifier(target(receiver.url()))
    host.replace(new)
    async with anyio.create_task_group() as tg:
        tg.start_soon(host.run)
        await receiver.wait_for(1)
        assert serving() == Counter({"notify:ops": 1})
        await host.aclose()
    assert [r.path for r in receiver.requests] == ["/gone"]


async def test_a_closing_host_ignores_a_replacement() -> None:
    p = Pair()
    first = p.notifier(target("http://a.example/"))
    host = NotifierHost(first)
    await host.aclose()
    host.replace(p.notifier(target("http://b.example/")))
    assert host.current is first
    with anyio.fail_after(1):
        await host.run()  # closed: returns at once


@pytest.mark.parametrize("notifier", [False, True])
async def test_a_host_without_notifications_runs_until_closed(notifier: bool) -> None:
    p = Pair()
    host = NotifierHost(p.notifier(target("http://a.example/")) if notifier else None)
    async with anyio.create_task_group() as tg:
        tg.start_soon(host.run)
        await settle()
        await host.aclose()
    assert host.current is None or host.current.pending("ops") == 0
