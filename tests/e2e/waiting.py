"""Waiting for another process or server to reach a state: bounded polling, named failures.

Tests that drive a real subprocess (or a real server) cannot await its internal events; they poll
its observable state, briefly and with a deadline, and say what they waited for when it expires.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio


async def eventually(predicate: Callable[[], object], what: str, *, within: float = 30.0) -> None:
    """Return once ``predicate()`` is truthy; fail naming ``what`` after ``within`` seconds."""
    with anyio.move_on_after(within):
        while not predicate():  # noqa: ASYNC110 - the state lives in another process
            await anyio.sleep(0.05)
        return
    raise AssertionError(f"timed out after {within:g}s waiting for {what}")


async def eventually_async(
    predicate: Callable[[], Awaitable[object]], what: str, *, within: float = 30.0
) -> None:
    """:func:`eventually` for a state read over the network (a scrape of another process)."""
    with anyio.move_on_after(within):
        while not await predicate():  # noqa: ASYNC110 - the state lives in another process
            await anyio.sleep(0.05)
        return
    raise AssertionError(f"timed out after {within:g}s waiting for {what}")
