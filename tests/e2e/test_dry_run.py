"""``--dry-run`` end to end: a daemon on the emulator whose every ``enforce: true`` it overrides.

The emulator's log is the witness that nothing destructive was sent, the journal that each
decision was recorded as ``would``; the warning, the ``taskwatch_dry_run`` gauge, the status page
and ``/readyz`` are read from the daemon itself (the page and probes over real HTTP). The same
setup without ``--dry-run`` aborts, so each test could fail.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sqlite3
from pathlib import Path
from typing import Any

import aiohttp
import anyio
import structlog

from taskwatch.metrics.registry import Metrics
from taskwatch.policy.rules import compile_rules
from taskwatch.services import effective
from taskwatch.settings import PolicySettings
from taskwatch.supervisor import Supervisor, load_config
from taskwatch.web.statuspage import render
from tests.e2e.daemon import EMULATOR_LIMITS, FollowClock, settings_for
from tests.e2e.test_policies import LONG_LIVE, ONLY_MPS, journal_rows, live, results, sent
from tests.e2e.test_statuspage_daemon import snapshot, text_of
from tests.e2e.waiting import eventually
from tests.emulator.harness import SECRET_ID, SECRET_KEY, Running, running_emulator
from tests.processes import spawn

ROOT = Path(__file__).parent.parent.parent
WAITING: dict[str, Any] = {
    "name": "abort-stuck-waiting",
    "product": "mps",
    "filters": [{"status": "WAITING"}, {"waiting_longer_than": "2h"}],
    "action": "abort",
    "enforce": True,
}
"""A second enforcing policy, so the warning's count is not a coincidence of one."""

CONFIG = """
accounts:
  - name: main
    credentials: {from: static, secret_id: %(sid)s, secret_key: %(key)s}
    endpoint: %(url)s
products:
  mps: {interval: 1s, jitter: 0}
  dlc: {enabled: false}
  live: {enabled: false}
api: {budget: 1.0}
http: {listen: "127.0.0.1:0", lifecycle: true}
state: {path: %(state)s}
"""
ENFORCING = """
policies:
  - name: abort-long-live
    product: mps
    filters: [{type: LiveStreamProcessTask}, {status: PROCESSING}, {running_longer_than: 6h}]
    action: abort
    enforce: true
"""


def write(path: Path, emu: Running, extra: str = "") -> Path:
    values = {"sid": SECRET_ID, "key": SECRET_KEY, "url": emu.url, "state": path.parent / "s.db"}
    path.write_text(CONFIG % values + extra)
    return path


def supervisor(emu: Running, *policies: dict[str, Any], dry_run: bool) -> Supervisor:
    clock = FollowClock(emu.clock)
    settings = settings_for(emu, products=ONLY_MPS, policies=list(policies))
    return Supervisor(settings, metrics=Metrics(clock=clock), clock=clock, dry_run=dry_run)


def would_rows(state: Path) -> list[tuple[str, str]]:
    """The journal's (mode, result) rows as another process writes them."""
    try:
        with contextlib.closing(sqlite3.connect(state)) as db:
            return list(
                db.execute(
                    "SELECT i.mode, o.result FROM intents i JOIN outcomes o ON o.intent_id = i.id"
                )
            )
    except sqlite3.OperationalError:  # being created right now: look again later
        return []


def dry_run_gauge(d: Supervisor) -> float | None:
    return d.metrics.registry.get_sample_value("taskwatch_dry_run")


def test_the_override_turns_enforce_off_in_copies_and_leaves_the_rules_as_written() -> None:
    advisory = {**LONG_LIVE, "name": "watch-only", "enforce": False}
    specs = [PolicySettings.model_validate(p) for p in (LONG_LIVE, WAITING, advisory)]
    rules = compile_rules(specs, source="test")
    overridden = effective(rules, dry_run=True)
    assert [r.enforce for r in overridden] == [False, False, False]
    assert [r.enforce for r in rules] == [True, True, False]  # the file's view is kept
    assert [(r.name, r.match, r.caps) for r in overridden] == [
        (r.name, r.match, r.caps) for r in rules
    ]
    assert effective(rules, dry_run=False) == rules


async def test_with_dry_run_an_enforcing_policy_sends_nothing_and_records_would() -> None:
    async with running_emulator(limits=EMULATOR_LIMITS) as emu:
        targets = {live(emu.world, 8 + i) for i in range(3)}
        d = supervisor(emu, LONG_LIVE, dry_run=True)
        reports = await d.run_once()
        await d.run_once()
    assert all(r.ok for r in reports)
    assert sent(emu) == []
    assert all(emu.world.mps[t].status == "PROCESSING" for t in targets)
    rows = journal_rows(d)
    assert sorted(t for t, _, _ in rows) == sorted(targets)  # one `would` each, told once
    assert {(mode, result) for _, mode, result in rows} == {("dry-run", "would")}
    assert results(d, "abort-long-live") == {"would": 3}


async def test_without_dry_run_the_same_policy_aborts_and_the_gauge_says_0() -> None:
    async with running_emulator(limits=EMULATOR_LIMITS) as emu:
        targets = {live(emu.world, 8 + i) for i in range(3)}
        d = supervisor(emu, LONG_LIVE, dry_run=False)
        await d.run_once()
    assert sorted(sent(emu)) == sorted(targets)
    assert results(d, "abort-long-live") == {"done": 3}
    assert dry_run_gauge(d) == 0.0


async def test_dry_run_warns_at_start_with_the_count_of_policies_it_overrides() -> None:
    async with running_emulator(limits=EMULATOR_LIMITS) as emu:
        advisory = {**LONG_LIVE, "name": "watch-only", "enforce": False}
        with structlog.testing.capture_logs() as captured:
            d = supervisor(emu, LONG_LIVE, WAITING, advisory, dry_run=True)
    [warning] = [e for e in captured if e["event"] == "dry_run.overriding"]
    assert warning["log_level"] == "warning"
    assert (warning["at"], warning["enforcing"]) == ("start", 2)
    assert warning["policies"] == ["abort-long-live", "abort-stuck-waiting"]
    assert dry_run_gauge(d) == 1.0


async def test_without_dry_run_nothing_warns_of_an_override() -> None:
    async with running_emulator(limits=EMULATOR_LIMITS) as emu:
        with structlog.testing.capture_logs() as captured:
            supervisor(emu, LONG_LIVE, dry_run=False)
    assert [e for e in captured if e["event"] == "dry_run.overriding"] == []


async def test_the_status_page_shows_the_badge_and_each_overridden_policy_as_dry_run() -> None:
    async with running_emulator(limits=EMULATOR_LIMITS) as emu:
        live(emu.world, 8)
        advisory = {**LONG_LIVE, "name": "watch-only", "enforce": False}
        d = supervisor(emu, LONG_LIVE, advisory, dry_run=True)
        await d.run_once()
        snap = snapshot(d)
    assert snap.dry_run
    modes = {p.name: (p.enforce, p.overridden) for p in snap.policies}
    assert modes == {"abort-long-live": (False, True), "watch-only": (False, False)}
    text = text_of(render(snap))
    assert "0 of 2 policies enforcing" in text
    assert "--dry-run: 1 enforcing overridden" in text
    assert "abort-long-live mps abort dry-run enforce: true, --dry-run" in text
    assert "watch-only mps abort dry-run none" in text  # configured dry-run: no override note


async def test_a_reload_over_http_bringing_enforce_true_stays_dry_run(tmp_path: Path) -> None:
    """POST /-/reload swaps in a file with an enforcing policy: the next cycles record `would`
    and send nothing; the page, /readyz and /metrics say dry-run before and after."""
    async with running_emulator(limits=EMULATOR_LIMITS) as emu:
        target = live(emu.world, 8)
        config = write(tmp_path / "taskwatch.yaml", emu)
        settings, rules = load_config(config)
        d = Supervisor(settings, rules=rules, config_path=config, dry_run=True)
        with structlog.testing.capture_logs() as captured:
            async with anyio.create_task_group() as tg, aiohttp.ClientSession() as http:
                tg.start_soon(lambda: d.run(install_signal_handlers=False))
                await d.started.wait()
                assert d.http is not None
                write(config, emu, ENFORCING)
                async with http.post(f"{d.http.url}/-/reload") as response:
                    assert response.status == 200, await response.text()
                await eventually(lambda: results(d, "abort-long-live") == {"would": 1}, "a `would`")
                async with http.get(f"{d.http.url}/readyz") as response:
                    ready = json.loads(await response.text())
                async with http.get(f"{d.http.url}/") as response:
                    page = text_of(await response.text())
                async with http.get(f"{d.http.url}/metrics") as response:
                    exposition = await response.text()
                d.stop()
    assert sent(emu) == []
    assert emu.world.mps[target].status == "PROCESSING"
    assert [(m, r) for _, m, r in journal_rows(d)] == [("dry-run", "would")]
    assert all(not r.enforce for r in d.executor.rules)
    warnings = [(e["at"], e["enforcing"]) for e in captured if e["event"] == "dry_run.overriding"]
    assert warnings == [("reload", 1)]
    assert ready["dry_run"] is True
    assert "--dry-run: 1 enforcing overridden" in page
    assert "taskwatch_dry_run 1.0" in exposition.splitlines()


async def test_once_dry_run_sends_nothing_and_prints_its_summary_with_the_mode(
    tmp_path: Path,
) -> None:
    async with running_emulator(limits=EMULATOR_LIMITS) as emu:
        target = live(emu.world, 8)
        config = write(tmp_path / "taskwatch.yaml", emu, ENFORCING)
        proc = await spawn(
            "once", "--dry-run", "--config", str(config), stdout=asyncio.subprocess.PIPE
        )
        out, _ = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode == 0
    lines = out.decode().splitlines()
    assert lines[1].split()[:2] == ["main/mps/global", "ok"]
    assert lines[-1].startswith("mode: dry-run (--dry-run): 1 enforcing policy(ies) overridden")
    (said,) = [line for line in lines if line.startswith("policies: ")]
    assert said.endswith(": 1 would")  # once says what it recorded in the journal
    assert sent(emu) == []
    assert emu.world.mps[target].status == "PROCESSING"


async def test_run_dry_run_logs_the_override_at_start(tmp_path: Path) -> None:
    async with running_emulator(limits=EMULATOR_LIMITS) as emu:
        live(emu.world, 8)
        config = write(tmp_path / "taskwatch.yaml", emu, ENFORCING)
        proc = await spawn(
            "run", "--dry-run", "--config", str(config), stderr=asyncio.subprocess.PIPE
        )
        assert proc.stderr is not None
        seen = b""
        while b"dry_run.overriding" not in seen:
            line = await asyncio.wait_for(proc.stderr.readline(), timeout=30)
            assert line, seen.decode()
            seen += line
        await eventually(lambda: would_rows(tmp_path / "s.db"), "a `would` in the journal")
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.communicate(), timeout=30)
    warning = seen.decode().splitlines()[-1]
    assert "enforcing=1" in warning or '"enforcing": 1' in warning, warning
    assert "abort-long-live" in warning
    assert would_rows(tmp_path / "s.db") == [("dry-run", "would")]
    assert sent(emu) == []
