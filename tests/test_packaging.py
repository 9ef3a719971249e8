"""What a release ships: the LICENSE, the lock the image installs from, the wheel and the sdist.

The build test runs the real ``python -m build`` (isolated, as a release builds: it needs the
package index for setuptools, as ``make`` does), ``twine check``, and installs the wheel into a
clean virtualenv from ``requirements.lock`` with every hash checked (uv, from the .venv), then
runs ``taskwatch --version`` there. It takes about 6 s with a warm uv cache.

Not checked here: that the lock is the newest resolution (re-run the command at its top), the
image build itself (tests/deploy/test_container.py reads the Dockerfile).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import re
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from taskwatch import buildinfo

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
LOCK = ROOT / "requirements.lock"
IMAGE_EXTRAS = ("kubernetes", "postgresql")
APACHE_2_0_SHA256 = "cfc7749b96f63bd31c3c42b5c471bf756814053e847c10f3eb003417bc523d30"
"""sha256 of https://www.apache.org/licenses/LICENSE-2.0.txt (the same bytes as Debian's
/usr/share/common-licenses/Apache-2.0)."""


def locked() -> dict[str, tuple[str, list[str]]]:
    """``name -> (version, hashes)`` from requirements.lock."""
    pins: dict[str, tuple[str, list[str]]] = {}
    text = LOCK.read_text().replace("\\\n", " ")
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = re.match(r"([A-Za-z0-9._-]+)==(\S+)", line)
        assert match, f"not an exact pin: {line[:80]}"
        hashes = re.findall(r"--hash=sha256:([0-9a-f]{64})\b", line)
        pins[canonicalize_name(match.group(1))] = (match.group(2), hashes)
    return pins


def runtime_requirements() -> list[Requirement]:
    reqs = [Requirement(r) for r in PROJECT["dependencies"]]
    for extra in IMAGE_EXTRAS:
        reqs += [Requirement(r) for r in PROJECT["optional-dependencies"][extra]]
    return reqs


def test_the_license_file_is_the_apache_2_0_text_pyproject_declares() -> None:
    assert hashlib.sha256((ROOT / "LICENSE").read_bytes()).hexdigest() == APACHE_2_0_SHA256
    assert PROJECT["license"] == "Apache-2.0"
    assert PROJECT["license-files"] == ["LICENSE"]


def test_the_lock_pins_every_package_to_one_version_with_its_hashes() -> None:
    pins = locked()
    assert len(pins) > 10
    for name, (version, hashes) in pins.items():
        assert re.fullmatch(r"[0-9][0-9A-Za-z.+!-]*", version), name
        assert hashes, f"{name} has no --hash: pip --require-hashes would refuse the lock"


def test_the_lock_satisfies_every_requirement_of_the_image_and_its_extras() -> None:
    pins = locked()
    for req in runtime_requirements():
        name = canonicalize_name(req.name)
        assert name in pins, f"{req} is not in requirements.lock: re-run its command"
        assert req.specifier.contains(pins[name][0], prereleases=True), (req, pins[name][0])
        for extra in req.extras:  # psycopg[binary]: what the extra adds is locked too
            for added in importlib.metadata.requires(req.name) or []:
                dep = Requirement(added)
                if dep.marker and dep.marker.evaluate({"extra": extra}):
                    assert canonicalize_name(dep.name) in pins, f"{req}: {dep.name}"


def test_the_lock_leaves_the_development_tools_out() -> None:
    pins = locked()
    runtime = {canonicalize_name(r.name) for r in runtime_requirements()}
    dev_only = {
        canonicalize_name(Requirement(r).name) for r in PROJECT["optional-dependencies"]["dev"]
    }
    assert not (dev_only - runtime) & set(pins), "a development tool is in the image's lock"
    assert "taskwatch" not in pins  # the image installs its own wheel, built from the source


def _closure(requirements: list[Requirement]) -> set[str]:
    """Every distribution these pull, walking the installed packages' metadata (with extras)."""
    seen: set[tuple[str, str]] = set()
    todo = [(r, extra) for r in requirements for extra in ("", *r.extras)]
    env = default_environment()
    while todo:
        req, extra = todo.pop()
        if req.marker and not req.marker.evaluate({**env, "extra": extra}):
            continue
        for wanted in ("", *req.extras):
            key = (canonicalize_name(req.name), wanted)
            if key in seen:
                continue
            seen.add(key)
            todo += [(Requirement(r), wanted) for r in importlib.metadata.requires(req.name) or []]
    return {name for name, _ in seen}


def test_a_base_install_does_not_pull_kubernetes_asyncio_only_the_extra_does() -> None:
    base = _closure([Requirement(r) for r in PROJECT["dependencies"]])
    assert "aiohttp" in base  # the walk follows real metadata
    assert "kubernetes-asyncio" not in base
    kubernetes = [Requirement(r) for r in PROJECT["optional-dependencies"]["kubernetes"]]
    assert "kubernetes-asyncio" in _closure(kubernetes)


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return out


def test_the_wheel_and_sdist_pass_twine_check(dist: Path) -> None:
    files = sorted(str(p) for p in dist.iterdir())
    assert [Path(f).name for f in files] == [
        f"taskwatch-{PROJECT['version']}-py3-none-any.whl",
        f"taskwatch-{PROJECT['version']}.tar.gz",
    ]
    done = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", *files],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_wheel_carries_the_license_the_commit_and_optional_kubernetes(dist: Path) -> None:
    (wheel,) = dist.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        info = f"taskwatch-{PROJECT['version']}.dist-info"
        assert f"{info}/licenses/LICENSE" in names
        baked = archive.read("taskwatch/_build_info.py").decode()
        metadata = archive.read(f"{info}/METADATA").decode()
    assert f'COMMIT = "{buildinfo.git_commit(ROOT) or buildinfo.UNKNOWN}"' in baked
    assert "License-Expression: Apache-2.0" in metadata
    requires = re.findall(r"^Requires-Dist: (.*)$", metadata, re.M)
    kubernetes = [r for r in requires if r.startswith("kubernetes_asyncio")]
    assert kubernetes
    assert all("extra ==" in r for r in kubernetes), kubernetes
    assert not any(n.startswith("tests/") for n in names)


def test_the_sdist_keeps_the_commit_for_a_wheel_built_without_git(dist: Path) -> None:
    (sdist,) = dist.glob("*.tar.gz")
    top = f"taskwatch-{PROJECT['version']}"
    with tarfile.open(sdist) as archive:
        names = set(archive.getnames())
        member = archive.extractfile(f"{top}/taskwatch/_build_info.py")
        assert member is not None
        baked = member.read().decode()
    assert {f"{top}/{n}" for n in ("LICENSE", "setup.py", "pyproject.toml", "README.md")} <= names
    assert f"{top}/requirements.lock" in names
    assert not any(n.startswith(f"{top}/tests") for n in names)
    assert f'COMMIT = "{buildinfo.git_commit(ROOT) or buildinfo.UNKNOWN}"' in baked


def test_the_wheel_installs_from_the_lock_in_a_clean_venv_and_prints_version_and_commit(
    dist: Path, tmp_path: Path
) -> None:
    uv = str(Path(sys.executable).parent / "uv")
    venv = tmp_path / "venv"
    python = str(venv / "bin" / "python")
    (wheel,) = dist.glob("*.whl")
    steps = [
        [uv, "venv", "-q", "--python", sys.executable, str(venv)],
        [
            uv,
            "pip",
            "install",
            "-q",
            "--python",
            python,
            "--require-hashes",
            "--no-deps",
            "-r",
            str(LOCK),
        ],
        [uv, "pip", "install", "-q", "--python", python, "--no-deps", str(wheel)],
        [uv, "pip", "check", "-q", "--python", python],
    ]
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True, timeout=300, cwd=tmp_path)
        assert done.returncode == 0, f"{step[1:3]}: {done.stderr[-2000:]}"
    done = subprocess.run(
        [str(venv / "bin" / "taskwatch"), "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    commit = buildinfo.git_commit(ROOT) or buildinfo.UNKNOWN
    assert done.stdout == f"taskwatch {PROJECT['version']} (commit {commit})\n", done.stderr
    assert commit != buildinfo.UNKNOWN  # this suite runs in a checkout: the commit is real


def test_the_lock_is_what_its_own_command_resolves_from_pyproject(tmp_path: Path) -> None:
    """Re-run the lock's command (the lock as preference): the same pins, or it is stale.

    Hashes are not compared: an index may add wheels to a released version.
    """
    command = LOCK.read_text().splitlines()[1].lstrip("# ").split()
    assert command[:3] == ["uv", "pip", "compile"], command
    assert command[-2:] == ["-o", "requirements.lock"], command
    out = tmp_path / "requirements.lock"
    out.write_text(LOCK.read_text())
    uv = str(Path(sys.executable).parent / "uv")
    done = subprocess.run(
        [uv, *command[1:-1], str(out), "--quiet", "--no-header"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    again = set(re.findall(r"^([A-Za-z0-9._-]+==\S+)", out.read_text(), re.M))
    assert again == set(re.findall(r"^([A-Za-z0-9._-]+==\S+)", LOCK.read_text(), re.M))
