"""What every benchmark shares: the result row, emulators in-process or in a child process, and
small statistics helpers.

Benchmarks compare *ratios measured in one run*: the machine is small and shared, so absolute
times drift between runs while taskwatch and its peers see the same conditions side by side.
"""

from __future__ import annotations

import asyncio
import math
import os
import sys
import tempfile
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from taskwatch.clock import Clock, SystemClock
from taskwatch.emulator.scenario import DEFAULT_CREDENTIAL
from taskwatch.tencent.client import RateGate, TencentClient
from taskwatch.tencent.credentials import Credentials, StaticCredentials
from taskwatch.tencent.endpoints import EndpointPolicy
from taskwatch.tencent.retry import NO_RETRY
from taskwatch.tencent.transport import Timeouts, Transport

ROOT = Path(__file__).resolve().parents[2]
SECRET_ID = DEFAULT_CREDENTIAL.secret_id
SECRET_KEY = DEFAULT_CREDENTIAL.secret_key
CREDENTIALS_YAML = f"credentials:\n  - {{secret_id: {SECRET_ID}, secret_key: {SECRET_KEY}}}\n"


@dataclass
class Row:
    """One line of the table and one object of ``bench-results.json``."""

    id: str
    figure: str
    taskwatch: float | None
    peers: dict[str, float | None]
    ratio: float | None
    goal: str
    met: bool | None
    notes: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "figure": self.figure,
            "taskwatch": _round(self.taskwatch),
            "peers": {k: _round(v) for k, v in self.peers.items()},
            "ratio": _round(self.ratio),
            "goal": self.goal,
            "met": self.met,
            "notes": self.notes,
        }


def _round(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return value
    return float(f"{value:.4g}")


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100) of a non-empty sequence."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def max_window(times: Iterable[float], width: float = 1.0) -> int:
    """The most events in any half-open window ``[t, t + width)``: a sliding window, checked at
    every event (the maximum is always reached by a window starting at an event)."""
    ordered = sorted(times)
    best = lo = 0
    for hi, t in enumerate(ordered):
        while ordered[lo] <= t - width:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def taskwatch_client(
    url: str,
    transport: Transport,
    *,
    gate: RateGate | None = None,
    clock: Clock | None = None,
    secret_id: str = SECRET_ID,
) -> TencentClient:
    """taskwatch's own client as the daemon builds it, without retries (they would hide
    throttling from the figures)."""
    return TencentClient(
        credentials=StaticCredentials(Credentials(secret_id, SECRET_KEY)),
        transport=transport,
        endpoints=EndpointPolicy(override=url),
        gate=gate,
        clock=clock or SystemClock(),
        retry=NO_RETRY,
    )


def transport() -> Transport:
    return Transport(timeouts=Timeouts(connect=5.0, total=30.0))


def sdk_profile(url: str, *, keep_alive: bool = True) -> Any:
    """The official SDK's profile for plain HTTP to ``url``, keep-alive on (its best use)."""
    from tencentcloud.common.profile.client_profile import ClientProfile
    from tencentcloud.common.profile.http_profile import HttpProfile

    http = HttpProfile(protocol="http", endpoint=url.removeprefix("http://"), reqTimeout=30)
    http.keepAlive = keep_alive
    return ClientProfile(httpProfile=http, language="en-US")


def sdk_credential() -> Any:
    from tencentcloud.common.credential import Credential

    return Credential(SECRET_ID, SECRET_KEY)


def sdk_mps(url: str) -> Any:
    """The official sync MPS client (``requests``), one per poller so keep-alive works."""
    from tencentcloud.mps.v20190612.mps_client import MpsClient

    return MpsClient(sdk_credential(), "", sdk_profile(url))


def sdk_mps_async(url: str) -> Any:
    """The official async MPS client (``httpx``)."""
    from tencentcloud.mps.v20190612.mps_client_async import MpsClient

    return MpsClient(sdk_credential(), "", sdk_profile(url))


def scenario_yaml(body: str, *, limits: Mapping[str, float] | None = None) -> str:
    """A scenario document: the bench credential, optional limit overrides, then ``body``."""
    text = CREDENTIALS_YAML
    if limits:
        text += "limits:\n" + "".join(f"  {k}: {v}\n" for k, v in limits.items())
    return text + body


LIFTED = {
    "mps.DescribeTasks": 1_000_000,
    "mps.DescribeTaskDetail": 1_000_000,
    "mps.ManageTask": 1_000_000,
}


@asynccontextmanager
async def child_emulator(scenario: str, *, cpu: int | None = None) -> AsyncIterator[str]:
    """``taskwatch emulator`` in a child process (its CPU is not ours), optionally pinned to one
    core; yields its base URL."""
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        f.write(scenario)
    args = [sys.executable, "-m", "taskwatch", "emulator", "--port", "0", "--scenario", f.name]
    async with child_server(args, marker="serving ", cpu=cpu) as url:
        yield url
    os.unlink(f.name)


@asynccontextmanager
async def child_server(
    args: list[str], *, marker: str, cpu: int | None = None
) -> AsyncIterator[str]:
    """Run ``args``; yield the URL printed after ``marker`` on its stdout; stop it after."""
    proc = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL, cwd=ROOT
    )
    try:
        if cpu is not None:
            with suppress(OSError):
                os.sched_setaffinity(proc.pid, {cpu % (os.cpu_count() or 1)})
        assert proc.stdout is not None
        url = ""
        async with asyncio.timeout(60):
            while not url:
                line = (await proc.stdout.readline()).decode()
                if not line:
                    raise RuntimeError(f"{args} exited before serving")
                if marker in line:
                    url = line.split(marker, 1)[1].split()[0]
        drain = asyncio.create_task(_drain(proc.stdout))
        yield url
        drain.cancel()
    finally:
        if proc.returncode is None:
            proc.terminate()
            with suppress(TimeoutError):
                async with asyncio.timeout(5):
                    await proc.wait()
            if proc.returncode is None:
                proc.kill()
                await proc.wait()


async def _drain(stream: asyncio.StreamReader) -> None:
    while await stream.readline():
        pass


def pin(cpu: int) -> set[int] | None:
    """Pin this process to one core; returns the previous set (``None`` where unsupported)."""
    try:
        before = os.sched_getaffinity(0)
        os.sched_setaffinity(0, {cpu % (os.cpu_count() or 1)})
    except (AttributeError, OSError):
        return None
    return before


def unpin(before: set[int] | None) -> None:
    if before is not None:
        with suppress(OSError):
            os.sched_setaffinity(0, before)
