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

Where the parts live: this module reads the whole document and writes one
(:func:`dumps_scenario`, for ``taskwatch snapshot``), and is the public face: the names below are
imported from here; the task, generator and credential entries are read in
:mod:`taskwatch.emulator.scenario_sections`; the vocabulary and the readers of plain values are in
:mod:`taskwatch.emulator.scenario_values`; the parsed model and the populating of a world in
:mod:`taskwatch.emulator.populate`, which :class:`Scenario` here extends with the instance's CAM
role (the ``metadata`` section, :class:`taskwatch.emulator.metadata.InstanceRole`) and the
notification faults (the ``notifications`` section, read in
:mod:`taskwatch.emulator.scenario_notify`; a task's ``notify`` and a Live task's
``callback_events`` are read with their entries).

Not guaranteed: that a world stays as written after the first ``tick()``. A copy whose drawn wait
or run has already elapsed at the start moves on at the first tick, with the timestamps it would
really have had. Nor is the emulator's clock set here: :meth:`Scenario.clock_for` shifts one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from taskwatch.emulator import populate, scenario_values
from taskwatch.emulator.faults import fault_from_mapping
from taskwatch.emulator.metadata import InstanceRole
from taskwatch.emulator.notify_config import NotifyFaults
from taskwatch.emulator.populate import EmulatorCredential, GeneratorSpec, TaskSpec
from taskwatch.emulator.scenario_notify import read_notifications
from taskwatch.emulator.scenario_sections import (
    credentials,
    generator,
    instance_role,
    live_task,
    mps_or_dlc_task,
)
from taskwatch.emulator.scenario_values import (
    DLC_FIELDS,
    LIVE_FIELDS,
    MPS_FIELDS,
    PRODUCTS,
    At,
    ScenarioError,
    Span,
    read_fault,
    read_int,
    read_limits,
    read_list,
    read_options,
    read_start,
    read_table,
    read_text,
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
    "InstanceRole",
    "Scenario",
    "ScenarioError",
    "Span",
    "TaskSpec",
    "default_scenario",
    "dumps_scenario",
    "instance_role_of",
    "load_scenario",
    "loads_scenario",
    "notify_faults_of",
    "parse_scenario",
]

TOP_KEYS = (*scenario_values.TOP_KEYS, "metadata", "notifications")
"""Every top-level key: the world's (:mod:`taskwatch.emulator.scenario_values`), the instance's
(``metadata``) and the notification faults (``notifications``), read here because
:class:`Scenario` carries them."""


@dataclass(frozen=True, slots=True)
class Scenario(populate.Scenario):
    """A parsed scenario (:class:`taskwatch.emulator.populate.Scenario`), the CAM role of the
    emulated instance (the ``metadata`` section) and what goes wrong with notifications (the
    ``notifications`` section), which the world does not hold."""

    metadata: InstanceRole = field(default_factory=InstanceRole)
    notifications: NotifyFaults = field(default_factory=NotifyFaults)


def instance_role_of(scenario: populate.Scenario) -> InstanceRole:
    """The instance role ``scenario`` asks for; the default one for a scenario built without
    this module (a world-only :class:`taskwatch.emulator.populate.Scenario`)."""
    return scenario.metadata if isinstance(scenario, Scenario) else InstanceRole()


def notify_faults_of(scenario: populate.Scenario) -> NotifyFaults:
    """The notification faults ``scenario`` asks for; none for a world-only scenario."""
    return scenario.notifications if isinstance(scenario, Scenario) else NotifyFaults()


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
        ids: dict[str, int] = {}
        for i, raw in enumerate(read_list(section.get("tasks"), at / "tasks")):
            here = at / "tasks" / i
            entry = (
                live_task(raw, here, options)
                if product == "live"
                else mps_or_dlc_task(product, raw, here)
            )
            if entry.task_id is not None:
                if entry.task_id in ids:
                    (here / "id").fail(
                        f"{entry.task_id!r} is the id of {product}.tasks[{ids[entry.task_id]}] too"
                    )
                ids[entry.task_id] = i
            tasks.append(entry)
        for i, raw in enumerate(read_list(section.get("generators"), at / "generators")):
            generators.append(generator(product, raw, at / "generators" / i, options))
    raw_faults = read_list(top.get("faults"), root / "faults")
    faults = [read_fault(raw, root / "faults" / i) for i, raw in enumerate(raw_faults)]
    for i, spec in enumerate(faults):
        try:
            fault_from_mapping(spec)
        except (ValueError, TypeError) as exc:
            (root / "faults" / i).fail(str(exc))
    return Scenario(
        credentials=credentials(top.get("credentials"), root / "credentials"),
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
        metadata=instance_role(top.get("metadata"), root / "metadata"),
        notifications=read_notifications(
            top.get("notifications"), root / "notifications", seed=seed
        ),
    )


def loads_scenario(text: str | bytes, *, source: str = "<string>") -> Scenario:
    """A scenario from YAML (or JSON) text."""
    try:
        document = yaml.load(text, Loader=_LOADER)  # noqa: S506 - a safe loader, C if built
    except yaml.YAMLError as exc:
        raise ScenarioError(source, "", f"not valid YAML: {exc}") from None
    return parse_scenario(document, source=source)


def dumps_scenario(document: Mapping[str, Any], *, header: str = "") -> str:
    """YAML text of a scenario ``document`` (plain data, as :func:`parse_scenario` reads it):
    ``header`` as comment lines, the top level in block style and each task or generator entry
    on one line in flow style, so a world of 10,000 tasks stays a file one can read and diff.
    The text is not checked here; :func:`loads_scenario` reads it back."""
    lines = [f"# {line}".rstrip() for line in header.splitlines()]
    for key, value in document.items():
        if key in PRODUCTS and isinstance(value, Mapping):
            lines.append(f"{key}:")
            for section, entries in value.items():
                lines.append(f"  {section}:" + ("" if entries else " []"))
                lines += [f"    - {_flow(entry)}" for entry in entries]
        else:
            lines.append(_dump({key: value}, flow=False).rstrip("\n"))
    return "\n".join(lines) + "\n"


_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
"""libyaml's safe loader and dumper when PyYAML was built with it: a snapshot of 10,000 tasks
reads in a fraction of the pure-Python time."""


def _dump(value: object, *, flow: bool) -> str:
    dumper = _DUMPER
    return yaml.dump(
        value, Dumper=dumper, default_flow_style=flow, sort_keys=False, width=1 << 30,
        allow_unicode=True,
    )  # fmt: skip


def _flow(entry: object) -> str:
    text = _dump(entry, flow=True)
    return text.removesuffix("\n...\n").strip()


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
