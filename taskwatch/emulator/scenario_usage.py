"""The scenario keys that say what a task consumes: an MPS task's input ``media`` and transcode
``outputs``; a DLC query's ``scan_rate``, compute units (``cu``) and Spark sizes
(``driver_size``, ``executor_size``, ``executors``).

Why apart: these keys are structured (a mapping, a list of mappings) or depend on another key of
the entry (the MPS type, the DLC engine type), which the flat product fields of
:mod:`taskwatch.emulator.scenario_values` are not. Task and generator entries both read them
(:mod:`taskwatch.emulator.scenario_sections`); the values become fields of
:class:`~taskwatch.emulator.world.MpsTask` and :class:`~taskwatch.emulator.world.DlcTask`.

Every error is a :class:`~taskwatch.emulator.scenario_values.ScenarioError` naming the file and
the key path. Not checked: that a frame size is one a real encoder accepts (any even or odd size
from 16 to 8192 lines is taken).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from taskwatch.emulator.dlc_usage import SIZES
from taskwatch.emulator.media import CODECS, DEFAULT_MEDIA, Media, Output
from taskwatch.emulator.scenario_values import (
    At,
    Product,
    read_choice,
    read_duration,
    read_int,
    read_list,
    read_number,
    read_table,
)

__all__ = ["DLC_USAGE", "LINES", "MPS_USAGE", "USAGE_KEYS", "read_usage"]

MPS_USAGE = ("media", "outputs")
DLC_USAGE = ("scan_rate", "cu", "driver_size", "executor_size", "executors")
SPARK_ONLY = ("driver_size", "executor_size", "executors")
USAGE_KEYS: dict[Product, tuple[str, ...]] = {"mps": MPS_USAGE, "dlc": DLC_USAGE, "live": ()}
"""The keys each product's task and generator entries take, besides its product fields."""
LINES = (16, 8192)
"""The frame sizes (width or height, in lines) a scenario takes."""
_LIVE = "LiveStreamProcessTask"


def read_usage(product: Product, t: Mapping[str, Any], at: At, kind: str) -> dict[str, Any]:
    """The task fields these keys of entry ``t`` set; ``kind`` is the entry's MPS task type or
    DLC engine type (``EngineTypeDetail``)."""
    if product == "mps":
        return _mps(t, at, kind)
    if product == "dlc":
        return _dlc(t, at, kind)
    return {}


def _mps(t: Mapping[str, Any], at: At, task_type: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in MPS_USAGE:
        if key in t and task_type == _LIVE:
            (at / key).fail(f"does not apply to a {_LIVE} (it processes a stream, not a file)")
    if "media" in t:
        out["media"] = _media(t["media"], at / "media")
    if "outputs" in t:
        outputs = _outputs(t["outputs"], at / "outputs")
        if task_type == "EditMediaTask":
            if len(outputs) > 1:
                (at / "outputs").fail("an EditMediaTask writes one file: list one output")
            if any(o.done_at != 1.0 for o in outputs):
                (at / "outputs" / 0 / "done_at").fail("an EditMediaTask shows no transcode steps")
        out["outputs"] = outputs
    return out


def _media(raw: object, at: At) -> Media:
    m = read_table(raw, at, ("duration", "width", "height", "codec"))
    d = DEFAULT_MEDIA
    duration = d.duration
    if "duration" in m:
        duration = read_duration(m["duration"], at / "duration", positive=True)
    return Media(
        duration=duration,
        width=read_int(m.get("width", d.width), at / "width", *LINES),
        height=read_int(m.get("height", d.height), at / "height", *LINES),
        codec=read_choice(m.get("codec", d.codec), at / "codec", CODECS),
    )


def _outputs(raw: object, at: At) -> tuple[Output, ...]:
    items = read_list(raw, at)
    if not items:
        at.fail("list at least one output (leave the key out for one 720p H.264 rendition)")
    outputs: list[Output] = []
    for i, item in enumerate(items):
        here = at / i
        o = read_table(item, here, ("codec", "width", "height", "definition", "done_at"))
        d = Output()
        definition = None
        if "definition" in o:
            definition = read_int(o["definition"], here / "definition", lo=1)
        done_at = d.done_at
        if "done_at" in o:
            done_at = read_number(o["done_at"], here / "done_at")
            if not 0.0 < done_at <= 1.0:
                (here / "done_at").fail(f"{o['done_at']} is not a share within (0, 1]")
        outputs.append(
            Output(
                codec=read_choice(o.get("codec", d.codec), here / "codec", CODECS),
                width=read_int(o.get("width", d.width), here / "width", *LINES),
                height=read_int(o.get("height", d.height), here / "height", *LINES),
                definition=definition,
                done_at=done_at,
            )
        )
    return tuple(outputs)


def _dlc(t: Mapping[str, Any], at: At, engine_type: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "scan_rate" in t:
        if "data_amount" in t:
            (at / "scan_rate").fail("give data_amount (bytes in all) or scan_rate, not both")
        out["scan_rate"] = read_int(t["scan_rate"], at / "scan_rate", lo=0)
    if "cu" in t:
        out["cu"] = read_int(t["cu"], at / "cu", lo=1)
    for key in SPARK_ONLY:
        if key in t and not engine_type.startswith("Spark"):
            (at / key).fail(f"applies to Spark engines only, not engine_type {engine_type!r}")
    for key in ("driver_size", "executor_size"):
        if key in t:
            out[key] = read_choice(t[key], at / key, tuple(SIZES))
    if "executors" in t:
        out["executors"] = read_int(t["executors"], at / "executors", lo=1)
    return out
