"""Run one call per item, at most ``limit`` at a time, and keep the answers in order.

Detail calls are many and independent, but the API's per-second limit and the shared rate limiter
make unbounded fan-out pointless: ``limit`` workers pull items from one iterator, so no more than
``limit`` calls are ever in flight and no task waits on a semaphore it does not need.

Failure is fail-fast: the first error cancels the calls still running and is raised *as itself*
(not wrapped in an ``ExceptionGroup``), so the watcher can count a failed cycle by its class. When
several calls failed at once, the first is raised and the group stays visible as its context.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

import anyio

T = TypeVar("T")
R = TypeVar("R")


async def bounded_map(
    fn: Callable[[T], Awaitable[R]], items: Sequence[T], *, limit: int
) -> list[R]:
    """``[await fn(item) for item in items]`` with up to ``limit`` calls in flight."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    answers: dict[int, R] = {}
    queue = iter(enumerate(items))

    async def worker() -> None:
        for index, item in queue:  # one shared iterator: each item is taken exactly once
            answers[index] = await fn(item)

    try:
        async with anyio.create_task_group() as group:
            for _ in range(min(limit, len(items))):
                group.start_soon(worker)
    except BaseExceptionGroup as failed:
        errors = _leaves(failed)
        first = next((e for e in errors if isinstance(e, Exception)), None)
        if first is None:
            raise
        if len(errors) == 1:
            raise first from None
        raise first  # noqa: B904 - the group (every failure) stays attached as the context
    return [answers[i] for i in range(len(items))]


def _leaves(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    out: list[BaseException] = []
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            out += _leaves(exc)
        else:
            out.append(exc)
    return out
