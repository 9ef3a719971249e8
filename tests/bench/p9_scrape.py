"""P9: how long a ``/metrics`` scrape stops the daemon's event loop, at 100 and 500 accounts.

One event loop serves three handlers of one registry over real HTTP on loopback: taskwatch's
(:mod:`taskwatch.web.exposition`: rendered in a worker thread), the same rendered on the loop
(``offload=False``: taskwatch before P9), and prometheus_client's own aiohttp handler
(``make_aiohttp_handler(registry)``, its documented use; it renders on the loop). The registry is
the daemon's own (:class:`~taskwatch.metrics.registry.Metrics`), filled per account as a steady
scan fills it (P8 measured ≈ 105 series per account): three MPS actions with their request,
duration and rate-wait histograms, codes, scan figures, task groups and limiter buckets.

A ticker on the same loop wakes every ``TICK`` seconds and records how late it woke. Per round,
each handler is scraped ``SCRAPES`` times back to back by a client in another process (the
render cache is off: every scrape renders; uncompressed); the figures are the ticker's worst
lateness while that handler was scraped (the longest the loop stood still) and the scrape's
median latency. Rounds alternate handlers so that all see the same machine; the spread is over
rounds.

Not measured: gzip (aiohttp compresses large bodies in its executor for every handler alike);
a Prometheus' own timing.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time

from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client.aiohttp import make_aiohttp_handler

from taskwatch.clock import SystemClock
from taskwatch.limiter import BucketStats
from taskwatch.metrics.collectors import TaskGroup
from taskwatch.metrics.registry import Metrics
from taskwatch.models import SourceKey
from taskwatch.tencent.errors import CallSite
from taskwatch.web.exposition import Exposition, exposition_handler
from tests.bench.common import Row

TICK = 0.005
SCRAPES = 5
ACTIONS = ("DescribeTasks", "DescribeTaskDetail", "ManageTask")
CODES = ("Success", "RequestLimitExceeded", "InternalError")
HANDLERS = ("taskwatch (thread)", "taskwatch on the loop", "prometheus_client aiohttp")


class _Buckets:
    """The limiter's buckets as the rate gauges read them (rate and ceiling per action)."""

    def __init__(self, accounts: int) -> None:
        self._stats = [
            BucketStats(
                account=f"account-{i:03d}",
                product="mps",
                action=a,
                rate=20.0,
                ceiling=20.0,
                acquired=100,
                waited_seconds=0.5,
                throttled=0,
            )
            for i in range(accounts)
            for a in ACTIONS
        ]

    def snapshot(self) -> list[BucketStats]:
        return list(self._stats)


def filled(accounts: int) -> Metrics:
    """The daemon's registry after a steady minute of ``accounts`` MPS accounts."""
    metrics = Metrics(CollectorRegistry(), clock=SystemClock())
    now = time.time()
    for i in range(accounts):
        account = f"account-{i:03d}"
        source = SourceKey(account, "mps", "global")
        for action in ACTIONS:
            site = CallSite(account=account, product="mps", action=action, region="global")
            for n, code in enumerate(CODES):
                metrics.attempt_finished(site, code, 0.05 * (n + 1))
            metrics.rate_waited(site, 0.01)
        metrics.cycle_finished(source, seconds=0.4, calls=12, error=None)
        metrics.publish_tasks(
            source,
            {
                ("LiveStreamProcessTask", "PROCESSING"): TaskGroup(count=40, oldest=now - 3600),
                ("WorkflowTask", "PROCESSING"): TaskGroup(count=60, oldest=now - 600),
                ("WorkflowTask", "WAITING"): TaskGroup(count=20, oldest=now - 60),
            },
        )
    metrics.watch_limiter(_Buckets(accounts))
    return metrics


async def _ticker(lateness: list[float], stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        due = loop.time() + TICK
        await asyncio.sleep(TICK)
        lateness.append(loop.time() - due)


async def measure(accounts: int, rounds: int) -> dict[str, dict[str, list[float]]]:
    """Per handler: the worst loop stall and the median scrape latency of each round (s)."""
    metrics = filled(accounts)
    app = web.Application()
    paths = {
        HANDLERS[0]: "/thread",
        HANDLERS[1]: "/loop",
        HANDLERS[2]: "/peer",
    }
    app.router.add_get(paths[HANDLERS[0]], exposition_handler(Exposition(metrics.registry, ttl=0)))
    on_loop = Exposition(metrics.registry, ttl=0, offload=False)
    app.router.add_get(paths[HANDLERS[1]], exposition_handler(on_loop))
    app.router.add_get(paths[HANDLERS[2]], make_aiohttp_handler(metrics.registry))
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    figures: dict[str, dict[str, list[float]]] = {h: {"stall": [], "scrape": []} for h in HANDLERS}
    try:
        for r in range(rounds):
            order = HANDLERS if r % 2 == 0 else tuple(reversed(HANDLERS))
            for handler in order:
                stall, scrape = await _round(f"http://127.0.0.1:{port}{paths[handler]}")
                figures[handler]["stall"].append(stall)
                figures[handler]["scrape"].append(scrape)
    finally:
        await runner.cleanup()
    return figures


SCRAPER = """
import json, sys, time, urllib.request
latencies = []
for _ in range(int(sys.argv[2])):
    started = time.perf_counter()
    with urllib.request.urlopen(sys.argv[1]) as response:
        body = response.read()
    assert b"taskwatch_api_requests_total" in body
    latencies.append(time.perf_counter() - started)
print(json.dumps(latencies))
"""
"""The client: another process, so that reading 1 to 6 MB does not run on the measured loop."""


async def _round(url: str) -> tuple[float, float]:
    lateness: list[float] = []
    stop = asyncio.Event()
    ticker = asyncio.create_task(_ticker(lateness, stop))
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", SCRAPER, url, str(SCRAPES), stdout=asyncio.subprocess.PIPE
    )
    out, _ = await child.communicate()
    stop.set()
    await ticker
    assert child.returncode == 0, child.returncode
    latencies: list[float] = json.loads(out)
    return max(lateness, default=0.0), statistics.median(latencies)


def _spread(values: list[float]) -> str:
    return f"{min(values) * 1000:.0f}–{max(values) * 1000:.0f} ms"


async def run(quick: bool) -> list[Row]:
    rows = []
    points = (100,) if quick else (100, 500)
    rounds = 2 if quick else 5
    for accounts in points:
        m = await measure(accounts, rounds)
        stall = {h: statistics.median(m[h]["stall"]) for h in HANDLERS}
        ratio = stall[HANDLERS[0]] / stall[HANDLERS[2]] if stall[HANDLERS[2]] else None
        rows.append(
            Row(
                "P9",
                f"worst loop stall during a /metrics scrape, {accounts} accounts",
                stall[HANDLERS[0]],
                {h: stall[h] for h in HANDLERS[1:]},
                ratio,
                "taskwatch ÷ prometheus_client ≤ 0.25",
                None if ratio is None else ratio <= 0.25,
                {
                    "rounds": rounds,
                    "scrapes_per_round": SCRAPES,
                    "tick_s": TICK,
                    "stall_spread": {h: _spread(m[h]["stall"]) for h in HANDLERS},
                    "scrape_p50_spread": {h: _spread(m[h]["scrape"]) for h in HANDLERS},
                    "scrape_p50_median_s": {
                        h: round(statistics.median(m[h]["scrape"]), 4) for h in HANDLERS
                    },
                    "series": _series(accounts),
                },
            )
        )
    return rows


def _series(accounts: int) -> int:
    registry = filled(accounts).registry
    return sum(len(family.samples) for family in registry.collect())
