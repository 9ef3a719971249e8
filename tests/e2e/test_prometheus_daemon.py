"""A real Prometheus scrapes the daemon running against the emulator; promtool lints the output."""

from __future__ import annotations

import collections

import aiohttp
import anyio

from tests.components import StartPrometheus, prometheus_fixture, promtool  # noqa: F401
from tests.e2e.daemon import EMULATOR_LIMITS, daemon
from tests.e2e.test_daemon import _mps_world
from tests.emulator.harness import running_emulator


async def test_prometheus_reads_the_daemons_task_gauges_back_through_its_query_api(
    prometheus: StartPrometheus,
) -> None:
    async with running_emulator(limits=EMULATOR_LIMITS) as emu:
        _mps_world(emu.world, 120)
        d = daemon(
            emu,
            products={
                "mps": {"interval": "1s"},
                "dlc": {"enabled": False},
                "live": {"enabled": False},
            },
        )
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: d.run(install_signal_handlers=False))
            await d.started.wait()
            assert d.http is not None
            prom = await prometheus([f"127.0.0.1:{d.http.port}"])
            up = await prom.wait_for('up{job="taskwatch"}', lambda r: [s.value for s in r] == [1.0])
            world = collections.Counter(
                (t.task_type, t.status) for t in emu.world.mps.values() if t.status != "FINISH"
            )
            tasks = await prom.wait_for(
                'taskwatch_tasks{product="mps"}',
                lambda r: sum(s.value for s in r) == sum(world.values()),
            )
            async with (
                aiohttp.ClientSession() as s,
                s.get(f"{d.http.url}/metrics") as r,
            ):
                exposition = await r.text()
            ready = await status_of(f"{d.http.url}/readyz")
            d.stop()
    assert up[0].value == 1.0
    got = {(x.labels["type"], x.labels["status"]): x.value for x in tasks}
    assert got == {k: float(v) for k, v in world.items()}
    lint = promtool("check", "metrics", stdin=exposition)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    assert ready == 200


async def status_of(url: str) -> int:
    async with aiohttp.ClientSession() as s, s.get(url) as r:
        return r.status
