"""deploy/helm/taskwatch: the chart lints, renders valid objects, and matches deploy/kubernetes.

What is checked, with the real helm (tests/deploy/helm.py says where the binary comes from):

* ``helm lint --strict`` of the chart is clean;
* ``helm template`` with the three value sets of :data:`tests.deploy.helm.VALUE_SETS` (one
  replica with SQLite, the defaults; replicas with PostgreSQL; the ServiceMonitor off) renders the
  kinds each promises, and every built-in document passes ``kubernetes-validate --strict`` at the
  minimum Kubernetes version (1.27) and the newest kubernetes-validate ships; the custom
  resources, which it skips, pass our strict minimal schemas (tests/deploy/crd_schemas.py);
* the chart's ConfigMap is a valid taskwatch configuration (taskwatch's own loader) and equals,
  setting for setting, the kustomize mode of the same journal backend; the pod, the Role, the
  budget and the NetworkPolicy are those of deploy/kubernetes too (names and labels aside);
* the PrometheusRule carries exactly deploy/prometheus/rules.yml's groups, and the scrape job is
  ``taskwatch`` (what the rules select) whatever the release is called.

What the values promise (bad ones refused, credentials modes, the minimum version, the README's
table) is in test_helm_values.py.

The server-side dry-run of the three renders against a real kube-apiserver is in
tests/ha/test_deploy.py. Not checked: a real ``helm install`` (no cluster with a scheduler here).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests.deploy import kustomize
from tests.deploy.crd_schemas import SCHEMAS
from tests.deploy.helm import (
    CHART,
    NAMESPACE,
    VALUE_SETS,
    helm_home,
    render,
    rendered_documents,
    run_helm,
    template,
)
from tests.deploy.kustomize import (
    CRD_KINDS,
    MINIMUM_VERSION,
    ROOT,
    container,
    documents,
    kubernetes_validate,
    mount_holding,
    mounts,
    one,
    pod_settings,
    pod_spec,
    selects,
)

RULES = ROOT / "deploy" / "prometheus" / "rules.yml"
SELECTOR = {"app.kubernetes.io/name": "taskwatch", "app.kubernetes.io/instance": "taskwatch"}
BACKEND = {"sqlite": "sqlite", "postgres": "postgres", "no-servicemonitor": "sqlite"}
"""The kustomize mode each value set mirrors."""
CORE_KINDS = {
    "sqlite": {"ServiceAccount", "ConfigMap", "Service", "Deployment", "NetworkPolicy",
               "PersistentVolumeClaim"},
    "postgres": {"ServiceAccount", "ConfigMap", "Service", "Deployment", "NetworkPolicy",
                 "Role", "RoleBinding", "PodDisruptionBudget"},
    "no-servicemonitor": {"ServiceAccount", "ConfigMap", "Service", "Deployment",
                          "NetworkPolicy", "PersistentVolumeClaim"},
}  # fmt: skip
"""The built-in kinds of each render. No Namespace: a chart installs into an existing one
(deploy/helm/taskwatch/README.md says how to label it for Pod Security as deploy/kubernetes'
Namespace is)."""
CUSTOM_KINDS = {
    "sqlite": CRD_KINDS,
    "postgres": CRD_KINDS,
    "no-servicemonitor": CRD_KINDS - {"ServiceMonitor"},
}


@pytest.fixture(params=sorted(VALUE_SETS))
def value_set(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def docs(value_set: str) -> list[dict[str, Any]]:
    return rendered_documents(value_set)


def sorted_by_name(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(items, key=lambda item: str(item["name"]))


def unordered(c: dict[str, Any]) -> dict[str, Any]:
    """A container with its lists of named items in name order (kustomize's strategic merge
    puts a patch's items first; the order means nothing to Kubernetes)."""
    return {k: sorted_by_name(v) if k in ("env", "volumeMounts") else v for k, v in c.items()}


# --- helm itself -----------------------------------------------------------------------------


def test_helm_lint_strict_finds_nothing_wrong_with_the_chart(tmp_path: Path) -> None:
    done = run_helm("lint", "--strict", str(CHART), home=helm_home(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 chart(s) linted, 0 chart(s) failed" in done.stdout
    assert "[ERROR]" not in done.stdout
    assert "[WARNING]" not in done.stdout


def test_each_value_set_renders_its_kinds_into_the_release_namespace(
    value_set: str, docs: list[dict[str, Any]]
) -> None:
    assert sorted(d["kind"] for d in docs) == sorted(
        CORE_KINDS[value_set] | CUSTOM_KINDS[value_set]
    )
    for doc in docs:
        assert doc["metadata"]["namespace"] == NAMESPACE, doc["kind"]
        assert doc["metadata"]["labels"]["app.kubernetes.io/part-of"] == "taskwatch"
        assert doc["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "Helm"


# --- strict schemas --------------------------------------------------------------------------


@pytest.mark.parametrize("version", [MINIMUM_VERSION, None], ids=lambda v: v or "newest")
def test_every_core_document_passes_kubernetes_validate_strict(
    value_set: str, docs: list[dict[str, Any]], version: str | None
) -> None:
    done = kubernetes_validate(*(["-k", version] if version else []), stdin=render(value_set))
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert all(line.startswith(("INFO ", "WARN ")) for line in lines), done.stdout
    passed = [line for line in lines if line.startswith("INFO ") and " passed for " in line]
    skipped = [line for line in lines if line.startswith("WARN ")]
    assert len(passed) == len(CORE_KINDS[value_set]), done.stdout
    for doc in docs:
        if doc["kind"] in CORE_KINDS[value_set]:
            resource = f"{doc['kind'].lower()}/{doc['metadata']['name']}"
            assert any(f"resource {resource} against" in line for line in passed), resource
    assert len(skipped) == len(CUSTOM_KINDS[value_set]), done.stdout


def test_the_custom_resources_pass_our_strict_minimal_schemas(
    value_set: str, docs: list[dict[str, Any]]
) -> None:
    for kind in CUSTOM_KINDS[value_set]:
        jsonschema.Draft202012Validator(SCHEMAS[kind]).validate(one(docs, kind))


def test_kubernetes_validate_strict_rejects_a_misspelt_field_of_the_charts_deployment() -> None:
    bad = copy.deepcopy(one(rendered_documents("sqlite"), "Deployment"))
    bad["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["httpGett"] = {}
    done = kubernetes_validate(stdin=yaml.safe_dump(bad))
    assert done.returncode == 1, done.stdout
    assert "'httpGett' was unexpected" in done.stdout


# --- the same deployment as deploy/kubernetes -----------------------------------------------


def test_the_configmap_is_a_valid_configuration_equal_to_the_kustomize_modes(
    value_set: str, docs: list[dict[str, Any]], tmp_path: Path
) -> None:
    (tmp_path / "helm").mkdir()
    (tmp_path / "kustomize").mkdir()
    settings = pod_settings(docs, tmp_path / "helm")
    mode = BACKEND[value_set]
    assert settings == pod_settings(documents(kustomize.render(mode)), tmp_path / "kustomize")
    assert settings.http.port == container(docs)["ports"][0]["containerPort"]


def test_the_pod_is_the_kustomize_modes_pod_but_for_names_and_labels(
    value_set: str, docs: list[dict[str, Any]]
) -> None:
    theirs = documents(kustomize.render(BACKEND[value_set]))
    assert unordered(container(docs)) == unordered(container(theirs))
    ours, other = pod_spec(docs), pod_spec(theirs)
    for key in ("securityContext", "automountServiceAccountToken", "enableServiceLinks",
                "terminationGracePeriodSeconds", "serviceAccountName"):  # fmt: skip
        assert ours.get(key) == other.get(key), key

    def normal(volumes: list[dict[str, Any]]) -> list[dict[str, Any]]:
        found = copy.deepcopy(volumes)
        for volume in found:
            if "configMap" in volume:
                volume["configMap"]["name"] = "CONFIG"  # kustomize's has a hash suffix
        return found

    assert sorted_by_name(normal(ours["volumes"])) == sorted_by_name(normal(other["volumes"]))
    deployment, kustomized = one(docs, "Deployment")["spec"], one(theirs, "Deployment")["spec"]
    for key in ("replicas", "strategy", "revisionHistoryLimit"):
        assert deployment[key] == kustomized[key], key
    assert selects(deployment["selector"]["matchLabels"], SELECTOR)
    assert deployment["selector"]["matchLabels"] == SELECTOR
    assert selects(SELECTOR, deployment["template"]["metadata"]["labels"])


def test_the_configmap_the_pod_mounts_is_the_charts_and_its_change_rolls_the_pods(
    tmp_path: Path,
) -> None:
    docs = rendered_documents("sqlite")
    config = next(v for v in pod_spec(docs)["volumes"] if "configMap" in v)
    assert config["configMap"]["name"] == one(docs, "ConfigMap")["metadata"]["name"]
    paused = documents(template({"config": {"paused": True}}, home=helm_home(tmp_path)))

    def checksum(rendered: list[dict[str, Any]]) -> str:
        value: str = one(rendered, "Deployment")["spec"]["template"]["metadata"]["annotations"][
            "checksum/config"
        ]
        return value

    assert checksum(paused) != checksum(docs)


def test_the_sqlite_journal_lives_on_the_claim_and_postgres_reads_its_secret(
    value_set: str, docs: list[dict[str, Any]], tmp_path: Path
) -> None:
    settings = pod_settings(docs, tmp_path)
    if BACKEND[value_set] == "sqlite":
        assert settings.state.path is not None
        mount = mount_holding(docs, Path(settings.state.path))
        assert mount is not None
        claim = one(docs, "PersistentVolumeClaim")
        volume = next(v for v in pod_spec(docs)["volumes"] if v["name"] == mount["name"])
        assert volume["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
        assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
        assert settings.leader.enabled is False
    else:
        env = {e["name"]: e for e in container(docs)["env"]}
        secret = env["TASKWATCH_STATE_URL"]["valueFrom"]["secretKeyRef"]
        assert secret == {"name": "taskwatch-postgres", "key": "url"}
        assert settings.state.password_file is not None
        assert mounts(docs)["/var/run/secrets/taskwatch-postgres"]["readOnly"] is True
        assert settings.leader.enabled is True
        role = one(docs, "Role")
        base = settings.leader.lease_name
        assert role["rules"][0]["resourceNames"] == [
            base,
            *(f"{base}-{i}" for i in range(8)),
            *(f"{base}-member-{k}" for k in range(8)),
        ]
        theirs = documents(kustomize.render("postgres"))
        assert role["rules"] == one(theirs, "Role")["rules"]
        budget = one(docs, "PodDisruptionBudget")["spec"]
        assert budget["selector"]["matchLabels"] == SELECTOR
        assert {k: v for k, v in budget.items() if k != "selector"} == {
            k: v for k, v in one(theirs, "PodDisruptionBudget")["spec"].items() if k != "selector"
        }


def test_the_network_policy_and_service_select_the_pods_as_kustomize_does(
    docs: list[dict[str, Any]],
) -> None:
    theirs = documents(kustomize.render("sqlite"))
    policy, other = one(docs, "NetworkPolicy")["spec"], one(theirs, "NetworkPolicy")["spec"]
    assert policy["podSelector"]["matchLabels"] == SELECTOR
    assert policy["ingress"] == other["ingress"]
    assert policy["policyTypes"] == other["policyTypes"]
    service, their_service = one(docs, "Service"), one(theirs, "Service")
    assert service["metadata"]["name"] == "taskwatch"  # the scrape job the alert rules select
    assert service["spec"]["selector"] == SELECTOR
    assert service["spec"]["ports"] == their_service["spec"]["ports"]


def test_the_prometheusrule_carries_exactly_the_groups_of_rules_yml(
    docs: list[dict[str, Any]],
) -> None:
    source = yaml.safe_load(RULES.read_text())
    assert one(docs, "PrometheusRule")["spec"] == {"groups": source["groups"]}


def test_the_servicemonitor_scrapes_the_services_metrics_port() -> None:
    docs = rendered_documents("sqlite")
    monitor = one(docs, "ServiceMonitor")["spec"]
    assert monitor["selector"]["matchLabels"] == SELECTOR
    (endpoint,) = monitor["endpoints"]
    assert endpoint["port"] == one(docs, "Service")["spec"]["ports"][0]["name"]
    theirs = one(documents(kustomize.render("sqlite")), "ServiceMonitor")["spec"]["endpoints"]
    assert [endpoint] == theirs


def test_the_scrape_job_is_taskwatch_whatever_the_release_is_called(tmp_path: Path) -> None:
    """The alert rules select job="taskwatch"; the Operator names the job after the Service
    unless jobLabel names one of its labels."""
    home = helm_home(tmp_path)
    done = run_helm("template", "billing", str(CHART), "--namespace", "media", home=home)
    assert done.returncode == 0, done.stderr
    docs = documents(done.stdout)
    service = one(docs, "Service")
    assert service["metadata"]["name"] == "billing-taskwatch"
    monitor = one(docs, "ServiceMonitor")["spec"]
    assert service["metadata"]["labels"][monitor["jobLabel"]] == "taskwatch"
    assert 'job="taskwatch"' in RULES.read_text()
