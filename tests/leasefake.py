"""An in-memory Lease server for election tests on virtual time (looptime): compare-and-swap on a
resourceVersion like the API server's, a little latency per call, a history of every write and a
count of reads per replica, and a switch that makes one replica's calls fail."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace

import anyio

from taskwatch.clock import SystemClock
from taskwatch.leader.lease import LeaseRecord

LATENCY = 0.005
"""Seconds (virtual) each call takes."""


@dataclass(frozen=True, slots=True)
class Write:
    """A successful write: when (loop time, on return), which lease, by whom, to which holder."""

    at: float
    name: str
    writer: str
    holder: str


@dataclass
class LeaseServer:
    records: dict[str, LeaseRecord] = field(default_factory=dict)
    history: list[Write] = field(default_factory=list)
    reads: Counter[str] = field(default_factory=Counter)
    broken: set[str] = field(default_factory=set)
    _version: int = 0

    def store(self, name: str, who: str) -> FakeStore:
        return FakeStore(self, name, who)

    def factory(self, who: str) -> FakeFactory:
        return FakeFactory(self, who)

    def _write(self, name: str, who: str, record: LeaseRecord) -> LeaseRecord:
        self._version += 1
        written = replace(record, version=str(self._version))
        self.records[name] = written
        self.history.append(Write(SystemClock().monotonic(), name, who, record.holder))
        return written


@dataclass(frozen=True, slots=True)
class FakeFactory:
    server: LeaseServer
    who: str

    def __call__(self, name: str) -> FakeStore:
        return self.server.store(name, self.who)


@dataclass
class FakeStore:
    server: LeaseServer
    name: str
    who: str

    async def _call(self) -> None:
        await anyio.sleep(LATENCY)
        if self.who in self.server.broken:
            raise ConnectionError("API server unreachable (test)")

    async def open(self) -> None:
        pass

    async def get(self) -> LeaseRecord | None:
        await self._call()
        self.server.reads[self.who] += 1
        return self.server.records.get(self.name)

    async def create(self, record: LeaseRecord) -> LeaseRecord | None:
        await self._call()
        if self.name in self.server.records:
            return None  # 409
        return self.server._write(self.name, self.who, record)

    async def update(self, record: LeaseRecord) -> LeaseRecord | None:
        await self._call()
        current = self.server.records.get(self.name)
        if current is None or current.version != record.version:
            return None  # 409 (the API server answers 404 for a missing one; both are "no")
        return self.server._write(self.name, self.who, record)


def terms(history: list[Write], name: str, renew_deadline: float) -> list[tuple[str, float, float]]:
    """Each holder's terms of one lease: (holder, acquired at, ends at), where a term ends at its
    last write + ``renew_deadline`` (when the holder stops counting on it) or at its release."""
    out: list[tuple[str, float, float]] = []
    for w in (w for w in history if w.name == name):
        if out and out[-1][0] == w.holder:
            out[-1] = (w.holder, out[-1][1], w.at + renew_deadline)
        elif w.holder:
            out.append((w.holder, w.at, w.at + renew_deadline))
        if not w.holder and out and out[-1][0] == w.writer:  # released
            holder, start, end = out[-1]
            out[-1] = (holder, start, min(end, w.at))
    return out
