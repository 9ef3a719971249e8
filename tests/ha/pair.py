"""Daemons that share one PostgreSQL journal without leader election: each one believes it leads.

The split-brain and shared-kill-switch tests run real ``taskwatch run`` children (the way an
operator starts them) against one in-test emulator, whose log is the witness of every call, and
one fresh PostgreSQL database (:mod:`tests.postgres`). Each daemon gets its own HTTP port and log
file (JSON lines, read back per daemon: the emulator cannot tell them apart, both send the same
``X-TC-RequestClient`` without election). Everything here polls the children with short real
waits: they run on real time, the tests cannot await their internals.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import re
import signal
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import anyio

from taskwatch.actions.opening import journal_for
from taskwatch.clock import SystemClock
from taskwatch.emulator.faults import Fault
from taskwatch.models import AuditRecord
from taskwatch.settings import State
from tests.components import free_port
from tests.e2e.daemon import EMULATOR_LIMITS
from tests.emulator.harness import SECRET_ID, SECRET_KEY, Running
from tests.processes import child_env, spawn

LIMITS = {**EMULATOR_LIMITS, ("mps", "ManageTask"): 100_000.0}
"""The emulator's clock stands still, so its per-second windows never end: lift the abort's."""
INTERVAL = 1.0
HELD = 0.1
"""Seconds the emulator holds every abort: one daemon alone would need ``HELD`` × targets for a
cycle, so the other one is sure to start its own cycle meanwhile and race it task by task."""
REACHED = ("Success", "InvalidParameterValue.NotProcessingTask")

CONFIG = """
accounts:
  - name: main
    credentials: {from: static, secret_id: %(sid)s, secret_key: %(key)s}
    endpoint: %(endpoint)s
products:
  mps: {interval: %(interval)gs, jitter: 0}
  dlc: {enabled: false}
  live: {enabled: false}
api: {budget: 1.0}
http: {listen: "127.0.0.1:%(port)d", lifecycle: %(lifecycle)s}
state: {url: "%(url)s"}
logging: {format: json}
actions: {max_per_cycle: 1000}
policies:
  - name: abort-long-live
    product: mps
    filters:
      - type: LiveStreamProcessTask
      - status: PROCESSING
      - running_longer_than: 6h
    action: abort
    enforce: true
    max_actions: %(caps)s
"""


def held_aborts(seconds: float = HELD) -> Fault:
    return Fault(kind="latency", product="mps", action="ManageTask", seconds=seconds)


@dataclass
class Daemon:
    """One ``taskwatch run`` child and what it left behind (config, log)."""

    name: str
    config: Path
    port: int
    log: Path
    process: asyncio.subprocess.Process | None = None
    runs: int = 0

    async def start(self) -> None:
        self.runs += 1
        with self.log.open("ab") as out:
            self.process = await spawn(
                "run", "--config", str(self.config), stdout=out, stderr=out,
                stdin=asyncio.subprocess.DEVNULL, env=child_env(),
            )  # fmt: skip

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def get(self, path: str) -> tuple[int, str]:
        async with aiohttp.ClientSession() as s, s.get(f"{self.url}{path}") as r:
            return r.status, await r.text()

    async def post(self, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
        async with aiohttp.ClientSession() as s, s.post(f"{self.url}{path}", json=body) as r:
            return r.status, await r.json()

    async def metric(self, name: str) -> float | None:
        with contextlib.suppress(aiohttp.ClientError, OSError):
            _, text = await self.get("/metrics")
            found = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
            return float(found.group(1)) if found else None
        return None

    async def serving(self, within: float = 30.0) -> None:
        deadline = time.monotonic() + within
        while True:
            with contextlib.suppress(aiohttp.ClientError, OSError):
                if (await self.get("/healthz"))[0] == 200:
                    return
            assert self.process is not None
            if self.process.returncode is not None or time.monotonic() > deadline:
                raise AssertionError(f"{self.name} not serving:\n{self.tail()}")
            await anyio.sleep(0.05)

    async def stop(self, signum: int = signal.SIGTERM, within: float = 15.0) -> int:
        """Signal the child and wait for it; its exit code."""
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signum)
        return await asyncio.wait_for(self.process.wait(), timeout=within)

    def events(self, event: str | None = None) -> list[dict[str, Any]]:
        """The JSON log lines this daemon wrote (every run), or those of one ``event``."""
        found = []
        for line in self.log.read_text(errors="replace").splitlines():
            with contextlib.suppress(ValueError):
                entry = json.loads(line)
                if isinstance(entry, dict) and event in (None, entry.get("event")):
                    found.append(entry)
        return found

    def results(self) -> collections.Counter[str]:
        """What came of the intents this daemon wrote (its ``action`` log events)."""
        return collections.Counter(str(e.get("result")) for e in self.events("action"))

    def refusals(self) -> collections.Counter[str]:
        """Why the journal refused this daemon's intents (its ``action.refused`` events)."""
        return collections.Counter(str(e.get("why")) for e in self.events("action.refused"))

    def tail(self, lines: int = 15) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


@dataclass
class Pair:
    """Daemons of one test on one emulator and one PostgreSQL database; killed at the end."""

    emu: Running
    url: str
    workdir: Path
    daemons: list[Daemon] = field(default_factory=list)

    def add(self, name: str, *, caps: str = "{}", lifecycle: bool = False) -> Daemon:
        port = free_port()
        config = self.workdir / f"{name}.yaml"
        config.write_text(
            CONFIG
            % {
                "sid": SECRET_ID, "key": SECRET_KEY, "endpoint": self.emu.url,
                "interval": INTERVAL, "port": port, "lifecycle": str(lifecycle).lower(),
                "url": self.url, "caps": caps,
            }
        )  # fmt: skip
        daemon = Daemon(name, config, port, self.workdir / f"{name}.log")
        self.daemons.append(daemon)
        return daemon

    async def start_all(self, daemons: Iterable[Daemon] | None = None) -> None:
        """Start the daemons together and wait until each serves HTTP."""
        chosen = list(self.daemons if daemons is None else daemons)
        for d in chosen:
            await d.start()
        for d in chosen:
            await d.serving()

    async def kill_all(self) -> None:
        for d in self.daemons:
            if d.process is not None and d.process.returncode is None:
                await d.stop(signal.SIGKILL)

    def records(self) -> list[AuditRecord]:
        """Every journal record, read by a journal of the test's own (read-only)."""
        with journal_for(State(url=self.url), clock=SystemClock(), read_only=True) as journal:
            return journal.recent(0.0)

    def aborts(self) -> collections.Counter[str]:
        """Aborts that reached the emulator's handler, per task (the witness)."""
        return collections.Counter(
            e.params["TaskId"]
            for e in self.emu.emulator.log
            if e.action == "ManageTask" and e.code in REACHED
        )

    def sent(self) -> collections.Counter[str]:
        """Every abort request the emulator received, per task, whatever it answered."""
        return collections.Counter(
            e.params["TaskId"] for e in self.emu.emulator.log if e.action == "ManageTask"
        )
