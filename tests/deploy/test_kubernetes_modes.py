"""deploy/kubernetes' two modes: what each promises about its journal, replicas and rollouts.

* SQLite (``kubectl apply -k deploy/kubernetes``): one replica, strategy ``Recreate`` (two pods
  must never open the file), the journal on a PersistentVolumeClaim mounted at the directory of
  ``state.path`` (not an emptyDir: it must outlive the pod), writable by the non-root user through
  ``fsGroup``; no leader election, so no Role, no token, and no PodDisruptionBudget (with one
  replica, minAvailable 1 blocks every node drain).
* PostgreSQL (``kubectl apply -k deploy/kubernetes/postgres``): at least two replicas with a
  rolling update that never drops below the count, leader election on (the Lease Role, a token),
  ``state.url`` from the Secret ``taskwatch-postgres`` through the environment, the password as a
  read-only file from the same Secret (``state.password_file``), no volume claim, a budget that
  keeps one pod. With the Secret laid out as the pod sees it, the configuration connects to a
  real PostgreSQL (tests/postgres.py) as a role that must give its password.
* What both share is written once (deploy/kubernetes/base): the documents the modes do not
  change render identically.

The renders and the shared checks (strict schemas, probes, security) are in test_kubernetes.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml

from taskwatch.actions.dsn import connect_kwargs
from taskwatch.settings import load_settings
from taskwatch.tencent import catalog
from tests.deploy.kustomize import (
    BASE_DIR,
    MINIMUM_VERSION,
    MODES,
    NAMESPACE,
    POD_ENV,
    POD_LABELS,
    SECRET_EXAMPLES,
    container,
    documents,
    kubernetes_validate,
    mount_holding,
    mounts,
    one,
    pod_settings,
    pod_spec,
    render,
    selects,
    volume_at,
    volumes,
)
from tests.postgres import PASSWORD, PASSWORD_ROLE, PostgresServer, postgres_fixture  # noqa: F401

RUN_AS = 65532
SECRET_KEYS = {
    "taskwatch-credentials": {"secret_id", "secret_key"},
    "taskwatch-postgres": {"url", "password"},
}
LEASE_RULES = [
    {
        "apiGroups": ["coordination.k8s.io"],
        "resources": ["leases"],
        "resourceNames": [
            "taskwatch-leader",
            *(f"taskwatch-leader-{i}" for i in range(8)),
            *(f"taskwatch-leader-member-{k}" for k in range(8)),
        ],
        "verbs": ["get", "update"],
    },
    {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]},
]


@pytest.fixture
def sqlite_docs() -> list[dict[str, Any]]:
    return documents(render("sqlite"))


@pytest.fixture
def postgres_docs() -> list[dict[str, Any]]:
    return documents(render("postgres"))


def kinds(docs: list[dict[str, Any]]) -> set[str]:
    return {d["kind"] for d in docs}


# --- SQLite: one replica, its journal on a volume claim -------------------------------------


def test_the_sqlite_mode_runs_one_replica_that_is_stopped_before_its_successor_starts(
    sqlite_docs: list[dict[str, Any]],
) -> None:
    spec = one(sqlite_docs, "Deployment")["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {"type": "Recreate"}  # no rollingUpdate: no surge pod


def test_the_sqlite_journal_is_on_a_claim_mounted_at_the_state_paths_directory(
    sqlite_docs: list[dict[str, Any]], tmp_path: Path
) -> None:
    settings = pod_settings(sqlite_docs, tmp_path)
    assert settings.state.backend == "sqlite"
    mount = mount_holding(sqlite_docs, settings.state.path)
    assert mount is not None, f"{settings.state.path} is on the read-only root"
    assert mount["mountPath"] == str(settings.state.path.parent)
    assert not mount.get("readOnly", False)
    volume = volumes(sqlite_docs)[mount["name"]]
    assert "emptyDir" not in volume  # it would die with the pod, and the caps and pause with it
    claim = one(sqlite_docs, "PersistentVolumeClaim")
    assert volume["persistentVolumeClaim"] == {"claimName": claim["metadata"]["name"]}


def test_the_sqlite_claim_is_one_gibibyte_read_write_once_of_the_default_class(
    sqlite_docs: list[dict[str, Any]],
) -> None:
    claim = one(sqlite_docs, "PersistentVolumeClaim")["spec"]
    assert claim == {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": "1Gi"}},
    }
    assert "storageClassName" not in claim  # the cluster's default StorageClass


def test_the_non_root_user_can_write_the_sqlite_volume(sqlite_docs: list[dict[str, Any]]) -> None:
    """A claim's root directory is root-owned on most provisioners: fsGroup makes the kubelet
    give it the pod's group, group-writable; the user runs in that group."""
    pod = pod_spec(sqlite_docs)["securityContext"]
    assert pod["runAsUser"] == RUN_AS
    assert pod["fsGroup"] == pod["runAsGroup"] == RUN_AS
    assert container(sqlite_docs)["securityContext"]["runAsGroup"] == pod["fsGroup"]
    assert pod["fsGroupChangePolicy"] == "OnRootMismatch"


def test_the_sqlite_mode_elects_no_leader_and_gets_no_kubernetes_api_token(
    sqlite_docs: list[dict[str, Any]], tmp_path: Path
) -> None:
    assert pod_settings(sqlite_docs, tmp_path).leader.enabled is False
    assert not kinds(sqlite_docs) & {"Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"}
    assert pod_spec(sqlite_docs)["automountServiceAccountToken"] is False
    assert one(sqlite_docs, "ServiceAccount")["automountServiceAccountToken"] is False


def test_the_sqlite_mode_has_no_disruption_budget_that_would_block_node_drains(
    sqlite_docs: list[dict[str, Any]],
) -> None:
    assert "PodDisruptionBudget" not in kinds(sqlite_docs)


# --- PostgreSQL: replicas sharing one journal -----------------------------------------------


def test_the_postgres_mode_runs_replicas_rolled_without_dropping_below_their_count(
    postgres_docs: list[dict[str, Any]],
) -> None:
    spec = one(postgres_docs, "Deployment")["spec"]
    assert spec["replicas"] >= 2
    assert spec["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
    }
    (spread,) = pod_spec(postgres_docs)["topologySpreadConstraints"]
    assert spread["topologyKey"] == "kubernetes.io/hostname"
    assert selects(spread["labelSelector"]["matchLabels"], POD_LABELS)


def test_the_postgres_mode_elects_a_leader_with_a_token_and_only_the_lease_permissions(
    postgres_docs: list[dict[str, Any]], tmp_path: Path
) -> None:
    settings = pod_settings(postgres_docs, tmp_path)
    assert settings.leader.enabled is True
    assert settings.leader.lease_name == "taskwatch-leader"
    assert pod_spec(postgres_docs)["automountServiceAccountToken"] is True
    assert one(postgres_docs, "Role")["rules"] == LEASE_RULES
    assert not kinds(postgres_docs) & {"ClusterRole", "ClusterRoleBinding"}
    binding = one(postgres_docs, "RoleBinding")
    account = one(postgres_docs, "ServiceAccount")["metadata"]["name"]
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": one(postgres_docs, "Role")["metadata"]["name"],
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": account, "namespace": NAMESPACE}
    ]
    assert pod_spec(postgres_docs)["serviceAccountName"] == account


def test_the_postgres_url_comes_from_the_secret_through_the_environment(
    postgres_docs: list[dict[str, Any]], tmp_path: Path
) -> None:
    env = {e["name"]: e for e in container(postgres_docs)["env"]}
    assert env["TASKWATCH_STATE_URL"]["valueFrom"] == {
        "secretKeyRef": {"name": "taskwatch-postgres", "key": "url"}
    }
    text = one(postgres_docs, "ConfigMap")["data"]["taskwatch.yaml"]
    assert yaml.safe_load(text)["state"]["url"] == "${TASKWATCH_STATE_URL}"
    settings = pod_settings(postgres_docs, tmp_path)
    assert settings.state.backend == "postgresql"
    assert settings.state.url == POD_ENV["TASKWATCH_STATE_URL"]


def test_the_postgres_password_is_a_read_only_file_from_the_same_secret(
    postgres_docs: list[dict[str, Any]], tmp_path: Path
) -> None:
    password_file = pod_settings(postgres_docs, tmp_path).state.password_file
    assert password_file is not None
    mount = mount_holding(postgres_docs, password_file)
    assert mount is not None, f"{password_file} is not on a volume"
    assert mount["readOnly"] is True
    secret = volumes(postgres_docs)[mount["name"]]["secret"]
    assert secret["secretName"] == "taskwatch-postgres"
    # Only the password is projected (the URL stays in the environment), at the configured name.
    assert secret["items"] == [
        {"key": "password", "path": str(password_file.relative_to(mount["mountPath"]))}
    ]
    assert secret["defaultMode"] == 0o440  # owner root, group fsGroup: readable by the user
    assert pod_spec(postgres_docs)["securityContext"]["fsGroup"] == RUN_AS


def test_the_postgres_mode_connects_as_a_password_role_with_the_secret_as_the_pod_sees_it(
    postgres: PostgresServer, tmp_path: Path
) -> None:
    """The Secret's two keys as an operator creates them (``--from-file`` keeps the file's
    newline), the password where the volume puts it (the mount's directory stands in for
    /var/run/secrets/taskwatch-postgres), the URL in the environment as the Deployment sets it:
    the configuration's password reaches a real PostgreSQL that demands one (scram-sha-256)."""
    docs = documents(render("postgres"))
    (mount,) = [p for p, m in mounts(docs).items() if m["name"] == "postgres"]
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "password").write_text(PASSWORD + "\n")
    path = tmp_path / "taskwatch.yaml"
    path.write_text(one(docs, "ConfigMap")["data"]["taskwatch.yaml"].replace(mount, str(secret)))
    database = postgres.create_database()
    try:
        url = postgres.url(database, user=PASSWORD_ROLE)
        environ = {**POD_ENV, "TASKWATCH_STATE_URL": url}
        state = load_settings(path, environ=environ, actions=catalog.action_names()).state
        assert state.password_file == secret / "password"
        with psycopg.connect(**connect_kwargs(state, environ={})) as conn:
            assert conn.execute("SELECT current_user").fetchone() == (PASSWORD_ROLE,)
    finally:
        postgres.drop_database(database)


def test_the_postgres_mode_keeps_nothing_on_a_volume_claim(
    postgres_docs: list[dict[str, Any]],
) -> None:
    assert "PersistentVolumeClaim" not in kinds(postgres_docs)
    assert not [v for v in volumes(postgres_docs).values() if "persistentVolumeClaim" in v]
    assert "/var/lib/taskwatch" not in mounts(postgres_docs)


def test_the_postgres_disruption_budget_keeps_one_pod_of_the_replicas(
    postgres_docs: list[dict[str, Any]],
) -> None:
    budget = one(postgres_docs, "PodDisruptionBudget")["spec"]
    assert budget["minAvailable"] == 1 < one(postgres_docs, "Deployment")["spec"]["replicas"]
    assert selects(budget["selector"]["matchLabels"], POD_LABELS)
    assert budget["unhealthyPodEvictionPolicy"] == "AlwaysAllow"


# --- the Secrets an operator creates --------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SECRET_EXAMPLES))
def test_each_example_secret_passes_strict_validation_and_holds_only_placeholders(
    name: str,
) -> None:
    path = SECRET_EXAMPLES[name]
    done = kubernetes_validate("-k", MINIMUM_VERSION, files=(str(path),))
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"passed for resource secret/{name}" in done.stdout
    secret = yaml.safe_load(path.read_text())
    assert secret["metadata"] == {
        "name": name,
        "namespace": NAMESPACE,
        "labels": POD_LABELS,
    }
    assert set(secret["stringData"]) == SECRET_KEYS[name]  # the keys the pods read
    placeholders = [v for v in secret["stringData"].values() if "NOT-A-REAL" in v]
    assert placeholders, "no placeholder: is this a real secret?"
    for value in secret["stringData"].values():
        assert "NOT-A-REAL" in value or ".invalid" in value, value


@pytest.mark.parametrize("mode_dir", sorted(MODES))
def test_no_kustomization_applies_an_example_secret(mode_dir: str) -> None:
    """An apply must never overwrite real credentials with the placeholders."""
    for directory in (MODES[mode_dir], BASE_DIR):
        kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
        listed = [str((directory / r).resolve()) for r in kustomization["resources"]]
        for example in SECRET_EXAMPLES.values():
            assert str(example.resolve()) not in listed
        assert "secretGenerator" not in kustomization
    assert "kind: Secret" not in render(mode_dir)


# --- what both share is written once --------------------------------------------------------


@pytest.mark.parametrize(
    "kind", ["Namespace", "ServiceAccount", "Service", "NetworkPolicy", "ServiceMonitor"]
)
def test_the_documents_no_mode_changes_render_identically_in_both(kind: str) -> None:
    sqlite, postgres = (documents(render(mode)) for mode in ("sqlite", "postgres"))
    assert one(sqlite, kind) == one(postgres, kind)


def test_both_modes_run_the_same_container_but_for_the_journals_settings() -> None:
    sqlite, postgres = (container(documents(render(mode))) for mode in ("sqlite", "postgres"))
    journal = {"env", "volumeMounts"}
    assert {k: v for k, v in sqlite.items() if k not in journal} == {
        k: v for k, v in postgres.items() if k not in journal
    }
    shared = [e for e in postgres["env"] if e["name"] != "TASKWATCH_STATE_URL"]
    assert shared == sqlite["env"]


def test_each_resource_is_defined_once_across_base_and_the_modes() -> None:
    """base/ holds what both modes share; each mode's directory only what it adds (its patches
    change base documents, they define none)."""
    defined: list[tuple[str, str]] = []
    for directory in (BASE_DIR, *MODES.values()):
        kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
        for entry in kustomization["resources"]:
            path = directory / entry
            if path.is_file():
                defined += [(d["kind"], d["metadata"]["name"]) for d in documents(path.read_text())]
    assert len(defined) == len(set(defined)), sorted(defined)


def test_each_mode_mounts_its_own_configuration() -> None:
    names = []
    for mode in ("sqlite", "postgres"):
        docs = documents(render(mode))
        config_map = one(docs, "ConfigMap")["metadata"]["name"]
        assert volume_at(docs, "/etc/taskwatch")["configMap"]["name"] == config_map
        names.append(config_map)
    assert names[0] != names[1]
