"""The transcoding outputs of an MPS task, read from its detail: what the price of each depends on.

Where each type keeps them (``DescribeTaskDetail``):

- ``WorkflowTask``: ``WorkflowTask.MediaProcessResultSet[]`` items of ``Type`` ``Transcode``
  (their ``TranscodeTask``); the input's ``WorkflowTask.MetaData``.
- ``ScheduleTask``: ``ScheduleTask.ActivityResultSet[].ActivityResItem.TranscodeTask``; the
  input's ``ScheduleTask.MetaData``.
- ``EditMediaTask``: one output, ``EditMediaTask.Output.MetaData``, and the task's ``Progress``
  when the API gives one; no input to fall back on.

Of each output: ``Progress`` (0-100; absent: 100 once ``SUCCESS``, else 0), ``Status``, and from
``Output``: ``Duration`` (seconds), ``Width``, ``Height``, ``VideoStreamSet[0].Codec``. While
``Output`` is null or partial (the API fills it when the output exists), the input's
``MetaData.Duration``, ``Width`` and ``Height`` and codec H.264 stand in, and the output says so
(``assumed``). An output with no video stream and no size is audio-only.

A failed output (``Status`` ``FAIL`` or an ``ErrCode``) is read as failed and nothing else.

Not guaranteed: that the input's size is the output's (a ladder of outputs is usually smaller);
an output whose duration is nowhere to be read is an error of the whole reading (``str``), never
a zero: an ``EditMediaTask`` has no estimate until its output's ``MetaData`` shows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from taskwatch.catalog.prices import normalise_codec
from taskwatch.cost.readings import at, mapping, number, sequence

__all__ = ["Output", "outputs_of"]

ASSUMED_CODEC = "h264"


@dataclass(frozen=True, slots=True)
class Output:
    """One transcoding output as far as its price goes."""

    duration: float
    """Seconds of media the finished output has."""
    progress: float
    """Percent done, 0-100."""
    width: int
    height: int
    codec: str | None
    """The video codec in the API's spelling; ``None``: audio-only."""
    assumed: tuple[str, ...] = ()
    """What was read from the input instead (``duration``, ``size``, ``codec``)."""
    failed: bool = False

    @property
    def minutes_done(self) -> float:
        return self.duration / 60.0 * self.progress / 100.0


def outputs_of(task_type: str, detail: Mapping[str, Any]) -> list[Output] | str:
    """The outputs of a task of ``task_type`` (``str``: why they cannot be read)."""
    sub = mapping(detail.get(task_type))
    if sub is None:
        return f"the detail has no {task_type}"
    if task_type == "EditMediaTask":
        item = {
            "Status": sub.get("Status"),
            "ErrCode": sub.get("ErrCode"),
            "Progress": sub.get("Progress"),
            "Output": at(sub, "Output", "MetaData"),
        }
        if item["Status"] == "FINISH" and item["Progress"] is None:
            item["Status"] = "SUCCESS"
        return _read([item], None)
    if task_type == "ScheduleTask":
        items = [
            at(a, "ActivityResItem", "TranscodeTask")
            for a in sequence(sub.get("ActivityResultSet"))
        ]
    else:
        items = [
            r.get("TranscodeTask")
            for r in sequence(sub.get("MediaProcessResultSet"))
            if isinstance(r, Mapping) and r.get("Type") == "Transcode"
        ]
    return _read([i for i in items if isinstance(i, Mapping)], mapping(sub.get("MetaData")))


def _read(items: list[Mapping[str, Any]], source: Mapping[str, Any] | None) -> list[Output] | str:
    found: list[Output] = []
    for i, item in enumerate(items):
        one = _one(item, source)
        if isinstance(one, str):
            return f"output {i + 1}: {one}"
        found.append(one)
    return found


def _one(item: Mapping[str, Any], source: Mapping[str, Any] | None) -> Output | str:
    status = item.get("Status")
    code = item.get("ErrCode")
    if status == "FAIL" or number(code) not in (None, 0.0) or _is_error_text(code):
        return Output(0.0, 0.0, 0, 0, None, (), failed=True)  # nothing of it is priced
    progress = number(item.get("Progress"))
    if progress is None:
        progress = 100.0 if status == "SUCCESS" else 0.0
    progress = min(progress, 100.0)
    out = mapping(item.get("Output")) or {}
    assumed: list[str] = []

    duration = _positive(out.get("Duration"))
    if duration is None:
        duration = _positive(at(source, "Duration"))
        assumed.append("duration")
    if duration is None:
        return "no duration (neither Output.Duration nor the input's MetaData.Duration)"
    size = _size(out)
    if size is None:
        if _audio(out):
            return Output(duration, progress, 0, 0, None, tuple(assumed))
        size = _size(source)
        assumed.append("size")
        if size is None:
            if _audio(source):
                return Output(duration, progress, 0, 0, None, tuple(assumed))
            return "no size (neither Output.Width/Height nor the input's MetaData)"
    codec = at(out, "VideoStreamSet", 0, "Codec")
    if not isinstance(codec, str) or not normalise_codec(codec):
        codec = ASSUMED_CODEC
        assumed.append("codec")
    width, height = size
    return Output(duration, progress, width, height, normalise_codec(codec), tuple(assumed))


def _positive(value: object) -> float | None:
    found = number(value)
    return found if found else None


def _size(record: Mapping[str, Any] | None) -> tuple[int, int] | None:
    width, height = _positive(at(record, "Width")), _positive(at(record, "Height"))
    if width is None or height is None:
        return None
    return int(width), int(height)


def _audio(record: Mapping[str, Any] | None) -> bool:
    """No video stream, and at least one audio stream or an audio duration."""
    if record is None or sequence(record.get("VideoStreamSet")):
        return False
    audio = record.get("AudioStreamSet")
    return bool(sequence(audio)) or _positive(record.get("AudioDuration")) is not None


def _is_error_text(code: object) -> bool:
    return isinstance(code, str) and code.strip() not in ("", "0") and number(code) is None
