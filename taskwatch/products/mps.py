"""MPS (``mps`` 2019-06-12): list the active tasks every cycle, the finished ones on a sweep, and
fetch detail only for the tasks the watcher asks about.

Why it is built this way (reference §5, §8; design §3 "Polling cost"):

- ``DescribeTasks`` requires a ``Status``, so a scan lists ``WAITING`` then ``PROCESSING``, each
  paged with ``ScrollToken`` until it comes back ``""``, every page bringing at least one task not
  seen before and the listing no more than ``max_tasks`` (:mod:`taskwatch.products.paging`):
  a token that comes back fresh with no new task, or never ends, fails the listing. The order
  matters: tasks move forward (WAITING → PROCESSING → FINISH) while we page, and listing WAITING
  first means a task that starts mid-scan is caught by the later PROCESSING listing. A task seen
  in both is kept once, as its later (PROCESSING) observation. A sweep (``sweep=True``, the caller
  decides how rarely) also lists ``FINISH``; a task that finished mid-scan is then reported
  finished, not active.
- The list record (``TaskSimpleInfo``) has no status field (the listing's ``Status`` is it) and
  no result. Its fingerprint is ``(Status, BeginProcessTime, FinishTime)`` as printed: the three
  things that change when a task moves. The end of a task is learnt from ``DescribeTaskDetail``.
- The list spells the live type ``LiveProcessTask`` and the detail ``LiveStreamProcessTask``;
  taskwatch uses the detail spelling everywhere (``Task.type``), ``fields`` keeps the raw record.

How a finished task ended (:func:`result_of`, read from the detail's populated sub-object):
``FAILED`` when its ``ErrCode`` is non-zero, its ``Status`` is ``FAIL``, or any entry of its
result sets (``MediaProcessResultSet``, ``ActivityResultSet``, ``LiveActivityResultSet``) failed;
``ABORTED`` when it finished without error and without ever beginning processing
(``BeginProcessTime`` unset: a WAITING task ends that way only by ``ManageTask Abort``);
``SUCCESS`` otherwise. Not guaranteed: a *live* task aborted while PROCESSING looks like one that
ended normally (ErrCode 0; only the free-text ``Message`` differs, which taskwatch does not parse),
so it reads ``SUCCESS``.

Not guaranteed: tasks older than the 7-day list window are invisible; ``DescribeTaskDetail`` may
forget tasks sooner (3 days on some documentation): those are left out of :meth:`refresh`, as are
ids the API calls unknown (``ResourceNotFound``). Any other error propagates and fails the cycle,
as does an answer without ``Status`` or ``TaskType`` (a :class:`ProtocolError`, see
:mod:`taskwatch.products.shape`). What becomes of a task seen active that no call shows any more
(presumed active, ``ProductSpec.outlives``) is :mod:`taskwatch.watch`'s; ``ManageTask`` still
reaches it by id.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from taskwatch.catalog.mps import SPEC
from taskwatch.models import Phase, Result, SourceKey, Task
from taskwatch.products.base import AdapterBase, CallCounter, ScanResult
from taskwatch.products.fanout import bounded_map
from taskwatch.products.paging import PageGuard
from taskwatch.products.shape import record_id, records, text
from taskwatch.products.shape import token as _token
from taskwatch.tencent.errors import CallSite, TaskNotFoundError
from taskwatch.timefmt import MPS_UNSET, parse_iso

PRODUCT = SPEC.name
WINDOW = SPEC.window
"""DescribeTasks lists tasks created in the last 7 days (168 h)."""
MAX_PAGE_SIZE = SPEC.max_page_size
PHASES = SPEC.fixed_phases()
"""WAITING → pending, PROCESSING → running, FINISH → done."""
ACTIVE_STATUSES = tuple(s for s, p in PHASES.items() if p is not Phase.DONE)
"""Listing order (WAITING, PROCESSING): a task moving forward mid-scan is caught by the later
listing."""
(FINISHED,) = SPEC.ended
LIST_TYPE_SPELLINGS = SPEC.type_spellings
"""List spelling → the detail's (canonical) spelling."""
SUB_OBJECTS = SPEC.types
"""The detail's per-type sub-objects, in the order they are looked for: the detail names each
after its type (``WorkflowTask``, ``LiveStreamProcessTask``, ...)."""
RESULT_SETS = ("MediaProcessResultSet", "ActivityResultSet", "LiveActivityResultSet")


# --- normalising (pure) ---------------------------------------------------------------------


def canonical_type(task_type: str) -> str:
    """One spelling per type: the detail's (``LiveProcessTask`` → ``LiveStreamProcessTask``)."""
    return LIST_TYPE_SPELLINGS.get(task_type, task_type)


def phase_of(status: str) -> Phase:
    """WAITING → pending, PROCESSING → running, FINISH → done; an unknown status is taken as
    running, so the task stays watched until a known status says otherwise."""
    return PHASES.get(status, Phase.RUNNING)


def fingerprint(status: str, record: Mapping[str, Any]) -> tuple[str, str, str]:
    """``(Status, BeginProcessTime, FinishTime)`` as printed (reference §8)."""
    return (
        status,
        str(record.get("BeginProcessTime", MPS_UNSET)),
        str(record.get("FinishTime", MPS_UNSET)),
    )


def normalise(record: Mapping[str, Any], *, status: str, source: SourceKey) -> Task:
    """A Task from one ``TaskSimpleInfo`` of the ``status`` listing. ``result`` stays ``None``
    even for FINISH: only the detail tells how a task ended."""
    return Task(
        product=source.product,
        account=source.account,
        region=source.region,
        id=str(record["TaskId"]),
        type=canonical_type(str(record.get("TaskType", ""))),
        status=status,
        phase=phase_of(status),
        created=parse_iso(record.get("CreateTime")),
        started=parse_iso(record.get("BeginProcessTime")),
        finished=parse_iso(record.get("FinishTime")),
        fingerprint=fingerprint(status, record),
        fields=dict(record),
    )


def normalise_detail(
    task_id: str,
    detail: Mapping[str, Any],
    *,
    source: SourceKey,
    fields: Mapping[str, Any] | None = None,
) -> Task:
    """A Task from a ``DescribeTaskDetail`` response. Status and times come from the detail (it
    is the newer observation); ``fields`` keeps the list record when there is one, else the
    list-shaped part of the detail (:func:`list_shaped`). ``detail`` is the response without its
    ``RequestId``."""
    body = {k: v for k, v in detail.items() if k != "RequestId"}
    status = str(body.get("Status", ""))
    return Task(
        product=source.product,
        account=source.account,
        region=source.region,
        id=task_id,
        type=canonical_type(str(body.get("TaskType", ""))),
        status=status,
        phase=phase_of(status),
        created=parse_iso(body.get("CreateTime")),
        started=parse_iso(body.get("BeginProcessTime")),
        finished=parse_iso(body.get("FinishTime")),
        result=result_of(body),
        fingerprint=fingerprint(status, body),
        fields=dict(fields) if fields else list_shaped(task_id, body),
        detail=body,
    )


def list_shaped(task_id: str, detail: Mapping[str, Any]) -> dict[str, Any]:
    """What a ``TaskSimpleInfo`` would say, read from a detail (for a task described without
    being listed, e.g. when fencing). ``SubTaskTypes`` is not in the detail and is left out."""
    task_type = str(detail.get("TaskType", ""))
    list_spelling = {v: k for k, v in LIST_TYPE_SPELLINGS.items()}.get(task_type, task_type)
    return {
        "TaskId": task_id,
        "TaskType": list_spelling,
        "CreateTime": detail.get("CreateTime", MPS_UNSET),
        "BeginProcessTime": detail.get("BeginProcessTime", MPS_UNSET),
        "FinishTime": detail.get("FinishTime", MPS_UNSET),
    }


def sub_object(detail: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The populated per-type sub-object (``WorkflowTask``, ``LiveStreamProcessTask``, ...)."""
    own = detail.get(str(detail.get("TaskType", "")))
    if isinstance(own, Mapping):
        return own
    return next((v for k in SUB_OBJECTS if isinstance(v := detail.get(k), Mapping)), None)


def result_of(detail: Mapping[str, Any]) -> Result | None:
    """How a FINISH task ended (see the module docstring); ``None`` while it has not."""
    if detail.get("Status") != FINISHED:
        return None
    sub = sub_object(detail)
    if sub is not None and _failed(sub):
        return Result.FAILED
    if parse_iso(detail.get("BeginProcessTime")) is None:
        return Result.ABORTED
    return Result.SUCCESS


def _failed(sub: Mapping[str, Any]) -> bool:
    if _nonzero(sub.get("ErrCode")) or sub.get("Status") == "FAIL":
        return True
    for name in RESULT_SETS:
        entries = sub.get(name)
        if isinstance(entries, list) and any(_has_failure(e, depth=3) for e in entries):
            return True
    return False


def _has_failure(obj: object, *, depth: int) -> bool:
    """A result entry, or a task object nested in it, that says FAIL or carries an error code."""
    if not isinstance(obj, Mapping):
        return False
    if "Status" in obj and (obj.get("Status") == "FAIL" or _nonzero(obj.get("ErrCode"))):
        return True
    return depth > 0 and any(_has_failure(v, depth=depth - 1) for v in obj.values())


def _nonzero(code: object) -> bool:
    if code is None or code == "":
        return False
    try:
        return int(str(code)) != 0
    except ValueError:
        return True  # an error code that is not a number is still an error code


# --- the adapter ----------------------------------------------------------------------------


class MpsAdapter(AdapterBase, spec=SPEC):
    """MPS tasks of one account (all regions: MPS task ids are global)."""

    async def scan(self, *, sweep: bool, calls: CallCounter) -> ScanResult:
        active: dict[str, Task] = {}
        for status in ACTIVE_STATUSES:
            active.update(await self._list(status, calls))  # later listing wins
        if not sweep:
            return ScanResult(active=active)
        finished = await self._list(FINISHED, calls)
        for task_id in finished:
            active.pop(task_id, None)
        return ScanResult(active=active, finished=finished, swept=True)

    async def _list(self, status: str, calls: CallCounter) -> dict[str, Task]:
        guard = PageGuard(
            f"{self.source} DescribeTasks Status={status}",
            self.max_pages,
            self.max_tasks,
            self.page_size,
        )
        found: dict[str, Task] = {}
        token = ""
        while True:
            guard.turn()
            params: dict[str, Any] = {"Status": status, "Limit": self.page_size}
            if token:
                params["ScrollToken"] = token
            answer = await self.call("DescribeTasks", params, calls)
            site = self._site("DescribeTasks")
            rows = records(answer, "TaskSet", site)
            new = 0
            for i, row in enumerate(rows):
                record_id(row, "TaskId", site)
                text(row, "TaskType", site, at=f"TaskSet[{i}].")
                task = normalise(row, status=status, source=self.source)
                new += task.id not in found
                found[task.id] = task
            guard.progress(new, len(rows), at=f"ScrollToken {token!r}" if token else "first page")
            token = _token(answer, "ScrollToken", site)
            if not guard.scroll(token, len(rows)):
                return found

    def _site(self, action: str) -> CallSite:
        return CallSite(PRODUCT, action, self.region, self.source.account)

    async def refresh(self, tasks: Sequence[Task], calls: CallCounter) -> list[Task]:
        """The detail of each task, at most ``detail_concurrency`` calls at once, in order;
        tasks the API no longer knows are left out."""

        async def one(task: Task) -> Task | None:
            return await self._detail(task.id, calls, fields=task.fields)

        found = await bounded_map(one, tasks, limit=self.detail_concurrency)
        return [t for t in found if t is not None]

    ACTION = SPEC.call

    def action_params(self, task_id: str, *, operator: str) -> dict[str, Any]:
        """The parameters of ManageTask (OperationType Abort), as journalled."""
        del operator  # only Live's delete names an operator
        return {"OperationType": "Abort", "TaskId": task_id}

    async def act(self, task_id: str, *, operator: str, calls: CallCounter) -> dict[str, Any]:
        """Send the destructive call once. The client never retries it blindly; the caller
        records the intent before and the outcome after."""
        return await self.call(self.ACTION, self.action_params(task_id, operator=operator), calls)

    async def describe(self, task_id: str, calls: CallCounter) -> Task | None:
        """One fresh observation with detail (for fencing); ``None`` if the API does not know
        the task."""
        return await self._detail(task_id, calls, fields=None)

    async def _detail(
        self, task_id: str, calls: CallCounter, *, fields: Mapping[str, Any] | None
    ) -> Task | None:
        try:
            answer = await self.call("DescribeTaskDetail", {"TaskId": task_id}, calls)
        except TaskNotFoundError:
            return None
        site = self._site("DescribeTaskDetail")
        text(answer, "Status", site)
        text(answer, "TaskType", site)
        return normalise_detail(task_id, answer, source=self.source, fields=fields)
