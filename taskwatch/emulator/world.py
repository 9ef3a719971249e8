"""The emulated world: tasks of three products moving through their lives on one clock.

Every task carries its own plan (how long it waits, how long it runs, whether it fails), drawn from
the scenario when it is created. Transitions are events on a heap keyed by the time they are due,
so ``tick()`` costs O(transitions · log n), not O(tasks): the world can hold 100,000 tasks and still
answer 1,000 calls a second. Generators create new tasks at their rate, each stamped with the time
it would really have appeared, so a clock jump of an hour creates an hour of tasks with the right
timestamps.

Times are wall-clock epoch seconds of the emulator's clock (virtual in tests). Actions (abort,
cancel, delete) change state as the real API would; the handlers in ``mps``/``dlc``/``live`` check
the API's preconditions first.

Transitions of tasks that notify go to ``transition_listeners`` (:mod:`taskwatch.emulator.pump`):
MPS ``PROCESSING`` and ``FINISH`` (aborts included); Live ``TaskStart`` at StartTime and
``TaskExit`` at EndTime (both on the heap), on pause and on deletion while active. A Live
window edge before the task was added is not announced (generated tasks: before creation).

Not modelled: sub-task progress inside a workflow other than its transcodes' (each output's, on
the task's plan: :mod:`taskwatch.emulator.mps_media`), or Live pull tasks that start and stop
streams (their run status follows their StartTime/EndTime window and enable/pause status only).
"""

from __future__ import annotations

import copy
import heapq
import itertools
import random
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from taskwatch import catalog
from taskwatch.clock import Clock
from taskwatch.emulator.media import DEFAULT_MEDIA, Media, Output
from taskwatch.emulator.notify_config import DEFAULT_CALLBACK_EVENTS, Notify

MpsStatus = Literal["WAITING", "PROCESSING", "FINISH"]
MPS_TYPES = ("WorkflowTask", "EditMediaTask", "LiveStreamProcessTask", "ScheduleTask")
MPS_LIST_TYPE = {v: k for k, v in catalog.get("mps").type_spellings.items()}
"""DescribeTasks spells the live type ``LiveProcessTask``, DescribeTaskDetail
``LiveStreamProcessTask``."""

DLC_INIT, DLC_RUNNING, DLC_SUCCEEDED, DLC_WRITING, DLC_QUEUED = 0, 1, 2, 3, 4
DLC_FAILED, DLC_CANCELLED = -1, -3
DLC_ACTIVE = frozenset({DLC_INIT, DLC_RUNNING, DLC_WRITING, DLC_QUEUED})


@dataclass(slots=True)
class Plan:
    """How a task lives: seconds waiting, seconds running (``None`` = until stopped), failure."""

    wait: float | None = 0.0
    run: float | None = 60.0
    fail: bool = False


@dataclass(slots=True)
class MpsTask:
    task_id: str
    task_type: str
    status: str
    created: float
    started: float | None = None
    finished: float | None = None
    plan: Plan = field(default_factory=Plan)
    err_code: int = 0
    message: str = ""
    url: str = ""
    session_id: str = ""
    session_context: str = ""
    ext_info: str = ""
    priority: int = 0
    sub_task_types: list[str] = field(default_factory=list)
    sub_task_failed: bool = False
    input_url: str = ""
    aborted: bool = False
    media: Media = DEFAULT_MEDIA
    outputs: tuple[Output, ...] | None = None  # None: one 720p H.264 rendition (mps_media)
    notify: Notify | None = None  # TaskNotifyConfig (URL only); None: the task notifies nothing


@dataclass(slots=True)
class DlcTask:
    task_id: str
    state: int
    created: float
    updated: float
    started: float | None = None
    plan: Plan = field(default_factory=Plan)
    sql: str = "SELECT 1"
    sql_type: str = "DQL"
    task_type: str = "SparkSQLTask"
    engine: str = "public-engine"
    engine_type: str = "SparkSQL"
    database: str = "default"
    operator: str = "100000000001"
    data_amount: int = 0
    percentage: int = 0
    output_message: str = ""
    resource_group: str = ""
    session_id: str = ""
    batch_id: str = ""
    scan_rate: int | None = None  # bytes a second while running, instead of data_amount's plan
    driver_size: str = "small"  # Spark only, as are the next two
    executor_size: str = "small"
    executors: int = 1
    cu: int | None = None  # CUs held while running; None: from the sizes (dlc_usage)


@dataclass(slots=True)
class LiveTask:
    task_id: str
    created: float
    updated: float
    start_time: float
    end_time: float
    status: str = "enable"
    source_type: str = "PullLivePushLive"
    source_urls: list[str] = field(default_factory=lambda: ["rtmp://source.example.com/live/s"])
    domain: str = "push.example.com"
    app: str = "live"
    stream: str = "stream"
    region: str = "ap-guangzhou"
    created_by: str = "taskwatch-emulator"
    comment: str = ""
    callback_url: str = ""
    vod_loop_times: int = -1
    callback_events: list[str] = field(default_factory=lambda: list(DEFAULT_CALLBACK_EVENTS))


@dataclass(frozen=True, slots=True)
class Transition:
    """A change a notification may tell: ``event`` is ``added`` (a task that notifies was added),
    MPS ``PROCESSING``/``FINISH`` or Live ``TaskStart``/``TaskExit``, ``at`` when it happened."""

    task: MpsTask | LiveTask
    event: str
    at: float


@dataclass(slots=True)
class Generator:
    """Creates a task of ``template`` every ``every`` seconds (jittered), plan drawn per task."""

    product: Literal["mps", "dlc", "live"]
    every: float
    wait: tuple[float, float]
    duration: tuple[float, float] | None
    failure_ratio: float
    template: dict[str, object]
    next_at: float = 0.0
    created: int = 0
    limit: int | None = None


class World:
    """All tasks, their pending transitions, and the generators."""

    def __init__(self, clock: Clock, *, seed: int = 0, appid: str = "1250000000") -> None:
        self.clock = clock
        self.rng = random.Random(seed)  # noqa: S311 - simulation, not cryptography
        self.appid = appid
        self.mps: dict[str, MpsTask] = {}
        self.dlc: dict[str, DlcTask] = {}
        self.live: dict[str, LiveTask] = {}
        self.generators: list[Generator] = []
        self.version = 0
        """Bumped on every change: list handlers cache their sorted views per version."""
        self.mps_listeners: list[Callable[[str], None]] = []
        """Called with the id of each MPS task added, moved or forgotten, after the change: the
        MPS list handler keeps its sorted views up to date without rescanning every task."""
        self.transition_listeners: list[Callable[[Transition], None]] = []
        """Called with each :class:`Transition` of a task that notifies (an MPS task with a
        notify config, a Live task with a callback URL), as it is applied."""
        self._events: list[tuple[float, int, str, str]] = []
        self._seq = itertools.count()
        self._live_ids = itertools.count(10000)

    # --- time -------------------------------------------------------------------------------

    def now(self) -> float:
        return self.clock.now().timestamp()

    def tick(self) -> None:
        """Apply every transition and generator firing that is due by now."""
        now = self.now()
        for gen in self.generators:
            while gen.next_at <= now and (gen.limit is None or gen.created < gen.limit):
                self._fire(gen, gen.next_at)
                gen.next_at += gen.every * self.rng.uniform(0.8, 1.2)
        while self._events and self._events[0][0] <= now:
            due, _, product, task_id = heapq.heappop(self._events)
            if product == "mps" and (m := self.mps.get(task_id)):
                self._advance_mps(m, due)
            elif product == "dlc" and (d := self.dlc.get(task_id)):
                self._advance_dlc(d, due)
            elif product in ("TaskStart", "TaskExit") and (lv := self.live.get(task_id)):
                edge = lv.start_time if product == "TaskStart" else lv.end_time
                if due == edge and lv.status == "enable":  # an edited window is planned anew
                    self._announce(lv, product, due)

    def _schedule(self, at: float, product: str, task_id: str) -> None:
        heapq.heappush(self._events, (at, next(self._seq), product, task_id))

    # --- ids ----------------------------------------------------------------------------------

    def mps_id(self, task_type: str) -> str:
        h = uuid.UUID(int=self.rng.getrandbits(128)).hex
        if task_type == "LiveStreamProcessTask":
            return f"{self.appid}-procedure-live-{h}"
        return f"{self.appid}-{task_type}-{h}t0"

    def dlc_id(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def live_id(self) -> str:
        """The next numeric id no task holds (a scenario may name ids, e.g. a snapshot's)."""
        task_id = str(next(self._live_ids))
        while task_id in self.live:
            task_id = str(next(self._live_ids))
        return task_id

    # --- MPS ------------------------------------------------------------------------------------

    def add_mps(self, task: MpsTask) -> MpsTask:
        self.mps[task.task_id] = task
        self.version += 1
        self._mps_touched(task.task_id)
        self._plan_mps(task)
        self._announce(task, "added", self.now())
        return task

    def _plan_mps(self, t: MpsTask) -> None:
        if t.status == "WAITING" and t.plan.wait is not None:
            self._schedule(t.created + t.plan.wait, "mps", t.task_id)
        elif t.status == "PROCESSING" and t.plan.run is not None and t.started is not None:
            self._schedule(t.started + t.plan.run, "mps", t.task_id)

    def _advance_mps(self, t: MpsTask, due: float) -> None:
        if t.status == "WAITING" and t.plan.wait is not None and due >= t.created + t.plan.wait:
            t.status, t.started = "PROCESSING", due
            self.version += 1
            self._mps_touched(t.task_id)
            self._plan_mps(t)
            self._announce(t, "PROCESSING", due)
        elif (
            t.status == "PROCESSING"
            and t.plan.run is not None
            and t.started is not None
            and due >= t.started + t.plan.run
        ):
            self.finish_mps(t, due, failed=t.plan.fail)

    def finish_mps(
        self, t: MpsTask, at: float, *, failed: bool = False, aborted: bool = False
    ) -> None:
        t.status, t.finished, t.aborted = "FINISH", at, aborted
        if t.started is None and not aborted:
            t.started = at
        if failed:
            t.err_code, t.message = 70000, "Internal error: processing failed"
            t.sub_task_failed = True
        elif aborted:
            t.err_code, t.message = 0, "aborted by ManageTask"
        self.version += 1
        self._mps_touched(t.task_id)
        if self.mps.get(t.task_id) is t:  # not a task being built finished (populate)
            self._announce(t, "FINISH", at)

    def _mps_touched(self, task_id: str) -> None:
        for listener in self.mps_listeners:
            listener(task_id)

    def _announce(self, task: MpsTask | LiveTask, event: str, at: float) -> None:
        notifies = task.notify is not None if isinstance(task, MpsTask) else task.callback_url
        if notifies:
            for listener in self.transition_listeners:
                listener(Transition(task, event, at))

    # --- DLC ------------------------------------------------------------------------------------

    def add_dlc(self, task: DlcTask) -> DlcTask:
        self.dlc[task.task_id] = task
        self.version += 1
        self._plan_dlc(task)
        return task

    def _plan_dlc(self, t: DlcTask) -> None:
        if t.state in (DLC_QUEUED, DLC_INIT) and t.plan.wait is not None:
            self._schedule(t.created + t.plan.wait, "dlc", t.task_id)
        elif t.state in (DLC_RUNNING, DLC_WRITING) and t.plan.run is not None:
            self._schedule((t.started or t.created) + t.plan.run, "dlc", t.task_id)

    def _advance_dlc(self, t: DlcTask, due: float) -> None:
        if t.state in (DLC_QUEUED, DLC_INIT) and t.plan.wait is not None:
            if due >= t.created + t.plan.wait:
                t.state, t.started, t.updated = DLC_RUNNING, due, due
                self.version += 1
                self._plan_dlc(t)
        elif (
            t.state in (DLC_RUNNING, DLC_WRITING)
            and t.plan.run is not None
            and due >= (t.started or t.created) + t.plan.run
        ):
            t.state = DLC_FAILED if t.plan.fail else DLC_SUCCEEDED
            t.updated, t.percentage = due, 100 if not t.plan.fail else t.percentage
            if t.plan.fail:
                t.output_message = "Job aborted due to stage failure"
            self.version += 1

    # --- Live -----------------------------------------------------------------------------------

    def add_live(self, task: LiveTask, *, since: float | None = None) -> LiveTask:
        """Add ``task``; with a callback URL, its StartTime and EndTime after ``since`` (default
        now) go on the heap, to be announced as ``TaskStart`` and ``TaskExit``."""
        self.live[task.task_id] = task
        self.version += 1
        if task.callback_url:
            self.plan_live(task, since=self.now() if since is None else since)
            self._announce(task, "added", self.now())
        return task

    def plan_live(self, task: LiveTask, *, since: float) -> None:
        """Schedule the window's edges after ``since`` (again after editing the window)."""
        for event, at in (("TaskStart", task.start_time), ("TaskExit", task.end_time)):
            if at > since:
                self._schedule(at, event, task.task_id)

    def set_live_status(self, task_id: str, status: str) -> LiveTask | None:
        """``enable`` or ``pause`` a task now: pausing an active task exits it (``TaskExit``),
        enabling one inside its window starts it (``TaskStart``) [inferred]."""
        self.tick()  # what was due before the change happened before it
        t = self.live.get(task_id)
        if t is None or t.status == status:
            return t
        now = self.now()
        inside = t.start_time <= now < t.end_time
        t.status, t.updated = status, now
        self.version += 1
        if inside:
            self._announce(t, "TaskExit" if status == "pause" else "TaskStart", now)
        return t

    def delete_live(self, task_id: str) -> bool:
        """Remove a task; one active at the time exits (``TaskExit``) [inferred]."""
        t = self.live.pop(task_id, None)
        if t is None:
            return False
        self.version += 1
        now = self.now()
        if t.status == "enable" and t.start_time <= now < t.end_time:
            self._announce(t, "TaskExit", now)
        return True

    # --- generators -----------------------------------------------------------------------------

    def _fire(self, gen: Generator, at: float) -> None:
        gen.created += 1
        wait = self.rng.uniform(*gen.wait)
        run = self.rng.uniform(*gen.duration) if gen.duration else None
        plan = Plan(wait=wait, run=run, fail=self.rng.random() < gen.failure_ratio)
        tpl: dict[str, Any] = copy.deepcopy(gen.template)  # lists must not be shared by tasks
        if gen.product == "mps":
            ttype = str(tpl.pop("type", "WorkflowTask"))
            self.add_mps(MpsTask(self.mps_id(ttype), ttype, "WAITING", at, plan=plan, **tpl))
        elif gen.product == "dlc":
            self.add_dlc(DlcTask(self.dlc_id(), DLC_QUEUED, at, at, plan=plan, **tpl))
        else:
            span = run if run is not None else 3600.0
            self.add_live(
                LiveTask(self.live_id(), at, at, start_time=at + wait, end_time=at + wait + span,
                         **tpl), since=at,
            )  # fmt: skip

    # --- housekeeping ---------------------------------------------------------------------------

    def purge(self, *, older_than: float) -> int:
        """Forget MPS and DLC tasks created before ``older_than`` (past every API window). An MPS
        task that has not finished is kept however old: it still runs, and ManageTask still
        reaches it (:mod:`taskwatch.emulator.mps`)."""
        gone = [k for k, t in self.mps.items() if t.created < older_than and t.status == "FINISH"]
        for k in gone:
            del self.mps[k]
            self._mps_touched(k)
        gone_dlc = [k for k, d in self.dlc.items() if d.created < older_than]
        for k in gone_dlc:
            del self.dlc[k]
        if gone or gone_dlc:
            self.version += 1
        return len(gone) + len(gone_dlc)

    def iter_all(self) -> Iterator[tuple[str, object]]:
        yield from (("mps", t) for t in self.mps.values())
        yield from (("dlc", t) for t in self.dlc.values())
        yield from (("live", t) for t in self.live.values())
