"""Every listing ends, for every product: a pager that makes no progress, or one that never ends,
fails the listing as a :class:`PagingError` within a bounded number of calls and bounded memory.

Two runaway pagers were seen for real: MPS pages with a fresh ``ScrollToken`` every time but the
same two tasks (3,330 calls in one cycle, until the loop's timeout), and a token that never ends
with new tasks on every page (memory from 62 to 352 MB in 60 s). The fakes here answer any number
of pages; each one refuses to answer past a budget of calls, so a listing that does not stop fails
the test quickly instead of running for minutes.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Mapping
from typing import Any

import pytest

from taskwatch.clock import ManualClock
from taskwatch.products.base import MAX_LISTED, CallCounter, PagingError
from taskwatch.products.dlc import DlcAdapter
from taskwatch.products.live import LiveAdapter
from taskwatch.products.mps import MpsAdapter
from tests.products.fakes import ScriptedCaller

REGION = "ap-guangzhou"
MiB = 1 << 20


class Runaway:
    """Answers pages for ever (``page(n, params)`` for the n-th call), but no more than
    ``budget`` of them: a listing still asking after that is the bug under test."""

    def __init__(self, page: Any, budget: int) -> None:
        self.page, self.budget, self.calls = page, budget, 0

    def __call__(self, action: str, params: Mapping[str, Any]) -> dict[str, Any]:
        self.calls += 1
        if self.calls > self.budget:
            raise AssertionError(f"the listing did not stop within {self.budget} calls")
        answer: dict[str, Any] = self.page(self.calls, params)
        return answer


def mps_record(task_id: str) -> dict[str, Any]:
    return {
        "TaskId": task_id,
        "TaskType": "WorkflowTask",
        "CreateTime": "2026-03-01T12:00:00Z",
        "BeginProcessTime": "0000-00-00T00:00:00Z",
        "FinishTime": "0000-00-00T00:00:00Z",
        "SubTaskTypes": [],
    }


def dlc_record(task_id: str) -> dict[str, Any]:
    return {
        "Id": task_id,
        "State": 1,
        "TaskType": "SparkSQLTask",
        "CreateTime": "1772366400000",
        "UpdateTime": "1772366400000",
    }


def live_record(task_id: str) -> dict[str, Any]:
    return {"TaskId": task_id, "Status": "enable", "SourceType": "PullLivePushLive"}


def mps(fake: ScriptedCaller, **kw: Any) -> MpsAdapter:
    return MpsAdapter(client=fake, account="main", clock=ManualClock(), **kw)


def dlc(fake: ScriptedCaller, **kw: Any) -> DlcAdapter:
    return DlcAdapter(client=fake, account="main", region=REGION, clock=ManualClock(), **kw)


def live(fake: ScriptedCaller, **kw: Any) -> LiveAdapter:
    return LiveAdapter(client=fake, account="main", region=REGION, clock=ManualClock(), **kw)


def fresh_ids(n: int, size: int) -> list[str]:
    """The ids of page ``n`` of a listing that brings ``size`` new tasks on every page."""
    return [f"1250000000-WorkflowTask-{n:06d}{i:03d}t0" for i in range(size)]


# --- MPS: the scroll token ------------------------------------------------------------------


async def test_mps_pages_with_fresh_tokens_but_the_same_tasks_fail_at_the_second_page() -> None:
    pager = Runaway(
        lambda n, params: {
            "TaskSet": [mps_record("a"), mps_record("b")],
            "ScrollToken": f"token-{n}",
        },
        budget=100,
    )
    calls = CallCounter()

    with pytest.raises(PagingError, match=r"Status=WAITING.*all already seen.*no progress"):
        await mps(ScriptedCaller(pager)).scan(sweep=False, calls=calls)
    assert calls.total == 2


async def test_an_mps_token_that_never_ends_stops_at_the_listing_bound_in_bounded_memory() -> None:
    pager = Runaway(
        lambda n, params: {
            "TaskSet": [mps_record(i) for i in fresh_ids(n, params["Limit"])],
            "ScrollToken": f"token-{n}",
        },
        budget=100,
    )
    calls = CallCounter()
    tracemalloc.start()
    try:
        with pytest.raises(PagingError, match="more than 2000 tasks"):
            await mps(ScriptedCaller(pager), max_tasks=2_000).scan(sweep=False, calls=calls)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert calls.total == 21  # 2,000 tasks are 20 pages of 100; the 21st is one too many
    assert peak < 8 * MiB


async def test_a_listing_of_exactly_the_bound_is_read_to_its_end() -> None:
    def page(n: int, params: Mapping[str, Any]) -> dict[str, Any]:
        if params["Status"] != "WAITING":
            return {"TaskSet": [], "ScrollToken": ""}
        ids = fresh_ids(n, params["Limit"])
        return {"TaskSet": [mps_record(i) for i in ids], "ScrollToken": "" if n == 5 else f"t{n}"}

    pager = Runaway(page, budget=100)
    scan = await mps(ScriptedCaller(pager), max_tasks=500).scan(sweep=False, calls=CallCounter())
    assert len(scan.active) == 500


@pytest.mark.slow
async def test_a_never_ending_mps_token_at_the_default_bound_holds_little_memory() -> None:
    """The long form: the shipped bound (``MAX_LISTED``) and the largest page; about 10 s."""
    pager = Runaway(
        lambda n, params: {
            "TaskSet": [mps_record(i) for i in fresh_ids(n, params["Limit"])],
            "ScrollToken": f"token-{n}",
        },
        budget=MAX_LISTED // 100 + 10,
    )
    calls = CallCounter()
    tracemalloc.start()
    try:
        with pytest.raises(PagingError, match=f"more than {MAX_LISTED} tasks"):
            await mps(ScriptedCaller(pager, turns=0)).scan(sweep=False, calls=calls)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert calls.total == MAX_LISTED // 100 + 1
    assert peak < 150 * MiB, f"{peak / MiB:.0f} MiB"


# --- DLC: offsets under a TotalCount that keeps growing ---------------------------------------


async def test_a_dlc_total_that_grows_with_every_page_stops_at_twice_what_was_announced() -> None:
    def page(n: int, params: Mapping[str, Any]) -> dict[str, Any]:
        offset, limit = params["Offset"], params["Limit"]
        ids = [f"{offset + i:08d}-0000-4000-8000-000000000000" for i in range(limit)]
        return {"TaskList": [dlc_record(i) for i in ids], "TotalCount": offset + 2 * limit}

    pager = Runaway(page, budget=100)
    calls = CallCounter()

    with pytest.raises(PagingError, match=r"more than 600 tasks.*announced 200"):
        await dlc(ScriptedCaller(pager)).scan(sweep=False, calls=calls)
    assert calls.total == 7


async def test_a_dlc_listing_that_grows_a_little_while_it_is_read_is_read_to_its_end() -> None:
    def page(n: int, params: Mapping[str, Any]) -> dict[str, Any]:
        offset, limit = params["Offset"], params["Limit"]
        total = 300 + 50 * n  # tasks created while paging: 350, 400, ... 600
        ids = [f"{i:08d}-0000-4000-8000-000000000000" for i in range(offset, offset + limit)]
        return {"TaskList": [dlc_record(i) for i in ids[: total - offset]], "TotalCount": total}

    scan = await dlc(ScriptedCaller(Runaway(page, budget=100))).scan(
        sweep=False, calls=CallCounter()
    )
    assert len(scan.active) == 600


async def test_a_dlc_listing_announced_huge_still_stops_at_the_listing_bound() -> None:
    def page(n: int, params: Mapping[str, Any]) -> dict[str, Any]:
        offset, limit = params["Offset"], params["Limit"]
        ids = [f"{offset + i:08d}-0000-4000-8000-000000000000" for i in range(limit)]
        return {"TaskList": [dlc_record(i) for i in ids], "TotalCount": 10**12}

    calls = CallCounter()
    with pytest.raises(PagingError, match="more than 1000 tasks"):
        await dlc(ScriptedCaller(Runaway(page, budget=100)), max_tasks=1_000).scan(
            sweep=False, calls=calls
        )
    assert calls.total == 11


# --- Live: page numbers under a TotalPage that keeps growing --------------------------------


async def test_a_live_total_page_that_grows_with_every_page_stops_at_twice_what_was_announced() -> (
    None
):
    def page(n: int, params: Mapping[str, Any]) -> dict[str, Any]:
        num, size = params["PageNum"], params["PageSize"]
        infos = [live_record(str(num * 1000 + i)) for i in range(size)]
        return {"TaskInfos": infos, "TotalPage": num + 1}

    calls = CallCounter()
    with pytest.raises(PagingError, match=r"more than 120 tasks.*announced 40"):
        await live(ScriptedCaller(Runaway(page, budget=100))).scan(sweep=False, calls=calls)
    assert calls.total == 7


async def test_a_live_listing_announced_huge_still_stops_at_the_listing_bound() -> None:
    def page(n: int, params: Mapping[str, Any]) -> dict[str, Any]:
        num, size = params["PageNum"], params["PageSize"]
        infos = [live_record(str(num * 1000 + i)) for i in range(size)]
        return {"TaskInfos": infos, "TotalPage": 10**9}

    calls = CallCounter()
    with pytest.raises(PagingError, match="more than 100 tasks"):
        await live(ScriptedCaller(Runaway(page, budget=100)), max_tasks=100).scan(
            sweep=False, calls=calls
        )
    assert calls.total == 6


# --- the bound itself -----------------------------------------------------------------------


@pytest.mark.parametrize("make", [mps, dlc, live])
def test_every_adapter_bounds_a_listing_by_default_and_refuses_a_bound_below_one(
    make: Any,
) -> None:
    fake = ScriptedCaller(lambda a, p: {})
    assert make(fake).max_tasks == MAX_LISTED
    with pytest.raises(ValueError, match="max_tasks"):
        make(fake, max_tasks=0)
