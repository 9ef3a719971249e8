"""deploy/helm/taskwatch's values: bad ones refused, credentials modes, version, README table.

The renders of the three value sets and their equivalence with deploy/kubernetes are in
test_helm.py; this module checks what the values themselves promise (values.yaml,
values.schema.json and the README's values table).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.helm import CHART, helm_home, run_helm, template
from tests.deploy.kustomize import (
    MINIMUM_VERSION,
    container,
    documents,
    kubernetes_validate,
    mounts,
    one,
    pod_settings,
    pod_spec,
)

# --- bad values ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "said"),
    [
        ({"replicas": 2}, "replicas is 2 but journal.backend is sqlite"),
        ({"journal": {"backnd": "postgresql"}}, "additional properties 'backnd' not allowed"),
        ({"journal": {"backend": "mysql"}}, "/journal/backend"),
        ({"credentials": {"mode": "custom"}}, "credentials.mode is custom but credentials.spec"),
        ({"image": {"digest": "latest"}}, "/image/digest"),
    ],
)
def test_bad_values_are_refused_before_rendering_naming_the_value(
    tmp_path: Path, values: dict[str, Any], said: str
) -> None:
    home = helm_home(tmp_path)
    (home / "values.yaml").write_text(yaml.safe_dump(values))
    done = run_helm(
        "template", "taskwatch", str(CHART), "--values", str(home / "values.yaml"), home=home
    )
    assert done.returncode != 0, done.stdout
    assert said in done.stderr, done.stderr


def test_custom_credentials_reach_the_configuration_and_mount_no_secret(tmp_path: Path) -> None:
    spec = {"from": "env"}
    docs = documents(template({"credentials": {"mode": "custom", "spec": spec}},
                              home=helm_home(tmp_path)))  # fmt: skip
    config = yaml.safe_load(one(docs, "ConfigMap")["data"]["taskwatch.yaml"])
    assert config["accounts"][0]["credentials"] == spec
    assert "/var/run/secrets/taskwatch" not in mounts(docs)
    assert all(v.get("secret", {}).get("secretName") != "taskwatch-credentials"
               for v in pod_spec(docs)["volumes"])  # fmt: skip


@pytest.mark.parametrize(
    "spec",
    [{"from": "oidc", "session_name": "taskwatch"}, {"from": "cvm-role"}],
    ids=["oidc", "cvm-role"],
)
def test_role_credentials_render_a_configuration_taskwatch_loads_and_a_valid_pod(
    tmp_path: Path, spec: dict[str, Any]
) -> None:
    """The keyless modes for TKE and CVM: the spec reaches the account as given, the pod gets
    what the values add (TKE's variables, a projected token) and still validates strictly."""
    token = {"name": "tke-token", "mountPath": "/var/run/secrets/tke", "readOnly": True}
    projected = {"sources": [{"serviceAccountToken": {"path": "token", "audience": "sts"}}]}
    values = {
        "credentials": {"mode": "custom", "spec": spec},
        "serviceAccount": {"annotations": {"example.com/role": "taskwatch"}},
        "extraEnv": [{"name": "TKE_REGION", "value": "ap-guangzhou"}],
        "extraVolumes": [{"name": "tke-token", "projected": projected}],
        "extraVolumeMounts": [token],
    }
    text = template(values, home=helm_home(tmp_path))
    docs = documents(text)
    settings = pod_settings(docs, tmp_path)
    assert settings.accounts[0].credentials.to_spec()["from"] == spec["from"]
    assert mounts(docs)["/var/run/secrets/tke"] == token
    assert {"name": "TKE_REGION", "value": "ap-guangzhou"} in container(docs)["env"]
    assert one(docs, "ServiceAccount")["metadata"]["annotations"] == {
        "example.com/role": "taskwatch"
    }
    done = kubernetes_validate("-k", MINIMUM_VERSION, stdin=text)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_chart_needs_the_minimum_kubernetes_version_the_manifests_need(
    tmp_path: Path,
) -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["kubeVersion"] == f">={MINIMUM_VERSION}.0-0"
    home = helm_home(tmp_path)
    older = run_helm("template", "taskwatch", str(CHART), "--kube-version", "1.26.9", home=home)
    assert older.returncode != 0
    assert "is incompatible with Kubernetes v1.26.9" in older.stderr, older.stderr
    done = run_helm("template", "taskwatch", str(CHART), "--kube-version", "1.27.0", home=home)
    assert done.returncode == 0, done.stderr


# --- the chart's README ---------------------------------------------------------------------


def leaves(values: dict[str, Any], prefix: str = "") -> tuple[set[str], set[str]]:
    """The dotted paths of the values: (every path, the leaves). A map with entries is walked
    into, and is a path too (a row may document it whole, as `resources`)."""
    every: set[str] = set()
    leaf: set[str] = set()
    for key, value in values.items():
        path = f"{prefix}{key}"
        every.add(path)
        if isinstance(value, dict) and value:
            inner, inner_leaves = leaves(value, f"{path}.")
            every |= inner
            leaf |= inner_leaves
        else:
            leaf.add(path)
    return every, leaf


def test_the_charts_readme_documents_every_value_and_no_other() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    table = (CHART / "README.md").read_text().split("## Values\n", 1)[1].split("\n## ", 1)[0]
    rows = [line.split(" | ")[0] for line in table.splitlines() if line.startswith("| `")]
    documented = {name for row in rows for name in re.findall(r"`([^`]+)`", row)}
    every, leaf = leaves(values)
    assert documented <= every, documented - every
    for path in leaf:  # documented itself, or as a whole map (`resources`)
        parts = path.split(".")
        assert {".".join(parts[: i + 1]) for i in range(len(parts))} & documented, path
