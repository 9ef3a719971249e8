"""``taskwatch audit``: the table, the JSON, the ``--since`` window and the read-only open.

Each test writes its own journal under ``tmp_path`` with its own :class:`ManualClock`.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from taskwatch.actions.sqlite import SqliteJournal as Journal
from taskwatch.cli.audit import format_table, parse_since, run_audit, to_json
from taskwatch.clock import ManualClock
from taskwatch.errors import StoreError

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


def abort(task_id: str, **changes: Any) -> dict[str, Any]:
    return {
        "policy": "long-transcodes",
        "product": "mps",
        "account": "prod",
        "region": "global",
        "task_id": task_id,
        "action": "abort",
        "params": {"TaskId": task_id, "OperationType": "Abort"},
        **changes,
    }


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(wall=T0)


@pytest.fixture
def path(tmp_path: Path, clock: ManualClock) -> Path:
    """A journal with: an old done abort, a recent failed one, an unresolved one, a would."""
    path = tmp_path / "state.db"
    with Journal(path, clock=clock) as journal:
        old = journal.intent(**abort("task-old"))
        journal.outcome(old, result="done", request_id="req-old")
        clock.advance(2 * 3600)  # 14:00
        failed = journal.intent(**abort("task-failed"))
        clock.advance(1.5)
        journal.outcome(failed, result="failed", code="InvalidParameterValue", request_id="req-2")
        clock.advance(60)
        journal.intent(**abort("task-pending"))
        clock.advance(60)
        journal.would(**abort("job-1", product="dlc", region="ap-guangzhou", action="cancel"))
        clock.advance(60)
    return path


def test_since_is_a_human_duration() -> None:
    assert parse_since("1h") == 3600
    assert parse_since("90m") == 5400
    assert parse_since("2d") == 172800
    with pytest.raises(ValueError):
        parse_since("yesterday")
    with pytest.raises(ValueError):
        parse_since("-1h")


def test_the_table_lists_the_window_oldest_first(path: Path, clock: ManualClock) -> None:
    text = run_audit(path, since=3600, as_json=False, clock=clock)
    header, *lines = text.splitlines()
    assert header.split() == [
        "TIME",
        "POLICY",
        "PRODUCT",
        "ACCOUNT/REGION",
        "TASK",
        "ACTION",
        "MODE",
        "RESULT",
        "COST",
        "SAVED",
        "CODE",
        "REQUEST",
        "ID",
    ]
    assert [line.split() for line in lines] == [
        [
            "2026-03-01T14:00:00Z",
            "long-transcodes",
            "mps",
            "prod/global",
            "task-failed",
            "abort",
            "enforce",
            "failed",
            "-",
            "-",
            "InvalidParameterValue",
            "req-2",
        ],
        [
            "2026-03-01T14:01:01Z",
            "long-transcodes",
            "mps",
            "prod/global",
            "task-pending",
            "abort",
            "enforce",
            "intent",
            "-",
            "-",
            "-",
            "-",
        ],
        [
            "2026-03-01T14:02:01Z",
            "long-transcodes",
            "dlc",
            "prod/ap-guangzhou",
            "job-1",
            "cancel",
            "dry-run",
            "would",
            "-",
            "-",
            "-",
            "-",
        ],
    ]


def test_the_table_columns_line_up(path: Path, clock: ManualClock) -> None:
    lines = run_audit(path, since=86400, as_json=False, clock=clock).splitlines()
    start = lines[0].index("RESULT")
    assert [line[start:].split()[0] for line in lines[1:]] == ["done", "failed", "intent", "would"]


def test_the_json_is_an_array_of_objects_with_utc_times(path: Path, clock: ManualClock) -> None:
    records = json.loads(run_audit(path, since=86400, as_json=True, clock=clock))
    assert [r["task_id"] for r in records] == ["task-old", "task-failed", "task-pending", "job-1"]
    failed = records[1]
    assert failed == {
        "id": failed["id"],
        "time": "2026-03-01T14:00:00.000Z",
        "policy": "long-transcodes",
        "product": "mps",
        "account": "prod",
        "region": "global",
        "task_id": "task-failed",
        "action": "abort",
        "mode": "enforce",
        "result": "failed",
        "code": "InvalidParameterValue",
        "request_id": "req-2",
        "message": None,
        "finished_time": "2026-03-01T14:00:01.500Z",
        "cost_so_far": None,
        "cost_per_hour": None,
        "cost_saved": None,
        "currency": None,
    }
    assert records[2]["result"] == "intent"
    assert records[2]["finished_time"] is None


def test_since_leaves_out_older_records(path: Path, clock: ManualClock) -> None:
    assert len(json.loads(run_audit(path, since=86400, as_json=True, clock=clock))) == 4
    assert len(json.loads(run_audit(path, since=3600, as_json=True, clock=clock))) == 3
    assert len(json.loads(run_audit(path, since=90, as_json=True, clock=clock))) == 1


def test_an_empty_window_says_so(path: Path, clock: ManualClock) -> None:
    clock.advance(7200)
    assert run_audit(path, since=60, as_json=False, clock=clock) == (
        "no journal records since 2026-03-01T16:02:01Z"
    )
    assert json.loads(run_audit(path, since=60, as_json=True, clock=clock)) == []


def test_a_missing_journal_is_a_clear_error_and_is_not_created(
    tmp_path: Path, clock: ManualClock
) -> None:
    missing = tmp_path / "var" / "state.db"
    with pytest.raises(StoreError, match=f"^{re.escape(f'no journal at {missing} yet')}$"):
        run_audit(missing, since=3600, as_json=False, clock=clock)
    assert not missing.parent.exists()


def test_the_audit_changes_nothing_on_disk(path: Path, clock: ManualClock) -> None:
    before = path.read_bytes()
    run_audit(path, since=86400, as_json=False, clock=clock)
    assert path.read_bytes() == before
    wal = path.with_name("state.db-wal")  # a reader may leave an empty WAL; the daemon reuses it
    assert not wal.exists() or wal.stat().st_size == 0


def test_control_characters_from_the_api_cannot_forge_table_lines() -> None:
    from taskwatch.models import AuditRecord

    record = AuditRecord(
        id=1,
        time=T0.timestamp(),
        policy="p",
        product="mps",
        account="a",
        region="global",
        task_id="evil\n2026-01-01T00:00:00Z fake",
        action="abort",
        mode="enforce",
        result="done",
    )
    table = format_table([record])
    assert len(table.splitlines()) == 2
    assert "evil?2026" in table
    assert json.loads(to_json([record]))[0]["task_id"] == record.task_id


def test_an_empty_table_is_just_the_header() -> None:
    assert format_table([]).split() == [
        "TIME",
        "POLICY",
        "PRODUCT",
        "ACCOUNT/REGION",
        "TASK",
        "ACTION",
        "MODE",
        "RESULT",
        "COST",
        "SAVED",
        "CODE",
        "REQUEST",
        "ID",
    ]
