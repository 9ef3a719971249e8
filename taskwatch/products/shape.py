"""Checks on the shape of a well-formed answer: the fields adapters read have the types they need.

The client guarantees the envelope (``{"Response": {..., "RequestId"}}``); what is inside is the
product's. A server that answers ``TaskSet: {}``, ``TotalCount: "many"`` or a record without its id
is broken, and that is a :class:`~taskwatch.tencent.errors.ProtocolError` naming the call and the
field (counted by the watcher as a failed cycle), never a ``KeyError`` or ``TypeError`` out of the
adapter. Absent or ``null`` lists read as empty, absent counts and tokens as zero and ``""``: the
API omits them on empty pages.

The fields that say what a task is and where it stands (MPS ``Status`` and ``TaskType``, DLC
``State`` and ``TaskType``, Live ``Status`` and ``SourceType``, Live's ``RunStatus``) are required
(:func:`text`, :func:`state`): a task of status ``""`` would become a metric series with empty
labels and a phase taken for "running". Lenient where the value only informs (times, progress):
those are read by the normalisers, which turn a garbled value into "unknown".
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from taskwatch.tencent.errors import CallSite, ProtocolError


def _quote(value: object) -> bytes:
    try:
        return json.dumps(value, ensure_ascii=False, default=repr).encode("utf-8")
    except (ValueError, RecursionError):
        return repr(type(value)).encode()


def _bad(site: CallSite, field: str, want: str, value: object) -> ProtocolError:
    return ProtocolError(f"{field} is not {want}", _quote(value), site=site)


def _required(record: Mapping[str, Any], field: str, site: CallSite, at: str) -> tuple[str, object]:
    """The name to report (``at`` + ``field``) and the value; an absent field is an error that
    quotes the record it is missing from."""
    name = f"{at}{field}"
    if field not in record:
        raise ProtocolError(f"{name} is missing", _quote(record), site=site)
    return name, record[field]


def text(record: Mapping[str, Any], field: str, site: CallSite, *, at: str = "") -> str:
    """A required, non-empty string (a status, a type). ``at`` prefixes the field's name in the
    error, e.g. ``TaskSet[3].``."""
    name, value = _required(record, field, site, at)
    if not isinstance(value, str) or not value:
        raise _bad(site, name, "a non-empty string", value)
    return value


def state(record: Mapping[str, Any], field: str, site: CallSite, *, at: str = "") -> int:
    """A required integer state code (DLC ``State``); a numeric string is accepted."""
    name, value = _required(record, field, site, at)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            raise _bad(site, name, "a state code", value) from None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _bad(site, name, "a state code", value)
    return value


def records(answer: Mapping[str, Any], field: str, site: CallSite) -> list[Mapping[str, Any]]:
    """``answer[field]`` as a list of objects; absent or ``null`` is an empty list."""
    value = answer.get(field)
    if value is None:
        return []
    if not isinstance(value, list):
        raise _bad(site, field, "a list", value)
    for i, row in enumerate(value):
        if not isinstance(row, Mapping):
            raise _bad(site, f"{field}[{i}]", "an object", row)
    return value


def record_id(record: Mapping[str, Any], field: str, site: CallSite) -> str:
    """The id of a record: a non-empty string (or an integer, printed)."""
    value = record.get(field)
    if isinstance(value, bool) or not isinstance(value, str | int) or value == "":
        raise _bad(site, field, "a task id", value)
    return str(value)


def count(answer: Mapping[str, Any], field: str, site: CallSite) -> int:
    """A non-negative count (``TotalCount``, ``TotalPage``); absent or ``null`` is 0. Numeric
    strings are accepted (some APIs print integers as strings)."""
    value = answer.get(field)
    if value is None:
        return 0
    if isinstance(value, bool):
        raise _bad(site, field, "a count", value)
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    if isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            raise _bad(site, field, "a count", value) from None
    if not isinstance(value, int) or value < 0:
        raise _bad(site, field, "a count", value)
    return value


def token(answer: Mapping[str, Any], field: str, site: CallSite) -> str:
    """A paging token; absent, ``null`` or ``""`` ends the listing."""
    value = answer.get(field)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _bad(site, field, "a string", value)
    return value


def mapping(answer: Mapping[str, Any], field: str, site: CallSite) -> dict[str, Any]:
    """An object field; absent or ``null`` is an empty object."""
    value = answer.get(field)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise _bad(site, field, "an object", value)
    return dict(value)
