"""taskwatch.leader.lease without a cluster: kubernetes_asyncio is an optional extra, and a
process that needs it and lacks it says what to install instead of failing on first use.

"Not installed" is simulated the way the import system itself allows: ``None`` in
``sys.modules`` makes both ``find_spec`` and ``import`` report the package missing.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from taskwatch.errors import ConfigError
from taskwatch.leader.lease import INSTALL_HINT, KubernetesLeaseStore, LeaseRecord
from tests.processes import child_env

ROOT = Path(__file__).resolve().parents[1]


def uninstall(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("kubernetes_asyncio", "kubernetes_asyncio.client", "kubernetes_asyncio.config"):
        monkeypatch.setitem(sys.modules, name, None)


def test_the_install_hint_names_the_kubernetes_extra() -> None:
    assert INSTALL_HINT == "pip install taskwatch[kubernetes]"


def test_building_a_lease_store_without_kubernetes_asyncio_names_the_key_and_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    uninstall(monkeypatch)
    with pytest.raises(ConfigError) as raised:
        KubernetesLeaseStore(name="taskwatch", namespace="default")
    assert raised.value.key == "leader.enabled"
    assert "pip install taskwatch[kubernetes]" in str(raised.value)
    assert str(raised.value).startswith("leader.enabled: ")


def test_a_store_given_its_api_needs_no_kubernetes_asyncio(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    uninstall(monkeypatch)
    api = object()
    store = KubernetesLeaseStore(name="taskwatch", namespace="default", api=api)
    assert store.name == "taskwatch"


async def test_connecting_after_the_package_went_missing_keeps_the_import_error_as_cause(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = KubernetesLeaseStore(name="taskwatch", namespace="default")
    uninstall(monkeypatch)
    with pytest.raises(ConfigError, match=r"taskwatch\[kubernetes\]") as raised:
        await store.open()
    assert isinstance(raised.value.__cause__, ModuleNotFoundError)


def test_importing_the_election_module_does_not_import_kubernetes_asyncio() -> None:
    """In a fresh interpreter: the standalone path never pays for the Kubernetes client."""

    code = (
        "import sys, taskwatch.leader.election, taskwatch.leader.lease; "
        "print(any(m.startswith('kubernetes_asyncio') for m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "False"


def test_the_lease_record_sees_a_renewal_as_a_change() -> None:
    before = LeaseRecord(holder="a", duration=15, version="1")
    after = LeaseRecord(holder="a", duration=15, version="2")
    assert before.seen != after.seen
    assert before.seen == LeaseRecord(holder="a", duration=15, version="1", transitions=3).seen


CONFIG = """
accounts:
  - name: main
    credentials: {from: static, secret_id: AKIDleaseTEST, secret_key: lease-test-key}
    endpoint: http://127.0.0.1:9
    regions: [ap-guangzhou]
http: {listen: "127.0.0.1:0"}
state: {path: %s}
leader: {enabled: true, namespace: default, identity: replica-1}
"""


def test_run_with_leader_election_and_no_kubernetes_extra_exits_with_one_line_naming_it(
    tmp_path: Path,
) -> None:
    """``taskwatch run`` in a process where kubernetes_asyncio cannot be imported (hidden by a
    sitecustomize, as if never installed): exit 1, one line, no traceback, before any scan."""
    hide = tmp_path / "hide"
    hide.mkdir()
    (hide / "sitecustomize.py").write_text("import sys\nsys.modules['kubernetes_asyncio'] = None\n")
    config = tmp_path / "taskwatch.yaml"
    config.write_text(CONFIG % (tmp_path / "journal.db"))
    env = child_env()
    env["PYTHONPATH"] = f"{hide}{os.pathsep}{env['PYTHONPATH']}"
    done = subprocess.run(
        [sys.executable, "-m", "taskwatch", "run", "--config", str(config)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines[-1].startswith("error: leader.enabled: "), done.stderr
    assert "pip install taskwatch[kubernetes]" in lines[-1]
