"""The sub-object of an MPS ``DescribeTaskDetail`` answer, per task type: ``WorkflowTask``,
``ScheduleTask``, ``EditMediaTask`` and ``LiveStreamProcessTask``.

Each renderer takes a task and the world's current time and returns the object the real API puts
under the task's type. [inferred] A failed workflow or schedule reports the failure where the real
API does (reference §5.2): on its Transcode result (``FAIL``, ``ErrCode``/``ErrCodeExt``/
``Message``), the task-level ``ErrCode`` staying 0; EditMedia and live tasks have no sub-results,
their own ``ErrCode`` and ``Message`` carry it. ``MetaData`` is ``null`` until the input has been
probed (processing began). The media parts (``MetaData``, one Transcode result per output
with its ``Progress`` and ``Output``, an edit's output probe) are
:mod:`taskwatch.emulator.mps_media`'s; the action itself, and which renderer answers which type,
are :mod:`taskwatch.emulator.mps`'s.

``TaskNotifyConfig`` (:func:`notify_config`) echoes a task's notify configuration with every
field of SDK 3.1.19x's model, ``NotifyKey`` included, as the real API does (reference §12: the
key is a secret everywhere else); ``null`` for a task without one. A live stream processing task
echoes the same model (``DescribeTaskDetail`` has no ``LiveStreamTaskNotifyConfig``).

Not modelled: AI and other non-transcode sub-results (always ``[]``/``null``).
"""

from __future__ import annotations

from typing import Any

from taskwatch.emulator.mps_media import edit_output_meta, input_meta, storage, transcodes
from taskwatch.emulator.world import MpsTask

__all__ = ["edit", "live", "notify_config", "schedule", "workflow"]


def _head(t: MpsTask, err_code: int, message: str) -> dict[str, Any]:
    """The fields every sub-object starts with; its Status knows only PROCESSING and FINISH."""
    status = "FINISH" if t.status == "FINISH" else "PROCESSING"
    return {"TaskId": t.task_id, "Status": status, "ErrCode": err_code, "Message": message}


def _input(t: MpsTask) -> dict[str, Any]:
    url = t.input_url or f"https://media.example.com/input/{t.task_id}.mp4"
    return {"Type": "URL", "UrlInputInfo": {"Url": url}}


def workflow(t: MpsTask, now: float) -> dict[str, Any]:
    head = _head(t, 0, t.message if t.aborted else "")
    return {
        **head,
        "InputInfo": _input(t),
        "MetaData": input_meta(t),
        "MediaProcessResultSet": [
            {"Type": "Transcode", "TranscodeTask": transcode} for transcode in transcodes(t, now)
        ],
        "AiContentReviewResultSet": [],
        "AiAnalysisResultSet": [],
        "AiRecognitionResultSet": [],
        "AiQualityControlTaskResult": None,
        "SmartSubtitlesTaskResult": [],
        "SmartEraseTaskResult": None,
        "AiDubbingTaskResult": None,
    }


def schedule(t: MpsTask, now: float) -> dict[str, Any]:
    return {
        **_head(t, 0, t.message if t.aborted else ""),
        "InputInfo": _input(t),
        "MetaData": input_meta(t),
        "ActivityResultSet": [
            {"ActivityType": "action-trans", "ActivityResItem": {"TranscodeTask": transcode}}
            for transcode in transcodes(t, now)
        ],
    }


def edit(t: MpsTask, _now: float) -> dict[str, Any]:
    done = t.status == "FINISH" and not (t.sub_task_failed or t.err_code) and not t.aborted
    return {
        **_head(t, t.err_code, t.message),
        "Input": {
            "FileInfoSet": [
                {"InputInfo": _input(t), "StartTimeOffset": 0.0, "EndTimeOffset": 0.0, "Id": ""}
            ]
        },
        "Output": {
            "OutputStorage": storage(),
            "Path": f"/output/{t.task_id}/edit.mp4",
            "MetaData": edit_output_meta(t) if done else None,
        },
    }


def live(t: MpsTask, _now: float) -> dict[str, Any]:
    url = t.url or f"rtmp://live.example.com/live/{t.task_id}"
    return {**_head(t, t.err_code, t.message), "Url": url}


def notify_config(t: MpsTask) -> dict[str, Any] | None:
    """The task's ``TaskNotifyConfig``; the queue fields of a URL notification are empty."""
    n = t.notify
    if n is None:
        return None
    return {
        "NotifyType": n.type,
        "NotifyMode": n.mode,
        "NotifyUrl": n.url,
        "CmqModel": "",
        "CmqRegion": "",
        "TopicName": "",
        "QueueName": "",
        "AwsSQS": None,
        "NotifyKey": n.key,
    }
