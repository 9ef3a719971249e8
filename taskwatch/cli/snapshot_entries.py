"""One observed task as one scenario entry: what ``taskwatch snapshot`` writes for each task.

Each product's reader in :mod:`taskwatch.emulator.scenario_sections` says what an entry may hold;
this module fills it from the daemon's own observations (:class:`~taskwatch.models.Task`: the list
record in ``fields``, the MPS detail in ``detail``), keeping the id, the status, the times (as
offsets from the snapshot, :mod:`taskwatch.cli.snapshot_times`) and every product field the format
carries. A field equal to the reader's default is left out, so the file stays short; a value the
reader's default would not reproduce (a DLC query's percentage, a failed query's message) is
always written.

Secrets: every string goes through :func:`taskwatch.logs.scrub`, the one scrubbing function (keys
that say what they are, ``NotifyKey=…``, signed-URL parameters, a URL's ``user:password@``, every
secret taskwatch loaded). Structures the format does not carry (MPS ``TaskNotifyConfig``, an S3
input's keys) are never read, so nothing of them is written. A Live task's ``CallbackUrl`` is not
written either: the emulator calls the URLs its tasks name, and a rehearsal or a demo of a
snapshot must not call a real webhook.

A task the format cannot hold (a status, type, source type or region the emulator does not know,
Live times the API would refuse) is skipped with a reason: :class:`Skip`. Not carried, because no
answer shows them: DLC ``session_id``/``batch_id`` (filters only), a waiting task's remaining wait,
whether a running task will fail. What a task consumes (MPS media and outputs, DLC bytes and
compute) is solved by :mod:`taskwatch.cli.snapshot_usage`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from taskwatch.cli.snapshot_times import DlcRecord, dlc_times, offset, run_for_progress
from taskwatch.cli.snapshot_usage import dlc_usage, mps_usage, reference_progress
from taskwatch.durations import parse_duration
from taskwatch.emulator.actions import Options
from taskwatch.emulator.scenario_values import (
    DLC_STATES,
    LIVE_SOURCE_TYPES,
    LIVE_STATUSES,
    MPS_STATUSES,
)
from taskwatch.emulator.world import MPS_TYPES, DlcTask, LiveTask, MpsTask
from taskwatch.errors import TaskwatchError
from taskwatch.logs import scrub
from taskwatch.models import Result, Task
from taskwatch.products.dlc import decode_sql
from taskwatch.products.mps import sub_object
from taskwatch.timefmt import parse_epoch_ms, parse_iso

__all__ = ["Skip", "dlc_entry", "live_entry", "mps_entry"]

LIVE_MAX_WINDOW = 7 * 86400.0


class Skip(TaskwatchError):
    """The task cannot be written as an entry; the text says why (counted in the header)."""


def _defaults(cls: type) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            out[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            out[f.name] = f.default_factory()
    return out


_MPS_DEFAULTS, _DLC_DEFAULTS, _LIVE_DEFAULTS = map(_defaults, (MpsTask, DlcTask, LiveTask))


def _clean(value: object) -> Any:
    """A product field as written: strings scrubbed (lists of them too), integers kept."""
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, list):
        return [scrub(str(v)) for v in value]
    return value


def _fields(
    entry: dict[str, Any], values: Mapping[str, object], defaults: Mapping[str, Any]
) -> None:
    for key, value in values.items():
        if value is None:
            continue
        value = _clean(value)
        if value != defaults.get(key):
            entry[key] = value


def _int(value: object, default: int = 0) -> int:
    try:
        return int(str(value))
    except ValueError:
        return default


def _at(ts: float | None, now: float) -> float | None:
    return None if ts is None else ts - now


# --- MPS ----------------------------------------------------------------------------------------


def _transcode(sub: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The first transcode result of a workflow (``MediaProcessResultSet``) or schedule."""
    for item in sub.get("MediaProcessResultSet") or []:
        if isinstance(item, Mapping) and isinstance(item.get("TranscodeTask"), Mapping):
            return item["TranscodeTask"]  # type: ignore[no-any-return]
    for item in sub.get("ActivityResultSet") or []:
        res = item.get("ActivityResItem") if isinstance(item, Mapping) else None
        if isinstance(res, Mapping) and isinstance(res.get("TranscodeTask"), Mapping):
            return res["TranscodeTask"]  # type: ignore[no-any-return]
    return None


def _input_url(task_type: str, sub: Mapping[str, Any]) -> object:
    info = sub.get("InputInfo")
    if task_type == "EditMediaTask":
        files = (sub.get("Input") or {}).get("FileInfoSet") or [{}]
        info = files[0].get("InputInfo") if isinstance(files[0], Mapping) else None
    if isinstance(info, Mapping) and isinstance(info.get("UrlInputInfo"), Mapping):
        return info["UrlInputInfo"].get("Url")
    return None  # COS or S3 input: not carried (an S3 input holds keys)


def mps_entry(t: Task, now: float) -> dict[str, Any]:
    """The entry of one MPS task observed at ``now`` (epoch seconds, whole)."""
    if t.status not in MPS_STATUSES:
        raise Skip(f"status {t.status!r}")
    if t.type not in MPS_TYPES:
        raise Skip(f"type {t.type!r}")
    if t.created is None:
        raise Skip("no CreateTime")
    entry: dict[str, Any] = {"id": t.id, "type": t.type, "status": t.status}
    entry["created"] = offset(t.created - now)
    d = t.detail or {}
    sub = sub_object(d) or {}
    transcode = _transcode(sub)
    progress = reference_progress(sub)
    if t.status != "WAITING":
        started = t.started
        if started is not None or t.status == "PROCESSING":
            entry["started"] = offset(max(started or t.created, t.created) - now)
    if t.status == "PROCESSING" and progress is not None:
        run = run_for_progress(now - (t.started or t.created), progress)
        if run is not None:
            entry["duration"] = offset(run)
    if t.status == "FINISH":
        begin = t.started if t.started is not None else t.created
        entry["finished"] = offset(max(t.finished or begin, begin) - now)
        if t.result is Result.FAILED:
            entry["failure_ratio"] = 1
        if t.started is None or _aborted(t.type, sub, t.result):
            entry["aborted"] = True
    shown = transcode if transcode is not None and transcode.get("Status") == "FAIL" else sub
    if shown and t.status != "WAITING":
        if code := _int(shown.get("ErrCode")):
            entry["err_code"] = code
        if message := str(shown.get("Message") or ""):
            entry["message"] = scrub(message)
    values: dict[str, object] = {
        "session_id": d.get("SessionId"),
        "session_context": d.get("SessionContext"),
        "ext_info": d.get("ExtInfo"),
        "priority": _int(d.get("TasksPriority")) if "TasksPriority" in d else None,
        "sub_task_types": list(t.fields.get("SubTaskTypes") or []),
        "input_url": _input_url(t.type, sub) if t.type != "LiveStreamProcessTask" else None,
        "url": sub.get("Url") if t.type == "LiveStreamProcessTask" else None,
    }
    _fields(entry, values, _MPS_DEFAULTS)
    entry.update(mps_usage(t.type, t.status, sub, t.result is Result.FAILED))
    return entry


def _aborted(task_type: str, sub: Mapping[str, Any], result: Result | None) -> bool:
    """Whether a FINISH task that began processing was aborted, as its detail shows it: a
    workflow or schedule carries a message only then; an edit that did not fail has no output
    probe then. A live task shows no sign (and nothing depends on it)."""
    if task_type in ("WorkflowTask", "ScheduleTask"):
        return bool(sub.get("Message"))
    if task_type == "EditMediaTask" and result is not Result.FAILED:
        return (sub.get("Output") or {}).get("MetaData") is None
    return False


# --- DLC ----------------------------------------------------------------------------------------

_DONE = frozenset({"succeeded", "failed", "cancelled"})
_DLC_FIELDS = {
    "sql_type": "SQLType", "task_type": "TaskType", "engine": "DataEngineName",
    "engine_type": "EngineTypeDetail", "database": "DatabaseName", "operator": "OperateUin",
    "resource_group": "ResourceGroupName",
}  # fmt: skip


def dlc_entry(t: Task, now: float) -> dict[str, Any]:
    """The entry of one DLC query (its list record: DLC has no detail call)."""
    if t.status not in DLC_STATES:
        raise Skip(f"state {t.status!r}")
    r = t.fields
    created = parse_epoch_ms(r.get("CreateTime"))
    if created is None:
        raise Skip("no CreateTime")
    base = round(now * 1000)
    common = r.get("CommonMetrics")
    metrics: Mapping[str, Any] = common if isinstance(common, Mapping) else {}
    record = DlcRecord(
        created=_int(r.get("CreateTime")) - base,
        updated=_int(r.get("UpdateTime"), _int(r.get("CreateTime"))) - base,
        total=_int(r.get("TotalTime")),
        used=_int(r.get("UsedTime")),
        queued=int(float(metrics.get("QueueTime") or 0)),
        running=t.status not in _DONE,
        pending=t.status in ("queued", "init"),
        cancelled=t.status == "cancelled",
    )
    times = dlc_times(record)
    entry: dict[str, Any] = {"id": t.id, "status": t.status, "created": offset(times.created)}
    if times.started is not None:
        entry["started"] = offset(times.started)
    if times.finished is not None:
        entry["finished"] = offset(times.finished)
    percent = _int(r.get("Percentage"))
    if t.status in ("running", "writing") and times.started is not None:
        run = run_for_progress(-times.started, percent)
        if run is not None:
            entry["duration"] = offset(run)
    values: dict[str, object] = {k: r.get(api) for k, api in _DLC_FIELDS.items()}
    values["sql"] = decode_sql(r.get("SQL"))
    _fields(entry, values, _DLC_DEFAULTS)
    run = parse_duration(entry["duration"]) if "duration" in entry else None
    entry.update(dlc_usage(r, t.status not in _DONE, run))
    if t.status in _DONE:  # the reader's defaults depend on the state: say it outright
        entry["percentage"] = max(0, min(100, percent))
        if t.status == "failed" or r.get("OutputMessage"):
            entry["output_message"] = scrub(str(r.get("OutputMessage") or ""))
    elif r.get("OutputMessage"):
        entry["output_message"] = scrub(str(r["OutputMessage"]))
    return entry


# --- Live ---------------------------------------------------------------------------------------

_REGIONS = Options().live_regions
_LIVE_FIELDS = {
    "source_type": "SourceType", "source_urls": "SourceUrls", "domain": "DomainName",
    "app": "AppName", "stream": "StreamName", "region": "Region", "created_by": "CreateBy",
    "comment": "Comment",
}  # fmt: skip


def live_entry(t: Task, now: float) -> dict[str, Any]:
    """The entry of one Live pull-stream task (its list record)."""
    r = t.fields
    if t.status not in LIVE_STATUSES:
        raise Skip(f"status {t.status!r}")
    if r.get("SourceType") not in LIVE_SOURCE_TYPES:
        raise Skip(f"source type {r.get('SourceType')!r}")
    if r.get("Region", "ap-guangzhou") not in _REGIONS:
        raise Skip(f"region {r.get('Region')!r}")
    created, start, end = (parse_iso(r.get(k)) for k in ("CreateTime", "StartTime", "EndTime"))
    if created is None or start is None or end is None or not start < end < start + LIVE_MAX_WINDOW:
        raise Skip("StartTime/EndTime the API would refuse")
    created = min(created, now)
    updated = min(max(parse_iso(r.get("UpdateTime")) or created, created), now)
    entry: dict[str, Any] = {"id": t.id, "status": t.status, "created": offset(created - now)}
    if updated != created:
        entry["updated"] = offset(updated - now)
    entry["start"], entry["end"] = offset(start - now), offset(end - now)
    values: dict[str, object] = {k: r.get(api) for k, api in _LIVE_FIELDS.items()}
    values["vod_loop_times"] = _int(r.get("VodLoopTimes"), -1)
    _fields(entry, values, _LIVE_DEFAULTS)
    return entry
