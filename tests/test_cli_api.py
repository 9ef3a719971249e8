"""``taskwatch api`` run as a user runs it: a real subprocess against a local signed endpoint."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass

from tests.processes import child_env, spawn
from tests.tencent.fakeserver import Fail, FakeTencent, Ok

SECRET_ID = "AKIDcliTEST0000000000000000000000001"
SECRET_KEY = "CANARY-SK-cli-0123456789abcdef"


@dataclass
class Run:
    code: int
    out: str
    err: str


async def taskwatch(*args: str, env: dict[str, str] | None = None) -> Run:
    given = (
        {"TENCENTCLOUD_SECRET_ID": SECRET_ID, "TENCENTCLOUD_SECRET_KEY": SECRET_KEY}
        if env is None
        else env
    )
    proc = await spawn(
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=child_env(**given),
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode is not None
    return Run(proc.returncode, out.decode(), err.decode())


async def test_a_successful_call_prints_the_response_json_and_exits_0() -> None:
    async with FakeTencent(secret_key=SECRET_KEY) as api:
        api.script(Ok({"TaskSet": [], "ScrollToken": "", "TotalCount": 0}, request_id="rid-1"))
        run = await taskwatch(
            "api",
            "mps",
            "DescribeTasks",
            '{"Status": "PROCESSING", "Limit": 10}',
            "--endpoint",
            api.url,
        )
    assert run.code == 0, run.err
    assert json.loads(run.out) == {
        "Response": {"TaskSet": [], "ScrollToken": "", "TotalCount": 0, "RequestId": "rid-1"}
    }
    (sent,) = api.requests
    assert sent.headers["x-tc-action"] == "DescribeTasks"
    assert sent.headers["x-tc-version"] == "2019-06-12"
    assert "x-tc-region" not in sent.headers
    assert json.loads(sent.body) == {"Status": "PROCESSING", "Limit": 10}


async def test_get_with_a_region_sends_the_flattened_query_and_the_region_header() -> None:
    async with FakeTencent(secret_key=SECRET_KEY) as api:
        api.script(Ok({"TaskList": [], "TotalCount": 0}))
        run = await taskwatch(
            "api",
            "dlc",
            "DescribeTasks",
            '{"Limit": 5, "Filters": [{"Name": "task-state", "Values": ["1"]}]}',
            "--endpoint",
            api.url,
            "--region",
            "ap-guangzhou",
            "--method",
            "GET",
        )
    assert run.code == 0, run.err
    (sent,) = api.requests
    assert sent.method == "GET"
    assert sent.query == "Limit=5&Filters.0.Name=task-state&Filters.0.Values.0=1"
    assert sent.headers["x-tc-region"] == "ap-guangzhou"


async def test_an_api_error_prints_code_message_and_request_id_to_stderr_and_exits_1() -> None:
    async with FakeTencent(secret_key=SECRET_KEY) as api:
        api.script(
            Fail("InvalidParameterValue.TaskId", "The task does not exist.", request_id="rid-42")
        )
        run = await taskwatch(
            "api",
            "mps",
            "ManageTask",
            '{"OperationType": "Abort", "TaskId": "nope"}',
            "--endpoint",
            api.url,
        )
    assert run.code == 1
    assert run.out == ""
    assert "InvalidParameterValue.TaskId" in run.err
    assert "The task does not exist." in run.err
    assert "rid-42" in run.err
    assert "Traceback" not in run.err
    assert SECRET_KEY not in run.err + run.out


async def test_a_destructive_call_that_fails_is_sent_exactly_once() -> None:
    async with FakeTencent(secret_key=SECRET_KEY) as api:
        api.script(Fail("InternalError", "boom"))
        run = await taskwatch(
            "api",
            "mps",
            "ManageTask",
            '{"OperationType": "Abort", "TaskId": "t-1"}',
            "--endpoint",
            api.url,
        )
    assert run.code == 1
    assert len(api.requests) == 1


async def test_params_that_are_not_a_json_object_exit_2_with_one_line() -> None:
    for bad in ("{not json", "[1, 2]"):
        run = await taskwatch(
            "api", "mps", "DescribeTasks", bad, "--endpoint", "http://127.0.0.1:9"
        )
        assert run.code == 2
        assert run.err.startswith("error: params:")
        assert "Traceback" not in run.err


async def test_missing_credentials_exit_2_naming_the_variable() -> None:
    run = await taskwatch(
        "api", "mps", "DescribeTasks", "{}", "--endpoint", "http://127.0.0.1:9", env={}
    )
    assert run.code == 2
    assert "TENCENTCLOUD_SECRET_ID" in run.err
    assert "Traceback" not in run.err


async def test_a_bad_endpoint_and_an_unknown_product_exit_2() -> None:
    run = await taskwatch("api", "mps", "DescribeTasks", "{}", "--endpoint", "ftp://x")
    assert run.code == 2
    assert "--endpoint" in run.err
    run = await taskwatch("api", "cvm", "DescribeInstances")
    assert run.code == 2


async def test_an_unreachable_endpoint_exits_1_with_a_one_line_reason() -> None:
    async with FakeTencent(secret_key=SECRET_KEY) as closed:
        url = closed.url
    run = await taskwatch(
        "api",
        "mps",
        "DescribeTasks",
        '{"Status": "WAITING"}',
        "--endpoint",
        url,
        "--timeout",
        "5",
    )
    assert run.code == 1
    assert "cannot connect" in run.err
    assert "Traceback" not in run.err
