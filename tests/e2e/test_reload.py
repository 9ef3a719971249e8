"""Reload: a good file is swapped in at once, a bad one changes nothing; SIGHUP does the same."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import aiohttp
import anyio

from taskwatch.supervisor import Supervisor, load_config
from tests.e2e.daemon import EMULATOR_LIMITS
from tests.e2e.test_policies import live
from tests.e2e.waiting import eventually
from tests.emulator.harness import SECRET_ID, SECRET_KEY, Running, running_emulator
from tests.processes import spawn
from tests.test_notify import Receiver

ROOT = Path(__file__).parent.parent.parent

BASE = """
accounts:
  - name: main
    credentials: {from: static, secret_id: %(sid)s, secret_key: %(key)s}
    endpoint: %(url)s
    regions: %(regions)s
products:
  mps: {interval: 1s}
  dlc: {interval: 1s}
  live: {enabled: false}
api: {budget: 1.0}
http: {listen: "127.0.0.1:0", lifecycle: true}
state: {path: %(state)s}
"""
POLICY = """
policies:
  - name: abort-long-live
    product: mps
    filters: [{type: LiveStreamProcessTask}, {status: PROCESSING}, {running_longer_than: 6h}]
    action: abort
    enforce: true
"""


NOTIFY = """
notifications:
  - name: hook
    url: %(url)s
    flush_interval: %(flush)s
"""


def write(path: Path, emu: Running, *, regions: str = "[ap-guangzhou]", extra: str = "") -> None:
    path.write_text(
        BASE
        % {
            "sid": SECRET_ID,
            "key": SECRET_KEY,
            "url": emu.url,
            "regions": regions,
            "state": path.parent / "state.db",
        }
        + extra
    )


def reload_ok(d: Supervisor) -> float | None:
    return d.metrics.registry.get_sample_value("taskwatch_config_last_reload_successful")


async def test_a_good_reload_swaps_sources_and_policies_and_keeps_unchanged_watchers(
    tmp_path: Path,
) -> None:
    async with running_emulator(limits=EMULATOR_LIMITS) as emu:
        target = live(emu.world, 8)
        config = tmp_path / "taskwatch.yaml"
        write(config, emu)
        settings, rules = load_config(config)
        d = Supervisor(settings, rules=rules, config_path=config)
        mps_watcher = next(s.watcher for s in d.sources if s.watcher.source.product == "mps")
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: d.run(install_signal_handlers=False))
            await d.started.wait()
            write(config, emu, regions="[ap-guangzhou, ap-shanghai]", extra=POLICY)
            ok, message = await d.reload()
            await eventually(lambda: emu.world.mps[target].status == "FINISH", "the abort")
            d.stop()
    assert (ok, message) == (True, "reloaded")
    assert sorted(s.name for s in d.sources) == [
        "main/dlc/ap-guangzhou",
        "main/dlc/ap-shanghai",
        "main/mps/global",
    ]
    assert next(s.watcher for s in d.sources if s.name == "main/mps/global") is mps_watcher
    assert reload_ok(d) == 1.0


async def test_a_bad_reload_keeps_the_last_good_configuration_running(tmp_path: Path) -> None:
    async with running_emulator(limits=EMULATOR_LIMITS) as emu:
        config = tmp_path / "taskwatch.yaml"
        write(config, emu)
        settings, rules = load_config(config)
        d = Supervisor(settings, rules=rules, config_path=config)
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: d.run(install_signal_handlers=False))
            await d.started.wait()
            config.write_text(config.read_text() + "\nproducts: {mps: {interval: fast}}\n")
            ok, message = await d.reload()
            before = sum(s.loop.heartbeat.cycles for s in d.sources)
            await eventually(
                lambda: sum(s.loop.heartbeat.cycles for s in d.sources) > before + 2,
                "more cycles under the old configuration",
            )
            d.stop()
    assert not ok
    assert str(config) in message
    assert d.settings is settings
    assert reload_ok(d) == 0.0


async def test_sighup_reloads_a_running_daemon(tmp_path: Path) -> None:
    async with running_emulator(limits=EMULATOR_LIMITS) as emu:
        target = live(emu.world, 8)
        config = tmp_path / "taskwatch.yaml"
        write(config, emu)
        proc = await spawn(
            "--log-level",
            "info",
            "run",
            "--config",
            str(config),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        assert proc.stderr is not None
        seen = b""
        while b"taskwatch.started" not in seen:
            seen += await asyncio.wait_for(proc.stderr.readline(), timeout=30)
        drain = asyncio.ensure_future(proc.stderr.read())  # a full pipe would block the daemon
        write(config, emu, extra=POLICY)
        proc.send_signal(signal.SIGHUP)
        await eventually(
            lambda: emu.world.mps[target].status == "FINISH", "the reloaded policy to act"
        )
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), timeout=15) == 0
        logs = (seen + await drain).decode()
    assert "config.reloaded" in logs
    assert SECRET_KEY not in logs


async def test_post_reload_answers_with_the_result(tmp_path: Path) -> None:
    async with running_emulator(limits=EMULATOR_LIMITS) as emu:
        config = tmp_path / "taskwatch.yaml"
        write(config, emu)
        settings, rules = load_config(config)
        d = Supervisor(settings, rules=rules, config_path=config)
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: d.run(install_signal_handlers=False))
            await d.started.wait()
            assert d.http is not None
            async with aiohttp.ClientSession() as s:
                async with s.post(f"{d.http.url}/-/reload") as r:
                    good = (r.status, await r.json())
                config.write_text("accounts: []\n")
                async with s.post(f"{d.http.url}/-/reload") as r:
                    bad = (r.status, await r.json())
            d.stop()
    assert good == (200, {"reloaded": True})
    assert bad[0] == 400
    assert bad[1]["reloaded"] is False
    assert "accounts" in bad[1]["error"]


async def test_sighup_with_notifications_keeps_the_daemon_up_and_queued_events_are_sent(
    tmp_path: Path,
) -> None:
    receiver = Receiver()
    await receiver.start()
    try:
        async with running_emulator(limits=EMULATOR_LIMITS) as emu:
            target = live(emu.world, 8)
            config = tmp_path / "taskwatch.yaml"
            hook = {"url": receiver.url(), "flush": "3s"}
            write(config, emu, extra=NOTIFY % hook)
            proc = await spawn(
                "--log-level",
                "info",
                "run",
                "--config",
                str(config),
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
            )
            assert proc.stderr is not None
            seen = b""
            while b"taskwatch.started" not in seen:
                seen += await asyncio.wait_for(proc.stderr.readline(), timeout=30)
            drain = asyncio.ensure_future(proc.stderr.read())  # a full pipe would block it
            write(config, emu, extra=POLICY + NOTIFY % hook)  # the same notifications
            proc.send_signal(signal.SIGHUP)
            await eventually(lambda: emu.world.mps[target].status == "FINISH", "the abort")
            write(config, emu, extra=POLICY + NOTIFY % {**hook, "flush": "2s"})  # a new notifier
            proc.send_signal(signal.SIGHUP)  # the abort's event is still queued (3 s)
            await eventually(lambda: receiver.requests, "the abort's notification")
            assert proc.returncode is None
            proc.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(proc.wait(), timeout=15) == 0
            logs = (seen + await drain).decode()
    finally:
        await receiver.close()
    assert [e["task_id"] for e in receiver.bodies()[0]["events"]] == [target]
    assert len(receiver.requests) == 1
    assert logs.count("config.reloaded") == 2
    assert "notifier.replaced" in logs
    assert "Traceback" not in logs
