"""The sections of a scenario that build things: task entries, generator entries and the
credentials, each read into its validated spec (:mod:`taskwatch.emulator.populate`).

Why apart from :mod:`taskwatch.emulator.scenario`: that module reads the whole document (and is
the public face); these readers hold the rules of each entry (which keys apply to which status,
which offsets must lie where), which is most of a scenario's checking. Every error is a
:class:`~taskwatch.emulator.scenario_values.ScenarioError` naming the file and the key path.

The ``metadata`` section (:func:`instance_role`) says which CAM role the emulated instance has.

An entry may name its task's ``id`` (a snapshot of an account keeps the ids it saw): such an
entry is one task (``count`` 1); that ids are unique within a product is checked over the whole
document by :func:`~taskwatch.emulator.scenario.parse_scenario`. Not checked: that an id has the
shape the real API gives its product (any non-empty string is taken as it is).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from taskwatch.durations import format_duration
from taskwatch.emulator.actions import DAY, Options
from taskwatch.emulator.metadata import DEFAULT_ROLE, MAX_LIFETIME, InstanceRole
from taskwatch.emulator.populate import EmulatorCredential, GeneratorSpec, TaskSpec
from taskwatch.emulator.scenario_notify import notify_of, read_callback_events
from taskwatch.emulator.scenario_usage import USAGE_KEYS, read_usage
from taskwatch.emulator.scenario_values import (
    DLC_FIELDS,
    GENERATOR_DURATION,
    GENERATOR_KEYS,
    LIVE_FIELDS,
    LIVE_MAX_WINDOW,
    LIVE_STATUSES,
    MPS_FIELDS,
    MPS_OUTCOME,
    MPS_STATUSES,
    TIMES,
    At,
    Product,
    Span,
    read_choice,
    read_dlc_state,
    read_duration,
    read_int,
    read_list,
    read_past,
    read_product_fields,
    read_ratio,
    read_span,
    read_table,
    read_text,
)
from taskwatch.emulator.world import DLC_INIT, DLC_QUEUED, DLC_RUNNING, DLC_WRITING, MPS_TYPES

__all__ = [
    "credentials",
    "generator",
    "instance_role",
    "live_task",
    "mps_or_dlc_task",
    "read_id",
]

_ROLE_NAME = re.compile(r"^[\w+=,.@-]{1,128}$")
"""A CAM role name [inferred from the role ARN's documented shape]; it is a URL path segment."""


def read_id(t: Mapping[str, Any], at: At) -> str | None:
    """The entry's explicit task id, if it names one; such an entry is one task."""
    if "id" not in t:
        return None
    task_id = read_text(t["id"], at / "id")
    if not task_id.strip():
        (at / "id").fail("an id must not be empty")
    if t.get("count", 1) != 1:
        (at / "count").fail("an entry with an id is one task: leave count out (or write 1)")
    return task_id


def mps_or_dlc_task(product: Product, raw: object, at: At) -> TaskSpec:
    kinds = MPS_FIELDS if product == "mps" else DLC_FIELDS
    extra = ["type", "aborted", "notify", *MPS_OUTCOME] if product == "mps" else []
    known = [*TIMES, "id", "status", "failure_ratio", *extra, *kinds, *USAGE_KEYS[product]]
    t = read_table(raw, at, known)
    fields = read_product_fields(t, at, kinds) | notify_of(t, at)
    if "err_code" in t:
        fields["err_code"] = read_int(t["err_code"], at / "err_code")
    if "message" in t:
        fields["message"] = read_text(t["message"], at / "message")
    status: str | int
    if product == "mps":
        status = read_choice(t.get("status", "WAITING"), at / "status", MPS_STATUSES)
        fields["task_type"] = read_choice(t.get("type", "WorkflowTask"), at / "type", MPS_TYPES)
        waiting, running = status == "WAITING", status == "PROCESSING"
        forever = fields["task_type"] == "LiveStreamProcessTask"
        fields.update(read_usage(product, t, at, fields["task_type"]))
    else:
        status = read_dlc_state(t.get("status", "queued"), at / "status")
        waiting, running = status in (DLC_QUEUED, DLC_INIT), status in (DLC_RUNNING, DLC_WRITING)
        forever = False
        fields.update(read_usage(product, t, at, fields.get("engine_type", "SparkSQL")))
    done = not (waiting or running)
    label = f"a {t.get('status', status)} task"
    for key, wrong in (("started", waiting), ("finished", not done), ("wait", not waiting)):
        if key in t and wrong:
            (at / key).fail(f"does not apply to {label}")
    if "finished" in t and "duration" in t:
        (at / "duration").fail("give either finished or duration, not both")
    created = read_duration(t.get("created", 0), at / "created", negative=True)
    if created > 0:
        (at / "created").fail("is after the start; tasks that appear later come from generators")
    started = read_past(t, "started", at, created, "created")
    begin = created if started is None else started
    finished = read_past(t, "finished", at, begin, "started (or created)")
    wait: Span | None = Span(0.0, 60.0, from_start=True)
    if "wait" in t:
        wait = read_span(t["wait"], at / "wait")  # None: waits until aborted or cancelled
        if wait is not None and created + wait.hi <= 0:
            (at / "wait").fail(
                f"every copy would have started before the start (created "
                f"{format_duration(created)}); make it longer"
            )
    duration: Span | None
    if "duration" in t:
        duration = read_span(t["duration"], at / "duration")
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
        ratio = read_ratio(t["failure_ratio"], at / "failure_ratio")
    aborted = t.get("aborted", False)
    if not isinstance(aborted, bool) or (aborted and not done):
        (at / "aborted").fail("true or false, and true only for a FINISH task")
    return TaskSpec(
        product, status, read_int(t.get("count", 1), at / "count", lo=0), created,
        read_duration(t.get("spread", 0), at / "spread"), started, finished,
        wait if waiting else None, duration, ratio, aborted, None, fields, read_id(t, at),
    )  # fmt: skip


def live_task(raw: object, at: At, options: Options) -> TaskSpec:
    known = ["count", "id", "created", "spread", "start", "end", "updated", "status", *LIVE_FIELDS]
    t = read_table(raw, at, known)
    fields = read_product_fields(t, at, LIVE_FIELDS)
    read_callback_events(fields, at)
    if "region" in fields:
        read_choice(fields["region"], at / "region", sorted(options.live_regions))
    status = read_choice(t.get("status", "enable"), at / "status", LIVE_STATUSES)
    count = read_int(t.get("count", 1), at / "count", lo=0)
    created = read_duration(t.get("created", 0), at / "created", negative=True)
    if created > 0:
        (at / "created").fail("is after the start; tasks that appear later come from generators")
    spread = read_duration(t.get("spread", 0), at / "spread")
    start = read_duration(t.get("start", created), at / "start", negative=True)
    end = read_duration(t.get("end", start + DAY), at / "end", negative=True)
    if not start < end < start + LIVE_MAX_WINDOW:
        (at / "end").fail("must be after start and less than 7 days after it")
    updated = None
    if "updated" in t:
        updated = read_duration(t["updated"], at / "updated", negative=True)
        if not created <= updated <= 0:
            (at / "updated").fail("must lie between created and the start (0)")
    return TaskSpec(
        "live", status, count, created, spread, start, end, updated=updated, fields=fields,
        task_id=read_id(t, at),
    )  # fmt: skip


def generator(product: Product, raw: object, at: At, options: Options) -> GeneratorSpec:
    kinds = {"mps": MPS_FIELDS, "dlc": DLC_FIELDS, "live": LIVE_FIELDS}[product]
    known = ["every", "after", "wait", "duration", "limit", *GENERATOR_KEYS[product], *kinds,
             *USAGE_KEYS[product], *(["notify"] if product == "mps" else [])]  # fmt: skip
    t = read_table(raw, at, known)
    if "every" not in t:
        (at / "every").fail("required: how often a task is created, e.g. 30s")
    template = read_product_fields(t, at, kinds) | notify_of(t, at)
    read_callback_events(template, at)
    if "region" in template:
        read_choice(template["region"], at / "region", sorted(options.live_regions))
    every = read_duration(t["every"], at / "every", positive=True)
    after = read_duration(t.get("after", every), at / "after", negative=True)
    wait = read_span(t.get("wait", [0, 0] if product == "live" else [0, "30s"]), at / "wait")
    if wait is None:
        (at / "wait").fail("a generated task needs a wait (use 0s for none)")
    live_type = product == "mps" and t.get("type") == "LiveStreamProcessTask"
    default = None if live_type else GENERATOR_DURATION[product]
    duration = read_span(t.get("duration", default), at / "duration")
    if product == "live" and (duration is None or duration.hi >= LIVE_MAX_WINDOW):
        (at / "duration").fail("a Live task runs from StartTime to EndTime, less than 7 days")
    if product == "mps":
        template["type"] = read_choice(t.get("type", "WorkflowTask"), at / "type", MPS_TYPES)
    kind = template["type"] if product == "mps" else template.get("engine_type", "SparkSQL")
    template.update(read_usage(product, t, at, str(kind)))
    if product == "live":
        template["status"] = read_choice(t.get("status", "enable"), at / "status", LIVE_STATUSES)
    ratio = read_ratio(t.get("failure_ratio", 0.0), at / "failure_ratio")
    limit = None if t.get("limit") is None else read_int(t["limit"], at / "limit", lo=0)
    return GeneratorSpec(product, every, after, wait, duration, ratio, limit, template)


def credentials(raw: object, at: At) -> tuple[EmulatorCredential, ...]:
    if not raw:
        at.fail("required: at least one {secret_id, secret_key} pair the emulator accepts")
    out: list[EmulatorCredential] = []
    for i, item in enumerate(read_list(raw, at)):
        t = read_table(item, at / i, ("secret_id", "secret_key", "token"))
        for key in ("secret_id", "secret_key"):
            if not t.get(key):
                (at / i / key).fail("required (a non-empty string)")
        sid = read_text(t["secret_id"], at / i / "secret_id")
        if any(c.secret_id == sid for c in out):
            (at / i / "secret_id").fail(f"{sid!r} is listed twice")
        token = None if t.get("token") is None else read_text(t["token"], at / i / "token")
        out.append(
            EmulatorCredential(sid, read_text(t["secret_key"], at / i / "secret_key"), token)
        )
    return tuple(out)


def instance_role(raw: object, at: At) -> InstanceRole:
    """The ``metadata`` section: ``role`` (a name, or ``null`` for an instance without a role)
    and ``lifetime`` (how long each served key lasts, whole seconds up to 12 h)."""
    t = read_table({} if raw is None else raw, at, ("role", "lifetime"))
    role: str | None = DEFAULT_ROLE
    if "role" in t and t["role"] is None:
        role = None
    elif "role" in t:
        role = read_text(t["role"], at / "role")
        if not _ROLE_NAME.match(role):
            (at / "role").fail(
                f"{role!r} is not a role name (1 to 128 of A-Z a-z 0-9 _ + = , . @ -)"
            )
    lifetime = InstanceRole().lifetime
    if "lifetime" in t:
        seconds = read_duration(t["lifetime"], at / "lifetime", positive=True)
        if seconds != int(seconds):
            (at / "lifetime").fail(f"{t['lifetime']!r}: must be whole seconds")
        if seconds > MAX_LIFETIME:
            (at / "lifetime").fail(f"{t['lifetime']!r}: at most 12h, STS's longest lifetime")
        lifetime = int(seconds)
    return InstanceRole(role, lifetime)
