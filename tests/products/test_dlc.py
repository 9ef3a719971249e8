"""The DLC adapter: offset paging to the end over non-terminal states, sweeps of the terminal ones,
lookups by id in batches of 50, and records normalised from epoch-ms strings.

Against the emulator over real HTTP unless only a fake can show it (a pager that never moves).
Each test builds its own emulator and world.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import pytest

from taskwatch.clock import ManualClock
from taskwatch.emulator.world import (
    DLC_CANCELLED,
    DLC_FAILED,
    DLC_INIT,
    DLC_QUEUED,
    DLC_RUNNING,
    DLC_SUCCEEDED,
    DLC_WRITING,
    DlcTask,
    Plan,
    World,
)
from taskwatch.models import Phase, Result, SourceKey
from taskwatch.products.base import CallCounter, Caller, PagingError
from taskwatch.products.dlc import DlcAdapter, decode_sql, normalise
from taskwatch.timefmt import parse_epoch_ms
from tests.emulator.harness import Running, fast_transport, running_emulator, taskwatch_client
from tests.products.fakes import ScriptedCaller, Stepping

REGION = "ap-guangzhou"
SOURCE = SourceKey("main", "dlc", REGION)
ACTIVE = (DLC_INIT, DLC_RUNNING, DLC_WRITING, DLC_QUEUED)


@asynccontextmanager
async def emulated() -> AsyncIterator[tuple[Running, Caller]]:
    async with running_emulator() as running, fast_transport() as transport:
        yield running, taskwatch_client(running, transport)


def adapter(client: Caller, clock: ManualClock | None = None, **kw: Any) -> DlcAdapter:
    return DlcAdapter(
        client=client, account="main", region=REGION, clock=clock or ManualClock(), **kw
    )


def tid(n: int) -> str:
    return str(uuid.UUID(int=n, version=4))


def add(world: World, n: int, state: int, *, ago: float = 600.0, **kw: Any) -> DlcTask:
    """A task created ``ago`` seconds ago; one that got going started 30 s later, one that ended
    did so 5 minutes after creation."""
    created = world.now() - ago
    ran = state not in (DLC_QUEUED, DLC_INIT)
    ended = state not in ACTIVE
    kw.setdefault("plan", Plan(wait=None, run=None))
    kw.setdefault("started", created + 30.0 if ran else None)
    return world.add_dlc(
        DlcTask(
            task_id=tid(n),
            state=state,
            created=created,
            updated=created + (300.0 if ended else 30.0 if ran else 0.0),
            **kw,
        )
    )


# --- scanning against the emulator ----------------------------------------------------------


async def test_a_scan_pages_250_active_tasks_to_the_end_by_offset() -> None:
    async with emulated() as (running, client):
        ids = {add(running.world, n, ACTIVE[n % 4], ago=n * 10.0).task_id for n in range(1, 251)}
        add(running.world, 999, DLC_SUCCEEDED)
        calls = CallCounter()

        scan = await adapter(client, running.clock).scan(sweep=False, calls=calls)

    assert set(scan.active) == ids
    assert calls.by_action == {"DescribeTasks": 3}
    assert scan.finished == {}
    assert scan.swept is False


async def test_a_scan_asks_for_active_states_newest_first_in_the_region() -> None:
    fake = ScriptedCaller(lambda action, params: {"TaskList": [], "TotalCount": 0})

    await adapter(fake, page_size=50).scan(sweep=False, calls=CallCounter())

    [(action, params, region)] = fake.log
    assert action == "DescribeTasks"
    assert region == REGION
    assert params == {
        "Filters": [{"Name": "task-state", "Values": ["0", "1", "3", "4"]}],
        "SortBy": "create-time",
        "Sorting": "desc",
        "Limit": 50,
        "Offset": 0,
    }


async def test_rows_repeated_by_tasks_created_mid_scan_are_kept_once() -> None:
    async with emulated() as (running, client):
        world = running.world
        ids = {add(world, n, DLC_RUNNING, ago=1000.0 + n).task_id for n in range(1, 251)}
        fresh: set[str] = set()

        def create_some(count: int) -> None:
            if count == 1:  # ten newer tasks push every row back by ten
                fresh.update(add(world, 5000 + i, DLC_QUEUED, ago=1.0).task_id for i in range(10))

        stepping = Stepping(client, running.clock, step=0.0, after=create_some)
        calls = CallCounter()

        scan = await adapter(stepping, running.clock).scan(sweep=False, calls=calls)

    assert ids <= set(scan.active)
    assert set(scan.active) <= ids | fresh
    assert calls.by_action == {"DescribeTasks": 3}


async def test_each_state_is_named_phased_and_given_a_result() -> None:
    async with emulated() as (running, client):
        world = running.world
        states = [DLC_INIT, DLC_RUNNING, DLC_SUCCEEDED, DLC_WRITING, DLC_QUEUED]
        states += [DLC_FAILED, DLC_CANCELLED]
        by_state = {s: add(world, n, s).task_id for n, s in enumerate(states, start=1)}
        calls = CallCounter()

        scan = await adapter(client, running.clock).scan(sweep=True, calls=calls)

    seen = {**scan.active, **scan.finished}
    named = {s: (seen[i].status, seen[i].phase, seen[i].result) for s, i in by_state.items()}
    assert named == {
        DLC_INIT: ("init", Phase.PENDING, None),
        DLC_RUNNING: ("running", Phase.RUNNING, None),
        DLC_SUCCEEDED: ("succeeded", Phase.DONE, Result.SUCCESS),
        DLC_WRITING: ("writing", Phase.RUNNING, None),
        DLC_QUEUED: ("queued", Phase.PENDING, None),
        DLC_FAILED: ("failed", Phase.DONE, Result.FAILED),
        DLC_CANCELLED: ("cancelled", Phase.DONE, Result.CANCELLED),
    }
    assert {seen[by_state[s]].id for s in ACTIVE} == set(scan.active)
    assert scan.swept is True
    assert calls.by_action == {"DescribeTasks": 2}


async def test_times_are_read_from_epoch_milliseconds_and_the_start_is_derived() -> None:
    async with emulated() as (running, client):
        world = running.world
        running_task = add(world, 1, DLC_RUNNING, ago=600.0)
        done = add(world, 2, DLC_SUCCEEDED, ago=900.0)
        queued = add(world, 3, DLC_QUEUED, ago=60.0)
        cancelled = add(world, 4, DLC_CANCELLED, ago=60.0, started=None)
        running.clock.advance(42)  # the emulator measures UsedTime/TotalTime up to now

        scan = await adapter(client, running.clock).scan(sweep=True, calls=CallCounter())

    run = scan.active[running_task.task_id]
    assert run.created == pytest.approx(running_task.created, abs=0.001)
    assert run.started == pytest.approx(running_task.created + 30.0, abs=0.002)
    assert run.finished is None
    assert run.running_for(world.now()) == pytest.approx(570.0 + 42.0, abs=0.01)
    ended = scan.finished[done.task_id]
    assert ended.started == pytest.approx(done.created + 30.0, abs=0.002)
    assert ended.finished == pytest.approx(done.created + 300.0, abs=0.001)
    assert ended.duration() == pytest.approx(270.0, abs=0.01)
    assert scan.active[queued.task_id].started is None
    assert scan.finished[cancelled.task_id].started is None


async def test_a_task_that_ends_before_the_sweep_lists_it_is_only_reported_finished() -> None:
    async with emulated() as (running, client):
        task = add(running.world, 1, DLC_RUNNING)
        task.plan = Plan(wait=None, run=(running.world.now() + 0.5) - (task.started or 0.0))
        running.world.add_dlc(task)
        stepping = Stepping(client, running.clock, step=1.0)

        scan = await adapter(stepping, running.clock).scan(sweep=True, calls=CallCounter())

    assert scan.active == {}
    assert scan.finished[task.task_id].status == "succeeded"


# --- refresh and describe -------------------------------------------------------------------


async def test_refresh_looks_up_120_ids_in_three_calls_and_leaves_out_unknown_ones() -> None:
    async with emulated() as (running, client):
        world = running.world
        known = [add(world, n, ACTIVE[n % 4], sql=f"SELECT {n}") for n in range(1, 116)]
        dlc = adapter(client, running.clock)
        scan = await dlc.scan(sweep=False, calls=CallCounter())
        asked = [scan.active[t.task_id] for t in known]
        ghosts = [normalise({"Id": tid(9000 + i), "State": 1}, source=dlc.source) for i in range(5)]
        asked[10:10] = ghosts
        world.dlc[known[0].task_id].state = DLC_SUCCEEDED  # it ended since the scan
        world.dlc[known[0].task_id].updated = world.now()
        world.version += 1
        calls = CallCounter()

        fresh = await dlc.refresh(asked, calls)

    assert [t.id for t in fresh] == [t.task_id for t in known]
    assert calls.by_action == {"DescribeTasks": 3}
    assert fresh[0].status == "succeeded"
    assert fresh[0].phase is Phase.DONE
    assert fresh[5].detail is not None
    assert fresh[5].detail["DecodedSQL"] == "SELECT 6"
    assert fresh[5].fields["SQL"] == base64.b64encode(b"SELECT 6").decode()


async def test_refresh_sends_at_most_50_ids_per_call() -> None:
    fake = ScriptedCaller(lambda action, params: {"TaskList": [], "TotalCount": 0})
    asked = [normalise({"Id": tid(i), "State": 1}, source=SOURCE) for i in range(120)]

    assert await adapter(fake).refresh(asked, CallCounter()) == []

    sizes = [len(p["Filters"][0]["Values"]) for _, p, _ in fake.log]
    assert sorted(sizes) == [20, 50, 50]
    assert {p["Filters"][0]["Name"] for _, p, _ in fake.log} == {"task-id"}


async def test_describe_is_one_lookup_or_none_for_an_unknown_task() -> None:
    async with emulated() as (running, client):
        task = add(running.world, 1, DLC_RUNNING)
        dlc = adapter(client, running.clock)
        calls = CallCounter()

        found = await dlc.describe(task.task_id, calls)
        unknown = await dlc.describe(tid(424242), calls)

    assert found is not None
    assert (found.id, found.status) == (task.task_id, "running")
    assert found.detail is not None
    assert unknown is None
    assert calls.by_action == {"DescribeTasks": 2}


# --- the paging guard -----------------------------------------------------------------------


def rows(*ids: str) -> list[dict[str, Any]]:
    return [
        {"Id": i, "State": 1, "TaskType": "SparkSQLTask", "CreateTime": "1", "UpdateTime": "1"}
        for i in ids
    ]


async def test_a_pager_that_repeats_the_same_page_raises_a_paging_error() -> None:
    fake = ScriptedCaller(lambda action, params: {"TaskList": rows("a", "b"), "TotalCount": 10})

    with pytest.raises(PagingError, match=r"task-state=0,1,3,4.*Offset=2.*no progress"):
        await adapter(fake, page_size=2).scan(sweep=False, calls=CallCounter())


async def test_a_listing_longer_than_max_pages_raises_a_paging_error() -> None:
    def respond(action: str, params: Mapping[str, Any]) -> dict[str, Any]:
        offset = params["Offset"]
        return {"TaskList": rows(str(offset), str(offset + 1)), "TotalCount": 10**9}

    fake = ScriptedCaller(respond)

    with pytest.raises(PagingError, match="after 4 pages"):
        await adapter(fake, page_size=2, max_pages=4).scan(sweep=False, calls=CallCounter())


async def test_a_listing_that_shrinks_mid_scan_ends_at_the_empty_page() -> None:
    answers = iter(
        [{"TaskList": rows("a", "b"), "TotalCount": 6}, {"TaskList": [], "TotalCount": 1}]
    )
    fake = ScriptedCaller(lambda action, params: next(answers))

    scan = await adapter(fake, page_size=2).scan(sweep=False, calls=CallCounter())

    assert set(scan.active) == {"a", "b"}


def test_dlc_needs_a_region_and_a_page_size_the_api_accepts() -> None:
    fake = ScriptedCaller(lambda a, p: {})
    with pytest.raises(ValueError, match="region"):
        DlcAdapter(client=fake, account="main", region="", clock=ManualClock())
    with pytest.raises(ValueError, match="between 1 and 100"):
        adapter(fake, page_size=0)
    assert adapter(fake).window == 45 * 86400
    assert adapter(fake).source == SOURCE


# --- normalise ------------------------------------------------------------------------------


def test_normalise_keeps_the_raw_record_and_leaves_percentage_out_of_the_fingerprint() -> None:
    record = {
        "Id": "x",
        "State": 1,
        "CreateTime": "1611646962000",
        "UpdateTime": "1611646990000",
        "Percentage": 40,
        "TaskType": "SparkSQLTask",
        "TotalTime": 5000,
        "UsedTime": 2000,
    }
    task = normalise(record, source=SOURCE)
    later = normalise(
        {**record, "Percentage": 80, "UsedTime": 9000, "TotalTime": 12000}, source=SOURCE
    )

    assert task.fingerprint == ("1", "1611646990000")
    assert later.fingerprint == task.fingerprint
    assert task.type == "SparkSQLTask"
    assert task.created == 1611646962.0
    assert task.started == later.started == 1611646965.0
    assert task.fields == record


def test_an_unknown_state_stays_watched_as_running() -> None:
    task = normalise({"Id": "x", "State": 7}, source=SOURCE)

    assert (task.status, task.phase, task.result) == ("state7", Phase.RUNNING, None)


def test_decode_sql_reads_base64_and_tolerates_garbage() -> None:
    assert decode_sql(base64.b64encode("SELECT 'é'".encode()).decode()) == "SELECT 'é'"
    assert decode_sql("not base64!") is None
    assert decode_sql(None) is None


@pytest.mark.parametrize(
    ("printed", "expected"),
    [("1611646962000", 1611646962.0), (1611646962500, 1611646962.5), ("0", None), ("", None),
     ("soon", None), (None, None), (True, None)],
)  # fmt: skip
def test_epoch_milliseconds_read_as_seconds_and_unset_as_none(
    printed: object, expected: float | None
) -> None:
    assert parse_epoch_ms(printed) == expected
