"""deploy/container/Dockerfile and .dockerignore, checked without a container engine.

There is no Docker here, so the image is never built. What is checked: the Dockerfile parses
(a small parser: parser directives, comments, line continuations, ``FROM ... AS``, exec-form
JSON) into a builder and a runtime stage on one base image, pinned by digest; the builder
installs the dependencies only from requirements.lock with hashes checked, builds the wheel
without fetching anything and bakes the REVISION build-arg in as the commit; the runtime stage
runs as a non-root numeric user, starts ``taskwatch`` in exec form with the Kubernetes
manifest's arguments, exposes the port the Deployment uses, copies only the builder's
virtualenv, carries the OCI labels and the Python environment settings; nothing is ADDed from a
URL; and the .dockerignore allow-list lets in every COPY source while keeping .git, .venv and
tests out.

Not checked: that the build succeeds (tests/test_packaging.py builds the wheel and installs it
from the lock, outside a container), that the digest is still the tag's newest, the image size,
and the .dockerignore matcher beyond the subset of Docker's rules implemented below.
"""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "deploy" / "container" / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
DEPLOYMENT = ROOT / "deploy" / "kubernetes" / "base" / "deployment.yaml"


@dataclass
class Instruction:
    keyword: str
    args: str
    line: int


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def last(self, keyword: str) -> Instruction:
        found = self.all(keyword)
        assert found, f"stage {self.name or self.base} has no {keyword}"
        return found[-1]


@dataclass
class Dockerfile:
    args: dict[str, str]
    """Global ARGs (before the first FROM) and their defaults."""
    stages: list[Stage]


def parse(text: str) -> Dockerfile:
    """Instructions grouped into stages: enough of the Dockerfile grammar for this file."""
    logical: list[tuple[int, str]] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue  # comments and parser directives (# syntax=...), blank lines
        if pending and stripped.startswith("#"):
            continue  # a comment inside a continued instruction
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending.append(stripped[:-1].strip())
            continue
        pending.append(stripped)
        logical.append((start, " ".join(p for p in pending if p)))
        pending = []
    assert not pending, "the file ends inside a continued line"

    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for number, line in logical:
        keyword, _, args = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            words = args.split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            assert len(words) in (1, 3), f"line {number}: FROM {args}"
            stages.append(Stage(base=words[0], name=name))
        elif not stages:
            assert keyword == "ARG", f"line {number}: {keyword} before the first FROM"
            key, _, default = args.partition("=")
            global_args[key] = default
        else:
            stages[-1].instructions.append(Instruction(keyword, args.strip(), number))
    return Dockerfile(global_args, stages)


def exec_form(instruction: Instruction) -> list[str]:
    """A JSON-array (exec form) argument list; shell form fails the test."""
    value = json.loads(instruction.args)
    assert isinstance(value, list), instruction
    assert all(isinstance(v, str) for v in value), instruction
    return value


def key_values(instruction: Instruction) -> dict[str, str]:
    """``KEY=value KEY2="value two"`` (LABEL, ENV) as a dict."""
    pairs = shlex.split(instruction.args)
    assert all("=" in p for p in pairs), f"line {instruction.line}: use KEY=value"
    return dict(p.split("=", 1) for p in pairs)


@pytest.fixture(scope="module")
def dockerfile() -> Dockerfile:
    return parse(DOCKERFILE.read_text())


@pytest.fixture(scope="module")
def runtime(dockerfile: Dockerfile) -> Stage:
    return dockerfile.stages[-1]


def test_the_parser_reads_stages_continuations_and_comments() -> None:
    parsed = parse(
        "# syntax=docker/dockerfile:1\nARG B=x\nFROM ${B} AS one\nRUN a \\\n  # note\n && b\n"
        'FROM ${B}\nCMD ["c"]\n'
    )
    assert parsed.args == {"B": "x"}
    assert [(s.base, s.name) for s in parsed.stages] == [("${B}", "one"), ("${B}", None)]
    assert parsed.stages[0].instructions[0].args == "a && b"
    assert exec_form(parsed.stages[1].last("CMD")) == ["c"]


BASE_DIGEST = "sha256:90744cff8f32887f075c47d747a173ff333e9e98801667af93c357fa9f5e28ff"
"""python:3.11-slim's multi-platform index, as docker-library/repo-info records it
(repos/python/remote/3.11-slim.md): not pulled here (no registry access); see the Dockerfile's
header for how to refresh it."""


def test_it_is_a_two_stage_build_on_one_slim_python_base(dockerfile: Dockerfile) -> None:
    assert [s.name for s in dockerfile.stages] == ["builder", "runtime"]
    assert {s.base for s in dockerfile.stages} == {"${BASE}"}
    assert dockerfile.args["BASE"].partition("@")[0] == "python:3.11-slim"
    python = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert python == ">=3.11"


def test_the_base_image_is_pinned_by_its_verified_digest(dockerfile: Dockerfile) -> None:
    name, _, digest = dockerfile.args["BASE"].partition("@")
    assert name == "python:3.11-slim"
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", digest), dockerfile.args["BASE"]
    assert digest == BASE_DIGEST  # a new digest is checked at its source before it lands


def test_the_builder_installs_this_project_into_a_virtualenv(dockerfile: Dockerfile) -> None:
    builder = dockerfile.stages[0]
    run = " ".join(i.args for i in builder.all("RUN"))
    assert "python -m venv /opt/taskwatch" in run
    assert re.search(r"pip wheel .*--no-build-isolation .*--wheel-dir /wheels \.(\s|$)", run)
    assert "wheel=$(echo /wheels/taskwatch-*.whl)" in run
    assert '/opt/taskwatch/bin/pip install --no-deps --no-index "${wheel}"' in run
    assert "/opt/taskwatch/bin/pip check" in run
    sources = {src for copy in builder.all("COPY") for src in copy.args.split()[:-1]}
    assert {"pyproject.toml", "setup.py", "README.md", "LICENSE", "taskwatch"} <= sources


def test_the_builder_installs_the_dependencies_exactly_from_the_lock(
    dockerfile: Dockerfile,
) -> None:
    builder = dockerfile.stages[0]
    installs = [i.args for i in builder.all("RUN") if "-r requirements.lock" in i.args]
    assert len(installs) == 1, "one install from the lock"
    assert (
        "/opt/taskwatch/bin/pip install --require-hashes --no-deps -r requirements.lock"
        in (installs[0])
    )
    # Nothing else resolves dependencies: every other pip install is --no-deps from a file.
    run = " ".join(i.args for i in builder.all("RUN"))
    for install in re.findall(r"pip install [^&]*", run):
        assert "--no-deps" in install, install
    # The image runs deploy/kubernetes/postgres (leader election, the PostgreSQL journal) too:
    # the lock is compiled with both extras (tests/test_packaging.py checks its contents).
    lock = (ROOT / "requirements.lock").read_text()
    assert "--extra kubernetes --extra postgresql" in lock.splitlines()[1]
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert {"kubernetes", "postgresql"} <= set(project["optional-dependencies"])


def test_the_builder_bakes_the_revision_build_arg_in_as_the_commit(dockerfile: Dockerfile) -> None:
    builder = dockerfile.stages[0]
    assert any(a.args.partition("=")[0] == "REVISION" for a in builder.all("ARG"))
    run = " ".join(i.args for i in builder.all("RUN"))
    assert re.search(r'TASKWATCH_BUILD_COMMIT="\$\{REVISION\}" +python -m pip wheel', run), run


def test_the_runtime_runs_as_a_non_root_numeric_user(runtime: Stage) -> None:
    user, _, group = runtime.last("USER").args.partition(":")
    assert user.isdigit()
    assert group.isdigit()
    assert int(user) == int(group) == 65532
    deployment = yaml.safe_load(DEPLOYMENT.read_text())
    pod = deployment["spec"]["template"]["spec"]["securityContext"]
    assert pod["runAsUser"] == int(user)
    assert pod["runAsGroup"] == int(group)


def test_the_runtime_starts_taskwatch_in_exec_form_as_kubernetes_does(runtime: Stage) -> None:
    assert exec_form(runtime.last("ENTRYPOINT")) == ["taskwatch"]
    cmd = exec_form(runtime.last("CMD"))
    assert cmd == ["run", "--config", "/etc/taskwatch/taskwatch.yaml"]
    deployment = yaml.safe_load(DEPLOYMENT.read_text())
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["args"] == cmd
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["taskwatch"] == "taskwatch.cli:main"  # what the ENTRYPOINT runs


def test_the_runtime_exposes_the_port_the_deployment_uses(runtime: Stage) -> None:
    deployment = yaml.safe_load(DEPLOYMENT.read_text())
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert runtime.last("EXPOSE").args == str(container["ports"][0]["containerPort"]) == "10911"


def test_the_runtime_copies_only_the_builders_virtualenv_and_state_directory(
    runtime: Stage,
) -> None:
    copies = [c.args.split() for c in runtime.all("COPY")]
    assert copies, "no COPY"
    for words in copies:
        assert words[0] == "--from=builder", words  # never the source tree
    assert ["--from=builder", "/opt/taskwatch", "/opt/taskwatch"] in copies
    assert not runtime.all("RUN"), "the runtime stage runs nothing: no shell step at all"


def test_nothing_is_added_from_a_url(dockerfile: Dockerfile) -> None:
    for stage in dockerfile.stages:
        for add in stage.all("ADD"):
            assert not re.search(r"\b(https?|git)://|git@", add.args), add
    assert not dockerfile.stages[-1].all("ADD")


def test_the_runtime_has_oci_labels_matching_the_project(runtime: Stage) -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    labels = {k: v for label in runtime.all("LABEL") for k, v in key_values(label).items()}
    prefix = "org.opencontainers.image."
    assert {f"{prefix}{k}" for k in ("title", "description", "version", "licenses")} <= set(labels)
    assert labels[f"{prefix}title"] == project["name"]
    assert labels[f"{prefix}licenses"] == project["license"]
    assert labels[f"{prefix}version"] == "${VERSION}"
    args = {k: v for arg in runtime.all("ARG") for k, _, v in [arg.args.partition("=")]}
    assert args["VERSION"] == project["version"]


def test_python_neither_writes_bytecode_nor_buffers_output(runtime: Stage) -> None:
    env = {k: v for e in runtime.all("ENV") for k, v in key_values(e).items()}
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    assert env["PYTHONUNBUFFERED"] == "1"
    assert env["PATH"].startswith("/opt/taskwatch/bin:")


# --- .dockerignore ---------------------------------------------------------------------------


def _pattern_matches(pattern: str, path: str) -> bool:
    """Docker's rule for one pattern: it matches the path or one of its parent directories.

    ``*`` does not cross ``/``; ``**`` matches any number of directories. (Docker cleans
    patterns with Go's filepath.Clean and matches with filepath.Match plus ``**``: this is
    the subset the allow-list uses.)
    """
    pattern = pattern.strip("/")
    parts = path.split("/")
    regex = re.escape(pattern).replace(r"\*\*/", "(?:.*/)?").replace(r"\*\*", ".*")
    regex = regex.replace(r"\*", "[^/]*").replace(r"\?", "[^/]")
    return any(
        re.fullmatch(regex, "/".join(parts[:n])) is not None for n in range(1, len(parts) + 1)
    )


def ignored(path: str, patterns: list[str]) -> bool:
    """Whether Docker leaves ``path`` out of the context: the last matching pattern decides."""
    excluded = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        if _pattern_matches(pattern.lstrip("!"), path):
            excluded = not negated
    return excluded


def dockerignore() -> list[str]:
    lines = [line.strip() for line in DOCKERIGNORE.read_text().splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def test_the_matcher_follows_dockers_rules() -> None:
    assert _pattern_matches("**/__pycache__", "a/b/__pycache__/c.pyc")
    assert _pattern_matches("**/__pycache__", "__pycache__/c.pyc")
    assert _pattern_matches("*", "anything/below")
    assert not _pattern_matches("*.txt", "dir/file.txt")
    assert fnmatch.fnmatch("x.pyc", "*.pyc")  # the same idea, without directories


@pytest.mark.parametrize(
    "path",
    [
        ".git/HEAD",
        ".venv/bin/python",
        "tests/test_metrics.py",
        "tests/deploy/test_container.py",
        "deploy/kubernetes/secret.example.yaml",
        ".hypothesis/examples/x",
        "taskwatch/__pycache__/cli.cpython-311.pyc",
        "taskwatch.egg-info/PKG-INFO",
        "state.db",
        "test-artifacts/run.log",
    ],
)
def test_the_context_leaves_out(path: str) -> None:
    assert ignored(path, dockerignore())


def test_the_context_has_every_copy_source_of_the_dockerfile(dockerfile: Dockerfile) -> None:
    patterns = dockerignore()
    for stage in dockerfile.stages:
        for copy in stage.all("COPY"):
            words = copy.args.split()
            if any(w.startswith("--from=") for w in words):
                continue
            for source in (w for w in words[:-1] if not w.startswith("--")):
                paths = (
                    [str(p.relative_to(ROOT)) for p in (ROOT / source).rglob("*.py")]
                    if (ROOT / source).is_dir()
                    else [source]
                )
                assert paths, source
                for path in paths:
                    if "__pycache__" not in path:
                        assert not ignored(path, patterns), f"COPY {source}: {path} is ignored"
    readme = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["readme"]
    assert not ignored(readme, patterns)  # setuptools reads it to build the wheel
