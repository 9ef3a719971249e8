"""Hints relayed between replicas through a real PostgreSQL (``LISTEN``/``NOTIFY``): the wire
format, delivery to the other replica and not back to the sender, the router's choice to relay,
survival of a lost listening session, and a publish that fails without raising.

Waits are on events the relay sets (listening) or on deliveries, never on time."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import anyio
import psycopg
import pytest
from prometheus_client import CollectorRegistry
from structlog.testing import capture_logs

from taskwatch.clock import ManualClock
from taskwatch.hinting import HintRouter, Intake, relays
from taskwatch.hintrelay import CHANNEL, HintRelay, decode, encode
from taskwatch.hints import Hint
from taskwatch.metrics.registry import Metrics
from taskwatch.models import SourceKey
from taskwatch.settings import Settings, State, parse_settings
from tests.postgres import postgres_fixture, postgres_url_fixture

__all__ = ["postgres_fixture", "postgres_url_fixture"]

HINT = Hint("main", "mps", "1250000000-procedure-live-ab12", "ProcessEof", 5.0, region=None)


def relay(url: str, sender: str) -> tuple[HintRelay, Metrics]:
    metrics = Metrics(CollectorRegistry())
    return HintRelay(State(url=url), sender=sender, metrics=metrics, clock=ManualClock()), metrics


def relayed(metrics: Metrics, direction: str, result: str, source: str = "mps") -> float:
    value = metrics.registry.get_sample_value(
        "taskwatch_hints_relayed_total",
        {"direction": direction, "source": source, "result": result},
    )
    return value or 0.0


@asynccontextmanager
async def listening(
    r: HintRelay, answer: str = "accepted"
) -> AsyncIterator[Callable[[], list[Hint]]]:
    """``r`` listening in the background; yields a reader of what it delivered, in order."""
    got: list[Hint] = []
    arrived = anyio.Event()

    def deliver(hint: Hint) -> str:
        got.append(hint)
        arrived.set()
        return answer

    async with anyio.create_task_group() as tg:
        tg.start_soon(r.run, deliver)
        with anyio.fail_after(10):
            await r.listening.wait()
        yield lambda: got
        tg.cancel_scope.cancel()


async def delivered(got: Callable[[], list[Hint]], n: int) -> list[Hint]:
    with anyio.fail_after(10):
        while len(got()) < n:
            await anyio.lowlevel.checkpoint()
    return got()


def test_a_hint_travels_as_a_small_json_payload_and_comes_back_relayed() -> None:
    payload = encode(HINT, "pod-a")
    assert len(payload.encode()) < 8000
    assert decode(payload, received=9.0) == (
        "pod-a",
        Hint(HINT.account, HINT.product, HINT.task_id, HINT.kind, 9.0, None, relayed=True),
    )


@pytest.mark.parametrize(
    "payload",
    [
        "not json",
        "[]",
        '{"v": 2, "from": "a", "account": "m", "product": "mps", "task": "t", "kind": "k"}',
        '{"v": 1, "from": "a", "account": "", "product": "mps", "task": "t", "kind": "k"}',
        '{"v": 1, "from": "a", "account": "m", "product": "mps", "task": 7, "kind": "k"}',
        '{"v": 1, "from": "a", "account": "m", "product": "mps", "task": "t", "kind": "k",'
        ' "region": 3}',
    ],
)
def test_a_payload_this_version_does_not_read_is_refused(payload: str) -> None:
    assert decode(payload, received=0.0) is None


async def test_a_published_hint_reaches_the_other_replica_and_not_its_sender(
    postgres_url: str,
) -> None:
    a, a_metrics = relay(postgres_url, "pod-a")
    b, b_metrics = relay(postgres_url, "pod-b")
    async with listening(a) as a_got, listening(b) as b_got:
        assert await a.publish(HINT)
        [hint] = await delivered(b_got, 1)
        assert await b.publish(HINT)  # a gets b's, so a's own would have arrived before it
        [back] = await delivered(a_got, 1)
    assert (hint.key, hint.kind, hint.relayed) == (HINT.key, HINT.kind, True)
    assert back.relayed
    assert relayed(a_metrics, "out", "published") == 1
    assert relayed(b_metrics, "in", "accepted") == 1
    assert relayed(a_metrics, "in", "accepted") == 1
    await a.close()
    await b.close()


async def test_the_listener_listens_again_after_its_session_is_killed(postgres_url: str) -> None:
    a, _ = relay(postgres_url, "pod-a")
    b, _ = relay(postgres_url, "pod-b")
    async with listening(b) as got:
        first = b.listening
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            killed = admin.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE query = %s",
                (f"LISTEN {CHANNEL}",),
            ).fetchone()
        assert killed == (1,)
        with anyio.fail_after(10):
            while b.listening is first or not b.listening.is_set():
                await anyio.lowlevel.checkpoint()
        assert await a.publish(HINT)
        [hint] = await delivered(got, 1)
    assert hint.task_id == HINT.task_id
    await a.close()


async def test_a_hint_too_large_for_notify_is_counted_and_not_sent(postgres_url: str) -> None:
    """An MPS signature does not cover the body: a captured one can carry any task id, up to the
    route's 64 KiB. Past NOTIFY's limit it is not relayed (the database would refuse it)."""
    a, metrics = relay(postgres_url, "pod-a")
    huge = Hint("main", "mps", "x" * 9000, "WorkflowTask", 0.0)
    assert not await a.publish(huge)
    assert relayed(metrics, "out", "failed") == 1
    assert await a.publish(HINT)  # the session was not spoiled
    await a.close()


async def test_a_publish_that_cannot_reach_the_database_is_counted_and_does_not_raise(
    unused_tcp_port: int,
) -> None:
    dead, metrics = relay(f"postgresql://tw@127.0.0.1:{unused_tcp_port}/nowhere", "pod-a")
    assert not await dead.publish(HINT)
    assert relayed(metrics, "out", "failed") == 1


class _Cycle:
    """The part of a source's cycle the router calls: describes the hint's task (recorded)."""

    def __init__(self) -> None:
        self.hinted: list[str] = []

    async def hint(self, task_id: str) -> str:
        self.hinted.append(task_id)
        return "described"


def source(account: str = "main") -> Any:
    """A stand-in for a runtime source: what the router reads (its key, its tracked tasks) and
    calls (its cycle's ``hint``)."""
    watcher = SimpleNamespace(
        source=SourceKey(account, "mps", "global"), tracker=SimpleNamespace(active={})
    )
    return SimpleNamespace(watcher=watcher, cycle=_Cycle())


async def test_a_follower_relays_to_the_leader_which_describes_only_what_it_leads(
    postgres_url: str,
) -> None:
    follower_relay, follower_metrics = relay(postgres_url, "pod-b")
    leader_relay, _ = relay(postgres_url, "pod-a")
    here, there = source(), source()
    follower = HintRouter(lambda: [here], leading=lambda: False, relay=follower_relay)
    leader = HintRouter(lambda: [there], leading=lambda: True, relay=leader_relay)
    assert follower.accepting(HINT)  # at the door: it may relay
    async with listening(leader_relay) as got:
        assert await follower(HINT) == "relayed"
        [hint] = await delivered(got, 1)
    assert relayed(follower_metrics, "out", "published") == 1
    assert here.cycle.hinted == []
    assert leader.accepting(hint)
    assert await leader(hint) == "described"
    assert there.cycle.hinted == [HINT.task_id]
    # Another replica's shard: not taken, and a relayed hint is never relayed again.
    elsewhere = HintRouter(
        lambda: [there], leading=lambda: True, leads=lambda s: False, relay=leader_relay
    )
    assert not elsewhere.accepting(hint)
    assert await elsewhere(hint) == "not_leading"
    assert elsewhere.accepting(HINT)  # a notification of its own: it relays it
    # Without a relay nothing changes: a follower refuses at the door.
    without = HintRouter(lambda: [here], leading=lambda: False)
    assert not without.accepting(HINT)
    assert await without(HINT) == "not_leading"
    await follower_relay.close()
    await leader_relay.close()


def settings_with(url: str, **changes: Any) -> Settings:
    account = {
        "name": "main",
        "credentials": {"from": "static", "secret_id": "AKIDx", "secret_key": "k"},
    }
    data: dict[str, Any] = {
        "accounts": [account],
        "events": {"enabled": True},
        "leader": {"enabled": True, "namespace": "ns"},
        "state": {"url": url},
        **changes,
    }
    return parse_settings(data, source="t.yaml")


def test_hints_are_relayed_only_with_notifications_election_and_a_postgresql_journal(
    tmp_path: Path,
) -> None:
    url = "postgresql://tw@127.0.0.1:5432/tw"
    assert relays(settings_with(url))
    assert not relays(settings_with(url, events={"enabled": True, "relay": False}))
    assert not relays(settings_with(url, events={"enabled": False}))
    assert not relays(settings_with(url, leader={"enabled": False}))
    assert not relays(settings_with(url, state={"path": str(tmp_path / "j.db")}))


async def test_the_intake_listens_while_it_runs_and_lets_go_when_stopped(postgres_url: str) -> None:
    settings = settings_with(postgres_url)
    intake = Intake(
        settings=lambda: settings, sources=lambda: [], leading=lambda: False,
        metrics=Metrics(CollectorRegistry()), clock=ManualClock(), identity="pod-a",
    )  # fmt: skip
    relay_of = intake.router.relay
    assert relay_of is not None
    async with anyio.create_task_group() as tg:
        tg.start_soon(intake.run)
        with anyio.fail_after(10):
            await relay_of.listening.wait()
        assert await relay_of.publish(HINT)  # the publishing session opens
        tg.cancel_scope.cancel()
    await intake.stop()
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        left = admin.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid()"
        ).fetchone()
    assert left == (0,)  # both sessions closed: nothing left on the journal's database


def test_turning_the_relay_off_by_reload_says_a_restart_is_needed(tmp_path: Path) -> None:
    url = "postgresql://tw@127.0.0.1:5432/tw"
    on = settings_with(url)
    intake = Intake(
        settings=lambda: on, sources=lambda: [], leading=lambda: True,
        metrics=Metrics(CollectorRegistry()), clock=ManualClock(), identity="pod-a",
    )  # fmt: skip
    with capture_logs() as logs:
        intake.reload(settings_with(url, events={"enabled": True, "relay": False}))
    assert {"event": "config.restart_needed", "key": "events.relay", "log_level": "warning"} in logs
    assert intake.router.relay is not None  # read at start: still relaying until then
