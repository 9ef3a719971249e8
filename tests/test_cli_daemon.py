"""``taskwatch check-config``, ``run`` and ``once`` as processes: bad configs, one cycle, a stop."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import signal
import sqlite3
from pathlib import Path

import pytest

from taskwatch.emulator.faults import Fault
from tests.e2e.daemon import EMULATOR_LIMITS
from tests.e2e.test_policies import live
from tests.e2e.waiting import eventually
from tests.emulator.harness import SECRET_ID, SECRET_KEY, running_emulator
from tests.processes import spawn

ROOT = Path(__file__).parent.parent


async def taskwatch(*args: str) -> tuple[int, str, str]:
    proc = await spawn(
        *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=ROOT
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


GOOD = """
accounts:
  - name: main
    credentials: {from: static, secret_id: %s, secret_key: %s}
    endpoint: %s
    regions: [ap-guangzhou]
products:
  mps: {interval: 5s}
  dlc: {interval: 5s}
  live: {interval: 5s}
api: {budget: 1.0}
http: {listen: "127.0.0.1:0"}
state: {path: %s}
"""
"""Credentials, endpoint, then the journal: under the test's own directory, never the default
/var/lib/taskwatch, which would be shared by every test (and locked by whichever runs)."""

BAD = [
    ("accounts: []\n", "accounts"),
    ("accounts:\n  - name: main\n    regions: [ap-guangzhou]\n", "accounts[0].credentials"),
    ("accounts:\n  - name: main\n    credentials: {from: env}\n    regionz: [x]\n", "regionz"),
    (
        "accounts:\n  - name: main\n    credentials: {from: env}\n"
        "products:\n  mps: {interval: fast}\n",
        "products.mps.interval",
    ),
    ("accounts:\n  - name: main\n    credentials: {from: env}\napi: {budget: two}\n", "api.budget"),
    ("accounts: [\n", "line"),
    ("- just\n- a list\n", "mapping"),
]


@pytest.mark.parametrize(("text", "names"), BAD)
async def test_a_bad_config_is_one_line_naming_file_and_key_and_exits_2(
    tmp_path: Path, text: str, names: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    for command in ("check-config", "run", "once"):
        code, out, err = await taskwatch(command, "--config", str(path))
        assert code == 2, (command, out, err)
        assert str(path) in err
        assert names in err
        assert "Traceback" not in err
        assert len(err.strip().splitlines()) == 1, err


async def test_an_unreadable_config_file_exits_2(tmp_path: Path) -> None:
    code, _, err = await taskwatch("check-config", "--config", str(tmp_path / "missing.yaml"))
    assert code == 2
    assert "missing.yaml" in err


async def test_the_shipped_configs_are_valid() -> None:
    for name in ("config/taskwatch.example.yaml", "config/demo.yaml"):
        code, out, err = await taskwatch("check-config", "--config", name)
        assert code == 0, err
        assert "ok" in out


async def test_once_runs_one_cycle_per_source_and_prints_a_table(tmp_path: Path) -> None:
    async with running_emulator(limits=EMULATOR_LIMITS) as emu:
        path = tmp_path / "tw.yaml"
        path.write_text(GOOD % (SECRET_ID, SECRET_KEY, emu.url, tmp_path / "state.db"))
        code, out, err = await taskwatch("once", "--config", str(path))
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["source", "result", "seconds"]
    assert {line.split()[0] for line in lines[1:]} == {
        "main/mps/global",
        "main/dlc/ap-guangzhou",
        "main/live/ap-guangzhou",
    }
    assert all(line.split()[1] == "ok" for line in lines[1:])


async def test_once_exits_1_when_a_source_fails(tmp_path: Path) -> None:
    async with running_emulator(limits=EMULATOR_LIMITS) as emu:
        path = tmp_path / "tw.yaml"
        path.write_text(GOOD % (SECRET_ID, "wrong-secret-key-0000", emu.url, tmp_path / "state.db"))
        code, out, _ = await taskwatch("once", "--config", str(path))
    assert code == 1
    assert "FAILED (AuthError)" in out
    assert "AuthFailure.SignatureFailure" in out


async def test_run_serves_until_sigterm_and_stops_promptly(tmp_path: Path) -> None:
    async with running_emulator(limits=EMULATOR_LIMITS) as emu:
        path = tmp_path / "tw.yaml"
        path.write_text(GOOD % (SECRET_ID, SECRET_KEY, emu.url, tmp_path / "state.db"))
        proc = await spawn(
            "--log-level",
            "info",
            "run",
            "--config",
            str(path),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        assert proc.stderr is not None
        seen = b""
        while b'"event": "cycle"' not in seen and b"cycle" not in seen.split(b"started")[-1]:
            line = await asyncio.wait_for(proc.stderr.readline(), timeout=30)
            assert line, seen.decode()
            seen += line
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(proc.wait(), timeout=15)
        stopped_in = loop.time() - t0
    assert code == 0
    assert stopped_in < 5
    assert SECRET_KEY not in seen.decode()


RULE_BASE = """accounts:
  - name: main
    credentials: {from: env}
policies:
  - name: %s
"""
BAD_RULES = [
    (
        "bad-product",
        "    product: ecs\n    action: abort\n    filters: [{status: WAITING}]\n",
        "product",
    ),
    (
        "bad-op",
        "    product: mps\n    action: abort\n"
        "    filters: [{status: WAITING}, {key: TaskId, op: matches, value: x}]\n",
        "op",
    ),
    (
        "bad-regex",
        "    product: mps\n    action: abort\n"
        "    filters: [{status: WAITING}, {key: TaskId, op: regex, value: '(['}]\n",
        "regex",
    ),
    (
        "impossible",
        "    product: mps\n    action: abort\n"
        "    filters: [{type: WorkflowTask}, {status: PROCESSING}]\n",
        "WAITING",
    ),
    (
        "wrong-action",
        "    product: dlc\n    action: abort\n    filters: [{status: running}]\n",
        "cancel",
    ),
]


@pytest.mark.parametrize(("name", "body", "hint"), BAD_RULES)
async def test_a_bad_rule_exits_2_with_one_line_naming_the_rule(
    tmp_path: Path, name: str, body: str, hint: str
) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(RULE_BASE % name + body)
    code, _, err = await taskwatch("check-config", "--config", str(path))
    assert code == 2, err
    assert f"'{name}'" in err
    assert "policies[0]" in err
    assert hint in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err


async def test_audit_lists_the_journal_as_a_table_and_as_json(tmp_path: Path) -> None:
    from taskwatch.actions.sqlite import SqliteJournal as Journal
    from taskwatch.clock import SystemClock
    from taskwatch.models import Outcome

    state = tmp_path / "state.db"
    with Journal(state, clock=SystemClock()) as journal:
        where = {
            "policy": "p",
            "product": "mps",
            "account": "main",
            "region": "global",
            "action": "abort",
            "params": {"TaskId": "t-1"},
        }
        journal.outcome(
            journal.intent(task_id="t-1", **where), result=Outcome.DONE, request_id="rid-1"
        )
        journal.would(task_id="t-2", **where)
    code, out, err = await taskwatch("audit", "--state", str(state), "--since", "1h")
    assert code == 0, err
    assert "t-1" in out
    assert "done" in out
    assert "would" in out
    code, out, err = await taskwatch("audit", "--state", str(state), "--json")
    assert code == 0, err
    assert [r["result"] for r in json.loads(out)] == ["done", "would"]
    code, _, err = await taskwatch("audit", "--state", str(tmp_path / "none.db"))
    assert code == 1
    assert "no journal" in err


ACTING = """
accounts:
  - name: main
    credentials: {from: static, secret_id: %(sid)s, secret_key: %(key)s}
    endpoint: %(url)s
products:
  mps: {interval: 1s, jitter: 0}
  dlc: {enabled: false}
  live: {enabled: false}
api: {budget: 1.0}
http: {listen: "127.0.0.1:0"}
state: {path: %(state)s}
policies:
  - name: abort-long-live
    product: mps
    filters:
      - type: LiveStreamProcessTask
      - status: PROCESSING
      - running_longer_than: 6h
    action: abort
    enforce: true
"""


def intents(state: Path) -> list[tuple[str, str | None]]:
    """(task, result) of every journal record, read the way `taskwatch audit` reads."""
    if not state.exists():
        return []
    try:
        with sqlite3.connect(f"file:{state}?mode=ro", uri=True, timeout=5) as db:
            return list(
                db.execute(
                    "SELECT i.task_id, o.result FROM intents i "
                    "LEFT JOIN outcomes o ON o.intent_id = i.id ORDER BY i.id"
                )
            )
    except sqlite3.OperationalError:  # being created right now: look again later
        return []


async def test_a_second_daemon_or_once_on_the_same_journal_never_acts_a_second_time(
    tmp_path: Path,
) -> None:
    """`run` + `run` and `run` + `once` on one state.path used to send 20 aborts for 10 tasks.

    Each abort is held 0.5 s by the emulator, so the first daemon is still working through the
    ten when the second daemon and `once` start, scan and find tasks not yet aborted."""
    held = Fault(kind="latency", product="mps", action="ManageTask", seconds=0.5)
    limits = {**EMULATOR_LIMITS, ("mps", "ManageTask"): 100_000}  # its clock stands still
    async with running_emulator(limits=limits, faults=[held]) as emu:
        targets = {live(emu.world, 7 + i / 10) for i in range(10)}
        state = tmp_path / "state" / "state.db"
        config = tmp_path / "tw.yaml"
        config.write_text(
            ACTING % {"sid": SECRET_ID, "key": SECRET_KEY, "url": emu.url, "state": state}
        )
        pipes = {"stdout": asyncio.subprocess.PIPE, "stderr": asyncio.subprocess.PIPE}
        first = await spawn("run", "--config", str(config), **pipes)
        await eventually(lambda: intents(state), "the first daemon's first intent")
        second = await spawn("run", "--config", str(config), **pipes)
        once = await spawn("once", "--config", str(config), **pipes)
        once_out, once_err = await asyncio.wait_for(once.communicate(), timeout=60)
        await eventually(
            lambda: (
                all(emu.world.mps[t].status == "FINISH" for t in targets)
                and len(intents(state)) >= len(targets)
                and all(r is not None for _, r in intents(state))
            ),
            "every target aborted and every intent resolved",
        )
        with contextlib.suppress(TimeoutError):  # it should have refused long ago
            await asyncio.wait_for(second.wait(), timeout=5)
        for proc in (first, second):
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
        _, first_err = await asyncio.wait_for(first.communicate(), timeout=15)
        _, second_err = await asyncio.wait_for(second.communicate(), timeout=15)
        calls = collections.Counter(
            e.params["TaskId"] for e in emu.emulator.log if e.action == "ManageTask"
        )
    assert calls == dict.fromkeys(targets, 1), f"{sum(calls.values())} calls: {calls}"
    assert first.returncode == 0, first_err.decode()[-2000:]
    assert second.returncode == 1
    refusal = second_err.decode().strip()
    assert len(refusal.splitlines()) == 1, refusal  # one line, no traceback
    assert str(state) in refusal
    assert f"pid {first.pid}" in refusal
    assert once.returncode == 0, once_err.decode()
    assert once_out.decode().splitlines()[1].split()[:2] == ["main/mps/global", "ok"]
    warning = once_err.decode()
    assert str(state) in warning
    assert f"pid {first.pid}" in warning
    assert "no policy" in warning
    assert sorted(t for t, r in intents(state) if r == "done") == sorted(targets)
