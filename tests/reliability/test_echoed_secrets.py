"""Secrets an API echoes in its error messages reach no sink, and a huge message is capped in
every one: the status page, the journal, ``taskwatch audit --json``, the logs.

Found for real: logs and webhooks showed ``[redacted]``, but the status page, the journal and the
audit output quoted the API's message verbatim, and a 5 MB message made a 5.2 MB log line and page.
Here the emulator answers every DLC listing and every MPS abort with an error whose message echoes
the canary SecretKey, the session token, a task's ``NotifyKey`` (in two spellings) and a URL with
a password and a signature; a daemon signing with those credentials watches DLC (its cycles fail:
the status page shows why) and enforces an MPS policy (its aborts fail: the journal, the audit and
the status page show why). Everything each sink shows is searched for every secret.
"""

from __future__ import annotations

import asyncio
import functools
import io
import json
import sys
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import aiohttp
import anyio

from taskwatch import logs
from taskwatch.emulator.faults import Fault
from taskwatch.emulator.scenario import EmulatorCredential
from taskwatch.supervisor import Supervisor
from taskwatch.tencent.errors import MESSAGE_LIMIT
from tests import canary_check
from tests.canary import CANARY_SECRET_ID, CANARY_SECRET_KEY
from tests.e2e.daemon import EMULATOR_LIMITS, daemon
from tests.e2e.test_policies import LONG_LIVE, live
from tests.e2e.waiting import eventually
from tests.emulator.harness import Running, running_emulator
from tests.processes import ROOT, child_env

TOKEN = "CANARY-TOKEN-echo-3c9e0b7a15d2"
NOTIFY_KEY = "nk-CANARY-echo-81f2a6"
URL_PASSWORD = "CANARY-urlpass-echo-4d"
URL_SIGN = "CANARY-qsign-echo-7b"
SECRETS = (CANARY_SECRET_KEY, TOKEN, NOTIFY_KEY, URL_PASSWORD, URL_SIGN)
ECHO = (
    f"request signed with {CANARY_SECRET_KEY} and token {TOKEN} refused; "
    f'TaskNotifyConfig {{"NotifyKey": "{NOTIFY_KEY}"}} NotifyKey={NOTIFY_KEY}; '
    f"input https://ops:{URL_PASSWORD}@cos.example.com/in.mp4?q-signature={URL_SIGN}"
)
MiB = 1 << 20
HUGE = "overflow " * (5 * MiB // 9)  # a 5 MB message, the size seen for real


def echoing(message: str) -> list[Fault]:
    return [
        Fault(kind="error", product="dlc", action="DescribeTasks", code="FailedOperation",
              message=message),
        Fault(kind="error", product="mps", action="ManageTask", code="FailedOperation",
              message=message),
    ]  # fmt: skip


def emulated(message: str) -> AbstractAsyncContextManager[Running]:
    """An emulator that knows the canary key with the session token, and echoes ``message``."""
    return running_emulator(
        limits=EMULATOR_LIMITS,
        faults=echoing(message),
        credentials=[EmulatorCredential(CANARY_SECRET_ID, CANARY_SECRET_KEY, TOKEN)],
    )


def with_token(emu: Running) -> Supervisor:
    account = {
        "name": "main",
        "credentials": {
            "from": "static",
            "secret_id": CANARY_SECRET_ID,
            "secret_key": CANARY_SECRET_KEY,
            "token": TOKEN,
        },
        "endpoint": emu.url,
        "regions": ["ap-guangzhou"],
    }
    products = {
        "mps": {"interval": "1s", "jitter": 0},
        "dlc": {"interval": "1s", "jitter": 0},
        "live": {"enabled": False},
    }
    return daemon(emu, accounts=[account], products=products, policies=[LONG_LIVE])


async def run_until_both_failed(emu: Running) -> tuple[Supervisor, bytes, str]:
    """The daemon's status page once a DLC cycle and an MPS abort have failed, and its log."""
    stream = io.StringIO()
    logs.configure(level="debug", json=True, stream=stream)
    live(emu.world, 8)
    d = with_token(emu)
    async with anyio.create_task_group() as tg:
        tg.start_soon(functools.partial(d.run, install_signal_handlers=False))
        await d.started.wait()
        assert d.http is not None
        since = d.clock.now().timestamp() - 3600
        await eventually(
            lambda: any(r.result == "failed" for r in d.journal.recent(since)), "a failed abort"
        )
        await eventually(
            lambda: any(
                s.watcher.last_report is not None and s.watcher.last_report.error
                for s in d.sources
                if s.watcher.source.product == "dlc"
            ),
            "a failed DLC cycle",
        )
        async with aiohttp.ClientSession() as session, session.get(d.http.url + "/") as resp:
            page = await resp.read()
        d.stop()
    return d, page, stream.getvalue()


async def audit(d: Supervisor) -> bytes:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "taskwatch", "audit", "--state", str(d.settings.state.path),
        "--since", "1d", "--json", stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT, env=child_env(), cwd=ROOT,
    )  # fmt: skip
    out, _ = await proc.communicate()
    assert proc.returncode == 0, out
    return out


def journal_files(d: Supervisor) -> dict[str, bytes]:
    state = Path(d.settings.state.path)
    return {f.name: f.read_bytes() for f in state.parent.iterdir()}


def clean(where: str, data: bytes | str) -> None:
    canary_check.record(where, data)
    raw = data if isinstance(data, bytes) else data.encode()
    for secret in SECRETS:
        assert secret.encode() not in raw, f"{secret} in {where}"


async def test_secrets_echoed_by_the_api_reach_no_page_journal_audit_or_log() -> None:
    async with emulated(ECHO) as emu:
        d, page, log = await run_until_both_failed(emu)
    out = await audit(d)
    failed = [r for r in json.loads(out) if r["result"] == "failed"]
    assert failed, out
    assert "NotifyKey=[redacted]" in failed[0]["message"]  # the message itself is still there
    assert b"FailedOperation" in page  # the page says why, without the secrets
    clean("status page", page)
    clean("taskwatch audit --json", out)
    clean("log", log)
    for name, data in journal_files(d).items():
        clean(f"journal file {name}", data)


async def test_a_5_mb_message_is_capped_on_the_page_in_the_journal_the_audit_and_the_log() -> None:
    async with emulated(HUGE) as emu:
        d, page, log = await run_until_both_failed(emu)
    out = await audit(d)
    assert len(page) < 200_000, len(page)  # the page, whatever it shows, not megabytes
    messages = [r["message"] for r in json.loads(out) if r["result"] == "failed"]
    assert messages
    assert all(len(m) <= MESSAGE_LIMIT + 40 for m in messages), [len(m) for m in messages]
    lines = log.splitlines()
    for line in lines:
        assert len(line) < 3 * logs.LOG_VALUE_LIMIT + 2_000, (len(line), line[:200])
    assert any("more characters]" in line for line in lines)  # cut, and saying so
    total = sum(len(data) for data in journal_files(d).values())
    assert total < 2 * MiB, total  # a few failed aborts, not 5 MB each
