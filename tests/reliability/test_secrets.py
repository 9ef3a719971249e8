"""The canary SecretKey (:mod:`tests.canary`) never leaves taskwatch: not in logs, metrics, the
status page, health answers, error messages, the journal, or audit output.

This module drives a daemon that signs with the canary through the paths that produce output —
enforcing a policy, failing calls (a refused signature, an unknown key, gateway errors), serving
every page — and a few configs with mistakes next to (and in place of) the secret. Everything it
sees is recorded with :func:`tests.canary_check.record`; ``tests/conftest.py`` additionally scans
every test's captured output and the files taskwatch wrote, and fails the whole run at the end
(``pytest_sessionfinish``) if the canary appears anywhere (see :mod:`tests.canary_check` for
exactly what is and is not covered).
"""

from __future__ import annotations

import asyncio
import functools
import os
import sys
from pathlib import Path

import aiohttp
import anyio
import pytest

from taskwatch.emulator.faults import Fault
from taskwatch.emulator.scenario import EmulatorCredential
from taskwatch.errors import ConfigError
from taskwatch.settings import load_settings
from tests import canary_check
from tests.canary import CANARY_SECRET_ID, CANARY_SECRET_KEY
from tests.e2e.daemon import EMULATOR_LIMITS, daemon
from tests.e2e.test_crash import ROOT
from tests.e2e.test_policies import LONG_LIVE, live
from tests.e2e.waiting import eventually
from tests.emulator.harness import running_emulator

ONLY_MPS = {
    "mps": {"interval": "1s", "jitter": 0},
    "dlc": {"enabled": False},
    "live": {"enabled": False},
}


def clean(where: str, text: str | bytes) -> None:
    canary_check.record(where, text)
    data = text if isinstance(text, bytes) else text.encode()
    assert CANARY_SECRET_KEY.encode() not in data, where


async def test_the_canary_is_in_no_page_metric_error_journal_or_audit_output(
    tmp_path: Path,
) -> None:
    faults = [Fault(kind="http", status=502, action="DescribeTaskDetail", count=2)]
    # The emulator knows the canary id with another key: every signature is refused at first.
    wrong = [EmulatorCredential(CANARY_SECRET_ID, "another-key-0123456789abcdef")]
    async with running_emulator(limits=EMULATOR_LIMITS, faults=faults, credentials=wrong) as emu:
        live(emu.world, 8)
        d = daemon(emu, products=ONLY_MPS, policies=[LONG_LIVE])
        refused = await d.run_once()
        emu.emulator.keys = {
            CANARY_SECRET_ID: EmulatorCredential(CANARY_SECRET_ID, CANARY_SECRET_KEY)
        }
        pages: dict[str, bytes] = {}
        async with anyio.create_task_group() as tg:
            tg.start_soon(functools.partial(d.run, install_signal_handlers=False))
            await d.started.wait()
            assert d.http is not None
            await eventually(
                lambda: any(e.action == "ManageTask" for e in emu.emulator.log), "the abort"
            )
            async with aiohttp.ClientSession() as session:
                for path in ("/metrics", "/", "/healthz", "/readyz", "/status.css", "/nope"):
                    async with session.get(d.http.url + path) as resp:
                        pages[path] = await resp.read()
            d.stop()
    assert [r.error for r in refused] == ["AuthError"]
    clean("cycle error message", refused[0].message or "")
    for path, body in pages.items():
        clean(f"GET {path}", body)
    state = Path(d.settings.state.path)
    for file in state.parent.iterdir():
        clean(f"journal file {file.name}", file.read_bytes())
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "taskwatch", "audit", "--state", str(state), "--since", "1d",
        "--json", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    out, _ = await proc.communicate()
    assert proc.returncode == 0
    assert b"done" in out
    clean("taskwatch audit --json", out)


@pytest.mark.parametrize(
    "credentials",
    [
        f"{{from: static, secret_id: {CANARY_SECRET_ID}, secret_key: {CANARY_SECRET_KEY}, x: 1}}",
        f"{{from: static, secret_id: {CANARY_SECRET_ID}, secret_key: [{CANARY_SECRET_KEY}]}}",
        f"{{from: static, secret_key: {CANARY_SECRET_KEY}}}",
        f"{{from: {CANARY_SECRET_KEY}}}",
    ],
)
def test_a_config_error_next_to_the_secret_does_not_quote_it(
    credentials: str, tmp_path: Path
) -> None:
    path = tmp_path / "taskwatch.yaml"
    path.write_text(f"accounts:\n  - name: main\n    credentials: {credentials}\n")
    try:
        load_settings(path, environ={})
    except ConfigError as exc:
        clean(f"config error for {credentials[:40]}", str(exc))
    else:
        pytest.fail("the config was accepted")


def test_check_config_and_run_print_no_secret(tmp_path: Path) -> None:
    import subprocess

    path = tmp_path / "taskwatch.yaml"
    path.write_text(
        "accounts:\n  - name: main\n    credentials: {from: static, secret_id: "
        f"{CANARY_SECRET_ID}, secret_key: {CANARY_SECRET_KEY}}}\n"
        "    endpoint: http://127.0.0.1:9\n"
        "products: {dlc: {enabled: false}, live: {enabled: false}}\n"
        f"state: {{path: {tmp_path / 'state.db'}}}\napi: {{timeout: 1s, connect_timeout: 1s}}\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for args in (["check-config", "-c", str(path)], ["once", "-c", str(path)]):
        done = subprocess.run(
            [sys.executable, "-m", "taskwatch", *args],
            capture_output=True, timeout=60, env=env, check=False,
        )  # fmt: skip
        clean(f"taskwatch {args[0]} output", done.stdout + done.stderr)
