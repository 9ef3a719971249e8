"""The sub-object of an MPS ``DescribeTaskDetail`` answer, per task type: ``WorkflowTask``,
``ScheduleTask``, ``EditMediaTask`` and ``LiveStreamProcessTask``.

Each renderer takes a task and the world's current time and returns the object the real API puts
under the task's type. [inferred] A failed workflow or schedule reports the failure where the real
API does (reference §5.2): on its Transcode result (``FAIL``, ``ErrCode``/``ErrCodeExt``/
``Message``), the task-level ``ErrCode`` staying 0; EditMedia and live tasks have no sub-results,
their own ``ErrCode`` and ``Message`` carry it. ``MetaData`` is ``null`` until the input has been
probed (processing began). The action itself, and which renderer answers which type, are
:mod:`taskwatch.emulator.mps`'s.

Not modelled: AI and other non-transcode sub-results (always ``[]``/``null``); the media values
(sizes, bitrates, paths) are plausible constants, not derived from any input.
"""

from __future__ import annotations

from typing import Any

from taskwatch.emulator.world import MpsTask

__all__ = ["edit", "live", "schedule", "workflow"]


def _head(t: MpsTask, err_code: int, message: str) -> dict[str, Any]:
    """The fields every sub-object starts with; its Status knows only PROCESSING and FINISH."""
    status = "FINISH" if t.status == "FINISH" else "PROCESSING"
    return {"TaskId": t.task_id, "Status": status, "ErrCode": err_code, "Message": message}


def _input(t: MpsTask) -> dict[str, Any]:
    url = t.input_url or f"https://media.example.com/input/{t.task_id}.mp4"
    return {"Type": "URL", "UrlInputInfo": {"Url": url}}


def _meta(t: MpsTask) -> dict[str, Any] | None:
    """A plausible probe of a 1080p input; ``None`` before processing began."""
    if t.started is None:
        return None
    return {
        "Size": 73_400_320, "Container": "mov,mp4,m4a,3gp,3g2,mj2", "Bitrate": 4_893_354,
        "Height": 1080, "Width": 1920, "Duration": 120.0, "Rotate": 0,
        "VideoStreamSet": [
            {"Bitrate": 4_763_000, "Height": 1080, "Width": 1920, "Codec": "h264", "Fps": 25}
        ],
        "AudioStreamSet": [
            {"Bitrate": 128_000, "SamplingRate": 44100, "Codec": "aac", "Channel": 2}
        ],
        "VideoDuration": 120.0, "AudioDuration": 120.0,
    }  # fmt: skip


def _failed(t: MpsTask) -> bool:
    return t.sub_task_failed or t.err_code != 0


def _transcode(t: MpsTask, now: float) -> dict[str, Any] | None:
    """The Transcode result as it stands: none before processing, then PROCESSING, then the end."""
    if t.started is None:
        return None
    out: dict[str, Any] = {
        "Status": "PROCESSING", "ErrCodeExt": "", "ErrCode": 0, "Message": "",
        "Input": {"Definition": 100030}, "Output": None, "Progress": 0,
    }  # fmt: skip
    if t.status != "FINISH":
        run = t.plan.run
        out["Progress"] = min(99, int(100 * (now - t.started) / run)) if run else 0
    elif _failed(t):
        out.update(
            Status="FAIL",
            ErrCodeExt="InternalError",
            ErrCode=t.err_code or 70000,
            Message=t.message or "Internal error: processing failed",
        )
    else:
        out.update(Status="SUCCESS", Message="SUCCESS", Progress=100, Output=_transcoded(t))
    return out


def _transcoded(t: MpsTask) -> dict[str, Any]:
    return {
        "OutputStorage": _storage(),
        "Path": f"/output/{t.task_id}/transcode_100030.mp4",
        "Definition": 100030, "Bitrate": 2_500_000, "Height": 720, "Width": 1280,
        "Size": 37_500_000, "Duration": 120.0, "Container": "mp4", "Md5": "",
        "AudioStreamSet": [], "VideoStreamSet": [],
    }  # fmt: skip


def _storage() -> dict[str, Any]:
    cos = {"Bucket": "output-1250000000", "Region": "ap-guangzhou"}
    return {"Type": "COS", "CosOutputStorage": cos}


def workflow(t: MpsTask, now: float) -> dict[str, Any]:
    head = _head(t, 0, t.message if t.aborted else "")
    transcode = _transcode(t, now)
    return {
        **head,
        "InputInfo": _input(t),
        "MetaData": _meta(t),
        "MediaProcessResultSet": (
            [] if transcode is None else [{"Type": "Transcode", "TranscodeTask": transcode}]
        ),
        "AiContentReviewResultSet": [],
        "AiAnalysisResultSet": [],
        "AiRecognitionResultSet": [],
        "AiQualityControlTaskResult": None,
        "SmartSubtitlesTaskResult": [],
        "SmartEraseTaskResult": None,
        "AiDubbingTaskResult": None,
    }


def schedule(t: MpsTask, now: float) -> dict[str, Any]:
    transcode = _transcode(t, now)
    return {
        **_head(t, 0, t.message if t.aborted else ""),
        "InputInfo": _input(t),
        "MetaData": _meta(t),
        "ActivityResultSet": (
            []
            if transcode is None
            else [{"ActivityType": "action-trans", "ActivityResItem": {"TranscodeTask": transcode}}]
        ),
    }


def edit(t: MpsTask, _now: float) -> dict[str, Any]:
    done = t.status == "FINISH" and not _failed(t) and not t.aborted
    return {
        **_head(t, t.err_code, t.message),
        "Input": {
            "FileInfoSet": [
                {"InputInfo": _input(t), "StartTimeOffset": 0.0, "EndTimeOffset": 0.0, "Id": ""}
            ]
        },
        "Output": {
            "OutputStorage": _storage(),
            "Path": f"/output/{t.task_id}/edit.mp4",
            "MetaData": _meta(t) if done else None,
        },
    }


def live(t: MpsTask, _now: float) -> dict[str, Any]:
    url = t.url or f"rtmp://live.example.com/live/{t.task_id}"
    return {**_head(t, t.err_code, t.message), "Url": url}
