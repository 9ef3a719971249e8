"""``taskwatch emulator`` and ``taskwatch api`` as a user runs them: two real processes."""

from __future__ import annotations

import asyncio
import json
import re
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from tests.processes import child_env, spawn

ROOT = Path(__file__).parent.parent


@asynccontextmanager
async def emulator_process(*args: str) -> AsyncIterator[tuple[str, dict[str, str]]]:
    """Start ``taskwatch emulator --port 0``; yields its URL and the credentials it printed."""
    proc = await spawn(
        "emulator",
        "--port",
        "0",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=ROOT,
    )
    assert proc.stdout is not None
    banner = ""
    try:
        while "inspect:" not in banner:
            line = await asyncio.wait_for(proc.stdout.readline(), timeout=30)
            if not line:
                err = await proc.stderr.read() if proc.stderr else b""
                pytest.fail(f"emulator exited: {err.decode()}")
            banner += line.decode()
        url = re.search(r"serving (http://\S+)", banner)
        sid = re.search(r"TENCENTCLOUD_SECRET_ID=(\S+)", banner)
        skey = re.search(r"TENCENTCLOUD_SECRET_KEY=(\S+)", banner)
        assert url, banner
        assert sid, banner
        assert skey, banner
        yield (
            url.group(1),
            {
                "TENCENTCLOUD_SECRET_ID": sid.group(1),
                "TENCENTCLOUD_SECRET_KEY": skey.group(1),
            },
        )
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(proc.wait(), timeout=15)
        assert code == 0


async def taskwatch_api(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    proc = await spawn(
        "api",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=child_env(**env),
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_taskwatch_api_lists_and_aborts_a_task_on_a_running_emulator() -> None:
    async with emulator_process("--scenario", str(ROOT / "config/emulator/demo.yaml")) as (
        url,
        creds,
    ):
        code, out, err = await taskwatch_api(
            "mps",
            "DescribeTasks",
            '{"Status": "PROCESSING", "Limit": 100}',
            "--endpoint",
            url,
            env=creds,
        )
        assert code == 0, err
        tasks = json.loads(out)["Response"]["TaskSet"]
        live = [t for t in tasks if t["TaskType"] == "LiveProcessTask"]
        assert live, "the demo world has live stream processing tasks"
        abort = json.dumps({"OperationType": "Abort", "TaskId": live[0]["TaskId"]})
        code, out, err = await taskwatch_api(
            "mps", "ManageTask", abort, "--endpoint", url, env=creds
        )
        assert code == 0, err
        code, out, err = await taskwatch_api(
            "mps", "ManageTask", abort, "--endpoint", url, env=creds
        )
        assert code == 1
        assert "InvalidParameterValue.NotProcessingTask" in err
        assert "RequestId:" in err


async def test_the_built_in_world_answers_dlc_and_live_with_a_region() -> None:
    async with emulator_process() as (url, creds):
        code, out, err = await taskwatch_api(
            "dlc",
            "DescribeTasks",
            '{"Limit": 5}',
            "--endpoint",
            url,
            "--region",
            "ap-guangzhou",
            env=creds,
        )
        assert code == 0, err
        assert "TaskList" in json.loads(out)["Response"]
        code, out, err = await taskwatch_api(
            "live",
            "DescribeLivePullStreamTasks",
            "{}",
            "--endpoint",
            url,
            "--region",
            "ap-guangzhou",
            "--method",
            "GET",
            env=creds,
        )
        assert code == 0, err
        assert "TaskInfos" in json.loads(out)["Response"]


async def test_wrong_credentials_get_secret_id_not_found_from_the_emulator() -> None:
    async with emulator_process() as (url, _creds):
        code, _out, err = await taskwatch_api(
            "mps",
            "DescribeTasks",
            '{"Status": "WAITING"}',
            "--endpoint",
            url,
            env={
                "TENCENTCLOUD_SECRET_ID": "AKIDnope0000000000000000000000000000",
                "TENCENTCLOUD_SECRET_KEY": "nope-nope-nope-nope",
            },
        )
    assert code == 1
    assert "AuthFailure.SecretIdNotFound" in err


async def test_a_bad_scenario_file_exits_2_naming_the_file() -> None:
    proc = await spawn(
        "emulator",
        "--scenario",
        "/nonexistent/x.yaml",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _out, err = await asyncio.wait_for(proc.communicate(), timeout=30)
    assert proc.returncode == 2
    assert "/nonexistent/x.yaml" in err.decode()
    assert "Traceback" not in err.decode()
