"""The peers taskwatch is measured against, each in its best ordinary use.

- :func:`aiolimiter_gate`: ``aiolimiter.AsyncLimiter(N, 1)`` (N per one second, its documented
  form) around each call: ``async with limiter: await call()``; with ``bursting=False``,
  ``AsyncLimiter(1, 1 / N)``, the form aiolimiter's documentation gives for no bursts (a bucket of
  one, so entries are at least ``1 / N`` apart).
- :func:`naive_dispatch`: a loop that starts one call and sleeps ``1 / N``, as fast as it can,
  without waiting for answers (so a slow answer does not lower its rate).
- :class:`NaivePoller`: a poller on the official SDK (sync ``MpsClient``, keep-alive on) that
  each cycle lists every status (``WAITING``, ``PROCESSING``, ``FINISH``) to the last page with
  ``Limit=100`` and ``ScrollToken``, then describes every task it listed: the obvious way to learn
  every task's state with an API whose list call needs a ``Status``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from aiolimiter import AsyncLimiter

STATUSES = ("WAITING", "PROCESSING", "FINISH")


def aiolimiter_gate(
    rate: float, *, bursting: bool = True
) -> Callable[[Callable[[], Awaitable[None]]], Awaitable[None]]:
    limiter = AsyncLimiter(rate, 1) if bursting else AsyncLimiter(1, 1 / rate)

    async def through(call: Callable[[], Awaitable[None]]) -> None:
        async with limiter:
            await call()

    return through


async def naive_dispatch(
    call: Callable[[], Awaitable[None]], *, rate: float, until: float, concurrency: int
) -> None:
    loop = asyncio.get_running_loop()
    slots = asyncio.Semaphore(concurrency)
    running: set[asyncio.Task[None]] = set()

    async def one() -> None:
        try:
            await call()
        finally:
            slots.release()

    while loop.time() < until:
        await slots.acquire()
        task = asyncio.create_task(one())
        running.add(task)
        task.add_done_callback(running.discard)
        await asyncio.sleep(1 / rate)
    await asyncio.gather(*running)


class NaivePoller:
    """List every status fully, describe every task (official SDK, sync client, in a thread)."""

    def __init__(self, client: Any) -> None:
        from tencentcloud.mps.v20190612 import models

        self.client = client
        self.models = models
        self.calls = 0

    def list_all(self) -> dict[str, str]:
        """TaskId → the status it was listed under."""
        found: dict[str, str] = {}
        for status in STATUSES:
            token = ""
            while True:
                req = self.models.DescribeTasksRequest()
                req.Status, req.Limit = status, 100
                if token:
                    req.ScrollToken = token
                self.calls += 1
                resp = self.client.DescribeTasks(req)
                for t in resp.TaskSet or []:
                    found[t.TaskId] = status
                token = resp.ScrollToken or ""
                if not token or not resp.TaskSet:
                    break
        return found

    def describe(self, task_id: str) -> Any:
        req = self.models.DescribeTaskDetailRequest()
        req.TaskId = task_id
        self.calls += 1
        return self.client.DescribeTaskDetail(req)

    def cycle(self) -> dict[str, Any]:
        """One full cycle: every detail, by id."""
        return {task_id: self.describe(task_id) for task_id in self.list_all()}

    def abort(self, task_id: str) -> None:
        req = self.models.ManageTaskRequest()
        req.OperationType, req.TaskId = "Abort", task_id
        self.calls += 1
        self.client.ManageTask(req)


def running_seconds(detail: Any, now: float | None = None) -> float | None:
    """How long a PROCESSING task has run, from its detail (``None`` otherwise)."""
    if detail.Status != "PROCESSING" or not detail.BeginProcessTime:
        return None
    if detail.BeginProcessTime.startswith("0000"):
        return None
    began = datetime.strptime(detail.BeginProcessTime, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    return (now if now is not None else time.time()) - began.timestamp()
