"""Run taskwatch daemons as replicas (subprocesses) with leader election against a test API server.

Each replica gets its own identity, state file (or, with ``journal_url``, one PostgreSQL journal
shared by every replica), HTTP port and log file (JSON lines, for reading
after a failure); all point at one in-test emulator and at the ServiceAccount's kubeconfig, so
they can do only what deploy/kubernetes' Role grants. :class:`LeaseWatch` polls the Lease every
20 ms to record who held it when.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import anyio
import yaml

from taskwatch.leader.lease import KubernetesLeaseStore
from tests.components import free_port
from tests.emulator.harness import SECRET_ID, SECRET_KEY, Running
from tests.kube import SA_NAMESPACE, KubeCluster
from tests.processes import child_env, spawn

ROOT = Path(__file__).parent.parent.parent
LEASE = "taskwatch-leader"
LEASE_DURATION, RENEW_DEADLINE, RETRY_PERIOD = 2.0, 1.5, 0.5

CONFIG = """
accounts:
  - name: main
    credentials: {from: static, secret_id: %(sid)s, secret_key: %(key)s}
    endpoint: %(url)s
products:
  mps: {interval: 1s, jitter: 0}
  dlc: {enabled: false}
  live: {enabled: false}
api: {budget: 1.0}
http: {listen: "127.0.0.1:%(port)d"}
state: %(state)s
logging: {format: json}
leader:
  enabled: true
  identity: %(identity)s
  namespace: %(namespace)s
  kubeconfig: %(kubeconfig)s
  lease_duration: %(ld)gs
  renew_deadline: %(rd)gs
  retry_period: %(rp)gs
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


def client_of(identity: str) -> str:
    """The ``X-TC-RequestClient`` a replica sends."""
    return f"taskwatch/0.1.0; {identity}"


def precompile() -> None:
    """Bytecode for kubernetes_asyncio (uv installs none, and CI sets PYTHONDONTWRITEBYTECODE):
    each replica imports its 700 model modules, which takes twice as long from source."""
    import compileall

    import kubernetes_asyncio

    compileall.compile_dir(Path(kubernetes_asyncio.__file__).parent, quiet=2, workers=2)


def apply_rbac(cluster: KubeCluster) -> None:
    """The rendered deploy/kubernetes/postgres' Namespace, ServiceAccount, Role and RoleBinding
    (the mode with leader election)."""
    overlay = ROOT / "deploy" / "kubernetes" / "postgres"
    rendered = cluster.kubectl("kustomize", str(overlay)).stdout
    wanted = {"Namespace", "ServiceAccount", "Role", "RoleBinding"}
    docs = [d for d in yaml.safe_load_all(rendered) if d and d.get("kind") in wanted]
    assert {d["kind"] for d in docs} == wanted
    cluster.kubectl("apply", "-f", "-", stdin=yaml.safe_dump_all(docs))


@dataclass
class Replica:
    identity: str
    process: asyncio.subprocess.Process
    port: int
    log: Path

    @property
    def client(self) -> str:
        return client_of(self.identity)

    async def get(self, path: str) -> tuple[int, str]:
        async with aiohttp.ClientSession() as s, s.get(f"http://127.0.0.1:{self.port}{path}") as r:
            return r.status, await r.text()

    async def metric(self, name: str) -> float | None:
        _, text = await self.get("/metrics")
        found = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
        return float(found.group(1)) if found else None

    async def sees_holder(self) -> str | None:
        """Who this replica last saw holding the Lease (its /readyz)."""
        with contextlib.suppress(aiohttp.ClientError, OSError, ValueError):
            async with (
                aiohttp.ClientSession() as s,
                s.get(f"http://127.0.0.1:{self.port}/readyz") as r,
            ):
                holder: str | None = (await r.json())["leader"]["holder"]
                return holder
        return None

    def signal(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signum)


@dataclass
class Fleet:
    """Replicas of one test; every one is killed at the end."""

    emu: Running
    cluster: KubeCluster
    workdir: Path
    per_cycle: int = 1
    per_hour: int | None = None
    journal_url: str | None = None
    """A PostgreSQL journal every replica shares; default: a SQLite file each."""
    tweak: Callable[[str, dict[str, Any]], None] | None = None
    """Changes a replica's configuration (its identity, the parsed YAML) before it is written."""
    replicas: list[Replica] = field(default_factory=list)

    async def start(self, identity: str) -> Replica:
        port = free_port()
        config = self.workdir / f"{identity}.yaml"
        text = CONFIG % {
            "sid": SECRET_ID,
            "key": SECRET_KEY,
            "url": self.emu.url,
            "port": port,
            "state": (
                f"{{path: {self.workdir / f'{identity}.db'}}}"
                if self.journal_url is None
                else f'{{url: "{self.journal_url}"}}'
            ),
            "identity": identity,
            "namespace": SA_NAMESPACE,
            "kubeconfig": self.cluster.sa_kubeconfig,
            "ld": LEASE_DURATION,
            "rd": RENEW_DEADLINE,
            "rp": RETRY_PERIOD,
            "caps": f"{{per_cycle: {self.per_cycle}"
            + ("}" if self.per_hour is None else f", per_hour: {self.per_hour}}}"),
        }
        if self.tweak is not None:
            doc = yaml.safe_load(text)
            self.tweak(identity, doc)
            text = yaml.safe_dump(doc)
        config.write_text(text)
        log = self.workdir / f"{identity}.log"
        with log.open("wb") as out:
            process = await spawn(
                "run",
                "--config",
                str(config),
                stdout=out,
                stderr=out,
                stdin=asyncio.subprocess.DEVNULL,
                env=child_env(drop=("POD_",)),
            )
        replica = Replica(identity, process, port, log)
        self.replicas.append(replica)
        return replica

    def by_identity(self, identity: str) -> Replica:
        return next(r for r in self.replicas if r.identity == identity)

    def running(self) -> list[Replica]:
        return [r for r in self.replicas if r.process.returncode is None]

    async def wait_serving(self, replicas: Iterable[Replica], within: float = 30.0) -> None:
        """Until each replica answers /healthz."""
        deadline = time.monotonic() + within
        for r in replicas:
            while True:
                with contextlib.suppress(aiohttp.ClientError, OSError):
                    if (await r.get("/healthz"))[0] == 200:
                        break
                if r.process.returncode is not None or time.monotonic() > deadline:
                    raise AssertionError(f"{r.identity} not serving:\n{self.tail(r)}")
                await anyio.sleep(0.05)

    def tail(self, replica: Replica, lines: int = 15) -> str:
        return "\n".join(replica.log.read_text(errors="replace").splitlines()[-lines:])

    async def stop_all(self) -> None:
        for r in self.running():
            r.signal(signal.SIGKILL)
        for r in self.replicas:
            await r.process.wait()


@dataclass
class LeaseWatch:
    """Polls the Lease; ``history`` holds (monotonic time, holder, leaseTransitions) changes."""

    store: KubernetesLeaseStore
    history: list[tuple[float, str, int]] = field(default_factory=list)

    @property
    def holder(self) -> str:
        return self.history[-1][1] if self.history else ""

    async def run(self) -> None:
        while True:
            with contextlib.suppress(Exception):
                record = await self.store.get()
                holder = record.holder if record else ""
                if not self.history or self.history[-1][1] != holder:
                    self.history.append(
                        (time.monotonic(), holder, record.transitions if record else 0)
                    )
            await anyio.sleep(0.02)

    async def until_held(self, *, not_by: Iterable[str] = (), within: float = 15.0) -> float:
        """The time the Lease was first seen held by someone not in ``not_by``."""
        excluded = {"", *not_by}
        with anyio.fail_after(within):
            while True:
                for at, holder, _ in reversed(self.history):
                    if holder not in excluded:
                        return at
                    break
                await anyio.sleep(0.01)

    def holders(self) -> list[str]:
        """The sequence of holders, releases (empty holder) left out."""
        return [h for _, h, _ in self.history if h]
