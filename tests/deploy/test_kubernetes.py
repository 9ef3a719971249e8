"""deploy/kubernetes: both modes render, validate strictly, and hang together.

What is validated, and how (the mode-specific checks are in test_kubernetes_modes.py):

* ``kubectl kustomize deploy/kubernetes`` (SQLite) and ``kubectl kustomize
  deploy/kubernetes/postgres`` (PostgreSQL), each piped to ``kubernetes-validate --strict -``
  (kubernetes-validate's bundled JSON schemas, offline): every built-in document passes the
  strict schema (no unknown field) of :data:`MINIMUM_VERSION`, the oldest Kubernetes the README
  promises, and of the newest version it ships. The two stages run separately, so an empty
  render cannot pass. The minimum is not arbitrary: the PostgreSQL render fails the 1.25 schemas
  on the PodDisruptionBudget's ``unhealthyPodEvictionPolicy``, which the 1.26 schemas call alpha
  (disabled by default) and the 1.27 ones beta, enabled by default.
* kubernetes-validate has no schema for custom resources: for ServiceMonitor and PrometheusRule
  it prints ``WARN ... Couldn't find schema`` and exits 0, i.e. it validates nothing. The tests
  assert that those two, and only those, are the documents it skipped, and check them against
  the strict minimal schemas of tests/deploy/crd_schemas.py instead. Not validated: anything the
  real CRDs check beyond that subset, and whether a cluster has those CRDs at all.
* The example Secrets (outside every kustomization on purpose) are validated the same way.
* Cross-references a schema cannot see: selectors match pod labels, ports and probe ports exist,
  mounts name volumes, each ConfigMap's taskwatch.yaml loads with taskwatch's own loader and
  agrees with the Deployment (port, credentials directory), and the PrometheusRule carries
  exactly deploy/prometheus/rules.yml's groups.

Not validated: admission by a real API server (Pod Security "restricted" included; tests/ha runs
a server-side dry-run on a 1.20 server), and that the image exists.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from taskwatch.settings import DirectorySource
from tests.components import missing
from tests.deploy.crd_schemas import SCHEMAS
from tests.deploy.kustomize import (
    CORE_KINDS,
    CRD_KINDS,
    KUSTOMIZE_DIR,
    MINIMUM_VERSION,
    MODES,
    NAMESPACE,
    OLDEST_SCHEMAS,
    POD_ENV,
    POD_LABELS,
    ROOT,
    SECRET_EXAMPLES,
    container,
    documents,
    kubernetes_validate,
    mounts,
    one,
    pod_settings,
    pod_spec,
    render,
    selects,
    volume_at,
)

RULES = ROOT / "deploy" / "prometheus" / "rules.yml"
VALIDATE_VERSIONS = [MINIMUM_VERSION, None]
"""The oldest Kubernetes these manifests need, and kubernetes-validate's newest (None)."""


@pytest.fixture(params=sorted(MODES))
def mode(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def rendered(mode: str) -> str:
    return render(mode)


@pytest.fixture
def docs(rendered: str) -> list[dict[str, Any]]:
    return documents(rendered)


def validation(done: subprocess.CompletedProcess[str]) -> tuple[list[str], list[str]]:
    """kubernetes-validate's lines: (passed, skipped); anything else fails the test."""
    lines = done.stdout.splitlines()
    assert not [line for line in lines if not line.startswith(("INFO ", "WARN "))], done.stdout
    passed = [line for line in lines if line.startswith("INFO ") and " passed for " in line]
    return passed, [line for line in lines if line.startswith("WARN ")]


# --- strict schema validation ---------------------------------------------------------------


def test_kustomize_renders_every_resource_into_the_taskwatch_namespace(
    mode: str, docs: list[dict[str, Any]]
) -> None:
    kinds = [d["kind"] for d in docs]
    assert sorted(kinds) == sorted(CORE_KINDS[mode] | CRD_KINDS)
    for doc in docs:
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == NAMESPACE, doc["kind"]
        assert doc["metadata"]["labels"]["app.kubernetes.io/part-of"] == "taskwatch"


@pytest.mark.parametrize("version", VALIDATE_VERSIONS, ids=lambda v: v or "newest")
def test_every_core_document_passes_kubernetes_validate_strict(
    mode: str, rendered: str, docs: list[dict[str, Any]], version: str | None
) -> None:
    done = kubernetes_validate(*(["-k", version] if version else []), stdin=rendered)
    assert done.returncode == 0, done.stdout + done.stderr
    passed, skipped = validation(done)
    assert len(passed) == len(CORE_KINDS[mode]), done.stdout
    for doc in docs:
        if doc["kind"] in CORE_KINDS[mode]:
            resource = f"{doc['kind'].lower()}/{doc['metadata']['name']}"
            assert any(f"resource {resource} against" in line for line in passed), resource
    # Custom resources are skipped with a warning and rc 0: validated below, not here.
    assert len(skipped) == len(CRD_KINDS), done.stdout
    for kind in CRD_KINDS:
        assert any(f"kind {kind} with api version monitoring.coreos.com/v1" in s for s in skipped)


def test_the_postgres_render_needs_1_26_schemas_for_the_disruption_budgets_eviction_policy() -> (
    None
):
    """Below the minimum, the one field that pins it is refused, and nothing else is."""
    done = kubernetes_validate("-k", OLDEST_SCHEMAS, stdin=render("postgres"))
    assert done.returncode == 1, done.stdout
    errors = [line for line in done.stdout.splitlines() if line.startswith("ERROR ")]
    (error,) = errors
    assert "poddisruptionbudget/taskwatch" in error
    assert "'unhealthyPodEvictionPolicy' was unexpected" in error
    assert kubernetes_validate("-k", "1.26", stdin=render("postgres")).returncode == 0


@pytest.mark.parametrize(
    ("version", "state"),
    [("1.26", "disabled by default"), (MINIMUM_VERSION, "enabled by default")],
)
def test_the_eviction_policy_takes_effect_by_default_from_the_minimum_version(
    version: str, state: str
) -> None:
    """1.26 accepts the field but ignores it unless a feature gate is turned on: the minimum is
    the release whose schema documents it on by default."""
    package = importlib.util.find_spec("kubernetes_validate")
    if package is None or package.origin is None:
        missing("kubernetes-validate is not installed: install the dev extras")
    schemas = Path(package.origin).parent / "kubernetes-json-schema"
    schema = schemas / f"v{version}.0-local-strict" / "poddisruptionbudgetspec-policy-v1.json"
    field = json.loads(schema.read_text())["properties"]["unhealthyPodEvictionPolicy"]
    assert f"PDBUnhealthyPodEvictionPolicy is enabled ({state})" in field["description"]


def test_the_sqlite_render_passes_even_the_oldest_schemas_kubernetes_validate_ships() -> None:
    done = kubernetes_validate("-k", OLDEST_SCHEMAS, stdin=render("sqlite"))
    assert done.returncode == 0, done.stdout + done.stderr
    passed, _ = validation(done)
    assert len(passed) == len(CORE_KINDS["sqlite"]), done.stdout


def test_the_readme_states_the_minimum_version_the_tests_validate() -> None:
    readme = (KUSTOMIZE_DIR / "README.md").read_text()
    assert f"## Minimum Kubernetes version: {MINIMUM_VERSION}\n" in readme
    assert f"Kubernetes {MINIMUM_VERSION} or newer" in readme


def test_kubernetes_validate_strict_rejects_an_unknown_field(docs: list[dict[str, Any]]) -> None:
    """The check above is not vacuous: a misspelt field fails it."""
    bad = copy.deepcopy(one(docs, "Deployment"))
    bad["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGett"] = {}
    done = kubernetes_validate(stdin=yaml.safe_dump(bad))
    assert done.returncode == 1, done.stdout
    assert "'httpGett' was unexpected" in done.stdout


# --- custom resources: our own strict minimal schemas (tests/deploy/crd_schemas.py) -------


@pytest.mark.parametrize("kind", sorted(CRD_KINDS))
def test_custom_resources_pass_our_strict_minimal_schema(
    docs: list[dict[str, Any]], kind: str
) -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMAS[kind])
    jsonschema.Draft202012Validator(SCHEMAS[kind]).validate(one(docs, kind))


@pytest.mark.parametrize(
    ("kind", "path", "value"),
    [
        ("ServiceMonitor", ("spec", "endpoints", 0, "intervall"), "30s"),
        ("ServiceMonitor", ("spec", "endpoints", 0, "interval"), "30 seconds"),
        ("PrometheusRule", ("spec", "groups", 0, "rules", 0, "fro"), "5m"),
    ],
)
def test_the_custom_resource_schemas_reject_typos_and_bad_durations(
    kind: str, path: tuple[str | int, ...], value: str
) -> None:
    doc = copy.deepcopy(one(documents(render("sqlite")), kind))
    node: Any = doc
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(SCHEMAS[kind]).validate(doc)


# --- one source of truth for the alert rules ------------------------------------------------


def test_the_prometheusrule_carries_exactly_the_groups_of_rules_yml(
    docs: list[dict[str, Any]],
) -> None:
    source = yaml.safe_load(RULES.read_text())
    assert set(source) == {"groups"}
    assert one(docs, "PrometheusRule")["spec"] == source


def test_the_prometheusrule_file_is_what_the_sync_script_writes() -> None:
    done = subprocess.run(
        [sys.executable, str(KUSTOMIZE_DIR / "sync_prometheusrule.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr


# --- how the pieces fit, in both modes ------------------------------------------------------


def test_the_deployment_runs_the_versioned_image(docs: list[dict[str, Any]]) -> None:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    deployment = one(docs, "Deployment")
    assert selects(deployment["spec"]["selector"]["matchLabels"], POD_LABELS)
    assert selects(POD_LABELS, deployment["spec"]["template"]["metadata"]["labels"])
    c = container(docs)
    assert c["image"] == f"taskwatch:{version}"
    assert c["args"] == ["run", "--config", "/etc/taskwatch/taskwatch.yaml"]
    assert "command" not in c  # the image's ENTRYPOINT is taskwatch


def test_the_pod_knows_its_name_and_namespace_through_the_downward_api(
    docs: list[dict[str, Any]],
) -> None:
    env = {e["name"]: e for e in container(docs)["env"]}
    assert env["POD_NAME"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert env["POD_NAMESPACE"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}


def test_the_pod_runs_as_non_root_on_a_read_only_root_with_no_privileges(
    docs: list[dict[str, Any]],
) -> None:
    pod = pod_spec(docs)["securityContext"]
    assert pod["runAsNonRoot"] is True
    assert pod["runAsUser"] == 65532
    assert pod["seccompProfile"] == {"type": "RuntimeDefault"}
    ctx = container(docs)["securityContext"]
    assert ctx["runAsNonRoot"] is True
    assert ctx["runAsUser"] == 65532
    assert ctx["readOnlyRootFilesystem"] is True
    assert ctx["allowPrivilegeEscalation"] is False
    assert ctx["capabilities"] == {"drop": ["ALL"]}
    assert ctx["seccompProfile"] == {"type": "RuntimeDefault"}
    namespace = one(docs, "Namespace")["metadata"]["labels"]
    assert namespace["pod-security.kubernetes.io/enforce"] == "restricted"


def test_the_container_has_requests_and_limits(docs: list[dict[str, Any]]) -> None:
    resources = container(docs)["resources"]
    assert resources == {
        "requests": {"cpu": "50m", "memory": "128Mi"},
        "limits": {"cpu": "500m", "memory": "512Mi"},
    }


def test_probes_use_healthz_and_readyz_on_a_declared_port(docs: list[dict[str, Any]]) -> None:
    c = container(docs)
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    paths = {}
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        get = c[probe]["httpGet"]
        assert get["port"] in ports, probe
        paths[probe] = get["path"]
    assert paths == {
        "startupProbe": "/healthz",
        "livenessProbe": "/healthz",
        "readinessProbe": "/readyz",
    }


def test_every_mount_names_a_volume_and_secrets_and_config_are_read_only(
    docs: list[dict[str, Any]],
) -> None:
    by_path = mounts(docs)
    assert {m["name"] for m in by_path.values()} == {v["name"] for v in pod_spec(docs)["volumes"]}
    assert "emptyDir" in volume_at(docs, "/tmp")
    for path, mount in by_path.items():
        volume = volume_at(docs, path)
        if "secret" in volume or "configMap" in volume:
            assert mount.get("readOnly") is True, path
    secret = volume_at(docs, "/var/run/secrets/taskwatch")["secret"]
    assert secret["secretName"] == "taskwatch-credentials"
    assert secret["secretName"] in SECRET_EXAMPLES
    config = volume_at(docs, "/etc/taskwatch")["configMap"]
    assert config["name"] == one(docs, "ConfigMap")["metadata"]["name"]  # the hashed name


def test_the_configmap_is_a_valid_taskwatch_configuration_that_fits_the_pod(
    docs: list[dict[str, Any]], tmp_path: Path
) -> None:
    """The file the pod reads loads with taskwatch's loader (as `taskwatch check-config` does)
    and names the port and credentials directory the Deployment provides; where each mode keeps
    its journal is checked in test_kubernetes_modes.py."""
    c = container(docs)
    config_dir = next(m for m in c["volumeMounts"] if m["mountPath"] == "/etc/taskwatch")
    assert c["args"][-1] == f"{config_dir['mountPath']}/taskwatch.yaml"
    settings = pod_settings(docs, tmp_path)

    assert settings.http.host == "0.0.0.0"
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert settings.http.port == ports["http-metrics"] == 10911
    (account,) = settings.accounts
    assert isinstance(account.credentials, DirectorySource)
    assert account.credentials.path in mounts(docs)
    assert account.client_suffix == POD_ENV["POD_NAME"]


def test_the_service_exposes_the_metrics_port_of_the_pods(docs: list[dict[str, Any]]) -> None:
    service = one(docs, "Service")
    assert service["metadata"]["name"] == "taskwatch"  # the scrape job: job="taskwatch"
    assert service["spec"]["type"] == "ClusterIP"
    assert selects(service["spec"]["selector"], POD_LABELS)
    (port,) = service["spec"]["ports"]
    assert port == {
        "name": "http-metrics",
        "port": 10911,
        "targetPort": "http-metrics",
        "protocol": "TCP",
    }
    assert port["targetPort"] in {p["name"] for p in container(docs)["ports"]}


def test_the_servicemonitor_scrapes_the_services_metrics_port(docs: list[dict[str, Any]]) -> None:
    monitor = one(docs, "ServiceMonitor")["spec"]
    service = one(docs, "Service")
    assert selects(monitor["selector"]["matchLabels"], service["metadata"]["labels"])
    (endpoint,) = monitor["endpoints"]
    assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}
    assert endpoint["path"] == "/metrics"


def test_the_network_policy_lets_only_prometheus_pods_open_the_http_port(
    docs: list[dict[str, Any]],
) -> None:
    """One ingress rule: the pods' named http port, from one peer that needs both the Prometheus
    namespace and the Prometheus pod labels (one list item with both selectors is an AND; two
    items would let every pod of that namespace, or every such pod anywhere, in)."""
    policy = one(docs, "NetworkPolicy")["spec"]
    assert selects(policy["podSelector"]["matchLabels"], POD_LABELS)
    assert policy["policyTypes"] == ["Ingress"]  # egress: Tencent Cloud, Kubernetes, PostgreSQL
    (rule,) = policy["ingress"]
    (peer,) = rule["from"]
    assert set(peer) == {"namespaceSelector", "podSelector"}
    assert peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
    assert peer["podSelector"]["matchLabels"]
    (port,) = rule["ports"]
    assert port == {"port": "http-metrics", "protocol": "TCP"}
    assert port["port"] in {p["name"] for p in container(docs)["ports"]}


def test_the_kubernetes_configuration_keeps_the_lifecycle_endpoints_off(
    docs: list[dict[str, Any]], tmp_path: Path
) -> None:
    """It listens on every interface of the pod without basic auth: POST /-/pause, /-/resume and
    /-/reload must stay off there (deploy/kubernetes/README.md says how to pause instead)."""
    settings = pod_settings(docs, tmp_path)
    assert settings.http.web_config is None
    assert settings.http.lifecycle is False
    assert settings.actions.paused is False
