"""The media parts of an MPS ``DescribeTaskDetail`` answer: the input's ``MetaData``, the
Transcode results with their ``Progress`` and ``Output``, and an edit's output probe.

A task's input (:class:`~taskwatch.emulator.media.Media`) and outputs
(:class:`~taskwatch.emulator.media.Output`) come from its scenario entry. Progress is linear over
the task's planned processing time: output *i* needs ``done_at`` of it, and its result turns
``SUCCESS`` with its ``Output`` the moment that share has passed; before that ``Output`` is
``null``, as the real API shows a transcode that has written nothing yet (reference §5.2).

[inferred] A failed task fails the outputs it had not finished (``FAIL``, ``Progress`` 0, no
``Output``) and keeps those it had; a finished task that did not fail shows every output done.
A task processing without a planned end (``duration: null``) shows ``Progress`` 0 until it ends.
``Usage`` (SDK 3.1.195's ``MediaUsageItem``) counts the output's whole seconds; its input seconds
are the input's, rounded.

Not guaranteed: that ``Size`` and ``Bitrate`` match what a real encoder would write; they follow
:func:`taskwatch.emulator.media.bitrate`.
"""

from __future__ import annotations

from typing import Any

from taskwatch.emulator.media import (
    AUDIO_BITRATE,
    DEFAULT_OUTPUT,
    FPS,
    Media,
    Output,
    bitrate,
)
from taskwatch.emulator.world import MpsTask

__all__ = ["edit_output_meta", "input_meta", "outputs_of", "storage", "transcodes"]

_FAILED_CODE, _FAILED_MESSAGE = 70000, "Internal error: processing failed"


def storage() -> dict[str, Any]:
    cos = {"Bucket": "output-1250000000", "Region": "ap-guangzhou"}
    return {"Type": "COS", "CosOutputStorage": cos}


def outputs_of(t: MpsTask) -> tuple[Output, ...]:
    """The task's outputs: as its scenario entry lists them, else one 720p H.264 rendition."""
    return t.outputs if t.outputs is not None else (DEFAULT_OUTPUT,)


def _streams(width: int, height: int, codec: str, total: int) -> dict[str, Any]:
    video = {
        "Bitrate": total - AUDIO_BITRATE, "Height": height, "Width": width, "Codec": codec,
        "Fps": FPS, "HdrType": "", "ColorPrimaries": "", "ColorSpace": "", "ColorTransfer": "",
    }  # fmt: skip
    audio = {"Bitrate": AUDIO_BITRATE, "SamplingRate": 44100, "Codec": "aac", "Channel": 2}
    return {"VideoStreamSet": [video], "AudioStreamSet": [audio]}


def _probe(media: Media, width: int, height: int, codec: str) -> dict[str, Any]:
    """``MediaMetaData`` of a file of ``media``'s length with the given picture."""
    total = bitrate(width, height, codec)
    return {
        "Size": round(total * media.duration / 8), "Container": "mov,mp4,m4a,3gp,3g2,mj2",
        "Bitrate": total, "Height": height, "Width": width, "Duration": media.duration,
        "Rotate": 0, **_streams(width, height, codec, total),
        "VideoDuration": media.duration, "AudioDuration": media.duration,
    }  # fmt: skip


def input_meta(t: MpsTask) -> dict[str, Any] | None:
    """The input's probe; ``None`` before processing began (nothing has read it yet)."""
    if t.started is None:
        return None
    m = t.media
    return _probe(m, m.width, m.height, m.codec)


def edit_output_meta(t: MpsTask) -> dict[str, Any]:
    """The probe of an edit's output: the input's length, its (only) output's picture, or the
    input's picture when the entry lists no output."""
    m = t.media
    if t.outputs:
        (out, *_) = t.outputs
        return _probe(m, out.width, out.height, out.codec)
    return _probe(m, m.width, m.height, m.codec)


def _item(t: MpsTask, out: Output, n: int) -> dict[str, Any]:
    """One ``MediaTranscodeItem``: the file output ``n`` became (named after its template, and
    its place when another output of the task has the same template)."""
    total, seconds = bitrate(out.width, out.height, out.codec), t.media.duration
    same = [o.template for o in outputs_of(t)].count(out.template) > 1
    name = f"transcode_{out.template}_{n}" if same else f"transcode_{out.template}"
    return {
        "OutputStorage": storage(), "Path": f"/output/{t.task_id}/{name}.mp4",
        "Definition": out.template, "Bitrate": total, "Height": out.height, "Width": out.width,
        "Size": round(total * seconds / 8), "Duration": seconds, "Container": "mp4", "Md5": "",
        **_streams(out.width, out.height, out.codec, total), "CallBackExtInfo": "",
        "Usage": {"InputImageCount": 0, "InputSeconds": round(seconds),
                  "OutputSeconds": round(seconds), "TotalSeconds": round(seconds)},
    }  # fmt: skip


def _progress(t: MpsTask, out: Output, now: float) -> int:
    """Percent done of an output of a task still processing; 100 once its share has passed."""
    run = t.plan.run
    if t.started is None or not run:
        return 0
    need = run * out.done_at
    elapsed = now - t.started
    if out.done_at < 1.0 and elapsed >= need:
        return 100
    return min(99, int(100 * elapsed / need))


def _failed(t: MpsTask) -> bool:
    return t.sub_task_failed or t.err_code != 0


def _result(t: MpsTask, out: Output, n: int, now: float) -> dict[str, Any]:
    """One ``MediaProcessTaskTranscodeResult`` as it stands at ``now``."""
    result: dict[str, Any] = {
        "Status": "PROCESSING", "ErrCodeExt": "", "ErrCode": 0, "Message": "",
        "Input": {"Definition": out.template}, "Output": None, "Progress": 0,
    }  # fmt: skip
    if t.status != "FINISH":
        result["Progress"] = _progress(t, out, now)
        done = result["Progress"] == 100
    else:
        done = not _failed(t) or out.done_at < 1.0
    if done:
        result.update(Status="SUCCESS", Message="SUCCESS", Progress=100, Output=_item(t, out, n))
    elif t.status == "FINISH":
        result.update(
            Status="FAIL",
            ErrCodeExt="InternalError",
            ErrCode=t.err_code or _FAILED_CODE,
            Message=t.message or _FAILED_MESSAGE,
        )
    return result


def transcodes(t: MpsTask, now: float) -> list[dict[str, Any]]:
    """The Transcode results of a workflow or schedule task, one per output; none before
    processing began."""
    if t.started is None:
        return []
    return [_result(t, out, n, now) for n, out in enumerate(outputs_of(t))]
