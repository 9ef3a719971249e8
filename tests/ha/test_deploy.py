"""deploy/kubernetes against a real kube-apiserver: a server-side dry-run of every rendered
document (both kustomize modes, and the Helm chart deploy/helm/taskwatch with the value sets of
tests/deploy/helm.py), and the Role gives the ServiceAccount exactly what the Lease elector needs.

The server is Kubernetes 1.20 (the only one buildable here, see tests/kube.py), so two things are
arranged for it, and nothing else:

* the Prometheus Operator's kinds (ServiceMonitor, PrometheusRule) are served from CRDs of our
  own (``monitoring-crds.yaml``: the Operator's field names, types and duration pattern for the
  fields these manifests use), registered before the dry-run, as on a cluster with the Operator;
* the PodDisruptionBudget is sent as ``policy/v1beta1`` without ``unhealthyPodEvictionPolicy``:
  ``policy/v1`` arrived in 1.21 and that field in 1.26. ``minAvailable`` and ``selector`` are
  validated by the same code in both versions; the manifest as written (``policy/v1`` and the
  field) is checked offline against the 1.27 (the minimum) and newest schemas in tests/deploy.
"""

from __future__ import annotations

import copy
import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from taskwatch.leader.election import KubernetesElector, Timings
from taskwatch.leader.lease import KubernetesLeaseStore
from tests.deploy.helm import VALUE_SETS, rendered_documents
from tests.deploy.kustomize import CORE_KINDS, CRD_KINDS, MODES
from tests.ha.replicas import LEASE, apply_rbac
from tests.kube import SA_NAMESPACE, SA_USER, KubeCluster, kube_fixture  # noqa: F401

CRDS = Path(__file__).with_name("monitoring-crds.yaml")


@pytest.fixture(scope="module")
def cluster(kube_cluster: KubeCluster) -> KubeCluster:
    apply_rbac(kube_cluster)
    kube_cluster.kubectl("apply", "-f", str(CRDS))
    kube_cluster.kubectl(
        "wait", "--for=condition=Established", "--timeout=60s",
        "crd/servicemonitors.monitoring.coreos.com", "crd/prometheusrules.monitoring.coreos.com",
    )  # fmt: skip
    published(kube_cluster, "com.coreos.monitoring.v1.ServiceMonitor",
              "com.coreos.monitoring.v1.PrometheusRule")  # fmt: skip
    return kube_cluster


def published(cluster: KubeCluster, *definitions: str, timeout: float = 60.0) -> None:
    """Wait until the server's OpenAPI document has the CRDs' schemas: it is rebuilt a moment
    after they are Established, and kubectl validates fields (unknown ones too) against it."""
    deadline = time.monotonic() + timeout
    while True:
        spec = json.loads(cluster.kubectl("get", "--raw", "/openapi/v2").stdout)
        if all(d in spec.get("definitions", {}) for d in definitions):
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{definitions} not in /openapi/v2 after {timeout} s")
        time.sleep(0.2)  # a real server's controller, not a clock of ours


def rendered(cluster: KubeCluster, mode: str = "postgres") -> list[dict[str, Any]]:
    """One mode of deploy/kubernetes (tests/deploy/kustomize.py): by default the PostgreSQL one,
    which holds every kind but the SQLite mode's PersistentVolumeClaim."""
    text = cluster.kubectl("kustomize", str(MODES[mode])).stdout
    return [d for d in yaml.safe_load_all(text) if d]


def for_this_server(doc: dict[str, Any]) -> dict[str, Any]:
    """The document as a 1.20 server accepts it (see the module docstring): only the PDB
    changes."""
    doc = copy.deepcopy(doc)
    if doc["kind"] == "PodDisruptionBudget":
        assert doc["apiVersion"] == "policy/v1"
        doc["apiVersion"] = "policy/v1beta1"
        doc["spec"].pop("unhealthyPodEvictionPolicy", None)
    return doc


def one(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    (found,) = [for_this_server(d) for d in docs if d["kind"] == kind]
    return found


def dry_run(cluster: KubeCluster, *docs: dict[str, Any]) -> Any:
    return cluster.kubectl(
        "apply", "--dry-run=server", "-f", "-", stdin=yaml.safe_dump_all(docs), check=False
    )


@pytest.mark.parametrize("mode", sorted(MODES))
def test_a_server_side_dry_run_of_every_rendered_document_succeeds(
    cluster: KubeCluster, mode: str
) -> None:
    docs = [for_this_server(d) for d in rendered(cluster, mode)]
    assert {str(d["kind"]) for d in docs} == CORE_KINDS[mode] | CRD_KINDS
    done = dry_run(cluster, *docs)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("(server dry run)") == len(docs), done.stdout
    arranged = {"sqlite": ("persistentvolumeclaim/taskwatch-state",),
                "postgres": ("poddisruptionbudget.policy/taskwatch",)}[mode]  # fmt: skip
    for name in (*arranged, "servicemonitor.monitoring.coreos.com/taskwatch",
                 "prometheusrule.monitoring.coreos.com/taskwatch",
                 "networkpolicy.networking.k8s.io/taskwatch"):  # fmt: skip
        assert f"{name} created (server dry run)" in done.stdout, done.stdout


@pytest.mark.parametrize("value_set", sorted(VALUE_SETS))
def test_a_server_side_dry_run_of_every_document_the_helm_chart_renders_succeeds(
    cluster: KubeCluster, value_set: str
) -> None:
    """deploy/helm/taskwatch with each value set of tests/deploy/helm.py, arranged as above."""
    docs = [for_this_server(d) for d in rendered_documents(value_set)]
    done = dry_run(cluster, *docs)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("(server dry run)") == len(docs), done.stdout
    lines = done.stdout.splitlines()
    for doc in docs:  # the Role and its binding exist already (apply_rbac): "configured"
        name = f"{doc['kind'].lower()}.{doc['apiVersion'].split('/')[0]}/{doc['metadata']['name']} "
        name = name.replace(".v1/", "/")  # the core group has no name: "service/taskwatch"
        assert any(line.startswith(name) for line in lines), (name, done.stdout)


@pytest.mark.parametrize(
    ("kind", "path", "value", "said"),
    [
        ("ServiceMonitor", ("spec", "endpoints", 0, "interval"), "30 seconds", "should match"),
        (
            "ServiceMonitor",
            ("spec", "endpoints", 0, "intervall"),
            "30s",
            'unknown field "intervall"',
        ),
        ("ServiceMonitor", ("spec", "endpoints", 0, "scheme"), "ftp", "Unsupported value"),
        ("PrometheusRule", ("spec", "groups", 0, "rules", 0, "for"), "5 minutes", "should match"),
        ("PrometheusRule", ("spec", "groups", 0, "name"), "", "should be at least 1"),
        ("PodDisruptionBudget", ("spec", "minAvailable"), "150%", "minAvailable"),
    ],
)
def test_the_server_rejects_a_broken_document_of_each_arranged_kind(
    cluster: KubeCluster, kind: str, path: tuple[Any, ...], value: str, said: str
) -> None:
    """The arranged kinds are really checked: a broken field is refused, with the reason."""
    doc = one(rendered(cluster), kind)
    target: Any = doc
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    done = dry_run(cluster, doc)
    assert done.returncode != 0, done.stdout
    assert said in done.stderr, done.stderr


def test_a_server_side_dry_run_rejects_a_broken_deployment(cluster: KubeCluster) -> None:
    deployment = one(rendered(cluster), "Deployment")
    deployment["spec"]["replicas"] = "two"
    done = dry_run(cluster, deployment)
    assert done.returncode != 0
    assert "replicas" in done.stderr


@pytest.mark.parametrize(
    ("verb", "resource", "allowed"),
    [
        ("get", f"leases.coordination.k8s.io/{LEASE}", True),
        ("update", f"leases.coordination.k8s.io/{LEASE}", True),
        ("create", "leases.coordination.k8s.io", True),
        ("get", "leases.coordination.k8s.io/another-lease", False),
        ("update", "leases.coordination.k8s.io/another-lease", False),
        ("delete", f"leases.coordination.k8s.io/{LEASE}", False),
        ("patch", f"leases.coordination.k8s.io/{LEASE}", False),
        ("list", "leases.coordination.k8s.io", False),
        ("watch", "leases.coordination.k8s.io", False),
        ("list", "pods", False),
        ("get", "secrets", False),
        ("list", "secrets", False),
        ("get", "configmaps", False),
    ],
)
def test_the_role_lets_the_service_account_do_exactly_what_the_elector_needs(
    cluster: KubeCluster, verb: str, resource: str, allowed: bool
) -> None:
    done = cluster.kubectl(
        "auth", "can-i", verb, resource, "-n", SA_NAMESPACE, f"--as={SA_USER}", check=False
    )
    assert done.stdout.strip() == ("yes" if allowed else "no"), (verb, resource, done.stderr)


def test_nothing_outside_the_namespace_is_granted(cluster: KubeCluster) -> None:
    done = cluster.kubectl(
        "auth", "can-i", "create", "leases.coordination.k8s.io", "-n", "default",
        f"--as={SA_USER}", check=False,
    )  # fmt: skip
    assert done.stdout.strip() == "no"


async def test_the_elector_runs_as_the_service_account_with_the_role(cluster: KubeCluster) -> None:
    cluster.kubectl("-n", SA_NAMESPACE, "delete", "lease", LEASE, "--ignore-not-found")
    store = KubernetesLeaseStore(
        name=LEASE, namespace=SA_NAMESPACE, kubeconfig=cluster.sa_kubeconfig
    )
    a = KubernetesElector(
        store, identity=f"pod-{uuid.uuid4().hex[:6]}", timings=Timings(2, 1.5, 0.5)
    )
    assert await a.try_acquire_or_renew()  # create
    assert await a.try_acquire_or_renew()  # get + update
    await a.release()  # update
    assert a.observed is not None
    assert a.observed.holder == ""
    await store.close()
