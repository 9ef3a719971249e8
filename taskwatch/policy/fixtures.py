"""Task fixtures of policy tests (``taskwatch test``): a task written in YAML becomes the
:class:`~taskwatch.models.Task` an adapter would have built, so that the engine judges it exactly
as it judges a listed task.

A fixture names what a policy can read: ``product``, ``type``, ``status`` (the product's own
vocabulary, checked against the catalog), optionally ``phase``, ``account``, ``region``, ``id``,
the times ``created``, ``started`` and ``finished``, the list record ``fields`` and the detail
record ``detail``. Times are offsets from the case's ``now`` (``-7h``, ``-1d2h``; a bare number is
seconds) or absolute ISO 8601 timestamps.

What is filled in, as the adapters would: the type's canonical spelling (MPS ``LiveProcessTask``
→ ``LiveStreamProcessTask``); the phase from the status when the status alone decides it (Live's
``enable`` does not: its time window does, so a Live fixture names its ``phase``); ``started`` is
``created`` for a running task that gives none (it started at once), so that ``running_for``
exists; the region ``global`` for a product whose ids are global (MPS), ``ap-guangzhou`` otherwise.

Not filled in: ``fields`` and ``detail`` are exactly what the fixture writes (``fields`` is not
derived from the status, type or times, and ``detail`` stays absent unless given), so a filter on
an API field sees only what the test wrote, as it would see only what the API returned.

Pure: no clock (``now`` is passed in), no I/O. Every problem is a :class:`FixtureError` naming the
key under the fixture.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from taskwatch import catalog
from taskwatch.durations import parse_duration
from taskwatch.models import Phase, Task

__all__ = ["KEYS", "FixtureError", "build_task", "instant"]

KEYS = (
    "product",
    "type",
    "status",
    "phase",
    "account",
    "region",
    "id",
    "created",
    "started",
    "finished",
    "fields",
    "detail",
)
"""Every key a fixture may have."""
TIMES = ("created", "started", "finished")
ACCOUNT = "test"
REGION = "ap-guangzhou"


class FixtureError(ValueError):
    """A fixture cannot be built: ``key`` (under the fixture) and ``reason`` say why."""

    def __init__(self, reason: str, key: str = "") -> None:
        self.reason = reason
        self.key = key
        super().__init__(f"{key}: {reason}" if key else reason)


def instant(value: object, *, now: float, key: str) -> float:
    """UTC epoch seconds of ``value``: an offset from ``now`` (``-7h``, ``90``) or an ISO 8601
    timestamp with a zone (``2026-01-01T00:00:00Z``; YAML may have read it as a datetime)."""
    if isinstance(value, dt.datetime):
        return _aware(value, key).timestamp()
    if isinstance(value, str) and len(value) >= 10 and value[:4].isdigit() and value[4] == "-":
        try:
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise FixtureError(f"{value[:40]!r} is not an ISO 8601 timestamp", key) from None
        return _aware(parsed, key).timestamp()
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise FixtureError(
            "a time is an offset from now (e.g. -7h) or an ISO 8601 timestamp, "
            f"not a {type(value).__name__}",
            key,
        )
    try:
        return now + parse_duration(value, allow_negative=True)
    except ValueError as exc:
        raise FixtureError(f"{exc}; or an ISO 8601 timestamp", key) from None


def _aware(value: dt.datetime, key: str) -> dt.datetime:
    if value.tzinfo is None:
        raise FixtureError("a timestamp needs its zone (e.g. 2026-01-01T00:00:00Z)", key)
    return value


def build_task(raw: object, *, now: float, default_id: str) -> Task:
    """The task ``raw`` describes, its offsets taken from ``now`` (UTC epoch seconds)."""
    if not isinstance(raw, Mapping):
        raise FixtureError(f"a task is a mapping of keys, not a {type(raw).__name__}")
    unknown = [str(k) for k in raw if k not in KEYS]
    if unknown:
        raise FixtureError(f"unknown key (task keys: {', '.join(KEYS)})", unknown[0])
    product = _text(raw, "product", required=True)
    spec = catalog.PRODUCTS.get(product)
    if spec is None:
        raise FixtureError(f"unknown product {product!r} (products: {', '.join(catalog.PRODUCTS)})")
    status = _text(raw, "status", required=True)
    if status not in spec.phases:
        known = ", ".join(spec.statuses)
        raise FixtureError(f"{status!r} is not a {spec.title} status ({known})", "status")
    task_type = _text(raw, "type", required=True)
    phase = _phase(raw, spec, status)
    times = {k: instant(raw[k], now=now, key=k) if k in raw else None for k in TIMES}
    if times["started"] is None and phase is Phase.RUNNING:
        times["started"] = times["created"]
    return Task(
        product=product,
        account=_text(raw, "account") or ACCOUNT,
        region=_text(raw, "region") or (REGION if spec.regional else "global"),
        id=_text(raw, "id") or default_id,
        type=spec.type_spellings.get(task_type, task_type),
        status=status,
        phase=phase,
        created=times["created"],
        started=times["started"],
        finished=times["finished"],
        fields=_record(raw, "fields") or {},
        detail=_record(raw, "detail"),
    )


def _phase(raw: Mapping[str, Any], spec: catalog.ProductSpec, status: str) -> Phase:
    allowed = spec.phases[status]
    names = ", ".join(p.value for p in Phase if p in allowed)
    if "phase" not in raw:
        if len(allowed) == 1:
            return next(iter(allowed))
        raise FixtureError(
            f"a {spec.title} task in status {status!r} may be {names} (its time window decides): "
            "give its phase",
            "phase",
        )
    text = _text(raw, "phase")
    try:
        phase = Phase(text)
    except ValueError:
        raise FixtureError(f"{text!r} is not a phase (pending, running, done)", "phase") from None
    if phase not in allowed:
        raise FixtureError(
            f"a {spec.title} task in status {status!r} is never {phase.value} (only {names})",
            "phase",
        )
    return phase


def _text(raw: Mapping[str, Any], key: str, *, required: bool = False) -> str:
    if key not in raw or raw[key] is None:
        if required:
            raise FixtureError("missing (a task needs product, type and status)", key)
        return ""
    value = raw[key]
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise FixtureError(f"must be a string, not a {type(value).__name__}", key)
    return str(value)


def _record(raw: Mapping[str, Any], key: str) -> dict[str, Any] | None:
    if key not in raw or raw[key] is None:
        return None
    value = raw[key]
    if not isinstance(value, Mapping):
        raise FixtureError(f"the {key} record is a mapping, not a {type(value).__name__}", key)
    return dict(value)
