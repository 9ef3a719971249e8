"""P6: signed calls per second on one core, against bare aiohttp sending the same request unsigned.

A minimal server (``tests/bench/echo_server.py``, one canned ``DescribeTasks`` answer, no checks)
runs in a child process pinned to the second core; this process is pinned to the first. For
``T`` seconds, ``C`` concurrent workers call it back to back: taskwatch's ``TencentClient``
(TC3 signing, envelope, transport, answer parsing) or a bare
``aiohttp.ClientSession.post(url, json=params)`` with ``await resp.json()``, no signature (its
ordinary use). Rounds alternate so both see the same
machine. The figure is taskwatch's calls/s ÷ bare calls/s.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Callable

import aiohttp

from tests.bench.common import Row, child_server, pin, taskwatch_client, transport, unpin

WORKERS = 8
PARAMS = {"Status": "PROCESSING", "Limit": 10}


async def _rate(call: Callable[[], Awaitable[None]], seconds: float) -> float:
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    done = 0

    async def worker() -> None:
        nonlocal done
        while loop.time() < end:
            await call()
            done += 1

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(WORKERS)))
    return done / (time.perf_counter() - start)


async def measure(seconds: float, rounds: int = 2) -> dict[str, float]:
    before = pin(0)
    try:
        args = [sys.executable, "-m", "tests.bench.echo_server"]
        async with child_server(args, marker="serving ", cpu=1) as url, transport() as tr:
            client = taskwatch_client(url, tr)
            session = aiohttp.ClientSession()

            async def signed() -> None:
                answer = await client.call("mps", "DescribeTasks", PARAMS)
                assert len(answer["TaskSet"]) == 10

            async def bare() -> None:
                async with session.post(url, json=PARAMS) as resp:
                    doc = await resp.json()
                    assert len(doc["Response"]["TaskSet"]) == 10

            rates = {"taskwatch": 0.0, "bare aiohttp": 0.0}
            await _rate(signed, 0.3)
            await _rate(bare, 0.3)
            for _ in range(rounds):
                rates["taskwatch"] += await _rate(signed, seconds) / rounds
                rates["bare aiohttp"] += await _rate(bare, seconds) / rounds
            await session.close()
    finally:
        unpin(before)
    return rates


async def run(quick: bool) -> list[Row]:
    m = await measure(1.5 if quick else 5.0)
    ratio = m["taskwatch"] / m["bare aiohttp"]
    return [
        Row("P6", "signed calls/s on one core (client pinned, server on the other core)",
            m["taskwatch"], {"bare aiohttp, unsigned": m["bare aiohttp"]}, ratio,
            "taskwatch ÷ bare ≥ 0.8", ratio >= 0.8, {"workers": WORKERS})
    ]  # fmt: skip
