"""The bodies of the notifications the emulated cloud sends, field for field as the official SDK
models them (3.1.19x), and which transition sends which.

- An MPS ``WorkflowTask``, ``EditMediaTask`` or ``ScheduleTask`` with a notify config: the shape
  of ``ParseNotificationResponse`` without its ``RequestId`` (reference §5.5: the callback body
  "equals the output of ParseNotification"): ``EventType`` (the task's type), the matching
  ``*TaskEvent`` rendered as ``DescribeTaskDetail`` renders the task at the transition
  (:mod:`taskwatch.emulator.mps_detail`; ``Status`` ``PROCESSING`` or ``FINISH``), the other
  events ``null``, ``SessionId``, ``SessionContext``, ``Timestamp`` and ``Sign``. Mode
  ``Finish`` sends the end only (an abort included), ``Change`` the start too.
- A ``LiveStreamProcessTask``: the shape of ``ParseLiveStreamProcessNotificationResponse``,
  ``NotificationType`` ``ProcessEof`` with ``ProcessEofInfo{ErrCode, Message}`` when it ends or
  is aborted (the emulator runs no AI or recording, so sends no other type), whatever the mode.
- A Live pull task with a ``CallbackUrl``: the pull-stream callback (Live documentation
  267/56208, "拉流转推事件通知"): ``appid`` (int), ``callback_event`` (``TaskStart`` or
  ``TaskExit``, only those in its ``CallbackEvents``), ``event_type`` 314, ``interface``
  ``general_callback``, ``product_name`` ``pullpush``, ``task_id``, ``source_urls``, ``to_url``,
  ``stream_id``, ``event_time`` and ``msg``, a JSON string (``task_start_time``; or
  ``task_exit_time``, ``code``, ``message``; times in milliseconds). As documented,
  ``event_time`` is a string of epoch seconds (``"1712893433"``) and ``source_urls`` a string
  holding the JSON list (the documented example shows it so).

``Timestamp`` is the send time on the emulator's clock plus :data:`EXPIRY` (an expiry, not an
event time); ``Sign = md5(f"{Timestamp}{NotifyKey}")``. [inferred] A paused or deleted pull task
exits with ``code`` 0 and ``message`` ``"task paused"``/``"task deleted"``; one reaching its
EndTime with ``code`` 0 and ``""``.

Not modelled: ``TaskAlarm``, ``VodSourceFile*`` and ``ResetTaskConfig`` callbacks (accepted in
``CallbackEvents``, never sent), ``BatchTask`` and ``ExtractBlindWatermark`` events.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from taskwatch.emulator import mps_detail
from taskwatch.emulator.notify_config import EXPIRY, sign
from taskwatch.emulator.world import LiveTask, MpsTask, Transition

__all__ = ["Notification", "build", "forged"]

_EVENT_KEY = {
    "WorkflowTask": "WorkflowTaskEvent",
    "EditMediaTask": "EditMediaTaskEvent",
    "ScheduleTask": "ScheduleTaskEvent",
}
_RENDER = {
    "WorkflowTask": mps_detail.workflow,
    "EditMediaTask": mps_detail.edit,
    "ScheduleTask": mps_detail.schedule,
}
_LIVE_RESULTS = (
    "AiReviewResultInfo", "AiRecognitionResultInfo", "AiAnalysisResultInfo",
    "AiQualityControlResultInfo", "LiveRecordResultInfo", "AiSmartSubtitleResultInfo",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Notification:
    """One notification to send: where, what, and when a replay of it counts as expired."""

    source: Literal["mps", "live"]
    url: str
    body: dict[str, Any]
    event: str
    """``EventType``, ``NotificationType`` or ``callback_event``."""
    task_id: str
    expires: float
    """The MPS ``Timestamp``; a Live callback's ``event_time`` + :data:`EXPIRY` [inferred]."""


def build(change: Transition, *, now: float, appid: str) -> Notification | None:
    """The notification ``change`` sends at ``now``, or None (it sends none)."""
    task = change.task
    if isinstance(task, MpsTask):
        return _mps(task, change, now)
    if isinstance(task, LiveTask) and change.event in task.callback_events:
        return _pull(task, change, appid)
    return None


def _mps(t: MpsTask, change: Transition, now: float) -> Notification | None:
    n = t.notify
    if n is None or change.event not in ("PROCESSING", "FINISH"):
        return None
    timestamp = int(now) + EXPIRY
    signed = {"Timestamp": timestamp, "Sign": sign(timestamp, n.key)}
    session = {"SessionId": t.session_id, "SessionContext": t.session_context}
    if t.task_type == "LiveStreamProcessTask":
        if change.event != "FINISH":
            return None
        body: dict[str, Any] = {
            "NotificationType": "ProcessEof",
            "TaskId": t.task_id,
            "ProcessEofInfo": {"ErrCode": t.err_code, "Message": t.message},
            **dict.fromkeys(_LIVE_RESULTS),
            **session,
            **signed,
        }
        return Notification("mps", n.url, body, "ProcessEof", t.task_id, timestamp)
    render = _RENDER.get(t.task_type)
    if render is None or (change.event == "PROCESSING" and n.mode != "Change"):
        return None
    body = {
        "EventType": t.task_type,
        "WorkflowTaskEvent": None,
        "EditMediaTaskEvent": None,
        **session,
        "ScheduleTaskEvent": None,
        **signed,
        "BatchTaskEvent": None,
        "ExtractBlindWatermarkTask": None,
    }
    body[_EVENT_KEY[t.task_type]] = render(t, change.at)
    return Notification("mps", n.url, body, t.task_type, t.task_id, timestamp)


def _pull(t: LiveTask, change: Transition, appid: str) -> Notification:
    at_ms = int(change.at * 1000)
    if change.event == "TaskStart":
        msg: dict[str, Any] = {"task_start_time": at_ms}
    else:
        why = "task paused" if t.status == "pause" else "task deleted"
        why = "" if change.at == t.end_time else why
        msg = {"task_exit_time": at_ms, "code": 0, "message": why}
    body = {
        "appid": int(appid),
        "callback_event": change.event,
        "event_type": 314,
        "interface": "general_callback",
        "msg": json.dumps(msg, separators=(",", ":")),
        "product_name": "pullpush",
        "source_urls": json.dumps(t.source_urls),
        "stream_id": t.stream,
        "task_id": t.task_id,
        "to_url": f"rtmp://{t.domain}/{t.app}/{t.stream}",
        "event_time": str(int(change.at)),
    }
    return Notification("live", t.callback_url, body, change.event, t.task_id, change.at + EXPIRY)


def forged(n: Notification, rng: random.Random) -> Notification:
    """``n`` as a forger would send it: an MPS body with a ``Sign`` no key gives (drawn from
    ``rng``); a Live callback to the same URL with its last path segment (where a receiver keeps
    its secret token) replaced."""
    if n.source == "mps":
        fake = f"{rng.getrandbits(128):032x}"
        return Notification(n.source, n.url, {**n.body, "Sign": fake}, n.event, n.task_id,
                            n.expires)  # fmt: skip
    parts = urlsplit(n.url)
    head, _, _ = parts.path.rpartition("/")
    url = urlunsplit(parts._replace(path=f"{head}/forged-{rng.getrandbits(64):016x}"))
    return Notification(n.source, url, n.body, n.event, n.task_id, n.expires)
