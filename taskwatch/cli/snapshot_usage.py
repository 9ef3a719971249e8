"""What an observed task consumed, as scenario keys: MPS ``media`` and ``outputs``, DLC
``data_amount``, ``cu`` and the Spark sizes, chosen so that an emulator built from the snapshot at
its moment answers with the same numbers (:mod:`taskwatch.cli.snapshot_entries` adds them to each
entry; the keys are :mod:`taskwatch.emulator.scenario_usage`'s).

Why solved rather than copied: the emulator derives what it shows from a plan. A transcode's
``Progress`` is the elapsed share of its output's part of the run, so each output gets the
``done_at`` that shows its progress against the run that shows the slowest one
(:func:`reference_progress`); a running query's ``DataAmount`` is its total times the elapsed share
of its run, so the total written is the smallest one that shows the amount seen.

Not carried, because no answer shows them: the codec and frame size of an output not written yet
(only its template id, ``Definition``), the bytes a queued query will scan, a ``scan_rate``. A
value the scenario format cannot hold (a codec it does not know, a frame size out of its bounds,
a Spark size other than small to xlarge) is left out, so the default applies.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from taskwatch.emulator.dlc_usage import SIZES
from taskwatch.emulator.media import CODECS, DEFAULT_MEDIA, Output
from taskwatch.emulator.scenario_usage import LINES

__all__ = ["dlc_usage", "mps_usage", "reference_progress", "transcode_results"]

_LINES = range(LINES[0], LINES[1] + 1)


def _int(value: object, default: int = 0) -> int:
    try:
        return int(str(value))
    except ValueError:
        return default


def transcode_results(sub: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """Every Transcode result of a workflow (``MediaProcessResultSet``) or schedule
    (``ActivityResultSet``), in order."""
    found: list[Mapping[str, Any]] = [
        item["TranscodeTask"]
        for item in sub.get("MediaProcessResultSet") or []
        if isinstance(item, Mapping) and isinstance(item.get("TranscodeTask"), Mapping)
    ]
    for item in sub.get("ActivityResultSet") or []:
        res = item.get("ActivityResItem") if isinstance(item, Mapping) else None
        if isinstance(res, Mapping) and isinstance(res.get("TranscodeTask"), Mapping):
            found.append(res["TranscodeTask"])
    return found


def reference_progress(sub: Mapping[str, Any]) -> int | None:
    """The progress the run time is solved for: the slowest output still processing (its
    ``done_at`` is then 1), else the first result's; ``None`` without a result."""
    results = transcode_results(sub)
    running = [_int(r.get("Progress")) for r in results if r.get("Status") == "PROCESSING"]
    if running:
        return min(running)
    return _int(results[0].get("Progress")) if results else None


def _picture(meta: object) -> dict[str, Any]:
    """``codec``, ``width`` and ``height`` of a probe or transcode output, where the format
    can hold them."""
    if not isinstance(meta, Mapping):
        return {}
    out: dict[str, Any] = {}
    streams = meta.get("VideoStreamSet") or []
    codec = streams[0].get("Codec") if streams and isinstance(streams[0], Mapping) else None
    if codec in CODECS:
        out["codec"] = codec
    for key in ("width", "height"):
        if (value := _int(meta.get(key.title()), -1)) in _LINES:
            out[key] = value
    return out


def _media(meta: object, picture: bool) -> dict[str, Any]:
    """The ``media`` mapping of an input probe, defaults left out."""
    if not isinstance(meta, Mapping):
        return {}
    found: dict[str, Any] = _picture(meta) if picture else {}
    duration = meta.get("Duration")
    if isinstance(duration, int | float) and not isinstance(duration, bool) and duration > 0:
        found["duration"] = float(duration)
    default = {"duration": DEFAULT_MEDIA.duration, "width": DEFAULT_MEDIA.width,
               "height": DEFAULT_MEDIA.height, "codec": DEFAULT_MEDIA.codec}  # fmt: skip
    return {k: v for k, v in found.items() if v != default[k]}


def _output(result: Mapping[str, Any], done_at: float) -> dict[str, Any]:
    """One ``outputs`` entry of a Transcode result, defaults left out."""
    picture = _picture(result.get("Output"))
    made = Output(**picture)
    entry = {k: v for k, v in picture.items() if v != getattr(Output(), k)}
    definition = _int((result.get("Input") or {}).get("Definition"), -1)
    if definition > 0 and definition != made.template:
        entry["definition"] = definition
    if done_at < 1.0:
        entry["done_at"] = done_at
    return entry


def mps_usage(task_type: str, status: str, sub: Mapping[str, Any], failed: bool) -> dict[str, Any]:
    """The ``media`` and ``outputs`` keys of an MPS task's entry (none for a live task)."""
    if task_type == "LiveStreamProcessTask":
        return {}
    keys: dict[str, Any] = {}
    if task_type == "EditMediaTask":
        meta = (sub.get("Output") or {}).get("MetaData")
        if media := _media(meta, picture=False):
            keys["media"] = media
        picture = _picture(meta)
        if picture and picture != {"codec": "h264", "width": 1920, "height": 1080}:
            keys["outputs"] = [picture]
        return keys
    if media := _media(sub.get("MetaData"), picture=True):
        keys["media"] = media
    results = transcode_results(sub)
    ref = reference_progress(sub)
    outputs: list[dict[str, Any]] = []
    for result in results:
        done_at = 1.0
        progress = _int(result.get("Progress"))
        if status == "PROCESSING" and ref is not None:
            if result.get("Status") == "SUCCESS":
                done_at = (ref + 0.25) / 100 if ref < 99 else 0.5
            elif progress > ref:
                done_at = (ref + 0.5) / (progress + 0.5)
        elif status == "FINISH" and failed and result.get("Status") == "SUCCESS":
            done_at = 0.5
        outputs.append(_output(result, done_at))
    if outputs and outputs != [{}]:
        keys["outputs"] = outputs
    return keys


def dlc_usage(r: Mapping[str, Any], running: bool, run: float | None) -> dict[str, Any]:
    """The ``data_amount``, ``cu`` and Spark size keys of a DLC query's entry; ``run`` is the
    running time its entry plans (``duration``), if any."""
    keys: dict[str, Any] = {}
    seen = max(0, _int(r.get("DataAmount")))
    used = _int(r.get("UsedTime"))
    amount = seen
    if running and run and used > 0 and seen > 0:
        share = min(1.0, used / 1000 / run)
        amount = math.ceil(seen / share)
        while int(amount * share) < seen:
            amount += 1
        while amount > 0 and int((amount - 1) * share) >= seen:
            amount -= 1
    if amount:
        keys["data_amount"] = amount
    spark = str(r.get("EngineTypeDetail") or "SparkSQL").startswith("Spark")
    driver, executor = r.get("DriverSize"), r.get("ExecutorSize")
    executors = _int(r.get("ExecutorNums"), 1)
    if spark:
        if driver in SIZES and driver != "small":
            keys["driver_size"] = driver
        if executor in SIZES and executor != "small":
            keys["executor_size"] = executor
        if executors > 1:
            keys["executors"] = executors
    own = SIZES.get(str(keys.get("driver_size", "small")), 1)
    own += keys.get("executors", 1) * SIZES.get(str(keys.get("executor_size", "small")), 1)
    default = own if spark else 1
    total = _int(r.get("JobTimeSum"))
    if used > 0 and total > 0 and total % used == 0 and total // used != default:
        keys["cu"] = total // used
    return keys
