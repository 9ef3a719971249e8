"""Live (``live`` 2018-08-01): pull-stream tasks, listed whole every cycle, with their run status
fetched for the tasks the watcher asks about.

Why it is built this way (reference §7):

- ``DescribeLivePullStreamTasks`` pages by ``PageNum`` 1..``TotalPage`` with ``PageSize`` ≤ 20,
  sorted by UpdateTime, newest first. An account holds few tasks (``LimitTaskNum``, e.g. 20), so
  the whole list is read every cycle and every scan is a sweep (``swept`` is always true). A task
  updated mid-scan jumps to the front and may repeat a row (de-duplicated by ``TaskId``) or push
  another one past the page being read (seen again next cycle).
- A pull task has no terminal status: it is ``enable`` or ``pause`` and lives until deleted.
  Its phase comes from its window (:func:`phase_at`): ``pause`` → pending; ``enable`` before
  ``StartTime`` → pending; inside ``[StartTime, EndTime)`` → running; from ``EndTime`` on → done
  (result ``SUCCESS``: it ran out its window; "expired"), whatever its status. ``started`` is
  ``StartTime`` once reached, ``finished`` is ``EndTime`` once past. The fingerprint is
  ``(Status, UpdateTime, phase)``: the phase depends on the time, so a task crossing a boundary
  changes fingerprint and gets refreshed.
- Done tasks go into ``ScanResult.finished``, never ``active``. The tracker keeps only non-done
  tasks active, so a done task reported as active would be "new" every cycle and cost a status
  call each time, for ever. Reported as finished, it is observed once; a task that crosses its
  EndTime between two cycles also leaves ``active``, so the watcher refreshes it as gone.
- :data:`WINDOW` (14 days) is how long after creation a done task is still reported: a task can
  run up to 7 days (EndTime - StartTime < 7 days), and its end stays visible for 7 more. The
  tracker forgets finished tasks ``window`` after creation; the adapter stops reporting them a day
  earlier (:data:`REPORT_MARGIN`), so a still-listed task is never observed finished twice. Not
  guaranteed: the end of a task created more than 13 days before it ended is seen only through
  the "gone" refresh of the cycle in which it ended.
- The run status (``DescribeLivePullStreamTaskStatus``) is the ``detail``: ``RunStatus``
  ``active``/``inactive``, the file being pulled, loops. It does not change the phase (an enabled
  task in its window whose source is down is still "running", and that is what a policy wants to
  see). A refresh re-reads the phase from the task's list record at the current time; a task the
  API no longer knows (``InvalidParameter.TaskNotExist``: deleted) is left out.
- A record without ``Status`` or ``SourceType``, or a run status without ``RunStatus``, is a
  ``ProtocolError`` naming the field; a listing whose ``TotalPage`` keeps growing with every page
  stops at twice what its first page announced (:mod:`taskwatch.products.paging`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from taskwatch.catalog.live import SPEC
from taskwatch.models import Phase, Result, SourceKey, Task
from taskwatch.products.base import AdapterBase, CallCounter, ScanResult
from taskwatch.products.fanout import bounded_map
from taskwatch.products.paging import PageGuard
from taskwatch.products.shape import count, mapping, record_id, records, text
from taskwatch.tencent.errors import CallSite, TaskNotFoundError
from taskwatch.timefmt import parse_iso

PRODUCT = SPEC.name
DAY = 86400.0
WINDOW = SPEC.window
"""Seconds after creation a done task is still reported (see the module docstring)."""
REPORT_MARGIN = DAY
"""Done tasks are reported until ``WINDOW - REPORT_MARGIN`` after creation, so they are never
reported after the tracker has forgotten them."""
MAX_PAGE_SIZE = SPEC.max_page_size


# --- normalising (pure) ---------------------------------------------------------------------


def phase_at(record: Mapping[str, Any], now: float) -> Phase:
    """Where a pull task is at ``now`` (see the module docstring)."""
    start = parse_iso(record.get("StartTime"))
    end = parse_iso(record.get("EndTime"))
    if end is not None and now >= end:
        return Phase.DONE
    if record.get("Status") != "enable":
        return Phase.PENDING
    if start is not None and now < start:
        return Phase.PENDING
    return Phase.RUNNING


def normalise(record: Mapping[str, Any], *, source: SourceKey, now: float) -> Task:
    """A Task from one ``PullStreamTaskInfo`` as it stands at ``now`` (UTC epoch seconds)."""
    phase = phase_at(record, now)
    start = parse_iso(record.get("StartTime"))
    end = parse_iso(record.get("EndTime"))
    status = str(record.get("Status", ""))
    return Task(
        product=source.product,
        account=source.account,
        region=source.region,
        id=str(record["TaskId"]),
        type=str(record.get("SourceType") or ""),
        status=status,
        phase=phase,
        created=parse_iso(record.get("CreateTime")),
        started=start if start is not None and now >= start else None,
        finished=end if phase is Phase.DONE else None,
        result=Result.SUCCESS if phase is Phase.DONE else None,
        fingerprint=(status, str(record.get("UpdateTime", "")), phase.value),
        fields=dict(record),
    )


def _check(record: Mapping[str, Any], site: CallSite, *, at: str) -> str:
    """The id of a listed record that has what every pull task has; else a ProtocolError."""
    task_id = record_id(record, "TaskId", site)
    text(record, "Status", site, at=at)
    text(record, "SourceType", site, at=at)
    return task_id


def still_reported(task: Task, now: float) -> bool:
    """Whether a done task is young enough to report (the tracker still remembers it)."""
    return task.created is not None and task.created >= now - (WINDOW - REPORT_MARGIN)


# --- the adapter ----------------------------------------------------------------------------


class LiveAdapter(AdapterBase, spec=SPEC):
    """Live pull-stream tasks of one account in one region."""

    def _site(self, action: str) -> CallSite:
        return CallSite(PRODUCT, action, self.region, self.source.account)

    def _now(self) -> float:
        return self.clock.now().timestamp()

    async def scan(self, *, sweep: bool, calls: CallCounter) -> ScanResult:
        """Every listed task: not done → ``active``; done (and young enough) → ``finished``.
        ``sweep`` changes nothing: the whole list is read every time."""
        now = self._now()
        listed = await self._list(calls, now)
        active = {k: t for k, t in listed.items() if t.phase is not Phase.DONE}
        finished = {
            k: t for k, t in listed.items() if t.phase is Phase.DONE and still_reported(t, now)
        }
        return ScanResult(active=active, finished=finished, swept=True)

    async def _list(self, calls: CallCounter, now: float) -> dict[str, Task]:
        guard = PageGuard(
            f"{self.source} DescribeLivePullStreamTasks",
            self.max_pages,
            self.max_tasks,
            self.page_size,
        )
        found: dict[str, Task] = {}
        page = 1
        while True:
            guard.turn()
            params = {"PageNum": page, "PageSize": self.page_size}
            answer = await self.call("DescribeLivePullStreamTasks", params, calls)
            site = self._site("DescribeLivePullStreamTasks")
            rows = records(answer, "TaskInfos", site)
            pages = count(answer, "TotalPage", site)
            guard.announce(pages * self.page_size)
            if not rows:
                return found
            new = 0
            for i, row in enumerate(rows):
                _check(row, site, at=f"TaskInfos[{i}].")
                task = normalise(row, source=self.source, now=now)
                new += task.id not in found
                found[task.id] = task
            guard.progress(new, len(rows), at=f"PageNum={page}")
            if page >= pages:
                return found
            page += 1

    async def refresh(self, tasks: Sequence[Task], calls: CallCounter) -> list[Task]:
        """Each task with its run status as ``detail`` and its phase at the current time, at
        most ``detail_concurrency`` calls at once, in order; deleted tasks are left out."""
        now = self._now()

        async def one(task: Task) -> Task | None:
            if not task.fields:
                return await self.describe(task.id, calls)
            status = await self._status(task.id, calls)
            if status is None:
                return None
            return normalise(task.fields, source=self.source, now=now).with_detail(status)

        found = await bounded_map(one, tasks, limit=self.detail_concurrency)
        return [t for t in found if t is not None]

    ACTION = SPEC.call

    def action_params(self, task_id: str, *, operator: str) -> dict[str, Any]:
        """The parameters of DeleteLivePullStreamTask, as journalled."""
        return {"TaskId": task_id, "Operator": operator}

    async def act(self, task_id: str, *, operator: str, calls: CallCounter) -> dict[str, Any]:
        """Send the destructive call once. The client never retries it blindly; the caller
        records the intent before and the outcome after."""
        return await self.call(self.ACTION, self.action_params(task_id, operator=operator), calls)

    async def describe(self, task_id: str, calls: CallCounter) -> Task | None:
        """One fresh observation (list record and run status) for fencing; ``None`` if the API
        does not know the task. Two calls."""
        answer = await self.call("DescribeLivePullStreamTasks", {"TaskId": task_id}, calls)
        site = self._site("DescribeLivePullStreamTasks")
        rows = [
            r
            for i, r in enumerate(records(answer, "TaskInfos", site))
            if _check(r, site, at=f"TaskInfos[{i}].") == task_id
        ]
        if not rows:
            return None
        status = await self._status(task_id, calls)
        if status is None:
            return None
        return normalise(rows[0], source=self.source, now=self._now()).with_detail(status)

    async def _status(self, task_id: str, calls: CallCounter) -> dict[str, Any] | None:
        try:
            answer = await self.call("DescribeLivePullStreamTaskStatus", {"TaskId": task_id}, calls)
        except TaskNotFoundError:
            return None
        site = self._site("DescribeLivePullStreamTaskStatus")
        info = mapping(answer, "TaskStatusInfo", site)
        text(info, "RunStatus", site, at="TaskStatusInfo.")
        return info
