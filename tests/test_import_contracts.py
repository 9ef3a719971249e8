"""The import contracts in .importlinter break when they should: each test copies the package
to a temporary directory, adds one deliberate import, and runs ``lint-imports`` on the copy.

A contract that is always kept proves nothing; these show that the emulator stays out of the
daemon (supervisor, executor), that the emulator stays out of the daemon's wire code, and that
kubernetes_asyncio, psycopg, bcrypt and yaml are confined to the modules that own them. The
unchanged copy is checked too, so a failure here points at the added import, not at the tree.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the package and its contracts (no caches), shared read-only by the tests."""
    if not LINT_IMPORTS.exists():
        pytest.skip("lint-imports is not installed: install the dev extras")
    copy = tmp_path_factory.mktemp("contracts")
    shutil.copytree(
        ROOT / "taskwatch", copy / "taskwatch", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copy(ROOT / ".importlinter", copy / ".importlinter")
    return copy


def lint(tree: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def with_import(pristine: Path, tmp_path: Path, module: str, line: str) -> Path:
    """A copy of ``pristine`` where ``module`` (a path under taskwatch/) also has ``line``."""
    tree = tmp_path / "tree"
    shutil.copytree(pristine, tree)
    target = tree / module
    text = target.read_text() if target.exists() else '"""A probe."""\n'
    target.write_text(f"{text}\n{line}  # deliberate\n")
    return tree


def test_the_tree_as_it_is_keeps_every_contract(pristine: Path) -> None:
    done = lint(pristine)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        pytest.param(
            "taskwatch/supervisor.py",
            "from taskwatch.emulator import server",
            "nothing but the CLI imports the emulator",
            id="emulator-from-supervisor",
        ),
        pytest.param(
            "taskwatch/actions/executor.py",
            "import taskwatch.emulator.scenario",
            "nothing but the CLI imports the emulator",
            id="emulator-from-executor",
        ),
        pytest.param(
            "taskwatch/brand_new_module.py",
            "from taskwatch.emulator import world",
            "nothing but the CLI imports the emulator",
            id="emulator-from-a-new-module",
        ),
        pytest.param(
            "taskwatch/emulator/probe.py",
            "from taskwatch.tencent import client",
            "the emulator imports only the bottom layer",
            id="client-from-emulator",
        ),
        pytest.param(
            "taskwatch/supervisor.py",
            "import kubernetes_asyncio",
            "only the Lease store imports kubernetes_asyncio",
            id="kubernetes-outside-lease",
        ),
        pytest.param(
            "taskwatch/actions/dsn.py",
            "import psycopg",
            "psycopg only in actions.postgres, settings.state, hintrelay",
            id="psycopg-outside-postgres",
        ),
        pytest.param(
            "taskwatch/web/server.py",
            "import bcrypt",
            "only web authentication imports bcrypt",
            id="bcrypt-outside-auth",
        ),
        pytest.param(
            "taskwatch/cli/main.py",
            "import yaml",
            "import yaml",
            id="yaml-outside-readers",
        ),
    ],
)
def test_a_deliberate_import_breaks_its_contract(
    pristine: Path, tmp_path: Path, module: str, line: str, contract: str
) -> None:
    done = lint(with_import(pristine, tmp_path, module, line))
    assert done.returncode != 0, done.stdout
    broken = [row for row in done.stdout.splitlines() if " BROKEN" in row]
    assert any(contract in row for row in broken), done.stdout
