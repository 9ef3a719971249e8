"""Notification bodies as Tencent Cloud sends them, and the secrets to check them with.

MPS bodies are built with the official SDK's models (``ParseNotificationResponse``,
``ParseLiveStreamProcessNotificationResponse``) and serialized as the SDK serializes them (nulls
included), so a field name taskwatch reads that the SDK does not have would fail the tests.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from pydantic import SecretStr
from tencentcloud.mps.v20190612 import models

from taskwatch.settings.events import AccountEvents
from tests.canary import CANARY_SECRET_KEY

WALL = datetime(2026, 1, 1, tzinfo=UTC)
"""ManualClock's default wall time."""
NOW = WALL.timestamp()
KEY = CANARY_SECRET_KEY
"""An MPS NotifyKey: the suite's canary, so any leak of it anywhere fails the run."""
OLD_KEY = "old-notify-key-5b2c8e1f"
TOKEN = f"live-{CANARY_SECRET_KEY}"
"""A Live callback token that holds the canary too."""
WORKFLOW_ID = "2000000081-WorkflowTask-2ea2172665eea4aa4f4d6dbcd61b16a9tt7"
LIVE_PROCESS_ID = "2459149217-procedure-live-8f0e51da009t0"
PULL_ID = "63229997"


def events(*, mps: tuple[str, ...] = (KEY, OLD_KEY), live: str | None = TOKEN) -> AccountEvents:
    token = SecretStr(live) if live is not None else None
    return AccountEvents(mps_notify_keys=tuple(SecretStr(k) for k in mps), live_token=token)


def sign(timestamp: int, key: str) -> str:
    return hashlib.md5(f"{timestamp}{key}".encode(), usedforsecurity=False).hexdigest()


def _sdk_json(model: Any) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(model.to_json_string())
    return out


def mps_body(
    *,
    task_id: str = WORKFLOW_ID,
    event: str = "WorkflowTask",
    expires: float = NOW + 600,
    key: str = KEY,
    session: str = "",
) -> bytes:
    """A ``ParseNotification``-shaped body (WorkflowTask, EditMediaTask or ScheduleTask)."""
    note = models.ParseNotificationResponse()
    note.EventType = event
    note.SessionId = session
    note.SessionContext = ""
    note.Timestamp = int(expires)
    note.Sign = sign(int(expires), key)
    task = {
        "WorkflowTask": models.WorkflowTask,
        "EditMediaTask": models.EditMediaTask,
        "ScheduleTask": models.ScheduleTask,
    }[event]()
    task.TaskId = task_id
    task.Status = "FINISH"
    task.ErrCode = 0
    task.Message = ""
    setattr(note, f"{event}Event", task)
    return json.dumps(_sdk_json(note)).encode()


def live_stream_body(
    *,
    task_id: str = LIVE_PROCESS_ID,
    kind: str = "ProcessEof",
    expires: float = NOW + 600,
    key: str = KEY,
) -> bytes:
    """A ``ParseLiveStreamProcessNotification``-shaped body."""
    note = models.ParseLiveStreamProcessNotificationResponse()
    note.NotificationType = kind
    note.TaskId = task_id
    note.Timestamp = int(expires)
    note.Sign = sign(int(expires), key)
    if kind == "ProcessEof":
        info = models.LiveStreamProcessErrorInfo()
        info.ErrCode = 0
        info.Message = ""
        note.ProcessEofInfo = info
    return json.dumps(_sdk_json(note)).encode()


def live_body(
    *, task_id: str | int = PULL_ID, event: str = "TaskStart", event_time: float = NOW
) -> bytes:
    """A Live pull-stream callback (reference §12: the documented fields)."""
    msg = {"task_start_time": int(event_time), "code": 0, "message": ""}
    return json.dumps(
        {
            "event_type": 314,
            "callback_event": event,
            "task_id": task_id,
            "source_urls": ["https://media.example/a.mp4"],
            "to_url": "rtmp://push.example/live/s1",
            "stream_id": "s1",
            "event_time": int(event_time),
            "msg": json.dumps(msg),
        }
    ).encode()
