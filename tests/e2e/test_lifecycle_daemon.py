"""The daemon's lifecycle switches as configured by ``http.lifecycle``: a whole Supervisor on the
emulator, real HTTP to the server it starts. The switch under test is the executor's kill switch,
read back from the daemon itself."""

from __future__ import annotations

from typing import Any

import aiohttp
import anyio

from taskwatch.supervisor import Supervisor
from tests.e2e.daemon import EMULATOR_LIMITS, daemon
from tests.emulator.harness import running_emulator


async def posts(d: Supervisor, *requests: tuple[str, dict[str, Any]]) -> list[int]:
    """Run ``d``, POST each (path, aiohttp keyword arguments), stop it; the statuses."""
    statuses: list[int] = []
    async with anyio.create_task_group() as tg:
        tg.start_soon(lambda: d.run(install_signal_handlers=False))
        await d.started.wait()
        assert d.http is not None
        async with aiohttp.ClientSession() as session:
            for path, kwargs in requests:
                async with session.post(f"{d.http.url}{path}", **kwargs) as response:
                    statuses.append(response.status)
        d.stop()
    return statuses


async def test_a_daemon_with_the_default_configuration_refuses_the_switches() -> None:
    async with running_emulator(limits=EMULATOR_LIMITS) as emu:
        d = daemon(emu)
        assert d.settings.http.lifecycle is False
        statuses = await posts(d, ("/-/pause", {}), ("/-/reload", {}))
    assert statuses == [403, 403]
    assert not d.executor.paused


async def test_with_lifecycle_on_curl_pauses_and_a_cross_site_form_post_does_not_resume() -> None:
    async with running_emulator(limits=EMULATOR_LIMITS) as emu:
        d = daemon(emu, http={"listen": "127.0.0.1:0", "lifecycle": True})
        evil = {"Origin": "http://evil.example", "Content-Type": "text/plain"}
        statuses = await posts(
            d, ("/-/pause", {}), ("/-/resume", {"headers": evil, "data": b"resume=1"})
        )
    assert statuses == [200, 403]
    assert d.executor.held
    assert not d.executor.paused
    with d.journal:  # kept in the journal: a restart of this daemon would still hold
        assert d.journal.switch().paused
