"""``taskwatch rehearse`` as a command: its table, its JSON, ``--as-configured``, its errors.

Each test writes its own configuration and scenario (tests/rehearsal/world.py) and runs the
command's ``main`` in-process: the rehearsal starts its own emulator and virtual event loop.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from taskwatch.cli.main import main
from tests.rehearsal.world import SCENARIO, config, write

REAL_ID = "AKIDREALREALREALREALREALREALREAL1234"
REAL_KEY = "real-secret-key-that-must-stay-home-0001"
KEYS = {"at", "policy", "product", "account", "task_id", "action", "result"}


def files(tmp_path: Path, **more: object) -> tuple[Path, Path]:
    cfg = config(endpoint="https://example.invalid", state=tmp_path / "state.db", **more)
    return write(tmp_path / "taskwatch.yaml", cfg), write(tmp_path / "world.yaml", SCENARIO)


def test_the_json_output_is_one_object_per_decision_with_its_time_policy_task_and_result(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg, world = files(tmp_path)
    code = main(["rehearse", "-c", str(cfg), "--scenario", str(world), "--for", "15m", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    decisions = json.loads(out)
    assert decisions
    assert all(set(d) >= KEYS for d in decisions)
    assert [d["at"] for d in decisions] == sorted(d["at"] for d in decisions)
    assert all(0 <= d["at"] <= 15 * 60 for d in decisions)
    assert {d["result"] for d in decisions} == {"done", "skipped_cap"}  # per_cycle 1 holds some
    capped = [d for d in decisions if d["result"] == "skipped_cap"]
    assert {d["policy"] for d in capped} == {"abort-long-live"}
    assert all(d["code"] == "per_cycle 1" for d in capped)
    assert {(d["product"], d["action"]) for d in decisions} == {
        ("mps", "abort"), ("dlc", "cancel"), ("live", "delete")
    }  # fmt: skip
    assert all(d["account"] == "main" and d["mode"] == "enforce" for d in decisions)
    assert "rehearsed 15m" in err, "the summary goes to stderr with --json"
    assert "decisions:" in err
    assert not (tmp_path / "state.db").exists(), "the configured journal is never touched"


def test_as_configured_keeps_a_dry_run_policy_as_would_and_an_enforcing_one_acting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg, world = files(tmp_path)
    doc = config(endpoint="https://example.invalid", state=tmp_path / "state.db")
    doc["policies"][1]["enforce"] = True  # cancel-endless-sql enforces, the others dry-run
    write(cfg, doc)
    argv = ["rehearse", "-c", str(cfg), "--scenario", str(world), "--for", "15m", "--json"]
    assert main([*argv, "--as-configured"]) == 0
    decisions = json.loads(capsys.readouterr().out)
    by_policy = {(d["policy"], d["mode"], d["result"]) for d in decisions}
    assert ("abort-long-live", "dry-run", "would") in by_policy
    assert ("delete-ended-relays", "dry-run", "would") in by_policy
    assert ("cancel-endless-sql", "enforce", "done") in by_policy
    assert not {d["result"] for d in decisions if d["mode"] == "dry-run"} - {
        "would", "skipped_cap"
    }, "a dry-run policy sends nothing"  # fmt: skip
    assert main(argv) == 0  # without the flag: every policy enforces
    enforced = json.loads(capsys.readouterr().out)
    assert {d["mode"] for d in enforced} == {"enforce"}
    assert "would" not in {d["result"] for d in enforced}


def test_the_table_lists_each_decision_with_its_offset_from_the_start(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg, world = files(tmp_path)
    assert main(["rehearse", "-c", str(cfg), "--scenario", str(world), "--for", "5m"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("rehearsed 5m from 2026-11-23T08:00:00Z (every policy enforcing)")
    header = lines[2].split()
    assert header[:3] == ["AT", "POLICY", "PRODUCT"]
    assert "RESULT" in header
    assert lines[3].startswith("+0:00:0")
    assert any("delete-ended-relays" in line and " done" in line for line in lines[3:])


def test_the_configured_keys_are_never_used_nor_shown(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg, world = files(tmp_path)
    doc = config(endpoint="https://example.invalid", state=tmp_path / "state.db")
    doc["accounts"][0]["credentials"] = {"from": "static", "secret_id": REAL_ID,
                                         "secret_key": REAL_KEY}  # fmt: skip
    write(cfg, doc)
    assert main(["rehearse", "-c", str(cfg), "--scenario", str(world), "--for", "5m"]) == 0
    out, err = capsys.readouterr()
    assert " done" in out, "the scenario's keys were used: the emulator accepted the calls"
    assert REAL_ID not in out + err
    assert REAL_KEY not in out + err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--for", "0s"], "--for: must be more than 0"),
        (["--for", "soon"], "--for:"),
        (["--account", "other"], "no account 'other'"),
    ],
)
def test_a_bad_option_is_one_line_on_stderr_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    cfg, world = files(tmp_path)
    assert main(["rehearse", "-c", str(cfg), "--scenario", str(world), *extra]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("error: ")
    assert message in err
    assert len(err.strip().splitlines()) == 1


def test_a_bad_scenario_is_named_with_its_key_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg, world = files(tmp_path)
    write(world, {**SCENARIO, "mps": {"tasks": [{"status": "RUNNING"}]}})
    assert main(["rehearse", "-c", str(cfg), "--scenario", str(world)]) == 2
    err = capsys.readouterr().err
    assert "world.yaml" in err
    assert "mps.tasks[0].status" in err
