"""Start an emulator on 127.0.0.1 for one test, and build clients that talk to it.

Every test builds its own world, clock and server: nothing is shared between tests. The clock is
a :class:`ManualClock` by default, so time moves only when the test says (``clock.advance``), and
rate-limit windows, signature expiry and task lifecycles all follow it.

Clients:
- :func:`taskwatch_client` — taskwatch's own :class:`TencentClient`, no retries unless asked;
- :func:`sdk_credential` / :func:`sdk_profile` — the official SDK pointed at the emulator (plain
  HTTP on the emulator's port). The sync SDK blocks: call it with ``asyncio.to_thread``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from taskwatch.clock import Clock, ManualClock
from taskwatch.emulator.actions import Options
from taskwatch.emulator.faults import Fault, FaultPlan
from taskwatch.emulator.scenario import EmulatorCredential
from taskwatch.emulator.server import Emulator
from taskwatch.emulator.world import World
from taskwatch.tencent.client import TencentClient
from taskwatch.tencent.credentials import Credentials, StaticCredentials
from taskwatch.tencent.endpoints import EndpointPolicy
from taskwatch.tencent.retry import NO_RETRY, RetryPolicy
from taskwatch.tencent.transport import Timeouts, Transport
from tests.canary import CANARY_SECRET_ID, CANARY_SECRET_KEY

SECRET_ID = CANARY_SECRET_ID
SECRET_KEY = CANARY_SECRET_KEY


def start_time() -> datetime:
    """The virtual clock starts at the real time (whole seconds): the official SDK signs with the
    real clock, and the emulator refuses timestamps more than five minutes off its own."""
    return datetime.now(UTC).replace(microsecond=0)


@dataclass
class Running:
    """A live emulator: its base URL, the emulator object, its world and clock."""

    url: str
    emulator: Emulator
    world: World
    clock: ManualClock

    @property
    def host(self) -> str:
        return self.url.removeprefix("http://")

    def log(self) -> list[dict[str, Any]]:
        return [e.as_dict() for e in self.emulator.log]


@asynccontextmanager
async def running_emulator(
    *,
    world: World | None = None,
    clock: ManualClock | None = None,
    options: Options | None = None,
    limits: Mapping[tuple[str, str], float] | None = None,
    faults: Iterable[Fault] = (),
    credentials: Iterable[EmulatorCredential] | None = None,
    seed: int = 1,
) -> AsyncIterator[Running]:
    clock = clock or ManualClock(wall=start_time(), mono=1000.0)
    world = world or World(clock, seed=seed)
    emulator = Emulator(
        world=world,
        credentials=credentials or [EmulatorCredential(SECRET_ID, SECRET_KEY)],
        options=options,
        limits=limits,
        faults=FaultPlan(list(faults)),
        clock=clock,
    )
    async with emulator.serve() as url:
        yield Running(url=url, emulator=emulator, world=world, clock=clock)


def taskwatch_client(
    running: Running,
    transport: Transport,
    *,
    retry: RetryPolicy = NO_RETRY,
    clock: Clock | None = None,
    secret_id: str = SECRET_ID,
    secret_key: str = SECRET_KEY,
    **kwargs: Any,
) -> TencentClient:
    return TencentClient(
        credentials=StaticCredentials(Credentials(secret_id, secret_key)),
        transport=transport,
        endpoints=EndpointPolicy(override=running.url),
        clock=clock or running.clock,
        retry=retry,
        **kwargs,
    )


def fast_transport() -> Transport:
    return Transport(timeouts=Timeouts(connect=2.0, total=5.0))


def sdk_credential() -> Any:
    from tencentcloud.common.credential import Credential

    return Credential(SECRET_ID, SECRET_KEY)


def sdk_profile(running: Running) -> Any:
    from tencentcloud.common.profile.client_profile import ClientProfile
    from tencentcloud.common.profile.http_profile import HttpProfile

    http = HttpProfile(protocol="http", endpoint=running.host, reqTimeout=10)
    return ClientProfile(httpProfile=http, language="en-US")
