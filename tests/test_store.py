"""The action journal: intents before calls, outcomes after, and what survives a crash.

Every test builds its own database under ``tmp_path`` (the property test under its own temporary
directory per example) and its own :class:`ManualClock`. The crash tests run a real child process
and SIGKILL it, because "durable before the call is sent" is the whole point of the journal.
"""

from __future__ import annotations

import os
import random
import re
import signal
import sqlite3
import stat
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from taskwatch.actions.journal import MIGRATIONS, SCHEMA_VERSION, Journal
from taskwatch.clock import ManualClock
from taskwatch.errors import StoreError, TaskwatchError
from taskwatch.models import Outcome

ROOT = Path(__file__).resolve().parents[1]
TASK_ID = "2600011111-WorkflowTask-9f3c0b1e2d"
ABORT: dict[str, Any] = {
    "policy": "long-transcodes",
    "product": "mps",
    "account": "prod",
    "region": "global",
    "task_id": TASK_ID,
    "action": "abort",
    "params": {"TaskId": TASK_ID, "OperationType": "Abort"},
}


def abort(**changes: Any) -> dict[str, Any]:
    """The keyword arguments of one abort, with some changed."""
    return {**ABORT, **changes}


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "state.db"


@pytest.fixture
def journal(path: Path, clock: ManualClock) -> Iterator[Journal]:
    with Journal(path, clock=clock) as journal:
        yield journal


# -- the life of a record ----------------------------------------------------------------------


def test_an_intent_then_its_outcome_read_back_as_one_record(
    journal: Journal, clock: ManualClock
) -> None:
    start = clock.now().timestamp()
    intent_id = journal.intent(**ABORT)
    assert journal.get(intent_id) is not None
    assert journal.get(intent_id).result == "intent"  # type: ignore[union-attr]
    clock.advance(2)
    assert journal.outcome(intent_id, result=Outcome.DONE, request_id="req-1")

    [record] = journal.recent(start)
    assert record.id == intent_id
    assert (record.policy, record.product, record.account, record.region) == (
        "long-transcodes",
        "mps",
        "prod",
        "global",
    )
    assert (record.task_id, record.action, record.mode) == (TASK_ID, "abort", "enforce")
    assert (record.result, record.request_id, record.code) == ("done", "req-1", None)
    assert record.time == start
    assert record.finished_time == start + 2
    assert journal.unresolved() == []


def test_an_outcome_may_be_given_as_a_plain_string(journal: Journal) -> None:
    intent_id = journal.intent(**ABORT)
    journal.outcome(intent_id, result="failed", code="InvalidParameter", message="bad task id")
    record = journal.get(intent_id)
    assert record is not None
    assert (record.result, record.code, record.message) == (
        "failed",
        "InvalidParameter",
        "bad task id",
    )


def test_an_outcome_that_is_not_an_outcome_is_refused(journal: Journal) -> None:
    intent_id = journal.intent(**ABORT)
    with pytest.raises(ValueError):
        journal.outcome(intent_id, result="intent")
    with pytest.raises(ValueError):
        journal.outcome(intent_id, result=Outcome.WOULD)
    assert [r.id for r in journal.unresolved()] == [intent_id]


def test_a_dry_run_would_row_is_complete_at_once(journal: Journal) -> None:
    would_id = journal.would(**ABORT)
    record = journal.get(would_id)
    assert record is not None
    assert (record.mode, record.result) == ("dry-run", "would")
    assert record.finished_time == record.time
    assert journal.unresolved() == []


def test_decisions_that_never_reached_the_api_are_recorded_for_the_audit(journal: Journal) -> None:
    capped = journal.record(**ABORT, result=Outcome.SKIPPED_CAP, message="per_hour 5 reached")
    fenced = journal.record(**ABORT, result="fenced", mode="dry-run")
    assert [(r.id, r.mode, r.result) for r in journal.recent(0)] == [
        (capped, "enforce", "skipped_cap"),
        (fenced, "dry-run", "fenced"),
    ]
    assert journal.unresolved() == []


@pytest.mark.parametrize("result", ["done", "unknown", "failed"])
def test_a_dry_run_record_cannot_claim_an_api_result(journal: Journal, result: str) -> None:
    with pytest.raises(ValueError):
        journal.record(**ABORT, result=result, mode="dry-run")
    assert journal.recent(0) == []


def test_an_enforce_record_cannot_be_a_would(journal: Journal) -> None:
    with pytest.raises(ValueError):
        journal.record(**ABORT, result="would")


def test_the_first_final_outcome_is_kept(journal: Journal) -> None:
    intent_id = journal.intent(**ABORT)
    assert journal.outcome(intent_id, result="done", request_id="req-1")
    assert not journal.outcome(intent_id, result="failed", request_id="req-2")
    record = journal.get(intent_id)
    assert record is not None
    assert (record.result, record.request_id) == ("done", "req-1")


def test_an_unknown_outcome_is_replaced_by_the_result_found_later(
    journal: Journal, clock: ManualClock
) -> None:
    intent_id = journal.intent(**ABORT)
    assert journal.outcome(intent_id, result="unknown", message="timed out")
    clock.advance(60)
    assert journal.outcome(intent_id, result="already_done")
    assert not journal.outcome(intent_id, result="done")
    record = journal.get(intent_id)
    assert record is not None
    assert (record.result, record.message) == ("already_done", None)
    assert record.finished_time == record.time + 60


def test_a_would_row_keeps_its_outcome(journal: Journal) -> None:
    would_id = journal.would(**ABORT)
    assert not journal.outcome(would_id, result="done")
    assert journal.get(would_id).result == "would"  # type: ignore[union-attr]


def test_an_outcome_for_an_intent_that_does_not_exist_is_a_store_error(
    journal: Journal, path: Path
) -> None:
    with pytest.raises(StoreError, match="no intent 42") as caught:
        journal.outcome(42, result="done")
    assert str(path) in str(caught.value)
    assert isinstance(caught.value, TaskwatchError)


def test_long_messages_are_cut(journal: Journal) -> None:
    intent_id = journal.intent(**ABORT)
    journal.outcome(intent_id, result="failed", message="x" * 10_000)
    assert len(journal.get(intent_id).message or "") == 1000  # type: ignore[union-attr]


# -- crashes -----------------------------------------------------------------------------------


def test_an_intent_without_outcome_is_unresolved_in_a_brand_new_journal(
    path: Path, clock: ManualClock
) -> None:
    crashed = Journal(path, clock=clock)
    crashed.open()
    intent_id = crashed.intent(**ABORT)
    settled = crashed.intent(**abort(task_id="other"))
    crashed.outcome(settled, result="done")
    # The first process "dies" here, before the outcome. (Its lock dies with it: the SIGKILL
    # tests below kill a real process; here the handle is closed so the restart may open.)
    crashed.close()
    with Journal(path, clock=clock) as restarted:
        [record] = restarted.unresolved()
    assert (record.id, record.task_id, record.result) == (intent_id, TASK_ID, "intent")


def test_unresolved_intents_are_listed_oldest_first(journal: Journal, clock: ManualClock) -> None:
    ids = []
    for n in range(3):
        ids.append(journal.intent(**abort(task_id=f"t{n}")))
        clock.advance(1)
    journal.outcome(ids[1], result="done")
    assert [r.id for r in journal.unresolved()] == [ids[0], ids[2]]


CHILD_ONE = """
import os, signal, sys
from taskwatch.clock import SystemClock
from taskwatch.actions.journal import Journal

journal = Journal(sys.argv[1], clock=SystemClock())
journal.open()
intent_id = journal.intent(
    policy="p", product="mps", account="a", region="global", task_id=sys.argv[2],
    action="abort", params={"TaskId": sys.argv[2]},
)
print(intent_id, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""

CHILD_LOOP = """
import sys
from taskwatch.clock import SystemClock
from taskwatch.actions.journal import Journal

journal = Journal(sys.argv[1], clock=SystemClock())
journal.open()
n = 0
while True:
    n += 1
    task = f"{sys.argv[2]}-{n}"
    intent_id = journal.intent(
        policy="p", product="mps", account="a", region="global", task_id=task,
        action="abort", params={"TaskId": task},
    )
    print(intent_id, flush=True)
    if n % 2 == 0:
        journal.outcome(intent_id, result="done")
"""


def child(script: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script), *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )


def test_an_intent_survives_sigkill_right_after_it_returns(path: Path, clock: ManualClock) -> None:
    acknowledged = []
    for round_ in range(4):
        proc = child(CHILD_ONE, str(path), f"task-{round_}")
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == -signal.SIGKILL
        acknowledged.append(int(out))
        with Journal(path, clock=clock) as reopened:
            assert [r.id for r in reopened.unresolved()] == acknowledged
    assert len(set(acknowledged)) == len(acknowledged)


def test_every_acknowledged_record_survives_sigkill_at_a_random_point(
    path: Path, clock: ManualClock
) -> None:
    rng = random.Random(20260101)
    acknowledged: list[int] = []
    for round_ in range(5):
        proc = child(CHILD_LOOP, str(path), f"r{round_}")
        assert proc.stdout is not None
        acknowledged.extend(int(proc.stdout.readline()) for _ in range(rng.randint(1, 40)))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
        proc.stdout.close()

        with Journal(path, clock=clock) as reopened:  # also: the file is not corrupt
            records = {r.id: r for r in reopened.recent(0)}
            unresolved = {r.id for r in reopened.unresolved()}
        assert set(acknowledged) <= set(records)
        assert len({(r.task_id, r.action) for r in records.values()}) == len(records)
        assert unresolved == {i for i, r in records.items() if r.result == "intent"}
    assert len(set(acknowledged)) == len(acknowledged)


# -- what the executor asks --------------------------------------------------------------------


def test_last_action_is_the_latest_enforce_record_of_that_task_and_action(
    journal: Journal,
) -> None:
    assert journal.last_action("prod", "mps", TASK_ID, "abort") is None
    first = journal.intent(**ABORT)
    journal.outcome(first, result="unknown")
    second = journal.intent(**ABORT)
    journal.would(**ABORT)  # dry-run: not an action
    journal.intent(**abort(task_id="other"))
    journal.intent(**abort(account="staging"))
    journal.intent(**abort(product="dlc"))
    journal.intent(**abort(action="cancel"))

    last = journal.last_action("prod", "mps", TASK_ID, "abort")
    assert last is not None
    assert (last.id, last.result) == (second, "intent")
    journal.outcome(second, result="done")
    assert journal.last_action("prod", "mps", TASK_ID, "abort").result == "done"  # type: ignore[union-attr]


def test_last_action_ignores_dry_run_records(journal: Journal) -> None:
    journal.would(**ABORT)
    journal.record(**ABORT, result="fenced", mode="dry-run")
    assert journal.last_action("prod", "mps", TASK_ID, "abort") is None


def test_the_per_hour_cap_counts_what_may_have_acted(journal: Journal, clock: ManualClock) -> None:
    def enforce(result: str | None, *, then: str | None = None) -> None:
        intent_id = journal.intent(**abort(task_id=f"t{result}{then}"))
        if result is not None:
            journal.outcome(intent_id, result=result)
        if then is not None:
            journal.outcome(intent_id, result=then)

    enforce("done")  # counted: it acted
    enforce("done")  # counted
    enforce("unknown")  # counted: it may have acted
    enforce(None)  # counted: unresolved, it may have been sent
    enforce("unknown", then="already_done")  # counted: our call may be why it ended
    enforce("failed")  # not counted: the API refused, nothing happened
    enforce("already_done")  # not counted
    journal.record(**abort(task_id="capped"), result="skipped_cap")  # not counted
    journal.record(**abort(task_id="fenced"), result="fenced")  # not counted
    journal.would(**abort(task_id="w1"))
    journal.would(**abort(task_id="w2"))
    journal.record(**abort(task_id="w3"), result="skipped_cap", mode="dry-run")
    journal.intent(**abort(policy="another"))  # another policy

    since = clock.now().timestamp()
    assert journal.count_since("long-transcodes", since, include_dry_run=False) == 5
    assert journal.count_since("long-transcodes", since, include_dry_run=True) == 7
    assert journal.count_since("another", since, include_dry_run=False) == 1
    assert journal.count_since("nobody", since, include_dry_run=True) == 0


def test_the_per_hour_cap_forgets_records_older_than_its_window(
    journal: Journal, clock: ManualClock
) -> None:
    journal.intent(**abort(task_id="old"))
    clock.advance(3600)
    journal.intent(**abort(task_id="new"))
    hour_ago = clock.now().timestamp() - 3600
    assert journal.count_since("long-transcodes", hour_ago, include_dry_run=False) == 2
    clock.advance(0.5)
    hour_ago = clock.now().timestamp() - 3600
    assert journal.count_since("long-transcodes", hour_ago, include_dry_run=False) == 1


# -- the audit and retention -------------------------------------------------------------------


def test_recent_is_newest_last_and_a_limit_keeps_the_newest(
    journal: Journal, clock: ManualClock
) -> None:
    ids = []
    for n in range(5):
        ids.append(journal.intent(**abort(task_id=f"t{n}")))
        clock.advance(600)
    assert [r.id for r in journal.recent(0)] == ids
    assert [r.id for r in journal.recent(0, limit=2)] == ids[-2:]
    since = clock.now().timestamp() - 1800
    assert [r.id for r in journal.recent(since)] == ids[-3:]


def test_recent_follows_journal_order_when_the_wall_clock_steps_back(
    journal: Journal, clock: ManualClock
) -> None:
    first = journal.intent(**abort(task_id="a"))
    clock.set_wall(clock.now().replace(year=2025))
    second = journal.intent(**abort(task_id="b"))
    assert [r.id for r in journal.recent(0)] == [first, second]


def test_recent_grouped_folds_like_records_into_one_row_with_their_count_and_first_time(
    journal: Journal, clock: ManualClock
) -> None:
    start = clock.now().timestamp()
    other = journal.intent(**abort(task_id="other"))
    journal.outcome(other, result="done", request_id="req-other")
    for n in range(30):  # a stuck task: thirty refused attempts, ten seconds apart
        clock.advance(10)
        journal.outcome(journal.intent(**abort(task_id="stuck")), result="failed", code=f"Code{n}")
    clock.advance(10)
    last = journal.intent(**abort(task_id="stuck"))
    journal.outcome(last, result="done", request_id="req-last")
    journal.would(**abort(task_id="stuck"))  # dry-run records are their own group

    groups = journal.recent_grouped(0, limit=25)

    assert [(g.task_id, g.mode, g.result, g.count) for g in groups] == [
        ("stuck", "dry-run", "would", 1),
        ("stuck", "enforce", "done", 1),
        ("stuck", "enforce", "failed", 30),
        ("other", "enforce", "done", 1),
    ]
    failed = groups[2]
    assert (failed.first_time, failed.time) == (start + 10, start + 300)
    assert failed.code == "Code29"  # the group's columns are its newest record's
    assert groups[1].id == last
    assert groups[3].request_id == "req-other"
    assert [g.result for g in journal.recent_grouped(0, limit=2)] == ["would", "done"]
    assert journal.recent_grouped(start + 5, limit=25)[-1].count == 30  # "other" is too old


def test_prune_removes_old_settled_records_and_keeps_unresolved_intents(
    journal: Journal, clock: ManualClock
) -> None:
    settled = journal.intent(**abort(task_id="settled"))
    journal.outcome(settled, result="done")
    journal.would(**abort(task_id="would"))
    unresolved = journal.intent(**abort(task_id="unresolved"))
    clock.advance(86400)
    recent = journal.intent(**abort(task_id="recent"))
    journal.outcome(recent, result="done")

    assert journal.prune(clock.now().timestamp() - 3600) == 2
    assert [r.id for r in journal.recent(0)] == [unresolved, recent]
    assert journal.get(settled) is None


def test_ids_are_never_reused_after_pruning(journal: Journal, clock: ManualClock) -> None:
    last = journal.would(**ABORT)
    clock.advance(10)
    assert journal.prune(clock.now().timestamp()) == 1
    assert journal.would(**ABORT) > last


# -- the file ----------------------------------------------------------------------------------


def test_the_file_is_private_and_its_directories_are_created_private(
    tmp_path: Path, clock: ManualClock
) -> None:
    path = tmp_path / "a" / "b" / "state.db"
    with Journal(path, clock=clock) as journal:
        journal.intent(**ABORT)
        for file in (path, path.with_name("state.db-wal")):
            assert stat.S_IMODE(file.stat().st_mode) == 0o600
    for directory in (tmp_path / "a", tmp_path / "a" / "b"):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700


def test_the_journal_is_in_wal_mode(journal: Journal, path: Path) -> None:
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        conn.close()


def test_credentials_in_params_are_never_stored(path: Path, clock: ManualClock) -> None:
    params = {
        "TaskId": TASK_ID,
        "SecretKey": "sk-LEAKED",
        "Headers": {"X-TC-Token": "tok-LEAKED", "Authorization": "TC3 LEAKED"},
    }
    with Journal(path, clock=clock) as journal:
        journal.intent(**abort(params=params))
        on_disk = path.read_bytes() + path.with_name("state.db-wal").read_bytes()
        assert b"LEAKED" not in on_disk
        assert TASK_ID.encode() in on_disk
    assert b"LEAKED" not in path.read_bytes()


def test_params_must_be_plain_json(journal: Journal) -> None:
    with pytest.raises(ValueError, match="plain JSON"):
        journal.intent(**abort(params={"TaskId": object()}))
    assert journal.recent(0) == []


def test_an_in_memory_journal_works_for_tests(clock: ManualClock) -> None:
    with Journal(":memory:", clock=clock) as journal:
        intent_id = journal.intent(**ABORT)
        assert [r.id for r in journal.unresolved()] == [intent_id]


def test_a_closed_journal_refuses_work_with_a_store_error(path: Path, clock: ManualClock) -> None:
    journal = Journal(path, clock=clock)
    with pytest.raises(StoreError, match="not open"):
        journal.intent(**ABORT)
    journal.open()
    journal.close()
    journal.close()
    with pytest.raises(StoreError, match="not open"):
        journal.recent(0)


def test_a_journal_may_be_shared_by_threads(journal: Journal) -> None:
    def write(n: int) -> int:
        intent_id = journal.intent(**abort(task_id=f"t{n}"))
        journal.outcome(intent_id, result="done")
        return intent_id

    with ThreadPoolExecutor(max_workers=4) as pool:
        ids = list(pool.map(write, range(40)))
    assert sorted(ids) == [r.id for r in journal.recent(0)]
    assert journal.unresolved() == []


# -- schema versions and foreign files ---------------------------------------------------------


def test_a_new_journal_is_at_the_current_schema(journal: Journal) -> None:
    assert journal.schema_version() == SCHEMA_VERSION


def test_an_old_schema_is_migrated_in_place_keeping_its_records(
    path: Path, clock: ManualClock
) -> None:
    path.parent.mkdir()
    conn = sqlite3.connect(path, isolation_level=None)
    for statement in MIGRATIONS[0]:
        conn.execute(statement)
    conn.execute("PRAGMA user_version = 1")
    conn.execute(
        "INSERT INTO intents (time, policy, product, account, region, task_id, action, mode)"
        " VALUES (1.0, 'p', 'mps', 'a', 'global', 'old-task', 'abort', 'enforce')"
    )
    conn.close()

    with Journal(path, clock=clock, read_only=True) as reader:  # readable, left as it is
        assert [r.task_id for r in reader.unresolved()] == ["old-task"]
        assert reader.schema_version() == 1

    with Journal(path, clock=clock) as journal:
        assert journal.schema_version() == SCHEMA_VERSION
        assert [r.task_id for r in journal.unresolved()] == ["old-task"]
        journal.intent(**ABORT)

    conn = sqlite3.connect(path)
    indexes = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    conn.close()
    assert {"intents_task", "intents_policy_time", "intents_time"} <= indexes


@pytest.mark.parametrize("read_only", [False, True])
def test_a_journal_from_a_newer_taskwatch_is_refused_naming_the_file(
    path: Path, clock: ManualClock, read_only: bool
) -> None:
    with Journal(path, clock=clock) as journal:
        journal.intent(**ABORT)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(StoreError, match="newer taskwatch") as caught:
        Journal(path, clock=clock, read_only=read_only).open()
    assert str(path) in str(caught.value)
    assert caught.value.path == str(path)


def test_a_file_that_is_not_sqlite_is_refused_naming_the_file(
    tmp_path: Path, clock: ManualClock
) -> None:
    path = tmp_path / "state.db"
    path.write_text("accounts:\n  - name: prod\n" * 200)
    with pytest.raises(StoreError, match="not a taskwatch journal") as caught:
        Journal(path, clock=clock).open()
    assert str(path) in str(caught.value)
    assert path.read_text().startswith("accounts:")  # left untouched


def test_a_corrupt_journal_is_refused_naming_the_file(path: Path, clock: ManualClock) -> None:
    with Journal(path, clock=clock) as journal:
        for n in range(300):
            journal.intent(**abort(task_id=f"task-{n:04}-" + "x" * 40))
    data = bytearray(path.read_bytes())
    for page in (2, 5):
        data[page * 4096 : (page + 1) * 4096] = b"\xa5" * 4096
    path.write_bytes(bytes(data))
    with pytest.raises(StoreError, match="corrupt") as caught:
        Journal(path, clock=clock).open()
    assert str(path) in str(caught.value)


def test_an_sqlite_database_of_another_program_is_refused(
    tmp_path: Path, clock: ManualClock
) -> None:
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE intents (x)")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="other tables"):
        Journal(path, clock=clock).open()


def test_a_path_that_cannot_be_a_file_is_a_store_error(tmp_path: Path, clock: ManualClock) -> None:
    (tmp_path / "dir.db").mkdir()
    with pytest.raises(StoreError, match=re.escape(str(tmp_path / "dir.db"))):
        Journal(tmp_path / "dir.db", clock=clock).open()


# -- readers beside the writer -----------------------------------------------------------------


def test_a_reader_sees_committed_records_while_a_writer_holds_a_transaction(
    journal: Journal, path: Path, clock: ManualClock
) -> None:
    committed = journal.intent(**ABORT)
    writer = sqlite3.connect(path, isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")
        writer.execute(
            "INSERT INTO intents (time, policy, product, account, region, task_id, action, mode)"
            " VALUES (0, 'p', 'mps', 'a', 'global', 'uncommitted', 'abort', 'enforce')"
        )
        with Journal(path, clock=clock, read_only=True) as reader:
            assert [r.id for r in reader.recent(0)] == [committed]
    finally:
        writer.execute("ROLLBACK")
        writer.close()


def test_the_writer_commits_while_a_reader_holds_a_snapshot(journal: Journal, path: Path) -> None:
    journal.intent(**ABORT)
    reader = sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True, isolation_level=None)
    try:
        reader.execute("BEGIN")
        assert reader.execute("SELECT count(*) FROM intents").fetchone()[0] == 1
        journal.intent(**abort(task_id="second"))  # would wait for the reader without WAL
        assert reader.execute("SELECT count(*) FROM intents").fetchone()[0] == 1
        reader.execute("COMMIT")
        assert reader.execute("SELECT count(*) FROM intents").fetchone()[0] == 2
    finally:
        reader.close()


def test_a_read_only_journal_writes_nothing(
    journal: Journal, path: Path, clock: ManualClock
) -> None:
    with (
        Journal(path, clock=clock, read_only=True) as reader,
        pytest.raises(StoreError, match="readonly") as caught,
    ):
        reader.intent(**ABORT)
    assert str(path) in str(caught.value)
    assert journal.recent(0) == []


def test_a_read_only_journal_does_not_create_a_missing_file(
    tmp_path: Path, clock: ManualClock
) -> None:
    path = tmp_path / "nothing" / "state.db"
    with pytest.raises(StoreError, match=re.escape(f"no journal at {path} yet")):
        Journal(path, clock=clock, read_only=True).open()
    assert not path.parent.exists()


# -- the property: nothing is lost, unresolved means "no outcome" ------------------------------


@dataclass
class Expected:
    """The model of one record."""

    mode: str
    result: str
    uncertain: bool = False


OUTCOMES = [o.value for o in Outcome if o is not Outcome.WOULD]
OPERATIONS = st.lists(
    st.one_of(
        st.tuples(st.just("intent"), st.integers(0, 3)),
        st.tuples(st.just("outcome"), st.integers(0, 1000), st.sampled_from(OUTCOMES)),
        st.tuples(st.just("would"), st.integers(0, 3)),
        st.tuples(st.just("reopen")),
        st.tuples(st.just("advance"), st.floats(0, 1800)),
    ),
    max_size=30,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(OPERATIONS)
def test_random_histories_lose_nothing_and_unresolved_means_no_outcome(
    operations: list[tuple[Any, ...]],
) -> None:
    clock = ManualClock()
    expected: dict[int, Expected] = {}
    with tempfile.TemporaryDirectory() as tmp:
        journal = Journal(Path(tmp) / "state.db", clock=clock)
        journal.open()
        try:
            for op in operations:
                if op[0] == "intent":
                    expected[journal.intent(**abort(task_id=f"t{op[1]}"))] = Expected(
                        "enforce", "intent"
                    )
                elif op[0] == "would":
                    expected[journal.would(**abort(task_id=f"t{op[1]}"))] = Expected(
                        "dry-run", "would"
                    )
                elif op[0] == "outcome" and expected:
                    ids = sorted(expected)
                    intent_id, result = ids[op[1] % len(ids)], op[2]
                    model = expected[intent_id]
                    replaceable = model.result in ("intent", "unknown")
                    assert journal.outcome(intent_id, result=result) is replaceable
                    if replaceable:
                        model.uncertain |= model.result == "unknown" or result == "unknown"
                        model.result = result
                elif op[0] == "reopen":
                    journal.close()
                    journal = Journal(Path(tmp) / "state.db", clock=clock)
                    journal.open()
                elif op[0] == "advance":
                    clock.advance(op[1])

            records = journal.recent(0)
            assert [r.id for r in records] == sorted(expected)
            assert [(r.mode, r.result) for r in records] == [
                (expected[i].mode, expected[i].result) for i in sorted(expected)
            ]
            assert [r.id for r in journal.unresolved()] == [
                i for i in sorted(expected) if expected[i].result == "intent"
            ]
            counted = [
                m
                for m in expected.values()
                if m.mode == "enforce"
                and (m.result in ("intent", "done", "unknown") or m.uncertain)
            ]
            would = [m for m in expected.values() if m.result == "would"]
            assert journal.count_since("long-transcodes", 0, include_dry_run=False) == len(counted)
            assert journal.count_since("long-transcodes", 0, include_dry_run=True) == len(
                counted
            ) + len(would)
        finally:
            journal.close()
