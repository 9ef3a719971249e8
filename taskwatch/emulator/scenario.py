"""Scenarios: what the emulated cloud holds, whom it lets in, how fast, and what goes wrong.

A scenario is a YAML (or JSON) document: the credentials the emulator accepts, behaviour options,
rate-limit overrides, injected faults, and per product (``mps``, ``dlc``, ``live``) the tasks that
exist at the start and the generators that keep creating new ones. The format is documented for
operators in ``docs/emulator-scenarios.md``; examples live in ``config/emulator/``.

Parsing is strict, because a scenario that silently means something else wastes a rehearsal: every
unknown key is an error, and every error is a :class:`ScenarioError` naming the file and the key
path (``demo.yaml: mps.tasks[2].status: ...``). Times are offsets from the start (``-5h50m``);
:meth:`Scenario.populate` turns them into absolute times at the world's current clock reading,
drawing every random choice (ids, jitter, durations, failures) from the world's seeded generator,
so one scenario and one seed give one world.

Not guaranteed: that a world stays as written after the first ``tick()``. A copy whose drawn wait
or run has already elapsed at the start moves on at the first tick, with the timestamps it would
really have had. Nor is the emulator's clock set here: :meth:`Scenario.clock_for` shifts one.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal, NoReturn, cast

import yaml

from taskwatch.clock import Clock, SkewedClock
from taskwatch.durations import format_duration, parse_duration
from taskwatch.emulator.actions import DAY, Options
from taskwatch.emulator.faults import FAULT_KINDS, Fault, FaultPlan, fault_from_mapping
from taskwatch.emulator.world import (
    DLC_CANCELLED,
    DLC_FAILED,
    DLC_INIT,
    DLC_QUEUED,
    DLC_RUNNING,
    DLC_SUCCEEDED,
    DLC_WRITING,
    MPS_TYPES,
    DlcTask,
    Generator,
    LiveTask,
    MpsTask,
    Plan,
    World,
)

Product = Literal["mps", "dlc", "live"]
PRODUCTS: tuple[Product, ...] = ("mps", "dlc", "live")
ACTIONS: dict[str, tuple[str, ...]] = {
    "mps": ("DescribeTasks", "DescribeTaskDetail", "ManageTask"),
    "dlc": ("DescribeTasks", "CancelTask"),
    "live": (
        "DescribeLivePullStreamTasks", "DeleteLivePullStreamTask",
        "DescribeLivePullStreamTaskStatus",
    ),
}  # fmt: skip
"""The actions ``limits`` and ``faults`` may name, per product."""
ALL_ACTIONS = sorted({a for actions in ACTIONS.values() for a in actions})
MPS_STATUSES = ("WAITING", "PROCESSING", "FINISH")
DLC_STATES = {
    "queued": DLC_QUEUED, "init": DLC_INIT, "running": DLC_RUNNING, "writing": DLC_WRITING,
    "succeeded": DLC_SUCCEEDED, "failed": DLC_FAILED, "cancelled": DLC_CANCELLED,
}  # fmt: skip
LIVE_STATUSES = ("enable", "pause")
LIVE_SOURCE_TYPES = ("PullLivePushLive", "PullVodPushLive", "PullPicPushLive")
LIVE_MAX_WINDOW = 7 * DAY
"""EndTime − StartTime must stay under 7 days, as the real API requires."""

# Product fields a task or generator entry may set, and how each is read.
FieldKind = Literal["str", "strs", "int"]
MPS_FIELDS: dict[str, FieldKind] = {
    "url": "str", "session_id": "str", "session_context": "str", "ext_info": "str",
    "priority": "int", "sub_task_types": "strs", "input_url": "str",
}  # fmt: skip
DLC_FIELDS: dict[str, FieldKind] = {
    "sql": "str", "sql_type": "str", "task_type": "str", "engine": "str", "engine_type": "str",
    "database": "str", "operator": "str", "data_amount": "int", "percentage": "int",
    "output_message": "str", "resource_group": "str", "session_id": "str", "batch_id": "str",
}  # fmt: skip
LIVE_FIELDS: dict[str, FieldKind] = {
    "source_type": "str", "source_urls": "strs", "domain": "str", "app": "str", "stream": "str",
    "region": "str", "created_by": "str", "comment": "str", "callback_url": "str",
    "vod_loop_times": "int",
}  # fmt: skip
_FIELD_BOUNDS = {"priority": (-10, 10), "percentage": (0, 100), "data_amount": (0, None),
                 "vod_loop_times": (-1, None)}  # fmt: skip
_GENERATOR_KEYS = {"mps": ("type", "failure_ratio"), "dlc": ("failure_ratio",), "live": ("status",)}
_GENERATOR_DURATION = {"mps": ["1m", "10m"], "dlc": ["30s", "10m"], "live": ["1h", "6h"]}
_TIMES = ("count", "created", "spread", "started", "finished", "wait", "duration")
TOP_KEYS = ("description", "seed", "start", "appid", "credentials", "options", "limits",
            "mps", "dlc", "live", "faults")  # fmt: skip


class ScenarioError(ValueError):
    """A scenario that cannot be used; the message names the file, the key path and the reason."""

    def __init__(self, source: str, path: str, reason: str) -> None:
        super().__init__(f"{source}: {path or '(top level)'}: {reason}")
        self.source, self.path, self.reason = source, path, reason


@dataclass(frozen=True, slots=True)
class EmulatorCredential:
    """A key pair the emulator accepts; the secret and token never appear in a repr."""

    secret_id: str
    secret_key: str = field(repr=False)
    token: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class Span:
    """A length in seconds drawn uniformly from ``[lo, hi]``; ``from_start``: counted from the
    scenario start rather than from the task's own creation (or start)."""

    lo: float
    hi: float
    from_start: bool = False


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
        for spec in self.tasks:
            _populate(world, spec, now)
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


def _populate(world: World, spec: TaskSpec, now: float) -> None:
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
        )
        add(world, spec, copy, now)


def _add_mps(world: World, spec: TaskSpec, c: _Copy, now: float) -> None:
    task_type = c.fields.pop("task_type")
    task = MpsTask(world.mps_id(task_type), task_type, str(spec.status), c.created, **c.fields)
    if spec.status == "WAITING":
        task.plan = _queued(world, spec, now - c.created, c.failed)
    elif spec.status == "PROCESSING":
        task.started = c.created if c.started is None else c.started
        task.plan = Plan(0.0, _draw(world, spec.duration, now - task.started), c.failed)
    else:  # FINISH; an aborted task may never have started
        task.started = c.created if c.started is None and not spec.aborted else c.started
        end = c.finished if c.finished is not None else _end(world, spec, task.started, c.created)
        world.finish_mps(task, end, failed=c.failed, aborted=spec.aborted)
    world.add_mps(task)


def _add_dlc(world: World, spec: TaskSpec, c: _Copy, now: float) -> None:
    state = int(spec.status)
    task = DlcTask(world.dlc_id(), state, c.created, c.created, **c.fields)
    if state in (DLC_QUEUED, DLC_INIT):
        task.plan = _queued(world, spec, now - c.created, c.failed)
    elif state in (DLC_RUNNING, DLC_WRITING):
        task.started = task.updated = c.created if c.started is None else c.started
        task.plan = Plan(0.0, _draw(world, spec.duration, now - task.started), c.failed)
    else:  # terminal; a task cancelled in the queue never started
        task.started = c.created if c.started is None and state != DLC_CANCELLED else c.started
        end = c.finished if c.finished is not None else _end(world, spec, task.started, c.created)
        task.updated = end
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
        LiveTask(world.live_id(), c.created, updated, start, end, status=status, **c.fields)
    )


def _queued(world: World, spec: TaskSpec, waited: float, failed: bool) -> Plan:
    """The plan of a task still waiting: its wait (from creation) and its run."""
    return Plan(_draw(world, spec.wait, waited), _draw(world, spec.duration, 0.0), failed)


def _end(world: World, spec: TaskSpec, started: float | None, created: float) -> float:
    run = _draw(world, spec.duration, 0.0)
    return (started if started is not None else created) + (run or 0.0)


# --- parsing ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _At:
    """Where in the document a value sits: the source name and the key path."""

    source: str
    path: str = ""

    def __truediv__(self, key: str | int) -> _At:
        if isinstance(key, int):
            return _At(self.source, f"{self.path}[{key}]")
        return _At(self.source, f"{self.path}.{key}" if self.path else key)

    def fail(self, reason: str) -> NoReturn:
        raise ScenarioError(self.source, self.path, reason)


def _kind(value: object) -> str:
    return "null" if value is None else type(value).__name__


def _table(value: object, at: _At, known: Collection[str]) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        at.fail(f"expected a mapping, got {_kind(value)}")
    for key in value:
        if not isinstance(key, str) or key not in known:
            close = difflib.get_close_matches(str(key), list(known), n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            (at / str(key)).fail(f"unknown key ({hint}known: {', '.join(sorted(known))})")
    return dict(value)


def _list(value: object, at: _At) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        at.fail(f"expected a list, got {_kind(value)}")
    return value


def _dur(value: object, at: _At, *, negative: bool = False, positive: bool = False) -> float:
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        at.fail(f"expected a duration such as 30s, 5m or -2h, got {_kind(value)}")
    try:
        seconds = parse_duration(value, allow_negative=negative)
    except ValueError as exc:
        at.fail(str(exc))
    if positive and seconds <= 0:
        at.fail(f"{value!r}: must be longer than zero")
    return seconds


def _span(value: object, at: _At) -> Span | None:
    """A duration, ``[min, max]`` (drawn per task), or null."""
    if value is None:
        return None
    if isinstance(value, list):
        if len(value) != 2:
            at.fail("a range is [min, max]")
        lo, hi = _dur(value[0], at / 0), _dur(value[1], at / 1)
        if hi < lo:
            at.fail(f"range [{value[0]}, {value[1]}] has its maximum below its minimum")
        return Span(lo, hi)
    seconds = _dur(value, at)
    return Span(seconds, seconds)


def _int(value: object, at: _At, lo: int | None = None, hi: int | None = None) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        at.fail(f"expected an integer, got {_kind(value)}")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        at.fail(f"{value} is outside [{'' if lo is None else lo}, {'' if hi is None else hi}]")
    return value


def _number(value: object, at: _At) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool):
        at.fail(f"expected a number, got {_kind(value)}")
    return float(value)


def _ratio(value: object, at: _At) -> float:
    ratio = _number(value, at)
    if not 0.0 <= ratio <= 1.0:
        at.fail(f"{value} is not a ratio within [0, 1]")
    return ratio


def _rate(value: object, at: _At) -> float:
    rate = _number(value, at)
    if rate <= 0:
        at.fail(f"{value} calls per second: must be more than zero")
    return rate


def _text(value: object, at: _At) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        at.fail(f"expected a string, got {_kind(value)}")
    return str(value)


def _texts(value: object, at: _At) -> list[str]:
    return [_text(v, at / i) for i, v in enumerate(_list(value, at))]


def _choice(value: object, at: _At, choices: Collection[str]) -> str:
    if not isinstance(value, str) or value not in choices:
        at.fail(f"{value!r} is not one of {', '.join(choices)}")
    return value


def _product_fields(
    table: Mapping[str, Any], at: _At, kinds: Mapping[str, FieldKind]
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, kind in kinds.items():
        if key not in table:
            continue
        value, here = table[key], at / key
        if kind == "int":
            out[key] = _int(value, here, *_FIELD_BOUNDS.get(key, (None, None)))
        else:
            out[key] = _texts(value, here) if kind == "strs" else _text(value, here)
    if "source_type" in out:
        _choice(out["source_type"], at / "source_type", LIVE_SOURCE_TYPES)
    return out


def _dlc_state(value: object, at: _At) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value in DLC_STATES.values():
        return value
    if isinstance(value, str) and value in DLC_STATES:
        return DLC_STATES[value]
    names = ", ".join(f"{k} ({v})" for k, v in DLC_STATES.items())
    at.fail(f"{value!r} is not one of {names}")


def _past(t: Mapping[str, Any], key: str, at: _At, low: float, low_name: str) -> float | None:
    """The offset at ``key`` if given; it must lie between ``low`` and the start."""
    if key not in t:
        return None
    value = _dur(t[key], at / key, negative=True)
    if not low <= value <= 0:
        (at / key).fail(f"{t[key]!r} must lie between {low_name} and the start (0)")
    return value


def _mps_or_dlc_task(product: Product, raw: object, at: _At) -> TaskSpec:
    kinds = MPS_FIELDS if product == "mps" else DLC_FIELDS
    extra = ["type", "aborted"] if product == "mps" else []
    t = _table(raw, at, [*_TIMES, "status", "failure_ratio", *extra, *kinds])
    fields = _product_fields(t, at, kinds)
    status: str | int
    if product == "mps":
        status = _choice(t.get("status", "WAITING"), at / "status", MPS_STATUSES)
        fields["task_type"] = _choice(t.get("type", "WorkflowTask"), at / "type", MPS_TYPES)
        waiting, running = status == "WAITING", status == "PROCESSING"
        forever = fields["task_type"] == "LiveStreamProcessTask"
    else:
        status = _dlc_state(t.get("status", "queued"), at / "status")
        waiting, running = status in (DLC_QUEUED, DLC_INIT), status in (DLC_RUNNING, DLC_WRITING)
        forever = False
    done = not (waiting or running)
    label = f"a {t.get('status', status)} task"
    for key, wrong in (("started", waiting), ("finished", not done), ("wait", not waiting)):
        if key in t and wrong:
            (at / key).fail(f"does not apply to {label}")
    if "finished" in t and "duration" in t:
        (at / "duration").fail("give either finished or duration, not both")
    created = _dur(t.get("created", 0), at / "created", negative=True)
    if created > 0:
        (at / "created").fail("is after the start; tasks that appear later come from generators")
    started = _past(t, "started", at, created, "created")
    begin = created if started is None else started
    finished = _past(t, "finished", at, begin, "started (or created)")
    wait: Span | None = Span(0.0, 60.0, from_start=True)
    if "wait" in t:
        wait = _span(t["wait"], at / "wait")  # None: waits until aborted or cancelled
        if wait is not None and created + wait.hi <= 0:
            (at / "wait").fail(
                f"every copy would have started before the start (created "
                f"{format_duration(created)}); make it longer"
            )
    duration: Span | None
    if "duration" in t:
        duration = _span(t["duration"], at / "duration")
        if duration is None and done:
            (at / "duration").fail(f"{label} needs a finished time or a duration")
        if duration is not None and running and begin + duration.hi <= 0:
            (at / "duration").fail(
                f"every copy would have finished before the start (started "
                f"{format_duration(begin)}); make it longer or use a finished status"
            )
        if duration is not None and done and begin + duration.hi > 0:
            (at / "duration").fail(
                f"{label} would finish after the start (started {format_duration(begin)})"
            )
    elif forever and not done:
        duration = None
    elif running:
        duration = Span(0.0, 600.0, from_start=True)
    else:
        duration = Span(60.0, 600.0)
        if done and finished is None and begin + duration.hi > 0:
            (at / "finished").fail(
                f"required for {label} started {format_duration(begin)}: the default duration "
                "(1m to 10m) would end after the start"
            )
    ratio = 0.0
    if "failure_ratio" in t:
        if product == "dlc" and done:
            (at / "failure_ratio").fail(f"{label} has its outcome in its status")
        ratio = _ratio(t["failure_ratio"], at / "failure_ratio")
    aborted = t.get("aborted", False)
    if not isinstance(aborted, bool) or (aborted and not done):
        (at / "aborted").fail("true or false, and true only for a FINISH task")
    return TaskSpec(
        product, status, _int(t.get("count", 1), at / "count", lo=0), created,
        _dur(t.get("spread", 0), at / "spread"), started, finished,
        wait if waiting else None, duration, ratio, aborted, None, fields,
    )  # fmt: skip


def _live_task(raw: object, at: _At, options: Options) -> TaskSpec:
    known = ["count", "created", "spread", "start", "end", "updated", "status", *LIVE_FIELDS]
    t = _table(raw, at, known)
    fields = _product_fields(t, at, LIVE_FIELDS)
    if "region" in fields:
        _choice(fields["region"], at / "region", sorted(options.live_regions))
    status = _choice(t.get("status", "enable"), at / "status", LIVE_STATUSES)
    count = _int(t.get("count", 1), at / "count", lo=0)
    created = _dur(t.get("created", 0), at / "created", negative=True)
    if created > 0:
        (at / "created").fail("is after the start; tasks that appear later come from generators")
    spread = _dur(t.get("spread", 0), at / "spread")
    start = _dur(t.get("start", created), at / "start", negative=True)
    end = _dur(t.get("end", start + DAY), at / "end", negative=True)
    if not start < end < start + LIVE_MAX_WINDOW:
        (at / "end").fail("must be after start and less than 7 days after it")
    updated = None
    if "updated" in t:
        updated = _dur(t["updated"], at / "updated", negative=True)
        if not created <= updated <= 0:
            (at / "updated").fail("must lie between created and the start (0)")
    return TaskSpec(
        "live", status, count, created, spread, start, end, updated=updated, fields=fields
    )


def _generator(product: Product, raw: object, at: _At, options: Options) -> GeneratorSpec:
    kinds = {"mps": MPS_FIELDS, "dlc": DLC_FIELDS, "live": LIVE_FIELDS}[product]
    known = ["every", "after", "wait", "duration", "limit", *_GENERATOR_KEYS[product], *kinds]
    t = _table(raw, at, known)
    if "every" not in t:
        (at / "every").fail("required: how often a task is created, e.g. 30s")
    template = _product_fields(t, at, kinds)
    if "region" in template:
        _choice(template["region"], at / "region", sorted(options.live_regions))
    every = _dur(t["every"], at / "every", positive=True)
    after = _dur(t.get("after", every), at / "after", negative=True)
    wait = _span(t.get("wait", [0, 0] if product == "live" else [0, "30s"]), at / "wait")
    if wait is None:
        (at / "wait").fail("a generated task needs a wait (use 0s for none)")
    live_type = product == "mps" and t.get("type") == "LiveStreamProcessTask"
    default = None if live_type else _GENERATOR_DURATION[product]
    duration = _span(t.get("duration", default), at / "duration")
    if product == "live" and (duration is None or duration.hi >= LIVE_MAX_WINDOW):
        (at / "duration").fail("a Live task runs from StartTime to EndTime, less than 7 days")
    if product == "mps":
        template["type"] = _choice(t.get("type", "WorkflowTask"), at / "type", MPS_TYPES)
    if product == "live":
        template["status"] = _choice(t.get("status", "enable"), at / "status", LIVE_STATUSES)
    ratio = _ratio(t.get("failure_ratio", 0.0), at / "failure_ratio")
    limit = None if t.get("limit") is None else _int(t["limit"], at / "limit", lo=0)
    return GeneratorSpec(product, every, after, wait, duration, ratio, limit, template)


def _options(raw: object, at: _At) -> Options:
    specs = {f.name: str(f.type) for f in dataclasses.fields(Options)}
    t = _table(raw, at, specs)
    kwargs: dict[str, Any] = {}
    for key, value in t.items():
        kind, here = specs[key], at / key
        if kind == "float":
            kwargs[key] = _dur(value, here, positive=True)
        elif kind == "int":
            kwargs[key] = _int(value, here, lo=0)
        elif kind == "str":
            kwargs[key] = _text(value, here)
        elif kind.startswith("frozenset"):
            kwargs[key] = frozenset(_texts(value, here))
        else:
            here.fail(f"cannot be set from a scenario ({kind})")
    return Options(**kwargs)


def _limits(raw: object, at: _At) -> dict[tuple[str, str], float]:
    names = [f"{p}.{a}" for p, actions in ACTIONS.items() for a in actions]
    t = _table(raw, at, names)
    return {cast(tuple[str, str], tuple(k.split(".", 1))): _rate(v, at / k) for k, v in t.items()}


def _fault(raw: object, at: _At) -> dict[str, Any]:
    known = sorted(set(Fault.__dataclass_fields__) - {"seen", "fired"})
    t = _table(raw, at, known)
    if "kind" not in t:
        (at / "kind").fail(f"required: one of {', '.join(FAULT_KINDS)}")
    out: dict[str, Any] = {"kind": _choice(t["kind"], at / "kind", FAULT_KINDS)}
    if t.get("product") is not None:
        out["product"] = _choice(t["product"], at / "product", PRODUCTS)
    if t.get("action") is not None:
        actions = ACTIONS.get(out.get("product", ""), ALL_ACTIONS)
        out["action"] = _choice(t["action"], at / "action", actions)
    for key in ("code", "message", "field"):
        if key in t:
            out[key] = _text(t[key], at / key)
    for key in ("after", "until", "seconds"):
        if t.get(key) is not None:
            out[key] = _dur(t[key], at / key)
    if "probability" in t:
        out["probability"] = _ratio(t["probability"], at / "probability")
    if t.get("every") is not None:
        out["every"] = _int(t["every"], at / "every", lo=1)
    if t.get("count") is not None:
        out["count"] = _int(t["count"], at / "count", lo=0)
    if "status" in t:
        out["status"] = _int(t["status"], at / "status", lo=100, hi=599)
    return out


def _start(value: object, at: _At) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            at.fail(f"{value!r} is not an ISO 8601 time such as 2026-11-23T08:00:00Z")
    if not isinstance(value, datetime):
        at.fail(f"expected a time such as 2026-11-23T08:00:00Z, got {_kind(value)}"
                + (" (a date without a time)" if isinstance(value, date) else ""))  # fmt: skip
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _credentials(raw: object, at: _At) -> tuple[EmulatorCredential, ...]:
    if not raw:
        at.fail("required: at least one {secret_id, secret_key} pair the emulator accepts")
    out: list[EmulatorCredential] = []
    for i, item in enumerate(_list(raw, at)):
        t = _table(item, at / i, ("secret_id", "secret_key", "token"))
        for key in ("secret_id", "secret_key"):
            if not t.get(key):
                (at / i / key).fail("required (a non-empty string)")
        sid = _text(t["secret_id"], at / i / "secret_id")
        if any(c.secret_id == sid for c in out):
            (at / i / "secret_id").fail(f"{sid!r} is listed twice")
        token = None if t.get("token") is None else _text(t["token"], at / i / "token")
        out.append(EmulatorCredential(sid, _text(t["secret_key"], at / i / "secret_key"), token))
    return tuple(out)


def parse_scenario(mapping: object, *, source: str = "<string>") -> Scenario:
    """A scenario from its parsed document; :class:`ScenarioError` names file and key path."""
    root = _At(source)
    top = _table({} if mapping is None else mapping, root, TOP_KEYS)
    seed = _int(top.get("seed", 0), root / "seed")
    appid = _text(top.get("appid", "1250000000"), root / "appid")
    if not appid.isdigit():
        (root / "appid").fail(f"{appid!r}: an appid is digits")
    options = _options(top.get("options") or {}, root / "options")
    tasks: list[TaskSpec] = []
    generators: list[GeneratorSpec] = []
    for product in PRODUCTS:
        at = root / product
        section = _table(top.get(product) or {}, at, ("tasks", "generators"))
        for i, raw in enumerate(_list(section.get("tasks"), at / "tasks")):
            here = at / "tasks" / i
            tasks.append(
                _live_task(raw, here, options)
                if product == "live"
                else _mps_or_dlc_task(product, raw, here)
            )
        for i, raw in enumerate(_list(section.get("generators"), at / "generators")):
            generators.append(_generator(product, raw, at / "generators" / i, options))
    raw_faults = _list(top.get("faults"), root / "faults")
    faults = [_fault(raw, root / "faults" / i) for i, raw in enumerate(raw_faults)]
    for i, spec in enumerate(faults):
        try:
            fault_from_mapping(spec)
        except (ValueError, TypeError) as exc:
            (root / "faults" / i).fail(str(exc))
    return Scenario(
        credentials=_credentials(top.get("credentials"), root / "credentials"),
        seed=seed,
        start=_start(top.get("start"), root / "start"),
        appid=appid,
        description=_text(top.get("description", ""), root / "description"),
        options=options,
        limits=_limits(top.get("limits") or {}, root / "limits"),
        faults=tuple(faults),
        tasks=tuple(tasks),
        generators=tuple(generators),
        source=source,
    )


def loads_scenario(text: str | bytes, *, source: str = "<string>") -> Scenario:
    """A scenario from YAML (or JSON) text."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ScenarioError(source, "", f"not valid YAML: {exc}") from None
    return parse_scenario(document, source=source)


def load_scenario(path: str | Path) -> Scenario:
    """A scenario from a file; errors name the file as given."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(str(path), "", f"cannot read: {exc.strerror or exc}") from None
    return loads_scenario(text, source=str(path))


DEFAULT_CREDENTIAL = EmulatorCredential(
    "AKIDTASKWATCHEMULATOR000000000000000", "taskwatch-emulator-fake-secret-key-00000"
)
"""The key pair of :func:`default_scenario`: obviously fake, documented, never a real account's."""

_DEFAULT: dict[str, Any] = {
    "description": "taskwatch's built-in scenario: a small mixed world that keeps moving",
    "seed": 1,
    "mps": {
        "tasks": [
            {"type": "LiveStreamProcessTask", "status": "PROCESSING", "count": 2,
             "created": "-8h", "url": "rtmp://live.example.com/live/cam{n}"},
            {"type": "LiveStreamProcessTask", "status": "PROCESSING", "created": "-40m",
             "url": "rtmp://live.example.com/live/studio"},
            {"type": "WorkflowTask", "status": "WAITING", "count": 5, "created": "-1m",
             "wait": ["2m", "10m"]},
            {"type": "WorkflowTask", "status": "PROCESSING", "count": 3, "created": "-6m",
             "started": "-5m", "duration": ["10m", "30m"]},
            {"type": "WorkflowTask", "status": "FINISH", "count": 20, "created": "-2d",
             "spread": "1d", "duration": ["1m", "20m"], "failure_ratio": 0.1},
        ],
        "generators": [{"type": "WorkflowTask", "every": "30s", "failure_ratio": 0.05}],
    },
    "dlc": {
        "tasks": [
            {"status": "running", "created": "-26h", "duration": None,
             "sql": "SELECT * FROM logs.events WHERE dt >= '2020-01-01'"},
            {"status": "running", "count": 2, "created": "-5m", "duration": ["10m", "1h"]},
            {"status": "queued", "count": 2, "created": "-1m"},
            {"status": "succeeded", "count": 10, "created": "-1d", "spread": "12h"},
        ],
        "generators": [{"every": "1m", "failure_ratio": 0.05}],
    },
    "live": {
        "tasks": [
            {"count": 2, "created": "-3d", "start": "-2d", "end": "+1d",
             "stream": "relay{n}"},
            {"created": "-8d", "start": "-7d", "end": "-1d", "stream": "stale"},
        ],
    },
}  # fmt: skip


def default_scenario() -> Scenario:
    """What ``taskwatch emulator`` serves without ``--scenario``: one fake key, a small world."""
    raw = dict(_DEFAULT)
    raw["credentials"] = [
        {"secret_id": DEFAULT_CREDENTIAL.secret_id, "secret_key": DEFAULT_CREDENTIAL.secret_key}
    ]
    return parse_scenario(raw, source="<default scenario>")
