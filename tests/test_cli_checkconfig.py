"""``taskwatch check-config``: every error of a file under ``--all`` (the daemon still tells the
first), and each account's credentials resolved where they are, without calling an API."""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path

import pytest

from taskwatch.cli.checkconfig import check
from taskwatch.cli.common import UsageError
from taskwatch.cli.main import main
from taskwatch.errors import ConfigError
from taskwatch.supervisor import load_config

THREE_ERRORS = """accounts:
  - name: main
    credentials: {from: env}
    regions: [guangzhou]
api:
  budget: two
policies:
  - name: stop-long
    product: mps
    action: abort
    enforce: maybe
    filters: [{status: WAITING}]
"""

TWO_BAD_RULES = """accounts:
  - name: main
    credentials: {from: env}
policies:
  - name: first
    product: mps
    action: cancel
    filters: [{status: WAITING}]
  - name: fine
    product: mps
    action: abort
    filters: [{status: WAITING}]
  - name: second
    product: dlc
    action: abort
    filters: [{status: running}]
"""


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "taskwatch.yaml"
    path.write_text(text)
    return str(path)


def run_check(
    path: str, environ: Mapping[str, str] | None = None, **flags: bool
) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = check(
        path,
        every=flags.get("every", False),
        strict=flags.get("strict", False),
        environ=environ or {},
        out=out,
        err=err,
    )
    return code, out.getvalue(), err.getvalue()


# --- every error ---------------------------------------------------------------------------------


def test_all_lists_every_error_with_its_key_line_and_rule(tmp_path: Path) -> None:
    path = write(tmp_path, THREE_ERRORS)
    code, out, err = run_check(path, every=True)
    assert code == 2
    assert out == ""
    assert err.splitlines() == [
        f"error: {path}: accounts[0].regions[0]: 'guangzhou' is not a region name "
        "(e.g. ap-guangzhou) (line 4)",
        f"error: {path}: api.budget: must be a number (line 6)",
        f"error: {path}: policies[0].enforce: rule 'stop-long': must be true or false (line 11)",
    ]


def test_the_daemon_still_tells_the_first_error_and_counts_the_rest(tmp_path: Path) -> None:
    path = write(tmp_path, THREE_ERRORS)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value) == (
        f"{path}: accounts[0].regions[0]: 'guangzhou' is not a region name (e.g. ap-guangzhou) "
        "(line 4) (and 2 more)"
    )
    assert [p.key for p in caught.value.problems] == [
        "accounts[0].regions[0]",
        "api.budget",
        "policies[0].enforce",
    ]


def test_without_all_the_first_error_says_how_to_list_the_rest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, THREE_ERRORS)
    with pytest.raises(UsageError) as caught:
        run_check(path)
    assert str(caught.value) == (
        f"{path}: accounts[0].regions[0]: 'guangzhou' is not a region name (e.g. ap-guangzhou) "
        "(line 4) (and 2 more; check-config --all lists them)"
    )
    assert main(["check-config", "-c", path]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    assert main(["check-config", "--all", "-c", path]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 3


def test_all_lists_every_policy_the_compiler_refuses(tmp_path: Path) -> None:
    path = write(tmp_path, TWO_BAD_RULES)
    code, _, err = run_check(path, every=True)
    assert code == 2
    lines = err.splitlines()
    assert len(lines) == 2, err
    assert lines[0].startswith(f"error: {path}: policies[0].action: rule 'first': 'cancel'")
    assert lines[0].endswith("(line 7)")
    assert lines[1].startswith(f"error: {path}: policies[2].action: rule 'second': 'abort'")
    assert lines[1].endswith("(line 15)")
    with pytest.raises(UsageError, match=r"rule 'first'.*\(and 1 more; check-config --all"):
        run_check(path)


def test_all_lists_every_variable_that_cannot_be_expanded(tmp_path: Path) -> None:
    text = "accounts:\n  - name: ${TW_NAME}\n    credentials: {from: env}\n"
    path = write(tmp_path, text + "api: {budget: '${TW_BUDGET}'}\n")
    code, _, err = run_check(path, every=True)
    assert code == 2
    lines = err.splitlines()
    assert len(lines) == 2, err
    assert "accounts[0].name: environment variable TW_NAME is not set" in lines[0]
    assert "api.budget: environment variable TW_BUDGET is not set" in lines[1]


def test_a_single_error_reads_as_it_always_did(tmp_path: Path) -> None:
    path = write(tmp_path, "accounts:\n  - name: main\n    credentials: {from: env}\n    x: 1\n")
    with pytest.raises(UsageError) as caught:
        run_check(path)
    assert str(caught.value) == f"{path}: accounts[0].x: unknown key (line 4)"
    code, _, err = run_check(path, every=True)
    assert (code, err) == (2, f"error: {caught.value}\n")
