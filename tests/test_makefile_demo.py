"""``make demo`` runs from a lean venv of its own: what the daemon and the emulator need, no dev
extra, while ``make test`` keeps the dev venv. Checked on what make would run (``make -n -B``,
nothing is installed), with uv and with the pip fallback."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs make")


def _plan(*args: str) -> list[str]:
    done = subprocess.run(
        ["make", "-n", "-B", "-C", str(ROOT), "--no-print-directory", *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return done.stdout.splitlines()


@pytest.mark.parametrize("uv", [None, ""], ids=["uv", "pip"])
def test_the_demo_installs_the_package_without_any_extra_into_its_own_venv(
    uv: str | None,
) -> None:
    plan = _plan("demo", *([] if uv is None else [f"UV={uv}"]))
    installs = [line for line in plan if "pip install" in line]
    assert installs, plan
    for line in installs:
        assert line.split()[-1] == ".", line  # the package itself, no [extra]
        assert "--python .venv-demo/" in line or line.startswith(".venv-demo/"), line
        assert "-e" not in line.split(), line
    assert plan[-1].startswith(".venv-demo/bin/python -m taskwatch demo"), plan
    assert not any("[dev]" in line or line.startswith(".venv/bin/python") for line in plan)


def test_the_tests_keep_the_dev_venv_with_the_dev_extra() -> None:
    plan = _plan("test")
    assert any("'.[dev]'" in line for line in plan), plan
    assert plan[-1].startswith(".venv/bin/python -m pytest"), plan
