"""A hostile endpoint: answers too large to hold, pages that never end.

Each test points taskwatch at a scripted endpoint of the test suite
(:mod:`tests.tencent.fakeserver`, real HTTP on 127.0.0.1) that misbehaves in one way, and checks
what the whole daemon does about it: the cycle fails cleanly with a typed error, the failure is
counted, and the process stays small. (Messages that echo secrets: ``test_echoed_secrets.py``.)

The memory figure is the peak resident set of ``taskwatch once`` run in a subprocess, read by the
child itself as it exits (``VmHWM`` of ``/proc/self/status``: the high-water mark of its own address
space since ``exec``), so neither the endpoint's buffers nor the test process are in it.
``ru_maxrss`` would not do: it carries over the parent's resident set from before ``exec`` (the
child starts as a copy of pytest, hundreds of MB late in a run).
"""

from __future__ import annotations

import asyncio
import re
import sys
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from taskwatch.errors import ConfigError
from taskwatch.metrics.registry import Metrics
from taskwatch.products.base import MAX_LISTED
from taskwatch.settings import parse_settings
from taskwatch.supervisor import Supervisor
from tests.processes import ROOT, child_env
from tests.tencent.fakeserver import FakeTencent, Ok, Reply, Stream

SECRET_ID = "AKIDhostileTEST000000000000000000001"
SECRET_KEY = "hostile-endpoint-key-0c4f1e9a7b23"
MiB = 1 << 20
GiB = 1 << 30
RSS_CEILING = 150 * MiB
"""The daemon idles near 60 MB; the default limit (16 MiB) may add that much again, no more."""
ONLY_MPS = {"mps": {"interval": "30s"}, "dlc": {"enabled": False}, "live": {"enabled": False}}

PEAK = re.compile(rb"peak_rss_kib=(\d+)")
REPORTING_PEAK = (
    "import atexit, re, runpy, sys\n"
    "def peak():\n"
    "    status = open('/proc/self/status').read()\n"
    "    kib = re.search(r'VmHWM:\\s+(\\d+) kB', status).group(1)\n"
    "    sys.stderr.write('peak_rss_kib=' + kib + '\\n')\n"
    "atexit.register(peak)\n"
    "sys.argv = ['taskwatch', *sys.argv[1:]]\n"
    "runpy.run_module('taskwatch', run_name='__main__', alter_sys=True)\n"
)
"""``python -m taskwatch ARGS`` that says its peak RSS (KiB) on the way out."""


def config(server: FakeTencent, tmp_path: Path, **api: Any) -> dict[str, Any]:
    return {
        "accounts": [
            {
                "name": "main",
                "credentials": {"from": "static", "secret_id": SECRET_ID, "secret_key": SECRET_KEY},
                "endpoint": server.url,
            }
        ],
        "products": ONLY_MPS,
        "api": api,
        "http": {"listen": "127.0.0.1:0"},
        "state": {"path": str(tmp_path / "state.db")},
    }


async def once_in_a_child(server: FakeTencent, tmp_path: Path, **api: Any) -> tuple[int, bytes]:
    """``taskwatch once`` against ``server``: its exit code and its output (peak RSS included)."""
    path = tmp_path / "taskwatch.yaml"
    lines = [
        "accounts:",
        "  - {name: main, credentials: {from: env}, endpoint: '" + server.url + "'}",
        "products: {mps: {interval: 30s}, dlc: {enabled: false}, live: {enabled: false}}",
        f"state: {{path: '{tmp_path / 'state.db'}'}}",
        "api: {" + ", ".join(f"{k}: {v}" for k, v in api.items()) + "}",
    ]
    path.write_text("\n".join(lines) + "\n")
    env = child_env(TENCENTCLOUD_SECRET_ID=SECRET_ID, TENCENTCLOUD_SECRET_KEY=SECRET_KEY)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", REPORTING_PEAK, "once", "-c", str(path),
        env=env, cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode is not None
    return proc.returncode, out


def peak_rss(out: bytes) -> int:
    found = PEAK.search(out)
    assert found, out[-2000:]
    return int(found.group(1)) * 1024


async def test_a_gibibyte_answer_is_refused_and_the_daemon_stays_small(tmp_path: Path) -> None:
    async with FakeTencent(secret_key=SECRET_KEY) as server:
        server.otherwise = Stream(GiB)  # chunked: the length is known only by reading it
        code, out = await once_in_a_child(server, tmp_path)
        (streamed,) = await server.stream_ends()
    assert code == 1, out  # a source failed
    assert b"ResponseTooLarge" in out
    assert peak_rss(out) < RSS_CEILING, out
    assert len(server.requests) == 1  # not retried
    assert streamed < 64 * MiB  # the client hung up long before the end


async def test_a_too_large_answer_fails_the_cycle_cleanly_and_is_counted(tmp_path: Path) -> None:
    async with FakeTencent(secret_key=SECRET_KEY) as server:
        server.script(Stream(8 * MiB, announce=True))
        server.otherwise = Ok({"TaskSet": [], "ScrollToken": ""})
        settings = parse_settings(config(server, tmp_path, max_body_bytes=MiB), source="t.yaml")
        metrics = Metrics()
        d = Supervisor(settings, metrics=metrics)
        (failed,) = await d.run_once()
        (good,) = await d.run_once()  # the connection was dropped; the next cycle is fine
    assert failed.error == "ResponseTooLarge"
    assert failed.message is not None
    assert "larger than 1048576 bytes" in failed.message
    assert good.ok
    where = {"account": "main", "product": "mps", "action": "DescribeTasks"}
    value = metrics.registry.get_sample_value
    assert value("taskwatch_api_requests_total", {**where, "code": "ResponseTooLarge"}) == 1
    source = {"account": "main", "product": "mps", "region": "global"}
    assert value("taskwatch_scan_errors_total", {**source, "reason": "ResponseTooLarge"}) == 1
    assert value("taskwatch_scan_cycles_total", {**source, "result": "failed"}) == 1


def task(task_id: str) -> dict[str, Any]:
    unset = "0000-00-00T00:00:00Z"
    return {
        "TaskId": task_id,
        "TaskType": "WorkflowTask",
        "CreateTime": "2026-03-01T12:00:00Z",
        "BeginProcessTime": unset,
        "FinishTime": unset,
    }


async def test_pages_with_fresh_tokens_but_no_new_task_fail_the_cycle_at_once_and_are_counted(
    tmp_path: Path,
) -> None:
    same = [task("1250000000-WorkflowTask-a1t0"), task("1250000000-WorkflowTask-b2t0")]
    async with FakeTencent(secret_key=SECRET_KEY) as server:
        server.script(*(Ok({"TaskSet": same, "ScrollToken": f"token-{n}"}) for n in range(500)))
        server.otherwise = Ok({"TaskSet": [], "ScrollToken": ""})
        metrics = Metrics()
        d = Supervisor(parse_settings(config(server, tmp_path), source="t.yaml"), metrics=metrics)
        (report,) = await d.run_once()
    assert report.error == "PagingError"
    assert report.message is not None
    assert "no progress" in report.message
    assert report.calls == {"DescribeTasks": 2}
    assert len(server.requests) == 2
    source = {"account": "main", "product": "mps", "region": "global"}
    value = metrics.registry.get_sample_value
    assert value("taskwatch_scan_errors_total", {**source, "reason": "PagingError"}) == 1


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (1023, "must be a number of bytes from 1024 (1 KiB) to 1073741824 (1 GiB)"),
        (2 * GiB, "must be a number of bytes from 1024 (1 KiB) to 1073741824 (1 GiB)"),
        ("16MiB", "must be an integer"),
        (True, "must be an integer, not true or false"),
    ],
)
def test_a_bad_answer_limit_is_a_config_error_naming_the_key_and_the_file(
    value: object, reason: str, tmp_path: Path
) -> None:
    raw = {
        "accounts": [{"name": "main", "credentials": {"from": "env"}}],
        "api": {"max_body_bytes": value},
    }
    with pytest.raises(ConfigError) as caught:
        parse_settings(raw, source="t.yaml", environ={})
    assert str(caught.value) == f"t.yaml: api.max_body_bytes: {reason}"


def test_the_answer_limit_reaches_the_transport(tmp_path: Path) -> None:
    raw = {"accounts": [{"name": "main", "credentials": {"from": "env"}}]}
    default = Supervisor(parse_settings(raw, source="t.yaml", environ={}))
    raw["api"] = {"max_body_bytes": 4096}  # type: ignore[assignment]
    small = Supervisor(parse_settings(raw, source="t.yaml", environ={}))
    assert (default.transport.max_body, small.transport.max_body) == (16 * MiB, 4096)


class EndlessPages(FakeTencent):
    """A ScrollToken that never ends, with new tasks on every page (the endpoint that grew the
    daemon from 62 to 352 MB in a minute until the cycle's timeout)."""

    pages = 0

    async def _answer(self, request: web.Request, reply: Reply) -> web.StreamResponse:
        n = self.pages = self.pages + 1
        fresh = [task(f"1250000000-WorkflowTask-p{n}t{i}") for i in range(100)]
        return await super()._answer(request, Ok({"TaskSet": fresh, "ScrollToken": f"t{n}"}))


@pytest.mark.looptime  # the limiter's waits cost no real time; the HTTP calls are real
async def test_a_token_that_never_ends_stops_at_the_listing_bound_in_bounded_memory(
    tmp_path: Path,
) -> None:
    tracemalloc.start()
    try:
        async with EndlessPages(secret_key=SECRET_KEY) as server:
            metrics = Metrics()
            settings = parse_settings(config(server, tmp_path), source="t.yaml")
            d = Supervisor(settings, metrics=metrics)
            (report,) = await d.run_once()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert report.error == "PagingError"
    pages = MAX_LISTED // 100  # the listing bound, at MPS's largest page
    assert pages <= server.pages <= pages + 1
    source = {"account": "main", "product": "mps", "region": "global"}
    value = metrics.registry.get_sample_value
    assert value("taskwatch_scan_errors_total", {**source, "reason": "PagingError"}) == 1
    # the bound's 100,000 records (≈ 65 MiB, docs/performance.md P5) and the endpoint's own
    # buffers, then no more however long the token runs
    assert peak < 160 * MiB, peak
