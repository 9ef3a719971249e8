"""Real external components for tests: find or install the binary, run it on loopback.

The project rule: ``make test`` installs what its tests need (Debian packages when running as root
and missing; builds cached under ``~/.cache/taskwatch``) and starts servers on loopback. A test
whose component is missing fails when ``CI=true`` and skips with the reason otherwise, so a
developer without root still gets a green run of everything else, and CI never silently loses a
test.

Components:
- :func:`require_binary`: the path of a binary, installing its Debian package if need be;
- :func:`promtool`: run Prometheus' ``promtool`` (``check metrics`` reads the exposition on stdin);
- :class:`PrometheusServer` and the ``prometheus`` fixture: a real Prometheus scraping given
  targets every second, with a query API client. Prometheus is an outside process on its own real
  clock, so this helper polls with short real sleeps, bounded by a timeout; the tests themselves
  still never sleep.

Use the fixture by importing it into the test module
(``from tests.components import prometheus_fixture  # noqa: F401``; the fixture is named
``prometheus``). It is not in a conftest, so only the tests that need Prometheus pay for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import aiohttp
import pytest

CACHE = Path.home() / ".cache" / "taskwatch"
APT_LOCK = CACHE / "apt.lock"
INSTALL_TIMEOUT = 600.0

_attempted: dict[str, str | None] = {}
"""Debian packages this session already tried to install: package -> failure reason, or None."""


def missing(reason: str) -> NoReturn:
    """Fail under CI (a lost test must be loud), skip elsewhere (with the reason)."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"required component missing under CI=true: {reason}", pytrace=False)
    pytest.skip(reason)


def _apt_install(package: str) -> str | None:
    """Install one Debian package, serialised across processes; the failure reason or None."""
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", package]
    CACHE.mkdir(parents=True, exist_ok=True)
    with APT_LOCK.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another session may be installing the same thing
        try:
            first = subprocess.run(
                install, env=env, capture_output=True, text=True, timeout=INSTALL_TIMEOUT
            )
            if first.returncode == 0:
                return None
            # Stale package lists are the usual cause ("Unable to locate package", 404s).
            subprocess.run(
                ["apt-get", "update", "-q"],
                env=env,
                capture_output=True,
                timeout=INSTALL_TIMEOUT,
            )
            second = subprocess.run(
                install, env=env, capture_output=True, text=True, timeout=INSTALL_TIMEOUT
            )
            if second.returncode == 0:
                return None
            tail = (second.stderr or second.stdout).strip().splitlines()[-3:]
            return f"apt-get install {package} failed (rc {second.returncode}): " + " | ".join(tail)
        except subprocess.TimeoutExpired:
            return f"apt-get install {package} took longer than {INSTALL_TIMEOUT:.0f} s"
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def require_binary(name: str, debian_package: str) -> str:
    """The path of ``name``; installs ``debian_package`` once per session if root and missing."""
    if found := shutil.which(name):
        return found
    if debian_package not in _attempted:
        if os.geteuid() != 0:
            _attempted[debian_package] = "not root, so cannot apt-get install"
        elif shutil.which("apt-get") is None:
            _attempted[debian_package] = "no apt-get on this system"
        else:
            _attempted[debian_package] = _apt_install(debian_package)
    if found := shutil.which(name):
        return found
    why = _attempted[debian_package] or f"the package does not provide {name!r}"
    missing(f"{name} not found (Debian package {debian_package}): {why}")


def promtool(*args: str, stdin: bytes | str | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``promtool`` with ``args`` (e.g. ``"check", "metrics"`` with the exposition on stdin)."""
    binary = require_binary("promtool", "prometheus")
    data = stdin.encode() if isinstance(stdin, str) else stdin
    done = subprocess.run([binary, *args], input=data, capture_output=True, timeout=60, check=False)
    return subprocess.CompletedProcess(
        done.args,
        done.returncode,
        done.stdout.decode(errors="replace"),
        done.stderr.decode(errors="replace"),
    )


def free_port() -> int:
    """A port free on 127.0.0.1 right now (another process could still take it: rare)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Sample:
    """One series of an instant-vector query result."""

    labels: dict[str, str]
    value: float

    @classmethod
    def parse(cls, raw: dict[str, Any]) -> Sample:
        return cls(dict(raw["metric"]), float(raw["value"][1]))


@dataclass
class PrometheusServer:
    """A running Prometheus on 127.0.0.1 (start it with :meth:`start`, end it with :meth:`stop`)."""

    process: subprocess.Popen[bytes]
    port: int
    workdir: Path
    _log: Any = field(repr=False)

    STARTUP_TIMEOUT = 30.0
    POLL = 0.2

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @classmethod
    async def start(
        cls,
        targets: Sequence[str],
        *,
        workdir: Path,
        job: str = "taskwatch",
        binary: str | None = None,
    ) -> PrometheusServer:
        """Scrape ``targets`` (``host:port``) every second as ``job``; return once ready."""
        server = cls.launch(targets, workdir=workdir, job=job, binary=binary)
        try:
            await server._wait_ready()
        except BaseException:
            server.stop()
            raise
        return server

    @classmethod
    def launch(
        cls,
        targets: Sequence[str],
        *,
        workdir: Path,
        job: str = "taskwatch",
        binary: str | None = None,
    ) -> PrometheusServer:
        """Write the config and start the process (it is not ready yet: see :meth:`start`)."""
        binary = binary or require_binary("prometheus", "prometheus")
        workdir.mkdir(parents=True, exist_ok=True)
        config = workdir / "prometheus.yml"
        quoted = ", ".join(f"'{t}'" for t in targets)
        config.write_text(
            "global: {scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s}\n"
            "scrape_configs:\n"
            f"  - job_name: {job}\n"
            f"    static_configs: [{{targets: [{quoted}]}}]\n"
        )
        port = free_port()
        log = (workdir / "prometheus.log").open("wb")
        process = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=workdir,
        )
        return cls(process, port, workdir, log)

    def log_tail(self, lines: int = 20) -> str:
        path = self.workdir / "prometheus.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    async def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.STARTUP_TIMEOUT
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"prometheus exited early:\n{self.log_tail()}")
                with contextlib.suppress(aiohttp.ClientError):
                    async with session.get(f"{self.url}/-/ready") as response:
                        if response.status == 200:
                            return
                await asyncio.sleep(self.POLL)
        raise TimeoutError(f"prometheus not ready in {self.STARTUP_TIMEOUT} s:\n{self.log_tail()}")

    async def api(self, path: str, **params: str) -> Any:
        """GET ``/api/v1/<path>``; the ``data`` of a successful answer."""
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"{self.url}/api/v1/{path}", params=params) as response,
        ):
            body = await response.json()
        if body.get("status") != "success":
            raise RuntimeError(f"prometheus API {path} {params}: {body}")
        return body["data"]

    async def query(self, promql: str) -> list[Sample]:
        """An instant query; only vector results are supported."""
        data = await self.api("query", query=promql)
        if data["resultType"] != "vector":
            raise ValueError(f"{promql!r} is a {data['resultType']}, not an instant vector")
        return [Sample.parse(raw) for raw in data["result"]]

    async def wait_for(
        self,
        promql: str,
        predicate: Callable[[list[Sample]], bool],
        timeout: float = 20.0,  # noqa: ASYNC109 - a deadline on another process's progress
    ) -> list[Sample]:
        """Poll ``promql`` until ``predicate`` holds for its result; that result.

        On timeout, fails with the last result and the scrape targets' state, so the reason
        (target down, wrong value, no scrape yet) is in the message.
        """
        deadline = time.monotonic() + timeout
        while True:
            result = await self.query(promql)
            if predicate(result):
                return result
            if time.monotonic() >= deadline:
                targets = await self.api("targets")
                state = [
                    (t["scrapeUrl"], t["health"], t["lastError"]) for t in targets["activeTargets"]
                ]
                raise AssertionError(
                    f"{promql!r} did not satisfy the condition within {timeout} s; "
                    f"last result {result}; targets {state}"
                )
            await asyncio.sleep(self.POLL)

    def stop(self) -> None:
        """Terminate, wait a little, kill if need be; close the log."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._log.close()


StartPrometheus = Callable[[Sequence[str]], Awaitable[PrometheusServer]]


@pytest.fixture(name="prometheus")
def prometheus_fixture(tmp_path: Path) -> Iterator[StartPrometheus]:
    """Starts Prometheus servers scraping the given targets; stops them after the test."""
    binary = require_binary("prometheus", "prometheus")
    started: list[PrometheusServer] = []

    async def start(targets: Sequence[str]) -> PrometheusServer:
        server = await PrometheusServer.start(
            targets, workdir=tmp_path / f"prometheus-{len(started)}", binary=binary
        )
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
