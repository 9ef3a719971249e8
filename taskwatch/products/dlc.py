"""DLC (``dlc`` 2021-01-25): list the tasks in a non-terminal state every cycle, the terminal ones
on a sweep; DLC has no detail API, so a refresh looks tasks up by id in the same listing.

Why it is built this way (reference §6):

- ``DescribeTasks`` pages by ``Offset``/``Limit`` (≤100) over tasks sorted by creation time,
  newest first, filtered by ``task-state``: ``0,1,3,4`` (init, running, writing, queued) every
  cycle, ``2,-1,-3`` (succeeded, failed, cancelled) on a sweep. No time bounds are sent, so the
  API's default window applies: the last 45 days (:data:`WINDOW`). The listing ends at an empty or
  short page or once ``Offset`` reaches ``TotalCount`` (re-read on every page: it may grow or
  shrink mid-scan).
- Offset paging over a list that changes can show a row twice (a task created mid-scan pushes the
  others back), so rows are de-duplicated by ``Id``, the later observation winning. It can also
  skip a row (a task ahead of the offset that leaves the filtered list pulls the others forward):
  such a task looks gone for one cycle and is seen again by the next scan or by a refresh.
- A refresh looks ids up with the ``task-id`` filter, at most 50 ids per call (the API's limit),
  batches in parallel up to ``detail_concurrency``; ids the API does not return are left out.

Normalising (:func:`normalise`): ``type`` is ``TaskType`` (e.g. ``SparkSQLTask``: a small, stable
vocabulary that the ``task-kind`` filter also speaks; ``EngineTypeDetail`` stays in ``fields``).
``status`` is the state's name (:data:`STATE_NAMES`). Times are epoch-ms strings: ``created`` is
``CreateTime``; ``finished`` is ``UpdateTime`` (documented as the end time) once the task is done.
The list has no start time; ``started`` is derived as ``CreateTime + (TotalTime - UsedTime)``:
``TotalTime`` runs from creation and ``UsedTime`` from the start of execution, both up to the same
moment (now, or the end), so their difference is the queue wait whatever that moment was. It is
``None`` while the task is queued or initialising, and for a task that ended without executing
(``UsedTime`` 0, e.g. cancelled in the queue), so policies can rely on ``running_for`` for running
tasks and on ``queue_wait``/``duration`` for tasks that ran. The fingerprint is
``(State, UpdateTime)``: ``Percentage`` moves while a task runs and would trigger a refresh every
cycle, so it is left out. The SQL stays base64 in ``fields``; a refreshed task's ``detail`` is the
record plus ``DecodedSQL`` (the text, or ``None`` when it does not decode).

A record without an integer ``State`` or a ``TaskType`` is broken: a ``ProtocolError`` naming the
field (:mod:`taskwatch.products.shape`), never a task of status ``""``. A listing whose
``TotalCount`` keeps growing with every page stops at twice what its first page announced
(:mod:`taskwatch.products.paging`).

Not guaranteed: a state code DLC adds later reads as status ``state<N>`` and phase running, so the
task stays watched rather than being taken for finished.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from typing import Any

from taskwatch.catalog.dlc import SPEC, STATE_NAMES
from taskwatch.models import Phase, Result, SourceKey, Task
from taskwatch.products.base import AdapterBase, CallCounter, ScanResult
from taskwatch.products.fanout import bounded_map
from taskwatch.products.paging import PageGuard
from taskwatch.products.shape import count, record_id, records, state, text
from taskwatch.tencent.errors import CallSite
from taskwatch.timefmt import parse_epoch_ms

PRODUCT = SPEC.name
WINDOW = SPEC.window
"""DescribeTasks lists tasks created in the last 45 days (its default StartTime)."""
MAX_PAGE_SIZE = SPEC.max_page_size
MAX_IDS_PER_CALL = 50
"""The ``task-id`` filter takes at most 50 values."""
ACTIVE_STATES = tuple(str(c) for c, name in STATE_NAMES.items() if name not in SPEC.ended)
"""The ``task-state`` filter of the active listing: ``("0", "1", "3", "4")``."""
FINISHED_STATES = tuple(str(c) for c, name in STATE_NAMES.items() if name in SPEC.ended)
"""The ``task-state`` filter of a sweep: ``("2", "-1", "-3")``."""
PHASES = SPEC.fixed_phases()
RESULTS = {"succeeded": Result.SUCCESS, "failed": Result.FAILED, "cancelled": Result.CANCELLED}
ORDER = {"SortBy": "create-time", "Sorting": "desc"}
"""Newest first: a task created mid-scan repeats a row (harmless) rather than hiding one."""


# --- normalising (pure) ---------------------------------------------------------------------


def state_name(state: object) -> str:
    """``1`` → ``running``; an unknown code → ``state<N>``."""
    try:
        code = int(str(state))
    except ValueError:
        return f"state{state}"
    return STATE_NAMES.get(code, f"state{code}")


def phase_of(status: str) -> Phase:
    return PHASES.get(status, Phase.RUNNING)


def started_of(record: Mapping[str, Any], created: float | None, phase: Phase) -> float | None:
    """``CreateTime + (TotalTime - UsedTime)`` once the task executes (see the module docstring)."""
    if created is None or phase is Phase.PENDING:
        return None
    try:
        total_ms = int(record.get("TotalTime") or 0)
        used_ms = int(record.get("UsedTime") or 0)
    except (TypeError, ValueError):
        return None
    if phase is Phase.DONE and used_ms <= 0:
        return None  # ended without executing
    return created + max(0, total_ms - used_ms) / 1000.0


def decode_sql(value: object) -> str | None:
    """The SQL text of a record's base64 ``SQL``; ``None`` when absent or not base64."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return base64.b64decode(value, validate=True).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        return None


def normalise(record: Mapping[str, Any], *, source: SourceKey) -> Task:
    """A Task from one ``TaskResponseInfo``."""
    status = state_name(record.get("State"))
    phase = phase_of(status)
    created = parse_epoch_ms(record.get("CreateTime"))
    return Task(
        product=source.product,
        account=source.account,
        region=source.region,
        id=str(record["Id"]),
        type=str(record.get("TaskType") or ""),
        status=status,
        phase=phase,
        created=created,
        started=started_of(record, created, phase),
        finished=parse_epoch_ms(record.get("UpdateTime")) if phase is Phase.DONE else None,
        result=RESULTS.get(status),
        fingerprint=(str(record.get("State")), str(record.get("UpdateTime", ""))),
        fields=dict(record),
    )


def with_detail(task: Task) -> Task:
    """The task with ``detail``: its record plus the decoded SQL (``DecodedSQL``)."""
    return task.with_detail({**task.fields, "DecodedSQL": decode_sql(task.fields.get("SQL"))})


# --- the adapter ----------------------------------------------------------------------------


class DlcAdapter(AdapterBase, spec=SPEC):
    """DLC tasks of one account in one region."""

    async def scan(self, *, sweep: bool, calls: CallCounter) -> ScanResult:
        active = await self._list("task-state", ACTIVE_STATES, calls, limit=self.page_size)
        if not sweep:
            return ScanResult(active=active)
        finished = await self._list("task-state", FINISHED_STATES, calls, limit=self.page_size)
        for task_id in finished:  # it ended while we paged: the later listing wins
            active.pop(task_id, None)
        return ScanResult(active=active, finished=finished, swept=True)

    async def _list(
        self, name: str, values: Sequence[str], calls: CallCounter, *, limit: int
    ) -> dict[str, Task]:
        label = f"{self.source} DescribeTasks {name}={','.join(values)}"
        if len(label) > 120:
            label = label[:117] + "..."
        guard = PageGuard(label, self.max_pages, self.max_tasks, limit)
        filters = [{"Name": name, "Values": list(values)}]
        found: dict[str, Task] = {}
        offset = 0
        while True:
            guard.turn()
            params = {"Filters": filters, **ORDER, "Limit": limit, "Offset": offset}
            answer = await self.call("DescribeTasks", params, calls)
            site = CallSite(PRODUCT, "DescribeTasks", self.region, self.source.account)
            rows = records(answer, "TaskList", site)
            total = count(answer, "TotalCount", site)
            guard.announce(total)
            if not rows:
                return found
            new = 0
            for i, row in enumerate(rows):
                record_id(row, "Id", site)
                state(row, "State", site, at=f"TaskList[{i}].")
                text(row, "TaskType", site, at=f"TaskList[{i}].")
                task = normalise(row, source=self.source)
                new += task.id not in found
                found[task.id] = task
            guard.progress(new, len(rows), at=f"Offset={offset}")
            offset += len(rows)
            if len(rows) < limit or offset >= total:
                return found

    async def refresh(self, tasks: Sequence[Task], calls: CallCounter) -> list[Task]:
        """The tasks looked up by id (50 per call), with detail, in the order given; ids the
        API does not return are left out."""
        found = await self._lookup([t.id for t in tasks], calls)
        return [found[t.id] for t in tasks if t.id in found]

    ACTION = SPEC.call

    def action_params(self, task_id: str, *, operator: str) -> dict[str, Any]:
        """The parameters of the destructive call (CancelTask), as journalled."""
        del operator  # only Live's delete names an operator
        return {"TaskId": task_id}

    async def act(self, task_id: str, *, operator: str, calls: CallCounter) -> dict[str, Any]:
        """Send the destructive call once. The client never retries it blindly; the caller
        records the intent before and the outcome after."""
        return await self.call(self.ACTION, self.action_params(task_id, operator=operator), calls)

    async def describe(self, task_id: str, calls: CallCounter) -> Task | None:
        """One fresh observation with detail (for fencing); ``None`` if the API does not list
        the task."""
        return (await self._lookup([task_id], calls)).get(task_id)

    async def _lookup(self, ids: Sequence[str], calls: CallCounter) -> dict[str, Task]:
        unique = list(dict.fromkeys(ids))
        size = min(MAX_IDS_PER_CALL, self.page_size)
        batches = [unique[i : i + size] for i in range(0, len(unique), size)]

        async def one(batch: list[str]) -> dict[str, Task]:
            return await self._list("task-id", batch, calls, limit=size)

        found: dict[str, Task] = {}
        for part in await bounded_map(one, batches, limit=self.detail_concurrency):
            found.update({k: with_detail(t) for k, t in part.items()})
        return found
