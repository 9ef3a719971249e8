"""``/metrics`` rendered in a worker thread, shared by concurrent scrapes, cached ``RENDER_TTL``.

The collector below blocks its rendering until the test releases it from the event loop: if the
rendering ran on the loop, the loop could not release it and the collector would give up (after
``STUCK`` seconds of a thread's wait, not a sleep of the test) with an error the test reports.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry, Gauge
from prometheus_client.core import GaugeMetricFamily, Metric

from taskwatch.web.exposition import Exposition

STUCK = 5.0
OPENMETRICS = "application/openmetrics-text; version=1.0.0"


class Gate:
    """A collector that waits for the loop to let it finish, and says on which thread it ran."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.started = asyncio.Event()
        self.release = threading.Event()
        self.threads: list[int] = []
        self.fail: Exception | None = None

    def describe(self) -> Iterator[Metric]:
        return iter(())

    def collect(self) -> Iterator[Metric]:
        self.threads.append(threading.get_ident())
        self.loop.call_soon_threadsafe(self.started.set)
        if not self.release.wait(STUCK):
            raise RuntimeError("the loop never released the rendering: it rendered on the loop")
        if self.fail is not None:
            raise self.fail
        family = GaugeMetricFamily("gate_renderings", "Renderings of the gate.")
        family.add_metric([], len(self.threads))
        yield family


@pytest.fixture
async def gated() -> tuple[Exposition, Gate]:
    registry = CollectorRegistry()
    gate = Gate(asyncio.get_running_loop())
    registry.register(gate)
    Gauge("plain_value", "A plain gauge.", registry=registry).set(7)
    return Exposition(registry, ttl=3600), gate


async def test_the_exposition_renders_off_the_loop_while_the_loop_runs_on(
    gated: tuple[Exposition, Gate],
) -> None:
    exposition, gate = gated
    scrape = asyncio.create_task(exposition.body("text/plain"))
    await gate.started.wait()  # the rendering is under way, and the loop runs
    gate.release.set()
    body, content_type = await scrape
    assert gate.threads
    assert gate.threads[0] != threading.get_ident()
    assert b"gate_renderings 1.0" in body
    assert b"plain_value 7.0" in body
    assert content_type.startswith("text/plain")


async def test_scrapes_during_a_rendering_share_it_and_later_ones_reuse_it_within_the_ttl(
    gated: tuple[Exposition, Gate],
) -> None:
    exposition, gate = gated
    scrapes = [asyncio.create_task(exposition.body("text/plain")) for _ in range(5)]
    await gate.started.wait()
    gate.release.set()
    bodies = {body for body, _ in await asyncio.gather(*scrapes)}
    assert len(bodies) == 1
    again, _ = await exposition.body("text/plain")
    assert again == bodies.pop()
    assert exposition.renderings == 1
    assert len(gate.threads) == 1
    await exposition.body(OPENMETRICS)  # another format is another rendering
    assert exposition.renderings == 2


async def test_a_scrape_that_gives_up_does_not_cancel_the_rendering_others_wait_for(
    gated: tuple[Exposition, Gate],
) -> None:
    exposition, gate = gated
    leaving = asyncio.create_task(exposition.body("text/plain"))
    staying = asyncio.create_task(exposition.body("text/plain"))
    await gate.started.wait()
    leaving.cancel()
    gate.release.set()
    body, _ = await staying
    assert b"gate_renderings 1.0" in body
    assert leaving.cancelled()


async def test_a_failed_rendering_reaches_every_waiter_and_is_not_kept(
    gated: tuple[Exposition, Gate],
) -> None:
    exposition, gate = gated
    gate.fail = ValueError("a collector broke")
    scrapes = [asyncio.create_task(exposition.body("text/plain")) for _ in range(2)]
    await gate.started.wait()
    gate.release.set()
    results = await asyncio.gather(*scrapes, return_exceptions=True)
    assert [type(r) for r in results] == [ValueError, ValueError]
    gate.fail = None
    body, _ = await exposition.body("text/plain")  # the next scrape renders again
    assert b"gate_renderings 2.0" in body
    assert exposition.renderings == 2


async def test_with_no_ttl_every_scrape_renders_anew(gated: tuple[Exposition, Gate]) -> None:
    exposition, gate = gated
    exposition.ttl = 0.0
    gate.release.set()
    await exposition.body("text/plain")
    body, _ = await exposition.body("text/plain")
    assert b"gate_renderings 2.0" in body
