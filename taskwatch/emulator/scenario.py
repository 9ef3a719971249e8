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

Where the parts live: this module reads the task and generator sections and the whole document
(and is the public face: the names below are imported from here); the vocabulary and the readers
of plain values are in :mod:`taskwatch.emulator.scenario_values`; the parsed model and the
populating of a world in :mod:`taskwatch.emulator.populate`.

Not guaranteed: that a world stays as written after the first ``tick()``. A copy whose drawn wait
or run has already elapsed at the start moves on at the first tick, with the timestamps it would
really have had. Nor is the emulator's clock set here: :meth:`Scenario.clock_for` shifts one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from taskwatch.durations import format_duration
from taskwatch.emulator.actions import DAY, Options
from taskwatch.emulator.faults import fault_from_mapping
from taskwatch.emulator.populate import (
    EmulatorCredential,
    GeneratorSpec,
    Scenario,
    TaskSpec,
)
from taskwatch.emulator.scenario_values import (
    DLC_FIELDS,
    GENERATOR_DURATION,
    GENERATOR_KEYS,
    LIVE_FIELDS,
    LIVE_MAX_WINDOW,
    LIVE_STATUSES,
    MPS_FIELDS,
    MPS_STATUSES,
    PRODUCTS,
    TIMES,
    TOP_KEYS,
    At,
    Product,
    ScenarioError,
    Span,
    read_choice,
    read_dlc_state,
    read_duration,
    read_fault,
    read_int,
    read_limits,
    read_list,
    read_options,
    read_past,
    read_product_fields,
    read_ratio,
    read_span,
    read_start,
    read_table,
    read_text,
)
from taskwatch.emulator.world import (
    DLC_INIT,
    DLC_QUEUED,
    DLC_RUNNING,
    DLC_WRITING,
    MPS_TYPES,
)

# The names callers import from here (the model lives in populate, the vocabulary in
# scenario_values); the module is the public face of scenarios.
__all__ = [
    "DEFAULT_CREDENTIAL",
    "DLC_FIELDS",
    "LIVE_FIELDS",
    "MPS_FIELDS",
    "TOP_KEYS",
    "EmulatorCredential",
    "GeneratorSpec",
    "Scenario",
    "ScenarioError",
    "Span",
    "TaskSpec",
    "default_scenario",
    "load_scenario",
    "loads_scenario",
    "parse_scenario",
]


def _mps_or_dlc_task(product: Product, raw: object, at: At) -> TaskSpec:
    kinds = MPS_FIELDS if product == "mps" else DLC_FIELDS
    extra = ["type", "aborted"] if product == "mps" else []
    t = read_table(raw, at, [*TIMES, "status", "failure_ratio", *extra, *kinds])
    fields = read_product_fields(t, at, kinds)
    status: str | int
    if product == "mps":
        status = read_choice(t.get("status", "WAITING"), at / "status", MPS_STATUSES)
        fields["task_type"] = read_choice(t.get("type", "WorkflowTask"), at / "type", MPS_TYPES)
        waiting, running = status == "WAITING", status == "PROCESSING"
        forever = fields["task_type"] == "LiveStreamProcessTask"
    else:
        status = read_dlc_state(t.get("status", "queued"), at / "status")
        waiting, running = status in (DLC_QUEUED, DLC_INIT), status in (DLC_RUNNING, DLC_WRITING)
        forever = False
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
        wait if waiting else None, duration, ratio, aborted, None, fields,
    )  # fmt: skip


def _live_task(raw: object, at: At, options: Options) -> TaskSpec:
    known = ["count", "created", "spread", "start", "end", "updated", "status", *LIVE_FIELDS]
    t = read_table(raw, at, known)
    fields = read_product_fields(t, at, LIVE_FIELDS)
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
        "live", status, count, created, spread, start, end, updated=updated, fields=fields
    )


def _generator(product: Product, raw: object, at: At, options: Options) -> GeneratorSpec:
    kinds = {"mps": MPS_FIELDS, "dlc": DLC_FIELDS, "live": LIVE_FIELDS}[product]
    known = ["every", "after", "wait", "duration", "limit", *GENERATOR_KEYS[product], *kinds]
    t = read_table(raw, at, known)
    if "every" not in t:
        (at / "every").fail("required: how often a task is created, e.g. 30s")
    template = read_product_fields(t, at, kinds)
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
    if product == "live":
        template["status"] = read_choice(t.get("status", "enable"), at / "status", LIVE_STATUSES)
    ratio = read_ratio(t.get("failure_ratio", 0.0), at / "failure_ratio")
    limit = None if t.get("limit") is None else read_int(t["limit"], at / "limit", lo=0)
    return GeneratorSpec(product, every, after, wait, duration, ratio, limit, template)


def _credentials(raw: object, at: At) -> tuple[EmulatorCredential, ...]:
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


def parse_scenario(mapping: object, *, source: str = "<string>") -> Scenario:
    """A scenario from its parsed document; :class:`ScenarioError` names file and key path."""
    root = At(source)
    top = read_table({} if mapping is None else mapping, root, TOP_KEYS)
    seed = read_int(top.get("seed", 0), root / "seed")
    appid = read_text(top.get("appid", "1250000000"), root / "appid")
    if not appid.isdigit():
        (root / "appid").fail(f"{appid!r}: an appid is digits")
    options = read_options(top.get("options") or {}, root / "options")
    tasks: list[TaskSpec] = []
    generators: list[GeneratorSpec] = []
    for product in PRODUCTS:
        at = root / product
        section = read_table(top.get(product) or {}, at, ("tasks", "generators"))
        for i, raw in enumerate(read_list(section.get("tasks"), at / "tasks")):
            here = at / "tasks" / i
            tasks.append(
                _live_task(raw, here, options)
                if product == "live"
                else _mps_or_dlc_task(product, raw, here)
            )
        for i, raw in enumerate(read_list(section.get("generators"), at / "generators")):
            generators.append(_generator(product, raw, at / "generators" / i, options))
    raw_faults = read_list(top.get("faults"), root / "faults")
    faults = [read_fault(raw, root / "faults" / i) for i, raw in enumerate(raw_faults)]
    for i, spec in enumerate(faults):
        try:
            fault_from_mapping(spec)
        except (ValueError, TypeError) as exc:
            (root / "faults" / i).fail(str(exc))
    return Scenario(
        credentials=_credentials(top.get("credentials"), root / "credentials"),
        seed=seed,
        start=read_start(top.get("start"), root / "start"),
        appid=appid,
        description=read_text(top.get("description", ""), root / "description"),
        options=options,
        limits=read_limits(top.get("limits") or {}, root / "limits"),
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
