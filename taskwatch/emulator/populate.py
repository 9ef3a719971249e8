"""A parsed scenario (:class:`Scenario` and its specs) and how it populates a world.

:meth:`Scenario.populate` turns the offsets of a parsed scenario into absolute times at the
world's current clock reading, drawing every random choice (ids, jitter, durations, failures)
from the world's seeded generator, so one scenario and one seed give one world. Parsing is
:mod:`taskwatch.emulator.scenario`'s.

Not guaranteed: that a world stays as written after the first ``tick()``. A copy whose drawn wait
or run has already elapsed at the start moves on at the first tick, with the timestamps it would
really have had. Nor is the emulator's clock set here: :meth:`Scenario.clock_for` shifts one.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from taskwatch.clock import Clock, SkewedClock
from taskwatch.emulator.actions import DAY, Options
from taskwatch.emulator.faults import FaultPlan, fault_from_mapping
from taskwatch.emulator.scenario_values import Product, Span
from taskwatch.emulator.world import (
    DLC_CANCELLED,
    DLC_FAILED,
    DLC_INIT,
    DLC_QUEUED,
    DLC_RUNNING,
    DLC_SUCCEEDED,
    DLC_WRITING,
    DlcTask,
    Generator,
    LiveTask,
    MpsTask,
    Plan,
    World,
)


@dataclass(frozen=True, slots=True)
class EmulatorCredential:
    """A key pair the emulator accepts; the secret and token never appear in a repr."""

    secret_id: str
    secret_key: str = field(repr=False)
    token: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class TaskSpec:
    """One validated ``tasks`` entry; times are offsets in seconds from the start.

    ``status`` is the MPS status, the DLC state (int) or the Live status. For Live, ``started``
    and ``finished`` are StartTime and EndTime. ``fields`` are constructor arguments of the task.
    """

    product: Product
    status: str | int
    count: int
    created: float
    spread: float = 0.0
    started: float | None = None
    finished: float | None = None
    wait: Span | None = None
    duration: Span | None = None
    failure_ratio: float = 0.0
    aborted: bool = False
    updated: float | None = None
    fields: Mapping[str, Any] = field(default_factory=dict)
    task_id: str | None = None
    """The task's id when the entry names it (then ``count`` is 1); else the world draws one."""


@dataclass(frozen=True, slots=True)
class GeneratorSpec:
    """One validated ``generators`` entry; ``template`` holds the product fields (and ``type``)."""

    product: Product
    every: float
    after: float
    wait: Span
    duration: Span | None
    failure_ratio: float = 0.0
    limit: int | None = None
    template: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Scenario:
    """A parsed scenario: immutable; every build from it gives a fresh world and fault plan."""

    credentials: tuple[EmulatorCredential, ...]
    seed: int = 0
    start: datetime | None = None
    appid: str = "1250000000"
    description: str = ""
    options: Options = field(default_factory=Options)
    limits: Mapping[tuple[str, str], float] = field(default_factory=dict)
    faults: tuple[Mapping[str, Any], ...] = ()
    tasks: tuple[TaskSpec, ...] = ()
    generators: tuple[GeneratorSpec, ...] = ()
    source: str = "<string>"

    def fault_plan(self) -> FaultPlan:
        """A fresh plan: faults count what they have seen, so never share one between runs."""
        return FaultPlan([fault_from_mapping(spec) for spec in self.faults])

    def clock_for(self, base: Clock) -> Clock:
        """``base`` shifted so that its wall time reads ``start`` now (``base`` if unset)."""
        if self.start is None:
            return base
        return SkewedClock(base, (self.start - base.now()).total_seconds())

    def build_world(self, clock: Clock) -> World:
        """A world with this scenario's seed and appid, populated at ``clock``'s current time."""
        world = World(clock, seed=self.seed, appid=self.appid)
        self.populate(world)
        return world

    def populate(self, world: World) -> None:
        """Create every task and register every generator, relative to ``world.now()``."""
        now = world.now()
        taken = {s.task_id for s in self.tasks if s.product == "live" and s.task_id is not None}
        for spec in self.tasks:
            _populate(world, spec, now, taken)
        for g in self.generators:
            world.generators.append(
                Generator(
                    product=g.product,
                    every=g.every,
                    wait=(g.wait.lo, g.wait.hi),
                    duration=None if g.duration is None else (g.duration.lo, g.duration.hi),
                    failure_ratio=g.failure_ratio,
                    template=copy.deepcopy(dict(g.template)),
                    next_at=now + g.after,
                    limit=g.limit,
                )
            )


# --- building ---------------------------------------------------------------------------------


def _draw(world: World, span: Span | None, elapsed: float) -> float | None:
    if span is None:
        return None
    extra = world.rng.uniform(span.lo, span.hi) if span.hi > span.lo else span.lo
    return (elapsed if span.from_start else 0.0) + extra


def _fields(spec: TaskSpec, n: int) -> dict[str, Any]:
    """The product fields of copy ``n`` (1-based), with ``{n}`` in strings replaced."""
    out: dict[str, Any] = {}
    for key, value in spec.fields.items():
        if isinstance(value, str):
            value = value.replace("{n}", str(n))
        elif isinstance(value, list):
            value = [v.replace("{n}", str(n)) for v in value]
        out[key] = value
    return out


@dataclass(frozen=True, slots=True)
class _Copy:
    """One copy of a task entry: its absolute times, product fields and fate."""

    created: float
    started: float | None
    finished: float | None
    updated: float | None
    fields: dict[str, Any]
    failed: bool
    task_id: str | None = None


def _populate(world: World, spec: TaskSpec, now: float, taken: set[str]) -> None:
    failing = set(world.rng.sample(range(spec.count), int(spec.count * spec.failure_ratio + 0.5)))
    add = {"mps": _add_mps, "dlc": _add_dlc, "live": _add_live}[spec.product]
    for i in range(spec.count):
        base = now - (world.rng.uniform(0.0, spec.spread) if spec.spread else 0.0)
        copy = _Copy(
            created=base + spec.created,
            started=None if spec.started is None else base + spec.started,
            finished=None if spec.finished is None else base + spec.finished,
            updated=None if spec.updated is None else base + spec.updated,
            fields=_fields(spec, i + 1),
            failed=i in failing,
            task_id=spec.task_id if spec.task_id is not None else _drawn_id(world, spec, taken),
        )
        add(world, spec, copy, now)


def _drawn_id(world: World, spec: TaskSpec, taken: set[str]) -> str | None:
    """A Live id the world draws, skipping the ids entries name (MPS and DLC ids are drawn when
    the task is made: 128 random bits do not collide)."""
    if spec.product != "live":
        return None
    task_id = world.live_id()
    while task_id in taken:
        task_id = world.live_id()
    return task_id


def _add_mps(world: World, spec: TaskSpec, c: _Copy, now: float) -> None:
    task_type = c.fields.pop("task_type")
    task_id = c.task_id or world.mps_id(task_type)
    task = MpsTask(task_id, task_type, str(spec.status), c.created, **c.fields)
    if spec.status == "WAITING":
        task.plan = _queued(world, spec, now - c.created, c.failed)
    elif spec.status == "PROCESSING":
        task.started = c.created if c.started is None else c.started
        task.plan = Plan(0.0, _draw(world, spec.duration, now - task.started), c.failed)
    else:  # FINISH; an aborted task may never have started
        task.started = c.created if c.started is None and not spec.aborted else c.started
        end = c.finished if c.finished is not None else _end(world, spec, task.started, c.created)
        world.finish_mps(task, end, failed=c.failed, aborted=spec.aborted)
        for key in ("err_code", "message"):  # as the entry says, over finish_mps's defaults
            if key in c.fields:
                setattr(task, key, c.fields[key])
    world.add_mps(task)


def _add_dlc(world: World, spec: TaskSpec, c: _Copy, now: float) -> None:
    state = int(spec.status)
    task = DlcTask(c.task_id or world.dlc_id(), state, c.created, c.created, **c.fields)
    if state in (DLC_QUEUED, DLC_INIT):
        task.plan = _queued(world, spec, now - c.created, c.failed)
    elif state in (DLC_RUNNING, DLC_WRITING):
        task.started = task.updated = c.created if c.started is None else c.started
        task.plan = Plan(0.0, _draw(world, spec.duration, now - task.started), c.failed)
    else:  # terminal; a task cancelled in the queue never started
        task.started = c.created if c.started is None and state != DLC_CANCELLED else c.started
        end = c.finished if c.finished is not None else _end(world, spec, task.started, c.created)
        task.updated, task.plan = end, Plan(None, None)  # no plan: data_amount is all it scanned
        if state == DLC_SUCCEEDED and "percentage" not in c.fields:
            task.percentage = 100
        if state == DLC_FAILED and "output_message" not in c.fields:
            task.output_message = "Job aborted due to stage failure"
    world.add_dlc(task)


def _add_live(world: World, spec: TaskSpec, c: _Copy, now: float) -> None:
    start = c.created if c.started is None else c.started
    end = start + DAY if c.finished is None else c.finished
    updated = c.created if c.updated is None else c.updated
    status = str(spec.status)
    world.add_live(
        LiveTask(str(c.task_id), c.created, updated, start, end, status=status, **c.fields)
    )


def _queued(world: World, spec: TaskSpec, waited: float, failed: bool) -> Plan:
    """The plan of a task still waiting: its wait (from creation) and its run."""
    return Plan(_draw(world, spec.wait, waited), _draw(world, spec.duration, 0.0), failed)


def _end(world: World, spec: TaskSpec, started: float | None, created: float) -> float:
    run = _draw(world, spec.duration, 0.0)
    return (started if started is not None else created) + (run or 0.0)
