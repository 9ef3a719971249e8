"""deploy/kubernetes against a real kube-apiserver: a server-side dry-run of the rendered
manifests, and the Role gives the ServiceAccount exactly what the Lease elector needs.

The API server is Kubernetes 1.20 (Debian's source package), so three kinds are left to the
offline checks of tests/deploy: the PodDisruptionBudget (``policy/v1`` arrived in 1.21), and the
Prometheus Operator's ServiceMonitor and PrometheusRule (custom resources: this 1.20 tree built
with Go 1.19 crashes encoding them, an old reflect2 that predates Go 1.18's map internals).
"""

from __future__ import annotations

import uuid

import pytest
import yaml

from taskwatch.leader import KubernetesElector, KubernetesLeaseStore, Timings
from tests.ha.replicas import LEASE, ROOT, apply_rbac
from tests.kube import SA_NAMESPACE, SA_USER, KubeCluster, kube_fixture  # noqa: F401

SKIPPED_KINDS = {"PodDisruptionBudget", "ServiceMonitor", "PrometheusRule"}


@pytest.fixture(scope="module")
def cluster(kube_cluster: KubeCluster) -> KubeCluster:
    apply_rbac(kube_cluster)
    return kube_cluster


def rendered(cluster: KubeCluster) -> list[dict[str, object]]:
    text = cluster.kubectl("kustomize", str(ROOT / "deploy" / "kubernetes")).stdout
    return [d for d in yaml.safe_load_all(text) if d]


def test_a_server_side_dry_run_of_the_rendered_manifests_succeeds(cluster: KubeCluster) -> None:
    docs = [d for d in rendered(cluster) if d["kind"] not in SKIPPED_KINDS]
    kinds = {str(d["kind"]) for d in docs}
    assert {
        "Namespace",
        "ServiceAccount",
        "Role",
        "RoleBinding",
        "ConfigMap",
        "Deployment",
    } <= kinds
    done = cluster.kubectl("apply", "--dry-run=server", "-f", "-", stdin=yaml.safe_dump_all(docs))
    assert "(server dry run)" in done.stdout
    assert done.stdout.count("(server dry run)") == len(docs), done.stdout


def test_a_server_side_dry_run_rejects_a_broken_deployment(cluster: KubeCluster) -> None:
    (deployment,) = [d for d in rendered(cluster) if d["kind"] == "Deployment"]
    deployment["spec"]["replicas"] = "two"  # type: ignore[index]
    done = cluster.kubectl(
        "apply", "--dry-run=server", "-f", "-", stdin=yaml.safe_dump(deployment), check=False
    )
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
