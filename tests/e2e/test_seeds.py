"""The documentation's own example answers, replayed verbatim against the running daemon.

``tests/data/seeds/`` holds the "Output Example" JSON of the MPS ``DescribeTasks`` and
``DescribeTaskDetail`` pages, byte for byte (its README says where each came from). They are real
API output and they contradict each other: the PROCESSING listing shows ``taskId6`` for ever, while
the detail of any task says FINISH (created 06:21:27, began 06:21:28, finished 06:21:46: a queue
wait of 1 s and a run of 18 s). Every date is years older than the API's windows (7 days for the
list, 3 for the detail).

A scripted endpoint (:class:`tests.tencent.fakeserver.FakeTencent`: real HTTP, every signature
verified, timestamps checked against the test's clock) serves them, and the whole daemon
(:meth:`Supervisor.run`: HTTP server, loops, watcher, client, limiter) runs for more than a minute
of loop time under looptime, a cycle every 10 s and a sweep of the finished list about every 30 s.
The finished task is observed once, with its real run and queue wait, and described once. Two
variants change one thing in a seed answer (said where): the list record of the finished task
moves halfway (described once more, observed no more), and a detail that says PROCESSING while
disagreeing with the list's times (described once, not every cycle).
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import pytest
from aiohttp import web

from taskwatch.metrics.registry import Metrics
from taskwatch.settings import parse_settings
from taskwatch.supervisor import Supervisor
from tests.canary import CANARY_SECRET_ID, CANARY_SECRET_KEY
from tests.tencent.fakeserver import Fail, FakeTencent, Ok, Raw, Reply

pytestmark = pytest.mark.looptime

SEEDS = Path(__file__).parent.parent / "data" / "seeds"
LISTS = {
    ("PROCESSING", ""): "mps_describe_tasks_example3_processing.json",
    ("FINISH", ""): "mps_describe_tasks_example1_finish.json",
    ("FINISH", "taskId6"): "mps_describe_tasks_example2_finish_scroll.json",
}
DETAIL = "mps_describe_task_detail_example1.json"
NO_WAITING = {"TotalCount": 0, "TaskSet": [], "ScrollToken": ""}
"""The pages have no WAITING example: an empty list (the test's own answer, not a seed's)."""
RUN_FOR = 65.0
"""Seconds of loop time the daemon runs: more than a minute."""
LABELS = {"product": "mps", "type": "WorkflowTask"}


class LoopCalendar:
    """Loop time (looptime's here), and a wall clock that moves with it from ``start``: the
    daemon signs and ages tasks on it, and the endpoint checks timestamps against it."""

    def __init__(self, start: datetime) -> None:
        self.start = start

    def monotonic(self) -> float:
        return asyncio.get_running_loop().time()

    def now(self) -> datetime:
        return self.start + timedelta(seconds=self.monotonic())


class SeedApi(FakeTencent):
    """Answers by action and parameters: ``lists`` by (Status, ScrollToken), ``detail`` for any
    TaskId; both start as the seed files' bytes, and a test may swap them mid-run."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.lists = {key: (SEEDS / name).read_bytes() for key, name in LISTS.items()}
        self.detail = (SEEDS / DETAIL).read_bytes()
        self.asked: list[tuple[str, dict[str, Any]]] = []

    def reply_to(self, action: str, params: dict[str, Any]) -> Reply:
        if action == "DescribeTaskDetail":
            return Raw(self.detail)
        if action == "DescribeTasks" and params.get("Status") == "WAITING":
            return Ok(dict(NO_WAITING))
        if action == "DescribeTasks":
            body = self.lists.get((str(params.get("Status")), str(params.get("ScrollToken", ""))))
            if body is not None:
                return Raw(body)
        return Fail("InvalidParameterValue", f"no seed answers {action} {params}")

    async def _answer(self, request: web.Request, reply: Reply) -> web.StreamResponse:
        action = request.headers.get("X-TC-Action", "")
        params = json.loads(await request.read() or b"{}")
        self.asked.append((action, params))
        return await super()._answer(request, self.reply_to(action, params))

    def count(self, action: str, **params: Any) -> int:
        return sum(
            1
            for a, p in self.asked
            if a == action and all(p.get(k) == v for k, v in params.items())
        )


def edited(raw: bytes, edit: Callable[[dict[str, Any]], None]) -> bytes:
    """A seed answer with one thing changed by the test (no longer verbatim, by design)."""
    doc = json.loads(raw)
    edit(doc["Response"])
    return json.dumps(doc).encode()


def seed_daemon(api: SeedApi, clock: LoopCalendar, state: Path) -> Supervisor:
    settings = parse_settings(
        {
            "accounts": [
                {
                    "name": "main",
                    "credentials": {
                        "from": "static",
                        "secret_id": CANARY_SECRET_ID,
                        "secret_key": CANARY_SECRET_KEY,
                    },
                    "endpoint": api.url,
                    "regions": ["ap-guangzhou"],
                }
            ],
            "products": {
                "mps": {"interval": "10s", "finish_sweep": "30s"},
                "dlc": {"enabled": False},
                "live": {"enabled": False},
            },
            "http": {"listen": "127.0.0.1:0"},
            "state": {"path": str(state / "state.db")},
        },
        source="seeds",
    )
    return Supervisor(
        settings, clock=clock, metrics=Metrics(clock=clock), rng=random.Random(20190716)
    )


async def run_for(
    d: Supervisor, seconds: float, *, midway: Callable[[], None] | None = None
) -> None:
    """The whole daemon for ``seconds`` of loop time; ``midway`` runs halfway through."""
    async with anyio.create_task_group() as tg:
        tg.start_soon(lambda: d.run(install_signal_handlers=False))
        await d.started.wait()
        await anyio.sleep(seconds / 2)  # loop time: looptime fast-forwards it
        if midway is not None:
            midway()
        await anyio.sleep(seconds / 2)
        d.stop()


def observed(d: Supervisor) -> dict[str, float | None]:
    """What the registry says about finished WorkflowTasks."""
    sample = d.metrics.registry.get_sample_value
    return {
        "finished": sample("taskwatch_tasks_finished_total", {**LABELS, "result": "success"}),
        "durations": sample("taskwatch_task_duration_seconds_count", LABELS),
        "duration_sum": sample("taskwatch_task_duration_seconds_sum", LABELS),
        "queue_waits": sample("taskwatch_task_queue_wait_seconds_count", LABELS),
        "queue_wait_sum": sample("taskwatch_task_queue_wait_seconds_sum", LABELS),
    }


def running_gauge(d: Supervisor) -> float | None:
    labels = {"account": "main", "region": "global", **LABELS, "status": "PROCESSING"}
    return d.metrics.registry.get_sample_value("taskwatch_tasks", labels)


ONCE = {"finished": 1.0, "durations": 1.0, "duration_sum": 18.0, "queue_waits": 1.0,
        "queue_wait_sum": 1.0}  # fmt: skip
"""taskwatch_tasks_finished_total moved once; one run of 18 s, one queue wait of 1 s."""


async def test_the_seed_answers_replayed_for_a_minute_observe_the_finished_task_once(
    tmp_path: Path,
) -> None:
    clock = LoopCalendar(datetime(2026, 3, 1, tzinfo=UTC))
    async with SeedApi(secret_key=CANARY_SECRET_KEY, clock=clock) as api:
        d = seed_daemon(api, clock, tmp_path)
        await run_for(d, RUN_FOR)
    (source,) = d.sources
    cycles = source.loop.heartbeat.cycles
    assert cycles >= 6, "several cycles over the minute"
    assert api.count("DescribeTasks", Status="PROCESSING") == cycles
    assert api.count("DescribeTasks", Status="FINISH", ScrollToken="taskId6") >= 2, "sweeps"
    assert (api.count("DescribeTaskDetail"), observed(d)) == (1, ONCE)  # one call: taskId6
    assert source.watcher.tracker.active == {}, "a finished task is not watched as running"
    assert running_gauge(d) in (None, 0.0)


async def test_a_finished_task_whose_list_record_changes_is_described_again_not_observed_again(
    tmp_path: Path,
) -> None:
    def moved(response: dict[str, Any]) -> None:
        response["TaskSet"][0]["BeginProcessTime"] = "2018-12-27T13:58:00Z"

    clock = LoopCalendar(datetime(2026, 3, 1, tzinfo=UTC))
    async with SeedApi(secret_key=CANARY_SECRET_KEY, clock=clock) as api:
        d = seed_daemon(api, clock, tmp_path)
        key = ("PROCESSING", "")
        await run_for(
            d, RUN_FOR, midway=lambda: api.lists.update({key: edited(api.lists[key], moved)})
        )
    assert (api.count("DescribeTaskDetail"), observed(d)) == (2, ONCE)
    assert d.sources[0].watcher.tracker.active == {}


async def test_a_detail_and_a_list_that_disagree_on_a_running_task_cost_one_detail_call(
    tmp_path: Path,
) -> None:
    def running(response: dict[str, Any]) -> None:
        response["Status"] = response["WorkflowTask"]["Status"] = "PROCESSING"
        response["FinishTime"] = "0000-00-00T00:00:00Z"

    clock = LoopCalendar(datetime(2026, 3, 1, tzinfo=UTC))
    async with SeedApi(secret_key=CANARY_SECRET_KEY, clock=clock) as api:
        api.detail = edited(api.detail, running)  # its times still differ from the list's
        d = seed_daemon(api, clock, tmp_path)
        await run_for(d, RUN_FOR)
    (source,) = d.sources
    assert source.loop.heartbeat.cycles >= 6
    assert api.count("DescribeTaskDetail", TaskId="taskId6") == 1
    assert api.count("DescribeTaskDetail") == 1
    (task,) = source.watcher.tracker.active.values()
    assert (task.id, task.status) == ("taskId6", "PROCESSING")
    assert task.detail is not None
    assert task.detail["BeginProcessTime"] == "2019-07-16T06:21:28Z"
    assert running_gauge(d) == 1.0
    assert observed(d)["finished"] is None
